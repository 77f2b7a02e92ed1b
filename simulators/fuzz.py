"""The project's own fuzzer: hostile payloads through the decoder, the engine and a report.

    python -m simulators.fuzz --minutes 10        # at length (make fuzz)
    tests/core/test_fuzz.py runs the same properties for a few seconds

Payloads are drawn by hypothesis: raw bytes, deep nesting, arbitrary JSON, and valid events
with one field replaced by something hostile (huge or negative numbers, far-future or
ancient `ts`, long ids, control characters, wrong types, months far away, seq jumps and
restarts). Properties: nothing raises; every payload's rejections are counted with a known
reason; the engine's counters add up; what it holds and keeps stays within its caps.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu_floor.engine import Engine, Setup
from kefu_floor.policy import load_policy
from kefu_floor.views.report import build_report
from kefu_floor.roster import Person, Roster
from kefu_floor.schema import EVENT_TYPES, decode_payload

REASONS = {"bad_json", "unknown_type", "missing_field", "wrong_type", "invalid_value",
           "too_large", "wrong_site", "clock_skew", "over_cap"}
T0 = 1_793_664_000_000  # 2026-11-03 08:00 +08
MAX_PAYLOAD = 1 << 16

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids,
                                                                max_size=5),
    max_leaves=20)

_hostile_value = st.one_of(
    _json,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**53, 2**63 - 1, 253_402_300_799_999, 4_102_444_800_000,
                     946_684_799_999, T0 + 86_400_000, T0 + 365 * 86_400_000,
                     T0 + 8 * 3_600_000, T0 - 8 * 3_600_000, 1e308, -1e308, 1.5]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=200),
    st.sampled_from(["", "\x00", "A\nB", "x" * 65, "x" * 5000, "2027-11", "0000-01",
                     "9999-12", "2026-13", "2026-11", "A1", "B2"]),
)

_base = st.fixed_dictionaries({
    "type": st.sampled_from(EVENT_TYPES),
    "ts": st.integers(T0 - 3_600_000, T0 + 12 * 3_600_000),
    "agent": st.sampled_from(["A1", "A2", "B1"]) | st.text(min_size=1, max_size=10),
    "call": st.sampled_from(["c1", "c2", "c3"]), "queue": st.sampled_from(["q1", "q2"]),
    "wait_ms": st.integers(0, 100_000), "result": st.sampled_from(["satisfied", "neutral"]),
    "amount": st.floats(0, 1000), "item": st.sampled_from(["exam", "text"]),
    "score": st.floats(0, 100), "points": st.floats(-10, -1), "reason": st.just("x"),
    "rule": st.just("absent"), "day": st.just("2026-11-03"),
}, optional={"src": st.sampled_from(["gw1", "gw2", "gw3"]), "seq": st.integers(0, 200),
             "epoch": st.integers(0, 3), "month": st.sampled_from(["2026-11", "2027-11"]),
             "site": st.sampled_from(["cd1", "other"])})


@st.composite
def _mutated(draw):
    e = draw(_base)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(e) + ["extra", "nested"]))
        e[key] = draw(_hostile_value)
    return e


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


payloads = st.one_of(
    st.binary(max_size=300),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 5000).map(lambda n: b'{"type":"ready","ts":1,"x":' + b"[" * n),
    _json.map(_dumps),
    _mutated().map(_dumps),
    st.lists(_mutated(), min_size=1, max_size=30).map(_dumps),
    st.lists(_base, min_size=1, max_size=30).map(_dumps),
)


def _engine() -> Engine:
    pol = load_policy("chengdu-2014")
    roster = Roster({a: Person(a, a, "T1", "agent", None, False, 3) for a in ("A1", "A2", "B1")})
    return Engine(Setup(pol, roster, [], "cd1"))


def check(stream: list[bytes]) -> None:
    """The properties, for one stream of payloads into one engine."""
    eng = _engine()
    counted = 0
    for p in stream:
        if len(p) > MAX_PAYLOAD:
            continue
        good, bad = decode_payload(p)
        assert set(bad.counts) <= REASONS, bad.counts
        assert len(bad) <= bad.total
        good, wrong = eng.check_site(good)
        eng.count_rejected(bad)
        eng.count_rejected(wrong)
        counted += bad.total + len(wrong)
        out = eng.feed(good)
        assert all(r.reason in REASONS for r, _, _ in out)
        counted += len(out)
        lim = eng.policy.limits
        assert eng.held is None or len(eng.held) < lim.hold_max
        assert len(eng.sym.agents) <= 3 + lim.max_unknown_agents
        eng.tick()
    counted += len(eng.settle())
    c = eng.counters()
    assert c["rejected"] == counted == sum(v for k, v in c.items()
                                           if k.startswith("rejected_")), c
    build_report(eng.finish(), None)


_SETTINGS = dict(database=None, deadline=None,
                 suppress_health_check=list(HealthCheck))


def run(seconds: float, examples_per_round: int = 100, out=sys.stderr) -> int:
    """Run the properties for about `seconds`; returns the number of streams tried."""
    end = time.monotonic() + seconds
    rounds = 0
    while True:
        prop = given(st.lists(payloads, min_size=1, max_size=12))(lambda stream: check(stream))
        settings(max_examples=examples_per_round, **_SETTINGS)(prop)()
        rounds += 1
        left = end - time.monotonic()
        if out is not None:
            print(f"fuzz: {rounds * examples_per_round} streams, no failure "
                  f"({max(left, 0):.0f} s left)", file=out, flush=True)
        if left <= 0:
            return rounds * examples_per_round


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulators.fuzz",
                                 description="Fuzz the decoder and the engine with hostile "
                                             "payloads (hypothesis).")
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args(argv)
    if args.minutes <= 0:
        ap.error("--minutes must be positive")
    n = run(args.minutes * 60)
    print(f"fuzz: {n} streams of payloads, every property held", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
