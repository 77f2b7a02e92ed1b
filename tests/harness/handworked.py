"""The hand-worked scenario (tests/scenarios/handworked) as a set-up, as events, and as a
live service configuration; and waiting for a condition in a test's event loop."""
from __future__ import annotations

import asyncio
import json
import random
import time

from harness import HW
from kefu_floor.engine import Setup
from kefu_floor.live.ingest import LiveClock
from kefu_floor.policy import load_policy
from kefu_floor.roster import load_roster, load_schedule
from kefu_floor.live.service import ServiceConfig

__all__ = ["HW", "SITE", "config", "hw_events", "hw_setup", "wait_for"]

SITE = "cd1"


def hw_setup(site: str = SITE) -> Setup:
    pol = load_policy("chengdu-2014")
    return Setup(pol, load_roster(HW / "roster.csv"),
                 load_schedule(HW / "schedule.csv", pol.tz, pol.attendance.default_grace_min),
                 site)


def hw_events() -> list[dict]:
    lines = (HW / "events.jsonl").read_text("utf-8").splitlines()
    evs = [json.loads(x) for x in lines if x.strip() and not x.startswith("#")]
    for i, e in enumerate(evs):
        e["src"], e["seq"] = "gw1", i
    return evs


def config(broker: str, **kw) -> ServiceConfig:
    kw.setdefault("clock", LiveClock())
    return ServiceConfig(setups={SITE: hw_setup()}, broker=broker, ws_port=0,
                         client_id=f"test-{random.random()}", **kw)


async def wait_for(cond, timeout: float = 20.0, what: str = "condition"):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
