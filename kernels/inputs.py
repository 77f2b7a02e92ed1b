"""What each month's accepted events were: a count and an order-free digest per month.

The month close records them (close.json `inputs`) so that closing again can tell "the same
events", "more events" and "other events" apart whatever the source: a file, which still
has its lines, or a live store, whose journal is trimmed behind every checkpoint and so
keeps only the engine's state. The figures live in the engine (and so in its checkpoint),
counted over exactly the events the floor kernel applies (after dedup and the clock guard).

The digest is a sum (mod 2**64) of one 64-bit hash per event, so it does not depend on how
the stream was batched or interleaved across topics. Each hash covers the event's fields
that name the same thing in every engine: its type, ts, agent (by a hash of the agent id,
not the interned number), call (already a hash of the call id), seq, month/wait/day field,
survey result, QA item or excused rule, and, for the types that carry one, its value.
Interned codes (queues, reasons, texts) are left out: their numbers depend on arrival
order.

An event's month is its `month` field for qa/adjust/incident events that have one, else the
local month of its ts (as the close assigns events to months).
"""
import numpy as np
from kernels.compiled import njit

from kernels.clock import local_day, month_of_day, next_local_midnight
from kernels.layout import (EV_ABANDON, EV_ADJUST, EV_ANSWER, EV_ENQUEUE, EV_EXCUSE,
                            EV_FLOOR, EV_HANGUP, EV_INCIDENT, EV_NO_ANSWER, EV_OFFER, EV_QA, EV_SALE,
                            EV_SURVEY, EV_WRAP_END, N_MONTH_SLOTS)

# columns of the engine's MIN array (N_MONTH_SLOTS, MI_K) int64
MI_MONTH = 0  # month id the slot holds (year * 12 + month - 1), or NO_MONTH
MI_N = 1  # accepted events of that month
MI_SUM = 2  # the digest: sum of the events' hashes, wrapping
MI_K = 3
NO_MONTH = -(2**62)
# without numba's refcounting (nothing here allocates; see kernels.floor): with it, every
# per-event call handing over the time zone arrays cost an atomic increment and decrement
# nogil: counted beside the floor kernel on a big batch (kefu_floor.engine)
FAST = dict(cache=True, _nrt=False, error_model="numpy", nogil=True)


@njit(**FAST)
def _mix(h, x):
    # splitmix64's finaliser over h ^ x: every input bit reaches every output bit
    z = (h ^ np.uint64(x)) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(**FAST)
def count_inputs(etype, ts, agent, call, code, aux, num, seq, agent_h, tz_utc, tz_off, MIN):
    """Add a batch of applied events to their months' counts and digests: a pass of its
    own over each batch the floor kernel applies (kernels.stats.side_passes), on a big
    batch beside it on a second core. Inlined in the floor kernel, the hashing cost it
    15-30 ns an event at 10,000 agents; here it is about 10 ms per million, and off the
    kernel's path. A month older than the one its ring slot now holds is not counted (the
    engine no longer holds it)."""
    # the local day [day_lo, day_hi) last seen and its month: a stream is in time order,
    # so the calendar is worked out once a day, not per event
    day_lo = day_hi = NO_MONTH
    day_m = 0
    for j in range(etype.shape[0]):
        et = etype[j]
        if (et == EV_QA or et == EV_ADJUST or et == EV_INCIDENT) and aux[j] >= 0:
            m = aux[j]
        else:
            t = ts[j]
            if t < day_lo or t >= day_hi:
                day_lo = t
                day_hi = next_local_midnight(tz_utc, tz_off, t)
                day_m = month_of_day(local_day(tz_utc, tz_off, t))
            m = day_m
        s = m % N_MONTH_SLOTS
        if MIN[s, MI_MONTH] != m:
            if MIN[s, MI_MONTH] > m:
                continue  # a month the engine no longer holds
            MIN[s, MI_MONTH] = m
            MIN[s, MI_N] = 0
            MIN[s, MI_SUM] = 0
        h = _mix(np.uint64(0), et)
        h = _mix(h, ts[j])
        h = _mix(h, agent_h[agent[j]] if agent[j] >= 0 else 0)
        if (et == EV_OFFER or et == EV_ANSWER or et == EV_NO_ANSWER or et == EV_HANGUP
                or et == EV_WRAP_END or et == EV_ENQUEUE or et == EV_ABANDON
                or et == EV_SURVEY):
            h = _mix(h, call[j])
        if et == EV_SURVEY or et == EV_QA or et == EV_EXCUSE:
            h = _mix(h, code[j])  # result, QA item, rule: fixed tables, not interned
        h = _mix(h, seq[j])
        h = _mix(h, aux[j])
        if (et == EV_SALE or et == EV_QA or et == EV_ADJUST or et == EV_FLOOR
                or et == EV_INCIDENT):
            v = num[j]
            if v == v:  # NaN (an incident with no amount) adds nothing
                h = _mix(h, np.int64(v * 1000.0 + (0.5 if v >= 0 else -0.5)))
        MIN[s, MI_N] += 1
        MIN[s, MI_SUM] = np.int64(np.uint64(MIN[s, MI_SUM]) + h)
