"""chengdu-2014: agents' monthly pay (POLICY.md §2) and shift leaders' appraisal (§3).

`agent_pay` is the one pay formula: the replay report's `pay` field and the close both call
it, so the two never disagree.
"""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np

from kefu_floor.close.calendar import DayKinds
from kefu_floor.localtime import day_date, month_days
from kefu_floor.scoring import upper_bands
from kernels import layout as K


def service_years(hired: dt.date, on: dt.date) -> int:
    """Anniversaries of `hired` on or before `on` (hired 2025-12-01 -> 0 years on 2026-11-30)."""
    years = on.year - hired.year - ((on.month, on.day) < (hired.month, hired.day))
    return max(0, years)


def agent_pay(eng, mv, i: int, star, p, calendar: DayKinds | None = None) -> dict[str, float]:
    """Pay components (unrounded yuan) of roster person p, row i of the month view mv."""
    pay = eng.policy.pay
    stars = eng.policy.stars
    coef = (stars.coefficients[stars.grades.index(star)] if star is not None
            else pay.no_star_coefficient)
    D = mv.D[i] if 0 <= i < mv.n else np.zeros(K.D_K)
    base = pay.base_probation if p.probation else pay.base_regular
    seniority = 0.0
    if p.hired is not None:
        years = service_years(p.hired, day_date(month_days(mv.month)[1] - 1))
        for y, v in zip(pay.seniority_years, pay.seniority_pay):
            if years >= y:
                seniority = v
    violations = D[K.D_LATE_N] + D[K.D_EARLY_N] + D[K.D_ABSENT_N]  # excused ones taken back
    has_shift = bool(mv.has_shift[i]) if 0 <= i < mv.n else False
    full = pay.full_attendance if violations == 0 and has_shift else 0.0
    subsidy = max(0, p.products - pay.products_required) * pay.subsidy_per_extra_product
    S = eng.S
    nights, overtime = 0, 0.0
    ot = eng.policy.overtime
    hourly = base / ot.month_days / ot.day_hours
    cal = calendar or DayKinds()
    lo, hi = (int(eng.A[i, K.A_SH_LO]), int(eng.A[i, K.A_SH_HI])) if 0 <= i < mv.n else (0, 0)
    for k in range(lo, hi):  # the agent's rows of S (sorted by agent), aligned with shifts
        sh = eng.shifts[k]
        if not mv.day_lo <= sh.day < mv.day_hi:
            continue
        attended = S[k, K.S_ATTENDED] == 1
        if attended and sh.ends_local == pay.night_shift_end:
            nights += 1
        if sh.overtime and S[k, K.S_WORKED_MS] > 0:
            kind = cal.kind(sh.date)
            pct = {"workday": ot.workday_pct, "restday": ot.restday_pct,
                   "holiday": ot.holiday_pct}[kind]
            overtime += S[k, K.S_WORKED_MS] / 3_600_000 * hourly * pct / 100
    return {"base": base, "star": pay.star_pay_unit * coef,
            "commission": pay.sales_commission_rate * float(D[K.D_SALES]),
            "seniority": seniority, "full_attendance": full, "subsidy": subsidy,
            "night_shifts": nights * pay.night_shift_pay, "overtime": overtime}


def _steps(value: Fraction, target: Fraction, lead) -> float:
    """Sales per call: at_target +/- step_points per full step above/below, capped."""
    step = Fraction(str(lead.sales_step))
    diff = value - target
    if diff >= 0:
        s = lead.sales_at_target + lead.sales_step_points * math.floor(diff / step)
        return float(min(lead.sales_cap, s))
    s = lead.sales_at_target - lead.sales_step_points * math.floor(-diff / step)
    return float(max(lead.sales_floor, s))


def leader_items(cv, leader: str, agents: list[str]) -> dict[str, float | None]:
    """POLICY.md §3 items of one shift leader over the team's agents."""
    pol = cv.pol
    lead = pol.leader
    scores = [s for a in agents if (s := cv.score(a)) is not None]
    team_score = float(np.mean(scores)) if scores else None
    # the agents' month totals, each summed in the agents' order (as cv.D gives them)
    D = cv.D_rows(agents, (K.D_TALK_MS, K.D_TALKS, K.D_ANSWERED, K.D_SALES))
    talk = sum(d[0] for d in D)
    talks = sum(d[1] for d in D)
    b = pol.bands.aht
    aht = (float(upper_bands(np.array([talk]), np.array([talks * 1000.0]), b.max, b.score,
                             b.above)[0]) if talks > 0 else None)
    answered = sum(d[2] for d in D)
    sales = sum(Fraction(Decimal(repr(d[3]))) for d in D)  # exact, as Fraction(repr(x))
    from kefu_floor.localtime import month_str
    target = lead.sales_target.get(month_str(cv.month), lead.sales_target_default)
    spc = (None if target is None or answered == 0
           else _steps(sales / Fraction(int(answered)), Fraction(repr(float(target))), lead))
    inc = cv.incidents(leader)
    floor = lead.floor_base
    mon = lead.monitoring_base
    for x in inc:
        if x.kind in lead.floor_kinds:
            floor += lead.floor_kinds[x.kind]
        elif x.kind in lead.floor_points_kinds:
            floor += x.points or 0.0
        if x.kind in lead.monitoring_kinds:
            mon += lead.monitoring_kinds[x.kind]
    return {"team_score": team_score, "team_aht": aht, "sales_per_call": spc,
            "floor_management": max(lead.item_floor, floor),
            "business_monitoring": max(lead.item_floor, mon),
            "exam": cv.qa(leader, K.QA_EXAM)}


def leader_score(cv, leader: str, items: dict) -> float | None:
    lead = cv.pol.leader
    w = {"team_score": lead.team_score_weight, "team_aht": lead.team_aht_weight,
         "sales_per_call": lead.sales_per_call_weight, "floor_management": lead.floor_weight,
         "business_monitoring": lead.monitoring_weight, "exam": lead.exam_weight}
    total = cv.adjust(leader)
    for k, v in items.items():
        if w[k] > 0:
            if v is None:
                return None
            total += w[k] * v / 100
    return round(total, cv.pol.score_decimals)


def close_rows(cv) -> tuple[list[dict], list[dict]]:
    """(agent rows, team rows) of the close."""
    pol = cv.pol
    mv = cv.mv
    teams = cv.teams()
    rows: dict[str, dict] = {}
    for a in cv.rows():
        p = cv.people.get(a)
        i = cv.i(a)
        if p is None:
            rows[a] = {"agent": a, "name": None, "team": None, "role": "agent",
                       "score": cv.score(a), "star": None, "pay": _zero_pay(cv),
                       "flags": ["unknown"]}
            continue
        if p.role == "leader":
            continue
        star = None if p.probation else mv.stars.get(a)
        rows[a] = {"agent": a, "name": p.name, "team": p.team, "role": "agent",
                   "score": cv.score(a), "star": star,
                   "pay": _pay(cv, agent_pay(cv.eng, mv, i, star, p, cv.calendar)),
                   "flags": []}
    # leaders: items, score, eligibility (POLICY.md §3); a team's score ranks the team
    team_score = {team: _mean(cv, t) for team, t in teams.items()}
    ranked = {k: v for k, v in team_score.items() if v is not None}
    lead = pol.leader
    for a, p in sorted(cv.people.items()):
        if p.role != "leader":
            continue
        t = teams[p.team]
        items = leader_items(cv, a, t["agents"])
        score = leader_score(cv, a, items)
        # bottom n: fewer than n teams score strictly lower (ties share the lower place);
        # a team without a score cannot be ranked, so cannot be shown to be above it
        bottom = (p.team not in ranked or sum(
            1 for v in ranked.values() if v < ranked[p.team]) < lead.excellent_bottom_n)
        barred = any(x.kind in lead.excellent_bar_kinds
                     for m in t["agents"] for x in cv.incidents(m))
        flags = []
        if score is None or score < lead.excellent_min_score or barred or bottom:
            flags.append("not_excellent_leader")
        rows[a] = {"agent": a, "name": p.name, "team": p.team, "role": "leader",
                   "score": score, "star": None,
                   "pay": _pay(cv, agent_pay(cv.eng, mv, cv.i(a), None, p, cv.calendar)),
                   "flags": flags, "leader_items": {k: _n(v) for k, v in items.items()}}
    team_rows = [{"team": team, "leader": t["leader"], "mean_score": _n(team_score[team]),
                  "team_bonus": 0.0, "pay": rows[t["leader"]]["pay"] if t["leader"] else None}
                 for team, t in teams.items()]
    return [rows[a] for a in sorted(rows)], team_rows


def _mean(cv, t) -> float | None:
    s = [x for a in t["agents"] if (x := cv.score(a)) is not None]
    return float(np.mean(s)) if s else None


def _n(v):
    from kefu_floor.close.common import num
    return num(v)


def _pay(cv, parts: dict) -> dict:
    from kefu_floor.close.common import pay_dict
    return pay_dict(parts, cv.decimals)


COMPONENTS = ("base", "star", "commission", "seniority", "full_attendance", "subsidy",
              "night_shifts", "overtime")


def _zero_pay(cv) -> dict:
    return _pay(cv, {k: 0.0 for k in COMPONENTS})
