"""The live service against a real mosquitto (started by the fixture on a free port) and the
embedded amqtt broker: same numbers as replay, dead letters, broker loss, the feed."""
from __future__ import annotations

import asyncio
import json
import random
import time

import aiomqtt
import pytest
from websockets.asyncio.client import connect

from harness.handworked import HW, SITE, config, hw_events, hw_setup, wait_for
from kefu_floor.engine import Engine, Setup
from kefu_floor.views.floorview import apply_delta
from kefu_floor.live.ingest import LiveClock
from kefu_floor.live.mqtt import parse_broker_url, publish_batches
from kefu_floor.policy import load_policy
from kefu_floor.replay import replay
from kefu_floor.views.report import build_report
from kefu_floor.roster import load_roster, load_schedule
from kefu_floor.schema import decode_event
from kefu_floor.live.service import Service, ServiceConfig
from kefu_floor.cli.serve import fetch_report


def replay_report(month: str = "2026-11") -> dict:
    eng = Engine(hw_setup())
    replay(eng, HW / "events.jsonl")
    from kefu_floor.localtime import parse_month
    return build_report(eng.finish(), parse_month(month))


def random_batches(evs: list[dict], seed: int, max_batch: int = 40) -> list[bytes]:
    rnd = random.Random(seed)
    out, i = [], 0
    while i < len(evs):
        k = rnd.randint(1, max_batch)
        out.append(json.dumps(evs[i] if k == 1 else evs[i:i + k]).encode())
        i += k
    return out


def comparable(rep: dict) -> dict:
    """The report without the ingest counters (a live run also counts redeliveries)."""
    return {k: v for k, v in rep.items() if k != "counters"}


@pytest.mark.parametrize("seed", [1, 2])
def test_live_report_equals_replay(mosquitto, seed):
    evs = hw_events()

    async def main():
        async with Service(config(mosquitto.url)) as svc:
            await svc.wait_connected()
            url = parse_broker_url(mosquitto.url)
            await publish_batches(url, SITE, random_batches(evs, seed))
            eng = svc.engines[SITE]
            await wait_for(lambda: eng.counters()["accepted"] == len(evs), what="all events")
            return await fetch_report(f"ws://127.0.0.1:{svc.ws_port}", SITE, "2026-11", 30)

    live = asyncio.run(main())
    assert json.dumps(comparable(live), sort_keys=True) == json.dumps(
        comparable(replay_report()), sort_keys=True)
    assert live["counters"]["rejected"] == 0


def test_broker_restart_loses_nothing_and_counts_nothing_twice(mosquitto):
    evs = hw_events()
    half = len(evs) // 2
    url = parse_broker_url(mosquitto.url)

    async def main():
        async with Service(config(mosquitto.url)) as svc:
            await svc.wait_connected()
            eng = svc.engines[SITE]
            # one event per message so the service is mid-stream when the broker dies
            await publish_batches(url, SITE, [json.dumps(e).encode() for e in evs[:half]])
            mosquitto.stop()  # saves the persistent session's queue to disk
            await wait_for(lambda: not svc.subscriber.connected.is_set(), what="disconnect")
            seen_during_outage = eng.counters()["accepted"]
            await asyncio.sleep(0.5)
            mosquitto.start()  # same port, same persistence directory
            await wait_for(lambda: svc.subscriber.connected.is_set(), what="reconnect")
            assert svc.subscriber.connects >= 2
            await publish_batches(url, SITE, [json.dumps(e).encode() for e in evs[half:]])
            await wait_for(lambda: eng.counters()["accepted"] == len(evs), what="all events")
            await asyncio.sleep(0.5)  # any redelivery would arrive now
            return seen_during_outage, eng.counters(), build_report(eng.finish(), 2026 * 12 + 10)

    seen, counters, live = asyncio.run(main())
    assert seen <= len(evs)
    assert counters["accepted"] == len(evs)  # none lost, none counted twice
    assert comparable(live) == comparable(replay_report())


def test_dead_letters_are_published_and_service_keeps_running(mosquitto):
    good = {"type": "sign_in", "ts": 1793685600000, "agent": "A001"}
    bad_payloads = [
        (b"{not json", "bad_json"),
        (b'{"type":"teleport","ts":1,"agent":"A001"}', "unknown_type"),
        (b'{"type":"offer","ts":1793685600000,"agent":"A001","call":"c1"}', "missing_field"),
        (b'{"type":"busy","ts":"noon","agent":"A001"}', "wrong_type"),
        (b'{"type":"qa","ts":1,"agent":"A001","item":"exam","score":120}', "invalid_value"),
        (json.dumps([good, {"type": "ready", "ts": 2.5, "agent": "A001"}]).encode(), "wrong_type"),
        (json.dumps({**good, "site": "elsewhere"}).encode(), "wrong_site"),
        (b"[" + b'{"type":"ready","ts":1,"agent":"A001"},' * 20 + b"1]", "too_large"),
    ]

    async def main():
        cfg = config(mosquitto.url, max_payload=600)
        async with Service(cfg) as svc:
            await svc.wait_connected()
            url = parse_broker_url(mosquitto.url)
            got = []
            async with url.client(f"dl-{random.random()}") as sub:
                await sub.subscribe(f"kefu/{SITE}/deadletter", qos=1)
                await publish_batches(url, SITE, [p for p, _ in bad_payloads])
                async with asyncio.timeout(15):
                    async for m in sub.messages:
                        got.append(json.loads(m.payload))
                        if len(got) == len(bad_payloads):
                            break
            eng = svc.engines[SITE]
            return got, eng.counters()

    got, counters = asyncio.run(main())
    assert [g["reason"] for g in got] == [r for _, r in bad_payloads]
    assert all(g["detail"] and g["topic"] == f"kefu/{SITE}/telemetry" for g in got)
    assert got[5]["index"] == 1  # the bad element of the batch is named
    assert counters["accepted"] == 1  # the good half of the mixed batch still counted
    assert counters["rejected"] == len(bad_payloads)
    assert counters["rejected_wrong_type"] == 2 and counters["rejected_too_large"] == 1


def test_feed_snapshot_deltas_alerts_and_team_filter(mosquitto):
    # November only, so the feed's current month is the one the report covers
    evs = [e for e in hw_events() if e["ts"] < 1_796_054_400_000]  # 2026-12-01 00:00 +08
    ref = Engine(hw_setup())
    ref.feed([decode_event(json.dumps(e)) for e in evs])
    rep = build_report(ref.finish(), 2026 * 12 + 10)

    async def main():
        async with Service(config(mosquitto.url, delta_s=0.1)) as svc:
            await svc.wait_connected()
            ws_url = f"ws://127.0.0.1:{svc.ws_port}/"
            async with connect(ws_url) as ws, connect(ws_url + "?team=T2") as ws_t2:
                snap = json.loads(await ws.recv())
                snap_t2 = json.loads(await ws_t2.recv())
                assert snap["schema"] == "kefu-floor/feed/1" and snap["type"] == "snapshot"
                assert snap_t2["type"] == "snapshot"
                await publish_batches(parse_broker_url(mosquitto.url), SITE,
                                      random_batches(evs, 3))
                eng = svc.engines[SITE]
                await wait_for(lambda: eng.counters()["accepted"] == len(evs))
                alerts, state = [], snap
                t_end = time.monotonic() + 3
                while time.monotonic() < t_end:
                    try:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except TimeoutError:
                        continue
                    if msg["type"] == "alert":
                        alerts.append(msg["deduction"])
                    elif msg["type"] == "delta":
                        state = apply_delta(state, msg)
                t2_agents = set()
                while True:
                    try:
                        msg = json.loads(await asyncio.wait_for(ws_t2.recv(), 0.3))
                    except TimeoutError:
                        break
                    t2_agents |= set(msg.get("agents", {}))
                    if msg["type"] == "alert":
                        t2_agents.add(msg["deduction"]["agent"])
                fresh = svc.views[SITE].snapshot()
                return alerts, state, fresh, t2_agents

    alerts, state, fresh, t2_agents = asyncio.run(main())
    booked = sum(len(a["deductions"]) for a in rep["agents"])
    assert len(alerts) >= booked  # every deduction was pushed (leaders' included)
    assert {a["rule"] for a in alerts} >= {"busy_over_30", "late_sign_in", "late_return",
                                            "early_leave", "absent"}
    assert all(a["rule_zh"] and a["rule_en"] for a in alerts)
    # snapshot + deltas reconstruct what a fresh snapshot says
    assert state["agents"] == fresh["agents"]
    assert state["queues"] == fresh["queues"]
    assert state["month"] == "2026-11"
    for a in rep["agents"]:  # the feed's month scores are the report's
        assert state["agents"][a["agent"]]["items"] == a["items"]
        assert state["agents"][a["agent"]]["score"] == a["score"]
        assert state["agents"][a["agent"]]["star"] == a["star"]
    assert t2_agents and all(a.startswith("B") for a in t2_agents)


def test_missing_fires_from_the_clock_not_from_arrival(mosquitto, tmp_path):
    """A live stream (ts = wall time) goes quiet: at shift start + grace the absentee shows
    as missing without any event of theirs arriving."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    now = dt.datetime.now(tz)
    start = (now - dt.timedelta(minutes=4, seconds=58)).replace(second=0, microsecond=0)
    # within two hours of local midnight the shift runs into the next day (an end before
    # its start does: POLICY's night shifts); moving it earlier instead, as this test once
    # did, put its end in the past from 22:00 local, and nothing was ever missing
    (tmp_path / "roster.csv").write_text("agent,name,team,role,hired,probation,products\n"
                                         "X1,甲,T,agent,2025-01-01,false,3\n"
                                         "X2,乙,T,agent,2025-01-01,false,3\n")
    (tmp_path / "schedule.csv").write_text(
        "agent,date,start,end,breaks,grace_min\n"
        f"X2,{start.date()},{start:%H:%M},{start + dt.timedelta(hours=2):%H:%M},,5\n")
    pol = load_policy("chengdu-2014")
    setup = Setup(pol, load_roster(tmp_path / "roster.csv"),
                  load_schedule(tmp_path / "schedule.csv", pol.tz, 5), SITE)
    cfg = ServiceConfig(setups={SITE: setup}, broker=mosquitto.url, ws_port=0, tick_s=0.2,
                        client_id=f"clock-{random.random()}",
                        clock=LiveClock(lateness_ms=500, idle_s=0.5))

    async def main():
        async with Service(cfg) as svc:
            await svc.wait_connected()
            eng = svc.engines[SITE]
            wall = int(time.time() * 1000)
            await publish_batches(parse_broker_url(mosquitto.url), SITE, [json.dumps(
                {"type": "sign_in", "ts": wall, "agent": "X1"}).encode()])
            deadline_ms = int((start + dt.timedelta(minutes=5)).timestamp() * 1000)
            await wait_for(lambda: eng.counters()["accepted"] == 1)
            if eng.now <= deadline_ms:  # the wall clock has to carry it past the deadline
                flags = svc.views[SITE].snapshot()["agents"]["X2"]["flags"]
                assert "missing" not in flags
            await wait_for(lambda: "missing" in svc.views[SITE].snapshot()["agents"]["X2"]
                           ["flags"], timeout=15, what="missing flag from the clock")
            return eng.now, deadline_ms

    now_ms, deadline_ms = asyncio.run(main())
    assert now_ms > deadline_ms


def test_backlog_far_from_wall_clock_is_never_advanced_by_it():
    clock = LiveClock(lateness_ms=1000, idle_s=0.0, live_skew_ms=60_000)
    wall = 1_800_000_000_000
    clock.received(wall - 3_600_000, wall, 10.0)  # an hour-old backlog
    assert clock.target(wall - 3_600_000, wall, 20.0, True) is None
    clock.received(wall - 500, wall, 10.0)  # caught up
    assert clock.target(wall - 500, wall, 20.0, True) == wall - 1000 or \
        clock.target(wall - 500, wall, 20.0, True) is None
    clock.received(wall - 5_000, wall, 10.0)
    assert clock.target(wall - 5_000, wall, 20.0, True) == wall - 1000
    assert clock.target(wall - 5_000, wall, 20.0, False) is None  # broker away: hold
    assert clock.target(wall - 5_000, wall, 10.0 + 0.0, True) == wall - 1000
    ahead = LiveClock(idle_s=0.0)
    ahead.received(wall + 10_000, wall, 1.0)  # a simulation running ahead of the wall
    assert ahead.target(wall + 10_000, wall, 5.0, True) is None


def test_embedded_broker_needs_nothing_installed():
    async def main():
        async with Service(config("embedded")) as svc:
            await svc.wait_connected()
            assert svc.broker_url.host == "127.0.0.1"
            async with aiomqtt.Client(svc.broker_url.host, svc.broker_url.port) as c:
                await c.publish(f"kefu/{SITE}/telemetry", json.dumps(
                    {"type": "sign_in", "ts": 1793685600000, "agent": "A001"}), qos=1)
            eng = svc.engines[SITE]
            await wait_for(lambda: eng.counters()["accepted"] == 1, what="event via amqtt")

    asyncio.run(main())


def test_resync_sends_a_fresh_snapshot(mosquitto):
    """End to end over a real socket: a client whose outbox overflowed gets a snapshot next,
    not stale deltas (the rule itself: tests/test_feedcore.py, without sockets)."""
    async def main():
        async with Service(config(mosquitto.url)) as svc:
            await svc.wait_connected()
            async with connect(f"ws://127.0.0.1:{svc.ws_port}/") as ws:
                assert json.loads(await ws.recv())["type"] == "snapshot"
                await wait_for(lambda: svc.hub.clients)
                sub = next(iter(svc.hub.clients)).sub
                # far more than the outbox holds, in one go (no await: nothing is sent)
                body = json.dumps({"schema": "kefu-floor/feed/1", "type": "delta",
                                   "site": SITE, "pad": "x" * 4096}).encode()
                for _ in range(sub.max_bytes // len(body) + 10):
                    sub.put(body)
                assert sub.dropped >= 1
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                return msg

    msg = asyncio.run(main())
    assert msg["type"] == "snapshot"
