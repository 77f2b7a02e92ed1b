"""The ledger as a record: each booked deduction and each excuse as a stream entry.

Each entry has an identity (agent, rule, day, time, and what distinguishes two bookings of
the same rule: the threshold, the shift, the reason); the store records an identity once, so
a restarted engine, which books the same deductions again (perhaps in another order, as its
batches differ), adds nothing twice. Likewise `excuses` for the excuse table. A deduction's
entry carries the report's `facts` as they stood when it was booked.
"""
from __future__ import annotations

import csv
import io
import json

from kefu_floor.localtime import day_date, day_str
from kefu_floor.views.report import ITEM_OF_LEDGER, _facts, _num
from kefu_floor.schema import RULES
from kernels import layout as K

LEDGER, EXCUSES = "ledger", "excuses"
FIELDS = ["site", "kind", "ts", "agent", "rule", "item", "points", "day", "month",
          "excused", "reason", "facts"]


def _busy_that_day(eng, agent: int, day: int) -> dict:
    slots = [s for s in range(len(eng.slot_day)) if eng.slot_day[s] == day]
    if not slots:
        return {}
    return {day_str(day): _num(eng.DACC[slots[0], agent, K.D_BUSY_MS] / 1000.0, 3)}


def ledger_entries(eng, lo: int, hi: int) -> list[tuple[str, dict]]:
    """Entries of the ledger's global rows [lo, hi) (row numbers count every row ever
    booked: `Engine.ledger_base` + row of L); rows the engine dropped already are not
    there to give (the durable store pins what it has not recorded: `Engine.ledger_pin`)."""
    out = []
    for r in range(max(lo, eng.ledger_base), hi):
        row = eng.L[r - eng.ledger_base]
        if row[K.L_DAY] == eng.DROPPED_DAY:
            continue  # dropped where it stands (recorded before: it was behind the pin)
        rule, agent, day = int(row[K.L_RULE]), int(row[K.L_AGENT]), int(row[K.L_DAY])
        e = {"site": eng.site, "kind": "deduction", "ts": int(row[K.L_TS]),
             "agent": eng.sym.agents.names[agent], "rule": RULES[rule],
             "item": ITEM_OF_LEDGER[int(row[K.L_ITEM])], "points": _num(row[K.L_POINTS]),
             "day": day_str(day), "month": day_date(day).strftime("%Y-%m"),
             "excused": bool(row[K.L_EXCUSED])}
        if rule == K.R_FLOOR:
            e["reason"] = eng.sym.texts.names[int(row[K.L_CODE])]
            what = e["reason"]
        else:
            e["facts"] = _facts(eng, row, _busy_that_day(eng, agent, day))
            what = int(row[K.L_CODE])
        ident = json.dumps([e["agent"], e["rule"], day, e["ts"], what, e["points"]],
                           ensure_ascii=False)
        out.append((ident, e))
    return out


def excuse_entries(eng, lo: int, hi: int) -> list[tuple[str, dict]]:
    out = []
    for r in range(lo, hi):
        row = eng.X[r]
        day = int(row[K.X_DAY])
        e = {"site": eng.site, "kind": "excuse",
             "agent": eng.sym.agents.names[int(row[K.X_AGENT])],
             "rule": RULES[int(row[K.X_RULE])], "day": day_str(day),
             "month": day_date(day).strftime("%Y-%m")}
        out.append((json.dumps([e["agent"], e["rule"], day]), e))
    return out


def encode(entries: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    return [(i, {b"j": json.dumps(e, ensure_ascii=False).encode()}) for i, e in entries]


def decode(rows) -> list[dict]:
    return [json.loads(e[b"j"]) for _, e in rows]


def select(entries: list[dict], month: str | None, agent: str | None) -> list[dict]:
    return [e for e in entries if (month is None or e["month"] == month)
            and (agent is None or e["agent"] == agent)]


def render(entries: list[dict], fmt: str) -> str:
    if fmt == "json":
        return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
    buf = io.StringIO()
    w = csv.DictWriter(buf, FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for e in entries:
        w.writerow({**e, "facts": json.dumps(e["facts"], ensure_ascii=False)
                    if "facts" in e else ""})
    return buf.getvalue()
