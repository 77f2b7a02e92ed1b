"""The shift leader's dashboard driven by Textual's Pilot against a real feed server
(`FeedServer`: FeedHub over an Engine fed the hand-worked scenario of 2026-11-04)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from dashboards.tui import AgentScreen, FloorApp, HelpScreen, TeamScreen, agent_cells
from harness.feed import local_ms, until
from harness.tui import MORNING, MORNING_END, cell, connected, make_app, play, plain, settle
from kefu_floor.cli.main import build_parser, main


def test_floor_fills_then_changes_cell_by_cell(morning):
    async def main_():
        app = make_app(morning)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(app, pilot)
            table = app.floor
            assert table.row_count == 8  # the leader too, shown as such, signed in or not
            assert cell(app, "L001", "sign") == "leader"
            # this Textual's DataTable has the internals FloorTable's virtual rows stand in
            # for and the caches FloorTable.repaint evicts one by one
            assert table.targeted()
            calls = {"repaint": 0, "rows_moved": 0, "clear": 0}
            written = []
            for name in calls:
                orig = getattr(table, name)

                def spy(*a, _orig=orig, _name=name, **kw):
                    calls[_name] += 1
                    if _name == "repaint":
                        written.extend(a[0])
                    return _orig(*a, **kw)
                setattr(table, name, spy)
            generation = table._update_count  # what every render cache is keyed on
            await play(morning, app, pilot, MORNING, MORNING_END)
            # never rebuilt, never re-sorted, no table-wide invalidation: only cells repainted
            assert calls["clear"] == calls["rows_moved"] == 0
            assert table._update_count == generation
            assert calls["repaint"] > 0
            cols = {c for _, c in written}
            assert "state" in cols and "in_state" in cols and "agent" not in cols
            assert ("A002", "state") in set(written)
            assert table.row_count == 8
            assert cell(app, "A001", "state") == "+ ready"
            assert cell(app, "A001", "busy") == "61:00"
            assert cell(app, "A001", "left") == "0:00!!"
            assert cell(app, "A002", "state") == "= busy toilet"
            assert cell(app, "A002", "in_state") == "3:20"  # 10:00:00 -> 10:03:20
            assert cell(app, "A002", "sign") == "!late"
            assert cell(app, "A004", "sign") == "!left early"
            assert cell(app, "A003", "star") == "prob"
            # the alerts pane: newest first, the rule in the screen's language only
            al = app.w("alerts")
            top = [getattr(c, "plain", c) for c in al.get_row_at(0)]
            assert top[:4] == ["10:00:00", "A001", "张伟", "busy over 30 min"]
            assert top[4] == "-10"
            assert [str(c.label) for c in al.columns.values()][3] == "Rule"
            times = [str(al.get_row_at(i)[0]) for i in range(4)]
            assert times == ["10:00:00", "09:45:00", "09:30:00", "08:06:00"]
            strip = plain(app.w("queues").content)
            assert "waiting 0" in strip and "+ ready 2" in strip and "= busy 1" in strip
            assert "feed time 2026-11-04 10:03:20" in plain(app.w("title").content)

    asyncio.run(main_())


def test_filters_sort_and_help_keys(morning):
    async def main_():
        app = make_app(morning)
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(app, pilot)
            await play(morning, app, pilot, MORNING, MORNING_END)
            table = app.floor

            def rows():
                return [table.get_row_at(i)[0] for i in range(table.row_count)]
            assert rows() == ["A001", "A002", "A003", "A004", "B001", "B002", "B003", "L001"]
            await pilot.press("x")  # exceptions only
            await settle(app, pilot)
            # attention now: the current shift only (B002's late return was yesterday's
            # evening shift; it starts again at 14:30)
            assert rows() == ["A001", "A002", "A004"]
            assert "exceptions only: on" in plain(app.w("status").content)
            await pilot.press("x")
            await pilot.press("t")  # team T1
            await settle(app, pilot)
            assert rows() == ["A001", "A002", "A003", "A004", "L001"]
            al = app.w("alerts")
            assert {al.get_row_at(i)[1] for i in range(al.row_count)} <= {"A001", "A002",
                                                                         "A003", "A004"}
            await pilot.press("t")  # team T2
            await settle(app, pilot)
            assert rows() == ["B001", "B002", "B003"]
            await pilot.press("t")  # all again
            await settle(app, pilot)
            assert len(rows()) == 8
            # sort: s steps through the columns (agent -> name -> team -> state -> ...)
            for _ in range(3):
                await pilot.press("s")
            await settle(app, pilot)
            assert app.sort_col == "state"
            assert rows()[:2] == ["A001", "A003"]  # ready first, then busy, then out
            assert rows()[2] == "A002"
            await pilot.press("r")
            await settle(app, pilot)
            assert rows()[-2:] == ["A003", "A001"] and app.sort_reverse
            # keyboard help
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)

    asyncio.run(main_())


def test_drill_down_timeline_ledger_bands(morning):
    async def main_():
        app = make_app(morning)
        async with app.run_test(size=(200, 60)) as pilot:
            await connected(app, pilot)
            await play(morning, app, pilot, MORNING, MORNING_END)
            await pilot.press("enter")  # the cursor is on A001
            await until(lambda: isinstance(app.screen, AgentScreen), 5, "drill-down",
                        pause=pilot.pause)
            scr = app.screen
            await until(lambda: scr.report is not None, 15, "report", pause=pilot.pause)
            await settle(app, pilot)
            timeline = plain(scr.query_one("#a-timeline").content)
            lines = [x.split() for x in timeline.splitlines()]
            assert ["07:58:00", "+", "ready", "1:02:00"] in lines
            assert ["09:00:00", "=", "busy", "1:01:00"] in lines
            assert ["10:01:00", "+", "ready", "2:20"] in lines
            ledger = plain(scr.query_one("#a-ledger").content)
            # one language per screen; the evidence is the report's facts
            assert ledger.count("busy over 30 min") == 4 and "示忙" not in ledger
            assert "counted busy that day 61:00; crossing 3 (over 60 min) at 10:00:00" in ledger
            assert "counted busy that day 31:00; crossing 1 (over 30 min) at 11:08:00" in ledger
            items = plain(scr.query_one("#a-items").content)
            assert "[<=140s:100]" in items and "[>=95%:100]" in items
            assert "Utilization" in items and "60" in items
            star = plain(scr.query_one("#a-star").content)
            assert "no data for: Recording, Text, Performance, Exam" in star
            # live: A001 goes busy again while the screen is open
            await play(morning, app, pilot, MORNING_END, local_ms(4, 11, 0, 1))
            title = plain(scr.query_one("#a-title").content)
            assert "A001 张伟" in title
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, AgentScreen)

    asyncio.run(main_())


def test_drill_down_next_star_and_team_view(month_end):
    async def main_():
        app = make_app(month_end, lang="zh")
        async with app.run_test(size=(200, 60)) as pilot:
            await connected(app, pilot)
            await pilot.press("enter")  # A001: 87.5, tied 3 star with B002; B001 4 star
            await until(lambda: isinstance(app.screen, AgentScreen)
                        and app.screen.report is not None, 15, "report", pause=pilot.pause)
            await settle(app, pilot)
            star = plain(app.screen.query_one("#a-star").content)
            assert "当前 3 星,总分 87.50" in star
            assert "达到 4 星需总分至少 97.75(还差 10.25 分)" in star
            assert "单项提高不够" in star  # 10.25 points is 41 on recording (88 now)
            await pilot.press("escape")
            await pilot.press("v")
            await until(lambda: isinstance(app.screen, TeamScreen)
                        and app.screen.report is not None, 15, "team view", pause=pilot.pause)
            await settle(app, pilot)
            scr = app.screen
            tab = scr.query_one("#t-table")
            assert [tab.get_row_at(i)[0] for i in range(tab.row_count)] == ["T1", "T2"]
            leaders = plain(scr.query_one("#t-leaders").content)
            assert "L001" in leaders and "班组得分" in leaders
            rep = app.report
            ld = rep["leaders"][0]
            assert f"{ld['items']['team_score']:g}" in leaders

    asyncio.run(main_())


def test_feed_loss_shows_since_when_keeps_data_and_reconnects(morning):
    async def main_():
        app = make_app(morning)
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(app, pilot)
            await play(morning, app, pilot, MORNING, local_ms(4, 9, 10))
            before = [list(map(str, app.floor.get_row_at(i))) for i in range(7)]
            await morning.stop_serving()
            await until(lambda: app.w("banner").has_class("show"), 10, "banner",
                        pause=pilot.pause)
            banner = plain(app.w("banner").content)
            assert "disconnected since 10:40:00" in banner
            assert "x offline" in plain(app.w("title").content)
            await pilot.pause(0.3)  # retrying meanwhile
            assert [list(map(str, app.floor.get_row_at(i))) for i in range(7)] == before
            await morning.start_serving()  # same port
            await until(lambda: app.client.connected, 10, "reconnect", pause=pilot.pause)
            await until(lambda: not app.w("banner").has_class("show"), 10, "banner gone",
                        pause=pilot.pause)
            await play(morning, app, pilot, local_ms(4, 9, 10), MORNING_END)
            assert cell(app, "A002", "state") == "= busy toilet"
            assert app.floor.row_count == 8
            assert app.client.connects == 2

    asyncio.run(main_())


def test_chinese_labels_and_cjk_alignment(morning):
    async def main_():
        app = make_app(morning, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(app, pilot)
            await play(morning, app, pilot, MORNING, MORNING_END)
            labels = [str(c.label) for c in app.floor.ordered_columns]
            assert labels[:5] == ["工号", "姓名", "班组", "状态", "持续"]
            assert cell(app, "A002", "state") == "= 示忙 如厕"
            assert cell(app, "A004", "sign") == "!早退"
            # the name column is as wide as the widest name in terminal cells
            name_col = next(c for c in app.floor.ordered_columns if c.key.value == "name")
            assert name_col.width >= 6
            lines = app.screen._compositor.render_strips()
            text = ["".join(seg.text for seg in s) for s in lines]
            from rich.cells import cell_len
            # every floor row puts the team (after a 3-character name) in the same column
            rows = [x for x in text if x.startswith(" A00") or x.startswith(" B00")]
            assert len(rows) == 7
            starts = {cell_len(x[: x.index(" T")]) for x in rows}
            assert len(starts) == 1

    asyncio.run(main_())


def test_cli_registers_tui():
    args = build_parser().parse_args(["tui", "--connect", "ws://127.0.0.1:1", "--site", "cd1",
                                      "--team", "T1", "--lang", "zh"])
    assert args.cmd == "tui" and args.team == "T1" and args.lang == "zh"
    assert args.func.__module__ == "kefu_floor.cli.tui"
    assert main(["tui", "--connect", "http://nowhere"]) == 1


def test_rows_scrolled_into_view_are_current_and_alerts_open_the_agent(morning):
    """On a short screen most rows are off screen while the morning comes in: their cells
    are only drawn when they scroll into view, and must be current then."""
    async def main_():
        app = make_app(morning)
        async with app.run_test(size=(80, 17)) as pilot:
            await connected(app, pilot)
            table = app.floor
            visible = table.size.height - 1  # less the header
            assert visible < 7
            await play(morning, app, pilot, MORNING, local_ms(4, 21, 30, 1))
            await pilot.press("ctrl+end")  # to the last row
            await settle(app, pilot)
            assert table.scroll_y > 0
            assert cell(app, "B003", "state") == "+ ready"  # busy toilet 21:00 -> 21:04
            assert cell(app, "B003", "in_state") == "26:00"  # 21:04:00 -> 21:30:00
            # every row on screen shows exactly the current state
            now = app.feed_now()
            top = int(table.scroll_y)
            for i in range(top, min(7, top + visible)):
                a = str(table.get_row_at(i)[0])
                want = [txt for txt, _ in agent_cells(app.client.agents[a], now, "en",
                                                      "2026-11-04")]
                assert [str(c) for c in table.get_row_at(i)] == want, a
            # Tab to the alerts pane, Enter on the newest: that agent's drill-down
            await pilot.press("tab")
            await pilot.pause()
            al = app.w("alerts")
            assert app.focused is al
            agent = str(al.get_row_at(0)[1])
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, AgentScreen), 5, "drill-down",
                        pause=pilot.pause)
            assert app.screen.agent == agent
            await until(lambda: app.screen.report is not None, 15, "report",
                        pause=pilot.pause)
            await settle(app, pilot)

    asyncio.run(main_())


def test_a_feed_that_refuses_says_why(morning):
    async def main_():
        app = FloorApp(morning.url, "nowhere", lang="en", backoff_initial=0.05,
                       backoff_max=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(lambda: "unknown site" in plain(app.w("banner").content), 10,
                        "refusal shown", pause=pilot.pause)
            assert "not yet connected to ws://127.0.0.1:" in plain(app.w("banner").content)
            assert app.floor.row_count == 0

    asyncio.run(main_())


def test_first_build_starts_at_the_top_however_the_feed_orders_its_agents(morning):
    async def main_():
        app = make_app(morning)
        # the service's snapshot lists agents in its own order: make it the reverse
        orig = app.client.handle

        def handle(msg):
            if msg.get("type") == "snapshot":
                msg = {**msg, "agents": dict(reversed(list(msg["agents"].items())))}
            return orig(msg)
        app.client.handle = handle
        async with app.run_test(size=(80, 17)) as pilot:
            await connected(app, pilot)
            table = app.floor
            assert str(table.get_row_at(0)[0]) == "A001"
            assert table.cursor_row == 0 and table.scroll_y == 0
            await pilot.press("down", "down", "down")  # the user is on A004 ...
            await pilot.press("r")  # ... and reverses the sort: it starts at the top
            await settle(app, pilot)
            assert table.cursor_row == 0 and table.scroll_y == 0
            assert str(table.get_row_at(0)[0]) == "L001"

    asyncio.run(main_())


def test_drill_down_survives_quick_enter_esc_and_resize_at_80x24(morning):
    """Issue 12: `NoMatches: No nodes match '#a-timeline'` from refresh_live after a resize
    or a quick Esc/Enter ended the demo. A feed change or tick that reaches the drill-down
    before it is composed, or after it was popped, draws nothing instead of crashing."""
    async def main_():
        app = make_app(morning)
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(app, pilot)
            scr = AgentScreen("A001", "en")
            app.push_screen(scr)
            scr.refresh_live()  # before compose: nothing to draw on yet
            scr.render_report()
            scr._layout(200)
            await pilot.pause()
            await pilot.resize_terminal(100, 30)
            await pilot.resize_terminal(80, 24)
            await pilot.press("escape")
            await pilot.pause()
            scr.refresh_live()  # popped: its widgets are gone
            scr.render_report()
            scr.tick()
            for _ in range(3):
                await pilot.press("enter", "escape")
            await play(morning, app, pilot, MORNING, local_ms(4, 8, 0))
            assert app.is_running and not isinstance(app.screen, AgentScreen)

    asyncio.run(main_())


def test_drill_down_item_scores_follow_the_feed(morning):
    """The drill-down's item scores update with the feed, not frozen at opening time."""
    async def main_():
        app = make_app(morning)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(app, pilot)
            await pilot.press("enter")  # A001
            await until(lambda: isinstance(app.screen, AgentScreen)
                        and app.screen.report is not None, 15, "report", pause=pilot.pause)
            await settle(app, pilot)
            scr = app.screen
            before = plain(scr.query_one("#a-items").content)
            live = dict(app.client.agents["A001"])
            live["items"] = {**live["items"], "recording": 12.5}
            app.client.agents["A001"] = live
            from dashboards.feedclient import Change
            app._on_change(Change("delta", {"A001"}, sections={"agents"}))
            await pilot.pause()  # the screen gets the change as a message (FeedChanged)
            after = plain(scr.query_one("#a-items").content)
            assert after != before and "12.5" in after

    asyncio.run(main_())


def test_team_filter_applies_to_the_state_line(morning):
    """`--team`/`t` applies to every figure on screen: agents by state and occupancy are
    the team's (the service's `teams` entry), not the floor's."""
    async def main_():
        app = make_app(morning)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(app, pilot)
            await play(morning, app, pilot, MORNING, MORNING_END)
            floor = (app.client.state or {})["floor"]["by_state"]
            await pilot.press("t", "t")  # T2
            await settle(app, pilot)
            team = (app.client.state or {})["teams"]["T2"]["by_state"]
            assert team != floor
            strip = plain(app.w("queues").content)
            assert f"+ ready {team['ready']}" in strip and f". signed out {team['out']}" in strip

    asyncio.run(main_())


def test_alerts_are_dated_and_a_restart_leaves_none_out_of_order(morning):
    """Alerts of an earlier run, stamped after the feed's time once the service restarted,
    are dropped on the new snapshot; an alert of another day shows its date."""
    async def main_():
        app = make_app(morning)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(app, pilot)
            await play(morning, app, pilot, MORNING, MORNING_END)
            n = len(app.client.alerts)
            ahead = {"ts": local_ms(4, 20, 0), "agent": "B002", "name": "杨磊", "team": "T2",
                     "rule": "floor", "rule_zh": "现场违规", "rule_en": "floor rule",
                     "points": -10, "day": "2026-11-04"}
            app.client.add_alert(ahead)
            app.client.add_alert({**ahead, "ts": local_ms(3, 17, 46), "day": "2026-11-03",
                                  "rule": "late_return", "rule_en": "late return"})
            from dashboards.feedclient import Change
            app._on_change(Change("snapshot"))  # the service came back at 10:03
            await settle(app, pilot)
            al = app.w("alerts")
            times = [str(al.get_row_at(i)[0]) for i in range(al.row_count)]
            assert "20:00:00" not in times and len(app.client.alerts) == n + 1
            assert "11-03 17:46" in times  # dated: not today
            ts = [d["ts"] for d in app.client.alerts]
            assert ts == sorted(ts, reverse=True)

    asyncio.run(main_())


def test_a_centres_own_policy_file_reaches_the_drill_down(tmp_path):
    """A policy that is no preset here (a centre's own TOML, its own name and bands): the
    TUI takes it from the feed's snapshot, needs no --policy, and shows its bands."""
    from harness.feed import FeedServer, events_between
    from harness.handworked import HW, SITE
    from kefu_floor.engine import Setup
    from kefu_floor.policy import load_policy
    from kefu_floor.roster import load_roster, load_schedule

    text = (Path(load_policy.__globals__["__file__"]).parent / "policies" /
            "chengdu-2014.toml").read_text("utf-8")
    text = text.replace('name = "chengdu-2014"', 'name = "our-centre-2026"', 1)
    text = text.replace("max = [140, 145, 155, 160, 165]", "max = [150, 155, 160, 165, 170]", 1)
    (tmp_path / "ours.toml").write_text(text, "utf-8")
    pol = load_policy(str(tmp_path / "ours.toml"))
    setup = Setup(pol, load_roster(HW / "roster.csv"),
                  load_schedule(HW / "schedule.csv", pol.tz, pol.attendance.default_grace_min),
                  SITE)
    srv = FeedServer(setup=setup).start()
    srv.feed(events_between(None, MORNING))
    srv.finish()

    async def main_():
        app = make_app(srv)  # no policy given
        async with app.run_test(size=(200, 60)) as pilot:
            await connected(app, pilot)
            await play(srv, app, pilot, MORNING, MORNING_END)
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, AgentScreen), 5, "drill-down",
                        pause=pilot.pause)
            scr = app.screen
            await until(lambda: scr.report is not None, 15, "report", pause=pilot.pause)
            await settle(app, pilot)
            assert app.policy is not None and app.policy.name == "our-centre-2026"
            items = plain(scr.query_one("#a-items").content)
            assert "[<=150s:100]" in items and "[<=140s:100]" not in items
            assert "unknown here" not in plain(scr.query_one("#a-star").content)

    try:
        asyncio.run(main_())
    finally:
        srv.close()
