"""The feed's fan-out without sockets (kefu_floor.feedcore): first message a snapshot,
bounded outboxes in bytes with drop-and-resync, one encoding per site and filter, the team
filter, alerts taken from the engine, the compact form, and reads that never write."""
from __future__ import annotations

import json

import numpy as np

from kefu_floor.engine import Engine
from kefu_floor.live.feedcore import STATIC_FIELDS, FeedCore, UnknownSite
from kefu_floor.views.floorview import FloorView, apply_delta
from kefu_floor.views.report import build_report, read_report
from kefu_floor.schema import decode_event
from harness.handworked import SITE, hw_events, hw_setup
from harness.scenario_builder import Day, Floor

EVENTS = hw_events()


def core_with(n_events: int = 0, **kw) -> tuple[Engine, FeedCore]:
    eng = Engine(hw_setup())
    if n_events:
        eng.feed([decode_event(json.dumps(e)) for e in EVENTS[:n_events]])
    return eng, FeedCore({SITE: FloorView(eng)}, **kw)


def drain(core: FeedCore, sub) -> list[dict]:
    out = []
    while (body := core.next_message(sub)) is not None:
        out.append(json.loads(body))
    return out


def feed(core: FeedCore, eng: Engine, events: list[dict]) -> None:
    eng.feed([decode_event(json.dumps(e)) for e in events])
    core.alerts()
    core.publish_deltas()


def test_first_a_snapshot_then_deltas_that_rebuild_the_floor():
    eng, core = core_with(40)
    sub = core.subscribe(SITE)
    first = drain(core, sub)
    assert [m["type"] for m in first] == ["snapshot"]
    state = first[0]
    for k in range(40, len(EVENTS), 25):
        eng.feed([decode_event(json.dumps(e)) for e in EVENTS[k:k + 25]])
        if k % 50 == 40:
            eng.tick()  # books what is due, and moves busy agents' busy time
        core.alerts()
        core.publish_deltas()
        for m in drain(core, sub):
            if m["type"] == "delta":
                state = apply_delta(state, m)
    fresh = FloorView(eng).snapshot()
    for section in ("agents", "teams", "floor", "now", "queues", "totals", "recent"):
        assert state[section] == fresh[section], section


def test_unknown_site_is_refused_with_what_is_served():
    _, core = core_with()
    try:
        core.subscribe("nowhere")
    except UnknownSite as e:
        assert "nowhere" in str(e) and SITE in str(e)
    else:
        raise AssertionError("an unknown site was accepted")


def test_a_slow_subscriber_is_capped_in_bytes_then_resynced_with_a_snapshot():
    eng, core = core_with(40, max_bytes=32768)
    slow = core.subscribe(SITE)
    fast = core.subscribe(SITE)
    drain(core, slow)
    drain(core, fast)
    for k in range(40, len(EVENTS), 5):
        feed(core, eng, EVENTS[k:k + 5])
        # never more queued than the cap (or one message, when it alone is bigger)
        assert slow.nbytes <= 32768 or len(slow.out) == 1
        drain(core, fast)
    assert slow.dropped >= 1 and slow.resync
    msgs = drain(core, slow)
    assert msgs[0]["type"] == "snapshot"  # what it missed is in the snapshot, no stale deltas
    assert msgs[0]["now"] == eng.now and len(msgs) == 1
    assert fast.dropped == 0


def test_each_message_is_encoded_once_per_filter():
    eng, core = core_with(40)
    subs = [core.subscribe(SITE) for _ in range(5)] + [core.subscribe(SITE, "T1")
                                                       for _ in range(3)]
    for s in subs:
        drain(core, s)
    before = core.encodes
    feed(core, eng, EVENTS[40:])
    eng.tick()
    core.alerts()
    core.publish_deltas()
    # the same objects in every outbox of one filter, each encoded once
    outs = [list(s.out) for s in subs]
    assert all(o and len(o) == len(outs[0]) for o in outs[:5])
    assert all(all(a is b for a, b in zip(o, outs[0])) for o in outs[1:5])
    assert all(all(a is b for a, b in zip(o, outs[5])) for o in outs[6:])
    distinct = {id(b) for o in outs for b in o}
    assert core.encodes - before == len(distinct)


def test_team_filter_keeps_the_teams_agents_and_alerts():
    eng, core = core_with()
    everyone = core.subscribe(SITE)
    t1 = core.subscribe(SITE, "T1")
    feed(core, eng, EVENTS[:5])
    drain(core, everyone)
    drain(core, t1)
    feed(core, eng, EVENTS[5:])
    eng.tick()
    core.alerts()
    team_of = {a: p.team for a, p in eng.roster.people.items()}
    got_all, got_t1 = drain(core, everyone), drain(core, t1)
    assert got_all and got_t1 and all(m["type"] != "snapshot" for m in got_all + got_t1)
    for m in got_t1:
        assert all(team_of.get(a) == "T1" for a in m.get("agents", {}))
        assert set(m.get("teams", {})) <= {"T1"}
        if m["type"] == "alert":
            assert m["deduction"]["team"] == "T1"
    alerts_all = [m for m in got_all if m["type"] == "alert"]
    alerts_t1 = [m for m in got_t1 if m["type"] == "alert"]
    assert alerts_all and len(alerts_t1) == sum(m["deduction"]["team"] == "T1"
                                                for m in alerts_all)


def test_alerts_come_from_the_engine_once_each():
    eng, core = core_with()
    sub = core.subscribe(SITE)
    drain(core, sub)
    feed(core, eng, EVENTS)
    eng.tick()
    core.alerts()
    alerts = [m["deduction"] for m in drain(core, sub) if m["type"] == "alert"]
    assert len(alerts) == len(eng.ledger) > 0
    assert not hasattr(core, "ledger_seen")  # no cursor of the feed's own
    core.alerts()
    assert [m for m in drain(core, sub) if m["type"] == "alert"] == []
    assert not eng.take_booked()  # the engine's record was taken


def test_compact_stream_sends_roster_once_and_folds_alerts_into_deltas():
    eng, core = core_with(30)
    plain, compact = core.subscribe(SITE), core.subscribe(SITE, compact=True)
    snap_p, snap_c = drain(core, plain)[0], drain(core, compact)[0]
    assert all(not set(STATIC_FIELDS) & set(e) for e in snap_c["agents"].values())
    cols = snap_c["roster"]
    roster = {a: {f: cols[f][k] for f in STATIC_FIELDS} for k, a in enumerate(cols["agent"])}
    expanded = {a: {**roster[a], **e} for a, e in snap_c["agents"].items()}
    assert expanded == snap_p["agents"]
    assert len(core.snapshot_bytes(SITE, compact=True)) < len(core.snapshot_bytes(SITE))
    feed(core, eng, EVENTS[30:])
    eng.tick()
    core.alerts()
    core.publish_deltas()
    msgs = drain(core, compact)
    assert all(m["type"] == "delta" for m in msgs)
    folded = [d for m in msgs for d in m.get("alerts", [])]
    alerts = [m["deduction"] for m in drain(core, plain) if m["type"] == "alert"]
    assert folded == alerts and alerts


def test_compact_deltas_carry_changed_fields_and_rebuild_the_plain_state():
    """A compact delta's agent and team entries hold only what changed; merged by the
    client (dashboards.feedclient) they give, at every step, the plain stream's state."""
    from dashboards.feedclient import FeedClient

    eng, core = core_with(40)
    plain, compact = core.subscribe(SITE), core.subscribe(SITE, compact=True)
    client = FeedClient("ws://127.0.0.1:1", SITE, compact=True)
    state = drain(core, plain)[0]
    for m in drain(core, compact):
        client.handle(m)
    sizes = [0, 0]
    partial = 0
    t = eng.now
    for k in range(40, len(EVENTS), 10):
        eng.feed([decode_event(json.dumps(e)) for e in EVENTS[k:k + 10]])
        if k + 10 < len(EVENTS):
            t = max(eng.now, (eng.now + EVENTS[k + 10]["ts"]) // 2)
            eng.tick(t)  # busy time grows alone in between: a patch of two figures
        core.alerts()
        core.publish_deltas()
        for m in drain(core, plain):
            sizes[0] += len(json.dumps(m))
            if m["type"] == "delta":
                state = apply_delta(state, m)
        for m in drain(core, compact):
            sizes[1] += len(json.dumps(m))
            partial += sum(len(e) < len(state["agents"].get(a, {})) - len(STATIC_FIELDS)
                           for a, e in m.get("agents", {}).items())
            client.handle(m)
        assert client.state["agents"] == state["agents"]
        assert client.state["teams"] == state["teams"]
        assert client.state["floor"] == state["floor"]
    assert partial > 10  # entries did come as patches
    assert sizes[1] < 0.6 * sizes[0], sizes


def test_nobody_subscribed_costs_nothing_and_leaves_no_backlog():
    eng, core = core_with()
    feed(core, eng, EVENTS[:200])
    assert core.last == {} and core.encodes == 0
    sub = core.subscribe(SITE)
    msgs = drain(core, sub)
    assert [m["type"] for m in msgs] == ["snapshot"]  # no old alerts replayed


def test_a_client_after_an_idle_spell_gets_the_floor_as_it_is_now():
    """A screen that connects after everyone left is sent today's floor, not the snapshot
    the last client was sent (the store going down while the floor is idle is exactly
    such a change: nothing is ingested, only the status moves)."""
    eng, core = core_with(40)
    view = core.views[SITE]
    status = {"ok": True, "since": 1}
    view.store_status = lambda: dict(status)
    sub = core.subscribe(SITE)
    assert drain(core, sub)[0]["store"]["ok"] is True
    core.unsubscribe(sub)
    core.publish_deltas()  # nobody left
    status.update(ok=False, since=2)
    eng.feed([decode_event(json.dumps(e)) for e in EVENTS[40:80]])
    core.publish_deltas()
    sub = core.subscribe(SITE)
    snap = drain(core, sub)[0]
    assert snap["store"] == {"ok": False, "since": 2}
    assert snap["agents"] == FloorView(eng).snapshot()["agents"]


def test_reading_a_report_writes_nothing():
    eng = Engine(hw_setup())
    eng.feed([decode_event(json.dumps(e)) for e in EVENTS])
    state = {k: v.copy() for k, v in vars(eng).items() if isinstance(v, np.ndarray)}
    rep = build_report(eng, 2026 * 12 + 10)
    read_report(eng, 2026 * 12 + 10)
    assert all(np.array_equal(v, getattr(eng, k), equal_nan=True) for k, v in state.items())
    assert rep["agents"]


def _small_floor():
    """Three agents with shifts, one not in the roster who signs in: an engine with spare
    agent rows past its agent ids (its arrays are allocated ahead)."""
    f = Floor(site=SITE)
    for a in ("A1", "A2", "A3"):
        f.agent(a, team="T1")
        f.shift(a, "2026-11-03", "08:00", "16:30")
    d = Day("2026-11-03")
    for a in ("A1", "A2", "X9"):
        d.sign_in(a, "08:01")
    d.busy("A2", "09:00", "toilet")
    return f, d


def test_a_tick_marks_only_agent_ids_the_engine_has():
    # a tick walks every row of the agent arrays, spare ones too; those are nobody, and an
    # id past the interned ones made the live month index past its end (the feed's delta
    # loop died on it, and every screen froze on its last figures)
    f, d = _small_floor()
    eng = Engine(f.setup(), live=True)
    eng.dirty = set()
    eng.feed([decode_event(json.dumps(e)) for e in d.events])
    assert eng.A.shape[0] > len(eng.sym.agents)  # there are spare rows
    eng.take_dirty()
    eng.tick(Day("2026-11-03").t("09:40"))
    dirty = eng.take_dirty() | eng.taken_busy
    assert dirty and max(dirty) < len(eng.sym.agents)


def test_deltas_go_on_across_ticks_and_a_new_agent_id():
    f, d = _small_floor()
    eng = Engine(f.setup(), live=True)
    core = FeedCore({SITE: FloorView(eng)})
    sub = core.subscribe(SITE, compact=True)
    feed(core, eng, d.events[:2])
    state = drain(core, sub)[0]
    later = Day("2026-11-03")
    steps = [d.events[2:], [later.sign_in("N1", "09:10")], [later.floor("A1", "09:20", -10)]]
    for k, evs in enumerate(steps):
        eng.tick(later.t("09:05") + k * 60_000)
        feed(core, eng, evs)
        for m in drain(core, sub):
            assert m["type"] == "delta"
            state = apply_delta(state, m)
    assert "N1" in state["agents"]
    fresh = FloorView(eng).snapshot()
    for section in ("floor", "now", "totals"):
        assert state[section] == fresh[section], section


def test_reset_owes_every_subscriber_a_fresh_snapshot():
    eng, core = core_with(40)
    a, b = core.subscribe(SITE), core.subscribe(SITE, compact=True)
    drain(core, a)
    drain(core, b)
    feed(core, eng, EVENTS[40:80])
    assert a.out  # deltas queued
    core.reset()
    assert not a.out and not b.out
    for sub in (a, b):
        got = drain(core, sub)
        assert [m["type"] for m in got] == ["snapshot"]
    assert got[0]["agents"].keys() == FloorView(eng).snapshot()["agents"].keys()


def test_a_failing_delta_step_is_logged_and_the_feed_goes_on(caplog):
    import asyncio

    from kefu_floor.live.wsfeed import FeedHub
    eng, _ = core_with(40)
    hub = FeedHub({SITE: FloorView(eng)}, interval=0.01)
    sub = hub.core.subscribe(SITE)
    drain(hub.core, sub)
    calls = []
    real = hub.core.publish_deltas

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise IndexError("a bug in one step")
        real()

    hub.core.publish_deltas = flaky

    async def main():
        task = asyncio.create_task(hub.run())
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(main())
    assert hub.publish_errors == 1 and len(calls) >= 3
    assert "building a delta failed" in caplog.text
    assert [m["type"] for m in drain(hub.core, sub)] == ["snapshot"]  # owed a fresh one
