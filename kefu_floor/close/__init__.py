"""The month close (DESIGN.md §3.4): one module per pay scheme, a writer for the files.

`build_close(engine, month, ...)` is pure: an engine fed with the month's events in, the
close document out. `kefu_floor.close.writer` turns it into close.json, paysheet.csv and
paysheet.xlsx; `kefu_floor.close.cli` is the command.
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


def build_close(eng: Engine, month: int, calendar: DayKinds | None = None,
                history: dict[int, dict] | None = None) -> dict:
    cv = CloseView(eng, month, calendar, history)
    agents, teams = SCHEMES[eng.policy.scheme].close_rows(cv)
    for row in agents:
        excused, open_ = cv.appeals(row["agent"])
        row["excused"] = excused
        row["appeals_open"] = open_
    return {"schema": SCHEMA, "site": eng.site, "month": month_str(month),
            "policy": eng.policy.name, "scheme": eng.policy.scheme, "as_of": eng.now,
            "agents": agents, "teams": teams}
