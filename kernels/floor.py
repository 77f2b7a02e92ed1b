"""The floor kernel: applies a columnar batch of events to the engine's state arrays.

Time model. Engine time G[G_NOW] only moves forward: an event is applied at
max(its ts, G_NOW), so a late event never rewinds anyone and the result does not depend on
how the stream was cut into batches. Each agent is advanced lazily to the time of its own
events (and by `advance_all` on a clock tick or before a report); advancing one agent fires
its deadlines (shift start, missing, break returns, shift end) and accrues its busy time
piece by piece between boundaries, so splitting an advance in two never changes a result.

Speed. Everything here is compiled without numba's reference counting (`_nrt=False`) and
the common path is inlined: with a dozen arrays in play, refcounting each binding costs
far more than the work. So nothing here allocates. When the ledger, the call table or
the excuse table needs room, `apply_batch` returns (index of the event to resume at,
NEED_*) before touching that event, the caller grows the array, and calls again from
there; `advance` is resumable, so an advance cut short for ledger room just continues.

Memory. At 10,000 agents an event's rows are rarely in cache, and its misses come one
after another: the agent's record, then the day accumulators and the shift found from it.
So `apply_batch` prefetches (kernels.prefetch) in two steps: the agent record's hot lines
of the event PF_FAR places ahead, then, PF_NEAR places ahead (that record has arrived by
now), the lines found from it: the day accumulators' hot line, the shift row, the minute
bucket. A prefetch is a hint and changes no result; the distances were measured with
`make bench` (simulators/bench.py).
"""
import numpy as np
from kernels.compiled import njit

from kernels.clock import local_day, month_of_day, next_local_midnight
from kernels.prefetch import prefetch
from kernels.layout import (
    AR_ANSWERED, AR_K, AR_MINUTE, AR_TALKS, AR_TALK_MS, A_ANSWER_DAY, A_ANSWER_TS,
    A_BUSY_SINCE, A_CALL, A_CTX_BRK, A_CTX_DAY, A_CURSOR, A_FLAGS, A_K, A_LAST, A_LAST_OUT,
    A_LUNCH_SINCE, A_NEXTB, A_OFFER_CALL, A_OUT_BUSY_SINCE, A_PHASE, A_REASON, A_SH_HI,
    A_SH_LO, A_SINCE, A_STATE, BK_END, BK_START, CALL_EMPTY, CALL_MAX_WAIT_MS, CALL_TOMBSTONE,
    CV_QUEUE, CV_RINGING, CV_TS, D_ANSWERED, D_BUSY_MS, D_BUSY_RAW_MS, D_DISSATISFIED, D_K,
    D_NEUTRAL, D_NO_ANSWER, D_OFFERED, D_SALES, D_SALE_N, D_SATISFIED, D_SIGNED_MS, D_SIGN_INS,
    D_SITE_PTS, D_SURVEYS, D_TALKS, D_TALK_MS, D_UTIL_PTS, EV_ABANDON, EV_ADJUST, EV_ANSWER,
    EV_BUSY, EV_ENQUEUE, EV_EXCUSE, EV_FLOOR, EV_HANGUP, EV_INCIDENT, EV_NO_ANSWER, EV_OFFER,
    EV_QA, EV_READY, EV_SALE, EV_SIGN_IN, EV_SIGN_OUT, EV_SURVEY, EV_WRAP_END, F_ABSENT,
    F_IN_BREAK, F_IN_SHIFT, F_LATE, F_LATE_RETURN, F_LEFT_EARLY, F_MISSING, G_ACCEPTED,
    G_CALLS_LIVE, G_CALLS_USED, G_DAY, G_DAY_END, G_DUPLICATES, G_EXCUSE_N, G_GAPS,
    G_IMPLICIT_SIGN_IN, G_INCIDENT_N, G_LEDGER_N, G_LEDGER_OVERFLOW, G_NOW, G_ORPHANS, G_START,
    G_TOO_OLD, HOT_LINES_A, ITEM_FINE, ITEM_SITE, ITEM_UTILIZATION, I_AGENT, I_AMOUNT, I_KIND,
    I_MONTH, I_POINTS, I_TS, LINE_WORDS, L_AGENT, L_AUX, L_AUX2, L_CODE, L_DAY, L_EXCUSED,
    L_ITEM, L_POINTS, L_RULE, L_TS, MAX_LOCAL_DAY_MS, MINUTE_MS, M_ADJ, M_ADJ_N, M_QA_N,
    M_QA_SUM, NO_TIME, N_DAY_SLOTS, N_MONTH_SLOTS, N_ROLL, PH_BREAK, PH_MISSING, PH_START,
    P_BREAK_GRACE_MS, P_BUDGET_MS, P_EARLY_TOL_MS, P_EXCLUDE_BREAKS, P_FIRST_POINTS,
    P_LATE_RETURN_BUSY_ANY, P_LUNCH_MS, P_LUNCH_REASON, P_PTS_ABSENT, P_PTS_EARLY_LEAVE,
    P_PTS_LATE_RETURN, P_PTS_LATE_SIGN_IN, P_SHORT_ABANDON_MS, P_SIGN_OUT_RULE, P_SL_MS,
    P_STEP_MS, P_STEP_POINTS, Q_ABANDONED, Q_ABANDONED_SHORT, Q_ANSWERED, Q_ANSWERED_SL,
    Q_OFFERED, Q_WAIT_MAX, Q_WAIT_SUM, RULE_COUNT_COL, R_ABSENT, R_BUSY, R_EARLY_LEAVE,
    R_FLOOR, R_LATE_RETURN, R_LATE_SIGN_IN, R_LUNCH, R_SIGN_OUT, ST_BUSY, ST_OUT, ST_READY,
    ST_RINGING, ST_TALKING, ST_WRAP, SURVEY_NEUTRAL, SURVEY_SATISFIED, S_ATTENDED, S_BRK_HI,
    S_BRK_LO, S_DAY, S_END, S_FIRED, S_GRACE, S_K, S_START, S_WORKED_MS, TR_MS, X_AGENT, X_BY,
    X_DAY, X_REASON, X_RULE,
)

# free ledger rows kept for one event; an advance piece (<= one day) books at most
# 24 * 60 / step_min busy steps plus a shift's few timers
LEDGER_RESERVE = 1024
# nogil: the engine runs a big batch's side passes (kernels.stats, kernels.inputs) on a
# second core meanwhile; no other thread touches the engine's arrays
FAST = dict(cache=True, _nrt=False, error_model="numpy", nogil=True)
NEED_NOTHING = 0
NEED_LEDGER = 1  # grow L
NEED_CALLS = 2  # grow the call table (CKEY, CVAL and the scratch pair)
NEED_EXCUSES = 3  # grow X
NEED_INCIDENTS = 4  # grow I
INLINE = dict(inline="always", _nrt=False, error_model="numpy")
PF_FAR = 16  # events ahead whose agent record is prefetched
PF_NEAR = 8  # events ahead whose day, shift and minute rows are prefetched


# --------------------------------------------------------------------------- slots


@njit(**FAST)
def _clear(arr, s):
    """Zero arr[s] (a ring slot) with loops: a slice assignment would need refcounting."""
    for a in range(arr.shape[1]):
        for k in range(arr.shape[2]):
            arr[s, a, k] = 0.0


@njit(**FAST)
def _claim_day_slot(slot_day, DACC, QDAY, d):
    s = d % N_DAY_SLOTS
    if slot_day[s] > d:
        return -1
    _clear(DACC, s)
    _clear(QDAY, s)
    slot_day[s] = d
    return s


@njit(**INLINE)
def day_slot(slot_day, DACC, QDAY, d):
    """Ring slot holding day d, claiming (and clearing) it for a newer day; -1 if d is too old."""
    s = d % N_DAY_SLOTS
    if slot_day[s] == d:
        return s
    return _claim_day_slot(slot_day, DACC, QDAY, d)


@njit(**FAST)
def month_slot(slot_month, MACC, m):
    s = m % N_MONTH_SLOTS
    sm = slot_month[s]
    if sm == m:
        return s
    if sm > m:
        return -1
    _clear(MACC, s)
    slot_month[s] = m
    return s


@njit(**FAST)
def _claim_roll_slot(roll_min, QROLL, minute):
    s = minute % N_ROLL
    if roll_min[s] > minute:
        return -1
    _clear(QROLL, s)
    roll_min[s] = minute
    return s


@njit(**INLINE)
def roll_slot(roll_min, QROLL, t):
    """The queues' minute bucket of t (cleared for every queue when a new minute starts)."""
    minute = t // MINUTE_MS
    s = minute % N_ROLL
    if roll_min[s] == minute:
        return s
    return _claim_roll_slot(roll_min, QROLL, minute)


@njit(**FAST)
def _claim_trend_slot(tr_slot, QTR, quarter):
    s = quarter % QTR.shape[0]
    if tr_slot[s] > quarter:
        return -1
    _clear(QTR, s)
    tr_slot[s] = quarter
    return s


@njit(**INLINE)
def trend_slot(tr_slot, QTR, t):
    """The queues' quarter-hour bucket of t for the intraday trend (cleared when reused)."""
    quarter = t // TR_MS
    s = quarter % QTR.shape[0]
    if tr_slot[s] == quarter:
        return s
    return _claim_trend_slot(tr_slot, QTR, quarter)


@njit(**INLINE)
def agent_roll(AROLL, i, minute):
    """Agent i's bucket of that minute, cleared lazily when it still holds an older one."""
    s = minute % N_ROLL
    if AROLL[s, i, AR_MINUTE] != minute:
        AROLL[s, i, AR_ANSWERED] = 0.0
        AROLL[s, i, AR_TALK_MS] = 0.0
        AROLL[s, i, AR_TALKS] = 0.0
        AROLL[s, i, AR_MINUTE] = minute
    return s


# --------------------------------------------------------------------------- ledger


@njit(**FAST)
def is_excused(X, G, agent, rule, day):
    for k in range(G[G_EXCUSE_N]):
        if X[k, X_AGENT] == agent and X[k, X_RULE] == rule and X[k, X_DAY] == day:
            return True
    return False


@njit(**FAST)
def apply_deduction(DACC, slot_day, QDAY, G, agent, rule, item, points, day, sign):
    """Add (sign=1) or take back (sign=-1) a deduction's effect on the day accumulators."""
    s = day_slot(slot_day, DACC, QDAY, day)
    if s < 0:
        G[G_TOO_OLD] += 1
        return
    if item == ITEM_UTILIZATION:
        DACC[s, agent, D_UTIL_PTS] += sign * points
    elif item == ITEM_SITE:
        DACC[s, agent, D_SITE_PTS] += sign * points
    c = RULE_COUNT_COL[rule]
    if c >= 0:
        DACC[s, agent, c] += sign


@njit(**FAST)
def book(L, X, G, DACC, slot_day, QDAY, ts, agent, rule, item, points, day, code, aux, aux2):
    """Append a deduction to the ledger and apply it unless an excuse already covers it.
    code/aux/aux2 keep its evidence (see L_CODE). The callers keep LEDGER_RESERVE rows
    free, so a full ledger is a bug: counted."""
    n = G[G_LEDGER_N]
    if n >= L.shape[0]:
        G[G_LEDGER_OVERFLOW] += 1
        return
    excused = is_excused(X, G, agent, rule, day)
    L[n, L_TS] = ts
    L[n, L_AGENT] = agent
    L[n, L_RULE] = rule
    L[n, L_ITEM] = item
    L[n, L_POINTS] = points
    L[n, L_DAY] = day
    L[n, L_EXCUSED] = 1.0 if excused else 0.0
    L[n, L_CODE] = code
    L[n, L_AUX] = aux
    L[n, L_AUX2] = aux2
    G[G_LEDGER_N] = n + 1
    if not excused:
        apply_deduction(DACC, slot_day, QDAY, G, agent, rule, item, points, day, 1.0)


@njit(**INLINE)
def ledger_low(L, G):
    return L.shape[0] - G[G_LEDGER_N] < LEDGER_RESERVE


@njit(**FAST)
def excuse(L, X, G, DACC, slot_day, QDAY, agent, rule, day, by, reason, today,
           ledger_keep_days):
    """Record an approved appeal and cancel the matching deductions already booked.
    The caller made sure X has a free row. A day of a month the ledger no longer keeps as
    of `today` (the engine's Engine.ledger_cutoff) cancels nothing, counted too_old:
    whether its rows are still in L depends on when the engine last rolled, which the
    batching decides, so it must not decide what an excuse does."""
    if is_excused(X, G, agent, rule, day):
        return
    n = G[G_EXCUSE_N]
    X[n, X_AGENT] = agent
    X[n, X_RULE] = rule
    X[n, X_DAY] = day
    X[n, X_BY] = by
    X[n, X_REASON] = reason
    G[G_EXCUSE_N] = n + 1
    if month_of_day(day) <= month_of_day(today - ledger_keep_days):
        G[G_TOO_OLD] += 1
        return
    for k in range(G[G_LEDGER_N]):
        if (L[k, L_EXCUSED] == 0.0 and L[k, L_AGENT] == agent and L[k, L_RULE] == rule
                and L[k, L_DAY] == day):
            L[k, L_EXCUSED] = 1.0
            apply_deduction(DACC, slot_day, QDAY, G, agent, rule, np.int64(L[k, L_ITEM]),
                            L[k, L_POINTS], day, -1.0)


# --------------------------------------------------------------------------- shifts


@njit(**FAST)
def timer_time(S, BK, P, k, phase):
    """When shift k's timer `phase` fires (PH_* in kernels.layout)."""
    if phase == PH_START:
        return S[k, S_START]
    if phase == PH_MISSING:
        return S[k, S_START] + S[k, S_GRACE] + 1
    nb = S[k, S_BRK_HI] - S[k, S_BRK_LO]
    j = phase - PH_BREAK
    if j < nb:
        t = BK[S[k, S_BRK_LO] + j, BK_END] + np.int64(P[P_BREAK_GRACE_MS]) + 1
        return min(t, S[k, S_END])
    return S[k, S_END]


@njit(**FAST)
def fire_due(i, a, A, S, BK, DACC, slot_day, QDAY, L, X, G, P, excused_reason):
    """Fire every timer of agent i due at or before time a, in order. False when it
    stopped early because the ledger's reserve ran low (call again after growing it)."""
    while A[i, A_CURSOR] < A[i, A_SH_HI]:
        if ledger_low(L, G):
            return False
        k = A[i, A_CURSOR]
        p = A[i, A_PHASE]
        if timer_time(S, BK, P, k, p) > a:
            break
        nb = S[k, S_BRK_HI] - S[k, S_BRK_LO]
        st = A[i, A_STATE]
        if p == PH_START:
            A[i, A_FLAGS] &= ~(F_MISSING | F_LATE | F_LEFT_EARLY | F_ABSENT | F_LATE_RETURN)
            if st != ST_OUT:
                S[k, S_ATTENDED] = 1
        elif p == PH_MISSING:
            if S[k, S_ATTENDED] == 0:
                A[i, A_FLAGS] |= F_MISSING
        elif p - PH_BREAK < nb:
            b = S[k, S_BRK_LO] + p - PH_BREAK
            deadline = BK[b, BK_END] + np.int64(P[P_BREAK_GRACE_MS])
            away = st == ST_OUT or (
                st == ST_BUSY and (P[P_LATE_RETURN_BUSY_ANY] != 0.0
                                   or not excused_reason[A[i, A_REASON]]))
            if deadline < S[k, S_END] and S[k, S_ATTENDED] == 1 and away:
                A[i, A_FLAGS] |= F_LATE_RETURN
                book(L, X, G, DACC, slot_day, QDAY, deadline, i, R_LATE_RETURN, ITEM_SITE,
                     P[P_PTS_LATE_RETURN], S[k, S_DAY], k, b, NO_TIME)
        else:
            e = S[k, S_END]
            if S[k, S_ATTENDED] == 0:
                A[i, A_FLAGS] = (A[i, A_FLAGS] & ~F_MISSING) | F_ABSENT
                book(L, X, G, DACC, slot_day, QDAY, e, i, R_ABSENT, ITEM_SITE,
                     P[P_PTS_ABSENT], S[k, S_DAY], k, NO_TIME, NO_TIME)
            elif st == ST_OUT:
                cut = e - np.int64(P[P_EARLY_TOL_MS])
                ob = A[i, A_OUT_BUSY_SINCE]
                if A[i, A_LAST_OUT] < cut or (ob != NO_TIME and ob < cut):
                    A[i, A_FLAGS] |= F_LEFT_EARLY
                    book(L, X, G, DACC, slot_day, QDAY, e, i, R_EARLY_LEAVE, ITEM_SITE,
                         P[P_PTS_EARLY_LEAVE], S[k, S_DAY], k, A[i, A_LAST_OUT], ob)
            S[k, S_FIRED] = 1
            A[i, A_CURSOR] = k + 1
            A[i, A_PHASE] = PH_START
            continue
        A[i, A_PHASE] = p + 1
    return True


@njit(**FAST)
def set_context(i, a, A, S, BK, P, tz_utc, tz_off):
    """Work out the agent's day and break status from time a up to the next boundary."""
    nextb = next_local_midnight(tz_utc, tz_off, a)
    day = local_day(tz_utc, tz_off, a)
    in_brk = 0
    flags = A[i, A_FLAGS] & ~(F_IN_SHIFT | F_IN_BREAK)
    k = A[i, A_CURSOR]
    if k < A[i, A_SH_HI]:
        nextb = min(nextb, timer_time(S, BK, P, k, A[i, A_PHASE]))
        s = S[k, S_START]
        e = S[k, S_END]
        if s > a:
            nextb = min(nextb, s)
        elif a < e:
            day = S[k, S_DAY]
            flags |= F_IN_SHIFT
            nextb = min(nextb, e)
            for b in range(S[k, S_BRK_LO], S[k, S_BRK_HI]):
                bs = BK[b, BK_START]
                be = BK[b, BK_END]
                if bs > a:
                    nextb = min(nextb, bs)
                elif a < be:
                    in_brk = 1
                    flags |= F_IN_BREAK
                    nextb = min(nextb, be)
    A[i, A_NEXTB] = nextb
    A[i, A_CTX_DAY] = day
    A[i, A_CTX_BRK] = in_brk
    A[i, A_FLAGS] = flags


@njit(**FAST)
def _busy_steps(i, a, before, after, d, DACC, slot_day, QDAY, L, X, G, P):
    """Book each threshold budget + n*step crossed while counted busy went from `before`
    to `after` (B > threshold afterwards), at the instant it was crossed."""
    budget = np.int64(P[P_BUDGET_MS])
    step = np.int64(P[P_STEP_MS])
    n0 = 0
    if before > budget:
        n0 = (before - budget + step - 1) // step
    n1 = (after - budget + step - 1) // step  # first n with threshold >= after
    for n in range(n0, n1):
        th = budget + n * step
        pts = P[P_FIRST_POINTS] if n == 0 else P[P_STEP_POINTS]
        book(L, X, G, DACC, slot_day, QDAY, a + (th - before), i, R_BUSY, ITEM_UTILIZATION,
             pts, d, n, NO_TIME, NO_TIME)


@njit(**INLINE)
def accrue(i, a, b, A, S, DACC, slot_day, QDAY, L, X, G, P, excused_reason):
    """Credit [a, b) (constant context) to signed-in time and, when busy, to busy time."""
    st = A[i, A_STATE]
    if b > a and st != ST_OUT:
        if (A[i, A_FLAGS] & F_IN_SHIFT) != 0 and A[i, A_CTX_BRK] == 0:
            S[A[i, A_CURSOR], S_WORKED_MS] += b - a
        ls = A[i, A_LUNCH_SINCE]
        if st == ST_BUSY and ls != NO_TIME:
            # "longer than" the limit: booked the millisecond the episode passes it
            over = ls + np.int64(P[P_LUNCH_MS]) + 1
            if b >= over:
                A[i, A_LUNCH_SINCE] = NO_TIME
                book(L, X, G, DACC, slot_day, QDAY, over, i, R_LUNCH, ITEM_FINE, 0.0,
                     A[i, A_CTX_DAY], -1, ls, NO_TIME)
        s = day_slot(slot_day, DACC, QDAY, A[i, A_CTX_DAY])
        if s < 0:
            G[G_TOO_OLD] += 1
        else:
            dur = b - a
            DACC[s, i, D_SIGNED_MS] += dur
            if st == ST_BUSY:
                DACC[s, i, D_BUSY_RAW_MS] += dur
                if not excused_reason[A[i, A_REASON]] and not (
                        A[i, A_CTX_BRK] == 1 and P[P_EXCLUDE_BREAKS] != 0.0):
                    before = np.int64(DACC[s, i, D_BUSY_MS])
                    after = before + dur
                    DACC[s, i, D_BUSY_MS] = after
                    if after > np.int64(P[P_BUDGET_MS]):
                        _busy_steps(i, a, before, after, A[i, A_CTX_DAY], DACC, slot_day, QDAY,
                                    L, X, G, P)


@njit(**FAST)
def advance_slow(i, t, A, S, BK, DACC, slot_day, QDAY, L, X, G, P, excused_reason, tz_utc,
                 tz_off):
    """Bring agent i up to time t across boundaries (timers, breaks, midnight). False when
    it stopped early for lack of ledger rows: grow the ledger and call again."""
    a = A[i, A_LAST]
    if t < a:
        return True
    while True:
        if ledger_low(L, G):
            return False
        nb = A[i, A_NEXTB]
        if t < nb:
            accrue(i, a, t, A, S, DACC, slot_day, QDAY, L, X, G, P, excused_reason)
            A[i, A_LAST] = t
            return True
        accrue(i, a, nb, A, S, DACC, slot_day, QDAY, L, X, G, P, excused_reason)
        a = nb
        A[i, A_LAST] = a
        if not fire_due(i, a, A, S, BK, DACC, slot_day, QDAY, L, X, G, P, excused_reason):
            return False
        set_context(i, a, A, S, BK, P, tz_utc, tz_off)


@njit(**INLINE)
def advance(i, t, A, S, BK, DACC, slot_day, QDAY, L, X, G, P, excused_reason, tz_utc, tz_off):
    """advance_slow with its common case (no boundary before t) inlined."""
    a = A[i, A_LAST]
    if t < a:
        return True
    if t < A[i, A_NEXTB]:
        accrue(i, a, t, A, S, DACC, slot_day, QDAY, L, X, G, P, excused_reason)
        A[i, A_LAST] = t
        return True
    return advance_slow(i, t, A, S, BK, DACC, slot_day, QDAY, L, X, G, P, excused_reason,
                        tz_utc, tz_off)


@njit(**INLINE)
def calendar_day(G, t, tz_utc, tz_off):
    """Local date of t >= G_NOW, from a cache that moves on at each local midnight."""
    if t >= G[G_DAY_END] or t < G[G_DAY_END] - MAX_LOCAL_DAY_MS:
        G[G_DAY] = local_day(tz_utc, tz_off, t)
        G[G_DAY_END] = next_local_midnight(tz_utc, tz_off, t)
    return G[G_DAY]


@njit(**FAST)
def start_agents(A, S, t, lo, hi):
    """Agents lo..hi-1 begin at time t; shifts that ended before t are outside the data."""
    for i in range(lo, hi):
        A[i, A_LAST] = t
        A[i, A_NEXTB] = t  # forces timers and context to be worked out at the first advance
        k = A[i, A_SH_LO]
        while k < A[i, A_SH_HI] and S[k, S_END] <= t:
            k += 1
        A[i, A_CURSOR] = k
        A[i, A_PHASE] = PH_START


# --------------------------------------------------------------------------- calls


@njit(**INLINE)
def _call_find(CKEY, key):
    mask = CKEY.shape[0] - 1
    h = (key * np.int64(-7046029254386353131)) & mask
    while True:
        k = CKEY[h]
        if k == key:
            return h
        if k == CALL_EMPTY:
            return -1
        h = (h + 1) & mask


@njit(**INLINE)
def _call_insert(CKEY, CVAL, key, ts, queue, ringing):
    mask = CKEY.shape[0] - 1
    h = (key * np.int64(-7046029254386353131)) & mask
    while True:
        k = CKEY[h]
        if k == CALL_EMPTY or k == CALL_TOMBSTONE:
            CKEY[h] = key
            CVAL[h, CV_TS] = ts
            CVAL[h, CV_QUEUE] = queue
            CVAL[h, CV_RINGING] = ringing
            return k == CALL_EMPTY
        h = (h + 1) & mask


@njit(**FAST)
def call_table_compact(CKEY, CVAL, CKEY2, CVAL2, qwait, G, drop_before):
    """Rehash the calls in the queue (dropping tombstones, and calls queued before
    drop_before: a caller who neither got answered nor reported abandoned, who then no
    longer counts as waiting) through the scratch pair."""
    for h in range(CKEY2.shape[0]):
        CKEY2[h] = CALL_EMPTY
    live = 0
    for h in range(CKEY.shape[0]):
        k = CKEY[h]
        if k == CALL_EMPTY or k == CALL_TOMBSTONE:
            continue
        if CVAL[h, CV_TS] >= drop_before:
            _call_insert(CKEY2, CVAL2, k, CVAL[h, CV_TS], CVAL[h, CV_QUEUE],
                         CVAL[h, CV_RINGING])
            live += 1
        elif CVAL[h, CV_RINGING] == 0 and CVAL[h, CV_QUEUE] >= 0:
            qwait[CVAL[h, CV_QUEUE]] -= 1
    for h in range(CKEY.shape[0]):
        CKEY[h] = CKEY2[h]
        CVAL[h, CV_TS] = CVAL2[h, CV_TS]
        CVAL[h, CV_QUEUE] = CVAL2[h, CV_QUEUE]
        CVAL[h, CV_RINGING] = CVAL2[h, CV_RINGING]
    G[G_CALLS_LIVE] = live
    G[G_CALLS_USED] = live


@njit(**FAST)
def call_table_insert_all(CKEY, CVAL, keys, vals, G):
    """Insert (key, (ts, queue, ringing)) rows into an empty table: growth after NEED_CALLS."""
    for r in range(keys.shape[0]):
        _call_insert(CKEY, CVAL, keys[r], vals[r, CV_TS], vals[r, CV_QUEUE], vals[r, CV_RINGING])
    G[G_CALLS_LIVE] = keys.shape[0]
    G[G_CALLS_USED] = keys.shape[0]


@njit(**INLINE)
def call_remove(CKEY, CVAL, qwait, G, key):
    """Take a call out of the queue table; returns (enqueue ts, queue) or (NO_TIME, -1)."""
    h = _call_find(CKEY, key)
    if h < 0:
        return NO_TIME, -1
    CKEY[h] = CALL_TOMBSTONE
    q = CVAL[h, CV_QUEUE]
    if q >= 0 and CVAL[h, CV_RINGING] == 0:
        qwait[q] -= 1
    G[G_CALLS_LIVE] -= 1
    return CVAL[h, CV_TS], q


@njit(**INLINE)
def call_ringing(CKEY, CVAL, qwait, key, ringing):
    """An offer (ringing=1) takes a queued call off the waiting count while it rings at a
    seat; a ring-out (0) puts it back, keeping its enqueue time: the caller still waits."""
    h = _call_find(CKEY, key)
    if h < 0 or CVAL[h, CV_RINGING] == ringing:
        return
    CVAL[h, CV_RINGING] = ringing
    q = CVAL[h, CV_QUEUE]
    if q >= 0:
        qwait[q] += 1 - 2 * ringing


# --------------------------------------------------------------------------- events


@njit(**FAST)
def _sign_in(i, t, A, S, DACC, slot_day, QDAY, L, X, G, P):
    if A[i, A_STATE] == ST_OUT:
        A[i, A_STATE] = ST_READY
        A[i, A_SINCE] = t
        A[i, A_FLAGS] &= ~F_LEFT_EARLY
        s = day_slot(slot_day, DACC, QDAY, A[i, A_CTX_DAY])
        if s >= 0:
            DACC[s, i, D_SIGN_INS] += 1
    k = A[i, A_CURSOR]
    # the shift has started and not ended (the cursor would have moved on)
    if k < A[i, A_SH_HI] and A[i, A_PHASE] >= PH_MISSING and S[k, S_ATTENDED] == 0:
        S[k, S_ATTENDED] = 1
        A[i, A_FLAGS] &= ~F_MISSING
        if t > S[k, S_START] + S[k, S_GRACE]:
            A[i, A_FLAGS] |= F_LATE
            book(L, X, G, DACC, slot_day, QDAY, t, i, R_LATE_SIGN_IN, ITEM_SITE,
                 P[P_PTS_LATE_SIGN_IN], S[k, S_DAY], k, NO_TIME, NO_TIME)


@njit(**INLINE)
def _set_state(i, t, A, st):
    if A[i, A_STATE] != st:
        A[i, A_STATE] = st
        A[i, A_SINCE] = t
    if st != ST_BUSY:
        A[i, A_BUSY_SINCE] = NO_TIME
        A[i, A_LUNCH_SINCE] = NO_TIME


@njit(**INLINE)
def _wake(i, t, A, S, DACC, slot_day, QDAY, L, X, G, P):
    """A state event from a signed-out seat: the ACD has the agent logged in, so do we."""
    if A[i, A_STATE] == ST_OUT:
        G[G_IMPLICIT_SIGN_IN] += 1
        _sign_in(i, t, A, S, DACC, slot_day, QDAY, L, X, G, P)


@njit(**INLINE)
def _queue_answer(arr, slot, q, wait, P):
    if slot < 0:
        return
    w = max(wait, 0)
    arr[slot, q, Q_ANSWERED] += 1
    if wait <= np.int64(P[P_SL_MS]):
        arr[slot, q, Q_ANSWERED_SL] += 1
    arr[slot, q, Q_WAIT_SUM] += w
    if w > arr[slot, q, Q_WAIT_MAX]:
        arr[slot, q, Q_WAIT_MAX] = w


@njit(**INLINE)
def _queue_abandon(arr, slot, q, short):
    if slot < 0:
        return
    arr[slot, q, Q_ABANDONED] += 1
    if short:
        arr[slot, q, Q_ABANDONED_SHORT] += 1


@njit(**INLINE)
def _prefetch_rows(j, n, agent, A, S, DACC, AROLL, rs):
    """Prefetch for event j the rows its agent's events touch (see the module doc); rs:
    the minute bucket of the current event (an event PF_NEAR ahead is almost always in
    the same minute, and a prefetch is only a hint)."""
    jf = j + PF_FAR
    if jf < n:
        i = agent[jf]
        if i >= 0:
            for line in range(HOT_LINES_A):
                prefetch(A, i * A_K + line * LINE_WORDS)
    jn = j + PF_NEAR
    if jn < n:
        i = agent[jn]
        if i >= 0:
            d = A[i, A_CTX_DAY] % N_DAY_SLOTS
            prefetch(DACC, (d * DACC.shape[1] + i) * D_K)
            k = A[i, A_CURSOR]
            if k < S.shape[0]:
                prefetch(S, k * S_K + S_WORKED_MS)
            prefetch(AROLL, (rs * AROLL.shape[1] + i) * AR_K)


@njit(**FAST)
def apply_batch(
    etype, ts, agent, call, queue, code, aux, num, src, seq,
    A, S, BK, DACC, slot_day, MACC, slot_month, QROLL, QDAY, AROLL, roll_min,
    CKEY, CVAL, CKEY2, CVAL2, qwait, L, X, src_seq, G, P, excused_reason, tz_utc, tz_off,
    INC, start, QTR, tr_slot, ledger_keep_days,
):
    """Apply events start.. in order. Returns (j, NEED_*): NEED_NOTHING with j = n when
    done, else the array to grow before calling again with start = j."""
    n = etype.shape[0]
    # the minute [m_lo, m_lo + MINUTE_MS) of the last event, and the quarter-hour
    # [q_lo, q_lo + TR_MS) of the last queue event, with their buckets: engine time only
    # moves forward, so they are worked out when it enters a new one, not per event
    m_lo = q_lo = NO_TIME
    minute = 0
    r = rs = tq = -1
    for j in range(start, n):
        _prefetch_rows(j, n, agent, A, S, DACC, AROLL, rs)
        et = etype[j]
        i = agent[j]
        # room first, before event j changes anything, so resuming at j is exact
        if ledger_low(L, G):
            return j, NEED_LEDGER
        if et == EV_EXCUSE and G[G_EXCUSE_N] >= X.shape[0]:
            return j, NEED_EXCUSES
        if et == EV_INCIDENT and G[G_INCIDENT_N] >= INC.shape[0]:
            return j, NEED_INCIDENTS
        t = ts[j]
        if t < G[G_NOW]:
            t = G[G_NOW]
        if et == EV_ENQUEUE and G[G_CALLS_USED] * 2 >= CKEY.shape[0]:
            # tombstones are compacted away in place; only live calls make it grow
            call_table_compact(CKEY, CVAL, CKEY2, CVAL2, qwait, G, t - CALL_MAX_WAIT_MS)
            if G[G_CALLS_LIVE] * 4 >= CKEY.shape[0]:
                return j, NEED_CALLS
        if src[j] >= 0:
            last = src_seq[src[j]]
            if last != NO_TIME and seq[j] <= last:
                G[G_DUPLICATES] += 1
                continue
        if G[G_START] == NO_TIME:
            G[G_START] = t
            G[G_NOW] = t
            start_agents(A, S, t, 0, A.shape[0])
        if i >= 0 and not advance(i, t, A, S, BK, DACC, slot_day, QDAY, L, X, G, P,
                                  excused_reason, tz_utc, tz_off):
            return j, NEED_LEDGER  # advanced part-way; it resumes where it stopped
        if src[j] >= 0:
            last = src_seq[src[j]]
            if last != NO_TIME and seq[j] > last + 1:
                G[G_GAPS] += seq[j] - last - 1
            src_seq[src[j]] = seq[j]
        G[G_NOW] = t
        G[G_ACCEPTED] += 1
        if t - m_lo >= MINUTE_MS or t < m_lo:
            minute = t // MINUTE_MS
            m_lo = minute * MINUTE_MS
            rs = minute % N_ROLL
            r = roll_slot(roll_min, QROLL, t)
        tr = -1
        if et == EV_ANSWER or et == EV_ENQUEUE or et == EV_ABANDON:
            if t - q_lo >= TR_MS or t < q_lo:
                q_lo = t // TR_MS * TR_MS
                tq = trend_slot(tr_slot, QTR, t)
            tr = tq

        if et == EV_SIGN_IN:
            _sign_in(i, t, A, S, DACC, slot_day, QDAY, L, X, G, P)
            if A[i, A_STATE] == ST_BUSY:
                _set_state(i, t, A, ST_READY)
        elif et == EV_SIGN_OUT:
            st = A[i, A_STATE]
            if st != ST_OUT and P[P_SIGN_OUT_RULE] != 0.0:
                k = A[i, A_CURSOR]
                if (k < A[i, A_SH_HI] and S[k, S_START] < t < S[k, S_END]
                        and A[i, A_CTX_BRK] == 0):
                    book(L, X, G, DACC, slot_day, QDAY, t, i, R_SIGN_OUT, ITEM_FINE, 0.0,
                         S[k, S_DAY], k, t, NO_TIME)
            if st != ST_OUT:
                A[i, A_LAST_OUT] = t
                A[i, A_OUT_BUSY_SINCE] = A[i, A_BUSY_SINCE] if st == ST_BUSY else NO_TIME
                _set_state(i, t, A, ST_OUT)
                k = A[i, A_CURSOR]
                if (k < A[i, A_SH_HI] and A[i, A_PHASE] >= PH_MISSING and S[k, S_ATTENDED] == 1
                        and A[i, A_CTX_BRK] == 0
                        and t < S[k, S_END] - np.int64(P[P_EARLY_TOL_MS])):
                    A[i, A_FLAGS] |= F_LEFT_EARLY
        elif et == EV_READY:
            _wake(i, t, A, S, DACC, slot_day, QDAY, L, X, G, P)
            _set_state(i, t, A, ST_READY)
        elif et == EV_BUSY:
            _wake(i, t, A, S, DACC, slot_day, QDAY, L, X, G, P)
            if A[i, A_STATE] != ST_BUSY:
                A[i, A_BUSY_SINCE] = t
            # a lunch episode runs from its busy to the next change of state or reason
            if P[P_LUNCH_MS] < 0.0 or code[j] != np.int64(P[P_LUNCH_REASON]):
                A[i, A_LUNCH_SINCE] = NO_TIME
            elif not (A[i, A_STATE] == ST_BUSY and A[i, A_REASON] == code[j]):
                A[i, A_LUNCH_SINCE] = t
            _set_state(i, t, A, ST_BUSY)
            A[i, A_REASON] = code[j]
        elif et == EV_OFFER:
            _wake(i, t, A, S, DACC, slot_day, QDAY, L, X, G, P)
            s = day_slot(slot_day, DACC, QDAY, A[i, A_CTX_DAY])
            if s >= 0:
                DACC[s, i, D_OFFERED] += 1
            A[i, A_OFFER_CALL] = call[j]
            _set_state(i, t, A, ST_RINGING)
            call_ringing(CKEY, CVAL, qwait, call[j], 1)
        elif et == EV_ANSWER:
            _wake(i, t, A, S, DACC, slot_day, QDAY, L, X, G, P)
            s = day_slot(slot_day, DACC, QDAY, A[i, A_CTX_DAY])
            if s >= 0:
                if A[i, A_OFFER_CALL] != call[j]:
                    DACC[s, i, D_OFFERED] += 1
                DACC[s, i, D_ANSWERED] += 1
            A[i, A_OFFER_CALL] = 0
            A[i, A_CALL] = call[j]
            A[i, A_ANSWER_TS] = t
            A[i, A_ANSWER_DAY] = A[i, A_CTX_DAY]
            _set_state(i, t, A, ST_TALKING)
            enq, q0 = call_remove(CKEY, CVAL, qwait, G, call[j])
            q = queue[j]
            wait = aux[j]
            if wait < 0 and enq != NO_TIME:
                wait = t - enq
            AROLL[agent_roll(AROLL, i, minute), i, AR_ANSWERED] += 1
            if q >= 0:
                ds = day_slot(slot_day, DACC, QDAY, calendar_day(G, t, tz_utc, tz_off))
                _queue_answer(QROLL, r, q, wait, P)
                _queue_answer(QDAY, ds, q, wait, P)
                _queue_answer(QTR, tr, q, wait, P)
        elif et == EV_NO_ANSWER:
            s = day_slot(slot_day, DACC, QDAY, A[i, A_CTX_DAY])
            if s >= 0:
                DACC[s, i, D_NO_ANSWER] += 1
            call_ringing(CKEY, CVAL, qwait, call[j], 0)
            if A[i, A_STATE] == ST_RINGING:
                _set_state(i, t, A, ST_READY)
        elif et == EV_HANGUP:
            if A[i, A_STATE] == ST_TALKING and A[i, A_CALL] == call[j]:
                dur = t - A[i, A_ANSWER_TS]
                s = day_slot(slot_day, DACC, QDAY, A[i, A_ANSWER_DAY])
                if s >= 0:
                    DACC[s, i, D_TALK_MS] += dur
                    DACC[s, i, D_TALKS] += 1
                ar = agent_roll(AROLL, i, minute)
                AROLL[ar, i, AR_TALK_MS] += dur
                AROLL[ar, i, AR_TALKS] += 1
                A[i, A_CALL] = 0
                _set_state(i, t, A, ST_WRAP)
            else:
                G[G_ORPHANS] += 1
        elif et == EV_WRAP_END:
            if A[i, A_STATE] == ST_WRAP:
                _set_state(i, t, A, ST_READY)
        elif et == EV_ENQUEUE:
            q = queue[j]
            if _call_find(CKEY, call[j]) < 0:
                fresh = _call_insert(CKEY, CVAL, call[j], t, q, 0)
                G[G_CALLS_LIVE] += 1
                if fresh:
                    G[G_CALLS_USED] += 1
                qwait[q] += 1
            ds = day_slot(slot_day, DACC, QDAY, calendar_day(G, t, tz_utc, tz_off))
            if r >= 0:
                QROLL[r, q, Q_OFFERED] += 1
            if ds >= 0:
                QDAY[ds, q, Q_OFFERED] += 1
            if tr >= 0:
                QTR[tr, q, Q_OFFERED] += 1
        elif et == EV_ABANDON:
            call_remove(CKEY, CVAL, qwait, G, call[j])
            q = queue[j]
            short = aux[j] <= np.int64(P[P_SHORT_ABANDON_MS])
            ds = day_slot(slot_day, DACC, QDAY, calendar_day(G, t, tz_utc, tz_off))
            _queue_abandon(QROLL, r, q, short)
            _queue_abandon(QDAY, ds, q, short)
            _queue_abandon(QTR, tr, q, short)
        elif et == EV_SURVEY:
            s = day_slot(slot_day, DACC, QDAY, A[i, A_CTX_DAY])
            if s >= 0:
                DACC[s, i, D_SURVEYS] += 1
                c = code[j]
                if c == SURVEY_SATISFIED:
                    DACC[s, i, D_SATISFIED] += 1
                elif c == SURVEY_NEUTRAL:
                    DACC[s, i, D_NEUTRAL] += 1
                else:
                    DACC[s, i, D_DISSATISFIED] += 1
        elif et == EV_SALE:
            s = day_slot(slot_day, DACC, QDAY, A[i, A_CTX_DAY])
            if s >= 0:
                DACC[s, i, D_SALES] += num[j]
                DACC[s, i, D_SALE_N] += 1
        elif et == EV_QA or et == EV_ADJUST:
            # manual entries name their month, or fall in the month of their own ts
            m = aux[j]
            if m < 0:
                m = month_of_day(local_day(tz_utc, tz_off, ts[j]))
            ms = month_slot(slot_month, MACC, m)
            if ms < 0:
                G[G_TOO_OLD] += 1
            elif et == EV_QA:
                MACC[ms, i, M_QA_SUM + code[j]] += num[j]
                MACC[ms, i, M_QA_N + code[j]] += 1
            else:
                MACC[ms, i, M_ADJ] += num[j]
                MACC[ms, i, M_ADJ_N] += 1
        elif et == EV_FLOOR:
            book(L, X, G, DACC, slot_day, QDAY, ts[j], i, R_FLOOR, ITEM_SITE, num[j],
                 local_day(tz_utc, tz_off, ts[j]), code[j], NO_TIME, NO_TIME)
        elif et == EV_EXCUSE:
            # the approver and the reason ride in num and call (texts codes): see batch
            excuse(L, X, G, DACC, slot_day, QDAY, i, code[j], aux[j], np.int64(num[j]), call[j],
                   local_day(tz_utc, tz_off, t), ledger_keep_days)
        elif et == EV_INCIDENT:
            # kept as booked, in arrival order; what a kind is worth is the policy's, read
            # by the close and the drill-down (a kind it does not know costs nothing)
            m = aux[j]
            if m < 0:
                m = month_of_day(local_day(tz_utc, tz_off, ts[j]))
            k = G[G_INCIDENT_N]
            INC[k, I_TS] = ts[j]
            INC[k, I_AGENT] = i
            INC[k, I_KIND] = code[j]
            INC[k, I_MONTH] = m
            INC[k, I_AMOUNT] = num[j]
            INC[k, I_POINTS] = np.int64(call[j]).view(np.float64)  # see batch._callless
            G[G_INCIDENT_N] = k + 1
    return n, NEED_NOTHING


@njit(**FAST)
def advance_all(t, A, S, BK, DACC, slot_day, QDAY, QROLL, AROLL, roll_min, L, X, G, P,
                excused_reason, tz_utc, tz_off, start):
    """Move engine time to t (never back) and bring agents start.. up to it: a clock tick.
    Returns the agent to resume at after growing the ledger, or -1 when done."""
    if G[G_START] == NO_TIME:
        return -1
    if t < G[G_NOW]:
        t = G[G_NOW]
    G[G_NOW] = t
    roll_slot(roll_min, QROLL, t)
    for i in range(start, A.shape[0]):
        if ledger_low(L, G) or not advance(i, t, A, S, BK, DACC, slot_day, QDAY, L, X, G, P,
                                           excused_reason, tz_utc, tz_off):
            return i
    return -1


@njit(cache=True)
def fnv1a_rows(b):
    """Stable 64-bit FNV-1a hash of each row of a uint8 matrix (zero bytes are padding).

    Call ids are hashed rather than interned so no table of strings grows in a long-running
    service; 0 and 1 are reserved for empty and deleted slots of the call table."""
    n = b.shape[0]
    out = np.zeros(n, np.int64)
    for r in range(n):
        h = np.uint64(14695981039346656037)
        any_byte = False
        for c in range(b.shape[1]):
            x = b[r, c]
            if x == 0:
                break
            any_byte = True
            h = (h ^ np.uint64(x)) * np.uint64(1099511628211)
        v = np.int64(h)
        if not any_byte:
            v = 0
        elif v == 0 or v == 1:
            v = v + 2
        out[r] = v
    return out
