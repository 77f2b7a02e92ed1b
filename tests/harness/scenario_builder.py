"""A tiny builder for test scenarios: events written in local (Asia/Shanghai) time, engines
built from in-memory roster and schedule rows, reports in one call.

    f = Floor()
    f.shift("A1", "2026-11-03", "08:00", "16:30", breaks="12:00-12:30")
    d = Day("2026-11-03")
    d.sign_in("A1", "08:03")
    d.spell("A1", "09:00", "09:31", "toilet")   # busy 09:00, ready 09:31
    d.clock("23:59")                             # moves event time, touches no agent
    rep = f.report(d.events)                     # build_report(engine.finish(), 2026-11)
    a = agent(rep, "A1")

Times are "HH:MM", "HH:MM:SS" or "HH:MM:SS.fff" on the Day's date (hours >= 24 run into
the next day, so a night shift can say "24:25"), or an absolute int ms. Expected values in
tests are worked out from POLICY.md, never read back from the engine.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from kefu_floor.engine import Engine, Setup
from kefu_floor.localtime import parse_month
from kefu_floor.policy import Policy, load_policy
from kefu_floor.views.report import build_report
from kefu_floor.roster import Person, Roster, load_schedule
from kefu_floor.schema import Event, decode_event

TZ = ZoneInfo("Asia/Shanghai")
SECOND = 1000
MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000


def ms(date: str, when: str | int) -> int:
    """Local date + local time -> epoch ms (int passes through unchanged)."""
    if isinstance(when, int):
        return when
    parts = when.split(":")
    h, m = int(parts[0]), int(parts[1])
    milli = 0
    if len(parts) > 2:
        sec, _, frac = parts[2].partition(".")
        milli = int(sec) * SECOND + (int(frac.ljust(3, "0")[:3]) if frac else 0)
    d = dt.date.fromisoformat(date) + dt.timedelta(days=h // 24)
    midnight = dt.datetime.combine(d, dt.time(0), tzinfo=TZ)
    return int(midnight.timestamp()) * SECOND + (h % 24) * HOUR + m * MINUTE + milli


@dataclass
class Stream:
    """Events shared by several Day views; `events` comes out sorted by ts (stable)."""

    raw: list[dict] = field(default_factory=list)
    n_calls: int = 0
    n_clock: int = 0

    @property
    def events(self) -> list[dict]:
        return sorted(self.raw, key=lambda e: e["ts"])


class Day:
    def __init__(self, date: str, stream: Stream | None = None, site: str | None = None):
        self.date = date
        self.stream = stream if stream is not None else Stream()
        self.site = site

    # ---- navigation
    def next(self, n: int = 1) -> "Day":
        d = dt.date.fromisoformat(self.date) + dt.timedelta(days=n)
        return Day(d.isoformat(), self.stream, self.site)

    def on(self, date: str) -> "Day":
        return Day(date, self.stream, self.site)

    def t(self, when: str | int) -> int:
        return ms(self.date, when)

    @property
    def events(self) -> list[dict]:
        return self.stream.events

    # ---- raw
    def add(self, type_: str, when: str | int, **fields) -> dict:
        e = {"type": type_, "ts": self.t(when)}
        if self.site is not None:
            e["site"] = self.site
        e.update({k: v for k, v in fields.items() if v is not None})
        self.stream.raw.append(e)
        return e

    # ---- one method per event type (DESIGN.md §3.1)
    def sign_in(self, agent, when, seat=None, **kw):
        return self.add("sign_in", when, agent=agent, seat=seat, **kw)

    def sign_out(self, agent, when, **kw):
        return self.add("sign_out", when, agent=agent, **kw)

    def ready(self, agent, when, **kw):
        return self.add("ready", when, agent=agent, **kw)

    def busy(self, agent, when, reason=None, **kw):
        return self.add("busy", when, agent=agent, reason=reason, **kw)

    def offer(self, agent, when, call, queue="q1", **kw):
        return self.add("offer", when, agent=agent, call=call, queue=queue, **kw)

    def answer(self, agent, when, call, queue="q1", wait_ms=None, **kw):
        return self.add("answer", when, agent=agent, call=call, queue=queue, wait_ms=wait_ms,
                        **kw)

    def no_answer(self, agent, when, call, queue="q1", **kw):
        return self.add("no_answer", when, agent=agent, call=call, queue=queue, **kw)

    def hangup(self, agent, when, call, **kw):
        return self.add("hangup", when, agent=agent, call=call, **kw)

    def wrap_end(self, agent, when, call, **kw):
        return self.add("wrap_end", when, agent=agent, call=call, **kw)

    def enqueue(self, when, call, queue="q1", **kw):
        return self.add("enqueue", when, call=call, queue=queue, **kw)

    def abandon(self, when, call, queue="q1", wait_ms=0, **kw):
        return self.add("abandon", when, call=call, queue=queue, wait_ms=wait_ms, **kw)

    def survey(self, agent, when, call, result="satisfied", **kw):
        return self.add("survey", when, agent=agent, call=call, result=result, **kw)

    def sale(self, agent, when, amount, **kw):
        return self.add("sale", when, agent=agent, amount=amount, **kw)

    def qa(self, agent, when, item, score, month=None, **kw):
        return self.add("qa", when, agent=agent, item=item, score=score, month=month, **kw)

    def floor(self, agent, when, points, reason="floor", **kw):
        return self.add("floor", when, agent=agent, points=points, reason=reason, **kw)

    def adjust(self, agent, when, points, reason="adjust", month=None, **kw):
        return self.add("adjust", when, agent=agent, points=points, reason=reason, month=month,
                        **kw)

    def excuse(self, agent, when, rule, day, reason="appeal approved", by=None, **kw):
        return self.add("excuse", when, agent=agent, rule=rule, day=day, reason=reason, by=by,
                        **kw)

    def incident(self, agent, when, kind, amount=None, points=None, month=None, **kw):
        return self.add("incident", when, agent=agent, kind=kind, amount=amount,
                        points=points, month=month, **kw)

    # ---- conveniences
    def clock(self, when) -> dict:
        """An agent-less event (a queue entry) that only moves event time forward."""
        self.stream.n_clock += 1
        return self.enqueue(when, f"clock-{self.stream.n_clock}", queue="_clock")

    def spell(self, agent, start, end, reason=None, end_with="ready"):
        """busy at start, then `ready` (or `sign_out`) at end."""
        self.busy(agent, start, reason)
        if end_with == "ready":
            self.ready(agent, end)
        else:
            self.sign_out(agent, end)

    def call(self, agent, when, talk_ms: int, survey: str | None = None, offer: bool = True,
             answered: bool = True, call: str | None = None, queue="q1") -> str:
        """offer (optional) + answer at `when`, hangup after talk_ms, wrap_end at hangup;
        answered=False: offer + no_answer + ready at `when`. Returns the call id."""
        if call is None:
            self.stream.n_calls += 1
            call = f"{agent}-c{self.stream.n_calls}"
        t0 = self.t(when)
        if offer or not answered:
            self.offer(agent, t0, call, queue)
        if not answered:
            self.no_answer(agent, t0, call, queue)
            self.ready(agent, t0)
            return call
        self.answer(agent, t0, call, queue)
        self.hangup(agent, t0 + talk_ms, call)
        self.wrap_end(agent, t0 + talk_ms, call)
        if survey:
            self.survey(agent, t0 + talk_ms, call, survey)
        return call

    def workday(self, agent, sign_in="07:58", sign_out="16:31"):
        self.sign_in(agent, sign_in)
        self.sign_out(agent, sign_out)


# --------------------------------------------------------------------------- set-up


class Floor:
    """Roster and schedule rows in memory -> Setup / Engine / report."""

    def __init__(self, policy: str | Policy = "chengdu-2014", site: str = "default"):
        self.policy = load_policy(policy) if isinstance(policy, str) else policy
        self.site = site
        self.people: dict[str, Person] = {}
        self.rows: list[dict] = []

    def agent(self, agent: str, team: str = "T1", role: str = "agent", probation: bool = False,
              hired: str | None = "2020-01-01", products: int = 3, name: str | None = None,
              mentor: str = ""):
        self.people[agent] = Person(agent=agent, name=name or agent, team=team, role=role,
                                    hired=dt.date.fromisoformat(hired) if hired else None,
                                    probation=probation, products=products, mentor=mentor)
        return self

    def shift(self, agent: str, date: str, start: str = "08:00", end: str = "16:30",
              breaks: str = "", grace_min: float | None = None, overtime: bool = False):
        if agent not in self.people:
            self.agent(agent)
        self.rows.append({"agent": agent, "date": date, "start": start, "end": end,
                          "breaks": breaks, "grace_min": "" if grace_min is None else grace_min,
                          "overtime": "true" if overtime else ""})
        return self

    def shifts(self):
        """The rows through the real schedule loader (CSV in a temp dir)."""
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "schedule.csv"
            with open(p, "w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, ["agent", "date", "start", "end", "breaks", "grace_min",
                                       "overtime"])
                w.writeheader()
                w.writerows(self.rows)
            return load_schedule(p, self.policy.tz, self.policy.attendance.default_grace_min)

    def setup(self) -> Setup:
        return Setup(policy=self.policy, roster=Roster(dict(self.people)), shifts=self.shifts(),
                     site=self.site)

    def engine(self) -> Engine:
        return Engine(self.setup())

    def report(self, events, month: str | None = "2026-11", cuts=None, tick=False) -> dict:
        eng = self.engine()
        feed(eng, events, cuts=cuts, tick=tick)
        return build_report(eng.finish(), parse_month(month) if month else None)

    def close(self, events, month: str = "2026-11", history=None, calendar=None,
              cuts=None) -> dict:
        """The month close document (kefu_floor.close.build_close)."""
        from kefu_floor.close import build_close

        eng = self.engine()
        # several Day views' events, in time order (stable) as a recorded file has them
        evs = sorted(events, key=lambda e: e["ts"]) if all(
            isinstance(e, dict) for e in events) else events
        feed(eng, evs, cuts=cuts)
        return build_close(eng.finish(), parse_month(month), calendar, history)


def decode(events) -> list[Event]:
    """Dict events through the real wire decoder (so the tests exercise the schema too)."""
    return [decode_event(json.dumps(e)) for e in events]


def feed(eng: Engine, events, cuts=None, tick=False) -> Engine:
    """Feed dict or Event events in one batch, or cut at the given indices; optionally call
    engine.tick() after every batch as the live service does."""
    evs = [e if isinstance(e, Event) else decode_event(json.dumps(e)) for e in events]
    bounds = [0, *sorted(set(c for c in (cuts or []) if 0 < c < len(evs))), len(evs)]
    for a, b in zip(bounds, bounds[1:]):
        eng.feed(evs[a:b])
        if tick:
            eng.tick()
    return eng


def agent(report: dict, agent_id: str) -> dict:
    for a in report["agents"]:
        if a["agent"] == agent_id:
            return a
    raise KeyError(f"{agent_id} not in report (agents: {[a['agent'] for a in report['agents']]})")


def deds(entry: dict, rule: str | None = None, live_only: bool = False) -> list[dict]:
    out = [d for d in entry["deductions"] if rule is None or d["rule"] == rule]
    if live_only:
        out = [d for d in out if not d.get("excused")]
    return out
