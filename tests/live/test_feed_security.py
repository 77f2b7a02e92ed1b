"""The feed's port as an attacker or a browser meets it (issue 8 item 3, issue 12 item 3):
access token on feed and pages, Origin check, wss://, report requests that cannot stall
ingest, malformed requests answered once-logged, and plain HTTP that never tracebacks."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dashboards.pages import static_pages
from kefu_floor.live import service as service_mod
from kefu_floor.live.ingest import topics
from kefu_floor.live.mqtt import parse_broker_url, publish_batches
from kefu_floor.live.service import Service
from kefu_floor.live.wsfeed import CSP, FeedAccess, page_csp
from kefu_floor.views.report import read_report
from simulators.acd import Floor, Scenario
from harness.handworked import HW, SITE, config, hw_events, hw_setup, wait_for
from harness.pki import make_pki

TOKEN = "s3cret-token-0123456789abcdef"


def http_get(url: str, headers: dict | None = None, ctx=None):
    """(status, headers, body) of a GET, whatever the status."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


async def status_of(url: str, **kw) -> int:
    """101 if the websocket opens (and sends its snapshot), else the HTTP status."""
    try:
        async with connect(url, **kw) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            return 101
    except InvalidStatus as e:
        return e.response.status_code


def test_token_guards_the_feed_and_the_pages(mosquitto, caplog):
    access = FeedAccess(token=TOKEN)

    async def main():
        async with Service(config(mosquitto.url, access=access, pages=static_pages())) as svc:
            base = f"127.0.0.1:{svc.ws_port}"
            ws = f"ws://{base}/"
            got = {
                "none": await status_of(ws),
                "wrong": await status_of(ws, additional_headers={
                    "Authorization": "Bearer nope-nope-nope-nope"}),
                "bearer": await status_of(ws, additional_headers={
                    "Authorization": f"Bearer {TOKEN}"}),
                "query": await status_of(f"{ws}?token={TOKEN}&site={SITE}"),
            }
            page = await asyncio.to_thread(http_get, f"http://{base}/wallboard")
            opened = await asyncio.to_thread(http_get, f"http://{base}/wallboard?token={TOKEN}")
            cookie = opened[1]["Set-Cookie"].split(";")[0]
            # the page's own websocket carries the cookie the page load set
            got["cookie"] = await status_of(ws, additional_headers={"Cookie": cookie})
            return got, page, opened, cookie

    with caplog.at_level(logging.INFO):
        got, page, opened, cookie = asyncio.run(main())
    assert got == {"none": 401, "wrong": 401, "bearer": 101, "query": 101, "cookie": 101}
    assert page[0] == 401 and TOKEN.encode() not in page[2]
    assert opened[0] == 200 and b"kefu-floor" in opened[2]
    assert cookie == f"kefu_feed_token={TOKEN}"
    assert "HttpOnly" in opened[1]["Set-Cookie"] and "SameSite=Strict" in opened[1]["Set-Cookie"]
    assert "Traceback" not in caplog.text and TOKEN not in caplog.text


def test_origin_check(mosquitto):
    access = FeedAccess(origins=("https://board.example",))

    async def main():
        async with Service(config(mosquitto.url, access=access)) as svc:
            ws = f"ws://127.0.0.1:{svc.ws_port}/"
            return {o: await status_of(ws, origin=o) for o in (
                "http://evil.example", f"http://127.0.0.1:{svc.ws_port}",
                "https://board.example", f"http://127.0.0.1:{svc.ws_port + 1}")} | {
                "no origin": await status_of(ws)}

    got = asyncio.run(main())
    assert list(got.values()) == [403, 101, 101, 403, 101], got


def test_wss(mosquitto, tmp_path):
    make_pki(tmp_path)
    cfg = config(mosquitto.url, feed_tls_cert=str(tmp_path / "server.pem"),
                 feed_tls_key=str(tmp_path / "server.key"), pages=static_pages())
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))

    async def main():
        async with Service(cfg) as svc:
            assert svc.feed_url.startswith("wss://")
            ok = await status_of(f"wss://127.0.0.1:{svc.ws_port}/", ssl=ctx)
            page = await asyncio.to_thread(http_get,
                                           f"https://127.0.0.1:{svc.ws_port}/wallboard", None,
                                           ctx)
            try:  # plain ws:// to a TLS port gets nowhere
                async with connect(f"ws://127.0.0.1:{svc.ws_port}/", open_timeout=5):
                    plain = "opened"
            except Exception as e:  # noqa: BLE001 - any failure to open is the point
                plain = type(e).__name__
            return ok, page[0], plain

    ok, page, plain = asyncio.run(main())
    assert ok == 101 and page == 200 and plain != "opened"


def test_plain_http_is_answered_never_a_traceback(mosquitto, caplog):
    async def main():
        async with Service(config(mosquitto.url, pages=static_pages())) as svc:
            base = f"http://127.0.0.1:{svc.ws_port}"
            got = {p: await asyncio.to_thread(http_get, base + p) for p in (
                "/", "/wallboard", "/favicon.ico", "/nope", "/static/wallboard.html")}
            # a websocket on another path, and garbage that is not HTTP at all
            got["ws elsewhere"] = await status_of(f"ws://127.0.0.1:{svc.ws_port}/other")
            with socket.create_connection(("127.0.0.1", svc.ws_port), timeout=5) as s:
                s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
                try:
                    s.recv(100)
                except OSError:
                    pass
            await asyncio.sleep(0.2)
            return got

    with caplog.at_level(logging.DEBUG):
        got = asyncio.run(main())
    assert got["/"][0] == 200 and got["/"][2] == got["/wallboard"][2]
    assert got["/static/wallboard.html"][2] == got["/wallboard"][2]
    assert got["/favicon.ico"][0] == 404 and got["/nope"][0] == 404
    assert got["ws elsewhere"] == 404
    assert got["/nope"][1]["Content-Security-Policy"] == CSP
    # a page's own inline script/style (if it has any) is allowed by its hash, nothing else
    assert got["/"][1]["Content-Security-Policy"] == page_csp(got["/"][2])
    assert page_csp(b"<script>x()</script>") != CSP and "'unsafe-inline'" not in page_csp(
        b"<script>x()</script><style>p{}</style>")
    assert got["/"][1]["Content-Type"] == "text/html; charset=utf-8"
    assert "Traceback" not in caplog.text and "InvalidUpgrade" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_static_folder_served_with_types():
    """Every file of dashboards/static is served under /static/ and by name, typed."""
    pages = static_pages()
    html = pages["/wallboard"]
    assert pages["/"] == html and pages["/static/wallboard.html"] == html
    assert html[0] == "text/html; charset=utf-8"


def test_malformed_requests_answered_logged_once_and_bounded(mosquitto, caplog):
    async def main():
        async with Service(config(mosquitto.url)) as svc:
            async with connect(f"ws://127.0.0.1:{svc.ws_port}/") as ws:
                await ws.recv()  # snapshot
                answers = []
                for raw in ("not json", "[1,2]", '{"type":"teleport"}',
                            '{"type":"report","month":12}', '{"type":"report","month":"x"}'):
                    await ws.send(raw)
                    while (m := json.loads(await ws.recv()))["type"] != "error":
                        pass
                    answers.append(m["code"])
                # a good request still works on the same connection
                await ws.send('{"type":"report","month":"2026-11"}')
                while (m := json.loads(await ws.recv()))["type"] not in ("report", "error"):
                    pass
                good = m["type"]
                # a flood of garbage ends the connection instead of being answered for ever
                closed = None
                try:
                    for _ in range(500):
                        await ws.send("garbage")
                    async for _ in ws:
                        pass
                except ConnectionClosed:
                    pass
                closed = ws.close_code
            return answers, good, closed

    with caplog.at_level(logging.INFO, logger="kefu_floor.feed"):
        answers, good, closed = asyncio.run(main())
    assert answers == ["bad_json", "unknown_request", "unknown_request", "bad_month",
                       "bad_month"]
    assert good == "report"
    assert closed == 1008
    bad_json_lines = [r for r in caplog.records if "bad_json" in r.getMessage()]
    assert len(bad_json_lines) == 1  # 500 more of them, logged once
    assert "Traceback" not in caplog.text


def test_report_rate_limited_per_client(mosquitto):
    access = FeedAccess(report_burst=3, report_per_min=6, max_strikes=100)

    async def main():
        async with Service(config(mosquitto.url, access=access)) as svc:
            async with connect(f"ws://127.0.0.1:{svc.ws_port}/") as a, \
                       connect(f"ws://127.0.0.1:{svc.ws_port}/") as b:
                await a.recv()
                await b.recv()
                kinds = []
                for _ in range(5):
                    await a.send('{"type":"report"}')
                    while (m := json.loads(await a.recv()))["type"] not in ("report", "error"):
                        pass
                    kinds.append(m.get("code", m["type"]))
                await b.send('{"type":"report"}')  # another client has its own allowance
                while (m := json.loads(await b.recv()))["type"] not in ("report", "error"):
                    pass
                return kinds, m["type"]

    kinds, other = asyncio.run(main())
    assert kinds == ["report"] * 3 + ["rate_limited"] * 2
    assert other == "report"


@pytest.mark.slow
def test_report_flood_does_not_stall_ingest(mosquitto, monkeypatch):
    """1,000 report requests from 50 clients while telemetry flows: the reports are built
    off the event loop and shared (one build per site and month at a time), so events are
    scored while a report is being built and the builds stay far below the requests."""
    # a floor's worth of state (a simulated 100-agent day), so that a report takes a while
    # to build, merged in time order with the scenario: the clock guard rejects telemetry
    # far behind engine time, so the two must not be fed as two separate timelines
    floor = Floor(Scenario(agents=100, days=1, start=dt.date(2026, 11, 3), seed=1,
                           rest_days=False, site=SITE))
    bulk = [msgspec.to_builtins(e) for _, es in floor.ticks() for e in es]
    evs = sorted(hw_events() + bulk, key=lambda e: e["ts"])
    first, rest = evs[:-2000], evs[-2000:]

    async def main():
        async with Service(config(mosquitto.url)) as svc:
            await svc.wait_connected()
            url = parse_broker_url(mosquitto.url)
            eng = svc.engines[SITE]
            await publish_batches(url, SITE, [json.dumps(first[i:i + 2000]).encode()
                                              for i in range(0, len(first), 2000)])
            await wait_for(lambda: eng.counters()["accepted"] == len(first), timeout=60)
            clients = [await connect(f"ws://127.0.0.1:{svc.ws_port}/", max_size=None)
                       for _ in range(50)]
            for c in clients:
                await c.recv()
            answered = {"report": 0, "error": 0}
            accepted_while_building = []
            orig = svc.report

            async def watched(site, month):
                # what ingest did while this build was running
                processed = lambda: sum(eng.counters()[k] for k in ("accepted", "duplicates"))  # noqa: E731
                before = processed()
                rep = await orig(site, month)
                accepted_while_building.append(processed() - before)
                return rep

            svc.hub.report_fn = watched

            async def flood(ws):
                for _ in range(20):
                    await ws.send('{"type":"report","month":"2026-11"}')
                    while (m := json.loads(await ws.recv()))["type"] not in ("report", "error"):
                        pass
                    answered[m["type"]] += 1

            async def telemetry(done: asyncio.Event):
                # events keep coming, over one connection, for as long as the flood lasts
                # (again and again once all are in: repeats count as duplicates, processed
                # all the same)
                topic = topics(SITE)[0]
                async with url.client(None, clean=True,
                                      max_queued_outgoing_messages=0) as client:
                    i = 0
                    while not done.is_set() or i < len(rest):
                        batch = rest[i % len(rest):i % len(rest) + 5]
                        await client.publish(topic, json.dumps(batch).encode(), qos=1)
                        i += 5
                        await asyncio.sleep(0.005)

            done = asyncio.Event()
            feeder = asyncio.create_task(telemetry(done))
            # the flood starts once telemetry is being scored
            start = eng.counters()["accepted"]
            await wait_for(lambda: eng.counters()["accepted"] > start, timeout=30)
            await asyncio.gather(*(flood(c) for c in clients))
            done.set()
            await feeder
            for c in clients:
                await c.close()
            await wait_for(lambda: eng.counters()["accepted"] == len(evs), timeout=60)
            return answered, svc.hub.reports.builds, accepted_while_building

    # each build takes a known while (a 100-agent report alone can take a few ms, less than
    # the gap between two telemetry messages): built off the loop, as it must be, events are
    # scored meanwhile; built on it, none would be
    def slow_read(*a, **kw):
        time.sleep(0.2)
        return read_report(*a, **kw)

    monkeypatch.setattr(service_mod, "read_report", slow_read)
    answered, builds, during = asyncio.run(main())
    assert answered["report"] + answered["error"] == 1000
    assert answered["report"] >= 50 * 5  # every client's burst was served
    assert builds <= 60, builds  # ...by a few shared builds, not one each
    assert sum(during) > 0, (builds, during[:20])  # events were scored while reports were being built


def test_busy_feed_port_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "kefu_floor", "serve", "--ws-port",
                              str(port), "--roster", str(HW / "roster.csv"),
                              "--schedule", str(HW / "schedule.csv")],
                             capture_output=True, text=True, timeout=120)
    err = [x for x in out.stderr.splitlines() if not x.startswith("kefu-floor: loading")
           and "kernels ready" not in x]
    assert out.returncode == 1
    assert len(err) == 1 and "--ws-port" in err[0] and str(port) in err[0], out.stderr


@pytest.mark.parametrize("content, why", [("", "empty"), ("short", "16 or more")])
def test_bad_token_file_is_one_line(tmp_path, content, why):
    f = tmp_path / "token"
    f.write_text(content)
    out = subprocess.run([sys.executable, "-m", "kefu_floor", "serve", "--ws-port", "0",
                          "--feed-token-file", str(f), "--roster", str(HW / "roster.csv"),
                          "--schedule", str(HW / "schedule.csv")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and why in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_report_command_with_token_from_env(mosquitto, monkeypatch):
    access = FeedAccess(token=TOKEN)

    async def main():
        async with Service(config(mosquitto.url, access=access)) as svc:
            feed = f"ws://127.0.0.1:{svc.ws_port}"
            env = {"KEFU_FEED_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
            ok = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kefu_floor", "report", "--connect", feed,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
            out, err = await ok.communicate()
            env.pop("KEFU_FEED_TOKEN")
            no = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kefu_floor", "report", "--connect", feed,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
            _, err2 = await no.communicate()
            return ok.returncode, out, no.returncode, err2.decode()

    rc, out, rc2, err2 = asyncio.run(main())
    assert rc == 0 and json.loads(out)["site"] == SITE
    assert rc2 == 1 and "access token" in err2 and "Traceback" not in err2


def test_read_report_never_ticks():
    """Reads never write: the report a copy gives equals the engine's after a tick, and
    reading leaves the engine as it was."""
    from kefu_floor.engine import Engine
    from kefu_floor.replay import replay
    from kefu_floor.views.report import frozen_copy, read_report

    eng = Engine(hw_setup())
    replay(eng, HW / "events.jsonl")
    before = (eng.A.copy(), eng.G.copy(), len(eng.ledger))
    frozen = frozen_copy(eng)
    rep = read_report(frozen, 2026 * 12 + 10)
    assert (eng.A == before[0]).all() and (eng.G == before[1]).all()
    assert len(eng.ledger) == before[2]
    time.sleep(0)
    assert rep["site"] == SITE and rep == read_report(eng, 2026 * 12 + 10)


def test_wallboard_runs_under_its_csp_in_chromium(mosquitto):
    """The served page works with its own Content-Security-Policy enforced: no violation
    reported, and its script draws the board from the feed."""
    from playwright.async_api import async_playwright

    async def main():
        async with Service(config(mosquitto.url)) as svc:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium",
                                                   headless=True)
                try:
                    page = await browser.new_page()
                    console: list[str] = []
                    page.on("console", lambda m: console.append(m.text))
                    page.on("pageerror", lambda e: console.append(str(e)))
                    await page.goto(f"http://127.0.0.1:{svc.ws_port}/wallboard")
                    # drawn by the page's script (isolated-world query: not under CSP)
                    await page.wait_for_selector("body:not(.connecting)",
                                                 timeout=20_000)
                    await asyncio.sleep(1.0)
                    return console, (await page.content())
                finally:
                    await browser.close()

    console, html = asyncio.run(main())
    assert not [m for m in console if "Content Security Policy" in m], console
