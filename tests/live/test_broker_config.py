"""The production mosquitto configuration keeps its promise (issue 8 item 4): events queued
for a stopped service survive a broker restart, beyond mosquitto's default 1,000-message
queue, and none is lost; with the defaults the same outage loses events."""
from __future__ import annotations

import asyncio
import json
import time

from kefu_floor.live.mqtt import parse_broker_url, publish_batches
from kefu_floor.live.service import Service
from simulators.services import MosquittoServer, durability_lines
from harness.handworked import config


def durable_config(url: str, cid: str):
    cfg = config(url)
    cfg.client_id = cid
    return cfg


N = 3000  # three times mosquitto's default queue


def events(n: int) -> list[bytes]:
    t0 = int(time.time() * 1000) - 3_600_000
    return [json.dumps({"type": "busy" if i % 2 else "ready", "ts": t0 + i * 100,
                        "agent": "A001", "reason": "toilet" if i % 2 else None,
                        "src": "gw-outage", "seq": i + 1}
                       ).replace(', "reason": null', "").encode() for i in range(n)]


def outage(broker: MosquittoServer) -> tuple[int, int]:
    """Subscribe once, stop the service, publish N single-event messages, restart the
    broker, start the service again: (events published, events the service got)."""
    cid = f"durable-{time.time_ns()}"

    async def subscribe_once():
        async with Service(durable_config(broker.url, cid)) as svc:
            await svc.wait_connected()

    async def publish():
        await publish_batches(parse_broker_url(broker.url), "cd1", events(N))

    async def resume():
        async with Service(durable_config(broker.url, cid)) as svc:
            await svc.wait_connected(30)
            eng = svc.engines["cd1"]
            done = lambda: sum(eng.counters()[k] for k in ("accepted", "duplicates"))  # noqa: E731
            # until all are in, or nothing more arrived for 2 s (the broker dropped the rest)
            last, quiet = -1, time.monotonic()
            while done() < N and time.monotonic() - quiet < 2.0:
                if done() != last:
                    last, quiet = done(), time.monotonic()
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            return done()

    asyncio.run(subscribe_once())
    asyncio.run(publish())
    broker.restart()  # SIGTERM: mosquitto writes its database, then starts from it
    return N, asyncio.run(resume())


def test_production_config_keeps_a_large_queue_across_a_broker_restart():
    with MosquittoServer() as broker:
        assert "max_queued_messages 1200000" in broker.config_path.read_text()
        sent, got = outage(broker)
    assert got == sent


def test_default_mosquitto_loses_the_same_outage():
    """The peer: the same outage against mosquitto's defaults drops all but ~1,000."""
    with MosquittoServer(production=False) as broker:
        sent, got = outage(broker)
    assert got < sent


def test_durability_section_is_what_production_ships():
    lines = durability_lines()
    keys = {x.split()[0] for x in lines}
    assert {"persistence", "autosave_interval", "max_queued_messages", "max_queued_bytes",
            "persistent_client_expiration"} <= keys
