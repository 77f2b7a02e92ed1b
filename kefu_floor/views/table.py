"""The score report as a readable score sheet (rich handles CJK column widths)."""
from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from kefu_floor.i18n import t
from kefu_floor.localtime import local_dt
from kefu_floor.policy import ITEM_KEYS
from zoneinfo import ZoneInfo


def _fmt(v, nd=1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _one_lang(header: str, lang: str) -> str:
    """The pay sheet's "中文 / English" header in the screen's one language."""
    zh, _, en = header.partition(" / ")
    return zh if lang == "zh" else (en or zh)


def pay_table(close: dict, lang: str) -> Table:
    """The month close's pay sheet (the same columns as paysheet.csv)."""
    from kefu_floor.close.writer import cell, columns, header

    cols = columns(close)
    tab = Table(title=t("pay_sheet", lang, month=close["month"], policy=close["policy"]),
                header_style="bold")
    for c in cols:
        tab.add_column(_one_lang(header(c), lang), no_wrap=True,
                       justify="right" if c[0] == "p" or c[1] in ("score", "points") else "left")
    for row in close["agents"]:
        vals = []
        for c in cols:
            v = cell(row, c)
            if c[0] == "p":
                vals.append("—" if v is None else f"{v:,.2f}")
            elif c[1] == "gold":
                vals.append(t("yes", lang) if row.get("gold") else "")
            else:
                vals.append(_fmt(v, 2))
        tab.add_row(*vals)
    return tab


def render_table(report: dict, lang: str, width: int | None = None,
                 close: dict | None = None) -> str:
    tz = ZoneInfo(report.get("timezone", "Asia/Shanghai"))
    as_of = local_dt(report["as_of"], tz).strftime("%Y-%m-%d %H:%M")
    title = t("report_title", lang, site=report["site"], month=report["month"], as_of=as_of)
    tab = Table(title=title, show_lines=False, header_style="bold")
    cols = ["agent", "name", "team", *ITEM_KEYS, "adjustments", "score", "star"]
    for c in cols:
        tab.add_column(t(c, lang), justify="left" if c in ("agent", "name", "team") else "right",
                       no_wrap=True)
    for a in report["agents"]:
        star = a["star"]
        star_s = "★" * star if star else (t("probation", lang) if a.get("probation") else "—")
        name = a.get("name") or ""
        if a.get("unknown"):
            name = f"({t('unknown', lang)})"
        row = [a["agent"], name, a.get("team") or "—",
               *(_fmt(a["items"][k]) for k in ITEM_KEYS), _fmt(a["adjustments"]),
               _fmt(a["score"], 2), star_s]
        tab.add_row(*row)
    ded = Table(title=t("deductions", lang), header_style="bold")
    for c in ("agent", "day", "time", "rule", "item", "points"):
        ded.add_column(t(c, lang))
    for a in report["agents"]:
        for d in a["deductions"]:
            rule = t(d["rule"], lang)
            if d.get("excused"):
                rule += f" ({t('excused', lang)})"
            ded.add_row(a["agent"], d["day"], local_dt(d["ts"], tz).strftime("%H:%M:%S"), rule,
                        t(d["item"], lang), _fmt(d["points"]))
    buf = io.StringIO()
    con = Console(file=buf, width=width or 200, force_terminal=False, color_system=None)
    con.print(tab)
    if ded.row_count:
        con.print(ded)
    if close is not None:
        con.print(pay_table(close, lang))
    return buf.getvalue()
