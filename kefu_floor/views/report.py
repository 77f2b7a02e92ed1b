"""The month score report (DESIGN.md §3.3), read from an engine's arrays.

`read_report(engine, month)` sums the month's day slots and scores them; it only reads
(`build_report` is the same). Reads never write: the caller first brings every agent up
to engine time (`engine.finish()`: deadlines due by the last event booked), as a replay
does at the end of its file. The live service ticks on its event loop, takes
`frozen_copy(engine)` there (a few ms) and runs `read_report` on the copy in a worker
thread, so a report never stalls ingest.
"""
from __future__ import annotations

import copy
import math
import time

import numpy as np

from kefu_floor.engine import Engine
from kefu_floor.localtime import day_str, local_dt, month_days, month_of, month_str
from kefu_floor.policy import ITEM_KEYS
from kefu_floor.schema import RULES
from kefu_floor.scoring import assign_stars, item_scores, upper_bands, weighted_score
from kernels import layout as K

SCHEMA = "kefu-floor/report/1"
ITEM_OF_LEDGER = {K.ITEM_UTILIZATION: "utilization", K.ITEM_SITE: "site",
                  K.ITEM_FINE: "fines"}


def _num(x: float | None, nd: int = 6):
    """JSON number: None for no data, an int when whole, else rounded."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    x = float(x)
    if x == int(x) and abs(x) < 2**53:
        return int(x)
    return round(x, nd)


def _qa(x: float):
    return None if math.isnan(x) else round(float(x), 6)


class MonthView:
    """A month's totals per agent, shared by the report and the live snapshot."""

    def __init__(self, eng: Engine, month: int):
        self.eng = eng
        self.month = month
        lo, hi = month_days(month)
        self.day_lo, self.day_hi = lo, hi
        n = len(eng.sym.agents)
        self.n = n
        self.slots = [s for s in range(K.N_DAY_SLOTS) if lo <= eng.slot_day[s] < hi]
        self.days = sorted(self.slots, key=lambda s: eng.slot_day[s])  # in date order
        self.day_strs = [day_str(int(eng.slot_day[s])) for s in self.days]
        self._busy: list[list[float]] | None = None  # busy_ms, read once
        self.D = (eng.DACC[self.slots, :n, :].sum(axis=0) if self.slots
                  else np.zeros((n, K.D_K)))
        ms = [s for s in range(K.N_MONTH_SLOTS) if eng.slot_month[s] == month]
        self.M = eng.MACC[ms[0], :n, :] if ms else np.zeros((n, K.M_K))
        S = eng.S
        in_month = (S[:, K.S_DAY] >= lo) & (S[:, K.S_DAY] < hi)
        has_shift = np.zeros(n, bool)
        has_shift[S[in_month, K.S_AGENT]] = True
        self.has_shift = has_shift
        self.present = has_shift | (self.D[:, K.D_SIGN_INS] > 0)
        self.site_data = self.present | (self.D[:, K.D_FLOOR_N] != 0) | self._floor_booked()
        pol = eng.policy
        self.items = item_scores(pol, self.D, self.M, self.present, self.site_data)
        self.adjust = self.M[:, K.M_ADJ]
        self.score = weighted_score(pol, self.items, self.adjust)
        self.leader_ids = {a for a, p in eng.roster.people.items() if p.role == "leader"}
        names = eng.sym.agents.names
        ranked = {}
        for i, a in enumerate(names):
            p = eng.roster.people.get(a)
            if a in self.leader_ids or (p is not None and p.probation):
                continue
            if not math.isnan(self.score[i]):
                ranked[a] = float(self.score[i])
        self.stars = assign_stars(pol, ranked)

    def _floor_booked(self) -> np.ndarray:
        L = self.eng.ledger[self.eng.ledger_rows(self.month)]
        out = np.zeros(self.n, bool)
        out[L[L[:, K.L_RULE] == K.R_FLOOR, K.L_AGENT].astype(np.int64)] = True
        return out

    def busy_ms(self, i: int) -> list[float]:
        """Agent i's counted busy ms on each of the month's days (`days` order); the month's
        table is read at the first call, for every agent at once."""
        if self._busy is None:
            self._busy = (self.eng.DACC[self.days, : self.n, K.D_BUSY_MS].T.tolist()
                          if self.days else [[] for _ in range(self.n)])
        return self._busy[i]

    def has_data(self, i: int) -> bool:
        return bool(self.present[i] or self.site_data[i] or self.D[i].any() or self.M[i].any())


def frozen_copy(eng: Engine) -> Engine:
    """The engine as it is now, for reading elsewhere while the original moves on: every
    array and container copied (the kernels update arrays in place), nothing shared that
    ingest may change. Not for feeding."""
    c = _copied(eng)
    c.sym = _copied(eng.sym)
    for k, v in vars(eng.sym).items():  # the interners: names and ids grow as ids appear
        setattr(c.sym, k, _copied(v))
    return c


def _copied(obj):
    c = copy.copy(obj)
    for k, v in vars(obj).items():
        if isinstance(v, np.ndarray):
            setattr(c, k, v.copy())
        elif isinstance(v, (dict, list, set)):
            setattr(c, k, copy.copy(v))
    return c


def build_report(eng: Engine, month: int | None = None) -> dict:
    """The month's report of the engine as it is (call `eng.finish()` first at the end of
    input: `build_report(eng.finish(), month)`); reads only."""
    return read_report(eng, month)


def read_report(eng: Engine, month: int | None = None) -> dict:
    """The month's report (default: engine time's month) from the engine as it is; reads
    only, so it may run on a `frozen_copy` in another thread."""
    as_of = eng.now  # None until the first event: a live service may be asked that early
    if month is None:
        month = month_of(as_of if as_of is not None else int(time.time() * 1000),
                         eng.policy.tz)
    mv = MonthView(eng, month)
    names = eng.sym.agents.names
    people = eng.roster.people
    ledger_rows = eng.ledger_rows_by_agent(month)  # the month's rows only (indexed by month)
    # the month so far as the close would pay it (the live drill-down shows the preset's
    # own figures: taobao points, the 80/20 projection, gold standing)
    from kefu_floor.close import build_close

    close = build_close(eng, month, mv=mv)
    by_agent = {r["agent"]: r for r in close["agents"]}
    # the chengdu close's pay is the report's formula (close.chengdu.agent_pay, same star,
    # calendar and rounding): taken from its row rather than computed twice
    same_pay = eng.policy.scheme == "chengdu-2014"
    agents = []
    for i in sorted(range(len(names)), key=lambda i: names[i]):
        a = names[i]
        p = people.get(a)
        if a in mv.leader_ids:
            continue
        if p is None and not (mv.has_data(i) or i in ledger_rows):
            continue
        row = by_agent.get(a) if same_pay and p is not None else None
        agents.append(_agent_entry(eng, mv, i, ledger_rows.get(i, []),
                                   pay=dict(row["pay"]) if row is not None else None))
    skip = ("agent", "name", "team")
    for entry in agents:
        row = by_agent.get(entry["agent"])
        if row is not None:
            entry["close"] = {k: v for k, v in row.items() if k not in skip}
    leaders = _leaders(eng, mv, ledger_rows)
    for entry in leaders:
        row = by_agent.get(entry["agent"])
        if row is not None:
            entry["close"] = {k: v for k, v in row.items() if k not in skip}
    return {
        "scheme": eng.policy.scheme,
        "schema": SCHEMA,
        "site": eng.site,
        "month": month_str(month),
        "as_of": as_of,
        "policy": eng.policy.name,
        "timezone": eng.policy.timezone,
        "agents": agents,
        "leaders": leaders,
        "counters": eng.counters(),
    }


def _agent_entry(eng: Engine, mv: MonthView, i: int, rows: list[int],
                 pay: dict | None = None) -> dict:
    a = eng.sym.agents.names[i]
    p = eng.roster.people.get(a)
    D = mv.D[i].tolist()  # Python floats: the same values, read once
    talks = D[K.D_TALKS]
    talk_s = D[K.D_TALK_MS] / 1000.0
    busy = _busy_by_day(eng, mv, i)
    kpi = {
        "offered": int(D[K.D_OFFERED]), "answered": int(D[K.D_ANSWERED]),
        "talk_s": round(float(talk_s), 3),
        "aht_s": round(float(talk_s / talks), 3) if talks > 0 else None,
        "surveys": int(D[K.D_SURVEYS]), "satisfied": int(D[K.D_SATISFIED]),
        "late_sign_ins": int(D[K.D_LATE_N]), "late_returns": int(D[K.D_RETURN_N]),
        "early_leaves": int(D[K.D_EARLY_N]), "absences": int(D[K.D_ABSENT_N]),
        "busy_s_by_day": busy,
        # additions to the contract
        "no_answer": int(D[K.D_NO_ANSWER]), "neutral": int(D[K.D_NEUTRAL]),
        "dissatisfied": int(D[K.D_DISSATISFIED]), "sales": _num(D[K.D_SALES], 2),
        "busy_total_s": _num(D[K.D_BUSY_RAW_MS] / 1000.0, 3),
        "signed_in_s": _num(D[K.D_SIGNED_MS] / 1000.0, 3),
    }
    items = {}
    for key in ITEM_KEYS:
        v = mv.items[key][i]
        items[key] = _qa(v) if key in ("recording", "text", "performance", "exam") else _num(v)
    score = mv.score[i]
    star = None
    if p is None or not p.probation:
        star = mv.stars.get(a)
    deds, manual = _ledger_entries(eng, rows, busy)
    out = {
        "agent": a,
        "team": p.team if p else None,
        "name": p.name if p else None,
        "kpi": kpi,
        "items": items,
        "adjustments": _num(mv.adjust[i], 4) or 0,
        "score": None if math.isnan(score) else _num(score, eng.policy.score_decimals),
        "star": star,
        "deductions": deds,
        "manual": manual,  # manual floor-rule deductions on `site` (rule "floor")
        "probation": bool(p.probation) if p else False,
    }
    if p is None:
        out["unknown"] = True  # not in the roster: scored, and flagged
    out["pay"] = pay if pay is not None else _pay(eng, mv, i, star, p)
    return out


def _busy_by_day(eng: Engine, mv: MonthView, i: int) -> dict[str, float]:
    """Agent i's counted busy seconds on each day of the month that has some."""
    return {d: _num(ms / 1000.0, 3) for d, ms in zip(mv.day_strs, mv.busy_ms(i)) if ms > 0}


def _facts(eng: Engine, row: np.ndarray, busy_by_day: dict) -> dict:
    """What a deduction rests on, in the site's local time: the shift and deadline it was
    measured against, the sign-in or sign-out, the busy threshold crossed."""
    tz = eng.policy.tz
    hms = lambda ms: local_dt(int(ms), tz).strftime("%H:%M:%S")  # noqa: E731
    hm = lambda ms: local_dt(int(ms), tz).strftime("%H:%M")  # noqa: E731
    rule, code = int(row[K.L_RULE]), int(row[K.L_CODE])
    if rule == K.R_BUSY:
        busy = eng.policy.busy
        return {"threshold_min": _num(busy.budget_min + code * busy.step_min),
                "counted_busy_s_that_day": busy_by_day.get(day_str(int(row[K.L_DAY])))}
    if rule == K.R_LUNCH:
        return {"busy_since": hms(row[K.L_AUX]),
                "limit_min": _num(eng.policy.taobao.lunch_max_min)}
    if not 0 <= code < len(eng.S):
        return {}
    S = eng.S[code]
    start, end = int(S[K.S_START]), int(S[K.S_END])
    f = {"shift": f"{hm(start)}-{hm(end)}"}
    if rule == K.R_LATE_SIGN_IN:
        f["deadline"] = hms(start + int(S[K.S_GRACE]))
        f["signed_in"] = hms(row[K.L_TS])
    elif rule == K.R_LATE_RETURN:
        b = eng.BK[int(row[K.L_AUX])]
        f["break"] = f"{hm(b[K.BK_START])}-{hm(b[K.BK_END])}"
        f["back_by"] = hms(row[K.L_TS])
    elif rule == K.R_SIGN_OUT:
        f["signed_out"] = hms(row[K.L_TS])
    elif rule == K.R_EARLY_LEAVE:
        f["stay_until"] = hms(end - int(eng.P[K.P_EARLY_TOL_MS]))
        f["last_sign_out"] = hms(row[K.L_AUX])
        if row[K.L_AUX2] != K.NO_TIME:
            f["busy_since"] = hms(row[K.L_AUX2])
    return f


def _pay(eng: Engine, mv: MonthView, i: int, star, p) -> dict | None:
    """Monthly pay per POLICY.md §2 (the close's own formula); None for an agent not in
    the roster."""
    if p is None:
        return None
    from kefu_floor.close.chengdu import agent_pay
    from kefu_floor.close.common import pay_dict

    return pay_dict(agent_pay(eng, mv, i, star, p), eng.policy.money.decimals)


def _ledger_entries(eng: Engine, rows: list[int], busy: dict) -> tuple[list, list]:
    """An agent's or leader's ledger rows -> (deductions with facts, manual floor entries)."""
    L = eng.ledger
    deds, manual = [], []
    for r in sorted(rows, key=lambda r: (L[r, K.L_TS], L[r, K.L_RULE], r)):
        rule = int(L[r, K.L_RULE])
        e = {"ts": int(L[r, K.L_TS]), "rule": RULES[rule],
             "item": ITEM_OF_LEDGER[int(L[r, K.L_ITEM])], "points": _num(L[r, K.L_POINTS]),
             "day": day_str(int(L[r, K.L_DAY]))}
        if L[r, K.L_EXCUSED]:
            e["excused"] = True
        if rule == K.R_FLOOR:
            # a shift leader's entry, not one of the contract's five rules: listed apart
            e["reason"] = eng.sym.texts.names[int(L[r, K.L_CODE])]
            manual.append(e)
        else:
            e["facts"] = _facts(eng, L[r], busy)
            deds.append(e)
    return deds, manual


def _leaders(eng: Engine, mv: MonthView, ledger_rows: dict | None = None) -> list[dict]:
    """Shift leaders' items that telemetry can give (POLICY.md §3): team score, team AHT;
    and the leader's own deductions (they are alerted like anyone's; ranked with no one)."""
    out = []
    ledger_rows = ledger_rows or {}
    names = eng.sym.agents.names
    b = eng.policy.bands.aht
    by_team: dict[str, list[int]] = {}  # one pass over the agents, not one per leader
    for i, a in enumerate(names):
        if (p := eng.roster.people.get(a)) and p.role == "agent":
            by_team.setdefault(p.team, []).append(i)
    for lid in sorted(mv.leader_ids):
        team = eng.roster.people[lid].team
        members = by_team.get(team, [])
        scores = [mv.score[i] for i in members if not math.isnan(mv.score[i])]
        talk = float(sum(mv.D[i, K.D_TALK_MS] for i in members))
        talks = float(sum(mv.D[i, K.D_TALKS] for i in members))
        aht = upper_bands(np.array([talk]), np.array([talks * 1000.0]), b.max, b.score,
                          b.above)[0]
        i = eng.sym.agents.ids.get(lid)
        busy = _busy_by_day(eng, mv, i) if i is not None else {}
        deds, manual = _ledger_entries(eng, ledger_rows.get(i, []) if i is not None else [],
                                       busy)
        out.append({"agent": lid, "team": team, "name": eng.roster.people[lid].name,
                    "items": {"team_score": _num(np.mean(scores), 2) if scores else None,
                              "team_aht": _num(aht)},
                    "team_aht_s": round(talk / talks / 1000.0, 3) if talks else None,
                    "deductions": deds, "manual": manual})
    return out
