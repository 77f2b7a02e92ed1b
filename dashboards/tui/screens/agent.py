"""One agent's drill-down (Enter): live state, today's timeline, the month's ledger with
evidence, item scores against the bands, the preset's own figures and the next star."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Static

from dashboards.tui.formatting import (STATE_STYLE, VERMILION, WIDE, band_text, budget_cell,
                                       evidence, fmt_dur, fmt_item_value, fmt_min, item_value,
                                       local, local_midnight_ms, sign_cell, star_text,
                                       state_text)
from dashboards.tui.labels import t, translate_bindings
from dashboards.tui.messages import FeedChanged, Tick
from kefu_floor.policy import ITEM_KEYS, Policy

if TYPE_CHECKING:
    from dashboards.tui.app import FloorApp


class AgentScreen(Screen):
    """One agent: live state, today's timeline, the month's ledger with evidence, items
    against the bands, and what the next star takes."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "tui_k_back"),
                Binding("r", "reload", "tui_k_reload"),
                Binding("question_mark", "app.help", "tui_k_help")]

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

    @on(FeedChanged)
    def feed_changed(self, message: FeedChanged) -> None:
        ch = message.change
        if (ch.kind == "alert" and self.agent in ch.agents) or any(
                d.get("agent") == self.agent for d in ch.alerts):  # a compact delta's
            self.action_reload()
        if self.agent in ch.agents or ch.kind in ("snapshot", "connected", "disconnected"):
            self.refresh_live()
            if self.report is not None and ch.kind in ("snapshot", "delta"):
                self.render_report()  # item scores and score follow the feed live

    @on(Tick)
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
