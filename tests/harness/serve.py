"""`kefu-floor serve` as a process: started and waited for, its report asked for with
`kefu-floor report`, restarted and killed (`Serve`), fed at a steady rate, and waited on
until its report has every event."""
from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path


from harness import HW
from kefu_floor.cli.serve import fetch_report

SITE = "s1"


def start_serve(log: Path, *args: str) -> tuple[subprocess.Popen, str, str]:
    """Start `kefu-floor serve` (stderr to `log`, which nobody has to drain); return
    (process, broker url, feed url) once it listens."""
    err = open(log, "w")
    p = subprocess.Popen([sys.executable, "-m", "kefu_floor", "serve", "--ws-port", "0",
                          "--roster", str(HW / "roster.csv"), "--schedule",
                          str(HW / "schedule.csv"), *args],
                         stderr=err, stdout=subprocess.DEVNULL, text=True)
    err.close()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120 and p.poll() is None:
        text = log.read_text()
        m = re.search(r"broker (\S+); live feed (\S+)", text)
        # the broker only keeps events for the service once it has subscribed: publishing
        # before that line would rightly be lost
        if m and "subscribed for" in text:
            return p, m.group(1), m.group(2)
        time.sleep(0.1)
    p.kill()
    raise AssertionError("serve did not start:\n" + log.read_text())


def report(feed: str, site: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "kefu_floor", "report", "--connect", feed,
                          "--site", site, "--month", "2026-11"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


class Serve:
    """`kefu-floor serve` processes, one after another, each with its own log."""

    def __init__(self, tmp: Path, folder: Path, broker: str, store: str, *extra: str,
                 name: str = "serve"):
        self.tmp, self.n, self.name = tmp, 0, name
        self.args = [sys.executable, "-m", "kefu_floor", "serve", "--ws-port", "0",
                     "--site", SITE, "--roster", str(folder / "roster.csv"),
                     "--schedule", str(folder / "schedule.csv"), "--broker", broker,
                     "--store", store, "--client-id", "kefu-durable-test",
                     "--checkpoint-s", "1", *extra]
        self.proc: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.tmp / f"{self.name}{self.n}.log"

    def start(self) -> None:
        self.n += 1
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(self.args, stderr=err, stdout=subprocess.DEVNULL)

    async def subscribed(self, timeout: float = 120) -> str:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            text = self.log.read_text()
            m = re.search(r"; live feed (ws\S+)", text)
            if m and "subscribed for" in text:
                return m.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited:\n{text}")
            await asyncio.sleep(0.05)
        raise AssertionError("serve did not subscribe:\n" + self.log.read_text())

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def logs(self) -> str:
        return "\n".join((self.tmp / f"{self.name}{i}.log").read_text()
                         for i in range(1, self.n + 1))


async def publish(url, batches, rate: float, gate: asyncio.Event | None = None) -> None:
    """Publish at `rate` messages/s; while `gate` is clear, wait (and reconnect after),
    so a broker restart never makes the publisher send a message twice."""
    i, t0 = 0, time.monotonic()
    while i < len(batches):
        if gate is not None:
            await gate.wait()
        async with url.client(f"pub-{random.random()}", clean=True,
                              max_queued_outgoing_messages=0) as c:
            while i < len(batches) and (gate is None or gate.is_set()):
                await c.publish(f"kefu/{SITE}/telemetry", batches[i], qos=1)
                i += 1
                lag = t0 + i / rate - time.monotonic()
                if lag > 0:
                    await asyncio.sleep(lag)


async def settle(feed: str, n: int, month: str, timeout: float = 90) -> dict:
    t0 = time.monotonic()
    while True:
        rep = await fetch_report(feed, SITE, month, 30)
        if rep["counters"]["accepted"] >= n or time.monotonic() - t0 > timeout:
            return rep
        await asyncio.sleep(0.5)
