"""Per-batch figures for the exporter and the telemetry-health read-out, in one pass.

Runs over a batch's columns before `floor.apply_batch` applies it (or beside it, on a
second core, when the batch is big and its figures need nothing the kernel changes: see
`needs_calls`), with the month's inputs digest (`side_passes`), and counts what
the floor kernel does not keep: each answered and abandoned call's queue wait in histogram
buckets, the newest event per agent (to spot seats that went silent), the newest event
overall, and events whose timestamps are far from when they were received.

It mirrors the floor kernel's view of the batch exactly where that matters: duplicates
(same source, seq not above the last) are skipped, an event is applied at
max(ts, engine time), and an answer without `wait_ms` waited since its call's enqueue —
from the waiting-call table, or from an enqueue earlier in the same batch.
"""
from kernels import compiled
from kernels.compiled import njit

if compiled.jit():  # in the compiled extension, batch_stats has its dictionaries built in
    from numba import types
    from numba.typed import Dict

from kernels.floor import _call_find
from kernels.inputs import count_inputs
from kernels.layout import CV_TS, EV_ABANDON, EV_ANSWER, EV_ENQUEUE, NO_TIME

# vector H of batch figures: int64 (H_K,)
H_LAST_EVENT_TS = 0  # newest event ts seen (ms), NO_TIME before any
H_SKEW_AHEAD = 1  # events stamped more than the allowed skew after their receive time
H_SKEW_BEHIND = 2  # ... before it
H_OFFSET_MS = 3  # receive time minus the newest ts of the last received batch
H_RECEIVED_MS = 4  # wall time of the last received batch, NO_TIME before any
H_K = 8

OUT_ANSWERED = 0  # first axis of the wait histogram
OUT_ABANDONED = 1


@njit(cache=True)
def _bucket(edges_ms, w):
    """Index of the first bound >= w (len(edges_ms) = over the last bound)."""
    lo, hi = 0, edges_ms.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if edges_ms[mid] < w:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def needs_calls(etype, aux):
    """Only a batch with an answer lacking wait_ms needs the enqueue times of its calls."""
    found = False
    for j in range(etype.shape[0]):  # no early exit: without it, the loop is vectorized
        found |= (etype[j] == EV_ANSWER) & (aux[j] < 0)
    return found


# nogil: the engine counts a big batch on a second core while the floor kernel applies it
# (this reads only the batch then, and writes only its own arrays)
@njit(cache=True, nogil=True)
def batch_stats(etype, ts, agent, call, queue, aux, src, seq, src_seq, CKEY, CVAL, now,
                wait_edges_ms, qhist, qhist_sum, last_seen, health, received_ms, skew_ms):
    """Count one batch (see the module doc). `now` is engine time before the batch;
    `received_ms` NO_TIME for a replay (no wall clock to compare with)."""
    n = etype.shape[0]
    need_calls = needs_calls(etype, aux)
    pending = Dict.empty(key_type=types.int64, value_type=types.int64)  # enqueued in batch
    gone = Dict.empty(key_type=types.int64, value_type=types.int64)  # left the table
    last = src_seq.copy()
    t_now = now
    newest = NO_TIME
    for j in range(n):
        s = src[j]
        if s >= 0:
            if last[s] != NO_TIME and seq[j] <= last[s]:
                continue  # a duplicate: the floor kernel drops it too
            last[s] = seq[j]
        t = ts[j]
        if ts[j] > newest:
            newest = ts[j]
        if t < t_now:
            t = t_now
        t_now = t
        i = agent[j]
        if i >= 0 and ts[j] > last_seen[i]:
            last_seen[i] = ts[j]
        if received_ms != NO_TIME:
            if ts[j] > received_ms + skew_ms:
                health[H_SKEW_AHEAD] += 1
            elif ts[j] < received_ms - skew_ms:
                health[H_SKEW_BEHIND] += 1
        et = etype[j]
        if et == EV_ENQUEUE:
            if need_calls:
                c = call[j]
                if c not in pending and (c in gone or _call_find(CKEY, c) < 0):
                    pending[c] = t
                    gone.pop(c, 0)
        elif et == EV_ANSWER or et == EV_ABANDON:
            w = aux[j]
            if need_calls:
                c = call[j]
                enq = NO_TIME
                if c in pending:
                    enq = pending.pop(c)
                elif c not in gone:
                    h = _call_find(CKEY, c)
                    if h >= 0:
                        enq = CVAL[h, CV_TS]
                gone[c] = 1
                if w < 0 and enq != NO_TIME and et == EV_ANSWER:
                    w = t - enq
            q = queue[j]
            if q < 0:
                continue
            if w < 0:
                w = 0
            out = OUT_ANSWERED if et == EV_ANSWER else OUT_ABANDONED
            qhist[out, q, _bucket(wait_edges_ms, w)] += 1.0
            qhist_sum[out, q] += w
    if newest > health[H_LAST_EVENT_TS]:
        health[H_LAST_EVENT_TS] = newest
    if received_ms != NO_TIME and newest != NO_TIME:
        health[H_OFFSET_MS] = received_ms - newest
        health[H_RECEIVED_MS] = received_ms


@njit(cache=True, nogil=True)
def side_passes(etype, ts, agent, call, queue, code, aux, num, src, seq, src_seq, CKEY, CVAL,
                now, wait_edges_ms, qhist, qhist_sum, last_seen, health, received_ms, skew_ms,
                agent_h, tz_utc, tz_off, MIN):
    """A batch's side passes in one call (one dispatch from Python, on a small batch the
    larger part of their cost): its figures (`batch_stats`) and its month's inputs
    (kernels.inputs.count_inputs)."""
    batch_stats(etype, ts, agent, call, queue, aux, src, seq, src_seq, CKEY, CVAL, now,
                wait_edges_ms, qhist, qhist_sum, last_seen, health, received_ms, skew_ms)
    count_inputs(etype, ts, agent, call, code, aux, num, seq, agent_h, tz_utc, tz_off, MIN)
