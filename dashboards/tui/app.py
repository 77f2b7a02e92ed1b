"""The app: the floor screen (floor table, alerts pane, queue strip, header and status), the
feed client's changes applied to it, and the keys; other screens get the changes as
messages (`messages.py`)."""
from __future__ import annotations

import asyncio
import contextlib
import gc
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
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Static

from dashboards.feedclient import Change, FeedClient
from dashboards.tui.formatting import (ALERT_ROWS, COLUMNS, EXCEPTION_FLAGS, GREEN, MIN_WIDTH,
                                       ORANGE, REASONS, SORTABLE, STATES, VERMILION, WIDE,
                                       agent_cells, is_exception, local, local_midnight_ms,
                                       queue_strip, state_text)
from dashboards.tui.labels import t, translate_bindings
from dashboards.tui.messages import FeedChanged, Tick
from dashboards.tui.rowmodel import Cells, FloorRows
from dashboards.tui.screens import AgentScreen, HelpScreen, TeamScreen
from dashboards.tui.widgets import FloorTable
from kefu_floor import gctune
from kefu_floor.policy import Policy, load_policy


# A 20,000-agent floor keeps about a million objects alive (the feed's state, its timeline).
# With Python's default thresholds a full collection of them ran about every second at
# 100-650 ms each (benchmarks/tui.py: gc_full_collections, gc_pause_ms_max), and a key
# pressed meanwhile waited. While the app runs, young objects are collected as usual, the
# old generation only after this many collections of the middle one (CPython's default:
# 10), and each snapshot's objects, long-lived by nature, are frozen out of the collector
# (`gc.freeze`: refcounting still frees them when a delta replaces them).
GC_OLD_EVERY = 1000
GC_FREEZE_FROM = 2000  # agents in a snapshot from which it is frozen


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
        # the floor's rows (which agents, in which order, their drawn cells): the table
        # widget only draws the ones on screen from it
        self.model = FloorRows()
        self._today: tuple[int | None, str | None] = (None, None)
        self._widths_set = False
        self._wide: bool | None = None
        self._widgets: dict = {}
        self.team_filter: str | None = None
        self.exceptions_only = False
        self.sort_col = "agent"
        self.sort_reverse = False
        self._sort_due = False
        self._last_sort = -1e9
        self.resort_s = 2.0
        self._alerts_due = False
        self._filling = False
        self._alert_rows: dict[str, str] = {}  # alerts row key -> agent
        self.report: dict | None = None
        self.reports_in_flight = 0
        self.updates = 0  # feed messages applied to the screen
        self._gc_restore: Callable[[], None] | None = None  # set while the app runs
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
        self.floor.bind(self.model, self._cells_of)
        al = self.w("alerts")
        # one language per screen: the rule in the screen's language only
        rule = ("rule_zh", "rule", 14) if self.lang == "zh" else ("rule_en", "rule", 16)
        for key, label, width in (("time", "time", 11), ("agent", "agent", 6),
                                  ("name", "name", 6), rule, ("points", "points", 6)):
            al.add_column(t(label, self.lang), key=key, width=width)
        self._layout(self.size.width)
        self.refresh_header()
        self.refresh_status()
        self._gc(True)
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
        self._gc(False)

    def _gc(self, running: bool) -> None:
        """The collector tuned for a big floor while the app runs (GC_OLD_EVERY), put back
        as it was when it stops."""
        if running and self._gc_restore is None:
            self._gc_restore = gctune.tune(GC_OLD_EVERY)
        elif not running and self._gc_restore is not None:
            self._gc_restore()
            self._gc_restore = None

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
            if self._gc_restore is not None and len(self.client.agents) >= GC_FREEZE_FROM:
                gc.freeze()  # see GC_OLD_EVERY
        elif ch.kind == "delta":
            # with a new `now`, time in state moves for every row on screen
            self.sync_rows(ch.agents, ch.removed, redraw_all="now" in ch.sections)
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

    def _cells_of(self, agent: str) -> Cells:
        """One floor row's cells as of now (the table asks only for the rows it draws)."""
        now = self.feed_now()
        if self._today[0] != now:  # one date conversion per feed time, not per row
            self._today = (now, self.today_str(now))
        e = self.client.agents.get(agent) or {"agent": agent}
        return agent_cells(e, now, self.lang, self._today[1])

    def _cursor_agent(self) -> str | None:
        m, row = self.model, self.floor.cursor_row
        return m[row] if 0 <= row < len(m) else None

    def _rows_moved(self, cursor: str | None, top: bool = False) -> None:
        """The model's rows came, went or moved: the table starts a new render generation;
        the cursor stays on its agent (or goes to the top), and the rows on screen are
        drawn."""
        table = self.floor
        table.rows_moved()
        i = self.model.index(cursor) if cursor is not None else None
        if top or i is None and cursor is None:
            table.move_cursor(row=0, animate=False)
            table.scroll_to(y=0, animate=False)
        elif i is not None and i != table.cursor_row:
            table.move_cursor(row=i, animate=False)
        self.refresh_visible()

    def sync_rows(self, agents: Iterable[str], removed: Iterable[str] = (),
                  full: bool = False, redraw_all: bool = False) -> None:
        """Bring the named agents' rows up to date in O(agents named): the model places
        those the filters now keep and drops the others (`FloorRows.update`), and only the
        rows on screen are drawn again, and only the cells whose text or colour changed
        (the others are drawn when they scroll into view). `full`: the rows from scratch
        (a snapshot). `redraw_all`: every row on screen (time in state moved)."""
        if not self._widths_set:
            if not self.client.agents:
                return
            self._set_columns()
        state = self.client.agents
        m = self.model
        now = self.feed_now()
        m.set_sort(self.sort_col, self.sort_reverse)
        if full:
            first = not len(m)  # a first build starts at the top
            cur = None if first else self._cursor_agent()
            m.rebuild(state, self.visible, now)
            self._rows_moved(cur, top=first)
        else:
            cur = self._cursor_agent()
            changed = agents if isinstance(agents, (set, frozenset, dict)) else set(agents)
            if m.update(state, changed, removed, self.visible, now):
                self._rows_moved(cur)
            elif redraw_all:
                self.refresh_visible()
            else:
                table = self.floor
                top, height = table.window()
                shown = [a for a in m.window(top, height) if a in changed]
                table.repaint(m.redraw(shown, self._cells_of, table._update_count))
            if m.stale:
                self.schedule_sort()
        self.refresh_status()

    def refresh_visible(self) -> None:
        """Draw again the rows on screen (time in state moved, or rows came into view):
        only the cells that changed are repainted."""
        table = self.floor
        m = self.model
        if not len(m):
            return
        top, height = table.window()
        table.repaint(m.redraw(m.window(top, height), self._cells_of, table._update_count))

    def schedule_sort(self) -> None:
        """Re-sort soon: rows moving repaints the whole table, so a live column re-sorts at
        most every `resort_s` (a user's choice sorts at once)."""
        if not self._sort_due:
            self._sort_due = True
            wait = self._last_sort + self.resort_s - time.monotonic()
            if wait > 0.01:
                self.set_timer(wait, self.apply_sort)
            else:
                self.call_later(self.apply_sort)

    def apply_sort(self, top: bool = False) -> None:
        """Sort the rows by the chosen column (one pass over the shown agents); the cursor
        stays on its agent, or goes to the top (`top`: the user chose a new sort)."""
        self._sort_due = False
        self._last_sort = time.monotonic()
        m = self.model
        if not len(m):
            return
        cur = self._cursor_agent()
        m.set_sort(self.sort_col, self.sort_reverse)
        if m.sort(self.client.agents, self.feed_now()) or top:
            self._rows_moved(cur, top=top)

    def rebuild_rows(self) -> None:
        """After a filter change (not per update): the rows over, from the top."""
        if not self._widths_set and self.client.agents:
            self._set_columns()  # before any row: DataTable's add_column walks the rows
        self.model.set_sort(self.sort_col, self.sort_reverse)
        self.model.rebuild(self.client.agents, self.visible, self.feed_now())
        self._rows_moved(None, top=True)
        self.schedule_alerts()
        self.refresh_queues()  # the state line follows the team filter
        self.refresh_status()

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
        s.append("  " + t("tui_shown", lang, n=len(self.model), total=len(self.client.agents)))
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
        self.apply_sort(top=True)
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
        if not self._widths_set and self.client.agents:
            self._set_columns()
        self.model.set_sort(self.sort_col, self.sort_reverse)
        self.model.rebuild(self.client.agents, self.visible, self.feed_now())
        self._rows_moved(None, top=True)
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
