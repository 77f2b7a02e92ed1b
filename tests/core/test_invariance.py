"""Invariant (issue 2, item 7): the report is identical however the same event stream is
cut into batches — one batch, one event per batch, random cuts — and whether or not the
clock is ticked between batches as the live service does."""
import json

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import pytest

from harness.scenario_builder import MINUTE, SECOND, Day, Floor, decode

DAYS = ("2026-11-03", "2026-11-04")
AGENTS = ("A1", "A2", "B1")  # B1 has a night shift; U9 (below) is not in the roster
REASONS = ("toilet", "lunch", "meeting", "training", "system", None, "break", "lunch")
RULES = ("busy_over_30", "late_sign_in", "late_return", "early_leave", "absent")


def floor(policy: str = "chengdu-2014") -> Floor:
    f = Floor(policy, site="cd1")
    f.agent("P1", probation=True)
    for day in DAYS:
        f.shift("A1", day, "08:00", "16:30", "12:00-12:30")
        f.shift("A2", day, "08:00", "16:30", "10:00-10:10;12:00-12:30", 3)
        f.shift("B1", day, "22:00", "06:00", "02:00-02:30")
    f.shift("P1", DAYS[0], "14:30", "23:00", "17:30-17:45")
    return f


# minute offsets from the shift start (the night shift starts at 22:00 -> offset 14 h)
SHIFT_START = {"A1": 8 * 60, "A2": 8 * 60, "B1": 22 * 60, "P1": 14 * 60 + 30, "U9": 9 * 60}


@st.composite
def agent_day(draw, a: str):
    """Events of one agent on one day as (minute offset from shift start, ms, kind, arg)."""
    ev = []
    if draw(st.integers(0, 9)) == 0:
        return ev  # absent
    ev.append((draw(st.integers(-20, 15)), draw(st.integers(0, 999)), "sign_in", None))
    n = draw(st.integers(0, 5))
    for _ in range(n):
        start = draw(st.integers(0, 500))
        kind = draw(st.sampled_from(["busy", "call", "out", "call", "busy"]))
        if kind == "busy":
            ev.append((start, draw(st.integers(0, 999)), "busy",
                       (draw(st.sampled_from(REASONS)), draw(st.integers(1, 70)))))
        elif kind == "call":
            ev.append((start, 0, "call", (draw(st.integers(30, 400)) * SECOND,
                                          draw(st.sampled_from(["satisfied", "neutral",
                                                                "dissatisfied", None])),
                                          draw(st.booleans()))))
        else:
            ev.append((start, 0, "out", draw(st.integers(1, 40))))
    if draw(st.booleans()):
        ev.append((draw(st.integers(495, 520)), draw(st.integers(0, 999)), "sign_out", None))
    return ev


@st.composite
def streams(draw):
    d0 = Day(DAYS[0], site="cd1")
    d0.clock("00:00")
    for di, date in enumerate(DAYS):
        d = d0.on(date)
        for a in AGENTS + ("U9",) + (("P1",) if di == 0 else ()):
            base = SHIFT_START[a]
            for off, milli, kind, arg in draw(agent_day(a)):
                m = base + off
                t = d.t(f"{m // 60:02d}:{m % 60:02d}") + milli
                if kind == "sign_in":
                    d.sign_in(a, t)
                elif kind == "sign_out":
                    d.sign_out(a, t)
                elif kind == "busy":
                    reason, dur = arg
                    d.busy(a, t, reason)
                    d.ready(a, t + dur * MINUTE)
                elif kind == "out":
                    d.sign_out(a, t)
                    d.sign_in(a, t + arg * MINUTE)
                else:
                    talk, survey, offered = arg
                    d.call(a, t, talk, survey=survey, offer=offered)
        # manual entries and an excuse
        d.qa("A1", "18:00", "recording", draw(st.integers(60, 100)))
        d.floor("A2", "18:05", -10, "untidy desk")
        d.adjust("B1", "18:10", 2, "praise")
        d.sale("A2", "18:15", 99.5)
        for k in range(draw(st.integers(0, 3))):
            d.incident(draw(st.sampled_from(AGENTS + ("U9",))), f"18:1{k + 6}",
                       draw(st.sampled_from(["lapse", "attitude_complaint", "major_error",
                                             "wrong_note_cost", "coffee_spill"])),
                       amount=draw(st.sampled_from([None, 50, 120.5])),
                       points=draw(st.sampled_from([None, -3])))
        d.qa("A1", "18:19", "management", draw(st.integers(0, 100)))
        d.enqueue("18:20", f"q-{date}", "billing")
        d.abandon("18:21", f"q-{date}", "billing", 7000)
    ex_agent = draw(st.sampled_from(AGENTS))
    ex_rule = draw(st.sampled_from(RULES))
    ex_day = draw(st.sampled_from(DAYS))
    ex_when = draw(st.sampled_from([("2026-11-03", "07:00"), ("2026-11-03", "20:00"),
                                    ("2026-11-04", "20:00")]))
    d0.on(ex_when[0]).excuse(ex_agent, ex_when[1], ex_rule, ex_day, by="L1")
    d0.on("2026-11-05").clock("08:00")
    return d0.events


def _run(events, cuts=None, tick=False, tick_to_next=False, policy="chengdu-2014"):
    f = floor(policy)
    eng = f.engine()
    evs = decode(events)
    bounds = [0, *sorted(set(c for c in (cuts or []) if 0 < c < len(evs))), len(evs)]
    for a, b in zip(bounds, bounds[1:]):
        eng.feed(evs[a:b])
        if tick:
            eng.tick()
        if tick_to_next and b < len(evs):
            eng.tick(evs[b].ts)  # the clock may run up to the next event, never past it
    from kefu_floor.close import build_close
    from kefu_floor.localtime import parse_month
    from kefu_floor.views.report import build_report
    # the month close too: incidents, excuses with their approver, shift worked time
    return json.dumps([build_report(eng.finish(), None), build_close(eng.finish(), parse_month("2026-11"))],
                      sort_keys=True)


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=streams(), data=st.data())
@pytest.mark.slow
def test_report_does_not_depend_on_batching(events, data):
    whole = _run(events)
    n = len(events)
    cuts = data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=12), label="cuts")
    assert _run(events, cuts=range(1, n)) == whole, "one event per batch"
    assert _run(events, cuts=cuts) == whole, "random cuts"
    assert _run(events, cuts=cuts, tick=True) == whole, "random cuts + tick"
    assert _run(events, cuts=range(1, n), tick=True, tick_to_next=True) == whole, \
        "one per batch + tick to the next event"
    # taobao-30pt books its own telemetry rules (lunch over 35 min, sign-outs in a shift)
    tb = _run(events, policy="taobao-30pt")
    assert _run(events, cuts=cuts, tick=True, policy="taobao-30pt") == tb, "taobao cuts"


def test_streams_are_not_trivial():
    """The generator does produce deductions of several rules (so the property means
    something): a fixed stream through the same helpers."""
    d = Day(DAYS[0], site="cd1")
    d.clock("00:00")
    d.sign_in("A1", "08:07")
    d.busy("A1", "12:00", "lunch")
    d.ready("A1", "13:30")
    d.sign_out("A1", "15:00")
    d.on("2026-11-05").clock("08:00")
    rep = json.loads(_run(d.events))[0]
    a1 = next(a for a in rep["agents"] if a["agent"] == "A1")
    got = sorted({x["rule"] for x in a1["deductions"]})
    assert got == ["absent", "busy_over_30", "early_leave", "late_return", "late_sign_in"]


# ---- hostile events (issue 8): a source whose clock is off by 1 h / 8 h / a day / a year,
# in single events or small batches, changes nobody's figures, whatever the batching.
NO_SHRINK = (Phase.explicit, Phase.generate)
HOSTILE_OFFSETS = (8 * 3_600_000, 86_400_000, 365 * 86_400_000)


def _scores(run_json: str) -> str:
    """The report and the close without their counters (rejections are counted there)."""
    parts = json.loads(run_json)
    for p in parts:
        if isinstance(p, dict):
            p.pop("counters", None)
    return json.dumps(parts, sort_keys=True)


def _contradicted_next(evs, at, ts, exempt) -> bool:
    """The next regular event stands in the old time, so the guard can tell at once (when
    the floor's own next event is already near the wrong time, no rule can)."""
    nxt = next((e for e in evs[at:] if e["type"] not in exempt), None)
    return nxt is not None and nxt["ts"] < ts - 30 * 60_000


@settings(max_examples=12, deadline=None, database=None, phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=streams(), data=st.data())
def test_a_wrong_clock_changes_no_figures_whatever_the_batching(events, data):
    from kefu_floor.policy import load_policy

    exempt = set(load_policy("chengdu-2014").limits.clock_exempt_types)
    clean = _scores(_run(events))
    n = len(events)
    hostile = list(events)
    seq = 0
    for _ in range(2):
        at = data.draw(st.integers(1, 10_000), label="at") % (len(hostile) - 1) + 1
        off = data.draw(st.sampled_from(HOSTILE_OFFSETS), label="offset")
        size = data.draw(st.integers(1, 4), label="batch")
        batch = []
        for e in hostile[at:at + size]:
            seq += 1
            batch.append(dict(e, ts=e["ts"] + off, src="bad-gw", seq=seq))
        batch = [b for b in batch if b["type"] not in exempt]
        if batch and _contradicted_next(hostile, at, min(b["ts"] for b in batch), exempt):
            hostile[at:at] = batch
    cuts = data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=12), label="cuts")
    assert _scores(_run(hostile)) == clean, "one batch"
    assert _scores(_run(hostile, cuts=cuts)) == clean, "random cuts"
