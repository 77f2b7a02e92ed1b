"""The shift leader's terminal dashboard (值班长看板), a Textual client of the live feed.

    kefu-floor tui --connect ws://127.0.0.1:8765 [--site cd1] [--team T1] [--lang zh|en]

Screens: the floor (every agent of the selected team(s), live), the alerts pane (every
deduction as it is booked, newest first), the queue strip, an agent's drill-down (Enter), the
team view (`v`) and keyboard help (`?`). The floor table is built once (again only when a
filter changes) and then changed cell by cell for the agents a delta names, and only for the
rows on screen: `FloorTable.set_cells` writes the cells and repaints just those (Textual's own
`update_cell` would re-render every visible cell each time); rows off screen are brought up to
date when they scroll into view. Time in state is recounted each second and on each delta for
the rows on screen. When the feed is lost, a banner says since when, the last data stays on
screen, and the client reconnects with backoff.

State is always written as text and a symbol as well as a colour (colour-blind safe); colours
are from the Okabe-Ito palette. Times are in the site's time zone (the policy's).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import signal
import sys
import time
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import ColumnKey, RowKey

from dashboards.feedclient import Change, FeedClient
from kefu_floor.i18n import t
from kefu_floor.policy import ITEM_KEYS, Policy, load_policy
from kefu_floor.scoring import assign_stars

# ------------------------------------------------------------------------- look
STATES = ("ready", "busy", "ringing", "talking", "wrap", "out")
# ASCII symbols: never East-Asian "ambiguous" width, so CJK terminals keep columns aligned
SYMBOL = {"ready": "+", "busy": "=", "ringing": "~", "talking": ">", "wrap": "*", "out": "."}
ORANGE, VERMILION, GREEN, SKY, YELLOW, PURPLE = (
    "#e69f00", "#d55e00", "#009e73", "#56b4e9", "#f0e442", "#cc79a7")
STATE_STYLE = {"ready": f"bold {GREEN}", "busy": ORANGE, "ringing": f"bold {YELLOW}",
               "talking": SKY, "wrap": PURPLE, "out": "dim"}
REASONS = ("break", "lunch", "meeting", "training", "system", "toilet")  # with labels
EXCEPTION_FLAGS = ("absent", "missing", "late_return", "left_early", "late", "unknown")
ALERT_ROWS = 200  # alerts drawn in the pane (the client keeps more)
WIDE = 160  # columns from which the alerts pane goes beside the floor, not under it

# floor table columns: key, label, justify (widths are set from the data and labels)
COLUMNS = (("agent", "agent", "left"), ("name", "name", "left"), ("team", "team", "left"),
           ("state", "tui_state", "left"), ("in_state", "tui_in_state", "right"),
           ("busy", "tui_busy", "right"), ("left", "tui_left", "right"),
           ("sign", "tui_sign", "left"), ("ans", "tui_ans", "right"),
           ("aht", "tui_aht", "right"), ("rate", "tui_rate", "right"),
           ("sat", "tui_sat", "right"), ("score", "tui_score", "right"),
           ("star", "tui_star", "right"))
COL_KEYS = tuple(c[0] for c in COLUMNS)
BLANK_ROW = tuple(("", "") for _ in COLUMNS[1:])  # cells of a row not yet drawn
BLANK_CELLS = ("",) * (len(COLUMNS) - 1)
MIN_WIDTH = {"agent": 5, "name": 6, "team": 4, "state": 11, "in_state": 8, "busy": 6, "left": 6,
             "sign": 9, "ans": 4, "aht": 4, "rate": 4, "sat": 4, "score": 6, "star": 4}
SORTABLE = ("agent", "name", "team", "state", "in_state", "busy", "left", "sign", "ans", "aht",
            "rate", "sat", "score", "star")


def fmt_dur(s: float | None) -> str:
    """m:ss, h:mm:ss, or from a day on NdHH:MM (a signed-out agent's time in state)."""
    if s is None:
        return "-"
    s = max(0, int(s))
    h, r = divmod(s, 3600)
    m, sec = divmod(r, 60)
    if h >= 24:
        return f"{h // 24}d{h % 24:02d}:{m:02d}"
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def fmt_min(s: float | None) -> str:
    """Busy time in minutes:seconds, never hours: the policy counts busy in minutes."""
    if s is None:
        return "-"
    m, sec = divmod(max(0, int(s)), 60)
    return f"{m}:{sec:02d}"


def fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def fmt_num(x, nd: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:.{nd}f}"


def local(ts_ms: int | float, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ms / 1000.0, tz)


def local_midnight_ms(ts_ms: int, tz: ZoneInfo) -> int:
    d = local(ts_ms, tz)
    return int(dt.datetime.combine(d.date(), dt.time(0), tzinfo=tz).timestamp() * 1000)


def reason_label(reason: str | None, lang: str) -> str:
    if not reason:
        return ""
    key = f"tui_r_{reason}"
    out = t(key, lang)
    return reason if out == key else out


def state_text(state: str, reason: str | None, lang: str) -> str:
    s = f"{SYMBOL.get(state, '?')} {t(state, lang)}"
    r = reason_label(reason, lang)
    return f"{s} {r}" if r else s


def exception_flags(e: dict) -> list[str]:
    flags = set(e.get("flags") or ())
    return [f for f in EXCEPTION_FLAGS if f in flags]


def is_exception(e: dict) -> bool:
    """"Attention now": the service's own definition (floorview.ATTENTION_FLAGS: what is
    wrong with the agent's current shift), so an agent whose shift ended is not listed."""
    return bool(e.get("attention"))


def sign_cell(e: dict, lang: str) -> tuple[str, str]:
    exc = exception_flags(e)
    if e.get("role") == "leader" and not exc:
        return t("tui_leader", lang), f"bold {PURPLE}"
    if exc:
        return "!" + ",".join(t(f"tui_f_{f}", lang) for f in exc), f"bold {VERMILION}"
    flags = set(e.get("flags") or ())
    if "in_break" in flags:
        return t("tui_f_in_break", lang), "dim"
    if "in_shift" in flags:
        return t("tui_f_ok", lang), ""
    return "", ""


def budget_cell(left_s: float | None) -> tuple[str, str]:
    if left_s is None:
        return "-", ""
    if left_s <= 0:
        return "0:00!!", f"bold reverse {VERMILION}"
    if left_s <= 300:
        return fmt_min(left_s) + "!", f"bold {VERMILION}"
    if left_s <= 600:
        return fmt_min(left_s), ORANGE
    return fmt_min(left_s), ""


def agent_cells(e: dict, now_ms: int | None, lang: str, today_s: str | None = None
                ) -> tuple[tuple[str, str], ...]:
    """One floor row as (text, style) per column; compared to decide which cells to update.
    `today_s`: the site's date (YYYY-MM-DD); an agent whose counters are of another day (an
    evening shift not begun) has them dimmed."""
    st = e.get("state") or "out"
    old_day = today_s is not None and e.get("day") not in (None, today_s)
    dim = "dim" if old_day else ""
    since = e.get("since")
    in_state = (now_ms - since) / 1000.0 if since and now_ms is not None else None
    today = e.get("today") or {}
    score = e.get("score")
    star = e.get("star")
    if star is not None:
        star_s = str(star)
    elif e.get("probation"):
        star_s = t("tui_prob", lang)
    else:
        star_s = "-"
    return (
        (e.get("agent") or "", ""),
        (e.get("name") or "", ""),
        (e.get("team") or "", ""),
        (state_text(st, e.get("reason"), lang), STATE_STYLE.get(st, "")),
        (fmt_dur(in_state) if st != "out" or since else "-", ""),
        (fmt_min(e.get("busy_today_s")), dim),
        (fmt_min(e.get("budget_left_s")), dim) if old_day else budget_cell(e.get("budget_left_s")),
        sign_cell(e, lang),
        (str(today.get("answered", 0)), dim),
        (fmt_num(today.get("aht_s")), dim),
        (fmt_pct(today.get("answer_rate")), dim),
        (fmt_pct(today.get("satisfaction")), dim),
        (fmt_num(score, 2), ""),
        (star_s, ""),
    )


def _none_last(v, reverse: bool):
    # None sorts after every value whichever way the column is sorted
    return (1 if not reverse else 0, 0) if v is None else (0 if not reverse else 1, v)


def sort_value(col: str, e: dict, now_ms: int | None):
    today = e.get("today") or {}
    if col == "agent":
        return e.get("agent") or ""
    if col == "name":
        return e.get("name") or ""
    if col == "team":
        return e.get("team") or ""
    if col == "state":
        return STATES.index(e.get("state")) if e.get("state") in STATES else 99
    if col == "in_state":
        s = e.get("since")
        return (now_ms - s) if s and now_ms is not None else None
    if col == "busy":
        return e.get("busy_today_s")
    if col == "left":
        return e.get("budget_left_s")
    if col == "sign":
        exc = exception_flags(e)
        return EXCEPTION_FLAGS.index(exc[0]) if exc else len(EXCEPTION_FLAGS)
    if col == "ans":
        return today.get("answered")
    if col in ("aht", "rate", "sat"):
        return today.get({"aht": "aht_s", "rate": "answer_rate", "sat": "satisfaction"}[col])
    if col == "score":
        return e.get("score")
    if col == "star":
        return e.get("star")
    return None


# ------------------------------------------------------------------------- queue strip
def queue_strip(state: dict | None, lang: str, wide: bool = False,
                team: str | None = None) -> Text:
    """Calls waiting, longest wait, service level (30 min and today) against the target,
    abandon rate (the site's queues, all together), occupancy and agents by state (of
    `team` when one is chosen): three short lines (two when wide). Every figure is the
    service's (`totals`, `floor`, `teams`): nothing is recomputed here."""
    out = Text()
    if not state:
        return out
    tot = state.get("totals") or {}
    pol = state.get("policy") or {}
    target = pol.get("service_level_target") or 80
    sl_s = pol.get("service_level_s") or 20
    waiting = tot.get("waiting") or 0
    longest = tot.get("longest_wait_s") or 0
    w30 = (tot.get("windows") or {}).get("30") or {}
    day = tot.get("today") or {}
    scope = ((state.get("teams") or {}).get(team) or {}) if team else (state.get("floor") or {})
    dot = " | "

    def sl(x):
        if x is None:
            return Text("-")
        pct = x * 100
        bad = pct < target
        return Text(f"{pct:.0f}%" + ("!" if bad else ""),
                    style=f"bold {VERMILION}" if bad else f"bold {GREEN}")

    out.append(f"{t('tui_waiting', lang)} ", style="bold")
    out.append(str(waiting), style=f"bold {ORANGE}" if waiting else "")
    out.append(f"  {t('tui_longest', lang)} ", style="bold")
    out.append(fmt_dur(longest), style=f"bold {ORANGE}" if longest >= sl_s else "")
    out.append(dot)
    out.append(f"{t('tui_sl', lang)} ", style="bold")
    out.append(f"{t('tui_30m', lang)} ")
    out.append_text(sl(w30.get("service_level")))
    out.append(f"  {t('tui_today', lang)} ")
    out.append_text(sl(day.get("service_level")))
    out.append(f"  ({t('tui_target', lang)} {target:.0f}% / {sl_s:.0f}s)", style="dim")
    out.append(dot if wide else "\n")
    out.append(f"{t('tui_abandon', lang)} ", style="bold")
    out.append(f"{t('tui_30m', lang)} {fmt_pct(w30.get('abandon_rate'))}  "
               f"{t('tui_today', lang)} {fmt_pct(day.get('abandon_rate'))}")
    occ = scope.get("occupancy")
    out.append(dot)
    out.append(f"{t('tui_occupancy', lang)} ", style="bold")
    out.append(fmt_pct(occ))
    out.append("\n")
    by = scope.get("by_state") or {}
    for k, st in enumerate(STATES):
        if k:
            out.append("  ")
        out.append(f"{SYMBOL[st]} {t(st, lang)} ", style=STATE_STYLE[st])
        out.append(str(by.get(st, 0)), style="bold")
    return out


# ------------------------------------------------------------------------- drill-down data
def band_text(policy: Policy | None, item: str, value, lang: str) -> Text:
    """The item's bands with the one the value falls in shown reversed and in brackets."""
    out = Text()
    if policy is None:
        return out
    b = policy.bands
    if item == "aht":
        maxes, scores, above = b.aht.max, b.aht.score, b.aht.above
        hit = None
        if value is not None:
            hit = next((i for i, m in enumerate(maxes) if value <= m), len(maxes))
        parts = [f"<={m:g}s:{s:g}" for m, s in zip(maxes, scores)] + [f">{maxes[-1]:g}s:{above:g}"]
    elif item in ("satisfaction", "answer_rate"):
        bb = getattr(b, item)
        mins, scores, below = bb.min, bb.score, bb.below
        hit = None
        if value is not None:
            hit = next((i for i, m in enumerate(mins) if value * 100 >= m - 1e-9), len(mins))
        parts = [f">={m:g}%:{s:g}" for m, s in zip(mins, scores)] + [f"<{mins[-1]:g}%:{below:g}"]
    elif item == "utilization":
        bz = policy.busy
        return Text(t("tui_util_rule", lang, budget=f"{bz.budget_min:g}",
                      first=f"{bz.first_points:g}", step=f"{bz.step_min:g}",
                      pts=f"{bz.step_points:g}"), style="dim")
    elif item == "site":
        return Text(t("tui_site_rule", lang), style="dim")
    else:
        return Text(t("tui_manual", lang), style="dim")
    for i, p in enumerate(parts):
        if i:
            out.append(" ")
        if i == hit:
            out.append(f"[{p}]", style="bold reverse")
        else:
            out.append(p, style="dim")
    return out


def item_value(item: str, kpi: dict, items: dict):
    """The month's raw value behind an item (seconds, a ratio, or the score itself)."""
    if item == "aht":
        return kpi.get("aht_s")
    if item == "satisfaction":
        n = kpi.get("surveys") or 0
        return (kpi.get("satisfied") or 0) / n if n else None
    if item == "answer_rate":
        n = kpi.get("offered") or 0
        return (kpi.get("answered") or 0) / n if n else None
    return items.get(item)


def fmt_item_value(item: str, v) -> str:
    if v is None:
        return "-"
    if item == "aht":
        return f"{v:.1f}s"
    if item in ("satisfaction", "answer_rate"):
        return f"{v * 100:.1f}%"
    return f"{v:g}"


def next_star(policy: Policy | None, report: dict | None, agent: str) -> dict:
    """What `agent` needs to reach the next star, others' scores unchanged.

    {"kind": "top" | "need" | "unreachable" | "probation" | "no_score" | "unknown" | "leader",
     "star", "next", "score", "target", "need"}. The threshold is found by trying the other
    agents' scores (the star as a function of one's own score only steps there) with the
    policy's own `assign_stars`, so ties and rounding follow the policy exactly.
    """
    if policy is None or report is None:
        return {"kind": "unknown"}
    rows = {a["agent"]: a for a in report.get("agents", [])}
    me = rows.get(agent)
    if me is None:
        leaders = {x["agent"] for x in report.get("leaders", [])}
        return {"kind": "leader" if agent in leaders else "unknown"}
    if me.get("probation"):
        return {"kind": "probation"}
    if me.get("score") is None:
        missing = [k for k in ITEM_KEYS if (me.get("items") or {}).get(k) is None
                   and policy.weights.get(k, 0) > 0]
        return {"kind": "no_score", "missing": missing}
    ranked = {a: float(r["score"]) for a, r in rows.items()
              if r.get("score") is not None and not r.get("probation")}
    mine = ranked[agent]
    grades = list(policy.stars.grades)  # best first
    cur = assign_stars(policy, ranked).get(agent)
    out = {"star": cur, "score": mine}
    if cur is None or grades.index(cur) == 0:
        return {**out, "kind": "top"}
    want = grades[grades.index(cur) - 1]

    def reaches(c: float) -> bool:
        g = assign_stars(policy, {**ranked, agent: c}).get(agent)
        return g is not None and grades.index(g) <= grades.index(want)

    cands = sorted({s for a, s in ranked.items() if a != agent and s > mine})
    lo, hi = 0, len(cands)  # first candidate that reaches `want` (monotone in the score)
    while lo < hi:
        mid = (lo + hi) // 2
        if reaches(cands[mid]):
            hi = mid
        else:
            lo = mid + 1
    if lo == len(cands):
        return {**out, "kind": "unreachable", "next": want}
    target = cands[lo]
    return {**out, "kind": "need", "next": want, "target": target,
            "need": round(target - mine, policy.score_decimals)}


def star_text(policy: Policy | None, report: dict | None, agent: str, lang: str) -> Text:
    ns = next_star(policy, report, agent)
    k = ns["kind"]
    if k == "unknown":
        return Text(t("tui_loading", lang) if report is None else "-", style="dim")
    if k == "probation":
        return Text(t("tui_star_probation", lang))
    if k == "leader":
        return Text(t("tui_star_leader", lang))
    if k == "no_score":
        return Text(t("tui_star_noscore", lang,
                      items=", ".join(t(i, lang) for i in ns["missing"])))
    out = Text(t("tui_star_now", lang, star=ns["star"], score=f"{ns['score']:.2f}") + "\n")
    if k == "top":
        return Text(t("tui_star_top", lang, star=ns["star"]), style=f"bold {GREEN}")
    if k == "unreachable":
        out.append(t("tui_star_unreachable", lang, next=ns["next"]))
        return out
    need = ns["need"]
    out.append(t("tui_star_need", lang, next=ns["next"], target=f"{ns['target']:.2f}",
                 need=f"{need:.2f}") + "\n", style="bold")
    me = next(a for a in report["agents"] if a["agent"] == agent)
    any_item = False
    for key in ITEM_KEYS:
        w = policy.weights.get(key, 0)
        cur = (me.get("items") or {}).get(key)
        if w <= 0 or cur is None:
            continue
        pts = need * 100.0 / w
        if cur + pts <= 100 + 1e-9:
            any_item = True
            out.append("  " + t("tui_star_item", lang, item=t(key, lang), pts=f"{pts:.1f}",
                                to=f"{cur + pts:.1f}") + "\n")
    if not any_item:
        out.append("  " + t("tui_star_none", lang) + "\n")
    out.append("  " + t("tui_star_adjust", lang, need=f"{need:.2f}") + "\n")
    out.append(t("tui_star_assume", lang), style="dim")
    return out


def evidence(d: dict, kpi: dict, day_rank: int, policy: Policy | None, tz: ZoneInfo,
             lang: str) -> str:
    """Why a deduction was booked, from the ledger row and the month's KPIs."""
    if d.get("evidence"):  # a service that sends its own evidence wins
        return str(d["evidence"])
    facts = d.get("facts")
    if facts and d.get("rule") == "busy_over_30" and "threshold_min" in facts:
        return t("tui_ev_busy", lang, busy=fmt_min(facts.get("counted_busy_s_that_day")),
                 n=day_rank, mins=f"{facts['threshold_min']:g}",
                 time=local(d["ts"], tz).strftime("%H:%M:%S"))
    if facts:  # what the service measured it against (report and alert: the same facts)
        parts = []
        for k, v in facts.items():
            if k == "counted_busy_s_that_day":
                v = fmt_min(v)
            elif k == "threshold_min":
                v = f"{v:g}" if isinstance(v, (int, float)) else v
            parts.append(f"{t('tui_fact_' + k, lang)} {v}")
        return "; ".join(parts)
    rule = d.get("rule")
    tm = local(d["ts"], tz).strftime("%H:%M:%S")
    if rule == "busy_over_30":
        busy = (kpi.get("busy_s_by_day") or {}).get(d.get("day"))
        budget = policy.busy.budget_min if policy else 30
        step = policy.busy.step_min if policy else 15
        return t("tui_ev_busy", lang, busy=fmt_min(busy), n=day_rank,
                 mins=f"{budget + (day_rank - 1) * step:g}", time=tm)
    if rule == "late_sign_in":
        return t("tui_ev_late", lang, time=tm)
    if rule == "late_return":
        return t("tui_ev_return", lang, time=tm)
    if rule == "early_leave":
        return t("tui_ev_early", lang, time=tm)
    if rule == "absent":
        return t("tui_ev_absent", lang, time=tm)
    return d.get("reason") or ""


def translate_bindings(node, lang: str) -> None:
    """Binding descriptions are i18n keys; put them in the chosen language."""
    for key, bindings in list(node._bindings.key_to_bindings.items()):
        node._bindings.key_to_bindings[key] = [
            dataclasses.replace(b, description=t(b.description, lang)) if b.description else b
            for b in bindings]


# ------------------------------------------------------------------------- widgets
class FloorTable(DataTable):
    """The floor table. `set_cells` writes a batch of cells and repaints only those: Textual's
    own `update_cell` bumps one table-wide counter that every render cache is keyed on, so
    each call re-renders every cell on screen (at 200x60 some 800 cells, ~170 ms). Here the
    changed cells' cache entries are dropped and only their rows are refreshed; the other
    cells come from the caches. Falls back to `update_cell` if this Textual's DataTable does
    not have the caches this relies on (checked by tests/test_tui_app.py)."""

    _CACHES = ("_cell_render_cache", "_row_render_cache", "_line_cache",
               "_row_renderable_cache", "_data", "_row_locations", "_update_count")

    def targeted(self) -> bool:
        return all(hasattr(self, a) for a in self._CACHES)

    def set_cells(self, cells: list[tuple[str, str, object]]) -> None:
        """Write (row key, column key, value) cells; repaint just the rows they are in."""
        if not cells:
            return
        if not self.targeted():
            for rk, ck, v in cells:
                self.update_cell(rk, ck, v)
            return
        changed: set[tuple[RowKey, ColumnKey]] = set()
        rows: set[RowKey] = set()
        for rk, ck, v in cells:
            rkey, ckey = RowKey(rk), ColumnKey(ck)
            self._data[rkey][ckey] = v
            changed.add((rkey, ckey))
            rows.add(rkey)
        idx = {self._row_locations.get(r) for r in rows}
        header = 1 if self.show_header else 0
        ys = {i + header for i in idx}
        cc = self._cell_render_cache
        for k in [k for k in cc.keys() if (k[0], k[1]) in changed]:
            cc.discard(k)
        rc = self._row_render_cache
        for k in [k for k in rc.keys() if k[0] in rows]:
            rc.discard(k)
        lc = self._line_cache
        for k in [k for k in lc.keys() if k[0] in ys]:
            lc.discard(k)
        for i in idx:
            self._row_renderable_cache.discard((self._update_count, i))
        top = int(self.scroll_y)
        bottom = top + self.size.height
        for i in idx:
            if top - 1 <= i <= bottom:
                self.refresh_row(i)

    def _update_dimensions(self, new_rows) -> None:
        # every column has a set width and every row one line: measuring each cell of each
        # new row (28,000 for 2,000 agents) would change nothing; the virtual size is still
        # recomputed by the base class
        if self.targeted() and not any(c.auto_width for c in self.columns.values()):
            new_rows = ()
        super()._update_dimensions(new_rows)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            refresh = getattr(self.app, "refresh_visible", None)
            if refresh is not None:
                refresh()  # before the next frame: rows coming into view are brought up to date


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "app.pop_screen", "tui_k_back")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; max-width: 100%; height: auto; max-height: 100%;
                                  border: round $accent; background: $surface; padding: 0 1; }
    HelpScreen #help-body { width: 100%; height: auto; }
    """

    def __init__(self, lang: str):
        super().__init__()
        self.lang = lang
        translate_bindings(self, lang)

    def compose(self) -> ComposeResult:
        lang = self.lang
        keys = Table(show_header=False, box=None, padding=(0, 1))
        keys.add_column(style="bold")
        keys.add_column()
        for k, d in (("?", "tui_k_help"), ("Enter", "tui_k_detail"), ("t", "tui_k_team"),
                     ("x", "tui_k_exc"), ("s", "tui_k_sort"), ("r", "tui_k_reverse"),
                     ("v", "tui_k_teams"), ("Tab", "tui_k_alerts"),
                     ("Esc", "tui_k_back"), ("q", "tui_k_quit")):
            keys.add_row(k, t(d, lang))
        legend = Text()
        for s in STATES:
            legend.append(f"{SYMBOL[s]} {t(s, lang)}  ", style=STATE_STYLE[s])
        flags = Text("!" + "  !".join(t(f"tui_f_{f}", lang) for f in EXCEPTION_FLAGS),
                     style=f"bold {VERMILION}")
        body = Group(Text(t("tui_help", lang), style="bold underline"), keys, Text(""),
                     Text(t("tui_legend", lang), style="bold"), legend, flags, Text(""),
                     Text(t("tui_colours", lang)))
        with VerticalScroll():
            yield Static(body, id="help-body")


class AgentScreen(Screen):
    """One agent: live state, today's timeline, the month's ledger with evidence, items
    against the bands, and what the next star takes."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "tui_k_back"),
                Binding("r", "reload", "tui_k_reload"),
                Binding("question_mark", "app.help", "tui_k_help")]
    DEFAULT_CSS = """
    AgentScreen #a-title { height: auto; background: $panel; padding: 0 1; }
    AgentScreen #a-body { height: 1fr; }
    AgentScreen #a-cols { height: auto; }
    AgentScreen .col { height: auto; width: 1fr; }
    AgentScreen .section { height: auto; width: 100%; padding: 0 1; margin-bottom: 1; }
    """

    def __init__(self, agent: str, lang: str):
        super().__init__()
        translate_bindings(self, lang)
        self.agent = agent
        self.report: dict | None = None
        self.error: str | None = None

    @property
    def floor(self) -> "FloorApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="a-title")
        with VerticalScroll(id="a-body"):
            with Horizontal(id="a-cols"):
                with Vertical(classes="col", id="a-left"):
                    yield Static(id="a-timeline", classes="section")
                    yield Static(id="a-star", classes="section")
                    scheme = Static(id="a-scheme", classes="section")
                    scheme.display = False  # shown for team-80-20 / taobao-30pt (_scheme)
                    yield scheme
                with Vertical(classes="col", id="a-right"):
                    yield Static(id="a-ledger", classes="section")
                    yield Static(id="a-items", classes="section")
        yield Footer()

    def on_mount(self) -> None:
        self._layout(self.app.size.width)
        self.refresh_live()
        self.render_report()
        self.action_reload()

    def on_resize(self, event) -> None:
        self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        try:
            cols = self.query_one("#a-cols")
        except NoMatches:
            return
        cols.styles.layout = "horizontal" if width >= WIDE else "vertical"

    def action_reload(self) -> None:
        self.load_report()

    @work(exclusive=True, group="agent-report")
    async def load_report(self) -> None:
        try:
            self.report = await self.floor.fetch_report()
            self.error = None
        except Exception as e:  # noqa: BLE001 — shown on screen, the feed goes on
            self.error = str(e) or type(e).__name__
        self.render_report()

    def on_feed(self, ch: Change) -> None:
        if ch.kind == "alert" and self.agent in ch.agents:
            self.action_reload()
        if self.agent in ch.agents or ch.kind in ("snapshot", "connected", "disconnected"):
            self.refresh_live()
            if self.report is not None and ch.kind in ("snapshot", "delta"):
                self.render_report()  # item scores and score follow the feed live

    def tick(self) -> None:
        self.refresh_live()

    def refresh_live(self) -> None:
        try:
            self._refresh_live()
        except NoMatches:  # not composed yet, or already popped (a quick Esc/Enter)
            pass

    def _refresh_live(self) -> None:
        app = self.floor
        lang = app.lang
        e = app.client.agents.get(self.agent) or {"agent": self.agent, "state": "out"}
        now = app.feed_now()
        tz = app.tz
        title = Text()
        title.append(f"{self.agent} {e.get('name') or ''}", style="bold")
        title.append(f"  {e.get('team') or ''}  ")
        st = e.get("state") or "out"
        title.append(state_text(st, e.get("reason"), lang), style=STATE_STYLE.get(st, ""))
        since = e.get("since")
        if since and now is not None:
            title.append(f" {fmt_dur((now - since) / 1000)}")
        sign, style = sign_cell(e, lang)
        if sign:
            title.append(f"  {sign}", style=style)
        sh = e.get("shift")
        if sh:
            title.append(f"  {local(sh['start'], tz):%H:%M}-{local(sh['end'], tz):%H:%M}")
        left, style = budget_cell(e.get("budget_left_s"))
        title.append(f"  {t('tui_busy', lang)} {fmt_min(e.get('busy_today_s'))} "
                     f"{t('tui_left', lang)} ")
        title.append(left, style=style)
        if app.client.disconnected_since is not None:
            title.append("\n" + app.banner_text(), style=f"bold {VERMILION}")
        self.query_one("#a-title", Static).update(title)
        self.query_one("#a-timeline", Static).update(self._timeline(now))

    def _timeline(self, now: int | None):
        app = self.floor
        lang, tz = app.lang, app.tz
        head = Text(t("tui_timeline", lang), style="bold underline")
        if now is None:
            return head
        midnight = local_midnight_ms(now, tz)
        rows = app.client.today_timeline(self.agent, midnight)
        if len(rows) > 1 and not rows[0][0]:
            rows = rows[1:]  # "signed out since never": says nothing once there is more
        tab = Table(box=None, padding=(0, 1), show_edge=False)
        tab.add_column(t("tui_from", lang))
        tab.add_column(t("tui_state", lang))
        tab.add_column(t("tui_for", lang), justify="right")
        for k, (ts, st, reason) in enumerate(rows):
            end = rows[k + 1][0] if k + 1 < len(rows) else now
            tab.add_row(local(ts, tz).strftime("%H:%M:%S" if ts >= midnight
                                               else "%m-%d %H:%M:%S") if ts else "-",
                        Text(state_text(st or "out", reason, lang),
                             style=STATE_STYLE.get(st or "out", "")),
                        fmt_dur((end - ts) / 1000) if ts else "-")
        start = app.client.timeline_from
        note = Text(t("tui_timeline_from", lang, time=local(start, tz).strftime("%m-%d %H:%M:%S"))
                    if start else "", style="dim")
        return Group(head, tab, note)

    def render_report(self) -> None:
        try:
            self._render_report()
        except NoMatches:  # the screen is gone (or not built yet): nothing to draw on
            pass

    def _render_report(self) -> None:
        app = self.floor
        lang, tz, pol = app.lang, app.tz, app.policy
        ledger = self.query_one("#a-ledger", Static)
        items = self.query_one("#a-items", Static)
        star = self.query_one("#a-star", Static)
        month = (app.client.state or {}).get("month") or ""
        head_l = Text(t("tui_ledger", lang, month=month), style="bold underline")
        head_i = Text(t("tui_items", lang), style="bold underline")
        head_s = Text(t("tui_next_star", lang), style="bold underline")
        if self.report is None:
            msg = Text(t("tui_no_report", lang, error=self.error) if self.error
                       else t("tui_loading", lang), style="dim")
            for w, h in ((ledger, head_l), (items, head_i), (star, head_s)):
                w.update(Group(h, msg))
            return
        me = next((a for a in self.report.get("agents", []) if a["agent"] == self.agent), None)
        me = me or next((a for a in self.report.get("leaders", [])
                         if a["agent"] == self.agent and "deductions" in a), None)
        live = app.client.agents.get(self.agent)
        if me is not None and live and live.get("items") is not None:
            # the month's item scores as of the feed (the report is as of when it was asked)
            me = {**me, "items": {**(me.get("items") or {}), **live["items"]},
                  "score": live.get("score")}
        if me is None:
            ledger.update(Group(head_l, Text(t("tui_no_deductions", lang), style="dim")))
            items.update(head_i)
        else:
            ledger.update(Group(head_l, self._ledger(me, pol, tz, lang)))
            items.update(Group(head_i, self._items(me, pol, lang)))
        self._scheme(me)
        if pol is None:
            star.update(Group(head_s, Text(t("tui_no_policy", lang, name=app.policy_name),
                                           style="dim")))
        else:
            star.update(Group(head_s, star_text(pol, self.report, self.agent, lang)))

    def _scheme(self, me: dict | None) -> None:
        """The preset's own figures from the server's report (`close`, the month so far):
        taobao-30pt points, place, ladder and points ledger; team-80-20 the 80/20 projection
        and gold standing. chengdu-2014's pay is the items above: nothing more to show."""
        box = self.query_one("#a-scheme", Static)
        scheme = (self.report or {}).get("scheme")
        c = (me or {}).get("close")
        if scheme not in ("taobao-30pt", "team-80-20") or not c:
            box.display = False
            return
        box.display = True
        app = self.floor
        lang, tz = app.lang, app.tz
        head = Text(t("tui_scheme", lang, policy=self.report.get("policy") or scheme),
                    style="bold underline")
        tab = Table(box=None, padding=(0, 1), show_edge=False, show_header=False)
        tab.add_column()
        tab.add_column(justify="right")
        yes = lambda b: t("yes", lang) if b else t("no", lang)  # noqa: E731
        if scheme == "taobao-30pt":
            tab.add_row(t("tui_points", lang), Text(f"{c.get('points'):g}", style="bold"))
            tab.add_row(t("tui_place", lang), str(c.get("place") or "—"))
            tab.add_row(t("tui_gold", lang), yes(c.get("gold")))
            tab.add_row(t("tui_ladder", lang), (c.get("ladder") or {}).get("state", "—"))
        else:
            tab.add_row(t("tui_bonus_b", lang), f"{c.get('bonus_base') or 0:,.2f}")
            tab.add_row(t("tui_gold", lang), yes(c.get("gold")))
            tab.add_row(t("tui_gold_run", lang), str(c.get("gold_run") or 0))
        for k, v in (c.get("pay") or {}).items():
            style = "bold" if k == "total" else ""
            tab.add_row(Text(t(f"pay_{k}", lang), style=style), Text(f"{v:,.2f}", style=style))
        if c.get("flags"):
            tab.add_row(t("tui_flags", lang), Text(", ".join(c["flags"]), style=f"bold {VERMILION}"))
        parts = [head, tab]
        if scheme == "taobao-30pt" and c.get("points_ledger"):
            led = Text(t("tui_points_ledger", lang) + "\n", style="bold")
            for e in c["points_ledger"]:
                led.append(f"{local(e['ts'], tz):%m-%d %H:%M}  {t(e['kind'], lang)}  "
                           f"{e['points']:+g}\n")
            led.rstrip()
            parts.append(led)
        box.update(Group(*parts))

    @staticmethod
    def _ledger(me: dict, pol, tz, lang):
        """One line per deduction (day, time, rule in Chinese and English, item, points) and
        its evidence indented under it: readable at 80 columns, aligned with CJK text."""
        deds = sorted((me.get("deductions") or []) + (me.get("manual") or []),
                      key=lambda d: d["ts"])
        if not deds:
            return Text(t("tui_no_deductions", lang), style="dim")
        rows = []
        rank: dict[tuple, int] = {}
        kpi = me.get("kpi") or {}
        for d in deds:
            k = (d.get("day"), d.get("rule"))
            rank[k] = rank.get(k, 0) + 1
            ev = evidence(d, kpi, rank[k], pol, tz, lang)
            if d.get("excused"):
                ev = f"[{t('excused', lang)}] {ev}"
            rows.append(((d.get("day") or "")[5:] + " " + local(d["ts"], tz).strftime("%H:%M:%S"),
                         t(d["rule"], lang), "", t(d.get("item") or "", lang),
                         f"{d.get('points'):g}", ev, bool(d.get("excused"))))
        widths = [max(cell_len(r[c]) for r in rows) for c in range(5)]
        out = Text()
        for r in rows:
            style = "dim strike" if r[6] else ""
            for c in (0, 1, 3):
                out.append(r[c] + " " * (widths[c] - cell_len(r[c])) + "  ", style=style)
            out.append(" " * (widths[4] - cell_len(r[4])) + r[4],
                       style=style or f"bold {VERMILION}")
            out.append("\n    ")
            out.append(r[5] + "\n", style="dim" if r[6] else "italic")
        out.rstrip()
        return out

    @staticmethod
    def _items(me: dict, pol: Policy | None, lang: str):
        tab = Table(box=None, padding=(0, 1), show_edge=False)
        for c, j in (("item", "left"), ("tui_weight", "right"), ("tui_value", "right"),
                     ("tui_item_score", "right"), ("tui_weighted", "right"),
                     ("tui_bands", "left")):
            tab.add_column(t(c, lang), justify=j, overflow="fold")
        items = me.get("items") or {}
        kpi = me.get("kpi") or {}
        for key in ITEM_KEYS:
            w = pol.weights.get(key, 0) if pol else None
            sc = items.get(key)
            v = item_value(key, kpi, items)
            tab.add_row(t(key, lang), "-" if w is None else f"{w:g}",
                        fmt_item_value(key, v), "-" if sc is None else f"{sc:g}",
                        "-" if sc is None or w is None else f"{w * sc / 100:.2f}",
                        band_text(pol, key, v, lang))
        adj = me.get("adjustments") or 0
        tab.add_row(t("adjustments", lang), "", "", "", f"{adj:+g}", "")
        score = me.get("score")
        tab.add_row(Text(t("score", lang), style="bold"), "", "", "",
                    Text("-" if score is None else f"{score:.2f}", style="bold"), "")
        return tab


class TeamScreen(Screen):
    """Team averages (live) and the shift leaders' own score items where data exists."""

    BINDINGS = [Binding("escape,q,v", "app.pop_screen", "tui_k_back"),
                Binding("r", "reload", "tui_k_reload"),
                Binding("question_mark", "app.help", "tui_k_help")]
    DEFAULT_CSS = """
    TeamScreen #t-table { height: auto; max-height: 60%; }
    TeamScreen #t-leaders { height: auto; margin: 1 1; }
    """
    TEAM_COLS = (("team", "team"), ("agents", "tui_agents"), ("on", "tui_signed_in"),
                 ("by_state", "tui_by_state"), ("score", "tui_mean_score"),
                 ("ans", "tui_answered_today"), ("aht", "tui_aht"), ("rate", "tui_rate"),
                 ("sat", "tui_sat"), ("busy", "tui_busy"), ("over", "tui_over_budget"),
                 ("exc", "tui_exc_n"))

    def __init__(self, lang: str):
        super().__init__()
        translate_bindings(self, lang)
        self.report: dict | None = None
        self.error: str | None = None
        self._cells: dict[str, tuple] = {}

    @property
    def floor(self) -> "FloorApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="t-title")
        yield DataTable(id="t-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="t-leaders")
        yield Footer()

    def on_mount(self) -> None:
        lang = self.floor.lang
        self.query_one("#t-title", Static).update(
            Text(t("tui_team_view", lang), style="bold"))
        tab = self.query_one("#t-table", DataTable)
        for key, label in self.TEAM_COLS:
            tab.add_column(t(label, lang), key=key)
        self.refresh_live()
        self.render_leaders()
        self.action_reload()

    def action_reload(self) -> None:
        self.load_report()

    @work(exclusive=True, group="team-report")
    async def load_report(self) -> None:
        try:
            self.report = await self.floor.fetch_report()
            self.error = None
        except Exception as e:  # noqa: BLE001
            self.error = str(e) or type(e).__name__
        self.render_leaders()

    def on_feed(self, ch: Change) -> None:
        if ch.kind in ("snapshot", "delta"):
            self.refresh_live()

    def tick(self) -> None:
        pass

    def team_rows(self) -> dict[str, tuple]:
        app = self.floor
        teams = (app.client.state or {}).get("teams") or {}
        out = {}
        # every figure is the service's team entry (floorview.teams): nothing summed here
        for team in sorted(teams):
            tm = teams[team]
            today = tm.get("today") or {}
            states = Text()
            for s in STATES:
                n = (tm.get("by_state") or {}).get(s, 0)
                if n:
                    states.append(f"{SYMBOL[s]}{n} ", style=STATE_STYLE[s])
            out[team] = (team, str(tm.get("agents", 0)), str(tm.get("signed_in", 0)), states,
                         fmt_num(tm.get("score"), 2), str(tm.get("answered_today", 0)),
                         fmt_num(today.get("aht_s")), fmt_pct(today.get("answer_rate")),
                         fmt_pct(today.get("satisfaction")), fmt_min(tm.get("busy_mean_s")),
                         str(tm.get("over_budget", 0)), str(tm.get("attention", 0)))
        return out

    def refresh_live(self) -> None:
        tab = self.query_one("#t-table", DataTable)
        rows = self.team_rows()
        for team in list(self._cells):
            if team not in rows:
                tab.remove_row(team)
                del self._cells[team]
        for team, cells in rows.items():
            old = self._cells.get(team)
            if old is None:
                tab.add_row(*cells, key=team)
            else:
                for key, a, b in zip((c[0] for c in self.TEAM_COLS), old, cells):
                    if a != b:
                        tab.update_cell(team, key, b)
            self._cells[team] = cells

    def render_leaders(self) -> None:
        app = self.floor
        lang = app.lang
        w = self.query_one("#t-leaders", Static)
        head = Text(t("tui_leaders", lang), style="bold underline")
        if self.report is None:
            w.update(Group(head, Text(t("tui_no_report", lang, error=self.error) if self.error
                                      else t("tui_loading", lang), style="dim")))
            return
        pol = app.policy
        tab = Table(box=None, padding=(0, 1), show_edge=False)
        for c in ("agent", "name", "team", "tui_team_score", "tui_team_aht"):
            tab.add_column(t(c, lang))
        team_filter = app.client.team
        for ld in self.report.get("leaders", []):
            if team_filter and ld.get("team") != team_filter:
                continue
            items = ld.get("items") or {}
            name = ld.get("name") or (app.client.agents.get(ld["agent"]) or {}).get("name") or ""
            ts = items.get("team_score")
            ta = items.get("team_aht")
            wts = f" (w {pol.leader.team_score_weight:g})" if pol else ""
            wta = f" (w {pol.leader.team_aht_weight:g})" if pol else ""
            aht_s = ld.get("team_aht_s")
            tab.add_row(ld["agent"], name, ld.get("team") or "",
                        (t("tui_no_data", lang) if ts is None else f"{ts:g}") + wts,
                        (t("tui_no_data", lang) if ta is None else
                         f"{ta:g} ({fmt_num(aht_s, 1)}s)") + wta)
        w.update(Group(head, tab, Text(t("tui_leader_manual", lang), style="dim")))


# ------------------------------------------------------------------------- the app
class FloorApp(App):
    TITLE = "kefu-floor"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("question_mark", "help", "tui_k_help"),
                Binding("t", "cycle_team", "tui_k_team"),
                Binding("x", "toggle_exceptions", "tui_k_exc"),
                Binding("s", "cycle_sort", "tui_k_sort"),
                Binding("r", "reverse_sort", "tui_k_reverse"),
                Binding("v", "team_view", "tui_k_teams"),
                Binding("q", "quit", "tui_k_quit"),
                # Ctrl-C quits in every view, like SIGINT and SIGTERM (see on_mount)
                Binding("ctrl+c", "quit", show=False, priority=True)]
    CSS = """
    #title { height: 1; background: $panel; padding: 0 1; }
    #banner { height: auto; background: #d55e00; color: #ffffff; text-style: bold;
              padding: 0 1; display: none; }
    #banner.show { display: block; }
    #queues { height: auto; padding: 0 1; }
    #status { height: 1; padding: 0 1; color: $text-muted; }
    #main { height: 1fr; }
    #floor { height: 1fr; }
    #alertbox { height: 7; }
    #main.wide #alertbox { height: 1fr; width: 76; }
    #alerts-title { height: 1; text-style: bold; padding: 0 1; }
    #alerts { height: 1fr; }
    """

    def __init__(self, url: str, site: str | None = None, team: str | None = None,
                 lang: str = "en", *, policy: Policy | str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, tick_s: float = 1.0,
                 backoff_initial: float = 0.5, backoff_max: float = 10.0,
                 token: str | None = None, ssl=None, wallboard: str | None = None):
        super().__init__()
        self.lang = lang
        self.clock = clock
        self.tick_s = tick_s
        self.client = FeedClient(url, site, team, listener=self._on_change, wall=wall,
                                 backoff_initial=backoff_initial, backoff_max=backoff_max,
                                 token=token, ssl=ssl)
        self.wallboard = wallboard  # its URL on the status line (the demo's own board)
        self.stopped_by: str | None = None  # the signal that ended the app, if one did
        self._policy_arg = policy
        self.policy: Policy | None = policy if isinstance(policy, Policy) else None
        self.policy_name: str | None = None
        self.tz = ZoneInfo("Asia/Shanghai")
        self._recv_mono: float | None = None
        self._lost_mono: float | None = None
        self._rows: dict[str, tuple] = {}
        self._widths_set = False
        self._wide: bool | None = None
        self._widgets: dict = {}
        self.team_filter: str | None = None
        self.exceptions_only = False
        self.sort_col = "agent"
        self.sort_reverse = False
        self._sort_due = False
        self._fresh_rows = False
        self._last_sort = -1e9
        self.resort_s = 2.0
        self._alerts_due = False
        self._filling = False
        self._alert_rows: dict[str, str] = {}  # alerts row key -> agent
        self.report: dict | None = None
        self.reports_in_flight = 0
        self.updates = 0  # feed messages applied to the screen
        translate_bindings(self, lang)

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="banner")
        yield Static(id="queues")
        yield Static(id="status")
        with Horizontal(id="main"):
            yield FloorTable(id="floor", cursor_type="row", zebra_stripes=True,
                             fixed_columns=2)
            with Vertical(id="alertbox"):
                yield Static(t("tui_alerts", self.lang), id="alerts-title")
                yield DataTable(id="alerts", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def w(self, name: str):
        """A widget of the floor screen, whichever screen is on top."""
        return self._widgets[name]

    def on_mount(self) -> None:
        base = self.screen
        self._widgets = {n: base.query_one(f"#{n}") for n in
                         ("title", "banner", "queues", "status", "main", "floor", "alerts",
                          "alerts-title")}
        al = self.w("alerts")
        # one language per screen: the rule in the screen's language only
        rule = ("rule_zh", "rule", 14) if self.lang == "zh" else ("rule_en", "rule", 16)
        for key, label, width in (("time", "time", 11), ("agent", "agent", 6),
                                  ("name", "name", 6), rule, ("points", "points", 6)):
            al.add_column(t(label, self.lang), key=key, width=width)
        self._layout(self.size.width)
        self.refresh_header()
        self.refresh_status()
        self.set_interval(self.tick_s, self.tick)
        self.run_worker(self.client.run(), name="feed", group="feed", exit_on_error=False)
        self.w("floor").focus()
        # the terminal is in raw mode, so Ctrl-C is a key (bound above); SIGINT and SIGTERM
        # from outside end the app cleanly too, restoring the terminal
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._signalled, sig)

    def _signalled(self, sig: signal.Signals) -> None:
        self.stopped_by = sig.name
        self.exit()

    def on_resize(self, event) -> None:
        if self._widgets:
            self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        main = self.w("main")
        wide = width >= WIDE
        if wide != self._wide:
            self._wide = wide
            main.set_class(wide, "wide")
            main.styles.layout = "horizontal" if wide else "vertical"
            self.refresh_queues()

    def refresh_queues(self) -> None:
        team = self.team_filter or self.client.team
        self.w("queues").update(queue_strip(self.client.state, self.lang, bool(self._wide),
                                            team))

    async def on_unmount(self) -> None:
        await self.client.aclose()

    # ---------------------------------------------------------------- feed
    @property
    def floor(self) -> FloorTable:
        return self.w("floor")

    def feed_now(self) -> int | None:
        """Feed time now: the last message's `now`, counted on by the local clock for at most
        2 s (the service sends a fresh `now` every tick), frozen while disconnected."""
        st = self.client.state
        if not st or st.get("now") is None:
            return None
        if self._recv_mono is None:
            return st["now"]
        upto = self._lost_mono if self._lost_mono is not None else self.clock()
        return int(st["now"] + min(2.0, max(0.0, upto - self._recv_mono)) * 1000)

    def today_str(self, now: int | None) -> str | None:
        return None if now is None else local(now, self.tz).date().isoformat()

    def _on_change(self, ch: Change) -> None:
        if not self.is_running or not self._widgets:
            return
        try:
            self._apply_change(ch)
        except NoMatches:  # the app is shutting down
            pass

    def _apply_change(self, ch: Change) -> None:
        if ch.kind in ("snapshot", "delta"):
            self._recv_mono = self.clock()
            self.updates += 1
        if ch.kind == "snapshot":
            self._adopt_policy()
            self.sync_rows(self.client.agents.keys(), ch.removed, full=True)
            now = (self.client.state or {}).get("now")
            if now is not None and self.client.drop_alerts_after(now):
                self.schedule_alerts()  # a restarted service: an earlier run's alerts go
            self.fill_alerts_from_snapshot()
        elif ch.kind == "delta":
            self.sync_rows(ch.agents, ch.removed)
            if "now" in ch.sections:  # time in state moves for the rows on screen
                self.refresh_visible()
            if ch.alerts:  # a compact stream's deductions come inside its deltas
                self.schedule_alerts()
        elif ch.kind == "alert":
            self.schedule_alerts()
        elif ch.kind == "connected":
            self._lost_mono = None
        elif ch.kind == "disconnected":
            self._lost_mono = self.clock()
        if ch.kind in ("snapshot", "delta", "connected", "disconnected"):
            self.refresh_header()
            if ch.kind == "snapshot" or ch.sections & {"queues", "floor"}:
                self.refresh_queues()
        scr = self.screen
        if isinstance(scr, (AgentScreen, TeamScreen)):
            scr.on_feed(ch)

    def _adopt_policy(self) -> None:
        st = self.client.state or {}
        pol = st.get("policy") or {}
        try:
            self.tz = ZoneInfo(pol.get("timezone") or "Asia/Shanghai")
        except Exception:  # noqa: BLE001 — an unknown zone: keep the last one
            pass
        name = pol.get("name")
        if self.policy is not None and self.policy.name == name:
            return
        self.policy_name = name
        cand: Policy | None = None
        if isinstance(self._policy_arg, str):
            try:
                cand = load_policy(self._policy_arg)
            except Exception:  # noqa: BLE001
                cand = None
        if (cand is None or cand.name != name) and name:
            try:
                cand = load_policy(name)
            except Exception:  # noqa: BLE001 — not a preset here: bands unknown
                cand = cand if cand is not None and cand.name == name else None
        self.policy = cand

    async def fetch_report(self, month: str | None = None) -> dict:
        self.reports_in_flight += 1
        try:
            month = month or (self.client.state or {}).get("month")
            rep = await self.client.request_report(month)
            self.report = rep
            return rep
        finally:
            self.reports_in_flight -= 1

    def settled(self) -> bool:
        """Nothing pending: no report asked for, no alert fill, no sort or redraw queued
        (tests wait for this before looking)."""
        return not (self.reports_in_flight or self._filling or self._sort_due
                    or self._alerts_due)

    def fill_alerts_from_snapshot(self) -> None:
        """Deductions booked today before this screen connected: the snapshot's `recent`
        (no report asked for as a side effect of a snapshot); a service too old to send
        `recent` is asked for the month report instead."""
        recent = (self.client.state or {}).get("recent")
        if recent is None:
            self.fill_alerts_from_report()
            return
        team = self.client.team
        added = False
        for d in recent:
            if not team or d.get("team") == team:
                added |= self.client.add_alert(d)
        if added:
            self.schedule_alerts()

    def fill_alerts_from_report(self) -> None:
        self._filling = True
        self._fill_alerts()

    @work(exclusive=True, group="alert-fill")
    async def _fill_alerts(self) -> None:
        """Deductions booked today before this screen connected, from the month report."""
        try:
            await self._fill_alerts_inner()
        finally:
            self._filling = False

    async def _fill_alerts_inner(self) -> None:
        now = self.feed_now()  # the day as of connecting, not as of the answer
        if now is None:
            return
        midnight = local_midnight_ms(now, self.tz)
        try:
            rep = await self.fetch_report()
        except Exception:  # noqa: BLE001 — live alerts still come
            return
        team = self.client.team
        added = False
        for a in rep.get("agents", []):
            if team and a.get("team") != team:
                continue
            for d in (a.get("deductions") or []) + (a.get("manual") or []):
                if d["ts"] < midnight:
                    continue
                added |= self.client.add_alert({**d, "agent": a["agent"], "name": a.get("name"),
                                                "team": a.get("team"),
                                                "rule_zh": t(d["rule"], "zh"),
                                                "rule_en": t(d["rule"], "en")})
        if added:
            self.schedule_alerts()

    # ---------------------------------------------------------------- floor table
    def visible(self, e: dict) -> bool:
        if self.team_filter is not None and e.get("team") != self.team_filter:
            return False
        if self.exceptions_only and not is_exception(e):
            return False
        return True

    def _set_columns(self) -> None:
        table = self.floor
        agents = self.client.agents.values()
        for key, label, justify in COLUMNS:
            text = t(label, self.lang)
            w = max(MIN_WIDTH[key], cell_len(text))
            if key == "agent":
                w = max(w, min(12, max((len(e.get("agent") or "") for e in agents), default=0)))
            elif key == "name":
                w = max(w, min(10, max((cell_len(e.get("name") or "") for e in agents),
                                       default=0)))
            elif key == "state":
                w = max(w, max(cell_len(state_text(s, None, self.lang)) for s in STATES),
                        max(cell_len(state_text("busy", r, self.lang)) for r in REASONS))
            elif key == "sign":
                w = max(w, max(cell_len("!" + t(f"tui_f_{f}", self.lang))
                               for f in EXCEPTION_FLAGS if f != "unknown"))
            table.add_column(Text(text, justify=justify), key=key, width=w)
        self._widths_set = True

    def _cell(self, key: str, value: tuple[str, str]):
        if key == "agent":
            return value[0]  # a plain string: the sort key function reads it
        justify = next(c[2] for c in COLUMNS if c[0] == key)
        # cropped, not "…": that is East-Asian ambiguous width and can shift CJK columns
        return Text(value[0], style=value[1], justify=justify, no_wrap=True, overflow="crop")

    def sync_rows(self, agents: Iterable[str], removed: Iterable[str] = (),
                  full: bool = False) -> None:
        """Bring the named agents' rows up to date: only cells whose text or colour changed
        are written, and only for rows on screen (the others are brought up to date by
        `refresh_visible` when they scroll into view or the rows are re-sorted); rows come
        and go as the filters say. `full`: also drop rows of agents the state no longer has
        (after a fresh snapshot)."""
        table = self.floor
        if not self._widths_set:
            if not self.client.agents:
                return
            self._set_columns()
        state = self.client.agents
        now = self.feed_now()
        today = self.today_str(now)
        if not table.row_count:
            self._fresh_rows = True  # a first build: the sort that follows starts at the top
        gone = set(removed)
        if full:
            gone |= {a for a in self._rows if a not in state}
        for a in gone:
            if a in self._rows:
                table.remove_row(a)
                del self._rows[a]
        resort = False
        sort_static = self.sort_col in ("agent", "name", "team")
        writes: list[tuple[str, str, object]] = []
        top = int(table.scroll_y) - 1
        bottom = top + table.size.height + 2
        for a in agents:
            e = state.get(a)
            if e is None:
                continue
            shown = a in self._rows
            if not self.visible(e):
                if shown:
                    table.remove_row(a)
                    del self._rows[a]
                continue
            if not shown:
                # a new row goes in blank (its agent id only) unless it lands on screen;
                # refresh_visible fills rows as they come into view (also after the sort)
                if top <= table.row_count <= bottom:
                    cells = agent_cells(e, now, self.lang, today)
                    table.add_row(*(self._cell(k, v) for k, v in zip(COL_KEYS, cells)), key=a)
                else:
                    cells = ((a, ""),) + BLANK_ROW
                    table.add_row(a, *BLANK_CELLS, key=a)
                self._rows[a] = cells
                resort = True
                continue
            if not sort_static:
                resort = True
            if not top <= table.get_row_index(a) <= bottom:
                continue  # off screen: formatted by refresh_visible when it scrolls into view
            cells = agent_cells(e, now, self.lang, today)
            old = self._rows[a]
            if old != cells:
                writes.extend((a, key, self._cell(key, n))
                              for key, o, n in zip(COL_KEYS, old, cells) if o != n)
            self._rows[a] = cells
        table.set_cells(writes)
        if resort:
            self.schedule_sort()
        self.refresh_status()

    def refresh_visible(self) -> None:
        """Recount time in state for the rows on screen (the others wait until shown)."""
        table = self.floor
        if not self._rows:
            return
        now = self.feed_now()
        today = self.today_str(now)
        state = self.client.agents
        top = int(table.scroll_y)
        writes: list[tuple[str, str, object]] = []
        for i in range(top, min(table.row_count, top + table.size.height + 1)):
            a = table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value
            e = state.get(a)
            old = self._rows.get(a)
            if e is None or old is None:
                continue
            cells = agent_cells(e, now, self.lang, today)
            if cells != old:
                writes.extend((a, key, self._cell(key, n))
                              for key, o, n in zip(COL_KEYS, old, cells) if o != n)
                self._rows[a] = cells
        table.set_cells(writes)

    def schedule_sort(self) -> None:
        """Re-sort soon: rows moving repaints the whole table, so a live column re-sorts at
        most every `resort_s` (new rows or a user's choice sort at once)."""
        if not self._sort_due:
            self._sort_due = True
            wait = self._last_sort + self.resort_s - time.monotonic()
            if wait > 0.01:
                self.set_timer(wait, self.apply_sort)
            else:
                self.call_later(self.apply_sort)

    def _order(self) -> list[str]:
        state = self.client.agents
        now = self.feed_now()
        col, rev = self.sort_col, self.sort_reverse
        return sorted(self._rows, key=lambda a: (_none_last(sort_value(col, state.get(a, {}),
                                                                       now), rev), a),
                      reverse=rev)

    def apply_sort(self) -> None:
        self._sort_due = False
        self._last_sort = time.monotonic()
        table = self.floor
        if not table.row_count:
            return
        order = self._order()
        current = [table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value
                   for i in range(table.row_count)]
        if order == current:
            self._fresh_rows = False
            return
        cur = None
        if table.cursor_row < table.row_count and not self._fresh_rows:
            cur = current[table.cursor_row]  # the cursor stays on its agent
        pos = {a: i for i, a in enumerate(order)}
        table.sort("agent", key=lambda a: pos.get(a, len(pos)))
        if cur is not None and cur in self._rows:
            table.move_cursor(row=pos[cur], animate=False)
        elif self._fresh_rows:
            table.move_cursor(row=0, animate=False)
            table.scroll_to(y=0, animate=False)
        self._fresh_rows = False
        self.refresh_visible()

    def rebuild_rows(self) -> None:
        """After a filter change (not per update): start the rows over."""
        self.floor.clear()
        self._rows.clear()
        self.sync_rows(self.client.agents.keys())
        self.apply_sort()
        self.schedule_alerts()
        self.refresh_queues()  # the state line follows the team filter

    # ---------------------------------------------------------------- alerts pane
    def schedule_alerts(self) -> None:
        if not self._alerts_due:
            self._alerts_due = True
            self.call_later(self.render_alerts)

    def render_alerts(self) -> None:
        self._alerts_due = False
        al = self.w("alerts")
        al.clear()
        self._alert_rows.clear()
        today = self.today_str(self.feed_now())
        n = 0
        for k, d in enumerate(self.client.alerts):
            if self.team_filter is not None and d.get("team") != self.team_filter:
                continue
            key = f"al{k}"
            pts = d.get("points")
            style = "dim strike" if d.get("excused") else f"bold {VERMILION}"
            when = local(d["ts"], self.tz)
            al.add_row(when.strftime("%H:%M:%S" if when.date().isoformat() == today
                                     else "%m-%d %H:%M"), d.get("agent") or "",
                       d.get("name") or "",
                       d.get(f"rule_{self.lang}") or t(d.get("rule", ""), self.lang),
                       Text("-" if pts is None else f"{pts:g}", style=style, justify="right"),
                       key=key)
            self._alert_rows[key] = d.get("agent")
            n += 1
            if n >= ALERT_ROWS:
                break
        self.w("alerts-title").update(
            f"{t('tui_alerts', self.lang)} ({len(self.client.alerts)})")

    # ---------------------------------------------------------------- header, status
    def banner_text(self) -> str:
        c = self.client
        if c.disconnected_since is None:
            return ""
        if c.connects == 0:
            why = f" ({c.last_error})" if c.last_error else ""
            return t("tui_never", self.lang, url=c.url) + why
        return t("tui_disconnected", self.lang,
                 time=local(c.disconnected_since * 1000, self.tz).strftime("%H:%M:%S"),
                 n=max(1, c.attempts))

    def refresh_header(self) -> None:
        c = self.client
        st = c.state or {}
        now = self.feed_now()
        title = Text()
        title.append(f"{t('tui_app', self.lang)} ", style="bold")
        title.append(f"{st.get('site') or c.site or ''} {st.get('month') or ''}")
        if now is not None:
            title.append(f"  {t('tui_feed_time', self.lang)} "
                         f"{local(now, self.tz):%Y-%m-%d %H:%M:%S}")
        if c.connected:
            title.append(f"  + {t('tui_connected', self.lang)}", style=f"bold {GREEN}")
        elif c.disconnected_since is None:
            title.append(f"  ~ {t('tui_connecting', self.lang)}", style=ORANGE)
        else:
            title.append(f"  x {t('tui_offline', self.lang)}", style=f"bold {VERMILION}")
        self.w("title").update(title)
        banner = self.w("banner")
        text = self.banner_text()
        banner.update(text)
        banner.set_class(bool(text), "show")

    def refresh_status(self) -> None:
        lang = self.lang
        s = Text()
        s.append(f"{t('tui_filter_team', lang)}: ", style="bold")
        s.append(self.team_filter or t("tui_all", lang))
        s.append(f"  {t('tui_exceptions', lang)}: ", style="bold")
        s.append(t("tui_on" if self.exceptions_only else "tui_off", lang),
                 style=f"bold {VERMILION}" if self.exceptions_only else "")
        label = next(c[1] for c in COLUMNS if c[0] == self.sort_col)
        s.append(f"  {t('tui_sort', lang)}: ", style="bold")
        s.append(f"{t(label, lang)} ({t('tui_desc' if self.sort_reverse else 'tui_asc', lang)})")
        s.append("  " + t("tui_shown", lang, n=len(self._rows), total=len(self.client.agents)))
        if self.wallboard:
            s.append(f"  {t('wallboard', lang)} ", style="bold")
            s.append(self.wallboard)
        self.w("status").update(s)

    def tick(self) -> None:
        self.refresh_header()
        self.refresh_visible()
        if self.sort_col == "in_state":
            self.schedule_sort()
        scr = self.screen
        if isinstance(scr, (AgentScreen, TeamScreen)):
            scr.tick()

    # ---------------------------------------------------------------- actions
    FLOOR_ACTIONS = ("cycle_team", "toggle_exceptions", "cycle_sort", "reverse_sort",
                     "team_view")

    def check_action(self, action: str, parameters) -> bool | None:
        # the floor's keys belong to the floor screen (and are not shown elsewhere)
        if action in self.FLOOR_ACTIONS and len(self.screen_stack) > 1:
            return False
        return True

    def teams(self) -> list[str]:
        return sorted({e.get("team") or "-" for e in self.client.agents.values()})

    def action_cycle_team(self) -> None:
        opts: list[str | None] = [None, *self.teams()]
        i = opts.index(self.team_filter) if self.team_filter in opts else 0
        self.team_filter = opts[(i + 1) % len(opts)]
        self.rebuild_rows()

    def action_toggle_exceptions(self) -> None:
        self.exceptions_only = not self.exceptions_only
        self.rebuild_rows()

    def _user_sort(self) -> None:
        """A sort the user asked for starts at the top: the first rows of the new order."""
        self._fresh_rows = True
        self.apply_sort()
        table = self.floor
        table.move_cursor(row=0, animate=False)
        table.scroll_to(y=0, animate=False)
        self.refresh_visible()
        self.refresh_status()

    def action_cycle_sort(self) -> None:
        i = SORTABLE.index(self.sort_col)
        self.sort_col = SORTABLE[(i + 1) % len(SORTABLE)]
        self.sort_reverse = False
        self._user_sort()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._user_sort()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if event.data_table.id != "floor":
            return
        col = event.column_key.value
        if col == self.sort_col:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_col, self.sort_reverse = col, False
        self._user_sort()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        agent = key if event.data_table.id == "floor" else self._alert_rows.get(key)
        if agent:
            self.push_screen(AgentScreen(agent, self.lang))

    def action_team_view(self) -> None:
        self.push_screen(TeamScreen(self.lang))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.lang))


def run(url: str, site: str | None = None, team: str | None = None, lang: str = "en",
        policy: str | Policy | None = None, token: str | None = None, ssl=None) -> None:
    """Run the dashboard in this terminal until the user quits or a signal stops it."""
    app = FloorApp(url, site, team, lang, policy=policy, token=token, ssl=ssl)
    app.run()
    if app.stopped_by:
        print(t("stopped_by", lang, sig=app.stopped_by), file=sys.stderr)
