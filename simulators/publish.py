"""Publish a simulated floor to an MQTT broker, in real time or accelerated (issue 4).

Each simulated second's events go out as one JSON array (a gateway batch, QoS 1):
telemetry on kefu/{site}/telemetry, QA scores and other manual entries on .../manual.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from kefu_floor.mqtt import BrokerURL
from kefu_floor.ingest import topics
from kefu_floor.schema import Event, encode
from simulators.acd import Floor, is_manual


async def publish_floor(floor: Floor, url: BrokerURL, site: str, speed: float | None = None,
                        on_tick: Callable[[int], None] | None = None,
                        also: Callable[[list[Event]], None] | None = None,
                        client_id: str | None = None) -> int:
    """Run `floor` into the broker; `speed` = simulated seconds per wall second (1 = real
    time, 60 = an hour a minute, None = as fast as the broker takes it). Pacing starts at
    the first event, so a day's quiet night does not hold the demo up. Returns events sent."""
    tel, man, _ = topics(site)
    loop = asyncio.get_running_loop()
    t0_sim = t0_wall = None
    sent = 0
    async with url.client(client_id, clean=True, max_queued_outgoing_messages=0) as client:
        for tick, evs in floor.ticks():
            if speed:
                if t0_sim is None:
                    t0_sim, t0_wall = tick, loop.time()
                delay = t0_wall + (tick - t0_sim) / 1000.0 / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            telemetry = [e for e in evs if not is_manual(e)]
            manual = [e for e in evs if is_manual(e)]
            if telemetry:
                await client.publish(tel, encode(telemetry), qos=1)
            if manual:
                await client.publish(man, encode(manual), qos=1)
            sent += len(evs)
            if also is not None:
                also(evs)
            if on_tick is not None:
                on_tick(tick)
    return sent
