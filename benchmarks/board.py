"""Wallboard benchmark (issue 12 item 9): the page at 2,000 agents while deltas flow.

    python -m benchmarks.board [--agents 2000] [--rate 400] [--seconds 15]

Starts a real mosquitto and the service (2,000 agents on shift), opens the wallboard in
Debian's Chromium (headless, Playwright, no browser download) and, over the DevTools
protocol (`Performance.getMetrics`), measures the renderer's busy time per wall second
(TaskDuration: script, style, layout, paint) and the frames drawn, first with the feed idle
(the peer in the same run), then with `--rate` telemetry events per second flowing, for
the public board and for the `?view=agents` grid. Prints every figure and its ratio to the
idle peer. Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import time

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

SITE = "bench"
CHROMIUM = "/usr/bin/chromium"
FRAMES_JS = """() => new Promise(done => {
  let n = 0; const t0 = performance.now(); let worst = 0, last = t0;
  function f(t) { n++; worst = Math.max(worst, t - last); last = t;
    if (t - t0 < 3000) requestAnimationFrame(f);
    else done({fps: n / ((t - t0) / 1000), worst_ms: worst}); }
  requestAnimationFrame(f);
})"""


def _setup(agents: int):
    from kefu_floor.engine import Setup
    from kefu_floor.policy import load_policy
    from kefu_floor.roster import Person, Roster, Shift

    pol = load_policy("chengdu-2014")
    tz = pol.tz
    today = dt.datetime.now(tz).date()
    start = int(dt.datetime.combine(today, dt.time(0), tzinfo=tz).timestamp() * 1000)
    people = {}
    shifts = []
    for i in range(agents):
        a = f"A{i:05d}"
        people[a] = Person(agent=a, name=f"坐席{i}", team=f"T{i // 15 + 1:03d}",
                           role="leader" if i % 15 == 0 else "agent", hired=None,
                           probation=False, products=3)
        shifts.append(Shift(agent=a, date=today, start_ms=start,
                            end_ms=start + 86_400_000 - 60_000, grace_ms=300_000, breaks=(),
                            line=i + 2, ends_local="23:59"))
    return Setup(pol, Roster(people), shifts, SITE)


def _events(agents: int, n: int, seq0: int, rnd: random.Random) -> list[dict]:
    now = int(time.time() * 1000)
    out = []
    for k in range(n):
        a = f"A{rnd.randrange(agents):05d}"
        kind = rnd.random()
        if kind < 0.6:
            e = {"type": rnd.choice(("ready", "busy")), "agent": a}
            if e["type"] == "busy":
                e["reason"] = rnd.choice(("toilet", "meeting", "training"))
        else:
            c = f"c{seq0 + k}"
            e = {"type": "enqueue", "call": c, "queue": rnd.choice(("presale", "aftersale"))}
        e.update(ts=now, src="bench", seq=seq0 + k + 1)
        out.append(e)
    return out


async def _measure(page, cdp, seconds: float) -> dict:
    def metrics(m):
        return {x["name"]: x["value"] for x in m["metrics"]}

    m0 = metrics(await cdp.send("Performance.getMetrics"))
    t0 = time.monotonic()
    frames = await page.evaluate(FRAMES_JS)
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - t0)))
    m1 = metrics(await cdp.send("Performance.getMetrics"))
    wall = time.monotonic() - t0
    d = {k: m1.get(k, 0) - m0.get(k, 0) for k in ("TaskDuration", "ScriptDuration",
                                                   "LayoutDuration", "RecalcStyleDuration")}
    return {"cpu": d["TaskDuration"] / wall, "script": d["ScriptDuration"] / wall,
            "layout": d["LayoutDuration"] / wall, "style": d["RecalcStyleDuration"] / wall,
            "fps": frames["fps"], "worst_frame_ms": frames["worst_ms"],
            "heap_mb": m1.get("JSHeapUsedSize", 0) / 1e6, "nodes": m1.get("Nodes", 0)}


async def run(agents: int, rate: int, seconds: float) -> dict:
    from playwright.async_api import async_playwright

    from kefu_floor.live.mqtt import parse_broker_url, publish_batches
    from dashboards.pages import static_pages
    from kefu_floor.live.service import Service, ServiceConfig
    from simulators.services import MosquittoServer

    broker = MosquittoServer().start()
    rnd = random.Random(1)
    results = {}
    try:
        cfg = ServiceConfig(setups={SITE: _setup(agents)}, broker=broker.url, ws_port=0,
                            client_id="bench-board", pages=static_pages())
        async with Service(cfg) as svc:
            await svc.wait_connected()
            url = parse_broker_url(broker.url)
            seq = 0
            signin = [{"type": "sign_in", "agent": f"A{i:05d}", "ts": int(time.time() * 1000),
                       "src": "bench", "seq": i + 1} for i in range(agents)]
            seq = agents
            await publish_batches(url, SITE, [json.dumps(signin[i:i + 500]).encode()
                                              for i in range(0, agents, 500)])
            await asyncio.sleep(2)
            flowing = asyncio.Event()

            async def publisher():
                nonlocal seq
                per = max(1, rate // 10)
                async with url.client("bench-pub", clean=True) as client:
                    from kefu_floor.live.ingest import topics
                    tel = topics(SITE)[0]
                    while True:
                        await flowing.wait()
                        evs = _events(agents, per, seq, rnd)
                        seq += per
                        await client.publish(tel, json.dumps(evs).encode(), qos=1)
                        await asyncio.sleep(0.1)

            pub = asyncio.create_task(publisher())
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
                for view in ("board", "agents"):
                    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                    q = "" if view == "board" else "?view=agents"
                    await page.goto(f"http://127.0.0.1:{svc.ws_port}/wallboard{q}")
                    await page.wait_for_function("window.kefuBoard && window.kefuBoard.state()",
                                                 timeout=20_000)
                    cdp = await page.context.new_cdp_session(page)
                    await cdp.send("Performance.enable", {"timeMetrics": "threadTicks"})
                    await asyncio.sleep(1)
                    flowing.clear()
                    idle = await _measure(page, cdp, seconds)
                    flowing.set()
                    await asyncio.sleep(1)
                    sent0 = svc.hub.sent
                    busy = await _measure(page, cdp, seconds)
                    busy["feed_msgs_per_s"] = (svc.hub.sent - sent0) / seconds
                    flowing.clear()
                    results[view] = {"idle": idle, "deltas": busy}
                    await page.close()
                await browser.close()
            pub.cancel()
    finally:
        broker.close()
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.board",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--rate", type=int, default=400, help="telemetry events per second")
    ap.add_argument("--seconds", type=float, default=15.0, help="each measuring window")
    a = ap.parse_args(argv)
    res = asyncio.run(run(a.agents, a.rate, a.seconds))
    print(f"kefu-floor wallboard benchmark: {a.agents} agents, {a.rate} events/s, "
          f"Chromium {CHROMIUM} headless, 1920x1080, windows of {a.seconds:g} s")
    for view, r in res.items():
        i, d = r["idle"], r["deltas"]
        print(f"  {view:7s} idle   : renderer busy {100 * i['cpu']:5.1f}% of a core "
              f"(script {100 * i['script']:.1f}%, style {100 * i['style']:.1f}%, layout "
              f"{100 * i['layout']:.1f}%), {i['fps']:.0f} fps, worst frame "
              f"{i['worst_frame_ms']:.0f} ms, {i['nodes']:.0f} DOM nodes")
        print(f"  {view:7s} deltas : renderer busy {100 * d['cpu']:5.1f}% of a core "
              f"(script {100 * d['script']:.1f}%, style {100 * d['style']:.1f}%, layout "
              f"{100 * d['layout']:.1f}%), {d['fps']:.0f} fps, worst frame "
              f"{d['worst_frame_ms']:.0f} ms, {d['feed_msgs_per_s']:.1f} feed messages/s")
        ratio = d["cpu"] / i["cpu"] if i["cpu"] else float("nan")
        print(f"  {view:7s} deltas / idle busy time: {ratio:.1f}x")


if __name__ == "__main__":
    main()
