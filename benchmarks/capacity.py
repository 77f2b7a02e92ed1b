"""One engine's capacity on this machine (issue 11 items 5 and 8): `python -m benchmarks.capacity`.

In one process, with no broker (the bare MQTT client drains batches several times faster
than the service takes them, `benchmarks.live`, so this is what bounds an engine):

- ingest: JSON batches of 500 events (the load generator's mix) through `Ingest` -> engine,
  drained as the MQTT subscriber drains them (up to 1 MiB at a time), best of two, at 2,000
  and 20,000 agents; the peers are `json.loads` of the same payloads (merely parsing them)
  and the strict path `Ingest(scan=False)` (every payload through the msgspec decoder and
  `Engine.feed`, as before the payload scanner);
- single-event payloads the same way (the peer: `json.loads` of each);
- per agent: the engine's arrays in MB per 1,000 agents, and one full read-model snapshot
  (`FloorView.snapshot`, what a feed client's first message costs).

Figures are ratios to their peer in this run; README "Scale-out" turns them into a plan.
"""
from __future__ import annotations

import argparse
import gc
import json
import time

import numpy as np

from benchmarks.live import SITE, TOPIC, bench_roster, payloads
from kefu_floor.engine import Engine, Setup
from kefu_floor.live.ingest import Ingest
from kefu_floor.live.mqtt import DRAIN_MAX, DRAIN_MAX_BYTES
from kefu_floor.policy import load_policy
from simulators.load import synthetic_events


def drains(data: list[bytes]) -> list[list[tuple[str, bytes]]]:
    """The payloads cut as `Subscriber._consume` cuts a backlog."""
    out, cur, size = [], [], 0
    for p in data:
        cur.append((TOPIC, p))
        size += len(p)
        if len(cur) >= DRAIN_MAX or size >= DRAIN_MAX_BYTES:
            out.append(cur)
            cur, size = [], 0
    if cur:
        out.append(cur)
    return out


def ingest_rate(n_agents: int, events: list[dict], batch: int, repeat: int = 2) -> dict:
    pol = load_policy("chengdu-2014")
    data = payloads(events, batch)
    chunks = drains(data)
    best = {True: float("inf"), False: float("inf")}
    best_parse = float("inf")
    eng = None
    for _ in range(repeat):
        for scan in (False, True):  # the scanned engine is the one kept
            eng = Engine(Setup(pol, bench_roster(n_agents), [], SITE), live=True)
            ing = Ingest({SITE: eng}, wall_ahead_ms=None, scan=scan)
            gc.collect()
            t0 = time.perf_counter()
            for c in chunks:
                ing.handle_many(c)
            best[scan] = min(best[scan], time.perf_counter() - t0)
            assert eng.counters()["accepted"] == len(events), eng.counters()
        t0 = time.perf_counter()
        for p in data:
            json.loads(p)
        best_parse = min(best_parse, time.perf_counter() - t0)
    return {"agents": n_agents, "batch": batch, "events": len(events),
            "ingest_s": best[True], "strict_s": best[False], "parse_s": best_parse,
            "engine": eng}


def read_side(eng: Engine) -> dict:
    from kefu_floor.views.floorview import FloorView

    view = FloorView(eng)
    view.snapshot()  # warm
    t0 = time.perf_counter()
    view.snapshot()
    snap_s = time.perf_counter() - t0
    mb = sum(v.nbytes for v in vars(eng).values() if isinstance(v, np.ndarray)) / 2**20
    return {"snapshot_s": snap_s, "engine_mb_per_1000": mb / eng.n_agents * 1000}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500_000, help="events per batched run")
    ap.add_argument("--single", type=int, default=50_000, help="events as single messages")
    ap.add_argument("--quick", action="store_true", help="smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.events, args.single = 50_000, 5_000
    from benchmarks.live import warm_up

    warm_up(2000)
    rows = []
    for n in (2000, 20_000):
        evs = synthetic_events(n, max(args.events, n + 1000), 2)
        r = ingest_rate(n, evs, 500)
        r.update(read_side(r.pop("engine")))
        rows.append(r)
    single = ingest_rate(2000, synthetic_events(2000, args.single), 1)
    single.pop("engine")
    print("one engine's capacity, in process (no broker): JSON payloads through Ingest -> "
          "engine, best of 2")
    print(f"{'agents':>7} {'payload':>14} {'events':>9} {'ingest ev/s':>12} "
          f"{'strict ev/s':>12} {'json.loads ev/s':>16} {'ingest/strict':>14} "
          f"{'ingest/parse':>13} {'snapshot s':>11} {'MB/1000 agents':>15}")
    for r in rows + [single]:
        label = "single events" if r["batch"] == 1 else f"batches of {r['batch']}"
        snap = f"{r['snapshot_s']:.3f}" if "snapshot_s" in r else ""
        mb = f"{r['engine_mb_per_1000']:.1f}" if "engine_mb_per_1000" in r else ""
        print(f"{r['agents']:>7,} {label:>14} {r['events']:>9,} "
              f"{r['events'] / r['ingest_s']:>12,.0f} {r['events'] / r['strict_s']:>12,.0f} "
              f"{r['events'] / r['parse_s']:>16,.0f} {r['strict_s'] / r['ingest_s']:>13.2f}x "
              f"{r['parse_s'] / r['ingest_s']:>12.2f}x {snap:>11} {mb:>15}")
    a, b = rows
    print(f"20,000 vs 2,000 agents: ingest {a['ingest_s'] / b['ingest_s'] * b['events'] / a['events']:.2f}x "
          f"the rate; a snapshot {b['snapshot_s'] / a['snapshot_s']:.1f}x the time")
    print("target: batched ingest >= 1,000,000 events/s end to end (benchmarks.live)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
