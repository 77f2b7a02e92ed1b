"""The TUI's feed client against a real feed server (FeedHub over an Engine fed the
hand-worked scenario), and the pure parts of the dashboard (next star, evidence, cells).

The feed server is `harness.feed.FeedServer`, which the Pilot and snapshot tests of the TUI
run against too.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from dashboards.feedclient import FeedClient, feed_url
from dashboards.tui import agent_cells, evidence, next_star, queue_strip, star_text
from harness.feed import DEC1, MIDNIGHT_DAY2, TZ, FeedServer, events_between, local_ms, until
from harness.handworked import SITE, hw_setup
from kefu_floor.engine import Engine
from kefu_floor.views.floorview import FloorView, diff
from kefu_floor.localtime import parse_month
from kefu_floor.policy import load_policy
from kefu_floor.views.report import build_report
from kefu_floor.schema import decode_event
from kefu_floor.scoring import assign_stars


def without_rolling(agents: dict) -> dict:
    """Agent entries less `last_60m`: the service's incremental snapshot refreshes an agent's
    rolling hour only when that agent has an event or a tick crosses a minute, so between
    ticks it may lag a fresh snapshot (the TUI does not show it)."""
    return {a: {k: v for k, v in e.items() if k != "last_60m"} for a, e in agents.items()}


@pytest.fixture
def feed_server():
    srv = FeedServer().start()
    try:
        yield srv
    finally:
        srv.close()


# ======================================================================== unit
def test_feed_url_adds_site_and_team():
    assert feed_url("ws://h:1") == "ws://h:1/"
    assert feed_url("ws://h:1/", "cd1", "T 2") == "ws://h:1/?site=cd1&team=T+2"
    with pytest.raises(ValueError):
        feed_url("http://h:1")


def test_handle_rebuilds_the_floor_from_snapshot_and_deltas_and_keeps_a_timeline():
    eng = Engine(hw_setup())
    view = FloorView(eng)
    evs = events_between(None, local_ms(4, 10, 4))
    cut = next(i for i, e in enumerate(evs) if e["ts"] >= local_ms(4, 7, 0))
    eng.feed([decode_event(json.dumps(e)) for e in evs[:cut]])
    client = FeedClient("ws://127.0.0.1:1")
    prev = view.snapshot(incremental=True)
    ch = client.handle(json.loads(json.dumps(prev)))
    assert ch.kind == "snapshot" and ch.agents == set(prev["agents"])
    kinds = []
    for e in evs[cut:]:  # one delta per event, as a slow floor would send them
        eng.feed([decode_event(json.dumps(e))])
        snap = view.snapshot(incremental=True)
        d = diff(prev, snap)
        prev = snap
        if d is not None:
            ch = client.handle(json.loads(json.dumps(d)))
            kinds.append(ch.kind)
            assert ch.agents == set(d.get("agents", {}))
    assert set(kinds) == {"delta"}
    fresh = FloorView(eng).snapshot()
    assert without_rolling(client.state["agents"]) == without_rolling(fresh["agents"])
    assert client.state["queues"] == fresh["queues"]
    # A001 on 11-04: signed in 07:58 (ready), busy 09:00, ready 10:01
    tl = client.today_timeline("A001", MIDNIGHT_DAY2)
    states = [(s, ts) for ts, s, _ in tl]
    assert ("ready", local_ms(4, 7, 58)) in states and ("busy", local_ms(4, 9, 0)) in states
    assert states[-1] == ("ready", local_ms(4, 10, 1))
    assert [s for s, _ in states].count("busy") == 1
    # A002 went busy with reason toilet at 10:00
    assert (local_ms(4, 10, 0), "busy", "toilet") in client.timeline["A002"]


def test_a_compact_snapshot_replaces_the_kept_entries_whole():
    # a delta's entry is merged into the kept one field by field; a snapshot's is not: a
    # field the kept entry had and the snapshot's lacks does not linger (a resync after a
    # version change of the service, say)
    c = FeedClient("ws://127.0.0.1:1")
    roster = {"agent": ["A1"], "name": ["甲"], "team": ["T"], "role": ["agent"],
              "probation": [False]}
    c.handle({"type": "snapshot", "site": "s", "now": 1, "roster": roster,
              "agents": {"A1": {"state": "ready", "old_field": 1}}, "teams": {}})
    c.handle({"type": "delta", "site": "s", "now": 2, "agents": {"A1": {"state": "busy"}}})
    assert c.state["agents"]["A1"] == {"state": "busy", "old_field": 1, "name": "甲",
                                       "team": "T", "role": "agent", "probation": False}
    c.handle({"type": "snapshot", "site": "s", "now": 3, "roster": roster,
              "agents": {"A1": {"state": "ready"}}, "teams": {}})
    assert c.state["agents"]["A1"] == {"state": "ready", "name": "甲", "team": "T",
                                       "role": "agent", "probation": False}


def test_alerts_are_newest_first_and_deduplicated():
    c = FeedClient("ws://127.0.0.1:1", max_alerts=3)
    mk = lambda ts, a="A001": {"ts": ts, "agent": a, "rule": "busy_over_30", "points": -10,  # noqa: E731
                               "day": "2026-11-04"}
    for ts in (1, 3, 2):
        c.handle({"type": "alert", "deduction": mk(ts)})
    assert [d["ts"] for d in c.alerts] == [3, 2, 1]
    assert c.handle({"type": "alert", "deduction": mk(3)}).alert is None  # a repeat
    c.handle({"type": "alert", "deduction": mk(4)})
    assert [d["ts"] for d in c.alerts] == [4, 3, 2]  # bounded, the oldest dropped
    assert not c.add_alert(mk(4)) and c.add_alert(mk(1))


def test_report_answers_resolve_requests_in_order():
    async def main():
        c = FeedClient("ws://127.0.0.1:1")
        loop = asyncio.get_running_loop()
        f1, f2 = loop.create_future(), loop.create_future()
        c._pending.extend([f1, f2])
        c.handle({"type": "report", "report": {"month": "2026-11"}})
        c.handle({"type": "error", "error": "month: bad"})
        assert f1.result() == {"month": "2026-11"}
        with pytest.raises(RuntimeError, match="bad"):
            f2.result()
    asyncio.run(main())


def month_report() -> tuple[Engine, dict]:
    eng = Engine(hw_setup())
    eng.feed([decode_event(json.dumps(e)) for e in events_between(None, DEC1)])
    return eng, build_report(eng.finish(), parse_month("2026-11"))


def test_next_star_is_the_lowest_score_that_reaches_the_better_grade():
    pol = load_policy("chengdu-2014")
    _, rep = month_report()
    ranked = {a["agent"]: a["score"] for a in rep["agents"]
              if a["score"] is not None and not a["probation"]}
    assert assign_stars(pol, ranked) == {a: r["star"] for a in ranked
                                         for r in rep["agents"] if r["agent"] == a}
    seen = set()
    for a in rep["agents"]:
        ns = next_star(pol, rep, a["agent"])
        seen.add(ns["kind"])
        if a["probation"]:
            assert ns["kind"] == "probation"
        elif ns["kind"] == "need":
            assert ns["star"] == a["star"] and ns["next"] == a["star"] + 1
            up = assign_stars(pol, {**ranked, a["agent"]: ns["target"]})[a["agent"]]
            assert up >= ns["next"]  # a tie at a boundary takes the better grade
            below = assign_stars(pol, {**ranked, a["agent"]: ns["target"] - 0.01})[a["agent"]]
            assert below < ns["next"]
            assert ns["need"] == pytest.approx(ns["target"] - a["score"])
        elif ns["kind"] == "top":
            assert a["star"] == 5 or a["star"] == max(assign_stars(pol, ranked).values())
    assert {"need", "probation", "unreachable", "no_score"} <= seen
    assert next_star(pol, rep, "L001")["kind"] == "leader"
    # a small gap is shown as what each item would have to gain
    near = json.loads(json.dumps(rep))
    a1 = next(a for a in near["agents"] if a["agent"] == "A001")
    a1["score"] = 97.0  # B001 has 97.75: 0.75 short of 4 star
    txt = star_text(pol, near, "A001", "en").plain
    assert "4 star needs a score of at least 97.75 (+0.75)" in txt
    assert "Recording +3.0 (to 91.0)" in txt  # weight 25: 0.75 x 100 / 25
    assert "Utilization +7.5 (to 67.5)" in txt
    assert "Answer rate" not in txt  # already 100


def test_evidence_names_the_crossing_and_the_busy_time():
    pol = load_policy("chengdu-2014")
    _, rep = month_report()
    a1 = next(a for a in rep["agents"] if a["agent"] == "A001")
    day2 = [d for d in a1["deductions"] if d["day"] == "2026-11-04"]
    texts = [evidence(d, a1["kpi"], k + 1, pol, TZ, "en") for k, d in enumerate(day2)]
    assert texts == [f"counted busy that day 61:00; crossing {k} (over {m} min) at {hm}"
                     for k, m, hm in ((1, 30, "09:30:00"), (2, 45, "09:45:00"),
                                      (3, 60, "10:00:00"))]
    a2 = next(a for a in rep["agents"] if a["agent"] == "A002")
    late = next(d for d in a2["deductions"] if d["rule"] == "late_sign_in")
    assert "08:06:00" in evidence(late, a2["kpi"], 1, pol, TZ, "en")
    assert "签入时间 08:06:00" in evidence(late, a2["kpi"], 1, pol, TZ, "zh")


def test_cells_show_state_as_text_and_symbol_and_budget_marks():
    e = {"agent": "A001", "name": "张伟", "team": "T1", "state": "busy", "reason": "toilet",
         "since": 1000, "flags": ["in_shift", "late"], "busy_today_s": 1860.0,
         "budget_left_s": 0.0, "today": {"answered": 3, "aht_s": 140.0, "answer_rate": 1.0,
                                         "satisfaction": None}, "score": 87.5, "star": 4}
    cells = dict(zip(("agent", "name", "team", "state", "in_state", "busy", "left", "sign",
                      "ans", "aht", "rate", "sat", "score", "star"),
                     agent_cells(e, 1000 + 75_000, "en")))
    assert cells["state"][0] == "= busy toilet"
    assert cells["in_state"][0] == "1:15"
    assert cells["left"][0] == "0:00!!" and "reverse" in cells["left"][1]
    assert cells["sign"][0] == "!late"
    assert cells["sat"][0] == "-" and cells["rate"][0] == "100%" and cells["star"][0] == "4"
    zh = agent_cells(e, 1000, "zh")
    assert zh[3][0] == "= 示忙 如厕" and zh[7][0] == "!迟到"


def test_queue_strip_sums_the_queues():
    eng = Engine(hw_setup())
    eng.feed([decode_event(json.dumps(e)) for e in events_between(None, local_ms(4, 22, 0))])
    snap = FloorView(eng).snapshot()
    # 21:30 a caller waits 70 s and hangs up: the last 30 minutes have only that call
    txt = queue_strip(snap, "en").plain.splitlines()
    assert txt[0] == "waiting 0  longest 0:00 | SL 30 min 0%!  today 91%  (target 80% / 20s)"
    assert txt[1] == "abandoned 30 min 100%  today 9% | occupancy 0%"
    assert txt[2].startswith("+ ready 3  = busy 0")
    assert len(queue_strip(snap, "en", wide=True).plain.splitlines()) == 2


# ======================================================================== over a socket
def test_client_follows_the_real_feed_and_reconnects_after_the_server_comes_back(feed_server):
    feed_server.feed(events_between(None, local_ms(4, 7, 0)))
    changes: list[str] = []
    wall = [1_793_760_000.0]  # a fixed wall clock: 2026-11-04 10:40:00 local

    async def main():
        c = FeedClient(feed_server.url, SITE, listener=lambda ch: changes.append(ch.kind),
                       wall=lambda: wall[0], backoff_initial=0.05, backoff_max=0.2)
        task = asyncio.create_task(c.run())
        await until(lambda: c.state is not None, what="snapshot")
        assert c.connected and c.disconnected_since is None
        now = await feed_server.afeed(events_between(local_ms(4, 7, 0), local_ms(4, 9, 10)))
        await until(lambda: c.state["now"] == now, what="delta")
        rep = await c.request_report("2026-11")
        assert rep["month"] == "2026-11" and rep["site"] == SITE
        await feed_server.stop_serving()
        await until(lambda: not c.connected, what="disconnect")
        assert c.disconnected_since == wall[0]
        kept = dict(c.state["agents"])
        assert kept  # the last data stays
        await asyncio.sleep(0.3)  # a few failed attempts
        assert c.attempts >= 1 and c.disconnected_since == wall[0]
        await feed_server.start_serving()
        await until(lambda: c.connected, what="reconnect")
        assert c.disconnected_since is None and c.connects == 2
        now = await feed_server.afeed(events_between(local_ms(4, 9, 10), local_ms(4, 10, 4)))
        await until(lambda: c.state["now"] == now, what="delta after reconnect")
        # the alerts booked while connected: A001's crossings at 09:30, 09:45, 10:00
        rules = [(d["agent"], d["rule"]) for d in c.alerts]
        assert rules.count(("A001", "busy_over_30")) == 3
        assert all(d["rule_zh"] and d["rule_en"] for d in c.alerts)
        c.stop()
        await asyncio.wait_for(task, 5)  # stop() ends run() cleanly
        return c

    c = asyncio.run(main())
    # lost once by the server, once by stop()
    assert changes.count("connected") == 2 and changes.count("disconnected") == 2
    fresh = feed_server.call(lambda: FloorView(feed_server.eng).snapshot())
    assert without_rolling(c.state["agents"]) == without_rolling(fresh["agents"])


def test_timeline_stays_in_order_when_a_restarted_service_resends_earlier_states():
    c = FeedClient("ws://127.0.0.1:1")
    base = {"type": "snapshot", "now": 10, "agents": {"A1": {"state": "ready", "since": 5}}}
    c.handle(base)
    c.handle({"type": "delta", "now": 20, "agents": {"A1": {"state": "busy", "since": 15}}})
    c.handle({"type": "snapshot", "now": 12, "agents": {"A1": {"state": "wrap", "since": 8}}})
    c.handle({"type": "delta", "now": 20, "agents": {"A1": {"state": "busy", "since": 15,
                                                             "reason": "toilet"}}})
    assert c.timeline["A1"] == [(5, "ready", None), (8, "wrap", None), (15, "busy", "toilet")]
