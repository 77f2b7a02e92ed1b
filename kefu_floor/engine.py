"""The engine: owns the state arrays, grows them as ids appear, and calls the kernels.

It knows nothing of where events come from (file, MQTT) or where results go (report,
feed, Redis): `feed` takes checked events or a ready batch, `tick` moves the clock,
`report` (in `kefu_floor.views.report`) reads the arrays.
"""
from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from kefu_floor.batch import Batch, Symbols, base_columns, hash_ids, to_batch
from kefu_floor.errors import Rejected
from kefu_floor.kernelcall import aligned, call_kernel
from kefu_floor.localtime import offset_table
from kefu_floor.policy import Policy
from kefu_floor.roster import Roster, Shift
from kefu_floor.schema import Event
from kefu_floor import stats
from kernels import clock as kc
from kernels import floor as kf
from kernels import guard as kg
from kernels import inputs as ki
from kernels import layout as K

_REASON, _SITE = attrgetter("reason"), attrgetter("site")

# what the admission kernel's statuses become (kernels.guard)
_GUARD_REASON = {kg.ST_AHEAD: "clock_skew", kg.ST_BEHIND: "clock_skew",
                 kg.ST_MONTH: "invalid_value"}


@dataclass
class Setup:
    """What an engine is built from."""

    policy: Policy
    roster: Roster
    shifts: list[Shift]
    site: str = "default"


def _grow_axis(arr: np.ndarray, axis: int, n: int, fill) -> np.ndarray:
    if arr.shape[axis] >= n:
        return arr
    shape = list(arr.shape)
    shape[axis] = max(n, arr.shape[axis] * 2 if arr.shape[axis] else n)
    out = aligned(shape, arr.dtype, fill)
    idx = [slice(None)] * arr.ndim
    idx[axis] = slice(0, arr.shape[axis])
    out[tuple(idx)] = arr
    return out


# Two cores for a big batch. The side passes of a batch of at least SIDE_MIN events (the
# exporter's figures and the month's inputs digest: kernels.stats.side_passes) run on a
# second core while the floor kernel applies it; they read only the batch and write only
# their own arrays, so the result is the one of running them first. A pool of more than
# ADMIT_CHUNK new rows is also admitted there, a chunk ahead of the kernel
# (Engine._admit_and_apply). A million events in one batch go about 1.5 times as fast
# (the kernel benchmark's "one core" row is the peer); a live service's small batches
# would lose more to the hand-over than they gain, and take neither.
# Both limits are per engine too (Engine.side_min, Engine.admit_chunk).
SIDE_MIN = 32_768
ADMIT_CHUNK = 131_072
_side_pool: ThreadPoolExecutor | None = None


def _side_thread() -> ThreadPoolExecutor:
    """The one side thread (its tasks run in the order given)."""
    global _side_pool
    if _side_pool is None:
        _side_pool = ThreadPoolExecutor(1, thread_name_prefix="kefu-side")
    return _side_pool


class Engine:
    # the day of a ledger row dropped where it stands (a row of a month no longer kept,
    # booked after a newer month's rows): in no month, so nothing reads it
    DROPPED_DAY = float(K.NO_TIME)
    # what runs beside the floor kernel (see SIDE_MIN): per engine, so a warm-up takes the
    # big batch's paths on a small batch, and the benchmark times one core as the peer
    side_min = SIDE_MIN
    admit_chunk = ADMIT_CHUNK

    def __init__(self, setup: Setup, live: bool = False):
        # live: a service's engine, whose input never ends (held events wait for evidence);
        # otherwise reading a report is the end of input (see `settle`)
        self.live = live
        self.setup = setup
        self.policy = setup.policy
        self.roster = setup.roster
        self.site = setup.site
        self.sym = Symbols()
        self.rejected: Counter[str] = Counter()
        for a in sorted(setup.roster.people):
            self.sym.agents.id(a)
        for sh in setup.shifts:
            self.sym.agents.id(sh.agent)
        for r in setup.policy.busy.excused_reasons:
            self.sym.reasons.id(r)
        self.P = setup.policy.params()
        if self.P[K.P_LUNCH_MS] >= 0:
            self.P[K.P_LUNCH_REASON] = self.sym.reasons.id(setup.policy.taobao.lunch_reason)
        self.tz_utc, self.tz_off = offset_table(setup.policy.timezone)
        self._build_shifts(setup.shifts)
        n = max(len(self.sym.agents), 1)
        self.n_agents = 0  # rows in use
        self.A = np.zeros((0, K.A_K), np.int64)
        self.DACC = np.zeros((K.N_DAY_SLOTS, 0, K.D_K))
        self.MACC = np.zeros((K.N_MONTH_SLOTS, 0, K.M_K))
        self.AROLL = np.zeros((K.N_ROLL, 0, K.AR_K))
        self.slot_day = np.full(K.N_DAY_SLOTS, K.NO_TIME, np.int64)
        self.slot_month = np.full(K.N_MONTH_SLOTS, K.NO_TIME, np.int64)
        self.roll_min = np.full(K.N_ROLL, K.NO_TIME, np.int64)
        self.QROLL = np.zeros((K.N_ROLL, 0, K.Q_K))
        self.QDAY = np.zeros((K.N_DAY_SLOTS, 0, K.Q_K))
        self.QTR = np.zeros((K.N_TR, 0, K.Q_K))  # quarter-hour buckets: intraday trend
        self.tr_slot = np.full(K.N_TR, K.NO_TIME, np.int64)
        self.qwait = np.zeros(0, np.int64)
        self._new_call_table(1024)
        self.L = aligned((4 * kf.LEDGER_RESERVE, K.L_K), np.float64)
        # the ledger keeps only the months still held (see `_roll_ledger`): row r of L is
        # row `ledger_base + r` of every row ever booked, the identity the read side, the
        # store's record stream and checkpoints use; `ledger_gone` counts the dropped rows
        # per agent and rule (the feed's "booked ever" counts)
        self.ledger_base = 0
        self.ledger_gone = np.zeros((0, K.N_RULES), np.int64)
        self.ledger_keep_days = int(setup.policy.limits.ledger_keep_days)
        # rows from this global row on are never dropped (the durable store moves it as it
        # records them; None: no such limit). Not state: the store sets it again
        self.ledger_pin: int | None = None
        self._ledger_roll_at = K.NO_TIME  # the next local midnight: the next trim check
        self._lspan: dict[int, tuple[int, int]] = {}  # month -> global rows [lo, hi) of it
        self._lspan_n = 0  # rows [ledger_base, _lspan_n) are indexed in _lspan
        self.X = np.zeros((16, K.X_K), np.int64)
        self.INC = np.zeros((16, K.I_K))  # incidents, rows [0, G_INCIDENT_N) in use
        self.src_seq = np.zeros(0, np.int64)
        self.excused_reason = np.zeros(0, np.bool_)
        self.G = np.zeros(K.G_K, np.int64)
        # each month's accepted events, counted and digested (kernels.inputs; the close)
        self.MIN = np.zeros((K.N_MONTH_SLOTS, ki.MI_K), np.int64)
        self.MIN[:, ki.MI_MONTH] = ki.NO_MONTH
        self.agent_h = np.zeros(0, np.int64)  # hash of each interned agent id, by id
        self.G[K.G_NOW] = K.NO_TIME
        self.G[K.G_START] = K.NO_TIME
        self._init_guard(setup.policy)
        # which agents changed since the read side last looked (None: all of them)
        self.dirty: set[int] | None = None
        # busy agents whose busy time a tick moved and nothing else (the read side's too),
        # and the set the last take_dirty handed over
        self.busy_dirty: set[int] = set()
        self.taken_busy: set[int] = set()
        # ledger rows the read side has been handed as new (take_booked); not state: a
        # restored engine's deductions are history, not news
        self.booked_seen = 0
        stats.init(self)  # exporter and telemetry-health arrays (kefu_floor.stats)
        self._ensure_capacity(n)

    # ------------------------------------------------------------------ set-up
    def _build_shifts(self, shifts: list[Shift]) -> None:
        by_agent = sorted(shifts, key=lambda s: (self.sym.agents.ids[s.agent], s.start_ms))
        S = aligned((len(by_agent), K.S_K), np.int64)
        brks = []
        for k, sh in enumerate(by_agent):
            S[k, K.S_AGENT] = self.sym.agents.ids[sh.agent]
            S[k, K.S_START] = sh.start_ms
            S[k, K.S_END] = sh.end_ms
            S[k, K.S_GRACE] = sh.grace_ms
            S[k, K.S_DAY] = sh.day
            S[k, K.S_BRK_LO] = len(brks)
            brks.extend(sh.breaks)
            S[k, K.S_BRK_HI] = len(brks)
        self.S = S
        self.BK = np.array(brks, np.int64).reshape(len(brks), K.BK_K)
        self.shifts = by_agent

    def _ensure_capacity(self, n_agents: int | None = None) -> None:
        """Grow every per-id array to the interned counts; new agents start at engine time."""
        n = len(self.sym.agents) if n_agents is None else max(n_agents, len(self.sym.agents))
        if n > self.n_agents:
            old = self.n_agents
            self.A = _grow_axis(self.A, 0, n, 0)
            self.DACC = _grow_axis(self.DACC, 1, n, 0.0)
            self.MACC = _grow_axis(self.MACC, 1, n, 0.0)
            self.AROLL = _grow_axis(self.AROLL, 1, n, -1.0)  # -1: no minute yet
            cap = self.A.shape[0]
            rows = self.A[old:cap]
            rows[:] = 0
            rows[:, K.A_BUSY_SINCE] = K.NO_TIME
            rows[:, K.A_OUT_BUSY_SINCE] = K.NO_TIME
            rows[:, K.A_LUNCH_SINCE] = K.NO_TIME
            agent_col = self.S[:, K.S_AGENT]
            ids = np.arange(old, cap)
            rows[:, K.A_SH_LO] = np.searchsorted(agent_col, ids, side="left")
            rows[:, K.A_SH_HI] = np.searchsorted(agent_col, ids, side="right")
            people = self.roster.people
            names = self.sym.agents.names
            for i in range(old, min(cap, len(names))):
                if names[i] not in people:
                    rows[i - old, K.A_FLAGS] |= K.F_UNKNOWN
            if self.G[K.G_START] != K.NO_TIME:
                call_kernel(self, kf.start_agents, {"t": self.G[K.G_NOW], "lo": old, "hi": cap})
            self.n_agents = cap
        nq = len(self.sym.queues)
        if nq > self.qwait.shape[0]:
            self.QROLL = _grow_axis(self.QROLL, 1, nq, 0.0)
            self.QDAY = _grow_axis(self.QDAY, 1, nq, 0.0)
            self.QTR = _grow_axis(self.QTR, 1, self.QROLL.shape[1], 0.0)
            self.qwait = _grow_axis(self.qwait, 0, self.QROLL.shape[1], 0)
        nr = len(self.sym.reasons)
        if nr > self.excused_reason.shape[0]:
            self.excused_reason = _grow_axis(self.excused_reason, 0, nr, False)
            for r in self.policy.busy.excused_reasons:
                self.excused_reason[self.sym.reasons.ids[r]] = True
        ns = len(self.sym.sources)
        if ns > self.src_seq.shape[0]:
            self.src_seq = _grow_axis(self.src_seq, 0, ns, K.NO_TIME)
        stats.grow(self)

    def _init_guard(self, pol: Policy) -> None:
        """State of the admission kernel (kernels.guard): per-origin dedup and clock rows,
        its counters, the limits, and the events it holds (rows, tags, Event objects)."""
        lim = pol.limits
        self.n_known = len(self.sym.agents)  # roster and schedule: never capped
        LP = np.zeros(kg.LP_K, np.float64)
        LP[kg.LP_MAX_JUMP] = round(lim.max_jump_min * K.MINUTE_MS)
        LP[kg.LP_MAX_BEHIND] = round(lim.max_behind_min * K.MINUTE_MS)
        LP[kg.LP_CONFIRM_EVENTS] = lim.confirm_events
        LP[kg.LP_CONFIRM_SOURCES] = lim.confirm_sources
        LP[kg.LP_HOLD_MAX] = lim.hold_max
        LP[kg.LP_END_MAX_JUMP] = round(lim.end_max_jump_days * K.DAY_MS)
        LP[kg.LP_MONTH_APART] = lim.month_max_apart
        LP[kg.LP_MAX_SEQ_GAP] = lim.max_seq_gap
        LP[kg.LP_MAX_JUMP_ALONE] = round(lim.max_jump_alone_h * 60 * K.MINUTE_MS)
        LP[kg.LP_MAX_JUMP_MANUAL] = round(lim.max_jump_manual_days * K.DAY_MS)
        self.LP = LP
        from kefu_floor.schema import TYPE_CODE
        self.exempt = np.zeros(K.N_EVENT_TYPES + 8, np.bool_)
        for t in lim.clock_exempt_types:
            self.exempt[TYPE_CODE[t]] = True
        self.GS = np.zeros(kg.GS_K, np.int64)
        self.ORIG = np.zeros((0, kg.O_K), np.int64)
        self._grow_origins(1)
        # held rows as arrays (checkpointed like every engine array): the int columns and
        # `num`; `held_events` (for dead letters) is not state: after a restore, None
        self.held_int = np.zeros((0, 10), np.int64)
        self.held_num = np.zeros(0, np.float64)
        self.held_tags = np.zeros(0, np.int64)
        self.held_events: list[Event | None] = []

    @property
    def held(self) -> Batch | None:
        h = self.held_int
        if h.shape[0] == 0:
            return None
        return Batch(h[:, 0].astype(np.int8), h[:, 1], h[:, 2].astype(np.int32), h[:, 3],
                     h[:, 4].astype(np.int32), h[:, 5].astype(np.int32), h[:, 6],
                     self.held_num.copy(), h[:, 7].astype(np.int32), h[:, 8], h[:, 9].copy())

    @held.setter
    def held(self, b: Batch | None) -> None:
        if b is None or len(b) == 0:
            self.held_int = np.zeros((0, 10), np.int64)
            self.held_num = np.zeros(0, np.float64)
            return
        self.held_int = np.stack([b.etype, b.ts, b.agent, b.call, b.queue, b.code, b.aux,
                                  b.src, b.seq, b.epochs()], axis=1).astype(np.int64)
        self.held_num = np.asarray(b.num, np.float64).copy()

    def _grow_origins(self, n: int) -> None:
        old = self.ORIG.shape[0]
        if n <= old:
            return
        grown = np.zeros((max(n, 2 * old), kg.O_K), np.int64)
        grown[:old] = self.ORIG
        grown[old:, kg.O_MAX] = K.NO_TIME
        grown[old:, kg.O_EPOCH] = -1
        grown[old:, kg.O_LAST_TS] = K.NO_TIME
        self.ORIG = grown

    # ------------------------------------------------------------------ input
    def check_site(self, events: list[Event]) -> tuple[list[Event], list[Rejected]]:
        """Events for another site are not ours: reject them, by name."""
        if set(map(_SITE, events)) <= {None, self.site}:
            return events, []
        good, bad = [], []
        for i, e in enumerate(events):
            if e.site is None or e.site == self.site:
                good.append(e)
            else:
                bad.append(self.wrong_site(e.site, i))
        return good, bad

    def wrong_site(self, site: str, index: int | None) -> Rejected:
        """The rejection of an event naming another site (element `index` of its payload)."""
        return Rejected("wrong_site", f"event for site {site!r} sent to the engine of site "
                        f"{self.site!r}", index)

    def count_rejected(self, rejections: list[Rejected]) -> None:
        counts = getattr(rejections, "counts", None)
        if counts is not None:  # schema.Rejections: counted in full, detailed in part
            self.rejected.update(counts)
            return
        for r in rejections:
            self.rejected[r.reason] += 1

    def _cap(self, events: list[Event], cols: tuple[list, ...]) -> list[tuple[int, Rejected]]:
        """Reject events that would make the engine keep a new id beyond its cap (agents
        not in the roster, queues, sources, busy reason codes), interning the others in
        arrival order. Cheap when no new id appears (set differences). `cols`: the
        events' `base_columns`."""
        sym, lim = self.sym, self.policy.limits
        _, _, agents, _, queues, srcs, _, _ = cols
        new_a = set(agents) - sym.agents.ids.keys()
        new_a.discard(None)
        new_q = set(queues) - sym.queues.ids.keys()
        new_q.discard(None)
        new_s = set(srcs) - sym.sources.ids.keys()
        new_s.discard(None)
        new_r = set(map(_REASON, events)) - sym.reasons.ids.keys()  # any type's, first
        new_r.discard(None)
        if new_r:
            new_r = {e.reason for e in events if e.type == "busy"} - sym.reasons.ids.keys()
            new_r.discard(None)
        if not (new_a or new_q or new_s or new_r):
            return []
        out = []
        for i, e in enumerate(events):
            why = None
            if e.agent in new_a and e.agent not in sym.agents.ids:
                if len(sym.agents) - self.n_known >= lim.max_unknown_agents:
                    why = (f"agent {e.agent!r} is not in the roster and "
                           f"{lim.max_unknown_agents} such agents are already known "
                           "(limits.max_unknown_agents)")
            if why is None and e.queue in new_q and e.queue not in sym.queues.ids:
                if len(sym.queues) >= lim.max_queues:
                    why = f"queue {e.queue!r}: already {lim.max_queues} queues (limits.max_queues)"
            if why is None and e.src in new_s and e.src not in sym.sources.ids:
                if len(sym.sources) >= lim.max_sources:
                    why = f"src {e.src!r}: already {lim.max_sources} sources (limits.max_sources)"
            if (why is None and e.type == "busy" and e.reason in new_r
                    and e.reason not in sym.reasons.ids):
                if len(sym.reasons) - 1 >= lim.max_reason_codes:
                    why = (f"busy reason {e.reason!r}: already {lim.max_reason_codes} reason "
                           "codes (limits.max_reason_codes)")
            if why is not None:
                out.append((i, Rejected("over_cap", why)))
                continue
            if e.agent is not None:
                sym.agents.id(e.agent)
            if e.queue is not None:
                sym.queues.id(e.queue)
            if e.src is not None and e.seq is not None:
                sym.sources.id(e.src)
            if e.type == "busy" and e.reason:
                sym.reasons.id(e.reason)
        return out

    def intern_new(self, new: dict[str, list[str]], sources_seen: set[str]) -> bool:
        """Intern ids not seen before, in the order given per table (`new["agents"]`,
        "queues", "sources", "reasons"), if all of them fit under the caps `_cap` applies
        (`sources_seen`: every new src, with a seq or not); else intern nothing and return
        False, so the caller feeds event by event and `_cap` rejects what is over."""
        sym, lim = self.sym, self.policy.limits
        fresh = {k: [s for s in dict.fromkeys(v) if s not in getattr(sym, k).ids]
                 for k, v in new.items()}
        n_src = len({s for s in sources_seen if s not in sym.sources.ids})
        if (len(sym.agents) - self.n_known + len(fresh.get("agents", ()))
                > lim.max_unknown_agents
                or len(sym.queues) + len(fresh.get("queues", ())) > lim.max_queues
                or len(sym.sources) + n_src > lim.max_sources
                or len(sym.reasons) - 1 + len(fresh.get("reasons", ()))
                > lim.max_reason_codes):
            return False
        for k, names in fresh.items():
            table = getattr(sym, k)
            for s in names:
                table.id(s)
        return True

    def feed_interned(self, b: Batch, tags, received_ms: int | None = None
                      ) -> list[tuple[Rejected, int, Event | None]]:
        """`feed` for a batch built from events whose ids `intern_new` took (a replay's
        scanned lines, live ingest's scanned payloads): the same admission and kernels,
        the same timing. Rejections carry no event (None): the caller finds it by tag."""
        if len(b) == 0:
            return []
        t0 = time.perf_counter()
        out = self.feed_batch(b, tags, received_ms=received_ms)
        stats.timed(self, time.perf_counter() - t0)
        return out

    def feed(self, events: list[Event], received_ms: int | None = None,
             tags: list[int] | None = None) -> list[tuple[Rejected, int, Event | None]]:
        """Apply checked events; `received_ms` (live only) is when they arrived, to spot
        clocks that are off. Returns the ones the engine itself rejected, now or (held
        earlier) now decided, as (rejection, tag, event): `tags` default to the index in
        `events`. They are counted here; the caller dead-letters or lists them."""
        if not events:
            return []
        t0 = time.perf_counter()
        cols = base_columns(events)
        capped = self._cap(events, cols)
        out: list[tuple[Rejected, int, Event | None]] = []
        if capped:
            drop = {i for i, _ in capped}
            for i, r in capped:
                self.rejected[r.reason] += 1
                out.append((r, tags[i] if tags is not None else i, events[i]))
            keep = [i for i in range(len(events)) if i not in drop]
            events = [events[i] for i in keep]
            tags = [tags[i] for i in keep] if tags is not None else keep
            if not events:
                return out
            cols = None  # read again from what is left
        out += self.feed_batch(to_batch(events, self.sym, cols), tags, events,
                               received_ms=received_ms)
        stats.timed(self, time.perf_counter() - t0)
        return out

    def feed_batch(self, b: Batch, tags=None, events: list[Event] | None = None,
                   final: bool = False, ref: int | None = None,
                   received_ms: int | None = None
                   ) -> list[tuple[Rejected, int, Event | None]]:
        """Admit a batch (dedup, clock guard, month check: kernels.guard), then apply what
        is admitted. Returns the engine's rejections as `feed` does. `ref`: the time the
        clock is about to reach (a tick), if beyond engine time."""
        if len(b) == 0 and self.held_int.shape[0] == 0:
            return []
        self._ensure_capacity()
        self._grow_origins(len(self.sym.sources) + 1)
        n_new = len(b)
        # no tags: a row's tag is its index (ptags None), without building them
        tags = None if tags is None else np.asarray(tags, dtype=np.int64)
        held_b = self.held
        h = 0 if held_b is None else len(held_b)
        if h:
            pool = Batch.concat([held_b, b])
            ptags = np.concatenate([self.held_tags, np.arange(n_new, dtype=np.int64)
                                    if tags is None else tags])
            he = (self.held_events if len(self.held_events) == h else [None] * h)
            pevents = he + (list(events) if events is not None else [None] * n_new)
        else:
            pool, ptags, pevents = b, tags, events
        n = len(pool)
        now = self.now  # rejections name their distance from engine time before the batch
        adm = {"epoch": pool.epochs(), "h": h, "final": final,
               "ref": self.G[K.G_NOW] if ref is None else ref,
               "emit": np.empty(n, np.int64), "status": np.empty(n, np.int8),
               "held": np.empty(n, np.int64), "C": np.empty(kg.C_K, np.int64)}
        self._admit_and_apply(pool, adm, received_ms)
        status, held, nh = adm["status"], adm["held"], int(adm["C"][kg.C_NH])
        # duplicates and gaps go where every reader of the engine looks for them
        self.G[K.G_DUPLICATES] += self.GS[kg.GS_DUPS]
        self.G[K.G_GAPS] = max(0, int(self.G[K.G_GAPS] + self.GS[kg.GS_GAPS]))
        self.GS[kg.GS_DUPS] = self.GS[kg.GS_GAPS] = 0
        out = []
        bad = np.flatnonzero(status >= kg.ST_AHEAD)
        for k in bad.tolist():
            r = Rejected(_GUARD_REASON[int(status[k])],
                         self._guard_detail(pool, k, int(status[k]), now))
            self.rejected[r.reason] += 1
            out.append((r, k if ptags is None else int(ptags[k]),
                        pevents[k] if pevents is not None else None))
        if nh:
            idx = held[:nh]
            self.held = pool.take(idx)
            self.held_tags = idx.copy() if ptags is None else ptags[idx]
            self.held_events = ([pevents[k] for k in idx.tolist()] if pevents is not None
                                else [None] * nh)
        else:
            self.held, self.held_tags, self.held_events = None, np.zeros(0, np.int64), []
        return out

    def _admit_and_apply(self, pool: Batch, adm: dict, received_ms: int | None) -> None:
        """Admit the pool's new rows (kernels.guard) and apply what is emitted, in the
        order emitted. A big pool is admitted in chunks of `admit_chunk` on the side thread
        while the floor kernel applies the rows emitted before: admission reads only the
        pool and its own state, and a row once emitted stays in its place, so this gives
        what admitting all, then applying, gives."""
        n, h, C = len(pool), adm["h"], adm["C"]

        def admit(lo: int, hi: int) -> int:
            call_kernel(self, kg.admit_rows, {**adm, "lo": lo, "hi": hi}, pool)
            if hi == n:
                call_kernel(self, kg.admit_end, adm, pool)
            return int(C[kg.C_NE])

        if n - h <= self.admit_chunk:  # in one call
            ne, _, ordered = call_kernel(self, kg.admit, adm, pool)
            self._apply_emitted(pool, adm["emit"], 0, ne, received_ms, ordered)
            return
        call_kernel(self, kg.admit_start, adm, pool)
        cuts = [*range(h, n, self.admit_chunk), n]
        side = _side_thread()
        fut = side.submit(admit, cuts[0], cuts[1])
        done = 0
        try:
            for c in range(1, len(cuts)):
                ne = fut.result()
                if c + 1 < len(cuts):
                    fut = side.submit(admit, cuts[c], cuts[c + 1])
                done = self._apply_emitted(pool, adm["emit"], done, ne, received_ms)
        finally:
            wait([fut])  # never leave admission running on the pool after an error

    def _apply_emitted(self, pool: Batch, emit: np.ndarray, a: int, b: int,
                       received_ms: int | None, ordered: bool | None = None) -> int:
        """Apply pool rows emit[a:b] (a view of the pool when they are consecutive rows
        in order, as they nearly always are: `ordered`, if known); returns b."""
        if b > a:
            if not (kg.in_order(emit, a, b) if ordered is None else ordered):
                self._apply(pool.take(emit[a:b]), received_ms)
            else:
                lo = int(emit[a])
                self._apply(pool.slice(lo, lo + b - a), received_ms)
        return b

    def _guard_detail(self, pool: Batch, k: int, st: int, now: int | None) -> str:
        from kefu_floor.localtime import local_dt
        ts = int(pool.ts[k])
        when = local_dt(ts, self.policy.tz).strftime("%Y-%m-%d %H:%M:%S")
        lim = self.policy.limits
        if st == kg.ST_MONTH:
            from kefu_floor.localtime import month_str
            return (f"month {month_str(int(pool.aux[k]))} is more than "
                    f"{lim.month_max_apart} month(s) from the event's own ({when[:7]}) "
                    "(limits.month_max_apart)")
        if now is None:
            return f"ts {when} was not confirmed by later events"
        gap = (ts - now) / K.MINUTE_MS
        if st == kg.ST_BEHIND:
            if -gap > lim.max_behind_min:
                return (f"ts {when} is {-gap:.0f} min behind engine time (limit "
                        f"{lim.max_behind_min:g} min, limits.max_behind_min)")
            return (f"ts {when} is in the old time while a clock jump is being confirmed, "
                    "from a source with no recent accepted event")
        return (f"ts {when} is {gap:.0f} min ahead of engine time and later events did "
                f"not confirm the jump (limits.max_jump_min {lim.max_jump_min:g})")

    def settle(self) -> list[tuple[Rejected, int, Event | None]]:
        """End of input: decide what is still held (applied if within
        limits.end_max_jump_days, else rejected). A replay calls it before its report."""
        if self.held is None:
            return []
        empty = Batch.concat([self.held.slice(0, 0)])
        return self.feed_batch(empty, [], [], final=True)

    def finish(self) -> Engine:
        """Book everything due by engine time before a report is read (reads never write):
        a replay's input has ended, so what is still held is decided first (`settle`); a
        live engine's input never ends, so its held events keep waiting. Returns itself,
        so `build_report(eng.finish(), month)` reads as what it is."""
        if not self.live:
            self.settle()
        self.tick()
        return self

    def _apply(self, b: Batch, received_ms: int | None = None) -> None:
        # dedup was done by the admission kernel: the floor kernel's own is bypassed (no
        # source); the seq stays, for the month's inputs digest
        self._agent_hashes()
        cols = list(b.columns())
        cols[8] = np.full(len(b), -1, np.int32)
        b = Batch(*cols)
        self._ensure_capacity()
        stats.retire_days(self)
        side = None  # the side passes (see SIDE_MIN): beside the kernel, or first
        if len(b) >= self.side_min and not stats.reads_call_table(b):
            side = _side_thread().submit(stats.count_batch, self, b, received_ms)
        else:
            stats.count_batch(self, b, received_ms)
        try:
            given = {"start": 0, "ledger_keep_days": self.ledger_keep_days}
            while True:
                given["start"], need = call_kernel(self, kf.apply_batch, given, b)
                if need == kf.NEED_NOTHING:
                    break
                self._grow(need)  # then resume at event j, which was not touched yet
        finally:
            if side is not None:
                side.result()  # and raises here what they raised there
        self._record_dirty(lambda: np.unique(b.agent[b.agent >= 0]).tolist())
        if self.G[K.G_NOW] >= self._ledger_roll_at:  # once a day, not per event
            self._roll_ledger()

    def _agent_hashes(self) -> None:
        """agent_h (the inputs digest's hash of each agent id) for every interned id."""
        names = self.sym.agents.names
        if self.agent_h.shape[0] < len(names):  # once per new agent id, not per event
            self.agent_h = np.concatenate(
                [self.agent_h, hash_ids(names[self.agent_h.shape[0]:])])

    def month_inputs(self, month: int) -> tuple[int, str] | None:
        """(accepted events, digest) of `month`, or None if the month's ring slot holds a
        later month (the engine no longer holds it)."""
        row = self.MIN[month % K.N_MONTH_SLOTS]
        if row[ki.MI_MONTH] > month:
            return None
        if row[ki.MI_MONTH] != month:
            return 0, f"{0:016x}"
        return int(row[ki.MI_N]), f"{int(row[ki.MI_SUM]) & (2**64 - 1):016x}"

    def holds_month(self, month: int) -> bool:
        """Are all of the month's day slots and its month slots still the month's own
        (not yet reused by later days or months)?"""
        from kefu_floor.localtime import month_days

        lo, hi = month_days(month)
        days = np.arange(lo, hi, dtype=np.int64)
        if (self.slot_day[days % K.N_DAY_SLOTS] > days).any():
            return False
        if self.slot_month[month % K.N_MONTH_SLOTS] > month:
            return False
        if month < self.ledger_cutoff():
            return False  # its deductions are dropped (or are at the next day roll)
        return self.month_inputs(month) is not None

    def _grow(self, need: int) -> None:
        if need == kf.NEED_LEDGER:
            self.L = _grow_axis(self.L, 0, self.L.shape[0] * 2, 0.0)
        elif need == kf.NEED_EXCUSES:
            self.X = _grow_axis(self.X, 0, self.X.shape[0] * 2, 0)
        elif need == kf.NEED_INCIDENTS:
            self.INC = _grow_axis(self.INC, 0, self.INC.shape[0] * 2, 0.0)
        elif need == kf.NEED_CALLS:
            old_k, old_v = self.CKEY, self.CVAL
            self._new_call_table(old_k.shape[0] * 2)
            self.G[K.G_CALLS_LIVE] = self.G[K.G_CALLS_USED] = 0
            live = (old_k != K.CALL_EMPTY) & (old_k != K.CALL_TOMBSTONE)
            call_kernel(self, kf.call_table_insert_all, {"keys": old_k[live], "vals": old_v[live]})
        else:
            raise AssertionError(f"kernel asked for unknown growth {need}")

    def _new_call_table(self, capacity: int) -> None:
        self.CKEY = np.zeros(capacity, np.int64)
        self.CVAL = np.zeros((capacity, K.CV_K), np.int64)
        self.CKEY2 = np.zeros_like(self.CKEY)  # scratch for in-place compaction
        self.CVAL2 = np.zeros_like(self.CVAL)

    def take_dirty(self) -> set[int] | None:
        """Agents changed since the last call (None = every agent); resets the record.
        Agents whose busy time only grew are apart (`busy_dirty`), taken with it."""
        d, self.dirty = self.dirty, set()
        self.taken_busy, self.busy_dirty = self.busy_dirty, set()
        return d

    def take_booked(self) -> range:
        """Ledger rows booked since the last call (the feed's alerts), as rows of `L` now
        (read them before the engine moves on: a day roll may drop older rows and renumber
        L); resets the record, which counts global rows."""
        base, n = self.ledger_base, self.ledger_booked
        lo = max(min(self.booked_seen, n), base)
        self.booked_seen = n
        return range(lo - base, n - base)

    _WATCH = [K.A_STATE, K.A_FLAGS, K.A_CURSOR, K.A_PHASE, K.A_CTX_DAY]

    def tick(self, t: int | None = None) -> None:
        """Move engine time to t (default: where it is) and bring every agent up to it, so
        deadlines and busy crossings due by then are booked."""
        if self.G[K.G_START] == K.NO_TIME:
            return
        t = int(self.G[K.G_NOW] if t is None else t)
        if self.held is not None:  # the clock may reach what is held: apply it first
            self.feed_batch(self.held.slice(0, 0), [], [], ref=max(t, int(self.G[K.G_NOW])))
        self._tick(t)

    def _tick(self, t: int) -> None:
        before = self.A[:, self._WATCH].copy()
        booked = int(self.G[K.G_LEDGER_N])
        stats.retire_days(self)
        given = {"t": t, "start": 0}
        while True:
            i = given["start"] = call_kernel(self, kf.advance_all, given)
            if i < 0:
                break
            self._grow(kf.NEED_LEDGER)

        # a tick changes an agent's timers/flags or books a deduction (dirty), or only
        # adds to a busy agent's busy time (busy_dirty: the read side patches just that)
        # (rows of agent ids: A has spare rows past them, which a tick also walks)
        n = len(self.sym.agents)
        moved = (self.A[:n, self._WATCH] != before[:n]).any(axis=1)
        self._record_dirty(lambda: (
            np.flatnonzero(moved).tolist()
            + self.L[booked: self.G[K.G_LEDGER_N], K.L_AGENT].astype(int).tolist()))
        self.busy_dirty.update(
            np.flatnonzero((self.A[:n, K.A_STATE] == K.ST_BUSY) & ~moved).tolist())
        if self.G[K.G_NOW] >= self._ledger_roll_at:
            self._roll_ledger()

    def _record_dirty(self, ids) -> None:
        """Note which agents changed (`ids()` of them). Engine time crossing a minute
        moves the rolling windows of many more: the read side finds those itself (it
        compares the window sums), so they are not listed here."""
        if self.dirty is not None:
            self.dirty.update(ids())

    # ------------------------------------------------------------------ reading
    @property
    def now(self) -> int | None:
        t = int(self.G[K.G_NOW])
        return None if t == K.NO_TIME else t

    @property
    def ledger(self) -> np.ndarray:
        return self.L[: self.G[K.G_LEDGER_N]]

    @property
    def ledger_booked(self) -> int:
        """Rows ever booked: the global row number the next booking gets (a count that only
        grows, unlike len(ledger), which a day roll shrinks)."""
        return self.ledger_base + int(self.G[K.G_LEDGER_N])

    def ledger_rows(self, month: int) -> np.ndarray:
        """Rows of `ledger` (local, in booking order) whose day is in `month`: only the
        month's span of the index and the rows booked since the last day roll are read."""
        from kefu_floor.localtime import month_days

        lo, hi = month_days(month)
        L, base = self.ledger, self.ledger_base
        tail = min(max(self._lspan_n - base, 0), L.shape[0])
        a, z = self._lspan.get(month, (base, base))
        parts = []
        for r0, r1 in ((max(a - base, 0), min(z - base, tail)), (tail, L.shape[0])):
            if r1 > r0:
                d = L[r0:r1, K.L_DAY]
                parts.append(r0 + np.flatnonzero((d >= lo) & (d < hi)))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def ledger_rows_by_agent(self, month: int) -> dict[int, list[int]]:
        """`ledger_rows(month)` grouped by agent id, in booking order (the report's and the
        close's per-agent deductions)."""
        rows = self.ledger_rows(month)
        out: dict[int, list[int]] = {}
        for r, a in zip(rows.tolist(), self.ledger[rows, K.L_AGENT].astype(np.int64).tolist()):
            out.setdefault(a, []).append(r)
        return out

    def ledger_cutoff(self) -> int:
        """The first month whose deductions the ledger keeps at engine time: a month goes
        once engine time is `limits.ledger_keep_days` (default: the engine's day slots) past
        its first day, which is when its first day's slot is taken by a later day."""
        t = int(self.G[K.G_NOW])
        if t == K.NO_TIME:
            return -(2**31)
        day = int(kc.local_day(self.tz_utc, self.tz_off, t))
        return int(kc.month_of_day(day - self.ledger_keep_days)) + 1

    def _roll_ledger(self) -> None:
        """At the first batch or tick past a local midnight: drop the ledger's rows of the
        months no longer kept (`ledger_cutoff`) and index the rest by month. A month's rows
        are dropped as the longest prefix of rows older than the cutoff, so global row
        numbers stay `ledger_base + local row`; a straggler (a row of an old month booked
        after a newer month's, e.g. a night shift ended after midnight) goes at a later
        roll. Whatever the batching or ticking, the rows kept are the same (the prefix of a
        later cutoff contains every earlier one's)."""
        from kefu_floor.localtime import month_days

        t = int(self.G[K.G_NOW])
        if t == K.NO_TIME:
            return
        self._ledger_roll_at = int(kc.next_local_midnight(self.tz_utc, self.tz_off, t))
        first = month_days(self.ledger_cutoff())[0]
        n = int(self.G[K.G_LEDGER_N])
        days = self.L[:n, K.L_DAY]
        old = days < first  # rows dropped earlier (DROPPED_DAY) are old too
        k = n if old.all() else int(np.argmin(old))
        lim = n if self.ledger_pin is None else min(n, max(0, self.ledger_pin - self.ledger_base))
        k = min(k, lim)
        # old rows past the prefix (stragglers): dropped where they stand, their day
        # cleared so no month, report or excuse sees them; their place goes when the
        # prefix reaches it (a later roll)
        strag = k + np.flatnonzero(old[k:lim] & (days[k:lim] != self.DROPPED_DAY))
        if len(strag):
            self._count_gone(self.L[strag])
            self.L[strag, K.L_DAY] = self.DROPPED_DAY
        if k:
            self._drop_ledger(k)
        self._index_ledger()

    def _count_gone(self, rows: np.ndarray) -> None:
        """Add dropped rows to `ledger_gone` (per agent and rule)."""
        rows = rows[rows[:, K.L_DAY] != self.DROPPED_DAY]
        if not len(rows):
            return
        key = rows[:, K.L_AGENT].astype(np.int64) * K.N_RULES + rows[:, K.L_RULE].astype(np.int64)
        size = (int(key.max()) // K.N_RULES + 1) * K.N_RULES
        counts = np.bincount(key, minlength=size).reshape(-1, K.N_RULES)
        if counts.shape[0] > self.ledger_gone.shape[0]:
            self.ledger_gone = _grow_axis(self.ledger_gone, 0, counts.shape[0], 0)
        self.ledger_gone[: counts.shape[0]] += counts

    def _drop_ledger(self, k: int) -> None:
        n = int(self.G[K.G_LEDGER_N])
        self._count_gone(self.L[:k])
        rest = n - k
        cap = self.L.shape[0]
        want = max(4 * kf.LEDGER_RESERVE, 2 * (rest + kf.LEDGER_RESERVE))
        if cap >= 2 * want:  # most of it is free now: give the memory back
            L = aligned((want, K.L_K), np.float64)
            L[:rest] = self.L[k:n]
            self.L = L
        else:
            self.L[:rest] = self.L[k:n]  # overlapping: numpy copies through a buffer
            self.L[rest:n] = 0.0
        self.G[K.G_LEDGER_N] = rest
        self.ledger_base += k

    def _index_ledger(self) -> None:
        """Extend the month index (`_lspan`) over the rows booked since the last roll and
        forget the months dropped. The spans are replaced, never changed in place, so a
        `frozen_copy` taken before keeps its own."""
        base, total = self.ledger_base, self.ledger_booked
        spans = {m: (max(a, base), z) for m, (a, z) in self._lspan.items() if z > base}
        lo = max(self._lspan_n, base)
        if total > lo:
            days = self.L[lo - base: total - base, K.L_DAY]
            live = np.flatnonzero(days != self.DROPPED_DAY)
            # the kernels' own calendar (kernels.clock), once per distinct day
            u, inv = np.unique(days[live].astype(np.int64), return_inverse=True)
            months = np.array([kc.month_of_day(d) for d in u.tolist()], np.int64)[inv]
            for m in np.unique(months).tolist():
                at = live[months == m]
                a, z = lo + int(at[0]), lo + int(at[-1]) + 1
                if m in spans:
                    a = min(a, spans[m][0])
                spans[m] = (a, z)
        self._lspan, self._lspan_n = spans, total

    def ledger_restored(self) -> None:
        """After a checkpoint is loaded: the index and the roll time are rebuilt (they are
        not state), and the read side has been handed every row."""
        self._lspan, self._lspan_n = {}, self.ledger_base
        self._ledger_roll_at = K.NO_TIME
        self.booked_seen = self.ledger_booked
        self._index_ledger()

    @property
    def incidents(self) -> np.ndarray:
        """Rows of I in use (kernels.layout I_*), in order of arrival."""
        return self.INC[: self.G[K.G_INCIDENT_N]]

    def counters(self) -> dict[str, int]:
        g = self.G
        return {"accepted": int(g[K.G_ACCEPTED]),
                "duplicates": int(g[K.G_DUPLICATES]), "gaps": int(g[K.G_GAPS]),
                "too_old": int(g[K.G_TOO_OLD]),
                "orphans": int(g[K.G_ORPHANS]), "implicit_sign_ins": int(g[K.G_IMPLICIT_SIGN_IN]),
                "ledger_overflow": int(g[K.G_LEDGER_OVERFLOW]),
                "seq_restarts": int(self.GS[kg.GS_RESTARTS]),
                "seq_jumps": int(self.GS[kg.GS_SEQ_JUMPS]),
                "clock_jumps": int(self.GS[kg.GS_JUMPS]),
                "held": 0 if self.held is None else len(self.held),
                "rejected": sum(self.rejected.values()),
                **{f"rejected_{k}": v for k, v in sorted(self.rejected.items())}}
