"""Pure formatting of the dashboard (no Textual): the look (states, symbols, the Okabe-Ito
palette, floor columns), one floor row's cells and sort keys, the queue strip, and the
drill-down's bands, next star and deduction evidence. Everything here takes feed/report
dicts and returns text or rich renderables, so it is tested without a terminal."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from rich.text import Text

from dashboards.tui.labels import t
from kefu_floor.policy import ITEM_KEYS, Policy
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


def _exc_rank(e: dict) -> int:
    exc = exception_flags(e)
    return EXCEPTION_FLAGS.index(exc[0]) if exc else len(EXCEPTION_FLAGS)


def _in_state(e: dict, now_ms: int | None):
    s = e.get("since")
    return (now_ms - s) if s and now_ms is not None else None


_STATE_RANK = {s: i for i, s in enumerate(STATES)}
# each sortable column's value from an agent entry (and the feed time): one small function
# per column, so sorting 20,000 agents makes one call per agent, not a walk down a chain
SORT_GETTERS = {
    "agent": lambda e, now: e.get("agent") or "",
    "name": lambda e, now: e.get("name") or "",
    "team": lambda e, now: e.get("team") or "",
    "state": lambda e, now: _STATE_RANK.get(e.get("state"), 99),
    "in_state": _in_state,
    "busy": lambda e, now: e.get("busy_today_s"),
    "left": lambda e, now: e.get("budget_left_s"),
    "sign": lambda e, now: _exc_rank(e),
    "ans": lambda e, now: (e.get("today") or {}).get("answered"),
    "aht": lambda e, now: (e.get("today") or {}).get("aht_s"),
    "rate": lambda e, now: (e.get("today") or {}).get("answer_rate"),
    "sat": lambda e, now: (e.get("today") or {}).get("satisfaction"),
    "score": lambda e, now: e.get("score"),
    "star": lambda e, now: e.get("star"),
}


def sort_value(col: str, e: dict, now_ms: int | None):
    get = SORT_GETTERS.get(col)
    return None if get is None else get(e, now_ms)


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
