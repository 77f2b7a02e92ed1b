"""The live service: MQTT in, engines in the middle, websocket feed out, clock ticking.

    async with Service(config) as svc:
        await svc.wait()          # until cancelled (SIGINT/SIGTERM in the CLI)

Composition only: decoding is `ingest`, scoring is `engine`/kernels, bytes are `mqtt` and
`wsfeed`.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from kefu_floor import gctune
from kefu_floor.live.broker import EmbeddedBroker
from kefu_floor.engine import Engine, Setup
from kefu_floor.errors import ConfigError
from kefu_floor.views.floorview import FloorView
from kefu_floor.live.ingest import Ingest, LiveClock
from kefu_floor.localtime import parse_month
from kefu_floor.live.mqtt import BrokerURL, Subscriber, parse_broker_url
from kefu_floor.views.report import frozen_copy, read_report
from kefu_floor.store import open_store, redact
from kefu_floor.store.durable import Durable, DurableConfig
from kefu_floor.live.warmup import warm_kernels
from kefu_floor.live.wsfeed import FeedAccess, FeedHub

log = logging.getLogger("kefu_floor.service")


@dataclass
class ServiceConfig:
    setups: dict[str, Setup]  # site -> what its engine is built from
    broker: str = "embedded"  # mqtt://…, mqtts://…, or "embedded"
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    client_id: str | None = None
    ws_host: str = "127.0.0.1"
    ws_port: int = 8765
    max_payload: int = 1 << 20
    tick_s: float = 1.0
    delta_s: float = 0.2  # feed deltas are coalesced over this window
    # static HTTP pages (path -> content type, body), given by whoever composes the service
    # (`dashboards.pages.static_pages()` for the wallboard); none by default
    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    clock: LiveClock = field(default_factory=LiveClock)
    metrics_port: int | None = None  # Prometheus exporter off unless given (0 = any port)
    metrics_host: str = "127.0.0.1"
    metrics_per_agent: bool = False
    metrics_max_age_s: float = 0.5  # scrapes closer together share one set of figures
    store: str = "memory"  # memory | redis://… | rediss://…
    durable: DurableConfig = field(default_factory=DurableConfig)
    mqtt_password: str | None = None  # from a file or the environment, never argv
    max_login_refusals: int = 5
    # events stamped beyond the wall clock + this are rejected (clock_skew): "policy" =
    # the policy's limits.wall_ahead_s; None = no check (a simulation running ahead)
    wall_ahead_ms: int | str | None = "policy"
    archive: str | None = None  # folder for the site-days' gzip JSON Lines
    lease_ms: int = 3000  # standby lease TTL (a store other than memory)
    lang: str | None = None  # the screens' default language (None: from the locale)
    access: FeedAccess = field(default_factory=FeedAccess)  # feed token, origins, limits
    feed_tls_cert: str | None = None  # PEM: serve wss:// and https:// (with feed_tls_key)
    feed_tls_key: str | None = None
    feed_compression: bool = False  # permessage-deflate on the feed (CPU per client)
    feed_queue_bytes: int = 16 << 20  # a feed client this far behind is resynced


def feed_ssl_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("--feed-tls-cert and --feed-tls-key go together")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"--feed-tls-cert {cert} / --feed-tls-key {key}: cannot use them "
                          f"({e}); give a PEM certificate and its unencrypted key") from None
    return ctx


# the collector at 20,000 agents (kefu_floor.gctune): full collections of ~200,000 objects
# took 100-200 ms on the event loop every few deltas with CPython's thresholds; what exists
# once the state is restored (modules, the roster, the engine) lives as long as the service
GC_OLD_EVERY = 100


def _tune_gc() -> Callable[[], None]:
    """Tune the collector for the service's life; returns what puts it back."""
    restore = gctune.tune(GC_OLD_EVERY)
    gc.freeze()
    return restore


class Service:
    def __init__(self, cfg: ServiceConfig):
        if not cfg.setups:
            raise ConfigError("at least one --site is needed")
        self.cfg = cfg
        self.engines = {site: Engine(s, live=True) for site, s in cfg.setups.items()}
        first = next(iter(cfg.setups.values())).policy.limits
        ahead = (cfg.wall_ahead_ms if cfg.wall_ahead_ms != "policy"
                 else round(first.wall_ahead_s * 1000))
        self.ingest = Ingest(self.engines, max_payload=cfg.max_payload, wall_ahead_ms=ahead)
        self.views = {site: FloorView(e, cfg.lang) for site, e in self.engines.items()}
        self.hub = FeedHub(self.views, report_fn=self.report, interval=cfg.delta_s,
                           pages=cfg.pages, access=cfg.access,
                           compression=cfg.feed_compression,
                           queue_bytes=cfg.feed_queue_bytes)
        self.feed_ssl = feed_ssl_context(cfg.feed_tls_cert, cfg.feed_tls_key)
        self.clock = cfg.clock
        self.broker_url: BrokerURL | None = None
        self.ws_port: int | None = None
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task] = []
        self.subscriber: Subscriber | None = None
        self.store = open_store(cfg.store)
        archive = None
        if cfg.archive:
            from kefu_floor.store.archive import Archive

            archive = Archive(cfg.archive, self.engines)
        self.durable = Durable(self.store, self.engines, self._on_batch, cfg.durable, archive)
        self.lease = None
        if cfg.store != "memory":  # a shared store: one active process per site, a standby
            from kefu_floor.store.standby import Lease

            self.lease = Lease(self.store, list(self.engines), cfg.lease_ms)
            self.durable.may_write = self.lease.may_write
        self.takeover_wait_s = 0.0
        for v in self.views.values():
            v.store_status = lambda: self.durable.status.as_dict()
        self.exporter = None  # kefu_floor.live.metrics.Exporter while --metrics-port is on
        # site -> is the state store up? (kefu_store_up; None: no such series)
        self.store_health: Callable[[str], bool] | None = lambda site: self.durable.status.ok

    # ---------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> Service:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        cfg = self.cfg
        self._stack.push_async_callback(self.store.close)
        if cfg.broker != "embedded":
            self.broker_url = parse_broker_url(cfg.broker, cfg.tls_ca, cfg.tls_cert, cfg.tls_key,
                                               cfg.mqtt_password)
        # before anything runs the kernels (the journal's replay, the subscription): a cold
        # cache compiles for ~30 s, and the event loop must not be the one waiting (a
        # thread shares it; serve and demo warm up before their loop starts, so this is
        # then a no-op)
        took = await asyncio.to_thread(warm_kernels)
        if took > 2.0:
            log.info("kernels ready in %.1f s", took)
        lease_task = None
        if self.lease is not None:
            self.takeover_wait_s = await self.lease.acquire()  # the standby waits here
            self._stack.push_async_callback(self.lease.release)
            # renewing from now on: restoring a big site can take longer than the TTL
            lease_task = asyncio.create_task(self.lease.keep(), name="lease")
            self._stack.callback(lease_task.cancel)
        self._stack.push_async_callback(self._final_checkpoint)
        # state first (checkpoint + journal tail), then the feed, then the broker's backlog
        await self.durable.recover()
        self._stack.callback(_tune_gc())
        try:
            server = await self._stack.enter_async_context(
                self.hub.serve(cfg.ws_host, cfg.ws_port, ssl=self.feed_ssl))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(f"--ws-port {cfg.ws_port}: {cfg.ws_host}:{cfg.ws_port} is "
                                  "already in use (another kefu-floor?); stop it or choose "
                                  "another port with --ws-port (0 = any free one)") from None
            raise ConfigError(f"--ws-host {cfg.ws_host} --ws-port {cfg.ws_port}: cannot "
                              f"listen there ({e.strerror or e})") from None
        self.ws_port = next(iter(server.sockets)).getsockname()[1]
        if cfg.broker == "embedded":
            broker = await self._stack.enter_async_context(EmbeddedBroker())
            self.broker_url = parse_broker_url(broker.url)
        if cfg.metrics_port is not None:
            from kefu_floor.live.metrics import Exporter

            loop = asyncio.get_running_loop()

            async def build() -> None:
                self.publish_metrics()

            def refresh() -> None:  # from the exporter's HTTP thread: build on the loop
                # under Prometheus' default 10 s scrape timeout
                asyncio.run_coroutine_threadsafe(build(), loop).result(timeout=8)

            try:
                self.exporter = Exporter(cfg.metrics_host, cfg.metrics_port, refresh,
                                         cfg.metrics_max_age_s).start()
            except (OSError, OverflowError) as e:
                raise ConfigError(f"--metrics-port {cfg.metrics_port}: cannot listen on "
                                  f"{cfg.metrics_host} ({getattr(e, 'strerror', None) or e}); "
                                  "give a free port, or 0 for any") from None
            self._stack.callback(self.exporter.stop)
        sites = list(self.engines)
        self.subscriber = Subscriber(self.broker_url, sites,
                                     cfg.client_id or f"kefu-floor-{'-'.join(sites)}",
                                     self.durable.handle, self.ingest.take_dead,
                                     max_refusals=cfg.max_login_refusals,
                                     manual_ack=cfg.store != "memory")
        self._tasks = [asyncio.create_task(self.subscriber.run(), name="mqtt"),
                       asyncio.create_task(self._ticker(), name="ticker"),
                       asyncio.create_task(self.hub.run(), name="feed")]
        if lease_task is not None:
            self._tasks.append(lease_task)
        if self.exporter is not None:
            self.publish_metrics()  # a first set, for a scrape the busy loop cannot answer
        self._stack.push_async_callback(self._cancel_tasks)
        log.info("serving sites %s from %s; store %s; live feed on %s",
                 ", ".join(sites), self.broker_url.display, redact(cfg.store), self.feed_url)

    async def _final_checkpoint(self) -> None:
        """On a clean stop, a last checkpoint (and archive flush): a restart has no tail."""
        try:
            await asyncio.wait_for(self.durable.checkpoint(), 10)
        except (TimeoutError, OSError) as e:
            log.warning("no final checkpoint (%s); the journal has everything", e)

    async def _cancel_tasks(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aexit__(self, *exc) -> None:
        await self._stack.aclose()

    async def wait(self) -> None:
        """Run until cancelled; a crashed component stops the service loudly."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if not t.cancelled() and t.exception():
                raise t.exception()

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.subscriber.connected.wait(), timeout)

    # ---------------------------------------------------------------- work
    def _on_batch(self, messages: list[tuple[str, bytes]]) -> None:
        self.ingest.handle_many(messages)
        newest = max((e.now for e in self.engines.values() if e.now is not None), default=None)
        self.clock.received(newest, int(time.time() * 1000), time.monotonic())
        self.hub.alerts()

    async def tick(self) -> None:
        """Move each engine's clock where the LiveClock allows; a tick that moves it is
        journaled first, like a message, so a restart replays it in the same place."""
        connected = self.subscriber is not None and self.subscriber.connected.is_set()
        wall = int(time.time() * 1000)
        mono = time.monotonic()
        for site, eng in self.engines.items():
            t = self.clock.target(eng.now, wall, mono, connected)
            if t is None:
                eng.tick()  # books what is due by engine time; moves nothing
            else:
                await self.durable.tick(site, t)
        await self.durable.after_change()
        await self.durable.health()
        self.hub.alerts()

    def publish_metrics(self) -> None:
        """Hand the exporter a fresh immutable set of figures from the read model (on the
        loop, at scrape time; the exporter's HTTP thread reads only that set)."""
        from kefu_floor.live.metrics import SiteInput, figures

        connected = self.subscriber is not None and self.subscriber.connected.is_set()
        clients = Counter(c.site for c in self.hub.clients)
        store = self.store_health
        def snapshot(site: str, view: FloorView) -> dict:
            # the feed's own latest snapshot when it keeps one (at most one delta interval
            # old, built on this loop too), else the read model's incremental snapshot
            if clients[site] and site in self.hub.last:
                return self.hub.last[site]
            return view.snapshot(incremental=True)

        self.exporter.publish(figures({
            site: SiteInput(snapshot(site, view),
                            tuple(self.engines[site].batch_hist.tolist()), connected,
                            clients[site], store(site) if store else None,
                            feed_errors=self.hub.publish_errors)
            for site, view in self.views.items()}, self.cfg.metrics_per_agent))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.tick_s)
            await self.tick()

    @property
    def feed_url(self) -> str:
        host = "127.0.0.1" if self.cfg.ws_host in ("0.0.0.0", "") else self.cfg.ws_host
        return f"{'wss' if self.feed_ssl else 'ws'}://{host}:{self.ws_port}/"

    @property
    def page_url(self) -> str:
        return self.feed_url.replace("ws", "http", 1) + "wallboard"

    async def report(self, site: str, month: str | None) -> dict:
        """The month's report as of now: what is due by engine time booked here (moving no
        clock), then read from a copy in a worker thread."""
        try:
            mid = parse_month(month) if month else None
        except ValueError as e:
            raise ConfigError(f"month: {e}") from None
        eng = self.engines[site]
        eng.tick()
        self.hub.alerts()
        frozen = frozen_copy(eng)
        return await asyncio.to_thread(read_report, frozen, mid)
