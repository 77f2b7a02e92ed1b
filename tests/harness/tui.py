"""Driving the dashboard with Textual's Pilot against a `FeedServer`: the app with frozen
clocks, waiting until it has settled, playing the scenario in live, plain text of a widget."""
from __future__ import annotations

import io

from rich.console import Console

from dashboards.tui import FloorApp
from harness.feed import FeedServer, events_between, local_ms, until
from harness.handworked import SITE

WALL = 1_793_760_000.0  # 2026-11-04 10:40:00 +08, the (frozen) wall clock of these apps
MORNING = local_ms(4, 7, 0)  # connect here, then the morning comes in live
MORNING_END = local_ms(4, 10, 3, 21)


def plain(renderable, width: int = 200) -> str:
    con = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    con.print(renderable)
    return con.export_text()


def cell(app: FloorApp, agent: str, col: str) -> str:
    v = app.floor.get_cell(agent, col)
    return getattr(v, "plain", v)


def make_app(srv: FeedServer, lang: str = "en", **kw) -> FloorApp:
    return FloorApp(srv.url, SITE, lang=lang, clock=lambda: 100.0, wall=lambda: WALL,
                    backoff_initial=0.05, backoff_max=0.2, **kw)


async def settle(app: FloorApp, pilot, timeout: float = 15.0) -> None:
    await until(app.settled, timeout, "app settled", pause=pilot.pause)
    await pilot.pause(0.05)
    await until(app.settled, timeout, "app settled", pause=pilot.pause)


async def play(srv: FeedServer, app: FloorApp, pilot, lo: int, hi: int) -> int:
    """Feed the scenario's events in [lo, hi) one delta each; wait until the app has them."""
    now = await srv.afeed(events_between(lo, hi), each=True)
    await until(lambda: (app.client.state or {}).get("now") == now, 15, "deltas",
                pause=pilot.pause)
    await settle(app, pilot)
    return now


async def connected(app: FloorApp, pilot) -> None:
    await until(lambda: app.client.state is not None, 15, "snapshot", pause=pilot.pause)
    await settle(app, pilot)
