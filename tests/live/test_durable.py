"""Nothing lost: `serve --store redis://…` killed with SIGKILL (and Redis killed, and the
broker restarted) during a simulated 200-agent day published at speed; afterwards the live
report equals `replay` of the same events field for field and the ledger record in Redis
holds each deduction exactly once. Real mosquitto and redis-server (AOF) on free ports.

The day: `kefu-floor simulate --agents 200` (88 k events), published in random batches of
1-40 events at about 400 messages/s; half of the messages have their `src`/`seq` removed, so
the engine cannot deduplicate their redeliveries and the journal's digest window must.
"""
from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from harness.serve import SITE, Serve, publish, settle
from kefu_floor.engine import Engine, Setup
from kefu_floor.localtime import month_of, month_str
from kefu_floor.live.mqtt import parse_broker_url
from kefu_floor.policy import load_policy
from kefu_floor.replay import replay
from kefu_floor.views.report import build_report
from kefu_floor.roster import load_roster, load_schedule
from kefu_floor.store import records
from simulators.services import MosquittoServer, RedisServer

pytestmark = pytest.mark.slow  # kill -9 and restarts during a simulated 200-agent day

# the broker must keep an offline session's whole backlog (the default keeps 1,000)
BROKER_CONF = "max_queued_messages 0\nmax_queued_bytes 0\n"


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A simulated 200-agent day, half its messages without src/seq; (folder, batches)."""
    out = tmp_path_factory.mktemp("day")
    subprocess.run([sys.executable, "-m", "kefu_floor", "simulate", "--agents", "200",
                    "--seed", "11", "--site", SITE, "--out", str(out)], check=True,
                   capture_output=True, timeout=300)
    evs = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines() if x]
    rnd = random.Random(7)
    batches, i = [], 0
    while i < len(evs):
        k = rnd.randint(1, 40)
        chunk = evs[i:i + k]
        if rnd.random() < 0.5:
            for e in chunk:
                e.pop("src", None)
                e.pop("seq", None)
        batches.append(chunk)
        i += k
    with open(out / "published.jsonl", "w") as f:
        for b in batches:
            for e in b:
                f.write(json.dumps(e) + "\n")
    return out, [json.dumps(b if len(b) > 1 else b[0]).encode() for b in batches], len(evs)


def _setup(folder: Path) -> Setup:
    pol = load_policy("chengdu-2014")
    return Setup(pol, load_roster(folder / "roster.csv"),
                 load_schedule(folder / "schedule.csv", pol.tz,
                               pol.attendance.default_grace_min), SITE)


def replayed(folder: Path, engine: bool = False):
    eng = Engine(_setup(folder))
    replay(eng, folder / "published.jsonl")
    month = month_of(eng.now, eng.policy.tz)
    rep = build_report(eng.finish(), month)
    return (rep, month_str(month), eng) if engine else (rep, month_str(month))


def comparable(rep: dict) -> dict:
    return {k: v for k, v in rep.items() if k not in ("counters", "generated_at")}


def check(live: dict, folder: Path, store: str, n: int) -> None:
    ref, month, eng = replayed(folder, engine=True)
    assert live["counters"]["accepted"] == n  # none lost, none counted twice
    assert json.dumps(comparable(live), sort_keys=True) == json.dumps(comparable(ref),
                                                                      sort_keys=True)
    out = subprocess.run([sys.executable, "-m", "kefu_floor", "ledger", "--store", store,
                          "--site", SITE, "--month", month], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    led = [json.loads(x) for x in out.stdout.splitlines()]
    # the same deductions as replay's ledger (leaders' included), each exactly once
    fields = ("agent", "ts", "rule", "item", "points", "day")
    key = lambda e: tuple(e[k] for k in fields)
    want = Counter(key(e) for _, e in records.ledger_entries(eng, 0, len(eng.ledger)))
    assert Counter(key(e) for e in led) == want
    assert len(led) > 30


def test_kill9_serve_three_times_loses_nothing(day, tmp_path, redis_url):
    folder, batches, n = day
    rnd = random.Random()
    with MosquittoServer(extra_config=BROKER_CONF) as mq:
        serve = Serve(tmp_path, folder, mq.url, redis_url)

        async def main():
            serve.start()
            await serve.subscribed()
            pub = asyncio.create_task(publish(parse_broker_url(mq.url), batches, 400))
            for _ in range(3):
                await asyncio.sleep(rnd.uniform(0.3, 2.5))  # mid-stream, at a random moment
                serve.kill9()
                serve.start()
                await serve.subscribed()
            await pub
            feed = await serve.subscribed()
            return await settle(feed, n, replayed(folder)[1])

        try:
            live = asyncio.run(main())
        finally:
            serve.stop()
        assert serve.n == 4
        check(live, folder, redis_url, n)
        assert "re-applied" in serve.logs() or "restored checkpoint" in serve.logs()


def test_redis_killed_and_broker_restarted_mid_stream(day, tmp_path):
    folder, batches, n = day
    with MosquittoServer(extra_config=BROKER_CONF) as mq, RedisServer() as rs:
        serve = Serve(tmp_path, folder, mq.url, rs.url, "--archive", str(tmp_path / "arch"))

        async def main():
            serve.start()
            await serve.subscribed()
            gate = asyncio.Event()
            gate.set()
            pub = asyncio.create_task(publish(parse_broker_url(mq.url), batches, 400, gate))
            await asyncio.sleep(1.5)
            rs.kill()  # kill -9 of redis-server: AOF keeps what it acknowledged
            feed = await serve.subscribed()
            t0 = time.monotonic()
            while True:  # the feed stays up and says the store is down
                async with connect(feed + "?site=" + SITE, max_size=None) as ws:
                    snap = json.loads(await ws.recv())
                if snap.get("store", {}).get("ok") is False or time.monotonic() - t0 > 5:
                    break
                await asyncio.sleep(0.3)
            assert snap["store"]["ok"] is False and snap["store"]["since"] > 0, snap.get("store")
            assert serve.proc.poll() is None  # the service stays up, not acknowledging
            rs.start()
            await asyncio.sleep(2.0)
            gate.clear()
            await asyncio.sleep(0.2)  # the publisher's last message is acknowledged
            mq.stop()  # the broker restarted mid-stream: the persistent session carries on
            await asyncio.sleep(0.5)
            mq.start()
            gate.set()
            await pub
            feed = await serve.subscribed()
            return await settle(feed, n, replayed(folder)[1])

        try:
            live = asyncio.run(main())
        finally:
            serve.stop()
        logs = serve.logs()
        assert "store down" in logs and "store back" in logs
        check(live, folder, rs.url, n)
        # the audit archive (written by the clean stop's last checkpoint at the latest)
        days = sorted((tmp_path / "arch" / SITE).glob("*.jsonl.gz"))
        assert days
        eng = Engine(_setup(folder))
        for d in days:
            replay(eng, d)
        ref, month = replayed(folder)
        assert comparable(build_report(eng.finish(), month_of(eng.now, eng.policy.tz))) == comparable(ref)


def test_standby_takes_over_after_kill9(day, tmp_path, redis_url):
    """Two serve processes, same site and client id: the second waits on the lease, takes
    over when the active one is killed, and the day still equals replay."""
    folder, batches, n = day
    with MosquittoServer(extra_config=BROKER_CONF) as mq:
        active = Serve(tmp_path, folder, mq.url, redis_url, "--lease-ms", "2000", name="a")
        standby = Serve(tmp_path, folder, mq.url, redis_url, "--lease-ms", "2000", name="b")

        async def main():
            active.start()
            await active.subscribed()
            standby.start()
            t0 = time.monotonic()
            while "standby: the lease" not in standby.log.read_text():
                assert time.monotonic() - t0 < 60, standby.log.read_text()
                await asyncio.sleep(0.05)
            pub = asyncio.create_task(publish(parse_broker_url(mq.url), batches, 400))
            await asyncio.sleep(random.uniform(1.0, 3.0))
            active.kill9()
            t_kill = time.monotonic()
            feed = await standby.subscribed()
            takeover = time.monotonic() - t_kill
            await pub
            return await settle(feed, n, replayed(folder)[1]), takeover

        try:
            live, takeover = asyncio.run(main())
        finally:
            active.stop()
            standby.stop()
        print(f"standby takeover after kill -9: {takeover:.2f} s (lease TTL 2 s)")
        assert "took over the lease" in standby.logs()
        assert takeover < 15
        check(live, folder, redis_url, n)
