"""The team view (`v`): team figures (live, the service's) and the shift leaders' items."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dashboards.tui.formatting import STATE_STYLE, STATES, SYMBOL, fmt_min, fmt_num, fmt_pct
from dashboards.tui.labels import t, translate_bindings
from dashboards.tui.messages import FeedChanged

if TYPE_CHECKING:
    from dashboards.tui.app import FloorApp


class TeamScreen(Screen):
    """Team averages (live) and the shift leaders' own score items where data exists."""

    BINDINGS = [Binding("escape,q,v", "app.pop_screen", "tui_k_back"),
                Binding("r", "reload", "tui_k_reload"),
                Binding("question_mark", "app.help", "tui_k_help")]
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

    @on(FeedChanged)
    def feed_changed(self, message: FeedChanged) -> None:
        if message.change.kind in ("snapshot", "delta"):
            self.refresh_live()

    def team_rows(self) -> dict[str, tuple]:
        app = self.floor
        teams = (app.client.state or {}).get("teams") or {}
        out = {}
        # every figure is the service's team entry (floorview._TeamTally): nothing summed here
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
