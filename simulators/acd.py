"""A discrete-event model of an ACD floor that emits contract telemetry (DESIGN.md §3.1).

Pure: no I/O. `Floor(Scenario(...))` generates the people (`roster_rows`), their shifts
(`schedule_rows`) and then, when iterated, the events the site's gateways would send, in
non-decreasing `ts` order:

    floor = Floor(Scenario(agents=40, days=1, seed=7))
    for tick_ms, events in floor.ticks():   # one list per simulated second that has events
        sink(events)                        # a file writer, or a broker publisher

Model (floor mode):

- Agents work generated early (08:00-16:30, lunch 30 min) and evening (14:30-23:00, break
  15 min) shifts, five days in seven, alternating weekly; breaks are staggered in three
  groups around 12:00-12:30 and 17:30-17:45 (`stagger_breaks=False` puts everyone on those
  exact windows). Teams of about `team_size` with one leader each; about 10% on probation.
- Calls arrive as a Poisson process, piecewise constant per hour over the opening hours
  with an intraday curve whose mean is `rate_per_hour`; each picks a queue by weight.
- The ACD offers a call to the longest-idle ready agent, else queues it FIFO. The seat
  rings for a few seconds; with a per-agent probability it rings out (`no_answer`) and the
  call goes back to the head of the queue. Talk times are lognormal around the agent's AHT
  (agents differ a little), then wrap-up. Callers in the queue give up after an
  exponential patience (`abandon`). Post-call surveys and sales follow some calls.
- Per-agent behaviour rates: late sign-in, long busy (示忙), late return from a break,
  early leave (signing out early, or going busy before the end), absence; plus ordinary
  short busy spells, excused training/meetings, and a share of agents who sign out for
  lunch instead of going busy.
- Manual entries a centre would key in (QA scores for the month, praise and complaint
  adjustments, a rare floor-rule deduction, an approved appeal of a late sign-in) come on
  their own sources; `is_manual` tells which topic they belong to.

M/M/c mode (`Scenario.mmc`): c agents signed in and ready for the whole run except while
talking; constant arrival rate; exponential talk; no ring time, no-answers, wrap-up,
abandonment, breaks or behaviours. This is the queue Erlang C describes
(`simulators.erlang`), and the test suite checks the emitted events against it.

Gateways: `acd` sends agent states and call events, `ivr` the surveys, `crm` the sales,
`qa` and `leader` the manual entries; each numbers its events 1, 2, 3, ... in `seq`.
Deterministic: the same scenario (seed included) gives the same events, byte for byte.
"""
from __future__ import annotations

import datetime as dt
import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

import numpy as np

from kefu_floor.schema import Event

SECOND = 1_000
MINUTE = 60_000
HOUR = 3_600_000

# Calls per hour relative to the day's mean, for the opening hours 08:00..23:00 (15 hours):
# a morning ramp, a dip at lunch, the afternoon peak, a quieter evening.
DEFAULT_CURVE = (0.70, 1.00, 1.15, 1.10, 0.85, 0.95, 1.30, 1.45, 1.20, 1.00, 0.95, 1.00,
                 0.95, 0.80, 0.60)

MANUAL_TYPES = frozenset({"qa", "floor", "adjust", "excuse"})

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高梁郑谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛",
         "明", "超", "秀英", "霞", "平", "刚", "桂英", "婷", "雪", "琳", "晨", "宇", "欣", "佳",
         "怡", "浩", "思远", "梦琪", "子涵", "雨萱", "文博", "嘉怡", "俊杰", "晓燕", "海波")

FLOOR_RULES = (("桌面不整洁", -10.0), ("吸烟", -10.0), ("在机房接打私人电话", -20.0),
               ("离开座位未示忙", -20.0))


def is_manual(e: Event) -> bool:
    """True for entries that go on `kefu/{site}/manual` rather than `.../telemetry`."""
    return e.type in MANUAL_TYPES


@dataclass(frozen=True)
class Scenario:
    """Everything that shapes a simulated run. Times in seconds unless the name says."""

    mode: str = "floor"  # "floor" | "mmc"
    agents: int = 40
    days: int = 1
    start: dt.date = dt.date(2026, 11, 3)
    seed: int = 0
    tz: str = "Asia/Shanghai"
    site: str | None = None  # stamped on every event when set

    # ---- demand
    rate_per_hour: float | None = None  # mean over the opening hours; None: see mean_rate
    open_hour: int = 8
    close_hour: int = 23
    curve: tuple[float, ...] | None = DEFAULT_CURVE  # per opening hour; None = flat
    queues: tuple[tuple[str, float], ...] = (("aftersale", 0.65), ("presale", 0.35))

    # ---- handling
    aht_s: float = 135.0
    talk: str = "lognormal"  # "lognormal" | "exponential"
    talk_sigma: float = 0.55  # lognormal shape
    agent_aht_spread: float = 0.08  # sd of log(agent AHT / aht_s)
    ring_s: tuple[float, float] = (2.0, 8.0)  # uniform ring time before answering
    no_answer_p: float = 0.02  # mean per-offer ring-no-answer probability
    ring_timeout_s: float = 15.0
    patience_s: float | None = 100.0  # mean (exponential); None = callers never give up
    wrap_s: float = 12.0  # mean (exponential); 0 = no wrap-up
    survey_p: float = 0.35
    satisfied: float = 0.91  # mean satisfied share of survey answers
    satisfied_spread: float = 0.05  # sd across agents
    neutral_share: float = 0.6  # of the answers that are not satisfied
    sale_p: dict | tuple = (("presale", 0.15), ("aftersale", 0.02))
    sale_mean_yuan: float = 260.0

    # ---- people and shifts
    team_size: int = 15
    probation_share: float = 0.10
    rest_days: bool = True  # five days on, two off, staggered
    stagger_breaks: bool = True
    early_grace_min: float = 5.0
    evening_grace_min: float = 3.0  # hand-over shift (POLICY.md)
    break_grace_min: float = 1.0  # policy's break grace, to make late returns late

    # ---- behaviour: mean rates per shift (per break for late returns); agents differ
    late_sign_in: float = 0.07
    long_busy: float = 0.10
    late_return: float = 0.06
    early_leave: float = 0.05
    absence: float = 0.03
    busy_spells_per_hour: float = 0.4  # ordinary short 示忙 spells
    busy_spell_mean_s: float = 150.0
    training_p: float = 0.06  # an excused training/meeting spell in a shift
    lunch_sign_out_share: float = 0.3  # agents who sign out for lunch instead of going busy

    # ---- manual entries
    manual: bool = True
    praise_p: float = 0.03  # per shift
    complaint_p: float = 0.01
    floor_rule_p: float = 0.015
    excuse_p: float = 0.25  # of late sign-ins, appealed and approved

    # ---- M/M/c mode
    hours: float = 8.0  # length of the run

    @staticmethod
    def mmc(servers: int, erlangs: float, aht_s: float = 180.0, hours: float = 8.0,
            seed: int = 0, start: dt.date = dt.date(2026, 11, 3), **kw) -> "Scenario":
        """An M/M/c queue: `servers` agents, offered load `erlangs` = λ × AHT."""
        return Scenario(mode="mmc", agents=servers, rate_per_hour=erlangs / aht_s * 3600.0,
                        aht_s=aht_s, hours=hours, seed=seed, start=start, talk="exponential",
                        curve=None, queues=(("mmc", 1.0),), ring_s=(0.0, 0.0),
                        no_answer_p=0.0, patience_s=None, wrap_s=0.0, survey_p=0.0,
                        sale_p=(), agent_aht_spread=0.0, manual=False, **kw)

    def check(self) -> None:
        if self.mode not in ("floor", "mmc"):
            raise ValueError(f"mode {self.mode!r}: use floor or mmc")
        if self.agents < 1:
            raise ValueError("agents: need at least one")
        if self.days < 1:
            raise ValueError("days: need at least one")
        if self.talk not in ("lognormal", "exponential"):
            raise ValueError(f"talk {self.talk!r}: use lognormal or exponential")
        if self.aht_s <= 0:
            raise ValueError("aht_s must be positive")
        if self.rate_per_hour is not None and self.rate_per_hour < 0:
            raise ValueError("rate_per_hour must be >= 0")
        if not 0 <= self.open_hour < self.close_hour <= 24:
            raise ValueError("opening hours must satisfy 0 <= open_hour < close_hour <= 24")
        if self.curve is not None and len(self.curve) != self.close_hour - self.open_hour:
            raise ValueError("curve needs one weight per opening hour")
        if not self.queues or any(w < 0 for _, w in self.queues):
            raise ValueError("queues: at least one, with weights >= 0")
        if self.mode == "mmc" and self.hours <= 0:
            raise ValueError("hours must be positive")

    @property
    def mean_rate(self) -> float:
        """Calls per hour, averaged over the opening hours. By default 7.5 per agent at
        work that day: about 93% answered within 20 s, with dips at breaks and peaks."""
        if self.rate_per_hour is not None:
            return float(self.rate_per_hour)
        return 7.5 * self.agents * (5 / 7 if self.rest_days else 1.0)


# agent states
OUT, READY, BUSY, RING, TALK, WRAP = range(6)
IN_CALL = (RING, TALK, WRAP)
# why an agent is busy / out
NONE, SPELL, BREAK, LEAVE = range(4)
# call states
WAITING, RINGING, TALKING, DONE, ABANDONED = range(5)
# heap event kinds (index into Floor._handlers)
(K_DAY, K_SEGMENT, K_ARRIVE, K_ANSWER, K_RONA, K_HANGUP, K_WRAP_END, K_ABANDON, K_SURVEY,
 K_SIGN_IN, K_SIGN_OUT, K_BREAK_START, K_BREAK_END, K_SPELL, K_SPELL_END, K_LEAVE_BUSY,
 K_MANUAL) = range(17)


class _Agent:
    __slots__ = ("idx", "id", "seat", "team", "role", "probation", "st", "kind", "token",
                 "ver", "pending", "call", "aht_ms", "p_no_answer", "p_satisfied",
                 "p_late", "p_long_busy", "p_late_return", "p_early_leave", "p_absent",
                 "lunch_out", "quality")

    def __init__(self, idx: int, aid: str):
        self.idx = idx
        self.id = aid
        self.seat = f"S{idx + 1:03d}"
        self.st = OUT
        self.kind = NONE
        self.token = 0
        self.ver = 0
        self.pending: list = []
        self.call = None


class _Call:
    __slots__ = ("id", "queue", "t_enq", "deadline", "st")

    def __init__(self, cid: str, queue: str, t_enq: int, deadline: int):
        self.id = cid
        self.queue = queue
        self.t_enq = t_enq
        self.deadline = deadline
        self.st = WAITING


@dataclass
class PlannedShift:
    agent: int
    date: dt.date
    kind: str  # "early" | "evening"
    start: int  # ms
    end: int
    breaks: tuple[tuple[int, int], ...]
    grace_ms: int
    row: dict = field(default_factory=dict)  # the schedule.csv row


class _Draws:
    """Buffered draws from one generator: cheap per-call scalars, still deterministic."""

    def __init__(self, fn: Callable[[int], np.ndarray], n: int = 4096):
        self.fn = fn
        self.n = n
        self.buf: list[float] = []
        self.i = 0

    def __call__(self) -> float:
        if self.i >= len(self.buf):
            self.buf = self.fn(self.n).tolist()
            self.i = 0
        v = self.buf[self.i]
        self.i += 1
        return v


@dataclass
class Stats:
    calls: int = 0
    answered: int = 0
    answered_in_20s: int = 0
    abandoned: int = 0
    wait_ms_sum: int = 0
    no_answers: int = 0
    events: int = 0


class Floor:
    """One simulated run. Iterate `ticks()` (or `events()`) once."""

    def __init__(self, scenario: Scenario):
        scenario.check()
        self.scn = s = scenario
        self.tzinfo = ZoneInfo(s.tz)
        seeds = np.random.SeedSequence(s.seed).spawn(6)
        gens = [np.random.Generator(np.random.PCG64(x)) for x in seeds]
        self.r_people, self.r_arr, self.r_svc, self.r_cust, self.r_beh, self.r_man = gens
        self.u_svc = _Draws(self.r_svc.random)
        self.z_svc = _Draws(self.r_svc.standard_normal)
        self.e_svc = _Draws(self.r_svc.standard_exponential)
        self.u_cust = _Draws(self.r_cust.random)
        self.e_cust = _Draws(self.r_cust.standard_exponential)
        self.stats = Stats()
        self._make_people()
        self.shifts: list[PlannedShift] = self._make_schedule() if s.mode == "floor" else []
        self._ran = False

    # ------------------------------------------------------------------ set-up
    def _lms(self, day: dt.date, hhmm: str) -> int:
        h, m = (int(x) for x in hhmm.split(":"))
        extra = 0
        if h >= 24:
            h, extra = h - 24, 1
        d = dt.datetime.combine(day + dt.timedelta(days=extra), dt.time(h, m),
                                tzinfo=self.tzinfo)
        return int(d.timestamp() * 1000)

    def _make_people(self) -> None:
        s, r = self.scn, self.r_people
        n = s.agents
        width = max(3, len(str(n)))
        self.agents = [_Agent(i, f"A{i + 1:0{width}d}") for i in range(n)]
        n_teams = max(1, round(n / s.team_size)) if s.mode == "floor" else 1
        self.people_rows = []
        leaders = set()
        for i, a in enumerate(self.agents):
            team = i * n_teams // n
            a.team = f"T{team + 1:02d}"
            if s.mode == "floor" and (i == 0 or (i - 1) * n_teams // n != team):
                leaders.add(i)
        # per-agent traits, drawn in a fixed order whatever the mode
        aht_mul = np.exp(r.normal(0.0, 1.0, n) * s.agent_aht_spread
                         - s.agent_aht_spread ** 2 / 2)
        noans = r.gamma(0.8, 1 / 0.8, n) * s.no_answer_p
        sat = np.clip(r.normal(s.satisfied, s.satisfied_spread, n), 0.3, 1.0)
        mult = r.gamma(1.5, 1 / 1.5, (5, n))
        lunch_out = r.random(n) < s.lunch_sign_out_share
        quality = np.clip(r.normal(87.0, 5.0, n), 55.0, 99.0)
        probation = r.random(n) < s.probation_share
        days_hired = r.integers(100, 2200, n)
        days_prob = r.integers(5, 80, n)
        products = r.integers(1, 7, n)
        given = r.integers(0, len(GIVEN), n)
        sur = r.integers(0, len(SURNAMES), n)
        for i, a in enumerate(self.agents):
            a.role = "leader" if i in leaders else "agent"
            a.probation = bool(probation[i]) and a.role == "agent" and s.mode == "floor"
            a.aht_ms = s.aht_s * 1000.0 * float(aht_mul[i])
            a.p_no_answer = min(0.5, float(noans[i]))
            a.p_satisfied = float(sat[i])
            a.p_late = min(0.9, s.late_sign_in * mult[0, i])
            a.p_long_busy = min(0.9, s.long_busy * mult[1, i])
            a.p_late_return = min(0.9, s.late_return * mult[2, i])
            a.p_early_leave = min(0.9, s.early_leave * mult[3, i])
            a.p_absent = min(0.9, s.absence * mult[4, i])
            a.lunch_out = bool(lunch_out[i])
            a.quality = float(quality[i])
            hired = s.start - dt.timedelta(days=int(days_prob[i] if a.probation
                                                    else days_hired[i]))
            self.people_rows.append({
                "agent": a.id, "name": SURNAMES[sur[i]] + GIVEN[given[i]], "team": a.team,
                "role": a.role, "hired": hired.isoformat(),
                "probation": "true" if a.probation else "false",
                "products": str(int(products[i]))})

    def _make_schedule(self) -> list[PlannedShift]:
        s = self.scn
        out = []
        for d in range(s.days):
            day = s.start + dt.timedelta(days=d)
            week = d // 7
            for a in self.agents:
                i = a.idx
                if s.rest_days and (d + i) % 7 in (5, 6):
                    continue
                early = (i + week) % 2 == 0
                grp = (i // 2) % 3 if s.stagger_breaks else 1
                if early:
                    st, en, grace = "08:00", "16:30", s.early_grace_min
                    b0 = 11 * 60 + 30 + 30 * grp
                    brk = (b0, b0 + 30)
                else:
                    st, en, grace = "14:30", "23:00", s.evening_grace_min
                    b0 = 17 * 60 + 15 + 15 * grp
                    brk = (b0, b0 + 15)
                bs = f"{brk[0] // 60:02d}:{brk[0] % 60:02d}"
                be = f"{brk[1] // 60:02d}:{brk[1] % 60:02d}"
                out.append(PlannedShift(
                    agent=i, date=day, kind="early" if early else "evening",
                    start=self._lms(day, st), end=self._lms(day, en),
                    breaks=((self._lms(day, bs), self._lms(day, be)),),
                    grace_ms=round(grace * MINUTE),
                    row={"agent": a.id, "date": day.isoformat(), "start": st, "end": en,
                         "breaks": f"{bs}-{be}", "grace_min": f"{grace:g}"}))
        return out

    # ------------------------------------------------------------------ outputs
    def roster_rows(self) -> list[dict[str, str]]:
        """roster.csv rows (DESIGN.md §3.2), in agent order."""
        return list(self.people_rows)

    def schedule_rows(self) -> list[dict[str, str]]:
        """schedule.csv rows (DESIGN.md §3.2), by date then agent."""
        return [sh.row for sh in self.shifts]

    def span(self) -> tuple[int, int]:
        """(first, last) simulated instant in ms, roughly: for progress bars."""
        s = self.scn
        if s.mode == "mmc":
            t0 = self._lms(s.start, f"{s.open_hour:02d}:00")
            return t0, t0 + int(s.hours * HOUR)
        return (self._lms(s.start, "07:30"),
                self._lms(s.start + dt.timedelta(days=s.days - 1), "23:30"))

    # ------------------------------------------------------------------ the run
    def events(self) -> Iterator[Event]:
        for _, evs in self.ticks():
            yield from evs

    def ticks(self, include_empty: bool = False) -> Iterator[tuple[int, list[Event]]]:
        """(tick start ms, events) per simulated second, in time order. Empty seconds are
        skipped unless `include_empty` (a real-time publisher may want the beat)."""
        if self._ran:
            raise RuntimeError("a Floor runs once; build a new one for another run")
        self._ran = True
        self._start_run()
        heap = self._heap
        handlers = self._handlers
        pop = heapq.heappop
        last_tick = None
        while True:
            while heap:
                t, _, kind, x, y = pop(heap)
                handlers[kind](t, x, y)
                if not heap:
                    self._finish(t)
                if self._out and (not heap or heap[0][0] // SECOND != t // SECOND):
                    break
            else:
                return
            out = self._out
            self._out = []
            tick = out[0].ts // SECOND * SECOND
            if include_empty and last_tick is not None:
                for k in range(last_tick + SECOND, tick, SECOND):
                    yield k, []
            last_tick = tick
            self.stats.events += len(out)
            yield tick, out

    def _start_run(self) -> None:
        s = self.scn
        self._heap: list = []
        self._n = 0
        self._out: list[Event] = []
        self._seq: dict[str, int] = {}
        self._queue: deque[_Call] = deque()
        self._ready: list = []
        self._calls = 0
        self._qnames = [q for q, _ in s.queues]
        w = np.array([wt for _, wt in s.queues], float)
        self._qweights = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
        self._sale_p = dict(s.sale_p)
        self._late_shifts: list[PlannedShift] = []
        self._handlers = [
            self._on_day, self._on_segment, self._on_arrive, self._on_answer, self._on_rona,
            self._on_hangup, self._on_wrap_end, self._on_abandon, self._on_survey,
            self._on_sign_in, self._on_sign_out, self._on_break_start, self._on_break_end,
            self._on_spell, self._on_spell_end, self._on_leave_busy, self._on_manual]
        if s.mode == "mmc":
            t0, t1 = self.span()
            for a in self.agents:
                self._push(t0, K_SIGN_IN, a)
            rate_ms = s.mean_rate / HOUR
            t = t0
            while t < t1:
                length = min(HOUR, t1 - t)
                self._push(t, K_SEGMENT, length, rate_ms * length)
                t += length
        else:
            for d in range(s.days):
                day = s.start + dt.timedelta(days=d)
                self._push(self._lms(day, "06:00"), K_DAY, day)
            if s.manual:
                last = s.start + dt.timedelta(days=s.days - 1)
                self._push(self._lms(last, "23:30"), K_MANUAL, "month_end", None)

    def _finish(self, t: int) -> None:
        """At the last event: in M/M/c mode everyone still signed in signs out."""
        if self.scn.mode == "mmc":
            for a in self.agents:
                if a.st != OUT:
                    a.st = OUT
                    self._emit("acd", "sign_out", t, agent=a.id)

    # ------------------------------------------------------------------ helpers
    def _push(self, t: int, kind: int, x=None, y=None) -> None:
        self._n += 1
        heapq.heappush(self._heap, (t, self._n, kind, x, y))

    def _emit(self, src: str, etype: str, ts: int, **kw) -> None:
        n = self._seq.get(src, 0) + 1
        self._seq[src] = n
        self._out.append(Event(type=etype, ts=ts, site=self.scn.site, src=src, seq=n, **kw))

    def _make_ready(self, a: _Agent, t: int) -> None:
        a.st = READY
        a.kind = NONE
        a.ver += 1
        heapq.heappush(self._ready, (t, a.idx, a.ver))

    def _pop_ready(self) -> _Agent | None:
        ready, agents = self._ready, self.agents
        while ready:
            _, i, ver = heapq.heappop(ready)
            a = agents[i]
            if a.ver == ver and a.st == READY:
                return a
        return None

    def _dispatch(self, t: int) -> None:
        q = self._queue
        while q:
            c = q[0]
            if c.st != WAITING:
                q.popleft()
                continue
            a = self._pop_ready()
            if a is None:
                return
            q.popleft()
            self._offer(t, a, c)

    def _offer(self, t: int, a: _Agent, c: _Call) -> None:
        s = self.scn
        self._emit("acd", "offer", t, agent=a.id, call=c.id, queue=c.queue)
        c.st = RINGING
        a.st = RING
        a.call = c
        if a.p_no_answer > 0 and self.u_svc() < a.p_no_answer:
            self._push(t + round(s.ring_timeout_s * SECOND), K_RONA, a, c)
            return
        lo, hi = s.ring_s
        ring = round((lo + (hi - lo) * self.u_svc()) * SECOND) if hi > 0 else 0
        if ring == 0:
            self._on_answer(t, a, c)
        else:
            self._push(t + ring, K_ANSWER, a, c)

    def _talk_ms(self, a: _Agent) -> int:
        s = self.scn
        if s.talk == "exponential":
            return round(a.aht_ms * self.e_svc())
        sg = s.talk_sigma
        x = a.aht_ms * math.exp(sg * self.z_svc() - sg * sg / 2)
        return round(min(max(x, 5_000.0), 2 * HOUR))

    def _free(self, t: int, a: _Agent) -> None:
        """The agent is done with a call: deferred actions first, else ready for the next."""
        a.st = READY
        a.kind = NONE
        a.call = None
        if a.pending:
            todo, a.pending = a.pending, []
            if any(k == K_SIGN_OUT for k, _ in todo):
                todo = [(K_SIGN_OUT, None)]
            for k, payload in todo:
                self._handlers[k](t, a, payload)
        if a.st == READY:
            self._make_ready(a, t)
            self._dispatch(t)

    # ------------------------------------------------------------------ calls
    def _on_segment(self, t: int, length: int, expected: float) -> None:
        r = self.r_arr
        n = int(r.poisson(expected))
        if n == 0:
            return
        times = np.sort(r.integers(0, length, n)) + t
        qs = r.choice(len(self._qnames), n, p=self._qweights) if len(self._qnames) > 1 \
            else np.zeros(n, np.int64)
        for tt, qi in zip(times.tolist(), qs.tolist()):
            self._push(tt, K_ARRIVE, qi)

    def _on_arrive(self, t: int, qi: int, _) -> None:
        s = self.scn
        self._calls += 1
        self.stats.calls += 1
        deadline = (t + round(s.patience_s * SECOND * self.e_cust())
                    if s.patience_s is not None else None)
        c = _Call(f"C{self._calls:07d}", self._qnames[qi], t, deadline)
        self._emit("acd", "enqueue", t, call=c.id, queue=c.queue)
        self._queue.append(c)
        if deadline is not None:
            self._push(deadline, K_ABANDON, c)
        self._dispatch(t)

    def _on_abandon(self, t: int, c: _Call, _) -> None:
        if c.st != WAITING:
            return
        c.st = ABANDONED
        self.stats.abandoned += 1
        self._emit("acd", "abandon", t, call=c.id, queue=c.queue, wait_ms=t - c.t_enq)

    def _on_answer(self, t: int, a: _Agent, c: _Call) -> None:
        wait = t - c.t_enq
        st = self.stats
        st.answered += 1
        st.wait_ms_sum += wait
        if wait <= 20_000:
            st.answered_in_20s += 1
        self._emit("acd", "answer", t, agent=a.id, call=c.id, queue=c.queue, wait_ms=wait)
        c.st = TALKING
        a.st = TALK
        self._push(t + self._talk_ms(a), K_HANGUP, a, c)

    def _on_rona(self, t: int, a: _Agent, c: _Call) -> None:
        self.stats.no_answers += 1
        self._emit("acd", "no_answer", t, agent=a.id, call=c.id, queue=c.queue)
        c.st = WAITING
        if c.deadline is not None and t >= c.deadline:
            self._on_abandon(t, c, None)
        else:
            self._queue.appendleft(c)
        self._free(t, a)
        self._dispatch(t)

    def _on_hangup(self, t: int, a: _Agent, c: _Call) -> None:
        s = self.scn
        self._emit("acd", "hangup", t, agent=a.id, call=c.id)
        c.st = DONE
        a.st = WRAP
        p_sale = self._sale_p.get(c.queue, 0.0)
        if p_sale > 0 and self.u_cust() < p_sale:
            amount = round(s.sale_mean_yuan * self.e_cust() + 9.9, 2)
            self._emit("crm", "sale", t, agent=a.id, amount=amount)
        if s.survey_p > 0 and self.u_cust() < s.survey_p:
            delay = round((15 + 100 * self.u_cust()) * SECOND)
            self._push(t + delay, K_SURVEY, a, c)
        if s.wrap_s > 0:
            self._push(t + max(1_000, round(s.wrap_s * SECOND * self.e_svc())), K_WRAP_END,
                       a, c)
        else:
            self._on_wrap_end(t, a, c)

    def _on_wrap_end(self, t: int, a: _Agent, c: _Call) -> None:
        self._emit("acd", "wrap_end", t, agent=a.id, call=c.id)
        self._free(t, a)

    def _on_survey(self, t: int, a: _Agent, c: _Call) -> None:
        u = self.u_cust()
        if u < a.p_satisfied:
            res = "satisfied"
        elif u < a.p_satisfied + (1 - a.p_satisfied) * self.scn.neutral_share:
            res = "neutral"
        else:
            res = "dissatisfied"
        self._emit("ivr", "survey", t, agent=a.id, call=c.id, result=res)

    # ------------------------------------------------------------------ agents
    def _on_sign_in(self, t: int, a: _Agent, _) -> None:
        if a.st != OUT:
            return
        self._emit("acd", "sign_in", t, agent=a.id, seat=a.seat)
        self._make_ready(a, t)
        self._dispatch(t)

    def _on_sign_out(self, t: int, a: _Agent, _) -> None:
        if a.st in IN_CALL:
            a.pending.append((K_SIGN_OUT, None))
            return
        a.token += 1
        a.pending = []
        if a.st != OUT:
            self._emit("acd", "sign_out", t, agent=a.id)
        a.st = OUT
        a.kind = NONE

    def _on_break_start(self, t: int, a: _Agent, how) -> None:
        reason, sign_out = how
        if a.st in IN_CALL:
            a.pending.append((K_BREAK_START, how))
            return
        if a.st == OUT or a.kind == LEAVE:
            return
        a.token += 1
        if sign_out:
            self._emit("acd", "sign_out", t, agent=a.id)
            a.st = OUT
        else:
            self._emit("acd", "busy", t, agent=a.id, reason=reason)
            a.st = BUSY
        a.kind = BREAK

    def _on_break_end(self, t: int, a: _Agent, _) -> None:
        for k, (kind, _p) in enumerate(a.pending):
            if kind == K_BREAK_START:  # talked through the whole break
                del a.pending[k]
                return
        if a.kind != BREAK:
            return
        if a.st == OUT:
            self._emit("acd", "sign_in", t, agent=a.id, seat=a.seat)
        else:
            self._emit("acd", "ready", t, agent=a.id)
        self._make_ready(a, t)
        self._dispatch(t)

    def _on_spell(self, t: int, a: _Agent, how) -> None:
        dur, reason = how
        if a.st in IN_CALL:
            a.pending.append((K_SPELL, how))
            return
        if a.st != READY:
            return
        self._emit("acd", "busy", t, agent=a.id, reason=reason)
        a.st = BUSY
        a.kind = SPELL
        a.token += 1
        self._push(t + dur, K_SPELL_END, a, a.token)

    def _on_spell_end(self, t: int, a: _Agent, token: int) -> None:
        if a.token != token or a.kind != SPELL or a.st != BUSY:
            return
        self._emit("acd", "ready", t, agent=a.id)
        self._make_ready(a, t)
        self._dispatch(t)

    def _on_leave_busy(self, t: int, a: _Agent, _) -> None:
        if a.st in IN_CALL:
            a.pending.append((K_LEAVE_BUSY, None))
            return
        if a.st == READY or (a.st == BUSY and a.kind == SPELL):
            self._emit("acd", "busy", t, agent=a.id)
            a.st = BUSY
            a.kind = LEAVE
            a.token += 1

    # ------------------------------------------------------------------ plans
    def _on_day(self, t: int, day: dt.date, _) -> None:
        s = self.scn
        rate_ms = s.mean_rate / HOUR
        n_open = s.close_hour - s.open_hour
        curve = s.curve or (1.0,) * n_open
        mean_w = sum(curve) / n_open
        for h in range(n_open):
            t0 = self._lms(day, f"{s.open_hour + h:02d}:00")
            self._push(t0, K_SEGMENT, HOUR, rate_ms * HOUR * curve[h] / mean_w)
        for sh in self.shifts:
            if sh.date == day:
                self._plan_shift(sh)

    def _in_break(self, sh: PlannedShift, t: int, margin: int = 0) -> bool:
        return any(bs - margin <= t < be + margin for bs, be in sh.breaks)

    def _plan_shift(self, sh: PlannedShift) -> None:
        s, r, a = self.scn, self.r_beh, self.agents[sh.agent]
        S, E = sh.start, sh.end
        u = r.random(6)
        if u[0] < a.p_absent:
            return
        if u[1] < a.p_late:
            t_in = S + sh.grace_ms + round(r.uniform(0.5, 25.0) * MINUTE)
            self._late_shifts.append(sh)
        else:
            t_in = S - round(r.uniform(1.0, 12.0) * MINUTE)
        self._push(t_in, K_SIGN_IN, a)
        for bs, be in sh.breaks:
            reason = "lunch" if be - bs >= 30 * MINUTE else "break"
            self._push(bs + round(r.uniform(0, 20) * SECOND), K_BREAK_START, a,
                       (reason, a.lunch_out and reason == "lunch"))
            if r.random() < a.p_late_return:
                back = be + round(s.break_grace_min * MINUTE) + round(r.uniform(1, 12) * MINUTE)
            else:
                back = be - round(r.uniform(0, 90) * SECOND)
            self._push(back, K_BREAK_END, a)
        lo, hi = S + 10 * MINUTE, E - 20 * MINUTE
        n = int(r.poisson(s.busy_spells_per_hour * (E - S) / HOUR))
        for _ in range(n):
            t = round(r.uniform(lo, hi))
            dur = round(min(max(r.exponential(s.busy_spell_mean_s), 20.0), 900.0) * SECOND)
            reason = ("toilet", None, "system")[int(r.choice(3, p=(0.6, 0.25, 0.15)))]
            if not self._in_break(sh, t, 2 * MINUTE):
                self._push(t, K_SPELL, a, (dur, reason))
        if u[2] < a.p_long_busy:
            t = round(r.uniform(S + 30 * MINUTE, E - 90 * MINUTE))
            dur = round(r.uniform(25, 55) * MINUTE)
            if not self._in_break(sh, t, 2 * MINUTE):
                self._push(t, K_SPELL, a, (dur, None))
        if u[3] < s.training_p:
            t = round(r.uniform(S + 30 * MINUTE, E - 90 * MINUTE))
            dur = round(r.uniform(20, 45) * MINUTE)
            if not self._in_break(sh, t, 2 * MINUTE):
                self._push(t, K_SPELL, a, (dur, "training" if r.random() < 0.6 else "meeting"))
        if u[4] < a.p_early_leave:
            if u[5] < 0.6:  # signs out early
                t_out = E - round(r.uniform(5, 45) * MINUTE)
                if self._in_break(sh, t_out, 5 * MINUTE):
                    t_out = sh.breaks[0][0] - round(r.uniform(5, 30) * MINUTE)
                self._push(t_out, K_SIGN_OUT, a)
            else:  # goes busy to leave, signs out at the end
                self._push(E - round(r.uniform(4, 20) * MINUTE), K_LEAVE_BUSY, a)
                self._push(E + round(r.uniform(0, 60) * SECOND), K_SIGN_OUT, a)
        else:
            self._push(E + round(r.uniform(0, 4) * MINUTE), K_SIGN_OUT, a)
        if s.manual:
            self._plan_manual(sh, a)

    def _plan_manual(self, sh: PlannedShift, a: _Agent) -> None:
        s, r = self.scn, self.r_man
        u = r.random(3)
        span = (sh.start + HOUR, sh.end)
        if u[0] < s.praise_p:
            self._push(round(r.uniform(*span)), K_MANUAL, "adjust",
                       (a.id, float(r.integers(2, 6)), "客户表扬电话"))
        if u[1] < s.complaint_p:
            self._push(round(r.uniform(*span)), K_MANUAL, "adjust", (a.id, -5.0, "有效投诉"))
        if u[2] < s.floor_rule_p:
            reason, pts = FLOOR_RULES[int(r.integers(len(FLOOR_RULES)))]
            self._push(round(r.uniform(*span)), K_MANUAL, "floor", (a.id, pts, reason))

    def _on_manual(self, t: int, what: str, data) -> None:
        if what == "adjust":
            aid, pts, reason = data
            self._emit("leader", "adjust", t, agent=aid, points=pts, reason=reason)
        elif what == "floor":
            aid, pts, reason = data
            self._emit("leader", "floor", t, agent=aid, points=pts, reason=reason)
        elif what == "month_end":
            self._month_end(t)

    def _month_end(self, t: int) -> None:
        """QA scores for every month the run touched, and approved late-sign-in appeals."""
        s, r = self.scn, self.r_man
        for sh in self._late_shifts:
            if r.random() < s.excuse_p:
                self._emit("leader", "excuse", t, agent=self.agents[sh.agent].id,
                           rule="late_sign_in", day=sh.date.isoformat(),
                           reason="交通管制,已核实")
        months = sorted({(s.start + dt.timedelta(days=d)).strftime("%Y-%m")
                         for d in range(s.days)})
        for m in months:
            for a in self.agents:
                if a.role != "agent":
                    continue
                for item, sd in (("recording", 4.0), ("text", 5.0), ("performance", 6.0),
                                 ("exam", 7.0)):
                    score = float(np.clip(round(a.quality + r.normal(0, sd)), 40, 100))
                    self._emit("qa", "qa", t, agent=a.id, item=item, score=score, month=m)


def simulate(scenario: Scenario) -> tuple[list[dict], list[dict], list[Event]]:
    """Convenience: (roster rows, schedule rows, all events) of one run, in memory."""
    f = Floor(scenario)
    events = list(f.events())
    return f.roster_rows(), f.schedule_rows(), events


def run(scenario: Scenario, sink: Callable[[list[Event]], None],
        progress: Callable[[int], None] | None = None) -> Floor:
    """Drive one run into `sink`, one call per simulated second that has events (a file
    writer, or a broker publisher sending each list as one batch). `progress` gets the
    tick's ms. Returns the finished Floor (roster, schedule, stats)."""
    f = Floor(scenario)
    for tick, evs in f.ticks():
        sink(evs)
        if progress is not None:
            progress(tick)
    return f


__all__ = ["Scenario", "Floor", "Stats", "PlannedShift", "simulate", "run", "is_manual",
           "DEFAULT_CURVE"]
