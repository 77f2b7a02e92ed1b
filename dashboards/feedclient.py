"""A websocket client of the live feed (`kefu_floor.live.wsfeed`): the state a screen draws from.

    client = FeedClient("ws://127.0.0.1:8765", site="cd1", listener=on_change)
    task = asyncio.create_task(client.run())      # connects, reconnects with backoff
    ...
    report = await client.request_report("2026-11")

The client keeps the current floor (the `snapshot` with every `delta` applied by
`kefu_floor.views.floorview.apply_delta`), the deductions pushed as `alert`s (newest first), each
agent's state changes as seen in the deltas (a timeline), and whether it is connected (the
feed counts as connected once its first message arrives, so a service that accepts the socket
and then refuses, e.g. an unknown site, is not): `disconnected_since` is the wall time the
feed was lost (or first failed), kept until it is back, and `last_error` says why. `handle(msg)` is pure bookkeeping with no I/O, so it is unit-tested without a socket.
"""
from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from kefu_floor.views.floorview import apply_delta

log = logging.getLogger("kefu_floor.tui.feed")
_dec = msgspec.json.Decoder()
_enc = msgspec.json.Encoder()

MAX_ALERTS = 1000
MAX_TIMELINE = 500  # state changes kept per agent
BIG_MESSAGE = 64 * 1024  # bytes of a message after which the loop is given a turn


@dataclass
class Change:
    """What one message changed, for the screen to redraw just that."""

    kind: str  # snapshot | delta | alert | report | error | connected | disconnected
    agents: set[str] = field(default_factory=set)  # changed (or added) agents
    removed: set[str] = field(default_factory=set)
    sections: set[str] = field(default_factory=set)  # other sections touched
    alert: dict | None = None
    alerts: list[dict] = field(default_factory=list)  # new deductions (a compact delta's)


def feed_url(url: str, site: str | None = None, team: str | None = None,
             compact: bool = False) -> str:
    """ws://host:port[/] plus the feed's query (site, team, the compact stream)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"{url!r} is not a ws://host:port address")
    q = {k: v for k, v in (("site", site), ("team", team), ("compact", "1" if compact else None))
         if v}
    path = parts.path or "/"
    return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{urlencode(q)}" if q else "")


def alert_key(d: dict) -> tuple:
    return (d.get("agent"), d.get("rule"), d.get("ts"), d.get("day"), d.get("points"))


class FeedClient:
    def __init__(self, url: str, site: str | None = None, team: str | None = None, *,
                 listener: Callable[[Change], None] | None = None,
                 wall: Callable[[], float] = time.time,
                 backoff_initial: float = 0.5, backoff_max: float = 10.0,
                 open_timeout: float = 10.0, max_alerts: int = MAX_ALERTS,
                 token: str | None = None, ssl=None, compact: bool = True):
        # compact: static roster fields once and alerts inside deltas (README "Live feed");
        # `handle` takes both forms and keeps the state in the full one
        self.url = feed_url(url, site, team, compact)
        self.compact = compact
        # the feed's access token (sent as a header, never in the URL) and TLS for wss://
        self.headers = {"Authorization": f"Bearer {token}"} if token else None
        self.ssl = ssl
        self.site = site
        self.team = team
        self.listener = listener
        self.wall = wall
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        self.state: dict | None = None
        self.roster: dict[str, dict] = {}  # agent -> static fields (a compact stream's)
        self.alerts: collections.deque[dict] = collections.deque(maxlen=max_alerts)
        self._alert_keys: set[tuple] = set()
        self.timeline: dict[str, list[tuple[int, str, str | None]]] = {}
        self.timeline_from: int | None = None  # feed time the timeline starts (first snapshot)
        self.connected = False
        self.disconnected_since: float | None = None
        self.last_error: str | None = None
        self.connects = 0
        self.attempts = 0  # failed attempts since the last good connection
        self.messages = 0
        self._ws = None
        self._pending: collections.deque[asyncio.Future] = collections.deque()
        self._stop = False

    # ---------------------------------------------------------------- pure bookkeeping
    def handle(self, msg: dict) -> Change:
        """Apply one feed message to the kept state; return what it changed."""
        self.messages += 1
        kind = msg.get("type")
        if kind in ("snapshot", "delta") and (self.compact or "roster" in msg):
            msg = self._expand(msg)
        if kind == "snapshot":
            old = self.state
            self.state = msg
            agents = msg.get("agents", {})
            for a, e in agents.items():
                self._note_state(a, e)
            if self.timeline_from is None:
                self.timeline_from = msg.get("now")
            gone = set(old.get("agents", {})) - set(agents) if old else set()
            return Change("snapshot", set(agents), gone,
                          {"teams", "queues", "floor", "counters", "now", "month"})
        if kind == "delta":
            if self.state is None:  # a delta before any snapshot: nothing to apply it to
                return Change("delta")
            self.state = apply_delta(self.state, msg)
            changed = set(msg.get("agents", {}))
            for a in changed:
                self._note_state(a, self.state["agents"][a])
            removed = set(msg.get("removed", {}).get("agents", []))
            sections = {s for s in ("teams", "queues", "floor", "counters", "month", "now")
                        if s in msg or s in msg.get("removed", {})}
            added = [d for d in msg.get("alerts") or [] if isinstance(d, dict)
                     and self.add_alert(d)]
            return Change("delta", changed, removed, sections, alerts=added)
        if kind == "alert":
            d = msg.get("deduction") or {}
            if self.add_alert(d):
                return Change("alert", {d.get("agent")} - {None}, alert=d)
            return Change("alert")
        if kind in ("report", "error"):
            fut = self._pending.popleft() if self._pending else None
            if fut is not None and not fut.done():
                if kind == "report":
                    fut.set_result(msg.get("report"))
                else:
                    fut.set_exception(RuntimeError(msg.get("error") or "feed error"))
            return Change(kind)
        return Change(str(kind))

    def _expand(self, msg: dict) -> dict:
        """A compact message in full form: each agent entry with its roster fields, and in
        a delta each agent or team entry already kept merged field by field with what
        changed (README "Live feed", compact stream)."""
        delta = msg.get("type") == "delta"
        if not delta:
            self.roster = {}
        cols = msg.get("roster") or {}
        fields = [f for f in cols if f != "agent"]
        for k, a in enumerate(cols.get("agent") or []):
            self.roster[a] = {f: cols[f][k] for f in fields}
        out = dict(msg)
        kept = (self.state or {}) if delta else {}  # a snapshot's entries are whole
        agents = msg.get("agents")
        if agents:
            roster, was = self.roster, kept.get("agents") or {}
            out["agents"] = {a: {**was.get(a, {}), **roster.get(a, {}), **e}
                             for a, e in agents.items()}
        teams = msg.get("teams")
        if teams and delta:
            was = kept.get("teams") or {}
            out["teams"] = {t: {**was.get(t, {}), **e} for t, e in teams.items()}
        return out

    def add_alert(self, d: dict) -> bool:
        """Keep a deduction (newest first); False if it is already kept."""
        k = alert_key(d)
        if k in self._alert_keys:
            return False
        if len(self.alerts) == self.alerts.maxlen:
            self._alert_keys.discard(alert_key(self.alerts.pop()))
        self._alert_keys.add(k)
        # keep newest first even when an older one (from a report) arrives late
        if self.alerts and d.get("ts", 0) < self.alerts[0].get("ts", 0):
            items = sorted([*self.alerts, d], key=lambda x: x.get("ts", 0), reverse=True)
            self.alerts.clear()
            self.alerts.extend(items)
        else:
            self.alerts.appendleft(d)
        return True

    def drop_alerts_after(self, ts: int) -> int:
        """Forget deductions stamped after `ts`: after a restart the feed's time is behind
        them, so they belong to an earlier run and would sit above today's. Returns how many."""
        keep = [d for d in self.alerts if d.get("ts", 0) <= ts]
        gone = len(self.alerts) - len(keep)
        if gone:
            self.alerts.clear()
            self.alerts.extend(keep)
            self._alert_keys = {alert_key(d) for d in keep}
        return gone

    def _note_state(self, agent: str, e: dict) -> None:
        """Record the agent's current state in its timeline, kept in order of start time:
        a service that restarted may resend states that began earlier than the last one."""
        tl = self.timeline.setdefault(agent, [])
        entry = (e.get("since") or 0, e.get("state"), e.get("reason"))
        if tl and tl[-1] == entry:
            return
        k = bisect.bisect_left(tl, entry[0], key=lambda x: x[0])
        if k < len(tl) and tl[k][0] == entry[0]:
            tl[k] = entry  # same start, new detail (e.g. a busy reason)
        else:
            tl.insert(k, entry)
        if len(tl) > MAX_TIMELINE:
            del tl[: len(tl) - MAX_TIMELINE]

    # ---------------------------------------------------------------- I/O
    def _notify(self, ch: Change) -> None:
        if self.listener is not None:
            try:
                self.listener(ch)
            except Exception:  # a screen's bug must not kill the feed
                log.exception("feed listener failed on %s", ch.kind)

    async def run(self) -> None:
        """Connect, read, and on loss reconnect with exponential backoff, until `stop()`."""
        delay = self.backoff_initial
        while not self._stop:
            cancelled = False
            try:
                tls = {"ssl": self.ssl} if self.ssl is not None else {}
                async with connect(self.url, max_size=None, open_timeout=self.open_timeout,
                                   close_timeout=2, additional_headers=self.headers,
                                   **tls) as ws:
                    self._ws = ws
                    async for raw in ws:
                        if not self.connected:  # the feed flows: connected from now on
                            self.connected = True
                            self.connects += 1
                            self.attempts = 0
                            self.last_error = None
                            self.disconnected_since = None
                            delay = self.backoff_initial
                            self._notify(Change("connected"))
                        try:
                            msg = _dec.decode(raw)
                        except msgspec.DecodeError:
                            continue
                        if isinstance(msg, dict):
                            if len(raw) > BIG_MESSAGE:
                                # decoding a big floor's delta takes tens of ms: a key the
                                # screen has waiting goes first, then the delta is applied
                                await asyncio.sleep(0)
                            self._notify(self.handle(msg))
            except asyncio.CancelledError:
                cancelled = True
                raise
            except ConnectionClosed as e:
                # e.g. the service refusing an unknown site: say what it said
                self.last_error = (e.rcvd.reason if e.rcvd is not None and e.rcvd.reason
                                   else f"connection lost ({e})")
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as e:
                self.last_error = f"{type(e).__name__}: {e}"
            finally:
                self._ws = None
                was = self.connected
                self.connected = False
                for fut in self._pending:
                    if not fut.done():
                        fut.set_exception(ConnectionError("feed connection lost"))
                self._pending.clear()
                if self.disconnected_since is None:
                    self.disconnected_since = self.wall()
                if was and not cancelled:  # cancelled: the screen is going away
                    self._notify(Change("disconnected"))
            if self._stop:
                break
            self.attempts += 1
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(self.backoff_max, delay * 2)

    def stop(self) -> None:
        """Stop reconnecting and close the connection (in the background)."""
        self._stop = True
        ws = self._ws
        if ws is not None:
            asyncio.ensure_future(ws.close())

    async def aclose(self) -> None:
        """Stop reconnecting and close the connection cleanly before returning."""
        self._stop = True
        ws = self._ws
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 3)
            except (TimeoutError, OSError, ConnectionClosed):
                pass

    async def request_report(self, month: str | None = None, timeout: float = 60.0) -> dict:
        """The month's score report (DESIGN.md §3.3) from the service, over this connection."""
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected to the feed")
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append(fut)
        await ws.send(_enc.encode({"type": "report", "month": month}).decode())
        return await asyncio.wait_for(fut, timeout)

    # ---------------------------------------------------------------- reading
    @property
    def agents(self) -> dict[str, dict]:
        return self.state.get("agents", {}) if self.state else {}

    def today_timeline(self, agent: str, day_start_ms: int | None) -> list[tuple]:
        """State changes of `agent` since `day_start_ms` (local midnight), oldest first;
        the state current at midnight is kept as the first entry."""
        tl = self.timeline.get(agent, [])
        if day_start_ms is None:
            return list(tl)
        out = [x for x in tl if x[0] >= day_start_ms]
        before = [x for x in tl if x[0] < day_start_ms]
        if before and (not out or out[0][0] > day_start_ms):
            out.insert(0, before[-1])
        return out


def decode(raw: str | bytes) -> Any:
    return _dec.decode(raw)
