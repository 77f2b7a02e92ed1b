"""Team and floor figures kept as counts (kefu_floor.views.floorview._Tally/_TeamTally):
after every step of a day, with ticks that move only busy time, the incremental snapshot's
teams and floor equal the figures summed afresh from its own agent entries, by a plain
reference written here."""
from __future__ import annotations

import json
import random

from kefu_floor.engine import Engine, Setup
from kefu_floor.policy import load_policy
from kefu_floor.roster import Person, Roster
from kefu_floor.schema import decode_event
from kefu_floor.views.floorview import STATES, FloorView, _TeamTally, busy_change, round1
from harness.handworked import hw_events, hw_setup

EXC = {"missing", "late", "left_early", "absent", "late_return"}


def reference_team(team: str, rows: list[dict]) -> dict:
    """One team's entry summed from its rows, the slow obvious way."""
    agents = [r for r in rows if r.get("role") != "leader"]
    leaders = sorted(r["agent"] for r in rows if r.get("role") == "leader")
    by_state = {s: sum(r["state"] == s for r in rows) for s in STATES}
    reasons: dict[str, int] = {}
    for r in rows:
        if r["state"] == "busy":
            reasons[r.get("reason") or "-"] = reasons.get(r.get("reason") or "-", 0) + 1
    scores = [r["score"] for r in agents if r["score"] is not None]
    stars: dict[str, int] = {}
    for r in agents:
        if r.get("star") is not None:
            stars[str(r["star"])] = stars.get(str(r["star"]), 0) + 1
    working = by_state["ringing"] + by_state["talking"] + by_state["wrap"]
    talks = sum(r["today"]["talks"] for r in agents)
    offered = sum(r["today"]["offered"] for r in agents)
    answered = sum(r["today"]["answered"] for r in agents)
    surveys = sum(r["today"]["surveys"] for r in agents)
    in_shift = [r for r in rows if "in_shift" in r["flags"]]

    def ratio(a, b):
        return round(a / b, 4) if b else None

    busy = [r["busy_today_s"] for r in agents]
    return {
        "team": team, "agents": len(agents), "leaders": leaders,
        "leader_names": [next(r["name"] or r["agent"] for r in rows if r["agent"] == a)
                         for a in leaders],
        "by_state": by_state,
        "occupancy": ratio(working, working + by_state["ready"]),
        "busy_by_reason": dict(sorted(reasons.items())),
        "signed_in": len(rows) - by_state["out"], "scheduled": len(in_shift),
        "scheduled_signed_in": sum(r["state"] != "out" for r in in_shift),
        "over_budget": sum(bool(r.get("over_budget")) for r in rows),
        "missing": sum("missing" in r["flags"] for r in rows),
        "attention": sum(bool(r.get("attention")) for r in rows),
        "in_shift": len(in_shift),
        "mean_score": round(sum(scores) / len(scores), 2) if scores else None,
        "score": round(sum(scores) / len(scores), 2) if scores else None,
        "stars": dict(sorted(stars.items())),
        "answered_today": sum(r["today"]["answered"] for r in rows),
        "today": {"offered": offered, "answered": answered,
                  "aht_s": round(sum(r["today"]["talk_s"] for r in agents) / talks, 1)
                  if talks else None,
                  "answer_rate": ratio(answered, offered),
                  "satisfaction": ratio(sum(r["today"]["satisfied"] for r in agents), surveys)},
        "busy_mean_s": round(sum(busy) / len(busy), 1) if busy else None,
        "exceptions": sum(bool(EXC & set(r["flags"])) for r in agents),
    }


STEP = {"busy_mean_s": 0.1, "aht_s": 0.1, "mean_score": 0.01, "score": 0.01}


def close(a: dict, b: dict) -> bool:
    """Equal, except that a mean may be one rounding step off (the reference sums the
    rounded floats, whose error can tip a half either way)."""
    for k in a.keys() | b.keys():
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            if not close(x, y):
                return False
        elif k in STEP and x is not None and y is not None:
            if abs(x - y) > STEP[k] * 1.001:
                return False
        elif x != y:
            return False
    return True


def check_step(view: FloorView, eng: Engine) -> None:
    snap = view.snapshot(incremental=True)
    by: dict[str, list[dict]] = {}
    for e in snap["agents"].values():
        by.setdefault(e["team"] or "-", []).append(e)
    assert set(snap["teams"]) == set(by)
    for t, rows in by.items():
        got = {k: v for k, v in snap["teams"][t].items() if k != "deductions"}
        want = reference_team(t, rows)
        assert close(got, want), (t, got, want)
    fresh = FloorView(eng).snapshot()
    assert snap["teams"] == fresh["teams"] and snap["floor"] == fresh["floor"]


def test_busy_time_growing_alone_moves_the_teams_figures():
    """Ticks a second apart with nothing else happening: busy agents' busy time alone
    grows (the read side's busy patch), across the budget for some."""
    r = Roster()
    for i in range(40):
        a = f"B{i:03d}"
        r.people[a] = Person(a, f"N{i}", f"T{i % 4}", "leader" if i < 4 else "agent", None,
                             False, 3)
    pol = load_policy("chengdu-2014")
    eng = Engine(Setup(pol, r, [], "s1"))
    view = FloorView(eng)
    t = 1793663760000
    rnd = random.Random(3)
    evs = [{"type": "sign_in", "ts": t, "agent": a} for a in r.people]
    evs += [{"type": "busy", "ts": t + 1, "agent": a, "reason": "toilet"}
            for a in r.people if rnd.random() < 0.6]
    eng.feed([decode_event(json.dumps(e)) for e in evs])
    check_step(view, eng)
    t += round(pol.busy.budget_min * 60_000) - 20_000  # near the budget: crossed below
    eng.tick(t)
    check_step(view, eng)
    for step in range(40):
        t += 1000
        if step % 10 == 9:  # now and then someone comes back or goes busy
            a = rnd.choice(list(r.people))
            kind = rnd.choice(["ready", "busy"])
            e = {"type": kind, "ts": t, "agent": a}
            if kind == "busy":
                e["reason"] = "toilet"
            eng.feed([decode_event(json.dumps(e))])
        eng.tick(t)
        check_step(view, eng)
    assert view.eng.taken_busy  # the patch was exercised


def test_incremental_teams_and_floor_equal_a_fresh_sum_at_every_step():
    events = hw_events()
    eng = Engine(hw_setup())
    view = FloorView(eng)
    rnd = random.Random(7)
    k = 0
    steps = 0
    while k < len(events):
        n = rnd.randint(1, 30)
        eng.feed([decode_event(json.dumps(e)) for e in events[k:k + n]])
        k += n
        if k < len(events) and rnd.random() < 0.6:
            # engine time moved toward the next event: busy agents' busy time alone grows
            # (the busy patch)
            eng.tick(rnd.randint(eng.now, events[k]["ts"]))
        check_step(view, eng)
        steps += 1
    assert steps > 20


def test_busy_changes_count_as_taking_out_and_putting_in():
    # one entry at a time, and summed over many (as a tick's busy patch applies them)
    rnd = random.Random(1)
    many = []
    for k in range(300):
        old = {"agent": f"A{k}", "name": None, "team": "T", "role": rnd.choice(["agent", "leader"]),
               "state": "busy", "reason": "toilet", "flags": rnd.choice([[], ["in_shift"]]),
               "over_budget": rnd.random() < 0.5, "attention": rnd.choice([[], ["late"]]),
               "busy_today_s": round(rnd.uniform(0, 4000), 1), "score": 90.5, "star": None,
               "today": {"offered": 3, "answered": 2, "talks": 2, "talk_s": 61.25,
                         "surveys": 1, "satisfied": 1}}
        new = {**old, "busy_today_s": round(old["busy_today_s"] + rnd.uniform(0, 60), 1),
               "over_budget": rnd.random() < 0.5, "attention": rnd.choice([[], ["over_budget"]])}
        a, b = _TeamTally(), _TeamTally()
        a.add(old, +1)
        b.add(old, +1)
        prev = b.result("T")
        a.add(old, -1)
        a.add(new, +1)
        b.busy_shift(*busy_change(old, new))
        assert a.result("T") == b.result("T")
        assert +a.c == +b.c
        assert b.busy_result(prev) == b.result("T")
        many.append((old, new))
    a, b = _TeamTally(), _TeamTally()
    for old, _ in many:
        a.add(old, +1)
        b.add(old, +1)
    for old, new in many:
        a.add(old, -1)
        a.add(new, +1)
    b.busy_shift(*(sum(x) for x in zip(*(busy_change(o, n) for o, n in many))))
    assert a.result("T") == b.result("T")


def test_round1_is_pythons_round_to_tenths():
    # busy figures of a whole tick are rounded at once; they must be the floats `_agent`
    # makes one by one with Python's round (numpy's own round differs on many of these)
    import numpy as np

    rng = np.random.default_rng(1)
    for x in (np.arange(0, 400_000, dtype=np.float64) / 1000.0, rng.uniform(0, 1e5, 200_000),
              np.arange(0, 200_000) / 20.0, (np.arange(0, 100_000) + 0.5) / 10):
        assert round1(x).tolist() == [round(v, 1) for v in x.tolist()]
