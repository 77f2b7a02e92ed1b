"""Telemetry decoding (DESIGN.md §3.1): every malformed event is rejected with a reason."""
import json

import pytest

from kefu_floor.errors import Rejected
from kefu_floor.schema import EVENT_TYPES, decode_event, decode_payload, encode

TS = 1793664000000  # 2026-11-03 08:00 Asia/Shanghai


def ev(**kw):
    return json.dumps({"ts": TS, **kw})


def reject_reason(line) -> Rejected:
    with pytest.raises(Rejected) as info:
        decode_event(line)
    return info.value


@pytest.mark.parametrize("line, reason, mentions", [
    # bad JSON
    ("{not json", "bad_json", None),
    ('{"type": "sign_in", "ts": 1, "agent": "A"', "bad_json", None),
    ("", "bad_json", None),
    # unknown type
    (ev(type="teleport", agent="A1"), "unknown_type", "type"),
    (ev(type="SIGN_IN", agent="A1"), "unknown_type", "type"),
    # missing fields
    (ev(type="offer", agent="A1", call="c1"), "missing_field", "queue"),
    (ev(type="enqueue", queue="q1"), "missing_field", "call"),
    (ev(type="sign_in"), "missing_field", "agent"),
    (ev(type="answer", call="c1", queue="q1"), "missing_field", "agent"),
    (ev(type="abandon", call="c1", queue="q1"), "missing_field", "wait_ms"),
    (ev(type="survey", agent="A1", call="c1"), "missing_field", "result"),
    (ev(type="sale", agent="A1"), "missing_field", "amount"),
    (ev(type="qa", agent="A1", item="exam"), "missing_field", "score"),
    (ev(type="floor", agent="A1", points=-10), "missing_field", "reason"),
    (ev(type="adjust", agent="A1", reason="praise"), "missing_field", "points"),
    (ev(type="excuse", agent="A1", rule="absent", reason="x"), "missing_field", "day"),
    (json.dumps({"type": "sign_in", "agent": "A1"}), "missing_field", "ts"),
    (json.dumps({"ts": TS, "agent": "A1"}), "missing_field", "type"),
    # wrong types
    (json.dumps({"type": "sign_in", "ts": 1793664000000.5, "agent": "A1"}), "wrong_type", "ts"),
    (json.dumps({"type": "sign_in", "ts": 1793664000000.0, "agent": "A1"}), "wrong_type", "ts"),
    (json.dumps({"type": "sign_in", "ts": str(TS), "agent": "A1"}), "wrong_type", "ts"),
    (json.dumps({"type": "sign_in", "ts": True, "agent": "A1"}), "wrong_type", "ts"),
    (ev(type="sign_in", agent=1001), "wrong_type", "agent"),
    (ev(type="sale", agent="A1", amount="12.5"), "wrong_type", "amount"),
    (ev(type="sign_in", agent="A1", seq="7", src="gw"), "wrong_type", "seq"),
    (json.dumps([1, 2]), "wrong_type", None),
    # invalid values
    (ev(type="qa", agent="A1", item="exam", score=101), "invalid_value", "score"),
    (ev(type="qa", agent="A1", item="exam", score=-1), "invalid_value", "score"),
    (ev(type="qa", agent="A1", item="attitude", score=50), "invalid_value", "item"),
    (ev(type="qa", agent="A1", item="exam", score=50, month="2026-13"), "invalid_value", "month"),
    (ev(type="qa", agent="A1", item="exam", score=50, month="2026-1"), "invalid_value", "month"),
    (ev(type="floor", agent="A1", points=10, reason="x"), "invalid_value", "negative"),
    (ev(type="floor", agent="A1", points=0, reason="x"), "invalid_value", "negative"),
    (ev(type="excuse", agent="A1", rule="absent", day="2026-02-30", reason="x"),
     "invalid_value", "2026-02-30"),
    (ev(type="excuse", agent="A1", rule="absent", day="03/11/2026", reason="x"),
     "invalid_value", "day"),
    (ev(type="excuse", agent="A1", rule="coffee", day="2026-11-03", reason="x"),
     "invalid_value", "rule"),
    (ev(type="survey", agent="A1", call="c1", result="meh"), "invalid_value", "result"),
    (ev(type="incident", agent="A1"), "missing_field", "kind"),
    (ev(type="incident", kind="lapse"), "missing_field", "agent"),
    (ev(type="incident", agent="A1", kind=""), "invalid_value", "kind"),
    (ev(type="incident", agent="A1", kind="lapse", amount="5"), "wrong_type", "amount"),
    (ev(type="incident", agent="A1", kind="lapse", points=True), "wrong_type", "points"),
    (ev(type="incident", agent="A1", kind="lapse", month="2026-13"), "invalid_value",
     "month"),
    (ev(type="qa", agent="A1", item="manage", score=50), "invalid_value", "item"),
    (ev(type="abandon", call="c1", queue="q1", wait_ms=-5), "invalid_value", "wait_ms"),
    (ev(type="sign_in", agent=""), "invalid_value", "agent"),
    (json.dumps({"type": "sign_in", "ts": 10**23, "agent": "A1"}), "invalid_value", "ts"),
    (json.dumps({"type": "sign_in", "ts": -1, "agent": "A1"}), "invalid_value", "ts"),
])
def test_rejections_with_reason(line, reason, mentions):
    r = reject_reason(line)
    assert r.reason == reason, r.detail
    assert r.detail
    if mentions:
        assert mentions in r.detail
    assert reason in str(r)


def test_every_type_decodes_with_its_fields():
    lines = [
        ev(type="sign_in", agent="A1", seat="S01"), ev(type="sign_out", agent="A1"),
        ev(type="ready", agent="A1"), ev(type="busy", agent="A1", reason="toilet"),
        ev(type="busy", agent="A1"),
        ev(type="offer", agent="A1", call="c1", queue="q"),
        ev(type="answer", agent="A1", call="c1", queue="q", wait_ms=1200),
        ev(type="answer", agent="A1", call="c1", queue="q"),
        ev(type="no_answer", agent="A1", call="c1", queue="q"),
        ev(type="hangup", agent="A1", call="c1"), ev(type="wrap_end", agent="A1", call="c1"),
        ev(type="enqueue", call="c1", queue="q"),
        ev(type="abandon", call="c1", queue="q", wait_ms=0),
        ev(type="survey", agent="A1", call="c1", result="neutral"),
        ev(type="sale", agent="A1", amount=12.5), ev(type="sale", agent="A1", amount=12),
        ev(type="qa", agent="A1", item="recording", score=100, month="2026-11"),
        ev(type="qa", agent="A1", item="text", score=0),
        ev(type="floor", agent="A1", points=-10, reason="smoking"),
        ev(type="adjust", agent="A1", points=2, reason="praise", month="2026-11"),
        ev(type="adjust", agent="A1", points=-5, reason="complaint"),
        ev(type="excuse", agent="A1", rule="busy_over_30", day="2026-11-03", reason="ok"),
        ev(type="excuse", agent="A1", rule="absent", day="2026-11-03", reason="ok", by="L1"),
        ev(type="qa", agent="L1", item="management", score=70),
        ev(type="incident", agent="A1", kind="wrong_note_cost", amount=80.5, ref="O-1",
           reason="note", month="2026-11"),
        ev(type="incident", agent="A1", kind="serious_lapse", points=-15),
        ev(type="incident", agent="A1", kind="no_such_kind_yet"),
    ]
    seen = set()
    for line in lines:
        e = decode_event(line)
        assert e.ts == TS
        seen.add(e.type)
    assert seen == set(EVENT_TYPES)
    e = decode_event(ev(type="answer", agent="A1", call="c1", queue="q", wait_ms=1200))
    assert (e.agent, e.call, e.queue, e.wait_ms) == ("A1", "c1", "q", 1200)


def test_extra_unknown_fields_are_accepted():
    e = decode_event(ev(type="sign_in", agent="A1", colour="blue", nested={"a": [1, 2]},
                        site="cd1", src="gw", seq=3))
    assert (e.type, e.agent, e.site, e.src, e.seq) == ("sign_in", "A1", "cd1", "gw", 3)


def test_bytes_and_str_both_decode():
    assert decode_event(ev(type="ready", agent="A1").encode()).agent == "A1"


def test_payload_single_event_and_array():
    good, bad = decode_payload(ev(type="ready", agent="A1").encode())
    assert [e.type for e in good] == ["ready"] and bad == []
    arr = json.dumps([{"type": "sign_in", "ts": TS, "agent": "A1"},
                      {"type": "ready", "ts": TS + 1, "agent": "A1"}]).encode()
    good, bad = decode_payload(arr)
    assert [e.type for e in good] == ["sign_in", "ready"] and bad == []


def test_payload_array_with_bad_elements_keeps_the_good_ones():
    arr = json.dumps([
        {"type": "sign_in", "ts": TS, "agent": "A1"},
        {"type": "offer", "ts": TS + 1, "agent": "A1", "call": "c1"},          # 1: no queue
        {"type": "ready", "ts": TS + 2, "agent": "A1", "extra": True},
        {"type": "busy", "ts": 1.5, "agent": "A1"},                            # 3: ts float
        {"type": "floor", "ts": TS + 3, "agent": "A1", "points": 5, "reason": "x"},  # 4
        {"type": "sign_out", "ts": TS + 4, "agent": "A1"},
    ]).encode()
    good, bad = decode_payload(arr)
    assert [e.type for e in good] == ["sign_in", "ready", "sign_out"]
    assert [(r.index, r.reason) for r in bad] == [
        (1, "missing_field"), (3, "wrong_type"), (4, "invalid_value")]


def test_payload_array_element_with_unknown_type():
    arr = json.dumps([{"type": "ready", "ts": TS, "agent": "A1"},
                      {"type": "dance", "ts": TS, "agent": "A1"}]).encode()
    good, bad = decode_payload(arr)
    assert len(good) == 1 and [(r.index, r.reason) for r in bad] == [(1, "unknown_type")]


def test_payload_not_json_at_all():
    good, bad = decode_payload(b"\xff\xfe garbage")
    assert good == [] and [r.reason for r in bad] == ["bad_json"]


def test_payload_single_bad_event_has_no_index():
    good, bad = decode_payload(ev(type="floor", agent="A1", points=1, reason="x").encode())
    assert good == [] and len(bad) == 1
    assert bad[0].reason == "invalid_value" and bad[0].index is None


def test_encode_round_trip():
    e = decode_event(ev(type="answer", agent="A1", call="c1", queue="q", wait_ms=5))
    assert decode_event(encode(e)) == e


# --- the batch fast paths (a decoder without the ids' patterns, checks a column at a time)
# give exactly what the strict decoder and the per-event `check` give

from hypothesis import given, settings, strategies as st  # noqa: E402

from kefu_floor import schema  # noqa: E402

_ID = st.text(st.sampled_from(["a", "B", "7", "é", "客", "\x00", "\x1f", "\x7f", "\n", "\\",
                               '"', " ", "\u2028"]), min_size=0, max_size=6)
_EVENT = st.fixed_dictionaries(
    {"type": st.sampled_from(EVENT_TYPES + ("teleport",)), "ts": st.just(TS)},
    optional={"agent": _ID, "call": _ID, "queue": _ID, "src": _ID, "seq": st.integers(-1, 5),
              "site": _ID, "seat": _ID, "reason": st.text(max_size=70), "wait_ms": st.integers(-1, 9),
              "result": st.sampled_from(["satisfied", "meh"]), "amount": st.floats(-5, 5),
              "points": st.floats(-5, 5), "rule": st.sampled_from(["floor", "nope"]),
              "day": st.sampled_from(["2026-11-03", "2026-02-30", "x"]), "kind": _ID,
              "item": st.sampled_from(["exam", "x"]), "score": st.floats(0, 100),
              "month": st.sampled_from(["2026-11", "2026-13"])})


def _strict(payload: bytes):
    """The reference: the strict decoder, then `check` event by event."""
    import msgspec

    try:
        obj = schema._many.decode(payload)
    except msgspec.DecodeError:
        try:
            raws = schema._raws.decode(payload)
        except msgspec.DecodeError:
            return None  # not even an array: the strict decoder's reason, unchanged
        good, bad = [], []
        for i, raw in enumerate(raws):
            try:
                good.append(encode(decode_event(bytes(raw))))
            except Rejected as r:
                bad.append((i, r.reason, r.detail))
        return good, bad
    evs = obj if isinstance(obj, list) else [obj]
    bad = [(k, schema.check(e)) for k, e in enumerate(evs)]
    bad = [(k, r) for k, r in bad if r is not None]
    skip = {k for k, _ in bad}
    return ([encode(e) for k, e in enumerate(evs) if k not in skip],
            [(k if isinstance(obj, list) else None, r.reason, r.detail) for k, r in bad])


@settings(max_examples=400, deadline=None)
@given(st.lists(_EVENT, min_size=1, max_size=12), st.booleans())
@pytest.mark.slow
def test_batch_fast_paths_equal_the_strict_decoder(events, as_array):
    payload = json.dumps(events if as_array else events[0], ensure_ascii=False).encode()
    want = _strict(payload)
    good, bad = decode_payload(payload)
    if want is None:  # the strict decoder refuses the whole payload: the old path, unchanged
        assert not good and bad[0].reason in ("bad_json", "wrong_type", "invalid_value",
                                              "unknown_type", "missing_field")
        return
    assert [encode(e) for e in good] == want[0]
    assert [(r.index, r.reason, r.detail) for r in bad] == want[1]
