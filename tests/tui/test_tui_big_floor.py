"""The dashboard with a 20,000-agent floor over a real websocket (a feed in the test's event
loop that sends what the test gives it): the rows are a model of every agent while the table
draws, and makes cells for, only the rows on screen; a delta touching an agent changes that
agent's row, on screen at once and off screen when it scrolls into view; keys work over the
whole floor. And the floor table's own cell rendering gives DataTable's segments exactly."""
from __future__ import annotations

import asyncio
import json
import random
import tracemalloc

from rich.segment import Segment
from rich.style import Style
from textual.widgets import DataTable
from websockets.asyncio.server import serve

from benchmarks.tui import DAY0, agent_entry, mutate
from dashboards.tui import FloorApp, agent_cells
from harness.feed import until
from harness.tui import MORNING, MORNING_END, WALL, cell, connected, make_app, play, plain

N = 20_000
NOW = DAY0 + 7_200_000


class Feed:
    """A websocket feed that sends each message the test queues, to whoever is connected."""

    def __init__(self):
        self.queue: asyncio.Queue[dict] = asyncio.Queue()

    async def handler(self, ws):
        closed = asyncio.ensure_future(ws.wait_closed())
        while True:
            get = asyncio.ensure_future(self.queue.get())
            await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed.done():  # the app went away: so does this handler
                get.cancel()
                return
            await ws.send(json.dumps(get.result(), ensure_ascii=False))

    def send(self, msg: dict) -> None:
        self.queue.put_nowait({"schema": "kefu-floor/feed/1", "site": "big", **msg})


def screen_text(app) -> list[str]:
    return ["".join(seg.text for seg in strip) for strip in
            app.screen._compositor.render_strips()]


def test_twenty_thousand_agents_the_table_draws_only_the_screen_and_follows_deltas():
    rng = random.Random(5)
    agents = {f"A{i:05d}": {**agent_entry(i, 20, NOW, rng), "agent": f"A{i:05d}"}
              for i in range(N)}

    async def main_():
        feed = Feed()
        async with serve(feed.handler, "127.0.0.1", 0, max_size=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            app = FloorApp(f"ws://127.0.0.1:{port}", lang="en", clock=lambda: 100.0,
                           wall=lambda: WALL, backoff_initial=0.05, backoff_max=0.2)
            async with app.run_test(size=(120, 40)) as pilot:
                tracemalloc.start()
                feed.send({"type": "snapshot", "now": NOW, "month": "2026-11",
                           "policy": {"name": "chengdu-2014", "timezone": "Asia/Shanghai"},
                           "agents": agents, "teams": {}, "queues": {}, "totals": {},
                           "floor": {}, "counters": {}, "recent": []})
                table = app.floor
                await until(lambda: table.row_count == N, 60, "the floor", pause=pilot.pause)
                await pilot.pause()
                # what DataTable's own code keeps: its render caches, no row per agent (a
                # DataTable holding the floor keeps a Row and a dict of cells for each: some
                # 20 MB for 20,000 agents)
                held = tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(True, "*/textual/widgets/_data_table.py")])
                tracemalloc.stop()
                assert sum(st.size for st in held.statistics("filename")) < 2_000_000
                # a screen's worth of rows (those on screen, one each side, the layout
                # settling while the first rows were drawn): not 20,000
                bound = 2 * table.size.height
                # every agent is a row of the model; cells exist only for rows on screen
                assert len(app.model) == N and table.row_count == N
                assert 0 < len(app.model.drawn) <= bound
                assert table.get_row_at(0)[0] == "A00000"
                assert any(t.lstrip().startswith("A00000") for t in screen_text(app))

                made: list[str] = []  # agents whose cells were made (formatted)
                fmt = app._cells_of

                def counting(a):
                    made.append(a)
                    return fmt(a)
                app._cells_of = table.cells_of = counting

                # a delta touching agent X on screen: X's row shows it at once
                x = app.model[3]
                new_x = {**agents[x], "state": "talking", "since": NOW + 500}
                far = app.model[15_000]
                others = rng.sample([a for a in agents if a not in (x, far)], N // 10 - 2)
                delta = {a: mutate(agents[a], NOW + 1000, rng) for a in others}
                delta[x] = new_x
                delta[far] = {**agents[far], "state": "busy", "reason": "meeting",
                              "since": NOW + 500}
                agents.update(delta)
                feed.send({"type": "delta", "now": NOW + 1000, "agents": delta})
                await until(lambda: (app.client.state or {}).get("now") == NOW + 1000, 30,
                            "the delta", pause=pilot.pause)
                await pilot.pause()
                assert cell(app, x, "state") == "> talking"
                assert cell(app, x, "in_state") == "0:00"
                line = next(t for t in screen_text(app) if x in t)
                assert "> talking" in line  # on screen, not only in the table's data
                # a tenth of the floor changed: only rows on screen were formatted again
                on_screen = set(app.model.window(*table.window()))
                assert made and set(made) <= on_screen and far not in made
                assert len(app.model.drawn) <= bound
                # the agent far off screen is current once it scrolls into view
                table.move_cursor(row=app.model.index(far), animate=False)
                await pilot.pause()
                assert far in made
                assert cell(app, far, "state") == "= busy meeting"
                assert any(far in t and "busy meeting" in t for t in screen_text(app))

                # keys over the whole floor: exceptions only and back, a sort by name
                await pilot.press("x")
                await pilot.pause()
                flagged = sorted(a for a, e in agents.items() if e.get("attention"))
                assert [table.get_row_at(i)[0] for i in range(table.row_count)] == flagged
                await pilot.press("x", "s")
                await pilot.pause()
                assert app.sort_col == "name" and table.row_count == N
                want = sorted(agents, key=lambda a: (agents[a]["name"], a))[:5]
                assert [table.get_row_at(i)[0] for i in range(5)] == want
                assert table.cursor_row == 0 and table.scroll_y == 0
                # the cells of the rows as now drawn: again only the screen's
                gen = table._update_count
                assert 0 < sum(g == gen for g, _ in app.model.drawn.values()) <= bound
                app.exit()

    asyncio.run(main_())


def test_floor_cells_render_as_datatable_renders_them(morning):
    """FloorTable._render_cell makes the segments itself (no trip through rich's console):
    for every cell on screen, cursor or not, hovered or not, fixed column or not, and for
    text that must be cropped (CJK) or is styled reversed, they are DataTable's own."""
    async def main_():
        app = make_app(morning, lang="zh")
        async with app.run_test(size=(160, 40)) as pilot:
            await connected(app, pilot)
            await play(morning, app, pilot, MORNING, MORNING_END)
            table = app.floor
            gen = table._update_count
            # an over-long CJK name and a right-justified cell with a trailing space
            a = table.get_row_at(2)[0]
            cells = list(agent_cells(app.client.agents[a], app.feed_now(), "zh",
                                     "2026-11-04"))
            cells[1] = ("欧阳司马长名字很长的名字", "bold")
            cells[12] = ("87.5 ", "bold reverse #d55e00")
            app.model.drawn[a] = (gen, tuple(cells))
            table._row_renderable_cache.clear()  # DataTable's path reads the cells anew
            fixed = table.get_component_styles("datatable--fixed").rich_style
            n = 0
            for row in range(table.row_count):
                row_style = table._get_row_style(row, table.rich_style)
                for col, column in enumerate(table.ordered_columns):
                    width = column.get_render_width(table)
                    styles = [row_style]
                    if col < table.fixed_columns:
                        styles.append(fixed + Style.from_meta({"fixed": True}))
                    for base in styles:
                        for cursor in (False, True):
                            for hover in (False, True):
                                ours = table._render_cell(row, col, base, width, cursor,
                                                          hover)
                                theirs = DataTable._render_cell(table, row, col, base, width,
                                                                cursor, hover)
                                assert len(ours) == len(theirs) == 1
                                assert (list(Segment.simplify(ours[0]))
                                        == list(Segment.simplify(theirs[0]))), (row, col)
                                n += 1
            assert n >= 8 * 14 * 4
            assert "欧阳司马" in plain(table.get_cell(a, "name"))

    asyncio.run(main_())
