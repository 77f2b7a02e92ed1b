"""Column layout of the engine's state arrays, shared by the kernels and the service.

Every name here is a plain int so numba folds it as a compile-time constant.
"""

DAY_MS = 86_400_000
MINUTE_MS = 60_000
NO_TIME = -(2**62)  # "never" for int64 time columns
CACHE_LINE = 64  # bytes; the engine's state arrays start on a line boundary
LINE_WORDS = CACHE_LINE // 8  # int64 / float64 columns per line
MAX_LOCAL_DAY_MS = 25 * 60 * MINUTE_MS  # the longest local day (a DST fall-back day)
CALL_MAX_WAIT_MS = DAY_MS  # a call queued longer without answer or abandon is dropped

# ---- event types (batch column `etype`) ----
EV_SIGN_IN = 0
EV_SIGN_OUT = 1
EV_READY = 2
EV_BUSY = 3
EV_OFFER = 4
EV_ANSWER = 5
EV_NO_ANSWER = 6
EV_HANGUP = 7
EV_WRAP_END = 8
EV_ENQUEUE = 9
EV_ABANDON = 10
EV_SURVEY = 11
EV_SALE = 12
EV_QA = 13
EV_FLOOR = 14
EV_ADJUST = 15
EV_EXCUSE = 16
EV_INCIDENT = 17
N_EVENT_TYPES = 18

# ---- agent states ----
ST_OUT = 0
ST_READY = 1
ST_BUSY = 2
ST_RINGING = 3
ST_TALKING = 4
ST_WRAP = 5
N_STATES = 6  # = len(kefu_floor.views.floorview.STATES)

# ---- survey results (column `code` of EV_SURVEY) ----
SURVEY_SATISFIED = 0
SURVEY_NEUTRAL = 1
SURVEY_DISSATISFIED = 2
N_SURVEY = 3  # = len(kefu_floor.schema.SURVEY_RESULTS)

# ---- QA items (column `code` of EV_QA) ----
QA_RECORDING = 0
QA_TEXT = 1
QA_PERFORMANCE = 2
QA_EXAM = 3
QA_MANAGEMENT = 4  # a supervisor's reports, training and meetings (team-80-20), not an item
N_QA = 5  # = len(kefu_floor.schema.QA_ITEMS)

# ---- deduction rules (ledger column L_RULE, column `code` of EV_EXCUSE) ----
R_BUSY = 0
R_LATE_SIGN_IN = 1
R_LATE_RETURN = 2
R_EARLY_LEAVE = 3
R_ABSENT = 4
R_FLOOR = 5
R_LUNCH = 6  # taobao-30pt: a lunch busy episode longer than the limit (a fine, no points)
R_SIGN_OUT = 7  # taobao-30pt: a sign-out strictly inside a shift, outside its breaks
N_RULES = 8  # = len(kefu_floor.schema.RULES)

# ---- item a deduction lands on (ledger column L_ITEM) ----
ITEM_UTILIZATION = 0
ITEM_SITE = 1
ITEM_FINE = 2  # counted for a money fine (taobao-30pt), no item points

# ---- shift timers (A_PHASE): the current shift's next deadline, in firing order ----
# (see kernels.floor.timer_time). "After X" deadlines fire at X + 1 ms, so an event exactly
# at X is applied first.
PH_START = 0  # shift start: signed in by then = attended
PH_MISSING = 1  # start + grace + 1 ms: not signed in yet = missing
PH_BREAK = 2  # PH_BREAK + b: break b's end + break grace + 1 ms (late return); after the
#               shift's nb breaks, PH_BREAK + nb is the shift end (absent / early leave)

# ---- agent flags (A_FLAGS), shown live ----
F_MISSING = 1
F_LATE = 2
F_LEFT_EARLY = 4
F_ABSENT = 8
F_LATE_RETURN = 16
F_UNKNOWN = 32  # not in the roster
F_IN_SHIFT = 64
F_IN_BREAK = 128

# ---- agent table A: int64 (n_agents, A_K) ----
# Rows are 3 whole 64-byte cache lines and the engine allocates the table on a line boundary
# (kefu_floor.kernelcall.aligned), so an event's agent touches the first two lines, which
# hold what the common path reads and writes, and the third (cold) only at a sign-out or a
# shift end. The kernel prefetches both hot lines of the events ahead (kernels.floor).
A_STATE = 0
A_LAST = 1  # the agent has been advanced up to this time
A_NEXTB = 2  # next boundary (timer, break edge, midnight) after A_LAST
A_CTX_DAY = 3  # agent day of [A_LAST, A_NEXTB): the shift's date inside a shift, else local date
A_CTX_BRK = 4  # 1 when [A_LAST, A_NEXTB) is inside a scheduled break
A_FLAGS = 5
A_CURSOR = 6  # row in S of the agent's current (first unfinished) shift
A_LUNCH_SINCE = 7  # start of the current lunch busy episode not yet booked, else NO_TIME
# second line: state changes and calls
A_SINCE = 8  # time the current state began
A_BUSY_SINCE = 9  # start of the current unbroken busy spell, NO_TIME when not busy
A_REASON = 10  # busy reason code while busy
A_OFFER_CALL = 11  # call hash of the last offer, so an answer without offer counts as offered
A_CALL = 12  # call hash being talked
A_ANSWER_TS = 13
A_ANSWER_DAY = 14
A_PHASE = 15  # next timer of the current shift (PH_*)
# third line: cold
A_SH_HI = 16  # one past the agent's last row in S
A_SH_LO = 17  # first row in S of the agent
A_LAST_OUT = 18  # time of the last sign-out
A_OUT_BUSY_SINCE = 19  # busy spell start at that sign-out, NO_TIME if not busy then
A_K = 24
HOT_LINES_A = 2  # lines of a row the common path touches (prefetched)

# ---- shift table S: int64 (n_shifts, S_K), rows sorted by (agent, start) ----
S_AGENT = 0
S_START = 1
S_END = 2
S_GRACE = 3  # ms
S_DAY = 4  # local date index (days since 1970-01-01)
S_BRK_LO = 5  # rows in BK
S_BRK_HI = 6
S_ATTENDED = 7
S_FIRED = 8  # 1 once the shift end was booked
S_WORKED_MS = 9  # signed-in time inside the shift, outside its breaks (overtime pay)
S_K = 10

# ---- break table BK: int64 (n_breaks, BK_K) ----
BK_START = 0
BK_END = 1
BK_K = 2

# ---- per agent per day accumulators DACC: float64 (N_DAY_SLOTS, n_agents, D_K) ----
# hot columns first (one cache line, prefetched), rows padded to 24 columns (3 whole lines,
# allocated on a line boundary like A)
N_DAY_SLOTS = 64  # a ring: covers this month and the whole of the previous one
D_SIGNED_MS = 0  # signed-in time
D_OFFERED = 1
D_ANSWERED = 2
D_TALK_MS = 3
D_TALKS = 4
D_BUSY_MS = 5  # counted busy (policy busy budget)
D_BUSY_RAW_MS = 6  # every busy millisecond
D_NO_ANSWER = 7
D_SURVEYS = 8
D_SATISFIED = 9
D_NEUTRAL = 10
D_DISSATISFIED = 11
D_SALES = 12
D_SIGN_INS = 13
D_UTIL_PTS = 14  # sum of non-excused points on utilization
D_SITE_PTS = 15  # sum of non-excused points on site
D_LATE_N = 16
D_RETURN_N = 17
D_EARLY_N = 18
D_ABSENT_N = 19
D_FLOOR_N = 20
D_SALE_N = 21  # `sale` events (taobao-30pt conversion)
D_LUNCH_N = 22  # lunch episodes over the limit, not excused
D_SIGN_OUT_N = 23  # sign-outs inside a shift outside its breaks, not excused
D_K = 24

# rule (R_*) -> its count column in DACC (-1: none)
RULE_COUNT_COL = (-1, D_LATE_N, D_RETURN_N, D_EARLY_N, D_ABSENT_N, D_FLOOR_N, D_LUNCH_N,
                  D_SIGN_OUT_N)

# ---- per agent per month manual accumulators MACC: float64 (N_MONTH_SLOTS, n_agents, M_K) ----
N_MONTH_SLOTS = 12
M_QA_SUM = 0  # + QA item
M_QA_N = M_QA_SUM + N_QA  # + QA item
M_ADJ = M_QA_N + N_QA
M_ADJ_N = M_ADJ + 1
M_K = M_ADJ_N + 1

# ---- rolling minute buckets ----
N_ROLL = 60  # minutes kept; windows of 15/30/60 are sums over the newest buckets
# per queue, QROLL (N_ROLL, n_queues, Q_K) and per day QDAY (N_DAY_SLOTS, n_queues, Q_K)
Q_OFFERED = 0
Q_ANSWERED = 1
Q_ANSWERED_SL = 2  # answered within the service-level threshold
Q_ABANDONED = 3
Q_ABANDONED_SHORT = 4  # abandoned within the short-abandon threshold (out of SL)
Q_WAIT_SUM = 5  # ms, answered calls
Q_WAIT_MAX = 6
Q_K = 7
# per queue per quarter hour, QTR (N_TR, n_queues, Q_K) with tr_slot (N_TR,) holding each
# slot's quarter-hour number (t // TR_MS): the intraday trend. Every real time zone's offset
# is a whole number of quarter hours, so UTC quarter hours are local ones; 192 slots = 2 days
TR_MS = 15 * MINUTE_MS
N_TR = 192
# per agent, AROLL (N_ROLL, n_agents, AR_K); each bucket carries its minute (AR_MINUTE) and
# is cleared when that agent next writes to it, so no minute ever sweeps every agent
# (AR_, not R_: R_ is the deduction rules' prefix)
AR_ANSWERED = 0
AR_TALK_MS = 1
AR_TALKS = 2
AR_MINUTE = 3
AR_K = 4

# ---- ledger L: float64 (capacity, L_K) ----
L_TS = 0
L_AGENT = 1
L_RULE = 2
L_ITEM = 3
L_POINTS = 4
L_DAY = 5
L_EXCUSED = 6
L_CODE = 7  # floor: reason text code; busy: threshold number n; attendance: shift row in S
L_AUX = 8  # late return: break row in BK; early leave: time of the last sign-out
L_AUX2 = 9  # early leave: start of the busy spell it ended with (NO_TIME if none)
L_K = 10

# ---- excuses X: int64 (capacity, X_K) ----
X_AGENT = 0
X_RULE = 1
X_DAY = 2
X_BY = 3  # who approved it: code in Symbols.texts (0: not given)
X_REASON = 4  # the appeal's reason: code in Symbols.texts
X_K = 5

# ---- incidents I: float64 (capacity, I_K), in order of arrival (DESIGN.md §3.1 `incident`) ----
# the close and the live drill-down read them per agent and month; the policy maps kinds
I_TS = 0
I_AGENT = 1
I_KIND = 2  # code in Symbols.texts
I_MONTH = 3  # month id (the event's `month`, else the month of its ts)
I_AMOUNT = 4  # NaN when absent
I_POINTS = 5  # NaN when absent
I_K = 6

# ---- calls in the queue: open addressing, CKEY int64 (cap,), CVAL int64 (cap, CV_K) ----
# A call is in the table from enqueue to answer/abandon; while it rings at a seat
# (offer .. answer/no_answer) CV_RINGING is 1 and it is not counted as waiting.
CALL_EMPTY = 0
CALL_TOMBSTONE = 1
CV_TS = 0  # enqueue time (kept when a seat rings out and the call goes back to the queue)
CV_QUEUE = 1
CV_RINGING = 2
CV_K = 3

# ---- globals G: int64 (G_K,) ----
G_NOW = 0
G_START = 1
G_LEDGER_N = 2
G_EXCUSE_N = 3
G_CALLS_LIVE = 4
G_CALLS_USED = 5  # live + tombstones
G_DUPLICATES = 6
G_GAPS = 7
G_TOO_OLD = 8
G_ORPHANS = 9  # hangups/wrap-ups that match no call of the agent
G_ACCEPTED = 10
G_IMPLICIT_SIGN_IN = 11
G_LEDGER_OVERFLOW = 12  # must stay 0: bookings found no free ledger row
G_DAY = 13  # local calendar day of G_NOW ...
G_DAY_END = 14  # ... valid until this instant
G_INCIDENT_N = 15  # rows in use in I
G_K = 16

# ---- policy parameters P: float64 (P_K,) ----
P_BUDGET_MS = 0
P_STEP_MS = 1
P_FIRST_POINTS = 2
P_STEP_POINTS = 3
P_BREAK_GRACE_MS = 4
P_EARLY_TOL_MS = 5
P_PTS_LATE_SIGN_IN = 6
P_PTS_LATE_RETURN = 7
P_PTS_EARLY_LEAVE = 8
P_PTS_ABSENT = 9
P_SL_MS = 10
P_SHORT_ABANDON_MS = 11
P_EXCLUDE_BREAKS = 12
P_LATE_RETURN_BUSY_ANY = 13  # 1: any busy at break end is late; 0: excused reasons count as back
P_LUNCH_MS = 14  # lunch episode limit; < 0: the rule is off
P_LUNCH_REASON = 15  # reason code of lunch (Symbols.reasons)
P_SIGN_OUT_RULE = 16  # 1: book sign-outs inside a shift outside its breaks
P_K = 17

