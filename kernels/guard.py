"""Admission of a batch before the floor kernel: dedup by source, the clock guard, and the
month check of manual entries. No I/O, no Python objects; state lives in the engine's arrays.

Input is a *pool*: the rows still held from earlier calls (0..h-1, in arrival order) then
the new rows. Output is the order in which to apply pool rows (`emit`) and a status per row,
so the caller gathers the rows to apply with one fancy index and keeps the held ones.

Dedup (per source, the `src` field): the highest `seq` seen and a 64-bit map of which of
the 64 seqs below it were seen. A seq at or below the highest is a duplicate only if its
bit is set (so reordering within 64 is harmless and fills its gap); one more than 64 below
the highest means the source's counter started again (a gateway restart, or the end of a
bogus jump) and dedup restarts from it. An optional `epoch` that grows makes the restart
explicit (counting from 1 again at once, even within 64); an older epoch is stale.

Clock guard (origin = the `src`, or "no src"). An event more than `max_jump` ahead of
engine time while other origins were active within the last `max_jump_alone` (or more than
`max_jump_alone` ahead when none were: then its clock is the only one there is) is held,
not applied. Later events from `max_jump` before the first held one to `max_jump` after
the latest held one join it (a later one from an origin active lately releases what is
held, as a step on the way, and is judged afresh; from any other origin it is rejected); it is
released, with everything that joined, in arrival order, once `confirm_events` further
events (not of an exempt type) joined and the joined come from at least
min(`confirm_sources`, 1 + other active origins) distinct origins, or once `hold_max` events
are held, or when the clock (a live tick) reaches it. A non-exempt event earlier than that
(the old time goes on) from an origin active within `max_jump_alone` rejects what is held
(from any other origin it is itself rejected: no evidence while the clock is in doubt). An event more than `max_behind` behind engine
time is rejected. Exempt types (manual entries, surveys, sales) are no evidence of the
clock: they neither join-confirm nor contradict, are never "behind", and are held only
beyond `max_jump_manual` (people enter them days or weeks apart). At the end of input (`final`), held events each
within `end_max_jump` of the last applied are applied, the rest rejected.
"""
import numpy as np
from kernels.compiled import njit

from kernels.clock import local_day, month_of_day
from kernels.layout import EV_ADJUST, EV_QA, NO_TIME

# without numba's reference counting, as kernels.floor: nothing here allocates, and
# refcounting the arrays handed to each helper, per event, cost more than the admission;
# nogil: a big pool is admitted on a second core, a chunk ahead of the floor kernel
FAST = dict(cache=True, _nrt=False, error_model="numpy", nogil=True)

# status per pool row
ST_EMIT = 0
ST_HELD = 1
ST_DUP = 2
ST_AHEAD = 3  # held, then contradicted or unconfirmed at the end: clock_skew
ST_BEHIND = 4  # too far behind engine time: clock_skew
ST_MONTH = 5  # qa/adjust month too far from the event's own: invalid_value
# guard scalars
GS_NEED = 0  # distinct origins the current hold needs
GS_RESTARTS = 1
GS_SEQ_JUMPS = 2
GS_HELD_REJECTED = 3
GS_JUMPS = 4  # holds released (confirmed jumps)
GS_DUPS = 5
GS_GAPS = 6
GS_HCOUNT = 7  # non-exempt events held
GS_HDISTINCT = 8  # distinct origins among them
GS_HMAX = 9  # the latest ts held
GS_K = 10
# per-origin rows (origin = src + 1; row 0 = events without src)
O_MAX = 0
O_BITS = 1
O_EPOCH = 2
O_LAST_TS = 3
O_HELD = 4  # 1 while one of its events is held
O_K = 5
# limits
LP_MAX_JUMP = 0
LP_MAX_BEHIND = 1
LP_CONFIRM_EVENTS = 2
LP_CONFIRM_SOURCES = 3
LP_HOLD_MAX = 4
LP_END_MAX_JUMP = 5
LP_MONTH_APART = 6
LP_MAX_SEQ_GAP = 7
LP_MAX_JUMP_ALONE = 8
LP_MAX_JUMP_MANUAL = 9  # exempt types: entered by people, days or weeks apart
LP_K = 10


@njit(**FAST)
def _others_active(ORIG, me, ref, window):
    """Origins other than `me` with an event applied within `window` before ref."""
    active = 0
    for o in range(ORIG.shape[0]):
        if o != me and ORIG[o, O_LAST_TS] != NO_TIME and ORIG[o, O_LAST_TS] >= ref - window:
            active += 1
    return active


@njit(**FAST)
def _hold(k, etype, src, exempt, ORIG, GS):
    if not exempt[etype[k]]:
        GS[GS_HCOUNT] += 1
        o = src[k] + 1
        if ORIG[o, O_HELD] == 0:
            ORIG[o, O_HELD] = 1
            GS[GS_HDISTINCT] += 1


@njit(**FAST)
def _unhold(held, nh, src, ORIG, GS):
    for a in range(nh):
        ORIG[src[held[a]] + 1, O_HELD] = 0
    GS[GS_HCOUNT] = 0
    GS[GS_HDISTINCT] = 0


@njit(**FAST)
def _dedup(s, q, ep, ORIG, GS, max_seq_gap):
    """True if (source s, seq q, epoch ep) was seen; updates the source's state."""
    o = s + 1
    if ep >= 0:
        if ORIG[o, O_EPOCH] >= 0 and ep < ORIG[o, O_EPOCH]:
            return True  # a stale boot
        if ep > ORIG[o, O_EPOCH]:
            if ORIG[o, O_EPOCH] >= 0:
                GS[GS_RESTARTS] += 1
            ORIG[o, O_EPOCH] = ep
            ORIG[o, O_MAX] = NO_TIME
    last = ORIG[o, O_MAX]
    if last == NO_TIME:
        ORIG[o, O_MAX] = q
        ORIG[o, O_BITS] = 1
        return False
    if q > last:
        d = q - last
        if d - 1 <= max_seq_gap:
            GS[GS_GAPS] += d - 1
        else:
            GS[GS_SEQ_JUMPS] += 1
        if d < 64:
            ORIG[o, O_BITS] = (ORIG[o, O_BITS] << d) | 1
        else:
            ORIG[o, O_BITS] = 1
        ORIG[o, O_MAX] = q
        return False
    back = last - q
    if back < 64:
        if (ORIG[o, O_BITS] >> back) & 1:
            return True
        ORIG[o, O_BITS] |= np.int64(1) << back
        GS[GS_GAPS] -= 1  # a late one fills its gap (the engine keeps the total >= 0)
        return False
    # far below the highest: the counter started again
    GS[GS_RESTARTS] += 1
    ORIG[o, O_MAX] = q
    ORIG[o, O_BITS] = 1
    return False


@njit(**FAST)
def in_order(emit, a, b):
    """Are emit[a:b] consecutive pool rows in order (emit[a], emit[a] + 1, ...)?"""
    ok = True
    for x in range(a, b):  # no early exit: vectorized
        ok &= emit[x] == emit[a] + (x - a)
    return ok


# the admission's running figures between calls (C): rows emitted, rows held, engine time
C_NE = 0
C_NH = 1
C_REF = 2
C_K = 3


@njit(**FAST)
def admit_start(ts, src, h, ref, ORIG, GS, LP, emit, status, held, C):
    """Begin a pool whose first h rows are the ones still held. `ref` is engine time
    (NO_TIME before the first event). Then `admit_rows` over the new rows, in order and in
    as many calls as the caller likes, then `admit_end`; emit[:C[C_NE]] grows as rows are
    decided, in the order to apply them, and never changes behind (so the caller may apply
    what is emitted while the rest is still being admitted)."""
    max_jump = np.int64(LP[LP_MAX_JUMP])
    ne = 0
    nh = 0
    for k in range(h):
        held[nh] = k
        nh += 1
        status[k] = ST_HELD
    # the clock may have reached what is held (a live tick)
    if nh > 0 and ref != NO_TIME and ts[held[0]] <= ref + max_jump:
        _unhold(held, nh, src, ORIG, GS)
        for a in range(nh):
            k = held[a]
            emit[ne] = k
            ne += 1
            status[k] = ST_EMIT
            ref = max(ref, ts[k])
        nh = 0
    C[C_NE] = ne
    C[C_NH] = nh
    C[C_REF] = ref


@njit(**FAST)
def admit_rows(etype, ts, src, seq, epoch, aux, lo, hi, ORIG, GS, LP, exempt, tz_utc, tz_off,
               emit, status, held, C):
    """Decide pool rows lo..hi-1 (after `admit_start` and the rows before lo)."""
    max_jump = np.int64(LP[LP_MAX_JUMP])
    max_behind = np.int64(LP[LP_MAX_BEHIND])
    confirm_events = np.int64(LP[LP_CONFIRM_EVENTS])
    confirm_sources = np.int64(LP[LP_CONFIRM_SOURCES])
    hold_max = np.int64(LP[LP_HOLD_MAX])
    month_apart = np.int64(LP[LP_MONTH_APART])
    max_seq_gap = np.int64(LP[LP_MAX_SEQ_GAP])
    max_jump_alone = np.int64(LP[LP_MAX_JUMP_ALONE])
    max_jump_manual = np.int64(LP[LP_MAX_JUMP_MANUAL])
    ne = C[C_NE]
    nh = C[C_NH]
    ref = C[C_REF]
    for k in range(lo, hi):
        et = etype[k]
        t = ts[k]
        if (et == EV_QA or et == EV_ADJUST) and aux[k] >= 0:
            own = month_of_day(local_day(tz_utc, tz_off, t))
            if abs(aux[k] - own) > month_apart:
                status[k] = ST_MONTH
                continue
        if src[k] >= 0 and seq[k] >= 0:
            if _dedup(src[k], seq[k], epoch[k], ORIG, GS, max_seq_gap):
                status[k] = ST_DUP
                GS[GS_DUPS] += 1
                continue
        ex = exempt[et]
        o = src[k] + 1
        if ref == NO_TIME:  # the first event starts the engine
            emit[ne] = k
            ne += 1
            status[k] = ST_EMIT
            ref = t
            if not ex:
                ORIG[o, O_LAST_TS] = t
            continue
        if nh > 0:
            known = (ORIG[o, O_LAST_TS] != NO_TIME
                     and ORIG[o, O_LAST_TS] >= ref - max_jump_alone)
            if t > GS[GS_HMAX] + max_jump and not ex and known:
                # time went on beyond what is held: that was no wrong clock, just a
                # step on the way; apply it, then judge this event against it
                GS[GS_JUMPS] += 1
                _unhold(held, nh, src, ORIG, GS)
                for a in range(nh):
                    k2 = held[a]
                    emit[ne] = k2
                    ne += 1
                    status[k2] = ST_EMIT
                    ref = max(ref, ts[k2])
                    if not exempt[etype[k2]]:
                        o2 = src[k2] + 1
                        ORIG[o2, O_LAST_TS] = max(ORIG[o2, O_LAST_TS], ts[k2])
                nh = 0
            elif t > GS[GS_HMAX] + max_jump and not ex:
                # beyond what is held, from a source with nothing applied lately
                status[k] = ST_AHEAD
                GS[GS_HELD_REJECTED] += 1
                continue
            elif t >= ts[held[0]] - max_jump:  # consistent with what is held: joins it
                GS[GS_HMAX] = max(GS[GS_HMAX], t)
                held[nh] = k
                nh += 1
                status[k] = ST_HELD
                _hold(k, etype, src, exempt, ORIG, GS)
                if nh >= hold_max or (GS[GS_HCOUNT] >= confirm_events + 1
                                      and GS[GS_HDISTINCT] >= GS[GS_NEED]):
                    GS[GS_JUMPS] += 1
                    _unhold(held, nh, src, ORIG, GS)
                    for a in range(nh):
                        k2 = held[a]
                        emit[ne] = k2
                        ne += 1
                        status[k2] = ST_EMIT
                        ref = max(ref, ts[k2])
                        if not exempt[etype[k2]]:
                            o2 = src[k2] + 1
                            ORIG[o2, O_LAST_TS] = max(ORIG[o2, O_LAST_TS], ts[k2])
                    nh = 0
                continue
            if not ex and t >= ref - max_behind and not known:
                # old time from an origin with nothing applied lately: no evidence either
                # way while the clock is in doubt (a gateway an hour behind looks like it)
                status[k] = ST_BEHIND
                continue
            if not ex and t >= ref - max_behind:  # the old time goes on: what is held was wrong
                _unhold(held, nh, src, ORIG, GS)
                for a in range(nh):
                    status[held[a]] = ST_AHEAD
                GS[GS_HELD_REJECTED] += nh
                nh = 0
        if ex and t > ref + max_jump_manual:
            # a manual entry far ahead: held like telemetry, confirmed only by telemetry
            GS[GS_NEED] = min(confirm_sources, max(1, _others_active(ORIG, -1, ref,
                                                                      max_jump_alone)))
            GS[GS_HMAX] = t
            held[nh] = k
            nh += 1
            status[k] = ST_HELD
            continue
        if not ex and t > ref + max_jump:
            others = _others_active(ORIG, o, ref, max_jump_alone)
            if others == 0 and t <= ref + max_jump_alone:
                # no other origin to compare with: its clock is the only one there is
                emit[ne] = k
                ne += 1
                status[k] = ST_EMIT
                ref = t
                if not ex:
                    ORIG[o, O_LAST_TS] = t
                continue
            GS[GS_NEED] = 1 if others == 0 else min(confirm_sources, others + 1)
            GS[GS_HMAX] = t
            held[nh] = k
            nh += 1
            status[k] = ST_HELD
            _hold(k, etype, src, exempt, ORIG, GS)
            continue
        if not ex:
            if t < ref - max_behind:
                status[k] = ST_BEHIND
                continue
            ORIG[o, O_LAST_TS] = max(ORIG[o, O_LAST_TS], t)
        emit[ne] = k
        ne += 1
        status[k] = ST_EMIT
        ref = max(ref, t)
    C[C_NE] = ne
    C[C_NH] = nh
    C[C_REF] = ref


@njit(**FAST)
def admit_end(etype, ts, src, ORIG, GS, LP, exempt, final, emit, status, held, C):
    """End the pool: at the end of input (`final`), decide what is still held. Returns
    (rows written to emit, rows left held in `held`)."""
    max_jump_manual = np.int64(LP[LP_MAX_JUMP_MANUAL])
    ne = C[C_NE]
    nh = C[C_NH]
    ref = C[C_REF]
    if final and nh > 0:
        _unhold(held, nh, src, ORIG, GS)
        end_max = np.int64(LP[LP_END_MAX_JUMP])
        base = ref  # a chain: each step forward within end_max of the last applied
        for a in range(nh):
            k2 = held[a]
            if ts[k2] - base <= (max_jump_manual if exempt[etype[k2]] else end_max):
                emit[ne] = k2
                ne += 1
                status[k2] = ST_EMIT
                base = max(base, ts[k2])
            else:
                status[k2] = ST_AHEAD
                GS[GS_HELD_REJECTED] += 1
        nh = 0
    C[C_NE] = ne
    C[C_NH] = nh
    return ne, nh


@njit(**FAST)
def admit(etype, ts, src, seq, epoch, aux, h, ref, ORIG, GS, LP, exempt, tz_utc, tz_off,
          final, emit, status, held, C):
    """Decide every pool row in one call (`admit_start`, `admit_rows` over the new rows,
    `admit_end`). Returns (rows written to emit, rows left held in `held`, whether emit
    lists consecutive rows in order: `in_order`)."""
    admit_start(ts, src, h, ref, ORIG, GS, LP, emit, status, held, C)
    admit_rows(etype, ts, src, seq, epoch, aux, h, etype.shape[0], ORIG, GS, LP, exempt,
               tz_utc, tz_off, emit, status, held, C)
    ne, nh = admit_end(etype, ts, src, ORIG, GS, LP, exempt, final, emit, status, held, C)
    return ne, nh, in_order(emit, 0, ne)
