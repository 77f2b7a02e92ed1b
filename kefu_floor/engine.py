"""The engine: owns the state arrays, grows them as ids appear, and calls the kernels.

It knows nothing of where events come from (file, MQTT) or where results go (report,
feed, Redis): `feed` takes checked events or a ready batch, `tick` moves the clock,
`report` (in `kefu_floor.report`) reads the arrays.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from kefu_floor.batch import Batch, Symbols, to_batch
from kefu_floor.errors import Rejected
from kefu_floor.localtime import offset_table
from kefu_floor.policy import Policy
from kefu_floor.roster import Roster, Shift
from kefu_floor.schema import Event
from kefu_floor import stats
from kernels import floor as kf
from kernels import layout as K


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
    out = np.full(shape, fill, arr.dtype)
    idx = [slice(None)] * arr.ndim
    idx[axis] = slice(0, arr.shape[axis])
    out[tuple(idx)] = arr
    return out


class Engine:
    def __init__(self, setup: Setup):
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
        self.AROLL = np.zeros((K.N_ROLL, 0, K.R_K))
        self.slot_day = np.full(K.N_DAY_SLOTS, -(2**62), np.int64)
        self.slot_month = np.full(K.N_MONTH_SLOTS, -(2**62), np.int64)
        self.roll_min = np.full(K.N_ROLL, -(2**62), np.int64)
        self.QROLL = np.zeros((K.N_ROLL, 0, K.Q_K))
        self.QDAY = np.zeros((K.N_DAY_SLOTS, 0, K.Q_K))
        self.QTR = np.zeros((K.N_TR, 0, K.Q_K))  # quarter-hour buckets: intraday trend
        self.tr_slot = np.full(K.N_TR, -(2**62), np.int64)
        self.qwait = np.zeros(0, np.int64)
        self._new_call_table(1024)
        self.L = np.zeros((4 * kf.LEDGER_RESERVE, K.L_K))
        self.X = np.zeros((16, K.X_K), np.int64)
        self.INC = np.zeros((16, K.I_K))  # incidents, rows [0, G_INCIDENT_N) in use
        self.src_seq = np.zeros(0, np.int64)
        self.excused_reason = np.zeros(0, np.bool_)
        self.G = np.zeros(K.G_K, np.int64)
        self.G[K.G_NOW] = K.NO_TIME
        self.G[K.G_START] = K.NO_TIME
        # which agents changed since the read side last looked (None: all of them)
        self.dirty: set[int] | None = None
        stats.init(self)  # exporter and telemetry-health arrays (kefu_floor.stats)
        self._ensure_capacity(n)

    # ------------------------------------------------------------------ set-up
    def _build_shifts(self, shifts: list[Shift]) -> None:
        by_agent = sorted(shifts, key=lambda s: (self.sym.agents.ids[s.agent], s.start_ms))
        S = np.zeros((len(by_agent), K.S_K), np.int64)
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
        self.BK = np.array(brks, np.int64).reshape(len(brks), 2)
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
                kf.start_agents(self.A, self.S, self.G[K.G_NOW], old, cap)
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

    # ------------------------------------------------------------------ input
    def check_site(self, events: list[Event]) -> tuple[list[Event], list[Rejected]]:
        """Events for another site are not ours: reject them, by name."""
        if {e.site for e in events} <= {None, self.site}:
            return events, []
        good, bad = [], []
        for i, e in enumerate(events):
            if e.site is None or e.site == self.site:
                good.append(e)
            else:
                bad.append(Rejected("wrong_site", f"event for site {e.site!r} sent to the "
                                    f"engine of site {self.site!r}", i))
        return good, bad

    def count_rejected(self, rejections: list[Rejected]) -> None:
        for r in rejections:
            self.rejected[r.reason] += 1

    def feed(self, events: list[Event], received_ms: int | None = None) -> None:
        """Apply checked events; `received_ms` (live only) is when they arrived, to spot
        clocks that are off."""
        if events:
            t0 = time.perf_counter()
            self.feed_batch(to_batch(events, self.sym), received_ms)
            stats.timed(self, time.perf_counter() - t0)

    def feed_batch(self, b: Batch, received_ms: int | None = None) -> None:
        if len(b) == 0:
            return
        self._ensure_capacity()
        stats.before_batch(self, b, received_ms)
        minute = self.G[K.G_NOW] // K.MINUTE_MS
        j = 0
        while True:
            j, need = kf.apply_batch(
                *b.columns(),
                self.A, self.S, self.BK, self.DACC, self.slot_day, self.MACC,
                self.slot_month, self.QROLL, self.QDAY, self.AROLL, self.roll_min, self.CKEY,
                self.CVAL, self.CKEY2, self.CVAL2, self.qwait, self.L, self.X, self.src_seq,
                self.G, self.P, self.excused_reason, self.tz_utc, self.tz_off, self.INC, j,
                self.QTR, self.tr_slot)
            if need == kf.NEED_NOTHING:
                break
            self._grow(need)  # then resume at event j, which was not touched yet
        self._record_dirty(minute, lambda: np.unique(b.agent[b.agent >= 0]).tolist())

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
            kf.call_table_insert_all(self.CKEY, self.CVAL, old_k[live], old_v[live], self.G)
        else:
            raise AssertionError(f"kernel asked for unknown growth {need}")

    def _new_call_table(self, capacity: int) -> None:
        self.CKEY = np.zeros(capacity, np.int64)
        self.CVAL = np.zeros((capacity, K.CV_K), np.int64)
        self.CKEY2 = np.zeros_like(self.CKEY)  # scratch for in-place compaction
        self.CVAL2 = np.zeros_like(self.CVAL)

    def take_dirty(self) -> set[int] | None:
        """Agents changed since the last call (None = every agent); resets the record."""
        d, self.dirty = self.dirty, set()
        return d

    _WATCH = [K.A_STATE, K.A_FLAGS, K.A_CURSOR, K.A_PHASE, K.A_CTX_DAY]

    def tick(self, t: int | None = None) -> None:
        """Move engine time to t (default: where it is) and bring every agent up to it, so
        deadlines and busy crossings due by then are booked."""
        if self.G[K.G_START] == K.NO_TIME:
            return
        t = int(self.G[K.G_NOW] if t is None else t)
        before = self.A[:, self._WATCH].copy()
        minute = self.G[K.G_NOW] // K.MINUTE_MS
        booked = int(self.G[K.G_LEDGER_N])
        stats.retire_days(self)
        i = 0
        while True:
            i = kf.advance_all(t, self.A, self.S, self.BK, self.DACC, self.slot_day,
                               self.QDAY, self.QROLL, self.AROLL, self.roll_min, self.L, self.X,
                               self.G, self.P, self.excused_reason, self.tz_utc, self.tz_off, i)
            if i < 0:
                break
            self._grow(kf.NEED_LEDGER)

        def changed() -> list[int]:
            # a tick changes an agent's timers/flags, its busy time, or books a deduction
            moved = ((self.A[:, self._WATCH] != before).any(axis=1)
                     | (self.A[:, K.A_STATE] == K.ST_BUSY))
            return (np.flatnonzero(moved).tolist()
                    + self.L[booked: self.G[K.G_LEDGER_N], K.L_AGENT].astype(int).tolist())

        self._record_dirty(minute, changed)

    def _record_dirty(self, minute_before: int, ids) -> None:
        """Note which agents changed: `ids()` of them, or every agent (None) once engine
        time crossed a minute, since the rolling windows then moved for all of them."""
        if self.dirty is None:
            return
        if self.G[K.G_NOW] // K.MINUTE_MS != minute_before:
            self.dirty = None
        else:
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
    def incidents(self) -> np.ndarray:
        """Rows of I in use (kernels.layout I_*), in order of arrival."""
        return self.INC[: self.G[K.G_INCIDENT_N]]

    def counters(self) -> dict[str, int]:
        g = self.G
        return {"accepted": int(g[K.G_ACCEPTED]), "duplicates": int(g[K.G_DUPLICATES]),
                "gaps": int(g[K.G_GAPS]), "too_old": int(g[K.G_TOO_OLD]),
                "orphans": int(g[K.G_ORPHANS]), "implicit_sign_ins": int(g[K.G_IMPLICIT_SIGN_IN]),
                "ledger_overflow": int(g[K.G_LEDGER_OVERFLOW]),
                "rejected": sum(self.rejected.values()),
                **{f"rejected_{k}": v for k, v in sorted(self.rejected.items())}}
