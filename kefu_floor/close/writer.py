"""Writes a close: close.json, paysheet.csv (UTF-8 with BOM) and paysheet.xlsx.

Byte for byte the same for the same close: JSON with sorted-free fixed key order, the CSV
from the same rows, and the xlsx re-zipped with fixed entry times and document dates.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import zipfile
from pathlib import Path

from kefu_floor.close import components

HEAD = {
    "agent": "工号 / Agent", "name": "姓名 / Name", "team": "班组 / Team",
    "role": "角色 / Role", "score": "得分 / Score", "star": "星级 / Star",
    "points": "积分 / Points", "gold": "金牌 / Gold", "gold_run": "连续金牌月 / Gold run",
    "ladder": "处分阶梯 / Ladder", "flags": "标记 / Flags", "total": "合计 / Total",
    # pay components
    "base": "基本工资 / Base", "star_pay": "绩效工资 / Star pay",
    "commission": "销售提成 / Commission", "seniority": "工龄工资 / Seniority",
    "full_attendance": "全勤奖 / Full attendance", "subsidy": "业务补贴 / Subsidy",
    "night_shifts": "小夜班补贴 / Night shifts", "overtime": "加班费 / Overtime",
    "individual": "个人奖金80% / Individual", "team_share": "团队奖金20% / Team share",
    "gold_pay": "金牌奖 / Gold bonus", "gold_quarter": "连续金牌奖 / Gold quarter",
    "mentor": "师徒奖 / Mentor", "penalties": "扣款 / Penalties",
    "bonus": "月度奖金 / Bonus", "fines": "罚款 / Fines",
}
# pay component -> header key where the component's name is also a plain column
_PAY_KEY = {"star": "star_pay", "gold": "gold_pay"}
MONEY_FORMAT = "#,##0.00"


def columns(doc: dict) -> list[tuple[str, str]]:
    """(kind, key): kind "f" a field of the row, "p" a pay component."""
    scheme = doc.get("scheme", "chengdu-2014")
    cols = [("f", k) for k in ("agent", "name", "team", "role", "score", "star")]
    if scheme == "taobao-30pt":
        cols += [("f", "points"), ("f", "gold"), ("f", "ladder")]
    if scheme == "team-80-20":
        cols += [("f", "gold"), ("f", "gold_run")]
    cols += [("p", c) for c in components(scheme)] + [("p", "total"), ("f", "flags")]
    return cols


def header(col: tuple[str, str]) -> str:
    kind, key = col
    return HEAD[_PAY_KEY.get(key, key) if kind == "p" else key]


def cell(row: dict, col: tuple[str, str]):
    kind, key = col
    if kind == "p":
        return row["pay"].get(key)
    v = row.get(key)
    if key == "flags":
        return ";".join(v or [])
    if key == "ladder":
        return v["state"] if v else None
    if key == "gold":
        return None if v is None else ("是 / yes" if v else "")
    return v


def _csv_text(v, kind: str) -> str:
    if v is None:
        return ""
    if kind == "p":
        return f"{v:.2f}"
    return str(v)


def write_close(doc: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / "close.json", (json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
            .encode("utf-8"))
    _atomic(out / "paysheet.csv", paysheet_csv(doc))
    _atomic(out / "paysheet.xlsx", paysheet_xlsx(doc))


def paysheet_csv(doc: dict) -> bytes:
    cols = columns(doc)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([header(c) for c in cols])
    for row in doc["agents"]:
        w.writerow([_csv_text(cell(row, c), c[0]) for c in cols])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def _sheet_name(s: str, used: set[str]) -> str:
    name = "".join("_" if ch in "[]:*?/\\" else ch for ch in (s or "—"))[:28] or "—"
    base, n = name, 2
    while name.lower() in used:
        name = f"{base}~{n}"
        n += 1
    used.add(name.lower())
    return name


def paysheet_xlsx(doc: dict) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    cols = columns(doc)
    wb = Workbook()
    summary = wb.active
    summary.title = "汇总 Summary"
    used = {summary.title.lower()}
    bold = Font(bold=True)
    by_team: dict[str, list[dict]] = {}
    for row in doc["agents"]:
        by_team.setdefault(row.get("team") or "", []).append(row)
    for team in sorted(by_team):
        ws = wb.create_sheet(_sheet_name(team, used))
        ws.append([header(c) for c in cols])
        for row in by_team[team]:
            ws.append([cell(row, c) for c in cols])
        for j, c in enumerate(cols, 1):
            ws.cell(1, j).font = bold
            if c[0] == "p":
                for r in range(2, ws.max_row + 1):
                    ws.cell(r, j).number_format = MONEY_FORMAT
        ws.freeze_panes = "A2"
    sh = ["班组 / Team", "值班长 / Leader", "人数 / People", "平均分 / Mean score",
          "团队奖 / Team bonus", "工资合计 / Pay total"]
    summary.append(sh)
    teams = {t["team"]: t for t in doc.get("teams", [])}
    for team in sorted(set(by_team) | set(teams)):
        t = teams.get(team, {})
        rows = by_team.get(team, [])
        total = round(sum(r["pay"]["total"] for r in rows), 2)
        summary.append([team, t.get("leader"), len(rows), t.get("mean_score"),
                        t.get("team_bonus", 0.0), total])
    for j in range(1, len(sh) + 1):
        summary.cell(1, j).font = bold
    for r in range(2, summary.max_row + 1):
        for j in (5, 6):
            summary.cell(r, j).number_format = MONEY_FORMAT
    summary.freeze_panes = "A2"
    # fixed document dates and zip entry times: the same close gives the same bytes
    stamp = dt.datetime(2000, 1, 1)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    raw = io.BytesIO()
    wb.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _fix_core_dates(data)
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, data)
    return out.getvalue()


def _fix_core_dates(xml: bytes) -> bytes:
    import re

    return re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                  rb"\g<1>2000-01-01T00:00:00Z\g<3>", xml)


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
