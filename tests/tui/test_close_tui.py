"""The drill-down shows the preset's own figures (taobao-30pt points and their ledger),
from the server's report, against a real feed server."""
from __future__ import annotations

import asyncio
import dataclasses

from dashboards.tui import AgentScreen
from harness.feed import DEC1, FeedServer, events_between, local_ms, until
from harness.handworked import hw_setup
from harness.tui import connected, make_app, plain, settle
from kefu_floor.policy import load_policy


def test_drill_down_shows_taobao_points_and_ledger():
    taobao = dataclasses.replace(hw_setup(), policy=load_policy("taobao-30pt"))
    srv = FeedServer(setup=taobao).start()
    try:
        evs = events_between(None, DEC1)
        t = local_ms(20, 10, 0)
        site = evs[0].get("site")
        extra = [{"type": "incident", "ts": t + k, "agent": "A001", "kind": kind,
                  **({"site": site} if site else {})}
                 for k, kind in enumerate(("attitude_complaint", "attitude_complaint",
                                           "praise_review"))]
        srv.feed(sorted(evs + extra, key=lambda e: e["ts"]))

        async def main_():
            app = make_app(srv)
            async with app.run_test(size=(200, 60)) as pilot:
                await connected(app, pilot)
                await pilot.press("enter")  # A001
                await until(lambda: isinstance(app.screen, AgentScreen)
                            and app.screen.report is not None, 15, "report",
                            pause=pilot.pause)
                await settle(app, pilot)
                box = app.screen.query_one("#a-scheme")
                assert box.display
                text = plain(box.content)
                me = next(a for a in app.screen.report["agents"] if a["agent"] == "A001")
                c = me["close"]
                # the server's numbers, rendered: points and the ledger's lines
                assert f"Points {c['points']:g}" in " ".join(text.split())
                assert "Points ledger" in text
                assert text.count("attitude_complaint") == 2 and "praise_review  +3" in text
                assert "+0" in text and "-1" in text

        asyncio.run(main_())
    finally:
        srv.close()
