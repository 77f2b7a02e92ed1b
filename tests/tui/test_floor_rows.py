"""The floor's row model (`dashboards.tui.rowmodel.FloorRows`), without a terminal: the order
is the old table's order (formatting.sort_value, None last, the agent id breaking ties) in
both directions, a delta changes only the agents it names, and the cells drawn are tracked
per render generation."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dashboards.tui.formatting import COL_KEYS, SORTABLE, _none_last, agent_cells, sort_value
from dashboards.tui.rowmodel import FloorRows

NOW = 1_793_757_600_000  # 2026-11-04 10:00 +08
STATES = ("ready", "busy", "ringing", "talking", "wrap", "out")


def entry(i: int, rng: random.Random) -> dict:
    ans = rng.choice([None, *range(0, 40)])
    return {"agent": f"A{i:05d}", "name": rng.choice(["王伟", "李娜", "张敏", "", None]),
            "team": f"T{i % 7}", "state": rng.choice(STATES),
            "since": rng.choice([None, NOW - rng.randint(0, 3_600_000)]),
            "busy_today_s": rng.choice([None, float(rng.randint(0, 2400))]),
            "budget_left_s": rng.choice([None, float(rng.randint(0, 1800))]),
            "flags": rng.choice([[], ["late"], ["in_shift"], ["absent", "late"]]),
            "attention": rng.random() < 0.1,
            "today": {} if ans is None else {"answered": ans, "aht_s": rng.uniform(90, 200),
                                             "answer_rate": rng.random(),
                                             "satisfaction": rng.random()},
            "score": rng.choice([None, round(rng.uniform(50, 100), 2)]),
            "star": rng.choice([None, 1, 2, 3, 4, 5])}


def floor(n: int, seed: int = 1) -> dict[str, dict]:
    rng = random.Random(seed)
    return {f"A{i:05d}": entry(i, rng) for i in range(n)}


def old_order(agents: dict, col: str, rev: bool, keep=lambda e: True) -> list[str]:
    """The order the whole-table version sorted its rows in (app._order before the model)."""
    return sorted((a for a, e in agents.items() if keep(e)),
                  key=lambda a: (_none_last(sort_value(col, agents[a], NOW), rev), a),
                  reverse=rev)


def test_twenty_thousand_agents_in_the_old_tables_order_every_column_both_ways():
    agents = floor(20_000)
    m = FloorRows()
    m.rebuild(agents, lambda e: True, NOW)
    assert len(m) == 20_000 and list(m) == sorted(agents)
    for col in SORTABLE:
        for rev in (False, True):
            m.set_sort(col, rev)
            m.sort(agents, NOW)
            want = old_order(agents, col, rev)
            assert list(m) == want, (col, rev)
            # rows by index and the index of an agent agree with that order
            assert [m[i] for i in (0, 1, 9_999, 19_999)] == [want[i] for i in
                                                             (0, 1, 9_999, 19_999)]
            assert m.index(want[12_345]) == 12_345
            assert m.window(19_990, 60) == want[19_990:]
            assert m.window(100, 3) == want[100:103]
    assert m.index("nobody") is None


def test_a_delta_touches_only_the_agents_it_names():
    agents = floor(2_000)
    keep = lambda e: e.get("team") == "T3"  # noqa: E731 — a team filter
    m = FloorRows("name")
    m.rebuild(agents, keep, NOW)
    before = list(m)
    assert before == old_order(agents, "name", False, keep)
    # an agent of another team moves into T3: it goes in at its place, nothing else moves
    x = next(a for a, e in agents.items() if e["team"] == "T1")
    agents[x] = {**agents[x], "team": "T3"}
    assert m.update(agents, {x}, (), keep, NOW)  # rows moved
    assert list(m) == old_order(agents, "name", False, keep)
    assert [a for a in m if a != x] == before
    # a renamed agent moves at once under a static sort column
    y = before[0]
    agents[y] = {**agents[y], "name": "\uffff last"}
    assert m.update(agents, {y}, (), keep, NOW)
    assert m[len(m) - 1] == y and not m.stale
    # it leaves the team: out; removed from the feed: out
    agents[y] = {**agents[y], "team": "T4"}
    assert m.update(agents, {y}, (), keep, NOW) and y not in m
    assert m.update(agents, set(), {before[1]}, keep, NOW) and before[1] not in m
    # a change that moves no row says so (the table then repaints cells only)
    z = before[2]
    agents[z] = {**agents[z], "busy_today_s": 1.0}
    assert not m.update(agents, {z}, (), keep, NOW)


def test_a_live_column_changes_mark_the_order_stale_until_it_is_sorted():
    agents = floor(500)
    m = FloorRows("busy", reverse=True)
    m.rebuild(agents, lambda e: True, NOW)
    top = m[0]
    agents[top] = {**agents[top], "busy_today_s": -1.0}  # would go to the bottom
    assert not m.update(agents, {top}, (), lambda e: True, NOW)
    assert m[0] == top and m.stale  # rows do not jump on every delta
    assert m.sort(agents, NOW) and not m.stale
    assert list(m) == old_order(agents, "busy", True)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(SORTABLE), st.booleans(),
       st.lists(st.tuples(st.integers(0, 299), st.integers(0, 3)), max_size=60))
def test_deltas_then_a_sort_give_the_order_of_a_fresh_build(seed, col, rev, changes):
    """However deltas come (agents joining and leaving the filter, values changing, agents
    removed), bisecting them in and out keeps the model consistent: after a sort it is
    exactly what a fresh build of the same floor gives."""
    rng = random.Random(seed)
    agents = floor(300, seed)
    keep = lambda e: e.get("attention") or e.get("team") in ("T0", "T1")  # noqa: E731
    m = FloorRows(col, rev)
    m.rebuild(agents, keep, NOW)
    for i, what in changes:
        a = f"A{i:05d}"
        if what == 0 and a in agents:
            del agents[a]
            m.update(agents, set(), {a}, keep, NOW)
            continue
        agents[a] = entry(i, rng) if what != 3 else {**agents.get(a, entry(i, rng)),
                                                     "attention": True}
        m.update(agents, {a}, (), keep, NOW)
        assert len(set(m)) == len(m)
    m.sort(agents, NOW)
    fresh = FloorRows(col, rev)
    fresh.rebuild(agents, keep, NOW)
    assert list(m) == list(fresh) == old_order(agents, col, rev, keep)


def test_cells_are_made_once_per_generation_and_redraw_lists_only_what_changed():
    agents = floor(50)
    m = FloorRows()
    m.rebuild(agents, lambda e: True, NOW)
    made: list[str] = []
    now = [NOW]

    def fmt(a):
        made.append(a)
        return agent_cells(agents[a], now[0], "en", "2026-11-04")

    a, b = m[0], m[1]
    first = m.cells(a, fmt, gen=1)
    assert m.cells(a, fmt, gen=1) is first and made == [a]  # drawn: not made again
    # nothing changed: nothing to repaint
    assert m.redraw([a], fmt, gen=1) == []
    # a's state changed: exactly its state cells (and in-state) are listed
    agents[a] = {**agents[a], "state": "talking" if agents[a]["state"] != "talking"
                 else "ready", "since": NOW - 5_000}
    changed = m.redraw([a], fmt, gen=1)
    assert changed and {c for _, c in changed} <= set(COL_KEYS) - {"agent", "name", "team"}
    assert (a, "state") in changed
    # b was never drawn: all of its cells are to be drawn
    assert m.redraw([b], fmt, gen=1) == [(b, c) for c in COL_KEYS]
    # a new generation (the rows moved): the kept cells are not drawn from but still
    # compared with (a line drawn before can still be on screen)
    made.clear()
    m.cells(a, fmt, gen=2)
    assert made == [a]
    assert m.redraw([a], fmt, gen=3) == []  # unchanged since drawn in gen 2
    now[0] += 61_000  # a minute on: time in state moved
    assert (a, "in_state") in m.redraw([a], fmt, gen=3)
