"""aiomqtt adapter: broker URLs, the subscribing loop with reconnect, and publishing.

Thin on purpose: it moves bytes between the broker and `kefu_floor.ingest.Ingest`.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Callable
from urllib.parse import unquote, urlsplit

import aiomqtt

from kefu_floor.errors import ConfigError
from kefu_floor.ingest import DeadLetter, topics

log = logging.getLogger("kefu_floor.mqtt")
# messages coalesced into one engine call: many small ones amortise the call, but a batch
# too big in bytes stalls reading (and acking) the socket and thrashes the caches
DRAIN_MAX = 5_000
DRAIN_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class BrokerURL:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @property
    def display(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    def client(self, identifier: str | None = None, clean: bool = True, **kw) -> aiomqtt.Client:
        tls_params = None
        if self.tls:
            tls_params = aiomqtt.TLSParameters(ca_certs=self.ca, certfile=self.cert,
                                               keyfile=self.key, cert_reqs=ssl.CERT_REQUIRED)
        return aiomqtt.Client(self.host, self.port, username=self.username,
                              password=self.password, identifier=identifier,
                              clean_session=clean, tls_params=tls_params, **kw)


def parse_broker_url(url: str, ca: str | None = None, cert: str | None = None,
                     key: str | None = None) -> BrokerURL:
    """mqtt://[user:pass@]host[:port] or mqtts://… (TLS; default ports 1883 / 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(f"--broker {url!r}: expected mqtt://[user:pass@]host:port, "
                          "mqtts://… for TLS, or 'embedded'")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise ConfigError(f"--broker {url!r}: the port is not a number") from None
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    return BrokerURL(parts.hostname, port, unquote(parts.username) if parts.username else None,
                     unquote(parts.password) if parts.password else None,
                     parts.scheme == "mqtts", ca, cert, key)


class Subscriber:
    """Subscribes to the sites' telemetry and manual topics at QoS 1 on a persistent
    session, hands received messages to `on_batch` in batches, publishes dead letters, and
    reconnects with backoff when the broker goes away (the engine's state is untouched)."""

    def __init__(self, url: BrokerURL, sites: list[str], client_id: str,
                 on_batch: Callable[[list[tuple[str, bytes]]], None],
                 take_dead: Callable[[], list[DeadLetter]],
                 backoff: tuple[float, float] = (0.2, 10.0)):
        self.url = url
        self.sites = sites
        self.client_id = client_id
        self.on_batch = on_batch
        self.take_dead = take_dead
        self.backoff = backoff
        self.connected = asyncio.Event()
        self.connects = 0
        self.received = 0
        self._pending_dead: deque[DeadLetter] = deque(maxlen=10_000)

    async def run(self) -> None:
        delay = self.backoff[0]
        while True:
            try:
                async with self.url.client(self.client_id, clean=False,
                                           max_queued_incoming_messages=0) as client:
                    for site in self.sites:
                        tel, man, _ = topics(site)
                        await client.subscribe([(tel, 1), (man, 1)])
                    self.connects += 1
                    self.connected.set()
                    delay = self.backoff[0]
                    log.info("connected to %s as %s, subscribed for %s", self.url.display,
                             self.client_id, ", ".join(self.sites))
                    await self._consume(client)
            except aiomqtt.MqttError as e:
                was = self.connected.is_set()
                self.connected.clear()
                (log.warning if was else log.info)(
                    "broker %s unreachable (%s); retrying in %.1fs", self.url.display, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])

    async def _consume(self, client: aiomqtt.Client) -> None:
        it = client.messages
        await self._flush_dead(client)
        async for msg in it:
            batch = [(str(msg.topic), bytes(msg.payload))]
            size = len(batch[0][1])
            while len(it) and len(batch) < DRAIN_MAX and size < DRAIN_MAX_BYTES:
                m = await anext(it)
                batch.append((str(m.topic), bytes(m.payload)))
                size += len(batch[-1][1])
            self.received += len(batch)
            self.on_batch(batch)
            await self._flush_dead(client)

    async def _flush_dead(self, client: aiomqtt.Client) -> None:
        self._pending_dead.extend(self.take_dead())
        while self._pending_dead:
            d = self._pending_dead[0]
            await client.publish(d.topic, d.body, qos=1)
            self._pending_dead.popleft()


async def publish_batches(url: BrokerURL, site: str, batches, qos: int = 1,
                          manual: bool = False, client_id: str | None = None) -> int:
    """Publish each item of `batches` (bytes: one JSON event or array) to the site's topic."""
    tel, man, _ = topics(site)
    topic = man if manual else tel
    n = 0
    async with url.client(client_id, clean=True, max_queued_outgoing_messages=0) as client:
        for payload in batches:
            await client.publish(topic, payload, qos=qos)
            n += 1
    return n
