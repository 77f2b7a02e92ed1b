"""Benchmark of durable state (issue 9): the cost of the Redis journal, restore time, sizes.

    python -m benchmarks.store            # full run (a few minutes)
    python -m benchmarks.store --quick    # smoke run

Ingest: events are queued at a real mosquitto for a persistent QoS 1 session, then the
service drains them, once with `--store memory` (journal in process memory: "off") and once
with a real redis-server (AOF, appendfsync always: "on"), for single-event messages and for
batches of 500, in the same run; the figure is the ratio on/off.

Restore: a month-end state of a 2,000-agent site (30 days of synthetic events) is
checkpointed into Redis; restore = a fresh service's `recover()` (read the checkpoint, check
and load it, read the empty journal tail). Also the checkpoint's size and Redis memory, per
1,000 agents.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

from kefu_floor.engine import Engine, Setup
from kefu_floor.live.ingest import LiveClock
from kefu_floor.policy import load_policy
from kefu_floor.schema import decode_event
from kefu_floor.live.service import Service, ServiceConfig
from kefu_floor.store import open_store
from kefu_floor.store import state
from kefu_floor.store.durable import Durable
from benchmarks.live import BROKER_CONFIG, SITE, bench_roster, payloads, preload, warm_up
from simulators.load import synthetic_events
from simulators.services import MosquittoServer, RedisServer

DAY_MS = 86_400_000


async def drain(port: int, client_id: str, n_events: int, n_agents: int, store: str) -> float:
    pol = load_policy("chengdu-2014")
    cfg = ServiceConfig(setups={SITE: Setup(pol, bench_roster(n_agents), [], SITE)},
                        broker=f"mqtt://127.0.0.1:{port}", client_id=client_id, ws_port=0,
                        clock=LiveClock(), store=store)
    svc = Service(cfg)
    eng = svc.engines[SITE]
    async with svc:
        await svc.wait_connected()
        t0 = time.perf_counter()
        while eng.counters()["accepted"] < n_events:
            if time.perf_counter() - t0 > 300:
                raise SystemExit(f"the service took {n_events} events but accepted only "
                                 f"{eng.counters()}")
            await asyncio.sleep(0.05)
        return time.perf_counter() - t0


def ingest(broker, redis, events, batch: int, n_agents: int, rounds: int = 2) -> dict:
    data = payloads(events, batch)
    out = {"batch": batch, "events": len(events), "off": 0.0, "on": 0.0}
    # off, on, off, on...: each the best of its rounds, taken in the same stretch of machine
    # load (one short drain is mostly the session's start: a single round of 100 batches
    # measured 50 % in one run and 100 % in the next)
    for r in range(rounds):
        for name, store in (("off", "memory"), ("on", redis.url)):
            redis.flushall()
            cid = f"{name}-{batch}-{random.randrange(1 << 30)}"
            preload(broker.port, cid, data)
            rate = len(events) / asyncio.run(drain(broker.port, cid, len(events), n_agents,
                                                   store))
            out[name] = max(out[name], rate)
            print(f"  ingest batch={batch} journal {name} round {r + 1}: {rate:,.0f} events/s",
                  file=sys.stderr, flush=True)
    out["ratio"] = out["on"] / out["off"]
    return out


def month_end_engine(n_agents: int, per_day: int) -> Engine:
    pol = load_policy("chengdu-2014")
    eng = Engine(Setup(pol, bench_roster(n_agents), [], SITE))
    for day in range(30):
        evs = synthetic_events(n_agents, per_day, seed=day)
        for e in evs:
            e["ts"] += day * DAY_MS
        eng.feed([decode_event(json.dumps(e)) for e in evs])
        eng.tick()
    return eng


def restore_figures(redis, n_agents: int, per_day: int) -> dict:
    eng = month_end_engine(n_agents, per_day)
    redis.flushall()
    before = int(redis.command("INFO", "memory").decode().split("used_memory:")[1].split()[0])
    t0 = time.perf_counter()
    blob = state.capture(eng, {"journal": "0-1", "digests": ""})
    capture_s = time.perf_counter() - t0

    async def go():
        st = open_store(redis.url)
        await st.checkpoint_put(SITE, blob)
        await st.close()
        fresh = Engine(Setup(eng.policy, eng.roster, [], SITE))
        st = open_store(redis.url)
        t0 = time.perf_counter()
        await Durable(st, {SITE: fresh}, lambda ms: None).recover()
        took = time.perf_counter() - t0
        await st.close()
        assert fresh.counters() == eng.counters()
        return took

    restore_s = asyncio.run(go())
    after = int(redis.command("INFO", "memory").decode().split("used_memory:")[1].split()[0])
    return {"agents": n_agents, "events": int(eng.counters()["accepted"]),
            "capture_s": capture_s, "restore_s": restore_s, "bytes": len(blob),
            "redis_bytes": after - before}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.store", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--agents", type=int, default=2000)
    args = ap.parse_args(argv)
    n_single = 5_000 if args.quick else 30_000
    n_batch = 200_000 if args.quick else 500_000
    per_day = 2_000 if args.quick else 20_000
    warm_up(args.agents)
    with MosquittoServer(extra_config=BROKER_CONFIG) as broker, RedisServer() as redis:
        rows = [ingest(broker, redis, synthetic_events(args.agents, n_single), 1, args.agents),
                ingest(broker, redis, synthetic_events(args.agents, n_batch, 2), 500,
                       args.agents)]
        rest = restore_figures(redis, args.agents, per_day)
    print(f"ingest from a real mosquitto (QoS 1), {args.agents} agents; journal on = "
          "redis-server with AOF, appendfsync always; best of 2 alternating rounds")
    print(f"{'payload':>14} {'events':>9} {'journal off ev/s':>17} {'journal on ev/s':>16} "
          f"{'on/off':>7}")
    for r in rows:
        label = "single events" if r["batch"] == 1 else f"batches of {r['batch']}"
        print(f"{label:>14} {r['events']:>9} {r['off']:>17,.0f} {r['on']:>16,.0f} "
              f"{r['ratio']:>6.0%}")
    k = rest["agents"] / 1000
    print(f"month-end checkpoint, {rest['agents']} agents, {rest['events']:,} events over 30 "
          f"days: capture {rest['capture_s']:.2f} s, restore {rest['restore_s']:.2f} s, "
          f"{rest['bytes'] / k / 1e6:.2f} MB per 1,000 agents, Redis memory "
          f"{rest['redis_bytes'] / k / 1e6:.2f} MB per 1,000 agents")
    print("targets: journal on >= 70% of off (single events), >= 500,000 events/s batched; "
          "restore < 5 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
