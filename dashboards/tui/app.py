"""The app: the floor screen (floor table, alerts pane, queue strip, header and status), the
feed client's changes applied to it, and the keys; other screens get the changes as
messages (`messages.py`)."""
from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

import msgspec
from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Static

from dashboards.feedclient import Change, FeedClient
from dashboards.tui.formatting import (ALERT_ROWS, BLANK_CELLS, BLANK_ROW, COL_KEYS, COLUMNS,
                                       EXCEPTION_FLAGS, GREEN, MIN_WIDTH, ORANGE, REASONS,
                                       SORTABLE, STATES, VERMILION, WIDE, _none_last,
                                       agent_cells, is_exception, local, local_midnight_ms,
                                       queue_strip, sort_value, state_text)
from dashboards.tui.labels import t, translate_bindings
from dashboards.tui.messages import FeedChanged, Tick
from dashboards.tui.screens import AgentScreen, HelpScreen, TeamScreen
from dashboards.tui.widgets import FloorTable
from kefu_floor.policy import Policy, load_policy


class FloorApp(App):
    TITLE = "kefu-floor"
    CSS_PATH = "tui.tcss"  # the app's and the screens' styles
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("question_mark", "help", "tui_k_help"),
                Binding("t", "cycle_team", "tui_k_team"),
                Binding("x", "toggle_exceptions", "tui_k_exc"),
                Binding("s", "cycle_sort", "tui_k_sort"),
                Binding("r", "reverse_sort", "tui_k_reverse"),
                Binding("v", "team_view", "tui_k_teams"),
                Binding("n", "next_site", "tui_k_site"),
                Binding("q", "quit", "tui_k_quit"),
                # Ctrl-C quits in every view, like SIGINT and SIGTERM (see on_mount)
                Binding("ctrl+c", "quit", show=False, priority=True)]

    def __init__(self, url: str | list[str], site: str | None = None, team: str | None = None,
                 lang: str = "en", *, policy: Policy | str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, tick_s: float = 1.0,
                 backoff_initial: float = 0.5, backoff_max: float = 10.0,
                 token: str | None = None, ssl=None, wallboard: str | None = None):
        super().__init__()
        self.lang = lang
        self.clock = clock
        self.tick_s = tick_s
        # one feed per engine process (a centre split across `serve`s, README "Scale-out"):
        # every feed stays connected, one is on screen at a time (`n` shows the next) and
        # the title line shows every site's state
        urls = [url] if isinstance(url, str) else list(url)
        self.clients = [FeedClient(u, site, team, listener=self._listener(k), wall=wall,
                                   backoff_initial=backoff_initial, backoff_max=backoff_max,
                                   token=token, ssl=ssl if u.startswith("wss:") else None)
                        for k, u in enumerate(urls)]
        self.client = self.clients[0]
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
        for k, c in enumerate(self.clients):
            self.run_worker(c.run(), name=f"feed{k or ''}", group="feed", exit_on_error=False)
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
        for c in self.clients:
            await c.aclose()

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

    def _listener(self, k: int) -> Callable[[Change], None]:
        def listen(ch: Change) -> None:
            if self.clients[k] is self.client:
                self._on_change(ch)
            elif ch.kind in ("snapshot", "connected", "disconnected") and self._widgets \
                    and self.is_running:
                with contextlib.suppress(NoMatches):
                    self.refresh_header()  # the other sites' marks on the title line
        return listen

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
        self.screen.post_message(FeedChanged(ch))  # a screen showing live figures follows

    def _adopt_policy(self) -> None:
        st = self.client.state or {}
        pol = st.get("policy") or {}
        try:
            self.tz = ZoneInfo(pol.get("timezone") or "Asia/Shanghai")
        except Exception:  # noqa: BLE001 — an unknown zone: keep the last one
            pass
        name = pol.get("name")
        self.policy_name = name
        if isinstance(pol.get("full"), dict):  # the server's own policy, whatever its file
            try:
                self.policy = msgspec.convert(pol["full"], Policy)
                return
            except msgspec.ValidationError:  # another version's policy: fall back below
                pass
        # an older server sends only the name: a preset of that name, or the --policy file
        if self.policy is not None and self.policy.name == name:
            return
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
        if len(self.clients) > 1:
            for other in self.clients:
                mark = "+" if other.connected else "x"
                name = (other.state or {}).get("site") or other.site or other.url
                title.append(f"  [{name} {mark}]", style="bold" if other is c else
                             (GREEN if other.connected else VERMILION))
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
        self.screen.post_message(Tick())

    # ---------------------------------------------------------------- actions
    FLOOR_ACTIONS = ("cycle_team", "toggle_exceptions", "cycle_sort", "reverse_sort",
                     "team_view")

    def check_action(self, action: str, parameters) -> bool | None:
        # the floor's keys belong to the floor screen (and are not shown elsewhere)
        if action in self.FLOOR_ACTIONS and len(self.screen_stack) > 1:
            return False
        if action == "next_site" and (len(self.clients) < 2 or len(self.screen_stack) > 1):
            return False  # one feed: no such key (not in the footer either)
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

    def action_next_site(self) -> None:
        """Show the next feed's site (the rows, alerts and queues start over from its state)."""
        if len(self.clients) < 2:
            return
        k = self.clients.index(self.client)
        self.client = self.clients[(k + 1) % len(self.clients)]
        self.team_filter = None
        self._recv_mono = self.clock() if self.client.state else None
        self._lost_mono = None if self.client.connected else self.clock()
        self._adopt_policy()
        self.floor.clear()
        self._rows.clear()
        self.sync_rows(self.client.agents.keys(), full=True)
        self.apply_sort()
        self.schedule_alerts()
        self.refresh_queues()
        self.refresh_header()
        self.refresh_status()

    def action_team_view(self) -> None:
        self.push_screen(TeamScreen(self.lang))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.lang))


def run(url: str | list[str], site: str | None = None, team: str | None = None, lang: str = "en",
        policy: str | Policy | None = None, token: str | None = None, ssl=None) -> None:
    """Run the dashboard in this terminal until the user quits or a signal stops it."""
    app = FloorApp(url, site, team, lang, policy=policy, token=token, ssl=ssl)
    app.run()
    if app.stopped_by:
        print(t("stopped_by", lang, sig=app.stopped_by), file=sys.stderr)
