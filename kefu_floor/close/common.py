"""What every scheme's close reads: the month view, incidents, people, teams, history.

Pure: an engine (already fed) and a month in, plain values out; the writer does the I/O.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np

from kefu_floor.close.calendar import DayKinds
from kefu_floor.engine import Engine
from kefu_floor.errors import ConfigError
from kefu_floor.localtime import day_date, day_str, month_days, month_str
from kefu_floor.views.report import MonthView, _num
from kefu_floor.roster import Person
from kefu_floor.schema import RULES
from kernels import layout as K

SCHEMA = "kefu-floor/close/1"


def money(x: float, decimals: int = 2) -> float:
    """Half up to 0.01 yuan (the contract's rounding), from the value's shortest repr."""
    r = repr(float(x))
    dot = r.find(".")
    if dot >= 0 and len(r) - dot - 1 <= decimals and "e" not in r and "n" not in r:
        return float(x) + 0.0  # already at most `decimals` places: nothing to round
    q = Decimal(1).scaleb(-decimals)
    v = float(Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP))
    return v + 0.0  # -0.0 -> 0.0


def pay_dict(parts: dict[str, float], decimals: int) -> dict[str, float]:
    """Components rounded at the end; `total` is the sum of the rounded components, so a
    pay sheet always adds up."""
    out = {k: money(v, decimals) for k, v in parts.items()}
    out["total"] = money(_sum_rounded(list(out.values()), decimals), decimals) if out else 0.0
    return out


def _sum_rounded(values: list[float], decimals: int):
    """The exact decimal sum of values that each have at most `decimals` places. Each is a
    whole number of 10**-decimals units, so summed in units it is exact and
    units / 10**decimals is the double nearest that sum (a tenth of summing Decimals).
    Below 2**50 units, v * 10**decimals is within a quarter unit of the whole number it
    stands for; beyond, or for nan and inf, the Decimals themselves are summed."""
    unit = 10 ** decimals
    if all(abs(v) * unit < 2**50 for v in values):  # False for nan and inf too
        return sum(round(v * unit) for v in values) / unit
    return sum(Decimal(repr(v)) for v in values)


# one JSON-number rule for the report and the close
num = _num


@dataclass
class Incident:
    ts: int
    kind: str
    amount: float | None
    points: float | None
    order: int  # arrival order


class CloseView:
    """One month of one engine, as the close sees it."""

    def __init__(self, eng: Engine, month: int, calendar: DayKinds | None = None,
                 history: dict[int, dict] | None = None, mv: MonthView | None = None):
        # reads only: the caller brings the engine up to engine time first (eng.finish())
        self.eng = eng
        self.pol = eng.policy
        self.month = month
        self.mv = mv if mv is not None and mv.month == month else MonthView(eng, month)
        self.calendar = calendar or DayKinds()
        self.history = history or {}
        self.names = eng.sym.agents.names
        self.index = {a: i for i, a in enumerate(self.names)}
        self.people: dict[str, Person] = eng.roster.people
        self.decimals = self.pol.money.decimals
        self.day_lo, self.day_hi = month_days(month)
        self._incidents = self._read_incidents()
        self._ledger = eng.ledger_rows_by_agent(month)  # the month's rows only
        self._by_agent = None  # excuses by agent (_approvals)
        self._today = None  # engine time's local day (for appeals)
        if eng.now is not None:
            from kefu_floor.localtime import local_day_of
            self._today = local_day_of(eng.now, self.pol.tz)

    # ---- who
    def rows(self) -> list[str]:
        """Every roster person, plus agents not in the roster with data in the month."""
        out = set(self.people)
        for i, a in enumerate(self.names):
            if a not in self.people and i < self.mv.n and (
                    self.mv.has_data(i) or self._incidents.get(i) or self._ledger_rows(i)):
                out.add(a)
        return sorted(out)

    def i(self, agent: str) -> int:
        return self.index.get(agent, -1)

    def role(self, agent: str) -> str:
        p = self.people.get(agent)
        return p.role if p else "agent"

    def teams(self) -> dict[str, dict]:
        """team -> {"leader": id or None, "agents": [ids with role agent]} (roster order)."""
        out: dict[str, dict] = {}
        for a in sorted(self.people):
            p = self.people[a]
            t = out.setdefault(p.team, {"leader": None, "agents": []})
            if p.role == "leader":
                if t["leader"] is None:
                    t["leader"] = a
            else:
                t["agents"].append(a)
        return dict(sorted(out.items()))

    def first_month(self, agent: str) -> bool:
        """The month of `hired`: a new hire's probation month (POLICY.md §4)."""
        p = self.people.get(agent)
        if p is None or p.hired is None:
            return False
        return p.hired.year * 12 + p.hired.month - 1 == self.month

    # ---- numbers of the month
    def score(self, agent: str) -> float | None:
        i = self.i(agent)
        if i < 0 or i >= self.mv.n or math.isnan(self.mv.score[i]):
            return None
        return float(self.mv.score[i])

    def D(self, agent: str, col: int) -> float:
        i = self.i(agent)
        return float(self.mv.D[i, col]) if 0 <= i < self.mv.n else 0.0

    def D_rows(self, agents: list[str], cols: tuple[int, ...]) -> list[list[float]]:
        """[self.D(a, c) for c in cols] for each agent, read at once."""
        idx = [self.i(a) for a in agents]
        ok = [0 <= i < self.mv.n for i in idx]
        got = self.mv.D[[i for i, o in zip(idx, ok) if o]][:, list(cols)].tolist()
        it = iter(got)
        return [next(it) if o else [0.0] * len(cols) for o in ok]

    def qa(self, agent: str, q: int) -> float | None:
        i = self.i(agent)
        if not 0 <= i < self.mv.n:
            return None
        n = self.mv.M[i, K.M_QA_N + q]
        return float(self.mv.M[i, K.M_QA_SUM + q] / n) if n > 0 else None

    def adjust(self, agent: str) -> float:
        i = self.i(agent)
        return float(self.mv.M[i, K.M_ADJ]) if 0 <= i < self.mv.n else 0.0

    def sales(self, agent: str) -> float:
        return self.D(agent, K.D_SALES)

    def incidents(self, agent: str) -> list[Incident]:
        return self._incidents.get(self.i(agent), [])

    def _read_incidents(self) -> dict[int, list[Incident]]:
        out: dict[int, list[Incident]] = {}
        texts = self.eng.sym.texts.names
        rows = self.eng.incidents
        for r in np.nonzero(rows[:, K.I_MONTH] == self.month)[0]:
            row = rows[r]
            amount, points = float(row[K.I_AMOUNT]), float(row[K.I_POINTS])
            out.setdefault(int(row[K.I_AGENT]), []).append(Incident(
                ts=int(row[K.I_TS]), kind=texts[int(row[K.I_KIND])],
                amount=None if math.isnan(amount) else amount,
                points=None if math.isnan(points) else points, order=int(r)))
        for v in out.values():
            v.sort(key=lambda x: (x.ts, x.order))
        return out

    def _ledger_rows(self, i: int) -> list[int]:
        return self._ledger.get(i, [])

    def shifts(self, agent: str) -> list[int]:
        """Rows of the engine's shift table S for the agent's shifts dated in the month."""
        i = self.i(agent)
        if not 0 <= i < self.mv.n:
            return []
        S = self.eng.S
        lo, hi = int(self.eng.A[i, K.A_SH_LO]), int(self.eng.A[i, K.A_SH_HI])
        return [k for k in range(lo, hi) if self.day_lo <= S[k, K.S_DAY] < self.day_hi]

    # ---- appeals (seeds 000/002)
    def _approvals(self) -> dict[int, dict[tuple[int, int], np.ndarray]]:
        """agent -> (rule, day) -> its excuse row (the last one, as they apply), read
        once for every agent's appeals."""
        if self._by_agent is None:
            X = self.eng.X[: self.eng.G[K.G_EXCUSE_N]]
            self._by_agent = {}
            for x, (a, rule, day) in zip(X, X[:, [K.X_AGENT, K.X_RULE, K.X_DAY]].tolist()):
                self._by_agent.setdefault(int(a), {})[(int(rule), int(day))] = x
        return self._by_agent

    def appeals(self, agent: str) -> tuple[list[dict], list[dict]]:
        """(excused deductions with who approved them, deductions still open to appeal)."""
        i = self.i(agent)
        if i < 0:
            return [], []
        eng = self.eng
        texts = eng.sym.texts.names
        approvals = self._approvals().get(i, {})
        L = eng.ledger
        today = self._today
        excused, open_ = [], []
        for r in sorted(self._ledger_rows(i), key=lambda r: (L[r, K.L_TS], r)):
            row = L[r]
            rule, day = int(row[K.L_RULE]), int(row[K.L_DAY])
            e = {"rule": RULES[rule], "day": day_str(day), "ts": int(row[K.L_TS]),
                 "points": num(row[K.L_POINTS])}
            if row[K.L_EXCUSED]:
                x = approvals.get((rule, day))
                e["by"] = texts[int(x[K.X_BY])] or None if x is not None else None
                e["reason"] = texts[int(x[K.X_REASON])] if x is not None else None
                excused.append(e)
            else:
                due = self.calendar.add_working_days(day_date(day), self.pol.appeals.working_days)
                e["appeal_by"] = due.isoformat()
                e["past_deadline"] = today is not None and day_date(today) > due
                open_.append(e)
        return excused, open_


def read_history(folder: str | Path | None, month: int, months_back: int = 12) -> dict[int, dict]:
    """Earlier closes: DIR/YYYY-MM/close.json for the months before `month` that exist."""
    if folder is None:
        return {}
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"--history {root}: no such folder (it holds one YYYY-MM folder "
                          "per earlier close)")
    out = {}
    for m in range(month - months_back, month):
        p = root / month_str(m) / "close.json"
        if not p.is_file():
            continue
        try:
            doc = json.loads(p.read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"--history {p}: not a readable close.json ({e})") from None
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(
                doc.get("agents"), list):
            raise ConfigError(f"--history {p}: not a kefu-floor close (schema {SCHEMA})")
        out[m] = doc
    return out


def history_row(history: dict[int, dict], month: int, agent: str) -> dict | None:
    doc = history.get(month)
    if doc is None:
        return None
    for a in doc["agents"]:
        if isinstance(a, dict) and a.get("agent") == agent:
            return a
    return None


def month_end_ms(cv: CloseView) -> int:
    """The last millisecond of the month, site time: when month-end rewards are booked."""
    import datetime as dt

    from kefu_floor.localtime import local_ms

    return local_ms(day_date(cv.day_hi), dt.time(0), cv.pol.tz) - 1
