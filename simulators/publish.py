"""Publish a simulated floor to an MQTT broker, in real time or accelerated (issue 4).

Each simulated second's events go out as one JSON array (a gateway batch, QoS 1):
telemetry on kefu/{site}/telemetry, QA scores and other manual entries on .../manual.
"""
from __future__ import annotations

import asyncio
from typing import Callable

import aiomqtt

from kefu_floor.live.mqtt import BrokerURL
from kefu_floor.live.ingest import topics
from kefu_floor.schema import Event, encode
from simulators.acd import Floor, is_manual


async def publish_floor(floor: Floor, url: BrokerURL, site: str, speed: float | None = None,
                        on_tick: Callable[[int], None] | None = None,
                        also: Callable[[list[Event]], None] | None = None,
                        client_id: str | None = None, reconnect: bool = False,
                        on_status: Callable[[str, str, float], None] | None = None) -> int:
    """Run `floor` into the broker; `speed` = simulated seconds per wall second (1 = real
    time, 60 = an hour a minute, None = as fast as the broker takes it). Pacing starts at
    the first event, so a day's quiet night does not hold the demo up. Returns events sent.

    With `reconnect`, a lost broker connection is retried with backoff and the second that
    was being sent is sent again (events carry `src`/`seq`, so the engine drops what had
    already arrived); `on_status("lost", error, retry_in_s)` and `on_status("back", "", 0)`
    say so. Without it the error is raised."""
    tel, man, _ = topics(site)
    loop = asyncio.get_running_loop()
    t0_sim = t0_wall = None
    sent = 0
    ticks = iter(floor.ticks())
    pending = None  # the simulated second being sent
    delay, lost = 0.5, False
    me = asyncio.current_task()
    while True:
        try:
            async with url.client(client_id, clean=True, max_queued_outgoing_messages=0) as client:
                if lost and on_status is not None:
                    on_status("back", "", 0.0)
                lost, delay = False, 0.5
                while True:
                    if me is not None and me.cancelling():
                        # cancelled while aiomqtt waited for an acknowledgement: it may
                        # swallow the cancellation, so stop here instead of publishing on
                        raise asyncio.CancelledError
                    if pending is None:
                        pending = next(ticks, None)
                        if pending is None:
                            return sent
                    tick, evs = pending
                    if speed:
                        if t0_sim is None:
                            t0_sim, t0_wall = tick, loop.time()
                        wait = t0_wall + (tick - t0_sim) / 1000.0 / speed - loop.time()
                        if wait > 0:
                            await asyncio.sleep(wait)
                    telemetry = [e for e in evs if not is_manual(e)]
                    manual = [e for e in evs if is_manual(e)]
                    if telemetry:
                        await client.publish(tel, encode(telemetry), qos=1)
                    if manual:
                        await client.publish(man, encode(manual), qos=1)
                    pending = None
                    sent += len(evs)
                    if also is not None:
                        also(evs)
                    if on_tick is not None:
                        on_tick(tick)
        except aiomqtt.MqttError as e:
            # aiomqtt may turn our own cancellation (the demo stopping) into an MqttError
            if not reconnect or (me is not None and me.cancelling()):
                raise
            lost = True
            if on_status is not None:
                on_status("lost", str(e) or type(e).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
