"""Issue 4's live parts: simulate --broker, the load generator, and `kefu-floor demo`."""
from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from rich.console import Console

import pytest

from harness import HW
from kefu_floor.engine import Engine, Setup
from kefu_floor.live.ingest import LiveClock
from kefu_floor.policy import load_policy
from kefu_floor.replay import replay
from kefu_floor.views.report import build_report
from kefu_floor.roster import load_roster, load_schedule
from kefu_floor.live.service import Service, ServiceConfig
from kefu_floor.cli.serve import fetch_report
from kefu_floor.cli.demo import render_floor


def setup_from(folder: Path, site: str) -> Setup:
    pol = load_policy("chengdu-2014")
    return Setup(pol, load_roster(folder / "roster.csv"),
                 load_schedule(folder / "schedule.csv", pol.tz, 5), site)


async def until(cond, timeout=60.0):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.slow
def test_simulate_publishes_what_replay_scores(mosquitto, tmp_path):
    """A simulated day published to a real broker and scored live equals the replay of the
    files the same run wrote."""
    out = tmp_path / "day"
    # the files first (same seed, same run), so the service gets the roster and schedule
    subprocess.run([sys.executable, "-m", "kefu_floor", "simulate", "--agents", "12",
                    "--seed", "5", "--site", "s1", "--out", str(out)], check=True,
                   capture_output=True,
                   timeout=300)
    files = {p.name: p.read_bytes() for p in out.iterdir()}

    async def main():
        cfg = ServiceConfig(setups={"s1": setup_from(out, "s1")}, broker=mosquitto.url,
                            ws_port=0, client_id="sim-pub", clock=LiveClock(),
                            wall_ahead_ms=None)  # the simulated day may be ahead of the clock
        async with Service(cfg) as svc:
            await svc.wait_connected()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kefu_floor", "simulate", "--agents", "12", "--seed", "5",
                "--site", "s1", "--broker", mosquitto.url, "--out", str(tmp_path / "again"),
                stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
            n = sum(1 for x in (out / "events.jsonl").read_text().splitlines() if x.strip())
            eng = svc.engines["s1"]
            await until(lambda: eng.counters()["accepted"] == n)
            return await fetch_report(f"ws://127.0.0.1:{svc.ws_port}", "s1", None, 60), err

    live, err = asyncio.run(main())
    assert b"published" in err
    again = tmp_path / "again"
    assert {p.name: p.read_bytes() for p in again.iterdir()} == files  # --seed: same run
    eng = Engine(setup_from(out, "s1"))
    replay(eng, out / "events.jsonl")
    ref = build_report(eng.finish())
    strip = lambda r: {k: v for k, v in r.items() if k != "counters"}  # noqa: E731
    assert strip(live) == strip(ref)
    assert any(a["score"] is not None for a in ref["agents"])


def test_load_generator_reaches_its_rate_and_every_event_arrives(mosquitto):
    """`kefu-floor load` in its own process, as it runs in production: every event arrives,
    once, and it paces itself to the rate asked. (In the test's own event loop, as it once
    ran, the generator waited on the service's ingest between its publishes, and on a
    loaded machine fell behind its rate for that reason alone.) A modest rate: the pacing is
    what is checked here, its top speed is the benchmark's (`benchmarks.live`)."""
    rate, seconds = 1000, 2.0

    async def main():
        cfg = ServiceConfig(setups={"ld": Setup(load_policy("chengdu-2014"),
                                                load_roster_empty(), [], "ld")},
                            broker=mosquitto.url, ws_port=0, client_id="load-sub")
        async with Service(cfg) as svc:
            await svc.wait_connected()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kefu_floor", "load", "--broker", mosquitto.url,
                "--site", "ld", "--rate", str(rate), "--agents", "200", "--batch", "50",
                "--duration", str(seconds), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
            res = json.loads(out)
            eng = svc.engines["ld"]
            await until(lambda: eng.counters()["accepted"] == res["events"])
            return res, eng.counters()

    res, counters = asyncio.run(main())
    print(f"load generator: {res['achieved_events_s'] / rate:.2f} of the rate asked")
    # paced: never ahead of the rate (at most the batch it was sending when time was up)
    assert res["events"] <= rate * res["seconds"] + 50
    assert 0.9 * rate <= res["achieved_events_s"] <= 1.1 * rate
    assert counters["rejected"] == 0 and counters["duplicates"] == 0 and counters["gaps"] == 0


def load_roster_empty():
    from kefu_floor.roster import Roster

    return Roster()


@pytest.mark.slow
def test_demo_starts_serves_the_wallboard_and_stops_on_ctrl_c(tmp_path):
    log = tmp_path / "demo.log"
    with open(log, "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "kefu_floor", "demo", "--view", "none",
                              "--ws-port", "0", "--agents", "30", "--speed", "600",
                              "--duration", "300", "--lang", "en"],
                             stderr=err, stdout=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while not (m := re.search(r"live feed\s+(\S+)", log.read_text())):
            assert p.poll() is None and time.monotonic() - t0 < 120, log.read_text()
            time.sleep(0.1)
        feed = m.group(1)
        port = re.search(r":(\d+)/", feed).group(1)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/wallboard", timeout=10)
        assert page.status == 200 and b"kefu-floor" in page.read()
        rep = None
        while time.monotonic() - t0 < 120:
            rep = asyncio.run(fetch_report(feed, None, None, 30))
            if rep["counters"]["accepted"] > 100:
                break
            time.sleep(0.5)
        assert rep["counters"]["accepted"] > 100 and rep["site"] == "demo"
        # the demo's Prometheus exporter, at the URL it printed
        metrics = re.search(r"metrics\s+(http://\S+/metrics)", log.read_text()).group(1)
        accepted = r'kefu_events_total\{outcome="accepted",site="demo"\} [1-9]'
        for _ in range(10):  # a loop too busy to answer in time gets the last set served
            body = urllib.request.urlopen(metrics, timeout=30).read().decode()
            if re.search(accepted, body):
                break
            time.sleep(1)
        assert re.search(accepted, body), body[-2000:]
    finally:
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=60)
    assert rc == 0
    text = log.read_text()
    assert "demo finished" in text and "Traceback" not in text


def test_fallback_table_renders_a_real_floor_in_both_languages():
    hw = HW
    eng = Engine(setup_from(hw, "cd1"))
    replay(eng, hw / "events.jsonl")
    from kefu_floor.views.floorview import FloorView

    snap = FloorView(eng).snapshot()
    for lang, word in (("zh", "队列"), ("en", "Queues")):
        con = Console(width=160, record=True, file=open("/dev/null", "w"))
        con.print(render_floor(snap, lang))
        text = con.export_text()
        assert word in text and "A001" in text
