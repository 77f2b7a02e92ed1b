"""The live feed's fan-out, without I/O: who is subscribed, what each is owed, in bytes.

The websockets adapter (`wsfeed`) only moves these bytes; everything the feed decides is
here, so it is tested in milliseconds without a socket (the split the `websockets` library
itself makes between `protocol.py` and `asyncio/connection.py`):

- a subscriber is a site, an optional team filter and a stream form (`compact`); its
  outbox is bounded by BYTES (and a message count, for floods of tiny ones). One that
  falls behind has its outbox dropped and is owed a fresh snapshot instead: it never slows
  the engine side, never grows memory, never sees a gap it does not know about;
- every message is encoded once per site and filter (team, form), however many
  subscribers share it, and queued as bytes;
- deductions are taken from the engine (`Engine.take_booked`, as `take_dirty`): the core
  keeps no cursor of its own into the ledger. Plain subscribers get an `alert` message for
  each; compact ones get them folded into the next delta (`alerts`);
- a compact stream sends each agent's static roster fields (name, team, role, probation)
  once, in `roster`, instead of in every agent entry, and in a delta only the fields of an
  agent or team entry that changed (a busy agent's busy time growing is two numbers, not
  the whole entry: README "Live feed").

The caller drives it: `alerts()` after feeding or ticking, `publish_deltas()` every delta
interval, `next_message(sub)` when a subscriber's connection can take one.
"""
from __future__ import annotations

import collections
from typing import Callable

import msgspec
import numpy as np

from kefu_floor.views.floorview import FEED_SCHEMA, FloorView

# per subscriber: bytes queued (and messages, for a flood of tiny ones) beyond which it is
# resynced; a delta of 20,000 agents all changing is ~10 MB in full form
QUEUE_BYTES = 16 << 20
QUEUE_MESSAGES = 1024
# the agent fields a compact stream sends once per agent (in `roster`), not in every entry
STATIC_FIELDS = ("name", "team", "role", "probation")


def _numpy_scalar(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


encode = msgspec.json.Encoder(enc_hook=_numpy_scalar).encode


class UnknownSite(ValueError):
    pass


class Subscriber:
    """One client's place in the feed: its filter and its bounded outbox."""

    __slots__ = ("site", "team", "compact", "out", "nbytes", "resync", "dropped", "wake",
                 "max_bytes", "max_messages", "sent", "sent_bytes")

    def __init__(self, site: str, team: str | None, compact: bool,
                 wake: Callable[[], None] | None, max_bytes: int, max_messages: int):
        self.site, self.team, self.compact = site, team, compact
        self.out: collections.deque[bytes] = collections.deque()
        self.nbytes = 0
        self.resync = True  # owed a snapshot: the first message is one
        self.dropped = 0  # times its outbox overflowed and was dropped
        self.wake = wake or (lambda: None)  # the adapter's "there is something to send"
        self.max_bytes, self.max_messages = max_bytes, max_messages
        self.sent = self.sent_bytes = 0

    @property
    def key(self) -> tuple[str | None, bool]:
        return self.team, self.compact

    def put(self, body: bytes) -> None:
        if self.resync:
            return  # a snapshot is owed: what it would have said is in it
        # (one message bigger than the cap still goes to an empty outbox: else a big
        # delta would resync everyone, every time)
        if self.out and (self.nbytes + len(body) > self.max_bytes
                         or len(self.out) >= self.max_messages):
            # too slow: forget what is queued and send a fresh snapshot instead
            self.out.clear()
            self.nbytes = 0
            self.dropped += 1
            self.resync = True
        else:
            self.out.append(body)
            self.nbytes += len(body)
        self.wake()


def _statics(e: dict) -> tuple:
    return tuple(e.get(k) for k in STATIC_FIELDS)


def roster_columns(statics: dict[str, tuple]) -> dict[str, list]:
    """Agents' static fields as columns, {"agent": [...], "name": [...], ...}: each field
    name once, not once per agent."""
    agents = list(statics)
    out: dict[str, list] = {"agent": agents}
    for k, f in enumerate(STATIC_FIELDS):
        out[f] = [statics[a][k] for a in agents]
    return out


def _filtered(msg: dict, team: str | None) -> dict:
    """A message as one team's subscribers see it: that team's agents and team entry, the
    deductions of its people (the site-wide figures stay whole)."""
    if team is None:
        return msg
    out = dict(msg)
    if "agents" in msg:
        out["agents"] = {k: v for k, v in msg["agents"].items() if v.get("team") == team}
    if "teams" in msg:
        out["teams"] = {k: v for k, v in msg["teams"].items() if k == team}
    for k in ("alerts", "recent"):
        if k in msg:
            out[k] = [d for d in msg[k] if d.get("team") == team]
    return out


def _without_statics(e: dict) -> dict:
    # a copy and four pops: a tenth of the time of a filtering comprehension over an
    # entry's ~30 fields (at 20,000 agents it was a sixth of the service's time)
    d = e.copy()
    for k in STATIC_FIELDS:
        d.pop(k, None)
    return d


def _patch(old: dict, new: dict, skip: tuple = ()) -> dict:
    """The fields of `new` that differ from `old` (a field `new` no longer has: null),
    leaving out `skip`: merged into the kept entry field by field, it gives `new`."""
    out = {k: v for k, v in new.items() if k not in skip and old.get(k, _GONE) != v}
    if old.keys() != new.keys():
        out.update((k, None) for k in old if k not in new and k not in skip)
    return out


_GONE = object()


def _compacted(msg: dict, roster: dict[str, tuple], before: dict | None = None,
               fields: dict[str, tuple] | None = None) -> dict:
    """`msg` in compact form: agent entries without their static fields, `roster` holding
    those of the agents in `roster` (all of them in a snapshot; new or changed in a delta),
    as columns. With `before` (a delta's previous snapshot), an agent or team entry it
    held comes as the fields that changed only; `fields`: agents of whom the read model
    knows which fields alone can have moved (a busy time's patch), looked at only."""
    out = dict(msg)
    if "agents" in msg:
        if before is None:
            out["agents"] = {a: _without_statics(e) for a, e in msg["agents"].items()}
        else:
            was = before.get("agents", {})
            fields = fields or {}
            agents = {}
            for a, e in msg["agents"].items():
                f = fields.get(a)
                if f is not None:
                    agents[a] = {k: e[k] for k in f if was[a][k] != e[k]}
                elif a in was:
                    agents[a] = _patch(was[a], e, STATIC_FIELDS)
                else:
                    agents[a] = _without_statics(e)
            out["agents"] = agents
    if "teams" in msg and before is not None:
        was = before.get("teams", {})
        out["teams"] = {t: _patch(was[t], e) if t in was else e
                        for t, e in msg["teams"].items()}
    out.pop("roster", None)
    if roster:
        out["roster"] = roster_columns(roster)
    return out


class FeedCore:
    def __init__(self, views: dict[str, FloorView], max_bytes: int = QUEUE_BYTES,
                 max_messages: int = QUEUE_MESSAGES):
        self.views = views
        self.max_bytes, self.max_messages = max_bytes, max_messages
        self.subscribers: set[Subscriber] = set()
        self.last: dict[str, dict] = {}  # site -> the snapshot the last delta led to
        self._snap_bytes: dict[tuple, bytes] = {}  # (site, team, compact) -> encoded snapshot
        self._alerts: dict[str, list[dict]] = {}  # site -> deductions for the next delta
        self.encodes = 0  # messages encoded (each once per site and filter)

    # ---------------------------------------------------------------- subscribers
    def subscribe(self, site: str | None = None, team: str | None = None,
                  compact: bool = False, wake: Callable[[], None] | None = None) -> Subscriber:
        site = next(iter(self.views)) if site is None else site
        if site not in self.views:
            raise UnknownSite(f"unknown site {site!r}; served: {', '.join(self.views)}")
        sub = Subscriber(site, team, compact, wake, self.max_bytes, self.max_messages)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def next_message(self, sub: Subscriber) -> bytes | None:
        """What `sub` is to be sent next (a snapshot when one is owed), or None."""
        if sub.resync:
            sub.resync = False
            body = self.snapshot_bytes(sub.site, sub.team, sub.compact)
        elif sub.out:
            body = sub.out.popleft()
            sub.nbytes -= len(body)
        else:
            return None
        sub.sent += 1
        sub.sent_bytes += len(body)
        return body

    def snapshot_bytes(self, site: str, team: str | None = None,
                       compact: bool = False) -> bytes:
        """The site's current snapshot for one filter, encoded once until the next delta."""
        key = (site, team, compact)
        body = self._snap_bytes.get(key)
        if body is None:
            snap = self.last.get(site)
            if snap is None:
                snap = self.last[site] = self.views[site].snapshot(incremental=True)
            msg = _filtered(snap, team)
            if compact:
                msg = _compacted(msg, {a: _statics(e) for a, e in msg["agents"].items()})
            body = self._snap_bytes[key] = encode(msg)
            self.encodes += 1
        return body

    # ---------------------------------------------------------------- engine side
    def _fan_out(self, site: str, msg: dict, only: Callable[[Subscriber], bool] | None = None,
                 compact_roster: dict[str, tuple] | None = None,
                 before: dict | None = None, fields: dict[str, tuple] | None = None) -> None:
        """Queue `msg` for the site's subscribers, encoded once per filter (`before`: the
        snapshot a delta leads from, for the compact form's field patches)."""
        bodies: dict[tuple, bytes] = {}
        for sub in self.subscribers:
            if sub.site != site or (only is not None and not only(sub)):
                continue
            body = bodies.get(sub.key)
            if body is None:
                m = _filtered(msg, sub.team)
                if sub.compact:
                    roster = compact_roster or {}
                    if sub.team is not None:
                        roster = {a: v for a, v in roster.items() if v[1] == sub.team}
                    m = _compacted(m, roster, before, fields)
                body = bodies[sub.key] = encode(m)
                self.encodes += 1
            sub.put(body)

    def alerts(self) -> None:
        """Hand out the deductions the engines booked since the last call: an `alert`
        each to plain subscribers, the next delta's `alerts` for compact ones."""
        for site, view in self.views.items():
            rows = view.eng.take_booked()
            subs = [s for s in self.subscribers if s.site == site]
            if not rows or not subs:
                continue
            found = [view.deduction(r) for r in rows]
            if any(s.compact for s in subs):
                self._alerts.setdefault(site, []).extend(found)
            if all(s.compact for s in subs):
                continue
            for d in found:
                self._fan_out(site, {"schema": FEED_SCHEMA, "type": "alert", "site": site,
                                     "deduction": d},
                              only=lambda s, team=d["team"]: not s.compact and (
                                  s.team is None or s.team == team))

    def reset(self) -> None:
        """Start over after a failed step: every view builds its next snapshot whole and
        every subscriber is owed a fresh snapshot (its queued deltas may lead from a state
        the failed step half changed). Folded alerts are not lost: the snapshot's `recent`
        holds the day's deductions."""
        for view in self.views.values():
            view.forget()
        self.last.clear()
        self._snap_bytes.clear()
        self._alerts.clear()
        for sub in self.subscribers:
            sub.out.clear()
            sub.nbytes = 0
            sub.resync = True
            sub.wake()

    def _forget_bytes(self, site: str) -> None:
        if any(k[0] == site for k in self._snap_bytes):
            self._snap_bytes = {k: v for k, v in self._snap_bytes.items() if k[0] != site}

    def publish_deltas(self) -> None:
        """A delta per site with subscribers: what changed since the last one."""
        for site, view in self.views.items():
            if not any(s.site == site for s in self.subscribers):
                # nobody to diff for: the next one starts fresh, from a snapshot built
                # when it connects (not the bytes the last client was sent)
                self.last.pop(site, None)
                self._alerts.pop(site, None)
                self._forget_bytes(site)
                continue
            old = self.last.get(site)
            snap, d, fields = view.advance(old)
            self.last[site] = snap
            if old is not snap:
                self._forget_bytes(site)
            folded = self._alerts.pop(site, [])
            if old is None:
                continue  # the first: every subscriber is owed this snapshot anyway
            if d is None and folded:
                d = {"schema": FEED_SCHEMA, "type": "delta", "site": site, "now": snap["now"]}
            if d is None:
                continue
            roster = {}
            if any(s.compact for s in self.subscribers if s.site == site):
                before = old.get("agents", {})
                # an entry patched field by field (`fields`: busy time, last 60 minutes)
                # kept its static fields
                roster = {a: _statics(e) for a, e in d.get("agents", {}).items()
                          if a not in fields and (a not in before
                                                  or _statics(before[a]) != _statics(e))}
            if folded:
                self._fan_out(site, d, only=lambda s: not s.compact)
                self._fan_out(site, {**d, "alerts": folded}, only=lambda s: s.compact,
                              compact_roster=roster, before=old, fields=fields)
            else:
                self._fan_out(site, d, compact_roster=roster, before=old, fields=fields)

