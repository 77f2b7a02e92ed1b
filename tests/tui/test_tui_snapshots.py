"""Snapshot tests (pytest-textual-snapshot) of the dashboard's main screens, each fed by a
real feed server (`FeedServer`) from the hand-worked scenario. Clocks are frozen (time in
state counts from the feed's time, the wall clock is fixed) so the pictures are stable.

Update after an intended change of the screens with `pytest tests/tui/test_tui_snapshots.py
--snapshot-update` and look at the SVGs in tests/tui/__snapshots__/.
"""
from __future__ import annotations

import pytest

from dashboards.tui import AgentScreen, HelpScreen, TeamScreen
from harness.feed import until
from harness.tui import MORNING, MORNING_END, connected, make_app, play, settle

pytestmark = pytest.mark.timeout(60)


def morning_floor(srv, keys=()):
    async def run_before(pilot):
        app = pilot.app
        await connected(app, pilot)
        await play(srv, app, pilot, MORNING, MORNING_END)
        for k in keys:
            await pilot.press(k)
            await settle(app, pilot)
    return run_before


def test_floor_80x24_en(snap_compare, morning):
    assert snap_compare(make_app(morning), terminal_size=(80, 24),
                        run_before=morning_floor(morning))


def test_floor_200x60_zh(snap_compare, morning):
    assert snap_compare(make_app(morning, lang="zh"), terminal_size=(200, 60),
                        run_before=morning_floor(morning))


def test_floor_team_and_exceptions_filter_80x24(snap_compare, morning):
    assert snap_compare(make_app(morning), terminal_size=(80, 24),
                        run_before=morning_floor(morning, keys=("t", "x")))


def test_floor_feed_lost_80x24(snap_compare, morning):
    async def run_before(pilot):
        app = pilot.app
        await connected(app, pilot)
        await play(morning, app, pilot, MORNING, MORNING_END)
        await morning.stop_serving()
        await until(lambda: app.w("banner").has_class("show"), 10, "banner",
                    pause=pilot.pause)
        await pilot.pause(0.1)

    # a long backoff: the banner shows the first retry, as it would for the first 30 s
    app = make_app(morning)
    app.client.backoff_initial = 30.0
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def drill_down(srv, live: bool, keys=()):
    async def run_before(pilot):
        app = pilot.app
        await connected(app, pilot)
        if live:
            await play(srv, app, pilot, MORNING, MORNING_END)
        for k in keys:
            await pilot.press(k)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, AgentScreen)
                    and app.screen.report is not None, 15, "report", pause=pilot.pause)
        await settle(app, pilot)
    return run_before


def test_drill_down_80x24_en(snap_compare, morning):
    assert snap_compare(make_app(morning), terminal_size=(80, 24),
                        run_before=drill_down(morning, live=True))


def test_drill_down_month_end_200x60_zh(snap_compare, month_end):
    assert snap_compare(make_app(month_end, lang="zh"), terminal_size=(200, 60),
                        run_before=drill_down(month_end, live=False))


def test_team_view_80x24_en(snap_compare, month_end):
    async def run_before(pilot):
        app = pilot.app
        await connected(app, pilot)
        await pilot.press("v")
        await until(lambda: isinstance(app.screen, TeamScreen)
                    and app.screen.report is not None, 15, "team view", pause=pilot.pause)
        await settle(app, pilot)

    assert snap_compare(make_app(month_end), terminal_size=(80, 24), run_before=run_before)


def test_help_80x24_zh(snap_compare, morning):
    async def run_before(pilot):
        app = pilot.app
        await connected(app, pilot)
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen), 5, "help", pause=pilot.pause)
        await pilot.pause(0.1)

    assert snap_compare(make_app(morning, lang="zh"), terminal_size=(80, 24),
                        run_before=run_before)
