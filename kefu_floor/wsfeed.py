"""websockets adapter for the live feed: fan-out of snapshots, deltas and alerts.

Each client has a bounded queue. A client too slow to keep up has its queue dropped and is
sent a fresh snapshot when it is ready again: it never slows the engine, never grows
memory, and never sees a gap it does not know about.

Protocol (README "Live feed"): connect to ws://host:port/?site=S&team=T (both optional);
the server sends a `snapshot`, then `delta` messages at most every 250 ms and an `alert`
for every new deduction at once. A client may send {"type": "report", "month": "YYYY-MM"}
and gets {"type": "report", "report": {...DESIGN.md §3.3...}} back. Nothing else is read.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import msgspec
import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from kefu_floor.errors import KefuError
from kefu_floor.floorview import FEED_SCHEMA, FloorView, diff

log = logging.getLogger("kefu_floor.feed")
def _numpy_scalar(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


_enc = msgspec.json.Encoder(enc_hook=_numpy_scalar)
QUEUE_MAX = 256


def _filter(msg: dict, team: str | None) -> dict:
    if team is None:
        return msg
    out = dict(msg)
    if "agents" in msg:
        out["agents"] = {k: v for k, v in msg["agents"].items() if v.get("team") == team}
    if "teams" in msg:
        out["teams"] = {k: v for k, v in msg["teams"].items() if k == team}
    return out


@dataclass(eq=False)
class Client:
    ws: ServerConnection
    site: str
    team: str | None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    resync: bool = False
    closed: bool = False
    dropped: int = 0

    def wake(self) -> None:
        try:
            self.queue.put_nowait(b"")
        except asyncio.QueueFull:
            pass  # not empty, so the writer wakes anyway


class FeedHub:
    def __init__(self, views: dict[str, FloorView], report_fn=None, interval: float = 0.25,
                 pages: dict[str, tuple[str, bytes]] | None = None):
        self.views = views
        self.pages = pages or {}  # plain-HTTP GET path -> (content type, body): the wallboard
        self.report_fn = report_fn  # (site, month) -> report dict
        self.interval = interval
        self.clients: set[Client] = set()
        self.last: dict[str, dict] = {}
        self.ledger_seen: dict[str, int] = {s: 0 for s in views}
        self.sent = 0

    # ---------------------------------------------------------------- engine side
    def _push(self, site: str, msg: dict) -> None:
        for c in list(self.clients):
            if c.site != site:
                continue
            if c.team is not None and "deduction" in msg and msg["deduction"]["team"] != c.team:
                continue
            body = _enc.encode(_filter(msg, c.team))
            try:
                c.queue.put_nowait(body)
            except asyncio.QueueFull:
                # too slow: forget what is queued and send a fresh snapshot instead
                while not c.queue.empty():
                    c.queue.get_nowait()
                c.dropped += 1
                c.resync = True
                c.wake()

    def alerts(self) -> None:
        """Push every deduction booked since the last call (call after feeding/ticking)."""
        for site, view in self.views.items():
            n = len(view.eng.ledger)
            for row in range(self.ledger_seen.get(site, 0), n):
                self._push(site, {"schema": FEED_SCHEMA, "type": "alert", "site": site,
                                  "deduction": view.deduction(row)})
            self.ledger_seen[site] = n

    def publish_deltas(self) -> None:
        for site, view in self.views.items():
            if not any(c.site == site for c in self.clients):
                self.last.pop(site, None)
                continue
            snap = view.snapshot(incremental=True)
            old = self.last.get(site)
            self.last[site] = snap
            if old is None:
                continue
            d = diff(old, snap)
            if d is not None:
                self._push(site, d)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.publish_deltas()

    # ---------------------------------------------------------------- client side
    async def handler(self, ws: ServerConnection) -> None:
        q = parse_qs(urlsplit(ws.request.path).query)
        site = q.get("site", [next(iter(self.views))])[0]
        team = q.get("team", [None])[0]
        if site not in self.views:
            await ws.close(1008, f"unknown site {site!r}; served: {', '.join(self.views)}")
            return
        c = Client(ws, site, team)
        self.clients.add(c)
        log.info("feed client %s connected (site=%s team=%s)", ws.remote_address, site, team)
        reader = asyncio.create_task(self._read(c))
        try:
            await self._send_snapshot(c)
            while True:
                body = await c.queue.get()
                if c.closed:
                    break
                if c.resync:
                    c.resync = False
                    await self._send_snapshot(c)
                    continue
                if body:
                    await ws.send(body.decode())
                    self.sent += 1
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            self.clients.discard(c)
            log.info("feed client %s gone", ws.remote_address)

    async def _send_snapshot(self, c: Client) -> None:
        snap = self.last.get(c.site) or self.views[c.site].snapshot()
        self.last.setdefault(c.site, snap)
        await c.ws.send(_enc.encode(_filter(snap, c.team)).decode())

    async def _read(self, c: Client) -> None:
        try:
            async for raw in c.ws:
                try:
                    req = msgspec.json.decode(raw)
                except msgspec.DecodeError:
                    continue
                if not isinstance(req, dict) or req.get("type") != "report" or not self.report_fn:
                    continue
                try:
                    rep = {"schema": FEED_SCHEMA, "type": "report",
                           "report": self.report_fn(c.site, req.get("month"))}
                except KefuError as e:
                    rep = {"schema": FEED_SCHEMA, "type": "error", "error": str(e)}
                except Exception as e:  # a bug must not cost the client its feed
                    log.exception("report request failed")
                    rep = {"schema": FEED_SCHEMA, "type": "error",
                           "error": f"internal error building the report: {e}"}
                await c.ws.send(_enc.encode(rep).decode())
        except ConnectionClosed:
            pass
        finally:
            c.closed = True
            c.wake()

    def _http(self, connection, request):
        """Serve the static pages on the feed's port; anything else goes on to the websocket
        handshake (which answers a plain GET with 426 Upgrade Required)."""
        path = urlsplit(request.path).path
        if path in self.pages and "upgrade" not in request.headers.get("Connection", "").lower():
            ctype, body = self.pages[path]
            return Response(200, "OK", Headers([("Content-Type", ctype),
                                                ("Content-Length", str(len(body))),
                                                ("Cache-Control", "no-cache")]), body)
        return None

    def serve(self, host: str, port: int):
        """An async context manager: `async with hub.serve(h, p) as server:`."""
        return serve(self.handler, host, port, max_size=1 << 16, ping_interval=20,
                     write_limit=1 << 20, process_request=self._http)
