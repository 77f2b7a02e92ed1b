"""aiomqtt adapter: broker URLs, the subscribing loop with reconnect, and publishing.

Thin on purpose: it moves bytes between the broker and `kefu_floor.live.ingest.Ingest`.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import random
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from kefu_floor.errors import ConfigError
from kefu_floor.live.ingest import DeadLetter, topics

log = logging.getLogger("kefu_floor.mqtt")
# messages coalesced into one engine call: many small ones amortise the call, but a batch
# too big in bytes stalls reading (and acking) the socket and thrashes the caches
DRAIN_MAX = 5_000
DRAIN_MAX_BYTES = 1 << 20
# dead letters in flight at once (QoS 1; paho pipelines them within its inflight window)
DEAD_WINDOW = 100


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
                     key: str | None = None, password: str | None = None) -> BrokerURL:
    """mqtt://[user[:pass]@]host[:port] or mqtts://… (TLS; default ports 1883 / 8883);
    `password`, when given, is used instead of one in the URL."""
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
                     password if password is not None else
                     unquote(parts.password) if parts.password else None,
                     parts.scheme == "mqtts", ca, cert, key)


REFUSED_LOGIN = {4, 5, 134, 135}  # CONNACK: bad user name or password / not authorised


class LoginRefused(ConfigError):
    """The broker refused our credentials too many times in a row."""


class Received:
    """A received message: what ingest and the journal read of it, with paho's DUP flag
    (aiomqtt's own Message drops it; a redelivery after a lost acknowledgement is
    recognised by it). Not aiomqtt's Message: that one validates the topic again as an
    object per message, a measurable share of a single-event message's cost."""

    __slots__ = ("topic", "payload", "qos", "mid", "dup")

    def __init__(self, topic: str, payload: bytes, qos: int, mid: int, dup: bool):
        self.topic, self.payload, self.qos, self.mid, self.dup = topic, payload, qos, mid, dup


def _msg_with_dup(queue: asyncio.Queue):
    """A paho on_message that queues `Received` messages."""
    def on_message(client, userdata, message) -> None:
        queue.put_nowait(Received(message.topic, message.payload, message.qos, message.mid,
                                  bool(message.dup)))
    return on_message


class Subscriber:
    """Subscribes to the sites' telemetry and manual topics at QoS 1 on a persistent
    session, hands received messages to `handle` in batches and acknowledges them to the
    broker only once `handle` has returned (it journals them first), publishes dead letters,
    and reconnects quickly when the broker goes away (the engine's state is untouched).

    Acknowledging after `handle` needs paho's manual acknowledgement, which aiomqtt 2.x does
    not expose (aiomqtt issue #345): the underlying paho client is switched to it before
    connecting and `ack(mid, qos)` is called on it (the documented workaround)."""

    def __init__(self, url: BrokerURL, sites: list[str], client_id: str,
                 handle: Callable[[list], Awaitable[None]],
                 take_dead: Callable[[], list[DeadLetter]],
                 backoff: tuple[float, float] = (0.05, 1.0), max_refusals: int = 5,
                 max_dead_pending: int = 10_000, manual_ack: bool = True):
        self.url = url
        self.sites = sites
        self.client_id = client_id
        self.handle = handle
        self.take_dead = take_dead
        self.backoff = backoff  # first retry, cap (each with jitter)
        self.max_refusals = max_refusals
        self.max_dead_pending = max_dead_pending
        # False with the in-process store: nothing outlives the process anyway, so paho
        # acknowledges on receipt as before (a shorter round trip per inflight window)
        self.manual_ack = manual_ack
        self.connected = asyncio.Event()
        self.connects = 0
        self.received = 0
        self.refusals = 0  # consecutive refused logins
        self.dead_dropped = 0  # dead letters dropped over max_dead_pending (counted, logged)
        self._pending_dead: deque[DeadLetter] = deque()
        self._dead_ready = asyncio.Event()

    def _client(self) -> aiomqtt.Client:
        client = self.url.client(self.client_id, clean=False, max_queued_incoming_messages=0)
        paho = client._client
        paho.manual_ack_set(self.manual_ack)
        paho.on_message = _msg_with_dup(client._queue)
        return client

    async def run(self) -> None:
        delay = self.backoff[0]
        while True:
            try:
                async with self._client() as client:
                    for site in self.sites:
                        tel, man, _ = topics(site)
                        await client.subscribe([(tel, 1), (man, 1)])
                    self.connects += 1
                    self.refusals = 0
                    self.connected.set()
                    delay = self.backoff[0]
                    log.info("connected to %s as %s, subscribed for %s", self.url.display,
                             self.client_id, ", ".join(self.sites))
                    await self._consume(client)
            except aiomqtt.MqttError as e:
                was = self.connected.is_set()
                self.connected.clear()
                if isinstance(e, MqttConnectError) and _rc(e) in REFUSED_LOGIN:
                    self.refusals += 1
                    log.error("broker %s refused the login as %r (%s), %d of %d", self.url.display,
                              self.url.username, e, self.refusals, self.max_refusals)
                    if self.refusals >= self.max_refusals:
                        raise LoginRefused(
                            f"broker {self.url.display} refused the login {self.refusals} times "
                            f"({e}); check the user in --broker and the password in "
                            "--mqtt-password-file or KEFU_MQTT_PASSWORD") from None
                else:
                    (log.warning if was else log.info)(
                        "broker %s unreachable (%s); retrying in %.2fs", self.url.display, e,
                        delay)
                # jitter: many services restarted together do not reconnect in lockstep
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.backoff[1])

    async def _consume(self, client: aiomqtt.Client) -> None:
        it = client.messages
        paho = client._client
        # the rest of a batch straight from the queue aiomqtt fills: its iterator makes a
        # task and an asyncio.wait for every message, the largest Python cost of a
        # single-event message (only the first of a batch waits, through the iterator,
        # which also sees a disconnection). When the queue is empty, one turn of the loop
        # lets the socket's reader add what has arrived, so a backlog still drains in
        # batches of DRAIN_MAX, not of the few messages queued at that instant
        queued = client._queue
        # dead letters go out from their own task: a flood of bad payloads must not make
        # ingest wait one broker round trip per dead letter (it drained ~900 messages/s)
        self._queue_dead()
        sender = asyncio.create_task(self._send_dead(client), name="mqtt-deadletters")
        try:
            async for msg in it:
                batch = [msg]
                size = len(msg.payload)
                while len(batch) < DRAIN_MAX and size < DRAIN_MAX_BYTES:
                    if not queued.qsize():
                        await asyncio.sleep(0)
                        if not queued.qsize():
                            break
                    m = queued.get_nowait()
                    batch.append(m)
                    size += len(m.payload)
                self.received += len(batch)
                await self.handle(batch)  # journaled and applied when it returns
                for m in batch:
                    if m.qos:
                        paho.ack(m.mid, m.qos)
                self._queue_dead()
                if sender.done():
                    sender.result()  # its broker error ends this connection too
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    def _queue_dead(self) -> None:
        new = self.take_dead()
        room = max(0, self.max_dead_pending - len(self._pending_dead))
        if len(new) > room:
            # a cap, never a silent one: what does not fit is dropped and counted (the
            # newest, so the window the sender has in flight is never disturbed)
            over = len(new) - room
            new = new[:room]
            self.dead_dropped += over
            log.warning("dead letters: %d dropped over the cap of %d pending (%d in all)",
                        over, self.max_dead_pending, self.dead_dropped)
        self._pending_dead.extend(new)
        if self._pending_dead:
            self._dead_ready.set()

    async def _send_dead(self, client: aiomqtt.Client) -> None:
        """Publish pending dead letters at QoS 1, a window at a time (paho pipelines them);
        each leaves the queue only once the broker has it, so a lost connection keeps it."""
        while True:
            await self._dead_ready.wait()
            self._dead_ready.clear()
            while self._pending_dead:
                window = list(itertools.islice(self._pending_dead, DEAD_WINDOW))
                await asyncio.gather(*(client.publish(d.topic, d.body, qos=1) for d in window))
                for _ in window:
                    self._pending_dead.popleft()


def _rc(e: Exception) -> int | None:
    rc = getattr(e, "rc", None)
    return getattr(rc, "value", rc)


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
