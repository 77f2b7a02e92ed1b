"""taobao-30pt (POLICY.md §5, seed 004): the month's points and their ledger, the sales
ranking, the bonus effect, attendance fines and the discipline ladder."""
from __future__ import annotations

from fractions import Fraction

from kefu_floor.close.common import month_end_ms, num, pay_dict
from kernels import layout as K

COMPONENTS = ("bonus", "fines")


def ranking(cv, agents: list[str]) -> dict[str, int]:
    """Place of each agent with sales: by amount, then conversion (sale events / answered
    contacts; none answered ranks below any), then fewer tie-break incidents. A tie that
    survives takes the better place for all, and the places it fills are skipped."""
    kind = cv.pol.taobao.tie_break_kind

    def key(a):
        answered = int(cv.D(a, K.D_ANSWERED))
        conv = (Fraction(int(cv.D(a, K.D_SALE_N)), answered) if answered > 0
                else Fraction(-1))
        lost = sum(1 for x in cv.incidents(a) if x.kind == kind)
        return (-Fraction(repr(cv.sales(a))), -conv, lost)

    keys = {a: key(a) for a in agents if cv.sales(a) > 0}
    placed = sorted(keys, key=lambda a: (keys[a], a))
    out: dict[str, int] = {}
    for n, a in enumerate(placed):
        if n and keys[a] == keys[placed[n - 1]]:
            out[a] = out[placed[n - 1]]
        else:
            out[a] = n + 1
    return out


def effect_pct(cv, points: float) -> float:
    b = cv.pol.taobao
    for band in b.effect:
        if points >= band.min:
            return band.pct + band.per_point_above_pct * (points - band.min)
    return b.effect_below_pct


def agent_points(cv, a: str, place: int | None) -> tuple[float, list[dict], list[str], int]:
    """(points, ledger, flags, point deductions) of one agent."""
    b = cv.pol.taobao
    ledger: list[dict] = []
    flags: list[str] = []
    seen: dict[str, int] = {}
    deductions = 0
    for x in cv.incidents(a):
        if x.kind in b.deductions:
            r = b.deductions[x.kind]
            k = seen.get(x.kind, 0)
            seen[x.kind] = k + 1
            pts = r.first if k == 0 else r.each
            ledger.append({"kind": x.kind, "points": num(pts), "ts": x.ts})
            if pts < 0:
                deductions += 1
            if r.flag and r.flag not in flags:
                flags.append(r.flag)
        elif x.kind in b.rewards:
            ledger.append({"kind": x.kind, "points": num(b.rewards[x.kind]), "ts": x.ts})
    end = month_end_ms(cv)
    if place is not None and place <= len(b.rank_points):
        ledger.append({"kind": f"rank_{place}", "points": num(b.rank_points[place - 1]),
                       "ts": end})
    if deductions <= b.few_deductions_max:
        ledger.append({"kind": "few_deductions", "points": num(b.few_deductions_points),
                       "ts": end})
    points = b.start_points + sum(e["points"] for e in ledger)
    return points, ledger, flags, deductions


def ladder(cv, a: str) -> tuple[dict, float, bool]:
    """(ladder state, fines, dismissal) from the month's warning incidents."""
    b = cv.pol.taobao
    steps = b.ladder
    kinds = {s.kind: n for n, s in enumerate(steps)}
    counts = [0] * len(steps)
    fines = 0.0
    final_reached = False
    dismissal = False
    for x in cv.incidents(a):
        is_ladder = x.kind in kinds
        is_deduction = x.kind in b.deductions  # a point-deduction kind (warnings aside)
        if final_reached and (is_ladder or (is_deduction and _deducts(cv, a, x))):
            dismissal = True
        if not is_ladder:
            continue
        n = kinds[x.kind]
        fines += steps[n].fine
        counts[n] += 1
        while n + 1 < len(steps) and counts[n] >= b.ladder_convert:
            counts[n] -= b.ladder_convert
            counts[n + 1] += 1
            n += 1
        if counts[-1] > 0:
            final_reached = True
    state = "none"
    for n in range(len(steps) - 1, -1, -1):
        if counts[n] > 0:
            state = steps[n].name
            break
    if dismissal:
        state = "dismissal"
    out = {s.name: c for s, c in zip(steps, counts)}
    out["state"] = state
    return out, fines, dismissal


def _deducts(cv, a: str, x) -> bool:
    """Whether incident x took points (the first of a warn-first kind is a warning)."""
    b = cv.pol.taobao
    r = b.deductions[x.kind]
    k = sum(1 for y in cv.incidents(a) if y.kind == x.kind and (y.ts, y.order) < (x.ts, x.order))
    return (r.first if k == 0 else r.each) < 0


def fines(cv, a: str) -> float:
    """Attendance fines from telemetry and from incidents (yuan, <= 0)."""
    b = cv.pol.taobao
    f = b.absent_fine * cv.D(a, K.D_ABSENT_N)
    f += b.lunch_fine * cv.D(a, K.D_LUNCH_N)
    f += b.sign_outs_fine * (int(cv.D(a, K.D_SIGN_OUT_N)) // b.sign_outs_per_fine)
    for x in cv.incidents(a):
        if x.kind in b.incident_fines:
            f += b.incident_fines[x.kind]
    return f


def close_rows(cv) -> tuple[list[dict], list[dict]]:
    b = cv.pol.taobao
    agents = [a for a in cv.rows() if cv.role(a) == b.rank_role and a in cv.people]
    places = ranking(cv, agents)
    rows = []
    for a in cv.rows():
        p = cv.people.get(a)
        place = places.get(a)
        points, led, flags, _ = agent_points(cv, a, place)
        lad, ladder_fines, dismissal = ladder(cv, a)
        if dismissal:
            flags.append("dismissal")
        if p is None:
            flags.append("unknown")
        bonus = b.bonus_base * effect_pct(cv, points) / 100 if p is not None else 0.0
        fine = fines(cv, a) + ladder_fines
        rows.append({"agent": a, "name": p.name if p else None, "team": p.team if p else None,
                     "role": p.role if p else "agent", "score": None, "star": None,
                     "pay": pay_dict({"bonus": bonus, "fines": fine}, cv.decimals),
                     "flags": flags, "points": num(points), "points_ledger": led,
                     "gold": place is not None and place <= b.gold_places,
                     "ladder": lad, "place": place})
    teams = []
    for team, t in cv.teams().items():
        lid = t["leader"]
        teams.append({"team": team, "leader": lid, "mean_score": None, "team_bonus": 0.0,
                      "pay": next((r["pay"] for r in rows if r["agent"] == lid), None)})
    return rows, teams
