"""Scale-out (issue 11 item 8): a centre split across engine processes by site on one broker.

Two `kefu-floor serve` processes on one real mosquitto, each its own `--site`, and one
wallboard (Debian's Chromium) and one TUI (Textual's Pilot) that show both sites."""
from __future__ import annotations

import asyncio
import json
import os
import re
import time

from playwright.async_api import async_playwright

from dashboards.tui import FloorApp
from kefu_floor.live.mqtt import parse_broker_url, publish_batches
from harness.feed import until
from harness.serve import report, start_serve
from harness.tui import cell

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
CHROMIUM = "/usr/bin/chromium"
TS = 1793685600000  # 2026-11-03 14:00 +08


def _feed_port(feed: str) -> int:
    return int(re.search(r":(\d+)/?$", feed).group(1))


def test_two_engines_one_board_one_tui(mosquitto, tmp_path):
    p1, _, feed1 = start_serve(tmp_path / "cd1.log", "--broker", mosquitto.url, "--site", "cd1",
                               "--client-id", "scale-cd1", "--lang", "en")
    port1 = _feed_port(feed1)
    # the board is served by the first engine: the second lets that page's origin in
    p2, _, feed2 = start_serve(tmp_path / "cd2.log", "--broker", mosquitto.url, "--site", "cd2",
                               "--client-id", "scale-cd2", "--lang", "en",
                               "--feed-origin", f"http://127.0.0.1:{port1}")
    try:
        url = parse_broker_url(mosquitto.url)
        ev = {"type": "sign_in", "ts": TS, "agent": "A001"}
        asyncio.run(publish_batches(url, "cd1", [json.dumps(ev).encode()]))
        asyncio.run(publish_batches(url, "cd2", [json.dumps([ev, {**ev, "agent": "A002"}])
                                                 .encode()]))
        # each engine took its own site's events only
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r1, r2 = report(feed1, "cd1"), report(feed2, "cd2")
            if r1["counters"]["accepted"] == 1 and r2["counters"]["accepted"] == 2:
                break
            time.sleep(0.3)
        assert r1["counters"]["accepted"] == 1 and r2["counters"]["accepted"] == 2

        async def board():
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
                try:
                    page = await browser.new_page(viewport={"width": 1920, "height": 1080},
                                                  bypass_csp=True)
                    errors = []
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    await page.goto(f"http://127.0.0.1:{port1}/wallboard?lang=en"
                                    f"&feed=127.0.0.1:{_feed_port(feed2)}")
                    await page.wait_for_function(
                        "document.querySelectorAll('#sites .site:not(.lost)').length === 2",
                        timeout=20_000)
                    sites = await page.locator("#sites .site .name").all_text_contents()
                    signed = await page.locator("#sites .site .signed").all_text_contents()
                    assert sites == ["cd1", "cd2"]
                    assert signed[0].startswith("Signed in / scheduled 1 /"), signed
                    assert signed[1].startswith("Signed in / scheduled 2 /"), signed
                    # the board below is its own engine's site
                    # (the status line is redrawn twice a second, not on each message)
                    await page.wait_for_function(
                        "document.getElementById('title').textContent === 'kefu-floor · cd1'",
                        timeout=10_000)
                    assert errors == []
                finally:
                    await browser.close()

        asyncio.run(board())

        async def tui():
            app = FloorApp([feed1, feed2], lang="en", backoff_initial=0.05, backoff_max=0.2)
            async with app.run_test(size=(200, 50)) as pilot:
                await until(lambda: all(c.state is not None for c in app.clients), 20,
                            "both snapshots", pause=pilot.pause)
                await until(lambda: app.floor.row_count > 0, 20, "rows", pause=pilot.pause)
                title = str(app.w("title").render())
                assert "[cd1 +]" in title and "[cd2 +]" in title, title
                assert app.client.state["site"] == "cd1"
                assert cell(app, "A001", "state") == "+ ready"
                assert cell(app, "A002", "state") != "+ ready"
                await pilot.press("n")
                await until(lambda: app.client.state["site"] == "cd2", 5, "cd2 on screen",
                            pause=pilot.pause)
                await until(lambda: app.floor.row_count > 0, 20, "cd2 rows",
                            pause=pilot.pause)
                assert cell(app, "A002", "state") == "+ ready"
                assert set(app.model) <= set(app.client.agents)
                await pilot.press("n")  # and back
                await until(lambda: app.client.state["site"] == "cd1", 5, "cd1 again",
                            pause=pilot.pause)
                assert cell(app, "A002", "state") != "+ ready"

        asyncio.run(tui())
    finally:
        for p in (p1, p2):
            p.terminate()
        for p in (p1, p2):
            p.wait(timeout=30)
