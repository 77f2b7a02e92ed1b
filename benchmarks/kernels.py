"""Kernel throughput benchmark (issue 2, item 10): `python -m benchmarks.kernels`.

Builds a synthetic columnar batch straight in `kefu_floor.batch.Batch` layout (no JSON, no
decoding: this measures the kernel) for 10,000 agents and 1,000,000 events over one day:
sign-ins and sign-outs, breaks and short busy spells (busy/ready), queued calls
(enqueue, offer, answer, hangup, wrap-up, some ring-outs and abandons), surveys and sales,
in non-decreasing time order from one gateway (src/seq). Every agent has a shift with a
break in the engine's schedule, so the shift timers (start, missing, break return, shift
end) and the busy budget run too; some agents are late, come back late or leave early.

It times `Engine.feed_batch` on fresh engine state, after a warm-up that compiles or loads
the cached machine code, best of --repeat runs: admission (kernels.guard), the floor kernel
(kernels.floor.apply_batch) and the batch's side passes (kernels.stats, kernels.inputs).
On a batch this big the engine admits a chunk ahead and runs the side passes on a second
core while the floor kernel applies (Engine.admit_chunk, Engine.side_min); the same
batch on one core (both off) is timed as its peer.
Then it runs the same kernel functions as plain Python, in a subprocess with
NUMBA_DISABLE_JIT=1 (so apply_batch and every njit function it calls are their `.py_func`),
on a smaller stream with the same mix and density, and prints the ratio from this run.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time

import numpy as np

from kernels import layout as K

DAY = dt.date(2026, 11, 3)
TARGET_RATE = 20_000_000
TARGET_RATIO = 100.0
M = 60_000
S = 1_000


def agent_names(n: int) -> list[str]:
    w = max(5, len(str(n)))
    return [f"A{i + 1:0{w}d}" for i in range(n)]


def make_setup(n_agents: int, day: dt.date = DAY):
    """An engine Setup: the chengdu-2014 policy, a roster and one shift per agent (half
    early 08:00-16:30 with lunch, half evening 14:30-23:00 with a break)."""
    from kefu_floor.engine import Setup
    from kefu_floor.localtime import local_ms
    from kefu_floor.policy import load_policy
    from kefu_floor.roster import Person, Roster, Shift

    pol = load_policy("chengdu-2014")
    tz = pol.tz
    names = agent_names(n_agents)
    people = {}
    shifts = []

    def at(h, m):
        return local_ms(day, dt.time(h, m), tz)

    for i, a in enumerate(names):
        people[a] = Person(agent=a, name=a, team=f"T{i // 15 + 1:04d}",
                           role="agent", hired=dt.date(2024, 1, 1), probation=False,
                           products=3)
        if i % 2 == 0:
            shifts.append(Shift(agent=a, date=day, start_ms=at(8, 0), end_ms=at(16, 30),
                                grace_ms=5 * M, breaks=((at(12, 0), at(12, 30)),), line=i + 2,
                                ends_local="16:30"))
        else:
            shifts.append(Shift(agent=a, date=day, start_ms=at(14, 30), end_ms=at(23, 0),
                                grace_ms=3 * M, breaks=((at(17, 30), at(17, 45)),),
                                line=i + 2, ends_local="23:00"))
    return Setup(policy=pol, roster=Roster(people), shifts=shifts, site="bench")


def new_engine(setup):
    """A fresh engine with the ids the synthetic batch uses interned."""
    from kefu_floor.engine import Engine

    eng = Engine(setup)
    for q in ("aftersale", "presale"):
        eng.sym.queues.id(q)
    for r in ("lunch", "break", "toilet", "system", "training"):
        eng.sym.reasons.id(r)
    eng.sym.sources.id("acd")
    eng._ensure_capacity()
    return eng


def synthetic_batch(setup, n_events: int, seed: int = 1):
    """A day of floor telemetry for the setup's agents, as a Batch of exactly n_events rows.

    Coherent per agent, like a real ACD feed: calls go only to signed-in agents outside
    their break and busy spells, never overlap, and each ends in hangup and wrap-up (so
    the engine finds no orphans). Built with numpy, no Python loop per event.
    """
    from kefu_floor.batch import Batch

    eng = new_engine(setup)  # only for the id tables
    rng = np.random.default_rng(seed)
    shifts = sorted(setup.shifts, key=lambda s: eng.sym.agents.ids[s.agent])
    n = len(shifts)
    aid = np.array([eng.sym.agents.ids[s.agent] for s in shifts], np.int64)
    start = np.array([s.start_ms for s in shifts], np.int64)
    end = np.array([s.end_ms for s in shifts], np.int64)
    grace = np.array([s.grace_ms for s in shifts], np.int64)
    bs = np.array([s.breaks[0][0] for s in shifts], np.int64)
    be = np.array([s.breaks[0][1] for s in shifts], np.int64)
    rid = eng.sym.reasons.ids
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "etype", "ts", "agent", "call", "queue", "code", "aux", "num")}

    def add(etype, ts, agent, call=None, queue=None, code=None, aux=None, num=None):
        m = len(ts)
        cols["etype"].append(np.full(m, etype, np.int8))
        cols["ts"].append(np.asarray(ts, np.int64))
        cols["agent"].append(np.asarray(agent, np.int32) if agent is not None
                             else np.full(m, -1, np.int32))
        cols["call"].append(np.zeros(m, np.int64) if call is None else call)
        cols["queue"].append(np.full(m, -1, np.int32) if queue is None
                             else np.asarray(queue, np.int32))
        cols["code"].append(np.zeros(m, np.int32) if code is None
                            else np.asarray(code, np.int32))
        cols["aux"].append(np.full(m, -1, np.int64) if aux is None
                           else np.asarray(aux, np.int64))
        cols["num"].append(np.zeros(m) if num is None else np.asarray(num, float))

    def u(lo, hi, m=n):
        return rng.uniform(lo, hi, m).astype(np.int64)

    # attendance: 7% late sign-ins, 4% early leaves, 6% late back from the break
    late = rng.random(n) < 0.07
    sign_in = np.where(late, start + grace + u(1 * M, 25 * M), start - u(1 * M, 12 * M))
    early = rng.random(n) < 0.04
    sign_out = np.where(early, end - u(5 * M, 45 * M), end + u(0, 4 * M))
    add(K.EV_SIGN_IN, sign_in, aid)
    add(K.EV_SIGN_OUT, sign_out, aid)
    lunch = np.where(be - bs >= 30 * M, rid["lunch"], rid["break"])
    back_late = rng.random(n) < 0.06
    away = bs + u(0, 20 * S)
    back = np.where(back_late, be + u(2 * M, 12 * M), be - u(0, 90 * S))
    add(K.EV_BUSY, away, aid, code=lunch)
    add(K.EV_READY, back, aid)
    # windows in which an agent takes no call: before sign-in, after sign-out, the break,
    # and two busy spells (one in ten of them long: over the 30-minute busy budget)
    wins = [(np.full(n, -(2**62)), sign_in + M), (sign_out - M, np.full(n, 2**62)),
            (away - 11 * M, back + M)]
    for k in range(2):
        t0 = start + u(20 * M, 200 * M) + k * 240 * M
        dur = np.where(rng.random(n) < 0.1, u(30 * M, 50 * M), u(30 * S, 6 * M))
        reason = rng.choice(np.array([0, rid["toilet"], rid["system"], rid["training"]]), n,
                            p=[0.3, 0.5, 0.1, 0.1])
        add(K.EV_BUSY, t0, aid, code=reason)
        add(K.EV_READY, t0 + dur, aid)
        wins.append((t0 - 11 * M, t0 + dur + M))
    n_fixed = sum(len(c) for c in cols["ts"])

    # candidate calls: evenly spread over each agent's shift, so they never overlap
    k = max(1, int(np.ceil((n_events - n_fixed) / 5.5 / n * 1.6)))
    c_agent = np.repeat(np.arange(n), k)
    slot = np.tile(np.arange(k), n)
    span = (end - start)[c_agent]
    t_offer = start[c_agent] + span * slot // k + rng.integers(0, 20 * S, n * k)
    nc = len(t_offer)
    rona = rng.random(nc) < 0.02  # rings out once, then offered again
    t_first = t_offer - np.where(rona, 20 * S, 0)
    t_enq = t_first - (rng.exponential(8.0, nc) * S).astype(np.int64)
    t_ans = t_offer + rng.integers(2 * S, 8 * S, nc)
    talk = np.minimum(rng.lognormal(np.log(135.0) - 0.15, 0.55, nc) * S, 600 * S)
    t_hang = t_ans + talk.astype(np.int64)
    t_wrap = t_hang + (rng.exponential(12.0, nc) * S).astype(np.int64) + S
    ok = t_wrap < t_offer + span // k - 30 * S  # done before the agent's next slot
    for w0, w1 in wins:
        ok &= (t_wrap < w0[c_agent]) | (t_first > w1[c_agent])
    survey = rng.random(nc) < 0.35
    sale = rng.random(nc) < 0.05
    size = 5 + 2 * rona + survey + sale
    # callers who gave up in the queue (no agent): 3% of the calls
    n_ab = int(0.03 * ok.sum())
    budget = n_events - n_fixed - 2 * n_ab
    pick = rng.permutation(np.nonzero(ok)[0])
    pick = np.sort(pick[np.cumsum(size[pick]) <= budget])
    fill = budget - int(size[pick].sum())  # topped up with stand-alone sales
    if budget < 0 or fill > 8 * n:
        raise ValueError(f"cannot build {n_events:,} events for {n:,} agents")
    c_agent, t_offer, t_first, t_enq, t_ans, t_hang, t_wrap, rona, survey, sale = (
        x[pick] for x in (c_agent, t_offer, t_first, t_enq, t_ans, t_hang, t_wrap, rona,
                          survey, sale))
    nc = len(pick)
    call = rng.integers(2, 2**62, nc)
    queue = (rng.random(nc) < 0.35).astype(np.int32)
    ag = aid[c_agent]
    add(K.EV_ENQUEUE, t_enq, None, call=call, queue=queue)
    add(K.EV_OFFER, t_first[rona], ag[rona], call=call[rona], queue=queue[rona])
    add(K.EV_NO_ANSWER, t_first[rona] + 15 * S, ag[rona], call=call[rona], queue=queue[rona])
    add(K.EV_OFFER, t_offer, ag, call=call, queue=queue)
    add(K.EV_ANSWER, t_ans, ag, call=call, queue=queue, aux=t_ans - t_enq)
    add(K.EV_HANGUP, t_hang, ag, call=call)
    add(K.EV_WRAP_END, t_wrap, ag, call=call)
    m = int(survey.sum())
    add(K.EV_SURVEY, t_hang[survey] + u(15 * S, 120 * S, m), ag[survey], call=call[survey],
        code=rng.choice(3, m, p=[0.9, 0.06, 0.04]))
    m = int(sale.sum())
    add(K.EV_SALE, t_hang[sale], ag[sale], num=np.round(rng.exponential(260.0, m), 2))
    fa = rng.integers(0, n, fill)
    add(K.EV_SALE, start[fa] + u(0, 8 * 60 * M, fill), aid[fa],
        num=np.round(rng.exponential(260.0, fill), 2))
    ab = rng.choice(nc, n_ab, replace=False)
    acall = rng.integers(2, 2**62, n_ab)
    aw = (rng.exponential(60.0, n_ab) * S).astype(np.int64)
    add(K.EV_ENQUEUE, t_enq[ab] - 3 * S, None, call=acall, queue=queue[ab])
    add(K.EV_ABANDON, t_enq[ab] - 3 * S + aw, None, call=acall, queue=queue[ab], aux=aw)

    full = {k: np.concatenate(v) for k, v in cols.items()}
    assert len(full["ts"]) == n_events, (len(full["ts"]), n_events)
    order = np.argsort(full["ts"], kind="stable")
    src = np.zeros(n_events, np.int32)
    seq = np.arange(1, n_events + 1, dtype=np.int64)
    return Batch(full["etype"][order], full["ts"][order], full["agent"][order],
                 full["call"][order], full["queue"][order], full["code"][order],
                 full["aux"][order], full["num"][order], src, seq)


def time_kernel(setup, batch, repeat: int, one_core: bool = False) -> tuple[float, dict]:
    """Best wall time of `repeat` runs of the whole batch on fresh engines; `one_core`:
    with nothing run beside the floor kernel."""
    best = float("inf")
    info = {}
    for _ in range(repeat):
        eng = new_engine(setup)
        if one_core:
            eng.side_min = eng.admit_chunk = 2**62
        t0 = time.perf_counter()
        eng.feed_batch(batch)
        dt_ = time.perf_counter() - t0
        best = min(best, dt_)
        info = {"accepted": int(eng.G[K.G_ACCEPTED]), "ledger": int(eng.G[K.G_LEDGER_N]),
                "orphans": int(eng.G[K.G_ORPHANS])}
    return best, info


def plain_python(n_agents: int, n_events: int, seed: int, timeout: float = 900) -> dict:
    """Run this module's `--_plain` mode with NUMBA_DISABLE_JIT=1; returns its JSON."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    cmd = [sys.executable, "-m", "benchmarks.kernels", "--_plain", str(n_agents), str(n_events),
           str(seed)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"plain-Python run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _plain_main(n_agents: int, n_events: int, seed: int) -> int:
    from numba import config

    if not config.DISABLE_JIT:
        print("--_plain needs NUMBA_DISABLE_JIT=1", file=sys.stderr)
        return 2
    setup = make_setup(n_agents)
    batch = synthetic_batch(setup, n_events, seed)
    secs, info = time_kernel(setup, batch, 1)
    print(json.dumps({"agents": n_agents, "events": len(batch), "seconds": secs, **info}))
    return 0


def _fmt_row(cells, widths):
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                     for i, (c, w) in enumerate(zip(cells, widths)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.kernels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--plain-events", type=int, default=50_000,
                    help="events in the plain-Python run (agents scaled to the same density)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1,000 agents, 100,000 events, plain Python on 3,000")
    ap.add_argument("--_plain", nargs=3, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._plain:
        return _plain_main(*args._plain)
    if args.quick:
        args.agents, args.events, args.plain_events, args.repeat = 1_000, 100_000, 3_000, 1

    density = max(1, args.events // max(1, args.agents))
    p_events = min(args.plain_events, args.events)
    p_agents = max(1, round(p_events / density))

    t_build = time.perf_counter()
    setup = make_setup(args.agents)
    batch = synthetic_batch(setup, args.events, args.seed)
    small_setup = make_setup(p_agents)
    small = synthetic_batch(small_setup, p_events, args.seed)
    t_build = time.perf_counter() - t_build
    mix = np.bincount(batch.etype, minlength=K.N_EVENT_TYPES)

    # warm-up: compile (or load the cache) on a fresh engine before any timing
    t_warm = time.perf_counter()
    time_kernel(small_setup, small.slice(0, min(len(small), 2_000)), 1)
    t_warm = time.perf_counter() - t_warm

    secs, info = time_kernel(setup, batch, args.repeat)
    one_secs, _ = time_kernel(setup, batch, args.repeat, one_core=True)
    s_secs, _ = time_kernel(small_setup, small, args.repeat)
    plain = plain_python(p_agents, p_events, args.seed)

    rate = len(batch) / secs
    one_rate = len(batch) / one_secs
    s_rate = len(small) / s_secs
    p_rate = plain["events"] / plain["seconds"]
    from kefu_floor.schema import EVENT_TYPES

    print("kefu-floor kernel benchmark: Engine.feed_batch (admission, kernels.floor.apply_batch, "
          "side passes), policy chengdu-2014, shift timers on")
    print(f"batch built in {t_build:.1f} s; warm-up (compile or cache load) {t_warm:.1f} s; "
          f"best of {args.repeat}")
    print("mix: " + ", ".join(f"{EVENT_TYPES[i]} {c:,}" for i, c in enumerate(mix) if c))
    print(f"full run: {info['accepted']:,} accepted, {info['ledger']:,} deductions booked, "
          f"{info['orphans']:,} orphans")
    print()
    head = ("run", "agents", "events", "seconds", "events/s", "vs plain Python")
    rows = [
        ("numba, full batch", f"{args.agents:,}", f"{len(batch):,}", f"{secs:.4f}",
         f"{rate:,.0f}", f"{rate / p_rate:,.0f}x"),
        ("numba, full batch, one core", f"{args.agents:,}", f"{len(batch):,}",
         f"{one_secs:.4f}", f"{one_rate:,.0f}", f"{one_rate / p_rate:,.0f}x"),
        ("numba, small stream", f"{p_agents:,}", f"{len(small):,}", f"{s_secs:.4f}",
         f"{s_rate:,.0f}", f"{s_rate / p_rate:,.0f}x"),
        ("plain Python (NUMBA_DISABLE_JIT=1), small stream", f"{p_agents:,}",
         f"{plain['events']:,}", f"{plain['seconds']:.4f}", f"{p_rate:,.0f}", "1x"),
    ]
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    print(_fmt_row(head, widths))
    print(_fmt_row(["-" * w for w in widths], widths))
    for r in rows:
        print(_fmt_row(r, widths))
    print()
    ok_rate = rate >= TARGET_RATE
    ok_ratio = rate / p_rate >= TARGET_RATIO
    print(f"targets: >= {TARGET_RATE:,} events/s: {'met' if ok_rate else 'NOT met'}; "
          f">= {TARGET_RATIO:.0f}x plain Python: {'met' if ok_ratio else 'NOT met'}"
          + ("  (--quick: a smoke run, not the benchmark)" if args.quick else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
