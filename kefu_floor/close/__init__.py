"""The month close (DESIGN.md §3.4): one module per pay scheme, a writer for the files.

`build_close(engine, month, ...)` is pure: an engine fed with the month's events in (and
brought up to engine time by its caller: `engine.finish()`), the close document out.
`kefu_floor.close.writer` turns it into close.json, paysheet.csv and paysheet.xlsx;
`kefu_floor.cli.close` is the command.
"""
from __future__ import annotations

from kefu_floor.close import chengdu, taobao, team8020
from kefu_floor.close.calendar import DayKinds
from kefu_floor.close.common import SCHEMA, CloseView
from kefu_floor.engine import Engine
from kefu_floor.localtime import month_str

SCHEMES = {"chengdu-2014": chengdu, "team-80-20": team8020, "taobao-30pt": taobao}


def components(scheme: str) -> tuple[str, ...]:
    """Pay components of a scheme, in pay-sheet order (leaders' own last)."""
    if scheme == "team-80-20":
        return team8020.AGENT_COMPONENTS + ("commission",)
    if scheme == "taobao-30pt":
        return taobao.COMPONENTS
    return chengdu.COMPONENTS


def known_kinds(pol) -> set[str]:
    """Incident kinds the scheme gives an effect; any other kind is listed, with none."""
    if pol.scheme == "team-80-20":
        t = pol.team8020
        return set(t.agent_fixed) | set(t.leader_fixed) | set(t.agent_share_pct) | set(
            t.leader_share_pct)
    if pol.scheme == "taobao-30pt":
        b = pol.taobao
        return (set(b.deductions) | set(b.rewards) | set(b.incident_fines)
                | {s.kind for s in b.ladder} | {b.tie_break_kind})
    lead = pol.leader
    return (set(lead.floor_kinds) | set(lead.floor_points_kinds) | set(lead.monitoring_kinds)
            | set(lead.excellent_bar_kinds))


def build_close(eng: Engine, month: int, calendar: DayKinds | None = None,
                history: dict[int, dict] | None = None, mv=None) -> dict:
    """`mv`: the report's MonthView of the same month, reused rather than rebuilt."""
    cv = CloseView(eng, month, calendar, history, mv)
    agents, teams = SCHEMES[eng.policy.scheme].close_rows(cv)
    known = known_kinds(eng.policy)
    unknown: set[str] = set()
    for row in agents:
        excused, open_ = cv.appeals(row["agent"])
        row["excused"] = excused
        row["appeals_open"] = open_
        row["incidents"] = []
        for x in cv.incidents(row["agent"]):
            e = {"kind": x.kind, "ts": x.ts}
            if x.amount is not None:
                e["amount"] = x.amount
            if x.points is not None:
                e["points"] = x.points
            e["effect"] = x.kind in known
            if not e["effect"]:
                unknown.add(x.kind)
            row["incidents"].append(e)
    return {"schema": SCHEMA, "site": eng.site, "month": month_str(month),
            "policy": eng.policy.name, "scheme": eng.policy.scheme, "as_of": eng.now,
            "agents": agents, "teams": teams,
            "unknown_incident_kinds": sorted(unknown)}
