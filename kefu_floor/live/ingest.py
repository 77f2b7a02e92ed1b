"""From an MQTT message to the engine, and when the wall clock may move engine time.

Pure logic, no sockets: `Ingest.handle` takes (topic, payload) pairs, `LiveClock` decides
what a 1-second tick may do. The MQTT adapter (`kefu_floor.live.mqtt`) only moves bytes.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from operator import attrgetter

from kefu_floor.engine import Engine
from kefu_floor.errors import Rejected
from kefu_floor.schema import MAX_DETAILS, Event, Rejections, decode_payload

_TS = attrgetter("ts")
EXCERPT = 2048  # bytes of the payload a dead letter carries


def topics(site: str) -> tuple[str, str, str]:
    """(telemetry, manual, deadletter) topics of a site (DESIGN.md §3.1)."""
    return f"kefu/{site}/telemetry", f"kefu/{site}/manual", f"kefu/{site}/deadletter"


def _encode_one(e: Event) -> bytes:
    from kefu_floor.schema import encode
    return encode(e)


def site_of(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == "kefu" and parts[2] in ("telemetry", "manual"):
        return parts[1]
    return None


@dataclass
class DeadLetter:
    topic: str  # where it is published
    body: bytes


@dataclass
class Ingest:
    """Decodes payloads for a set of site engines and collects their dead letters."""

    engines: dict[str, Engine]
    max_payload: int = 1 << 20
    dead: list[DeadLetter] = field(default_factory=list)
    # live only: an event stamped further than this ahead of the wall clock is rejected
    # (`clock_skew`); None = no check (a simulation running ahead of today)
    wall_ahead_ms: int | None = None
    wall_ms: object = field(default=lambda: int(time.time() * 1000))

    def handle_many(self, messages: list[tuple[str, bytes]]) -> int:
        """Decode every message, then feed each site's good events in one kernel call.
        Returns the number of events accepted."""
        per_site: dict[str, list[Event]] = {}
        for topic, payload in messages:
            site = site_of(topic)
            eng = self.engines.get(site)
            if eng is None:
                continue  # not subscribed to that; a wildcard broker bridge may send it
            good = self._decode(eng, topic, payload)
            if good:
                per_site.setdefault(site, []).extend(good)
        n = 0
        received_ms = int(time.time() * 1000)  # for the clock-skew count (kefu_floor.stats)
        for site, events in per_site.items():
            eng = self.engines[site]
            for r, _, ev in eng.feed(events, received_ms):  # counted by the engine
                self._reject(eng, "", _encode_one(ev) if ev is not None else b"", [r],
                             engine=True)
            n += len(events)
        return n

    def _decode(self, eng: Engine, topic: str, payload: bytes) -> list[Event]:
        if len(payload) > self.max_payload:
            self._reject(eng, topic, payload, [Rejected(
                "too_large", f"payload of {len(payload)} bytes is over the limit of "
                f"{self.max_payload}; not read")])
            return []
        good, bad = decode_payload(payload)
        if good:
            good, wrong = eng.check_site(good)
            bad += wrong
        if good and self.wall_ahead_ms is not None:
            limit = self.wall_ms() + self.wall_ahead_ms
            if max(map(_TS, good)) > limit:
                keep = []
                for i, e in enumerate(good):
                    if e.ts > limit:
                        bad.append(Rejected("clock_skew", f"ts {e.ts} is {e.ts - limit + self.wall_ahead_ms} ms "
                                            f"ahead of the wall clock (limit "
                                            f"{self.wall_ahead_ms} ms)", None))
                    else:
                        keep.append(e)
                good = keep
        if bad:
            self._reject(eng, topic, payload, bad)
        return good

    def _reject(self, eng: Engine, topic: str, payload: bytes, bad: list[Rejected],
                engine: bool = False) -> None:
        """One dead letter per payload, whatever the number of bad elements: the first
        reason and detail, every reason's count, and the first MAX_DETAILS details.
        `engine`: one event the engine rejected (and counted) after decoding."""
        bad = bad if isinstance(bad, Rejections) else Rejections(bad)
        if not engine:
            eng.count_rejected(bad)
        first = bad[0]
        body = json.dumps({
            "reason": first.reason, "detail": first.detail, "index": first.index,
            "rejected": bad.total, "counts": bad.counts,
            "details": [{"reason": r.reason, "detail": r.detail, "index": r.index}
                        for r in bad[:MAX_DETAILS]],
            "topic": topic or f"kefu/{eng.site}/telemetry",
            "received_ms": int(time.time() * 1000),
            "payload": payload[:EXCERPT].decode("utf-8", "replace"),
            **({"by": "engine"} if engine else {})}, ensure_ascii=False).encode()
        self.dead.append(DeadLetter(f"kefu/{eng.site}/deadletter", body))

    def take_dead(self) -> list[DeadLetter]:
        out, self.dead = self.dead, []
        return out


@dataclass
class LiveClock:
    """When may the wall clock move engine time?

    Engine time is the stream's event time. Only while the stream is caught up (connected,
    nothing received for `idle_s`) and live (its events were recently within `live_skew_ms`
    of the wall clock) does a tick move it to wall time − `lateness_ms`. So a backlog
    delivered after an outage, or a simulation running ahead of (or far behind) the wall
    clock, gives exactly what a replay gives.
    """

    lateness_ms: int = 2_000
    idle_s: float = 2.0
    live_skew_ms: int = 300_000
    last_rx: float = 0.0  # monotonic time of the last message
    live: bool = False

    def received(self, last_event_ts: int | None, wall_ms: int, mono: float) -> None:
        self.last_rx = mono
        if last_event_ts is not None:
            self.live = abs(wall_ms - last_event_ts) <= self.live_skew_ms

    def target(self, engine_now: int | None, wall_ms: int, mono: float, connected: bool
               ) -> int | None:
        """Engine time a tick should advance to (None: leave it where the events put it)."""
        if engine_now is None or not connected or not self.live:
            return None
        if mono - self.last_rx < self.idle_s:
            return None
        t = wall_ms - self.lateness_ms
        return t if t > engine_now else None
