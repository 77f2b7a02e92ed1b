"""A first run that works and stops (issue 12 items 1-3, issue 11 item 4): the demo from an
empty kernel cache keeps its events flowing, says when the simulated day is over, stops on
Ctrl-C, SIGINT and SIGTERM in every view with the message in the UI's language, keeps log
lines off the dashboard, and shows the wallboard's address; the simulator reconnects."""
from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from harness import ROOT
from kefu_floor.live.mqtt import parse_broker_url
from kefu_floor.live.service import Service
from kefu_floor.cli.serve import fetch_report
from simulators.acd import Floor, Scenario
from simulators.publish import publish_floor
from harness.handworked import config

pytestmark = pytest.mark.slow  # an empty kernel cache, whole demo days, broker restarts


def wait_text(path: Path, pattern: str, proc: subprocess.Popen, timeout: float) -> re.Match:
    t0 = time.monotonic()
    while not (m := re.search(pattern, path.read_text(errors="replace"))):
        assert proc.poll() is None, path.read_text()
        assert time.monotonic() - t0 < timeout, f"no {pattern!r} within {timeout}s:\n" + \
            path.read_text()
        time.sleep(0.2)
    return m


@pytest.mark.timeout(400)
def test_demo_from_an_empty_kernel_cache_keeps_flowing(tmp_path):
    """The very first run compiles the kernels (tens of seconds); it happens before the
    broker, service and simulator start, so the events then flow and keep flowing."""
    log = tmp_path / "demo.log"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    with open(log, "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "kefu_floor", "demo", "--view", "none",
                              "--ws-port", "0", "--agents", "30", "--speed", "300",
                              "--lang", "en"], stderr=err, stdout=subprocess.DEVNULL, env=env)
    try:
        wait_text(log, r"loading the scoring kernels", p, 60)
        feed = wait_text(log, r"live feed\s+(\S+)", p, 300).group(1)
        assert re.search(r"kernels ready in [\d.]+ s", log.read_text())
        seen = []
        for _ in range(4):  # events keep arriving, not just the first few
            time.sleep(2.0)
            seen.append(asyncio.run(fetch_report(feed, None, None, 30))["counters"]["accepted"])
        assert seen[0] > 0 and all(b > a for a, b in zip(seen, seen[1:])), seen
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
    text = log.read_text()
    assert rc == 0 and "Traceback" not in text, text
    assert "stopped (SIGTERM)" in text and "demo finished" in text


def test_demo_announces_the_end_of_the_day_and_stops(tmp_path):
    out = subprocess.run([sys.executable, "-m", "kefu_floor", "demo", "--view", "none",
                          "--ws-port", "0", "--agents", "4", "--speed", "20000", "--lang", "zh"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "模拟的一天已结束" in out.stderr and "演示结束" in out.stderr
    assert "Traceback" not in out.stderr


def test_demo_help_and_make_args():
    out = subprocess.run([sys.executable, "-m", "kefu_floor", "demo", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--headless" not in out.stdout and "--view" in out.stdout
    dry = subprocess.run(["make", "-n", "demo", "ARGS=--agents 50 --speed 120"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert "kefu-floor demo --agents 50 --speed 120" in dry.stdout, dry.stdout


# ----------------------------------------------------------------------------- in a terminal
class Terminal:
    """A process on a pseudo-terminal (120x40), its screen output collected."""

    def __init__(self, argv: list[str], env: dict | None = None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execvpe(argv[0], argv, {**os.environ, "TERM": "xterm-256color", **(env or {})})
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.out = bytearray()
        self.rc: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.2)
                if r:
                    chunk = os.read(self.fd, 65536)
                    if not chunk:
                        return
                    self.out += chunk
            except OSError:
                return

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", errors="replace")

    def wait_for(self, needle: str, timeout: float = 120) -> None:
        t0 = time.monotonic()
        while needle not in self.text:
            assert time.monotonic() - t0 < timeout, f"no {needle!r}:\n{self.text[-3000:]}"
            assert self.poll() is None, f"exited {self.rc}:\n{self.text[-3000:]}"
            time.sleep(0.2)

    def poll(self) -> int | None:
        if self.rc is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.rc = os.waitstatus_to_exitcode(status)
        return self.rc

    def wait(self, timeout: float = 30) -> int:
        t0 = time.monotonic()
        while self.poll() is None:
            if time.monotonic() - t0 > timeout:
                os.kill(self.pid, signal.SIGKILL)
                raise AssertionError(f"still running {timeout}s later:\n{self.text[-3000:]}")
            time.sleep(0.1)
        self._reader.join(2)
        return self.rc

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait(10)


DEMO = [sys.executable, "-m", "kefu_floor", "demo", "--view", "tui", "--ws-port", "0",
        "--agents", "20", "--speed", "120"]


@pytest.mark.parametrize("how, keys, lang, said", [
    ("SIGTERM", b"", "en", "stopped (SIGTERM)"),
    ("SIGINT", b"v", "zh", "已停止(SIGINT)"),   # in the team view
    ("ctrl-c", b"?", "en", "demo finished"),    # in the help screen
])
def test_demo_dashboard_stops_on_signals_and_ctrl_c(tmp_path, how, keys, lang, said):
    logf = tmp_path / "demo-tui.log"
    term = Terminal([*DEMO, "--lang", lang, "--log-file", str(logf)])
    try:
        term.wait_for("connected" if lang == "en" else "已连接")
        # the wallboard's address is on screen while the dashboard covers the terminal
        assert re.search(r"http://127\.0\.0\.1:\d+/wallboard", term.text)
        if keys:
            term.send(keys)
            time.sleep(1.0)
        if how == "ctrl-c":
            term.send(b"\x03")
        else:
            os.kill(term.pid, getattr(signal, how))
        rc = term.wait(30)
    finally:
        term.kill()
    assert rc == 0, term.text[-3000:]
    assert said in term.text and "Traceback" not in term.text
    assert "Press" not in term.text  # Textual's English "press ctrl+q" toast is gone
    # log lines went to the file, not over the screen
    assert logf.exists() and "WARNING" not in term.text


def test_tui_command_stops_on_sigterm(mosquitto):
    async def main():
        async with Service(config(mosquitto.url)) as svc:
            feed = f"ws://127.0.0.1:{svc.ws_port}/"
            term = Terminal([sys.executable, "-m", "kefu_floor", "tui", "--connect", feed,
                             "--lang", "en"])
            try:
                for _ in range(600):
                    if "connected" in term.text:
                        break
                    await asyncio.sleep(0.2)
                os.kill(term.pid, signal.SIGTERM)
                for _ in range(300):
                    if term.poll() is not None:
                        break
                    await asyncio.sleep(0.1)
                return term.wait(5), term.text
            finally:
                term.kill()

    rc, text = asyncio.run(main())
    assert rc == 0 and "stopped (SIGTERM)" in text and "Traceback" not in text


def test_simulator_reconnects_after_a_broker_restart(mosquitto):
    """The demo's publisher loses its broker mid-day: it says so, reconnects, resends the
    second it was sending, and every event reaches the service exactly once."""
    floor = Floor(Scenario(agents=4, days=1, start=dt.date(2026, 11, 3), seed=3,
                           rest_days=False))
    total = sum(len(evs) for _, evs in floor.ticks())
    floor = Floor(Scenario(agents=4, days=1, start=dt.date(2026, 11, 3), seed=3,
                           rest_days=False))
    status: list[str] = []

    async def main():
        cfg = config(mosquitto.url)
        cfg.client_id = "reconnect-sub"
        async with Service(cfg) as svc:
            await svc.wait_connected()
            url = parse_broker_url(mosquitto.url)
            pub = asyncio.create_task(publish_floor(
                floor, url, "cd1", speed=9000, reconnect=True,
                on_status=lambda kind, err, s: status.append(kind)))
            await asyncio.sleep(2.0)
            await asyncio.to_thread(mosquitto.restart)
            sent = await asyncio.wait_for(pub, 120)
            eng = svc.engines["cd1"]
            t0 = time.monotonic()
            while eng.counters()["accepted"] < total and time.monotonic() - t0 < 30:
                await asyncio.sleep(0.1)
            return sent, eng.counters()

    sent, counters = asyncio.run(main())
    assert status[:1] == ["lost"] and "back" in status
    assert sent == total
    assert counters["accepted"] == total, counters
