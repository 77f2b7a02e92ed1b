"""websockets adapter for the live feed: the handler, the plain-HTTP pages and serving.

What the feed sends, to whom, and what a slow client is owed is `feedcore.FeedCore` (pure,
tested without sockets); this module moves its bytes over websockets and answers requests.

Protocol (README "Live feed"): connect to ws://host:port/?site=S&team=T&compact=1 (all
optional); the server sends a `snapshot`, then `delta` messages every delta interval and an
`alert` for every new deduction at once (with `compact=1`: in the next delta's `alerts`,
and each agent's static roster fields once, in `roster`). A client may send
{"type": "report", "month": "YYYY-MM"} and gets {"type": "report", "report": {...DESIGN.md
§3.3...}} back; anything else it sends gets {"type": "error", "code": ..., "error": ...}.

The same port answers plain HTTP: the static pages (the wallboard) and a 404 for anything
else, never a websocket handshake error. `FeedAccess` is who may connect: an access token
(query `?token=`, `Authorization: Bearer`, or the cookie a page load with `?token=` sets,
so the page's own websocket carries it), the browser origins allowed to open the feed,
and how many reports a client may ask for. A report is built from a consistent copy of the
engine in a worker thread (`report_fn` is a coroutine), one build per site and month at a
time however many clients ask, so a flood of requests never stalls ingest.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import http
import inspect
import math
import logging
import re
import time
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

import msgspec
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from kefu_floor.errors import KefuError
from kefu_floor.live.feedcore import QUEUE_BYTES, FeedCore, Subscriber, UnknownSite
from kefu_floor.live.feedcore import encode as _encode
from kefu_floor.views.floorview import FEED_SCHEMA, FloorView
from kernels.scan import depth_of

log = logging.getLogger("kefu_floor.feed")
TOKEN_COOKIE = "kefu_feed_token"
_MONTH = re.compile(r"\d{4}-\d{2}")
FEED_PATHS = ("/", "/feed")  # where the websocket is; anything else upgrading gets a 404
# pages use only their own scripts, styles and websocket: no inline script, no other host
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")


_INLINE = {"script": re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.S | re.I),
           "style": re.compile(rb"<style[^>]*>(.*?)</style>", re.S | re.I)}


def page_csp(body: bytes) -> str:
    """The CSP for one page: CSP, plus the hash of each inline <script>/<style> element the
    page itself ships (exactly that text may run; injected markup still may not)."""
    out = CSP
    for kind, rx in _INLINE.items():
        hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(m).digest()).decode()}'"
                          for m in rx.findall(body))
        if hashes:
            out = out.replace(f"{kind}-src 'self'", f"{kind}-src 'self' {hashes}")
    return out


@dataclass(frozen=True)
class FeedAccess:
    """Who may use the feed and the pages, and how much a client may ask of it."""

    token: str | None = None  # None: open (fine on 127.0.0.1; serve warns otherwise)
    # browser origins allowed besides the page's own host ("*": any); a client that sends
    # no Origin (not a browser: the TUI, `report --connect`) is not a cross-site page
    origins: tuple[str, ...] = ()
    report_burst: int = 5  # report requests a client may make at once...
    report_per_min: float = 30.0  # ...and then on average per minute
    max_strikes: int = 20  # malformed or refused requests before the client is dropped


def request_token(request) -> tuple[str | None, bool]:
    """The token a request carries and whether it came in the query (then a page sets
    the cookie, so the page's own websocket carries it without a token in its script)."""
    q = parse_qs(urlsplit(request.path).query).get("token")
    if q:
        return q[0], True
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), False
    raw = request.headers.get("Cookie")
    if raw:
        try:
            jar = SimpleCookie(raw)
        except CookieError:
            return None, False
        if TOKEN_COOKIE in jar:
            return jar[TOKEN_COOKIE].value, False
    return None, False


def origin_allowed(request, allowed: tuple[str, ...]) -> bool:
    """A browser's websocket must come from the same host as the request or from an
    allowed origin; no Origin header means no browser page, so no cross-site risk."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if "*" in allowed or origin.rstrip("/") in (o.rstrip("/") for o in allowed):
        return True
    host = request.headers.get("Host")
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


class _Bucket:
    """Token bucket: `burst` at once, refilled at `per_min` a minute."""

    def __init__(self, burst: int, per_min: float):
        self.cap = float(max(burst, 1))
        self.rate = per_min / 60.0
        self.level = self.cap
        self.t = time.monotonic()

    def take(self) -> float:
        """0.0 if allowed (and taken), else the seconds until one is."""
        now = time.monotonic()
        self.level = min(self.cap, self.level + (now - self.t) * self.rate)
        self.t = now
        if self.level >= 1.0:
            self.level -= 1.0
            return 0.0
        return (1.0 - self.level) / self.rate if self.rate > 0 else float("inf")


class _Coalesced:
    """At most one build per key at a time. A request made while one runs waits for the
    next build (started after it asked, so never an answer older than the question), and
    every request waiting then shares that build. Keeps the last few results, nothing for
    a key nobody waits on that failed."""

    def __init__(self, build, keep: int = 8):
        self.build = build  # async (key) -> result
        self.locks: dict = {}
        self.waiting: collections.Counter = collections.Counter()
        self.started: collections.Counter = collections.Counter()
        self.results: collections.OrderedDict = collections.OrderedDict()  # key -> (gen, res)
        self.keep = keep
        self.builds = 0

    async def get(self, key):
        asked_at = self.started[key]
        lock = self.locks.setdefault(key, asyncio.Lock())
        self.waiting[key] += 1
        try:
            async with lock:
                got = self.results.get(key)
                if got is not None and got[0] > asked_at:
                    return got[1]
                self.started[key] += 1
                gen = self.started[key]
                self.builds += 1
                res = await self.build(key)
                self.results[key] = (gen, res)
                self.results.move_to_end(key)
                while len(self.results) > self.keep:
                    old, _ = self.results.popitem(last=False)
                    if not self.waiting.get(old):
                        self.locks.pop(old, None)
                        self.started.pop(old, None)
                return res
        finally:
            self.waiting[key] -= 1
            if not self.waiting[key]:
                del self.waiting[key]
                if key not in self.results:
                    self.locks.pop(key, None)
                    self.started.pop(key, None)


REQUEST_MAX_DEPTH = 4


class BadRequest(Exception):
    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code


def parse_request(raw: str | bytes) -> str | None:
    """A client's message -> the month of its report request (None: the current one).
    Pure, so it is fuzzed without sockets; anything else raises `BadRequest`."""
    # the decoder recurses: nesting is measured by a byte scan first (a 64 KiB frame of
    # `[` would otherwise raise RecursionError out of the connection's handler)
    if depth_of(raw, REQUEST_MAX_DEPTH) > REQUEST_MAX_DEPTH:
        raise BadRequest("bad_json", f"a request is one flat JSON object (nested deeper "
                                     f"than {REQUEST_MAX_DEPTH} levels)")
    try:
        req = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise BadRequest("bad_json", "a request is one JSON object, e.g. "
                                     '{"type": "report", "month": "2026-11"}') from None
    if not isinstance(req, dict) or req.get("type") != "report":
        raise BadRequest("unknown_request", 'the only request is {"type": "report", '
                                            '"month": "YYYY-MM"} (month optional)')
    month = req.get("month")
    if month is not None and not (isinstance(month, str) and _MONTH.fullmatch(month)):
        raise BadRequest("bad_month", "month is YYYY-MM, e.g. 2026-11, or left out")
    return month


@dataclass(eq=False)
class Client:
    """One websocket connection: its place in the feed core, and what its requests cost."""

    ws: ServerConnection
    sub: Subscriber
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # the core queued something
    closed: bool = False
    bucket: _Bucket | None = None
    strikes: int = 0  # malformed or refused requests
    logged: set = field(default_factory=set)  # problem codes already logged for this client

    @property
    def site(self) -> str:
        return self.sub.site

    def wake(self) -> None:
        self.ready.set()


def _flag(q: dict, name: str) -> bool:
    return q.get(name, ["0"])[0].lower() in ("1", "true", "yes", "on")


class FeedHub:
    """The feed core (`feedcore.FeedCore`) served over websockets, with the pages and the
    report requests on the same port."""

    def __init__(self, views: dict[str, FloorView], report_fn=None, interval: float = 0.25,
                 pages: dict[str, tuple[str, bytes]] | None = None,
                 access: FeedAccess | None = None, compression: bool = False,
                 queue_bytes: int = QUEUE_BYTES):
        self.views = views
        self.core = FeedCore(views, max_bytes=queue_bytes)
        self.pages = pages or {}  # plain-HTTP GET path -> (content type, body): the wallboard
        self.report_fn = report_fn  # (site, month) -> report dict, or a coroutine of one
        self.reports = _Coalesced(self._build_report)
        self.access = access or FeedAccess()
        # permessage-deflate: off by default (on this machine it cost a fifth of the
        # service's CPU at 20,000 agents; the feed is mostly on a LAN)
        self.compression = compression
        self._csp: dict[str, str] = {}  # page path -> its Content-Security-Policy
        self.tls = False
        self.interval = interval
        self.clients: set[Client] = set()
        self.sent = 0
        self.publish_errors = 0  # delta steps that raised (logged; the feed went on)

    @property
    def last(self) -> dict[str, dict]:
        """Site -> the snapshot the last delta led to (the exporter reuses it)."""
        return self.core.last

    async def _build_report(self, key: tuple[str, str | None]) -> dict:
        res = self.report_fn(*key)
        return await res if inspect.isawaitable(res) else res

    # ---------------------------------------------------------------- engine side
    def alerts(self) -> None:
        """Hand out what the engines booked since the last call (after feeding/ticking)."""
        self.core.alerts()

    def publish_deltas(self) -> None:
        self.core.publish_deltas()

    async def run(self) -> None:
        """A delta every `interval`, on a fixed beat: a slow build shortens the wait for
        the next one instead of adding to it."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                self.publish_deltas()
            except Exception:
                # a bug in one step must not end every client's feed for the rest of the
                # run (the task would die silently): logged, counted, the next beat tries
                # again from a fresh snapshot
                self.publish_errors += 1
                log.exception("feed: building a delta failed; clients are sent a fresh "
                              "snapshot")
                self.core.reset()
            due = max(due, loop.time() - self.interval)  # far behind: do not catch up in a burst

    # ---------------------------------------------------------------- client side
    async def handler(self, ws: ServerConnection) -> None:
        q = parse_qs(urlsplit(ws.request.path).query)
        a = self.access
        try:
            sub = self.core.subscribe(q.get("site", [None])[0], q.get("team", [None])[0],
                                      compact=_flag(q, "compact"))
        except UnknownSite as e:
            await ws.close(1008, str(e))
            return
        c = Client(ws, sub, bucket=_Bucket(a.report_burst, a.report_per_min))
        sub.wake = c.wake
        self.clients.add(c)
        log.info("feed client %s connected (site=%s team=%s compact=%s)", ws.remote_address,
                 sub.site, sub.team, sub.compact)
        reader = asyncio.create_task(self._read(c))
        try:
            while not c.closed:
                body = self.core.next_message(sub)
                if body is None:
                    c.ready.clear()
                    await c.ready.wait()
                    continue
                await ws.send(body, text=True)  # encoded once, sent as the bytes they are
                self.sent += 1
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            self.clients.discard(c)
            self.core.unsubscribe(sub)
            log.info("feed client %s gone", ws.remote_address)

    async def _read(self, c: Client) -> None:
        """Answer the client's requests one at a time, in order (a client pairs answers
        with its requests by order). A flood is bounded: websockets stops reading the
        socket while we work, and too many bad or refused requests end the connection."""
        try:
            async for raw in c.ws:
                try:
                    rep = await self._answer(c, raw)
                except BadRequest as e:
                    rep = self._refuse(c, e.code, str(e))
                    if c.strikes >= self.access.max_strikes:
                        await c.ws.send(_encode(rep).decode())
                        log.warning("feed client %s disconnected after %d malformed or "
                                    "refused requests", c.ws.remote_address, c.strikes)
                        await c.ws.close(1008, "too many malformed or refused requests")
                        break
                await c.ws.send(_encode(rep).decode())
        except ConnectionClosed:
            pass
        finally:
            c.closed = True
            c.wake()

    async def _answer(self, c: Client, raw) -> dict:
        month = parse_request(raw)
        if self.report_fn is None:
            raise BadRequest("no_reports", "this feed serves no reports")
        wait = c.bucket.take()
        if wait:
            raise BadRequest("rate_limited", f"too many report requests; try again in "
                                             f"{math.ceil(wait)} s")
        try:
            report = await self.reports.get((c.site, month))
        except KefuError as e:  # e.g. a month that is not one
            raise BadRequest("bad_month", str(e)) from None
        except Exception as e:  # a bug must not cost the client its feed
            log.exception("report request failed")
            return {"schema": FEED_SCHEMA, "type": "error", "code": "internal",
                    "error": f"internal error building the report: {e}"}
        c.strikes = 0
        return {"schema": FEED_SCHEMA, "type": "report", "report": report}

    def _refuse(self, c: Client, code: str, text: str) -> dict:
        c.strikes += 1
        if code not in c.logged:  # once per client and kind, not per message
            c.logged.add(code)
            log.warning("feed client %s: %s (%s); further ones from this client are answered "
                        "but not logged", c.ws.remote_address, code, text)
        return {"schema": FEED_SCHEMA, "type": "error", "code": code, "error": text}

    # ---------------------------------------------------------------- plain HTTP
    def _reply(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
               extra: list[tuple[str, str]] = (), csp: str = CSP) -> Response:
        st = http.HTTPStatus(status)
        headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-cache"), ("Content-Security-Policy", csp),
                           ("X-Content-Type-Options", "nosniff"),
                           ("Referrer-Policy", "no-referrer"), *extra])
        if status >= 400:
            headers["Connection"] = "close"
        return Response(status, st.phrase, headers, body)

    def _authorized(self, request) -> tuple[bool, bool]:
        want = self.access.token
        got, in_query = request_token(request)
        if want is None:
            return True, False
        ok = got is not None and hmac.compare_digest(got.encode(), want.encode())
        return ok, ok and in_query

    def _http(self, connection, request):
        """Everything that reaches the port gets an HTTP answer: the websocket handshake
        (feed path, right token and origin), a page, 401/403, or 404."""
        path = urlsplit(request.path).path
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        ok, from_query = self._authorized(request)
        if upgrade:
            if path not in FEED_PATHS:
                return self._reply(404, f"no websocket at {path}; the feed is at /\n".encode())
            if not ok:
                self._log_refusal(connection, "token")
                return self._reply(401, b"this feed needs its access token "
                                        b"(?token=, Authorization: Bearer, or the cookie)\n")
            if not origin_allowed(request, self.access.origins):
                self._log_refusal(connection, "origin", request.headers.get("Origin"))
                return self._reply(403, b"websocket from another site's page refused "
                                        b"(allowed origins: serve --feed-origin)\n")
            return None
        page = self.pages.get(path)
        if page is None:
            return self._reply(404, b"not found\n")
        if not ok:
            self._log_refusal(connection, "token")
            return self._reply(401, b"this page needs its access token: open it as "
                                    b"/wallboard?token=...\n")
        ctype, body = page
        extra = []
        if from_query:  # the page's own websocket and scripts then carry it
            flags = "; Secure" if self.tls else ""
            cookie = f"{TOKEN_COOKIE}={self.access.token}; Path=/; HttpOnly; SameSite=Strict"
            extra.append(("Set-Cookie", cookie + flags))
        csp = self._csp.get(path)
        if csp is None:
            csp = self._csp[path] = page_csp(body) if ctype.startswith("text/html") else CSP
        return self._reply(200, body, ctype, extra, csp)

    def _log_refusal(self, connection, what: str, detail: str | None = None) -> None:
        # one line per refused connection at most, without a traceback (a scanner or a
        # wrong token in a page's settings shows up, but cannot flood the log: INFO)
        log.info("feed: refused %s (%s%s)", connection.remote_address,
                 "no or wrong access token" if what == "token" else "origin not allowed",
                 f": {detail}" if detail else "")

    def serve(self, host: str, port: int, ssl=None):
        """An async context manager: `async with hub.serve(h, p) as server:`. `ssl` (an
        ssl.SSLContext) serves wss:// and https:// instead."""
        self.tls = ssl is not None
        return serve(self.handler, host, port, max_size=1 << 16, ping_interval=20,
                     compression="deflate" if self.compression else None,
                     write_limit=1 << 20, process_request=self._http, ssl=ssl,
                     max_queue=4, logger=_quiet_handshake_logger())


class _QuietHandshakes(logging.Filter):
    """websockets logs a connection that never sent a usable HTTP request (a port scan, a
    non-GET, a TLS client on a plain port) as an ERROR with a traceback; it is one
    INFO line saying what happened."""

    def filter(self, r: logging.LogRecord) -> bool:
        if r.getMessage() == "opening handshake failed" and r.exc_info:
            exc = r.exc_info[1]
            cause = exc.__cause__ if exc is not None and exc.__cause__ else exc
            r.msg, r.args = "feed: dropped a connection without a usable request (%s)", (
                f"{type(cause).__name__}: {cause}",)
            r.exc_info = r.exc_text = None
            r.levelno, r.levelname = logging.INFO, "INFO"
            return logging.getLogger(r.name).isEnabledFor(logging.INFO)
        return True


def _quiet_handshake_logger() -> logging.Logger:
    lg = logging.getLogger("kefu_floor.feed.http")
    if not any(isinstance(f, _QuietHandshakes) for f in lg.filters):
        lg.addFilter(_QuietHandshakes())
    return lg
