"""`kefu-floor serve` as an IT person runs it: a process, two sites, signals, report --connect."""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time

import pytest

from harness.serve import report, start_serve
from kefu_floor.live.mqtt import parse_broker_url, publish_batches


@pytest.mark.slow
def test_two_sites_one_process_then_sigterm(mosquitto, tmp_path):
    log = tmp_path / "serve.log"
    p, broker, feed = start_serve(log, "--broker", mosquitto.url, "--site", "cd1", "--site", "cd2",
                                  "--client-id", "cli-two-sites")
    try:
        url = parse_broker_url(mosquitto.url)
        ev = {"type": "sign_in", "ts": 1793685600000, "agent": "A001"}
        asyncio.run(publish_batches(url, "cd1", [json.dumps(ev).encode()]))
        asyncio.run(publish_batches(url, "cd2", [json.dumps([ev, {**ev, "agent": "A002"}])
                                                 .encode()]))
        deadline = time.monotonic() + 180  # a fresh checkout compiles the kernels first
        while time.monotonic() < deadline:
            r1, r2 = report(feed, "cd1"), report(feed, "cd2")
            if r1["counters"]["accepted"] == 1 and r2["counters"]["accepted"] == 2:
                break
            time.sleep(0.2)
        assert (r1["site"], r2["site"]) == ("cd1", "cd2")
        assert r1["counters"]["accepted"] == 1 and r2["counters"]["accepted"] == 2, (
            r1["counters"], r2["counters"], log.read_text())
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
    assert rc == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


def test_embedded_broker_by_default_and_sigint(tmp_path):
    p, broker, feed = start_serve(tmp_path / "serve.log", "--site", "cd1")
    try:
        assert broker.startswith("mqtt://127.0.0.1:")
        assert report(feed, "cd1")["counters"]["accepted"] == 0
    finally:
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=30)
    assert rc == 0


def test_bad_broker_url_is_one_clear_line():
    out = subprocess.run([sys.executable, "-m", "kefu_floor", "serve", "--broker",
                          "http://nope", "--ws-port", "0"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1
    assert out.stderr.startswith("kefu-floor: error: --broker 'http://nope'")
    assert "Traceback" not in out.stderr
