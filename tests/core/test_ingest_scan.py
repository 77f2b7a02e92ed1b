"""Live ingest's compiled payload scanner (issue 11 item 5) against the strict path it
replaced (`Ingest(scan=False)`: every payload through `decode_payload` and `Engine.feed`):
the same engine counters, ledger, report, returned counts and dead letters in order, over
generated drains of payloads, hostile ones included."""
from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.scenario_builder import Floor
from kefu_floor.live.ingest import Ingest
from kefu_floor.payloadscan import PayloadScanner
from kefu_floor.views.report import build_report

T0 = 1_793_667_600_000  # 2026-11-03 09:00 +08:00
WALL = T0 + 4 * 3_600_000  # the wall clock the skew check sees (fixed: both paths the same)
AHEAD = 60_000
MAX_PAYLOAD = 4096
AGENTS = ("A1", "A2", "A3", "U1", "U2", "U3", "U4")
SITES = ("cd1", "cd2")


def engines(caps: bool) -> dict:
    out = {}
    for site in SITES:
        f = Floor(site=site)
        for a in ("A1", "A2", "A3"):
            f.shift(a, "2026-11-03", "08:00", "16:30", "12:00-12:30")
        if caps:  # small caps: some drains reach them (the engine decides event by event)
            f.policy = msgspec.structs.replace(f.policy, limits=msgspec.structs.replace(
                f.policy.limits, max_unknown_agents=2, max_queues=2, max_sources=2,
                max_reason_codes=2))
        eng = f.engine()
        eng.live = True
        out[site] = eng
    return out


def ingest(engs: dict, scan: bool) -> Ingest:
    return Ingest(engs, max_payload=MAX_PAYLOAD, wall_ahead_ms=AHEAD, wall_ms=lambda: WALL,
                  scan=scan)


@st.composite
def event(draw, k: int) -> dict:
    """A plausible event (the k-th of the stream: ts grows), now and then an odd one."""
    ts = T0 + k * 7_000 + draw(st.integers(0, 5_000))
    jump = draw(st.integers(0, 30))
    if jump == 0:
        ts = WALL + AHEAD + draw(st.integers(1, 3_600_000))  # ahead of the wall clock
    elif jump == 1:
        ts = T0 + 2 * 3_600_000 + draw(st.integers(0, 1000))  # ahead of engine time: held
    elif jump == 2:
        ts = T0 - 5 * 3_600_000  # far behind
    t = draw(st.sampled_from(["sign_in", "ready", "busy", "offer", "answer", "hangup",
                              "wrap_end", "no_answer", "enqueue", "abandon", "survey", "sale",
                              "qa", "sign_out", "adjust", "floor"]))
    e: dict = {"type": t, "ts": ts}
    if t not in ("enqueue", "abandon"):
        e["agent"] = draw(st.sampled_from(AGENTS))
    call = f"c{draw(st.integers(0, 6))}"
    if t in ("offer", "answer", "no_answer", "enqueue", "abandon"):
        e["call"], e["queue"] = call, draw(st.sampled_from(["q1", "q2", "q3", "q4"]))
    if t in ("hangup", "wrap_end", "survey"):
        e["call"] = call
    if t in ("answer", "abandon"):
        e["wait_ms"] = draw(st.integers(0, 90_000))
    if t == "busy" and draw(st.booleans()):
        e["reason"] = draw(st.sampled_from(["toilet", "lunch", "meeting", "r1", "r2", "r3"]))
    if t == "survey":
        e["result"] = draw(st.sampled_from(["satisfied", "neutral", "dissatisfied"]))
    if t == "sale":
        e["amount"] = draw(st.sampled_from([10, 12.5, -3.25, 0.1, 999.99]))
    if t == "qa":
        e["item"], e["score"] = draw(st.sampled_from(["recording", "text"])), 88.5
        if draw(st.booleans()):
            e["month"] = "2026-11"
    if t in ("adjust", "floor"):
        e["points"], e["reason"] = (-1.5 if t == "floor" else 2), "手工"
    if draw(st.integers(0, 3)) == 0:
        e["src"], e["seq"] = draw(st.sampled_from(["gw1", "gw2", "gw3"])), draw(
            st.integers(0, 40))
        if draw(st.integers(0, 5)) == 0:
            e["epoch"] = draw(st.integers(1, 3))
    if draw(st.integers(0, 12)) == 0:
        e["site"] = draw(st.sampled_from(["cd1", "cd2", "elsewhere", ""]))
    if draw(st.integers(0, 15)) == 0:
        e["seat"] = draw(st.sampled_from(["S1", ""]))
    return e


def element(draw, e: dict) -> bytes:
    """One event's bytes: usually plain JSON, sometimes in a hostile or unusual form."""
    kind = draw(st.integers(0, 60))
    s = json.dumps(e)
    if kind == 0:  # an escape in a value and in a key
        return s.replace('"agent"', '"\\u0061gent"').replace('"A1"', '"A\\u0031"').encode()
    if kind == 1:  # unicode id
        return json.dumps({**e, "agent": "张三"}, ensure_ascii=False).encode()
    if kind == 2:  # a key twice
        return (s[:-1] + f', "ts": {e["ts"] + 1}}}').encode()
    if kind == 3:  # not an object
        return draw(st.sampled_from([b"1", b'"x"', b"null", b"[]", b"[{}]", b"true"]))
    if kind == 4:
        return json.dumps({**e, "type": "teleport"}).encode()
    if kind == 5:
        return json.dumps({k: v for k, v in e.items() if k != "ts"}).encode()
    if kind == 6:  # nested, and nested deep
        return (s[:-1] + ', "x": ' + draw(st.sampled_from(["[[[]]]", "[" * 40 + "]" * 40,
                                                           '{"y": {"z": 1}}'])) + "}").encode()
    if kind == 7:  # not UTF-8
        return s.encode().replace(b'"type"', b'"t\xffype"') if draw(st.booleans()) \
            else s.encode().replace(b'": "', b'": "\xc3', 1)
    if kind == 8:  # truncated
        return s[: len(s) // 2].encode()
    if kind == 9:  # whitespace JSON allows, newlines inside
        return json.dumps(e, indent=draw(st.sampled_from([None, 1]))).replace(
            ", ", " ,\t").encode()
    if kind == 10:  # numbers as other numbers
        return s.replace(f'"ts": {e["ts"]}', draw(st.sampled_from(
            [f'"ts": {e["ts"]}.0', f'"ts": {e["ts"] / 1000}e3', f'"ts": -{e["ts"]}',
             f'"ts": "{e["ts"]}"', f'"ts": 0{e["ts"]}']))).encode()
    if kind == 11:  # a control character in an id, a long id
        return json.dumps({**e, "agent": draw(st.sampled_from(["A\x01", "A" * 65, ""]))}
                          ).encode()
    if kind == 12:  # a null, an unknown field
        return json.dumps({**e, draw(st.sampled_from(["agent", "note"])): None}).encode()
    if kind == 13:
        return (s[:-1] + ",}").encode()  # trailing comma
    return s.encode()


@st.composite
def payload(draw, k: int) -> bytes:
    kind = draw(st.integers(0, 20))
    if kind == 0:
        return draw(st.sampled_from([b"", b"  ", b"[]", b"[ ]", b" [\n] ", b"{}", b"[", b"x"]))
    n = 1 if kind < 6 else draw(st.integers(1, 6))
    parts = [element(draw, draw(event(k + j))) for j in range(n)]
    if kind < 6:
        body = parts[0]
    else:
        sep = draw(st.sampled_from([b",", b", ", b"\n,\n", b" ,\t"]))
        body = b"[" + sep.join(parts) + b"]"
        if draw(st.integers(0, 8)) == 0:
            body = body[:-1] + b",]"
    pad = draw(st.integers(0, 12))
    if pad == 0:
        body = b" \n\t" + body + b"\r\n "
    elif pad == 1:
        body = body + b" " * MAX_PAYLOAD  # too large, however good
    elif pad == 2:
        body = body + b" x"  # something after the payload
    return body


@st.composite
def drains(draw) -> list[list[tuple[str, bytes]]]:
    out, k = [], 0
    for _ in range(draw(st.integers(1, 5))):
        drain = []
        for _ in range(draw(st.integers(1, 8))):
            topic = draw(st.sampled_from(["kefu/cd1/telemetry"] * 6 + [
                "kefu/cd1/manual", "kefu/cd2/telemetry", "kefu/zz/telemetry", "kefu/cd1"]))
            drain.append((topic, draw(payload(k))))
            k += 8
        out.append(drain)
    return out


def outcome(engs: dict, ing: Ingest, batches) -> dict:
    fed = [ing.handle_many(d) for d in batches]
    dead = [(d.topic, {k: v for k, v in json.loads(d.body).items() if k != "received_ms"})
            for d in ing.take_dead()]
    out = {"fed": fed, "dead": dead}
    for site, eng in engs.items():
        eng.tick(T0 + 6 * 3_600_000)
        out[site] = (eng.counters(), eng.ledger.tolist(), list(eng.sym.agents.names),
                     list(eng.sym.queues.names), list(eng.sym.sources.names),
                     list(eng.sym.reasons.names),
                     json.dumps(build_report(eng.finish(), None), sort_keys=True, default=str))
    return out


def compare(batches, caps: bool, scanned_ingest=lambda ing: ing) -> dict:
    want = outcome(e := engines(caps), ingest(e, False), batches)
    e = engines(caps)
    got = outcome(e, scanned_ingest(ingest(e, True)), batches)
    assert got["dead"] == want["dead"]
    assert got == want
    return got


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(drains(), st.booleans())
def test_scanned_ingest_is_the_strict_path(batches, caps):
    compare(batches, caps)


def _hostile() -> list[list[tuple[str, bytes]]]:
    good = [{"type": "sign_in", "ts": T0 + k, "agent": a} for k, a in enumerate(AGENTS)]
    t = "kefu/cd1/telemetry"
    return [[(t, json.dumps(good[:3]).encode()),
             (t, json.dumps(good[3:]).encode()[:-1] + b", 1]"),  # one bad element
             (t, json.dumps({**good[0], "site": "cd2"}).encode()),  # another site's
             (t, json.dumps({**good[1], "ts": WALL + AHEAD + 1}).encode()),  # ahead
             (t, json.dumps([good[4], {**good[1], "ts": WALL + AHEAD + 1},
                             {**good[0], "site": "zz"}]).encode()),  # both, in one
             (t, b"[" + json.dumps(good[2]).replace('"A3"', '"A\\u0033"').encode() + b"]"),
             (t, b" " * (MAX_PAYLOAD + 1)), (t, b"\xff"), (t, b"[]")]]


def test_hostile_drain_is_the_strict_path_and_rejects_what_it_did():
    got = compare(_hostile(), False)
    reasons = [body["reason"] for _, body in got["dead"]]
    assert reasons == ["wrong_type", "wrong_site", "clock_skew", "wrong_site", "too_large",
                       "bad_json"]


def test_the_comparison_fails_without_the_strict_fallback():
    """With the payloads the scanner is not sure of dropped instead of decoded strictly,
    the property above must fail (it tests the fallback, not only the common path)."""
    def no_fallback(ing: Ingest) -> Ingest:
        ing._decode = lambda eng, topic, payload, limit: []
        return ing

    with pytest.raises(AssertionError):
        compare(_hostile(), False, no_fallback)


def test_a_payload_is_scanned_whole_or_not_at_all():
    ok = b'{"type":"ready","ts":1793667600000,"agent":"A1"}'
    bad = b'{"type":"ready","ts":1793667600000,"agent":"A\\u0031"}'
    sc = PayloadScanner().scan([b"[" + ok + b"," + ok + b"]", b"[" + ok + b"," + bad + b"]",
                                ok, b"[]", b"", b" [ " + ok + b" ] ", ok + b" " + ok])
    assert sc.sure.tolist() == [True, False, True, True, False, True, False]
    assert sc.RI[:, 0].tolist() == [0, 0, 2, 5]  # rows tagged with their payload
    assert np.diff(sc.first).tolist() == [2, 0, 1, 0, 0, 1, 0]
    assert [sc.element(r) for r in range(len(sc.RI))] == [ok] * 4


def test_the_symbol_table_starts_again_when_full(monkeypatch):
    """A flood of new ids (here: more than SYMBOLS_MAX) empties the scanner's table
    between drains; the engines' ids, and so the outcome, are unchanged."""
    from kefu_floor.live import ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "SYMBOLS_MAX", 4)
    t = "kefu/cd1/telemetry"
    batches = [[(t, json.dumps([{"type": "ready", "ts": T0 + 10 * d + k, "agent": f"X{d}{k}",
                                 "src": f"g{k % 2}", "seq": 10 * d + k}
                                for k in range(4)]).encode())] for d in range(4)]
    e = engines(False)
    ing = ingest(e, True)
    tables = []
    for b in batches:
        ing.handle_many(b)
        tables.append(ing._scanner.sym)
    assert len({id(s) for s in tables}) > 1  # it did start again
    compare(batches, False)
    compare(batches, True)
