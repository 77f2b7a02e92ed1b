"""Memory soak (issue 11 item 6): `python -m benchmarks.soak`.

Twelve simulated days at 2,000 agents (each day a full floor: sign-ins, breaks, busy spells,
calls, surveys, sales, shift timers, as the kernel benchmark builds it) through one engine,
with a flood of 100,000 bogus agent ids spread over the days, sent as JSON telemetry through
`Ingest` (the path MQTT payloads take). After each day the engine's clock moves past
midnight, the read model builds a snapshot, and the process's resident memory (RSS, from
/proc) and the engine's own arrays are sampled.

The peer of every figure is the same process after day 1: memory is flat when the last
day's RSS over the first day's stays near 1. The bogus ids stop at the cap on agents not in
the roster (policy `[limits] max_unknown_agents`, 1,000 by default); each one beyond it is
rejected with the counted reason `over_cap` instead of costing a row of every per-agent
array.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import time

import numpy as np

from benchmarks.kernels import make_setup, synthetic_batch
from kefu_floor.engine import Engine, Setup
from kefu_floor.live.ingest import Ingest

MINUTE_MS = 60_000


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def engine_mb(eng: Engine) -> float:
    return sum(v.nbytes for v in vars(eng).values() if isinstance(v, np.ndarray)) / 2**20


def run(n_agents: int, days: int, events_per_day: int, bogus: int, seed: int = 1) -> dict:
    from kefu_floor.views.floorview import FloorView

    first = dt.date(2026, 11, 2)
    day_setups = [make_setup(n_agents, first + dt.timedelta(days=d)) for d in range(days)]
    base = day_setups[0]
    setup = Setup(base.policy, base.roster, [s for ds in day_setups for s in ds.shifts],
                  "bench")
    eng = Engine(setup, live=True)
    for q in ("aftersale", "presale"):
        eng.sym.queues.id(q)
    for r in ("lunch", "break", "toilet", "system", "training"):
        eng.sym.reasons.id(r)
    eng.sym.sources.id("acd")
    eng._ensure_capacity()
    ingest = Ingest({"bench": eng}, wall_ahead_ms=None)
    view = FloorView(eng)
    per_day = -(-bogus // days)
    sent_bogus = 0
    rows = []
    t0 = time.perf_counter()
    for d in range(days):
        # the kernel benchmark's day: seq from 1 each day, so a new boot epoch per day
        b = synthetic_batch(day_setups[d], events_per_day, seed + d)
        b.epoch = np.full(len(b), d + 1, np.int64)
        eng.feed_batch(b)
        # bogus agent ids: sign-ins at engine time, 500 to a payload
        now = eng.now
        ids = range(sent_bogus, min(bogus, sent_bogus + per_day))
        msgs = []
        chunk = []
        for i in ids:
            chunk.append({"type": "sign_in", "ts": now, "agent": f"BOGUS{i:07d}"})
            if len(chunk) == 500:
                msgs.append(("kefu/bench/telemetry", json.dumps(chunk).encode()))
                chunk = []
        if chunk:
            msgs.append(("kefu/bench/telemetry", json.dumps(chunk).encode()))
        for k in range(0, len(msgs), 20):
            ingest.handle_many(msgs[k:k + 20])
        ingest.take_dead()
        sent_bogus += len(ids)
        # past midnight: the day closes, timers are booked
        nxt = first + dt.timedelta(days=d + 1)
        midnight = int(dt.datetime.combine(nxt, dt.time(0, 30), eng.policy.tz).timestamp()
                       * 1000)
        eng.tick(max(midnight, eng.now))
        view.snapshot()
        gc.collect()
        c = eng.counters()
        rows.append({"day": d + 1, "rss_mb": rss_mb(), "engine_mb": engine_mb(eng),
                     "agents": len(eng.sym.agents), "rows": eng.n_agents, "ledger": int(eng.ledger.shape[0]),
                     "accepted": c["accepted"], "over_cap": c.get("rejected_over_cap", 0),
                     "bogus_sent": sent_bogus})
    return {"rows": rows, "seconds": time.perf_counter() - t0, "agents": n_agents,
            "cap": eng.policy.limits.max_unknown_agents}


def report(out: dict) -> list[str]:
    rows = out["rows"]
    a, z = rows[0], rows[-1]
    lines = [f"memory soak: {len(rows)} simulated days at {out['agents']:,} agents, "
             f"{z['bogus_sent']:,} bogus agent ids ({out['seconds']:.0f} s)",
             f"{'day':>4} {'RSS MB':>8} {'engine MB':>10} {'agent ids':>10} {'ledger rows':>12} "
             f"{'accepted':>10} {'over_cap':>9}"]
    for r in rows:
        lines.append(f"{r['day']:>4} {r['rss_mb']:>8.1f} {r['engine_mb']:>10.1f} "
                     f"{r['agents']:>10,} {r['ledger']:>12,} {r['accepted']:>10,} "
                     f"{r['over_cap']:>9,}")
    c = rows[min(2, len(rows) - 1)]
    lines.append(f"RSS last/first day {z['rss_mb'] / a['rss_mb']:.2f}x (last/day {c['day']}: "
                 f"{z['rss_mb'] / c['rss_mb']:.2f}x); engine arrays "
                 f"{z['engine_mb'] / a['engine_mb']:.2f}x; unknown agents kept "
                 f"{z['agents'] - out['agents']:,} (cap {out['cap']:,}), "
                 f"{z['over_cap']:,} of {z['bogus_sent']:,} bogus ids rejected over_cap "
                 f"(target: flat, ~1.0x)")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--days", type=int, default=12)
    ap.add_argument("--events", type=int, default=200_000, help="events per day")
    ap.add_argument("--bogus", type=int, default=100_000, help="bogus agent ids in all")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 days, 200 agents")
    args = ap.parse_args(argv)
    if args.quick:
        args.agents, args.days, args.events, args.bogus = 200, 3, 20_000, 5_000
    print("\n".join(report(run(args.agents, args.days, args.events, args.bogus))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
