"""team-80-20 (POLICY.md §4, seed 003): 80/20 individual bonus, gold agent, mentor,
excellent team, money penalties, and the supervisor's commission and score."""
from __future__ import annotations

import math

import numpy as np

from kefu_floor.close.common import history_row, num, pay_dict
from kernels import layout as K

AGENT_COMPONENTS = ("individual", "team_share", "gold", "gold_quarter", "mentor", "penalties")
LEADER_COMPONENTS = ("commission", "penalties")


def team_mean(cv, agents: list[str]) -> float | None:
    """Mean score of the team's scored agents, leaving out first-month hires (a setting)."""
    s = cv.pol.team8020
    xs = [x for a in agents if (x := cv.score(a)) is not None
          and (s.new_hire_first_month_counts or not cv.first_month(a))]
    return float(np.mean(xs)) if xs else None


def gold_agent(cv, agents: list[str]) -> str | None:
    """The one agent with both the team's highest sales and its highest score (> min);
    a tie on either maximum means none. First-month hires compete but cannot win."""
    s = cv.pol.team8020
    if not agents:
        return None
    sales = {a: round(cv.sales(a), 6) for a in agents}
    scored = {a: x for a in agents if (x := cv.score(a)) is not None}
    if not scored:
        return None
    top_sales = max(sales.values())
    top_score = max(scored.values())
    by_sales = [a for a, v in sales.items() if v == top_sales]
    by_score = [a for a, v in scored.items() if v == top_score]
    if len(by_sales) != 1 or len(by_score) != 1 or by_sales != by_score:
        return None
    a = by_sales[0]
    if not scored[a] > s.gold_min_score or top_sales <= 0:
        return None
    if cv.first_month(a) and not s.gold_new_hire:
        return None
    return a


def _prior_run(cv, agent: str, key: str, test) -> int:
    """Consecutive months before this one, read from --history, where test(row) holds."""
    n = 0
    m = cv.month - 1
    while True:
        row = history_row(cv.history, m, agent)
        if row is None or not test(row):
            return n
        n += 1
        m -= 1


def close_rows(cv) -> tuple[list[dict], list[dict]]:
    s = cv.pol.team8020
    mv = cv.mv
    teams = cv.teams()
    rows: dict[str, dict] = {}
    means = {team: team_mean(cv, t["agents"]) for team, t in teams.items()}
    golds = {team: gold_agent(cv, t["agents"]) for team, t in teams.items()}
    leader_pen: dict[str, float] = {}
    for team, t in teams.items():
        mean = means[team]
        share_ok = mean is not None and mean >= s.team_threshold
        for a in t["agents"]:
            p = cv.people[a]
            score = cv.score(a)
            star = None
            if s.mode == "commission":
                B = s.commission_rate * cv.sales(a)
            else:
                star = None if p.probation else mv.stars.get(a)
                B = _star_bonus(cv, a, star, score)
            gold = golds[team] == a
            run = 0
            if gold:
                prior = _prior_run(cv, a, "gold", lambda r: r.get("gold") is True)
                run = prior % s.gold_run_months + 1
            pen = 0.0
            for x in cv.incidents(a):
                if x.kind in s.agent_fixed:
                    pen += s.agent_fixed[x.kind]
                if x.kind in s.agent_share_pct and x.amount is not None:
                    pen -= abs(x.amount) * s.agent_share_pct[x.kind] / 100
                if x.kind in s.leader_share_pct and x.amount is not None and t["leader"]:
                    leader_pen[t["leader"]] = (leader_pen.get(t["leader"], 0.0)
                                               - abs(x.amount) * s.leader_share_pct[x.kind] / 100)
            parts = {"individual": B * s.individual_pct / 100,
                     "team_share": B * s.team_share_pct / 100 if share_ok else 0.0,
                     "gold": s.gold_bonus if gold else 0.0,
                     "gold_quarter": s.gold_run_bonus if run == s.gold_run_months else 0.0,
                     "mentor": s.mentor_bonus * len(_mentored(cv, a)),
                     "penalties": pen}
            rows[a] = {"agent": a, "name": p.name, "team": team, "role": "agent",
                       "score": score, "star": star, "pay": pay_dict(parts, cv.decimals),
                       "flags": [], "gold": gold, "gold_run": run,
                       "bonus_base": num(B, 6), "mentor_of": _mentored(cv, a)}
    team_rows = []
    for team, t in teams.items():
        lid = t["leader"]
        if lid is not None:
            rows[lid] = _leader_row(cv, lid, team, t, means[team], leader_pen.get(lid, 0.0))
        for a, p in cv.people.items():  # a second leader of the team
            if p.role == "leader" and p.team == team and a != lid:
                rows[a] = _leader_row(cv, a, team, t, means[team], 0.0)
        mean = means[team]
        team_rows.append({"team": team, "leader": lid, "mean_score": num(mean),
                          "team_bonus": (s.excellent_team_bonus if mean is not None
                                         and mean > s.excellent_team_mean else 0.0),
                          "pay": rows[lid]["pay"] if lid else None})
    for a in cv.rows():
        if a not in cv.people:
            rows[a] = {"agent": a, "name": None, "team": None, "role": "agent",
                       "score": cv.score(a), "star": None,
                       "pay": pay_dict({k: 0.0 for k in AGENT_COMPONENTS}, cv.decimals),
                       "flags": ["unknown"], "gold": False, "gold_run": 0}
    return [rows[a] for a in sorted(rows)], team_rows


def _star_bonus(cv, a: str, star, score) -> float:
    """Mode star: base x attended / scheduled days x star coefficient x score / 100."""
    s = cv.pol.team8020
    if score is None:
        return 0.0
    S = cv.eng.S
    ks = cv.shifts(a)
    days = {int(S[k, K.S_DAY]) for k in ks}
    attended = {int(S[k, K.S_DAY]) for k in ks if S[k, K.S_ATTENDED] == 1}
    if not days:
        return 0.0
    st = cv.pol.stars
    coef = (st.coefficients[st.grades.index(star)] if star is not None
            else cv.pol.pay.no_star_coefficient)
    return s.star_base * len(attended) / len(days) * coef * score / 100


def _mentored(cv, mentor: str) -> list[str]:
    """Trainees whose score reached the bar this month, inside the window from `hired`,
    for the first time (an earlier month of the window that reached it is in --history)."""
    s = cv.pol.team8020
    out = []
    for a, p in sorted(cv.people.items()):
        if p.mentor != mentor or p.hired is None:
            continue
        hired_m = p.hired.year * 12 + p.hired.month - 1
        if not hired_m <= cv.month < hired_m + s.mentor_window_months:
            continue
        score = cv.score(a)
        if score is None or score < s.mentor_min_score:
            continue
        earlier = False
        for m in range(hired_m, cv.month):
            row = history_row(cv.history, m, a)
            if row is not None and isinstance(row.get("score"), (int, float)) and (
                    row["score"] >= s.mentor_min_score):
                earlier = True
        if not earlier:
            out.append(a)
    return out


def _leader_row(cv, lid: str, team: str, t: dict, mean, share_pen: float) -> dict:
    s = cv.pol.team8020
    p = cv.people[lid]
    team_sales = sum(cv.sales(a) for a in t["agents"])
    pen = share_pen
    for x in cv.incidents(lid):
        if x.kind in s.leader_fixed:
            pen += s.leader_fixed[x.kind]
    mgmt = cv.qa(lid, K.QA_MANAGEMENT)
    score = None
    if mean is not None and mgmt is not None:
        score = round((s.supervisor_team_weight * mean + s.supervisor_management_weight * mgmt)
                      / 100, cv.pol.score_decimals)
    flags = []
    low = score is not None and score < s.supervisor_low_score
    if low:
        prior = _prior_run(cv, lid, "score", lambda r: isinstance(r.get("score"), (int, float))
                           and not math.isnan(r["score"]) and r["score"] < s.supervisor_low_score)
        if prior + 1 >= s.supervisor_low_months:
            flags.append("returns_to_agent")
    parts = {"commission": s.supervisor_commission_rate * team_sales, "penalties": pen}
    return {"agent": lid, "name": p.name, "team": team, "role": "leader", "score": score,
            "star": None, "pay": pay_dict(parts, cv.decimals), "flags": flags,
            "gold": False, "gold_run": 0, "management": num(mgmt)}
