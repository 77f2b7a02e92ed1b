"""Where a bridge's events go: an MQTT broker (QoS 1, each batch acknowledged before the
bridge records its position) or a JSON Lines file (`replay` scores it)."""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import aiomqtt
import msgspec

from kefu_floor.errors import ConfigError
from kefu_floor.live.mqtt import BrokerURL
from kefu_floor.schema import Event

log = logging.getLogger("kefu_floor.bridge")
_enc = msgspec.json.Encoder()
MAX_PER_MESSAGE = 500  # events per MQTT payload (a JSON array: the contract's gateway batch)


class JsonlSink:
    def __init__(self, path: Path, append: bool):
        try:
            self.f = open(path, "ab" if append else "wb")  # noqa: SIM115 - open for the run
        except OSError as e:
            raise ConfigError(f"--out {path}: cannot write it ({e.strerror})") from None

    async def start(self) -> None:
        pass

    async def send(self, events: list[Event]) -> None:
        if events:
            self.f.write(_enc.encode_lines(events))
            self.f.flush()
            os.fsync(self.f.fileno())

    async def stats(self, stats: dict) -> None:
        pass

    async def close(self) -> None:
        self.f.close()


class MqttSink:
    """Publishes to kefu/SITE/telemetry at QoS 1. `send` returns once the broker has
    acknowledged every message (PUBACK); if the broker goes away it reconnects with backoff
    and sends the whole batch again — the engine drops the repeats by `seq`."""

    def __init__(self, url: BrokerURL, site: str, client_id: str, src: str = "bridge",
                 backoff: tuple[float, float] = (0.2, 10.0)):
        self.url = url
        self.topic = f"kefu/{site}/telemetry"
        # the bridge's data-quality counts, retained, for dashboards and alerts
        self.stats_topic = f"kefu/{site}/bridge/{src}/stats"
        self.client_id = client_id
        self.backoff = backoff
        self._client: aiomqtt.Client | None = None
        self.published = 0

    async def _connect(self) -> None:
        delay = self.backoff[0]
        while True:
            c = self.url.client(self.client_id, clean=True)
            try:
                await c.__aenter__()
                self._client = c
                log.info("bridge connected to %s", self.url.display)
                return
            except aiomqtt.MqttError as e:
                log.warning("broker %s unreachable (%s); retrying in %.1fs",
                            self.url.display, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])

    async def start(self) -> None:
        await self._connect()

    async def send(self, events: list[Event]) -> None:
        if not events:
            return
        payloads = [_enc.encode(events[k:k + MAX_PER_MESSAGE])
                    for k in range(0, len(events), MAX_PER_MESSAGE)]
        while True:
            if self._client is None:
                await self._connect()
            try:
                await asyncio.gather(*(self._client.publish(self.topic, p, qos=1)
                                       for p in payloads))
                self.published += len(events)
                return
            except aiomqtt.MqttError as e:
                log.warning("publish to %s failed (%s); reconnecting", self.url.display, e)
                await self._drop()

    async def stats(self, stats: dict) -> None:
        """Best effort: a count that does not reach the broker is sent again next time."""
        if self._client is None:
            return
        body = _enc.encode({k: v for k, v in stats.items() if k != "malformed_lines"})
        try:
            await self._client.publish(self.stats_topic, body, qos=1, retain=True)
        except aiomqtt.MqttError as e:
            log.warning("stats to %s not sent (%s)", self.url.display, e)

    async def _drop(self) -> None:
        c, self._client = self._client, None
        if c is not None:
            try:
                await c.__aexit__(None, None, None)
            except Exception as e:  # noqa: BLE001 - the connection is already broken
                log.debug("closing a broken connection: %s", e)

    async def close(self) -> None:
        await self._drop()
