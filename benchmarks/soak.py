"""Memory soak (issue 11 item 6): `python -m benchmarks.soak`.

Sixty-eight simulated days (2026-08-30 to 2026-11-05, over three month ends) at 2,000 agents (each day a full floor: sign-ins, breaks, busy spells,
calls, surveys, sales, shift timers, as the kernel benchmark builds it) through one engine,
with a flood of 100,000 bogus agent ids spread over the days, sent as JSON telemetry through
`Ingest` (the path MQTT payloads take). After each day the engine's clock moves past
midnight, the read model builds a snapshot, and the process's resident memory (RSS, from
/proc) and the engine's own arrays are sampled.

Each row is sampled after the clock has moved to 00:30 of the next day, so a roll past the
4th shows on the 3rd's row. The peer of every figure is the same process after day 1 (or day 3, once the allocator's
arenas have grown): memory is flat when the last day's RSS over that day's stays near 1.

The ledger keeps only the months the engine still holds (`[limits] ledger_keep_days`, 64: a
month's rows go once engine time is 64 days past its first day), so its rows stop growing:
they climb through two months and fall back by a month at each roll past the 4th (August's
on 10-04, September's on 11-04), while the rows ever booked grow without end. At the end, the
month's report (`read_report`, which builds the close too) is timed on this engine against a
peer holding the ledger as before: every row kept (the run's rows, repeated back to a year)
and read as before (every report scanning the whole ledger). The bogus ids stop at the cap on agents not in
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


def run(n_agents: int, days: int, events_per_day: int, bogus: int, seed: int = 1,
        first: dt.date = dt.date(2026, 8, 30)) -> dict:
    from kefu_floor.views.floorview import FloorView

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
    booked = []  # every row handed to the read side (the Redis ledger record's rows)
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
        got = eng.take_booked()
        booked.append(eng.ledger[got.start:got.stop].copy())
        gc.collect()
        c = eng.counters()
        rows.append({"day": d + 1, "date": (first + dt.timedelta(days=d)).isoformat(),
                     "rss_mb": rss_mb(), "engine_mb": engine_mb(eng),
                     "agents": len(eng.sym.agents), "rows": eng.n_agents,
                     "ledger": int(eng.ledger.shape[0]), "booked": eng.ledger_booked,
                     "ledger_mb": eng.L.nbytes / 2**20,
                     "accepted": c["accepted"], "over_cap": c.get("rejected_over_cap", 0),
                     "bogus_sent": sent_bogus})
    seconds = time.perf_counter() - t0
    return {"rows": rows, "seconds": seconds, "agents": n_agents,
            "cap": eng.policy.limits.max_unknown_agents,
            "report": time_reports(eng, np.concatenate(booked))}


def time_reports(eng: Engine, every_row: np.ndarray, repeat: int = 5) -> dict:
    """The month's report on the engine as it runs vs on a peer whose ledger is as before:
    every row kept, a year of them (the run's rows, moved back by the run's length until
    they span a year: rows of months no report of this month reads, as an engine running
    for a year had them) and read as before (no month index: every read scans it all)."""
    from kefu_floor.localtime import month_of
    from kefu_floor.views.report import frozen_copy, read_report
    from kernels import layout as K

    month = month_of(eng.now, eng.policy.tz)
    peer = frozen_copy(eng)
    span = int(every_row[:, K.L_DAY].max() - every_row[:, K.L_DAY].min()) + 1
    year = [every_row]
    while len(year) * span < 365:
        older = every_row.copy()
        older[:, K.L_DAY] -= len(year) * span
        year.insert(0, older)
    L = np.concatenate(year)
    peer.L = np.zeros((len(L) + 4096, K.L_K))
    peer.L[: len(L)] = L
    peer.G[K.G_LEDGER_N] = len(L)
    peer.ledger_base = 0
    peer.ledger_gone = np.zeros((0, K.N_RULES), np.int64)
    peer._lspan, peer._lspan_n = {}, 0  # no index: ledger_rows scans every row, as before
    peer._ledger_roll_at = 2**62  # and never trims

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    docs = [json.dumps(read_report(e, month), sort_keys=True) for e in (eng, peer)]  # warm
    t_now, t_peer, r_now, r_peer = [], [], [], []
    for _ in range(repeat):  # alternated, best of each: the load moves both alike
        t_now.append(timed(lambda: read_report(eng, month)))
        t_peer.append(timed(lambda: read_report(peer, month)))
        r_now.append(min(timed(lambda: eng.ledger_rows(month)) for _ in range(20)))
        r_peer.append(min(timed(lambda: peer.ledger_rows(month)) for _ in range(20)))
    return {"month": month, "now_s": min(t_now), "peer_s": min(t_peer),
            "rows_now_s": min(r_now), "rows_peer_s": min(r_peer), "same": docs[0] == docs[1],
            "rows_now": int(eng.ledger.shape[0]), "rows_peer": len(L)}


def report(out: dict) -> list[str]:
    rows = out["rows"]
    a, z = rows[0], rows[-1]
    lines = [f"memory soak: {len(rows)} simulated days ({a['date']} to {z['date']}) at "
             f"{out['agents']:,} agents, {z['bogus_sent']:,} bogus agent ids "
             f"({out['seconds']:.0f} s)",
             f"{'day':>4} {'date':>10} {'RSS MB':>8} {'engine MB':>10} {'agent ids':>10} "
             f"{'ledger rows':>12} {'ever booked':>12} {'ledger MB':>10} {'accepted':>10} "
             f"{'over_cap':>9}"]
    for k, r in enumerate(rows):
        dropped = k and r["ledger"] < rows[k - 1]["ledger"]
        if k > 2 and k % 5 and not dropped and k < len(rows) - 1 and not (
                k + 1 < len(rows) and rows[k + 1]["ledger"] < r["ledger"]):
            continue  # every fifth day, and the days around each trim
        lines.append(f"{r['day']:>4} {r['date']:>10} {r['rss_mb']:>8.1f} "
                     f"{r['engine_mb']:>10.1f} {r['agents']:>10,} {r['ledger']:>12,} "
                     f"{r['booked']:>12,} {r['ledger_mb']:>10.2f} {r['accepted']:>10,} "
                     f"{r['over_cap']:>9,}" + ("  <- older month dropped" if dropped else ""))
    c = rows[min(2, len(rows) - 1)]
    peak = max(rows, key=lambda r: r["ledger"])
    lines.append(f"RSS last/first day {z['rss_mb'] / a['rss_mb']:.2f}x (last/day {c['day']}: "
                 f"{z['rss_mb'] / c['rss_mb']:.2f}x); engine arrays "
                 f"{z['engine_mb'] / a['engine_mb']:.2f}x; unknown agents kept "
                 f"{z['agents'] - out['agents']:,} (cap {out['cap']:,}), "
                 f"{z['over_cap']:,} of {z['bogus_sent']:,} bogus ids rejected over_cap "
                 f"(target: flat, ~1.0x)")
    lines.append(f"ledger: {z['ledger']:,} rows kept of {z['booked']:,} booked "
                 f"({z['ledger'] / max(z['booked'], 1):.2f}x); peak {peak['ledger']:,} rows on "
                 f"{peak['date']} (at most the 64 days a month is kept plus the days into the "
                 f"next: flat over months, not growing); L array {z['ledger_mb']:.1f} MB")
    t = out["report"]
    lines.append(f"month report ({t['rows_now']:,} ledger rows) {t['now_s'] * 1000:.0f} ms vs "
                 f"{t['peer_s'] * 1000:.0f} ms with the ledger as before ({t['rows_peer']:,} "
                 f"rows, a year, every read scanning it): peer/now {t['peer_s'] / t['now_s']:.2f}x"
                 f"; finding the month's rows {t['rows_now_s'] * 1e3:.2f} ms vs "
                 f"{t['rows_peer_s'] * 1e3:.2f} ms ({t['rows_peer_s'] / t['rows_now_s']:.1f}x); "
                 f"identical report: {t['same']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--days", type=int, default=68)
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
