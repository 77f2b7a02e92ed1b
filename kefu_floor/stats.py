"""What the engine counts for the exporter and the telemetry-health read-out.

All of it is numpy arrays on the Engine (so a checkpoint of the engine's arrays keeps it,
and counters survive a restart): lifetime queue totals, the queue-wait histogram, the
newest event per agent and overall, clock skew at ingest, and the feed-call timings.
The per-event work is one compiled pass (`kernels.stats.batch_stats`); the rest is a few
numpy operations per batch.

Lifetime queue totals reuse the floor kernel's per-day queue buckets (QDAY, a ring of day
slots): a day's bucket stops changing once the day is over (queue events count on the
day of engine time, which only moves forward), so before each kernel call finished days
are added to `qtot_retired` once, and the totals are retired + the days not retired yet.
"""
from __future__ import annotations

import numpy as np

from kefu_floor.kernelcall import call_kernel
from kernels import layout as K
from kernels import stats as ks

# bounds of kefu_batch_seconds (one engine feed call: columns + kernel)
BATCH_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5)


def init(eng) -> None:
    pol = eng.policy
    eng.wait_edges_ms = np.array([round(s * 1000) for s in pol.wait_buckets_s], np.int64)
    nb = eng.wait_edges_ms.shape[0] + 1
    eng.qhist = np.zeros((2, 0, nb))  # (answered|abandoned, queue, bucket; last = over)
    eng.qhist_sum = np.zeros((2, 0))  # ms
    eng.qtot_retired = np.zeros((0, K.Q_K))
    eng.qtot_day = np.full(K.N_DAY_SLOTS, K.NO_TIME, np.int64)  # day retired per slot
    eng.last_seen = np.zeros(0, np.int64)  # newest event ts per agent
    eng.health = np.zeros(ks.H_K, np.int64)
    eng.health[ks.H_LAST_EVENT_TS] = K.NO_TIME
    eng.health[ks.H_RECEIVED_MS] = K.NO_TIME
    eng.batch_hist = np.zeros(len(BATCH_BUCKETS_S) + 2)  # buckets, over, then the sum (s)


def grow(eng) -> None:
    """Match the per-queue and per-agent arrays to the engine's capacities."""
    nq = eng.QDAY.shape[1]
    if eng.qhist.shape[1] < nq:
        grown = np.zeros((2, nq, eng.qhist.shape[2]))
        grown[:, : eng.qhist.shape[1]] = eng.qhist
        eng.qhist = grown
        s = np.zeros((2, nq))
        s[:, : eng.qhist_sum.shape[1]] = eng.qhist_sum
        eng.qhist_sum = s
        t = np.zeros((nq, K.Q_K))
        t[: eng.qtot_retired.shape[0]] = eng.qtot_retired
        eng.qtot_retired = t
    na = eng.A.shape[0]
    if eng.last_seen.shape[0] < na:
        ls = np.full(na, K.NO_TIME, np.int64)
        ls[: eng.last_seen.shape[0]] = eng.last_seen
        eng.last_seen = ls


def retire_days(eng) -> None:
    """Fold finished days' queue buckets into the lifetime totals (before a kernel call
    may reuse their slots)."""
    sd = eng.slot_day
    done = (sd >= 0) & (sd < eng.G[K.G_DAY]) & (eng.qtot_day != sd)
    if done.any():
        eng.qtot_retired += eng.QDAY[done].sum(axis=0)
        eng.qtot_day[done] = sd[done]


def queue_totals(eng) -> np.ndarray:
    """Lifetime (offered, answered, answered in SL, abandoned, short abandons, …) per queue."""
    sd = eng.slot_day
    live = (sd >= 0) & (eng.qtot_day != sd)
    return eng.qtot_retired + eng.QDAY[live].sum(axis=0)


def count_batch(eng, b, received_ms: int | None) -> None:
    """Count the batch, and its month's inputs (kernels.stats.side_passes; call after
    capacities grew and `retire_days`, before the floor kernel applies it, or beside it
    when `reads_call_table` is false)."""
    call_kernel(eng, ks.side_passes, {
        "now": eng.G[K.G_NOW],
        "received_ms": K.NO_TIME if received_ms is None else int(received_ms),
        "skew_ms": round(eng.policy.quality.clock_skew_s * 1000)}, b)


def reads_call_table(b) -> bool:
    """Does counting batch `b` read the waiting-call table (which the floor kernel changes)?
    Only to time an answer that came without its wait."""
    return ks.needs_calls(b.etype, b.aux)


def timed(eng, seconds: float) -> None:
    """One feed call took `seconds` (kefu_batch_seconds)."""
    h = eng.batch_hist
    h[int(np.searchsorted(BATCH_BUCKETS_S, seconds))] += 1
    h[-1] += seconds
