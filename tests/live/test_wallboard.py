"""The wallboard in a real browser (issue 12 items 4, 7, 8): Debian's Chromium, headless,
driven by Playwright (never a downloaded browser) against a running service fed from a real
mosquitto with the hand-worked queue scenario of test_queue_truth.

Writes screenshots at 1920x1080 and 3840x2160 into $KEFU_SCREENSHOTS (default: the test's
temporary folder; `KEFU_SCREENSHOTS=docs` refreshes the ones the README shows)."""
from __future__ import annotations

import asyncio
import json
import os
import random
import time
from pathlib import Path

from playwright.async_api import async_playwright

import pytest

from dashboards.pages import static_pages
from harness import ROOT
from kefu_floor.live.ingest import LiveClock
from kefu_floor.live.mqtt import parse_broker_url, publish_batches
from kefu_floor.live.service import Service, ServiceConfig
from harness.scenario_builder import Day, Floor
from harness.queues import hand_worked

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
CHROMIUM = "/usr/bin/chromium"
SITE = "cd1"
MARKUP = '<img src=x onerror="document.title=1">A9'


def scenario():
    f = Floor(site=SITE)
    for a, team, name in (("A1", "T1", "王伟"), ("A2", "T1", "李芳"), ("A3", "T2", "张娜")):
        f.agent(a, team=team, name=name)
        f.shift(a, "2026-11-03", "08:00", "16:30")
    f.agent("L1", team="T1", role="leader", name="赵强")
    events, _ = hand_worked()
    d = Day("2026-11-03")
    d.sign_in(MARKUP, "08:30")
    d.busy(MARKUP, "09:01:20", "meeting")
    evs = sorted(events + d.events, key=lambda e: e["ts"])
    for i, e in enumerate(evs):
        e["src"], e["seq"] = "gw1", i + 1
    return f, evs


def shots_dir(tmp_path: Path) -> Path:
    d = os.environ.get("KEFU_SCREENSHOTS")
    out = (ROOT / d) if d and not os.path.isabs(d) else Path(d) if d else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


async def wait_for(cond, timeout=20.0, what="condition"):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


ANSWERED_3 = "document.getElementById('answered').textContent === '3'"


async def text(page, sel):
    return (await page.locator(sel).first.text_content() or "").strip()


@pytest.mark.slow
def test_wallboard_in_chromium(mosquitto, tmp_path):
    f, evs = scenario()
    url = parse_broker_url(mosquitto.url)
    shots = shots_dir(tmp_path)

    def make_service(port=0):
        return Service(ServiceConfig(setups={SITE: f.setup()}, broker=mosquitto.url,
                                     ws_port=port, client_id=f"wb-{random.random()}",
                                     clock=LiveClock(), lang="zh", delta_s=0.1,
                                     pages=static_pages()))

    async def main():
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            # bypass_csp: the page's own Content-Security-Policy refuses string eval, which
            # Playwright's wait_for_function uses; the page itself runs under its CSP in
            # tests/live/test_feed_security.py::test_wallboard_runs_under_its_csp_in_chromium
            svc = make_service()
            await svc.__aenter__()
            try:
                await svc.wait_connected()
                port = svc.ws_port
                await publish_batches(url, SITE, [json.dumps(evs).encode()])
                eng = svc.engines[SITE]
                await wait_for(lambda: eng.counters()["accepted"] == len(evs), what="events")
                base = f"http://127.0.0.1:{port}/wallboard"

                # ---- the public board, in the service's language (zh), at 1920x1080
                page = await browser.new_page(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(base)
                await page.wait_for_function(ANSWERED_3,
                                             timeout=10_000)
                # the hand-worked figures (tests/core/test_queue_truth.py)
                assert await text(page, "#waiting") == "1"
                assert await text(page, "#longest") == "50秒"
                assert await text(page, "#offered") == "5"
                assert await text(page, "#abandoned") == "1"
                assert await text(page, "#sl-today") == "25%"
                assert await text(page, "#sl-30") == "25%"
                assert await text(page, "#asa") == "38.3秒"
                assert await text(page, "#st-talking") == "3"
                assert await text(page, "#st-busy") == "1"
                assert await text(page, "[data-l=waiting]") == "排队等待"
                assert "meeting" not in await text(page, "#reasons")  # labelled: 会议
                assert "会议" in await text(page, "#reasons")
                # the service's read model, not the page, made these: the same as floorview
                tot = svc.views[SITE].totals()
                assert tot["waiting"] == 1 and tot["longest_wait_s"] == 50.0
                # team leaderboard, no named individual deductions on the public board
                assert await page.locator("#teams tr").count() == 3  # T1, T2, and "-"
                assert await page.locator("#p-ticker").is_hidden()
                await page.screenshot(path=str(shots / "wallboard-1080.png"))

                # ---- a markup agent id is text, never markup
                agents = await browser.new_page(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
                await agents.goto(base + "?view=agents&lang=en")
                await agents.wait_for_function(
                    "document.querySelectorAll('#agents .ag').length === 5", timeout=10_000)
                ids = await agents.locator("#agents .ag .id").all_text_contents()
                assert MARKUP in ids
                assert await agents.locator("#agents img").count() == 0
                assert await agents.title() != "1"
                assert "L1" in ids  # leaders shown, marked as such
                leader = agents.locator(".ag", has_text="L1").locator(".nm")
                assert "◆" in await leader.text_content()

                # ---- supervisor ticker: a new deduction shows within a second
                sup = await browser.new_page(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
                await sup.goto(base + "?view=supervisor&lang=en&team=T1")
                await sup.wait_for_function(ANSWERED_3,
                                            timeout=10_000)
                assert await text(sup, "[data-l=waiting]") == "Calls waiting"
                assert await text(sup, "#st-talking") == "2"  # T1: A1 and A2 (team scope)
                floor_ev = {"type": "floor", "ts": Day("2026-11-03").t("09:01:40"), "agent": "A2",
                            "points": -10, "reason": "桌面不整洁", "src": "leader", "seq": 1}
                t0 = time.monotonic()
                await publish_batches(url, SITE, [json.dumps(floor_ev).encode()], manual=True)
                await sup.wait_for_function(
                    "[...document.querySelectorAll('#ticker li')]"
                    ".some(li => li.textContent.includes('A2'))",
                    timeout=1_000, polling="raf")
                assert time.monotonic() - t0 < 1.0
                assert "-10" in await text(sup, "#ticker li")
                assert errors == []

                # ---- 4K shows more
                big = await browser.new_page(viewport={"width": 3840, "height": 2160}, bypass_csp=True)
                await big.goto(base)
                await big.wait_for_function(ANSWERED_3,
                                            timeout=10_000)
                assert await big.locator("#p-queues").is_visible()
                assert await page.locator("#p-queues").is_hidden()
                assert await big.locator("#queues tr").count() == 2  # q1, q2 (not _clock)
                await big.screenshot(path=str(shots / "wallboard-2160.png"))

                # ---- lost feed: the service stops, the board says so; it comes back
                await svc.__aexit__(None, None, None)
                svc = None
                await page.wait_for_function("document.body.classList.contains('lost')",
                                             timeout=5_000)
                assert await page.locator("#banner").is_visible()
                assert await text(page, "#banner-text") == "连接中断"
                await page.screenshot(path=str(shots / "wallboard-lost.png"))
                svc = make_service(port)
                await svc.__aenter__()
                await svc.wait_connected()
                await publish_batches(url, SITE, [json.dumps(evs).encode()])
                await page.wait_for_function("!document.body.classList.contains('lost')",
                                             timeout=15_000)
                assert await page.locator("#banner").is_hidden()
            finally:
                if svc is not None:
                    await svc.__aexit__(None, None, None)
                await browser.close()

    asyncio.run(main())


def test_wallboard_token_in_chromium(mosquitto):
    """With an access token set, the board without it gets no figures; with `?token=` in
    its URL the page (and its script, and the feed) work."""
    from kefu_floor.live.wsfeed import FeedAccess

    f, evs = scenario()
    url = parse_broker_url(mosquitto.url)

    async def main():
        svc = Service(ServiceConfig(setups={SITE: f.setup()}, broker=mosquitto.url, ws_port=0,
                                    client_id=f"wbt-{random.random()}", clock=LiveClock(),
                                    lang="en", access=FeedAccess(token="s3cret"),
                                    pages=static_pages()))
        async with svc, async_playwright() as pw:
            await svc.wait_connected()
            await publish_batches(url, SITE, [json.dumps(evs).encode()])
            eng = svc.engines[SITE]
            await wait_for(lambda: eng.counters()["accepted"] == len(evs), what="events")
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                page = await browser.new_page()
                base = f"http://127.0.0.1:{svc.ws_port}/wallboard"
                resp = await page.goto(base)
                assert resp.status in (401, 403)
                ok = await browser.new_page(bypass_csp=True)  # string eval below (see above)
                await ok.goto(base + "?token=s3cret")
                await ok.wait_for_function(ANSWERED_3, timeout=10_000)
            finally:
                await browser.close()

    asyncio.run(main())
