"""Publish a simulated floor to an MQTT broker, in real time or accelerated (issue 4).

Each simulated second's events go out as one JSON array (a gateway batch, QoS 1):
telemetry on kefu/{site}/telemetry, QA scores and other manual entries on .../manual.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable

import aiomqtt

from kefu_floor.live.mqtt import BrokerURL
from kefu_floor.live.ingest import topics
from kefu_floor.schema import Event, encode
from simulators.acd import Floor, is_manual


WINDOW = 10  # QoS 1 messages in flight at once (aiomqtt warns of more than 10 pending)


async def publish_floor(floor: Floor, url: BrokerURL, site: str, speed: float | None = None,
                        on_tick: Callable[[int], None] | None = None,
                        also: Callable[[list[Event]], None] | None = None,
                        client_id: str | None = None, reconnect: bool = False,
                        on_status: Callable[[str, str, float], None] | None = None,
                        window: int = WINDOW) -> int:
    """Run `floor` into the broker; `speed` = simulated seconds per wall second (1 = real
    time, 60 = an hour a minute, None = as fast as the broker takes it). Pacing starts at
    the first event, so a day's quiet night does not hold the demo up. Returns events sent.

    Up to `window` seconds are in flight (published, not yet acknowledged) at once, in
    order: waiting for each acknowledgement before the next publish would bound the rate
    by the round trip, which on a loaded machine is many milliseconds (a simulated day of
    3,000 messages then took minutes). A second counts as sent (`also`, `on_tick`, the
    count) once the broker acknowledged it, in order.

    With `reconnect`, a lost broker connection is retried with backoff and the seconds that
    were in flight are sent again (events carry `src`/`seq`, so the engine drops what had
    already arrived); `on_status("lost", error, retry_in_s)` and `on_status("back", "", 0)`
    say so. Without it the error is raised."""
    tel, man, _ = topics(site)
    loop = asyncio.get_running_loop()
    t0_sim = t0_wall = None
    sent = 0
    ticks = iter(floor.ticks())
    retry: deque = deque()  # seconds in flight when the connection was lost, oldest first
    delay, lost = 0.5, False
    me = asyncio.current_task()
    while True:
        flight: deque = deque()  # (tick, events, acknowledgement), oldest first
        try:
            async with url.client(client_id, clean=True, max_queued_outgoing_messages=0) as client:
                if lost and on_status is not None:
                    on_status("back", "", 0.0)
                lost, delay = False, 0.5

                def done(entry) -> None:
                    nonlocal sent
                    tick, evs, _ = entry
                    sent += len(evs)
                    if also is not None:
                        also(evs)
                    if on_tick is not None:
                        on_tick(tick)

                while True:
                    if me is not None and me.cancelling():
                        # cancelled while aiomqtt waited for an acknowledgement: it may
                        # swallow the cancellation, so stop here instead of publishing on
                        raise asyncio.CancelledError
                    while flight and flight[0][2].done():
                        flight[0][2].result()  # a failed publish raises here (kept to resend)
                        done(flight.popleft())
                    if len(flight) >= window:
                        await asyncio.wait([flight[0][2]])
                        continue
                    pending = retry.popleft() if retry else next(ticks, None)
                    if pending is None:
                        while flight:
                            await flight[0][2]
                            done(flight.popleft())
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
                    # the publishes start (and take their place in paho's queue) in order
                    acks = [asyncio.ensure_future(client.publish(topic, encode(part), qos=1))
                            for topic, part in ((tel, telemetry), (man, manual)) if part]
                    flight.append((tick, evs, asyncio.ensure_future(_all(acks))))
        except aiomqtt.MqttError as e:
            _drop(flight)
            retry.extendleft(reversed([(tick, evs) for tick, evs, _ in flight]))
            # aiomqtt may turn our own cancellation (the demo stopping) into an MqttError
            if not reconnect or (me is not None and me.cancelling()):
                raise
            lost = True
            if on_status is not None:
                on_status("lost", str(e) or type(e).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        except BaseException:
            _drop(flight)
            raise


async def _all(acks: list) -> None:
    """Both publishes of a second (telemetry, manual) acknowledged."""
    try:
        for a in acks:
            await a
    finally:
        _settle(acks)


def _settle(futures) -> None:
    """Cancel what is still waiting; mark failures as seen (a lost connection fails every
    publish in flight: they are sent again, not logged as unhandled)."""
    for f in futures:
        if not f.done():
            f.cancel()
        elif not f.cancelled():
            f.exception()


def _drop(flight: deque) -> None:
    _settle(entry[2] for entry in flight)
