"""From an MQTT message to the engine, and when the wall clock may move engine time.

Pure logic, no sockets: `Ingest.handle_many` takes (topic, payload) pairs, `LiveClock` decides
what a 1-second tick may do. The MQTT adapter (`kefu_floor.live.mqtt`) only moves bytes.

A batch of payloads goes through the compiled payload scanner in one call
(`kefu_floor.payloadscan`): the payloads it is sure of become columns, checked (site, wall
clock, size) over the columns and fed with `Engine.feed_interned`; every other payload goes
whole through the strict decoder (`schema.decode_payload`), so its rejections and dead
letter are exactly the strict path's. `Ingest(scan=False)` is that strict path for every
payload, kept as the reference (tests/core/test_ingest_scan.py holds the two equal).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from kefu_floor.engine import Engine
from kefu_floor.errors import Rejected
from kefu_floor.linescan import EngineIds
from kefu_floor.payloadscan import PayloadScanner, Scanned
from kefu_floor.schema import MAX_DETAILS, Event, Rejections, decode_event, decode_payload
from kernels import jsonscan as J

_TS = attrgetter("ts")
EXCERPT = 2048  # bytes of the payload a dead letter carries
# the payload scanner's symbols (agent, queue, source, reason and site ids) beyond which
# its table starts again empty: ids the engines refused (over their caps) stay there
SYMBOLS_MAX = 200_000


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

    # False: every payload through the strict decoder and `Engine.feed` (the reference the
    # scanned path is tested against, like `replay --decoder strict`)
    scan: bool = True
    _scanner: PayloadScanner = field(default_factory=PayloadScanner, repr=False)
    _ids: dict[str, EngineIds] = field(default_factory=dict, repr=False)
    _site_of: dict[str, str | None] = field(default_factory=dict, repr=False)
    # engine tags of held events (decided in a later call) -> their event, for the dead
    # letter of one the engine rejects then (tags count up from the clock's ns at start,
    # so a restored engine's older tags are never taken for this process's)
    _held: dict[str, dict[int, Event]] = field(default_factory=dict, repr=False)
    _tag: int = field(default_factory=time.time_ns, repr=False)

    def handle_many(self, messages: list[tuple[str, bytes]]) -> int:
        """Decode every message, then feed each site's good events in one kernel call, in
        the messages' order. Returns the number of events fed."""
        if not self.scan:
            return self._handle_strict(messages)
        return self._handle_scanned(messages)

    def _handle_strict(self, messages: list[tuple[str, bytes]]) -> int:
        per_site: dict[str, list[Event]] = {}
        for topic, payload in messages:
            site = site_of(topic)
            eng = self.engines.get(site)
            if eng is None:
                continue  # not subscribed to that; a wildcard broker bridge may send it
            good = self._decode(eng, topic, payload, self._limit())
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

    def _limit(self) -> int | None:
        return None if self.wall_ahead_ms is None else self.wall_ms() + self.wall_ahead_ms

    def _decode(self, eng: Engine, topic: str, payload: bytes, limit: int | None
                ) -> list[Event]:
        """The strict path of one payload: its good events; its rejections dead-lettered."""
        if len(payload) > self.max_payload:
            self._reject(eng, topic, payload, [Rejected(
                "too_large", f"payload of {len(payload)} bytes is over the limit of "
                f"{self.max_payload}; not read")])
            return []
        good, bad = decode_payload(payload)
        if good:
            good, wrong = eng.check_site(good)
            bad += wrong
        if good and limit is not None:
            if max(map(_TS, good)) > limit:
                keep = []
                for e in good:
                    if e.ts > limit:
                        bad.append(self._skewed(e.ts, limit))
                    else:
                        keep.append(e)
                good = keep
        if bad:
            self._reject(eng, topic, payload, bad)
        return good

    def _skewed(self, ts: int, limit: int) -> Rejected:
        return Rejected("clock_skew", f"ts {ts} is {ts - limit + self.wall_ahead_ms} ms "
                        f"ahead of the wall clock (limit {self.wall_ahead_ms} ms)", None)

    # ------------------------------------------------------------- the scanned path
    def _site(self, topic: str) -> str | None:
        site = self._site_of.get(topic, 0)
        if site == 0:
            if len(self._site_of) > 10_000:  # topics are the sites' few; bound a flood
                self._site_of.clear()
            site = self._site_of[topic] = site_of(topic)
        return site

    def _handle_scanned(self, messages: list[tuple[str, bytes]]) -> int:
        """The same as `_handle_strict`, payload for payload: the payloads the compiled
        scanner is sure of become columns (`kefu_floor.payloadscan`), the others go whole
        through `_decode`; the site, clock-skew and size checks run over the columns."""
        engines = self.engines
        mine = [(t, p, s) for t, p in messages if (s := self._site(t)) in engines]
        if not mine:
            return 0
        topics_, payloads, sites = zip(*mine)
        if self._scanner.sym.S[0] > SYMBOLS_MAX:
            self._scanner.reset()  # ids interned for the engines stay theirs
            self._ids.clear()
        big = np.fromiter(map(len, payloads), np.int64, len(payloads)) > self.max_payload
        # a payload over the size limit is not read (_decode rejects it), nor scanned
        sc = self._scanner.scan([b"" if k else p for p, k in zip(payloads, big.tolist())]
                                if big.any() else payloads)
        limit = self._limit()
        RI = sc.RI
        site_names = list(dict.fromkeys(sites))
        code = {s: k for k, s in enumerate(site_names)}
        pay_site = np.fromiter(map(code.__getitem__, sites), np.int64, len(sites))
        row_site = pay_site[RI[:, J.R_LINE]]
        # rows to leave out of their payload's events: another site's, or ahead of the
        # wall clock (their payload gets the dead letter _decode would write)
        drop = np.zeros(len(RI), np.bool_)
        named = RI[:, J.R_SITE]
        if (named >= 0).any():
            names = self._scanner.sym.names
            for s in np.unique(named[named >= 0]).tolist():
                at = named == s
                for c, site in enumerate(site_names):
                    if names[s] != site:
                        drop |= at & (row_site == c)
        if limit is not None:
            drop |= RI[:, J.R_TS] > limit
        flagged = np.unique(RI[drop, J.R_LINE]) if drop.any() else np.zeros(0, np.int64)
        # payloads decided in Python, in order: too large, not sure, or with dropped rows
        odd = np.flatnonzero(~sc.sure | big)
        strict: dict[int, list[Event]] = {}
        for k in np.union1d(odd, flagged).tolist():
            eng = engines[sites[k]]
            if not sc.sure[k] or big[k]:
                strict[k] = self._decode(eng, topics_[k], payloads[k], limit)
            else:
                self._flagged(eng, topics_[k], payloads[k], sc, k, drop, limit)
        keep = ~drop
        fed = 0
        received_ms = int(time.time() * 1000)  # for the clock-skew count (kefu_floor.stats)
        # each site's first payload with an event to feed: the sites are fed in that order
        # (the order of the engines' dead letters)
        firsts: dict[int, int] = {}
        for k, evs in strict.items():
            if evs:
                firsts.setdefault(int(pay_site[k]), k)
        kept = np.flatnonzero(keep)
        if len(kept):
            cs, at = np.unique(row_site[kept], return_index=True)
            for c, row in zip(cs.tolist(), kept[at].tolist()):
                k = int(RI[row, J.R_LINE])
                firsts[c] = min(firsts.get(c, k), k)
        for c, _ in sorted(firsts.items(), key=lambda x: x[1]):
            site = site_names[c]
            rows = keep & (row_site == c) if len(site_names) > 1 else keep
            fed += self._feed(engines[site], site, sc, rows,
                              [(k, evs) for k, evs in strict.items()
                               if evs and pay_site[k] == c], received_ms)
        return fed

    def _flagged(self, eng: Engine, topic: str, payload: bytes, sc: Scanned, k: int,
                 drop: np.ndarray, limit: int | None) -> None:
        """The dead letter `_decode` writes for a sure payload some of whose events are
        another site's or ahead of the wall clock (`drop`), from its columns."""
        RI = sc.RI
        lo, hi = int(sc.first[k]), int(sc.first[k + 1])
        names = self._scanner.sym.names
        wrong, skew = [], []
        for j, row in enumerate(range(lo, hi)):
            s = int(RI[row, J.R_SITE])
            if s >= 0 and names[s] != eng.site:
                wrong.append(eng.wrong_site(names[s], j))
            elif drop[row]:
                skew.append(self._skewed(int(RI[row, J.R_TS]), limit))
        self._reject(eng, topic, payload, wrong + skew)

    def _feed(self, eng: Engine, site: str, sc: Scanned, rows: np.ndarray,
              strict: list[tuple[int, list[Event]]], received_ms: int) -> int:
        """One site's events of the call, in payload order: the scanned rows `rows` and the
        strictly decoded payloads' events, in one engine call."""
        RI, RN = sc.RI[rows], sc.RN[rows]
        fev: list[Event] = []
        fpos = np.zeros(0, np.int64)
        if strict:
            # each strict payload's events go where its index falls among the rows'
            fk = np.concatenate([np.full(len(evs), k, np.int64) for k, evs in strict])
            fev = [e for _, evs in strict for e in evs]
            n = len(RI) + len(fev)
            fpos = np.searchsorted(RI[:, J.R_LINE], fk, "left") + np.arange(len(fk))
            at = np.ones(n, np.bool_)
            at[fpos] = False
            RI2 = np.full((n, J.R_K), -1, np.int64)
            RN2 = np.zeros(n)
            RI2[at] = RI
            RN2[at] = RN
            RI2[fpos, J.R_OK] = 0
            RI, RN = RI2, RN2
        n = len(RI)
        if n == 0:
            return 0
        scanned = RI[:, J.R_OK] == 1
        tag0 = self._tag
        self._tag += n
        tags = np.arange(tag0, tag0 + n, dtype=np.int64)
        ids = self._ids.get(site)
        if ids is None or ids.sym is not self._scanner.sym:
            ids = self._ids[site] = EngineIds(eng, self._scanner.sym)
        if ids.intern(RI, scanned, fpos, fev, np.ones(n, np.bool_)):
            out = eng.feed_interned(ids.batch(RI, RN, fpos, fev), tags, received_ms)
            events = None
        else:  # a cap would be reached: the engine decides event by event, as it always did
            events = self._events(sc, np.flatnonzero(rows), RI, fpos, fev)
            out = eng.feed(events, received_ms, tags=tags.tolist())
        if out:
            for r, tag, ev in out:  # counted by the engine
                if ev is None:
                    ev = (self._held.get(site, {}).get(tag) if not tag0 <= tag < tag0 + n
                          else events[tag - tag0] if events is not None
                          else self._event_at(sc, RI, fpos, fev, tag - tag0))
                self._reject(eng, "", _encode_one(ev) if ev is not None else b"", [r],
                             engine=True)
        self._keep_held(site, eng, sc, RI, fpos, fev, events, tag0, n)
        return n

    def _event_at(self, sc: Scanned, RI, fpos, fev, p: int) -> Event:
        if RI[p, J.R_OK] == 1:
            return decode_event(sc.buf[RI[p, J.R_LO]: RI[p, J.R_HI]].tobytes(), scanned=True)
        return fev[int(np.searchsorted(fpos, p))]

    def _events(self, sc: Scanned, src_rows, RI, fpos, fev) -> list[Event]:
        """Every row as its Event: the scanned ones (rows `src_rows` of the scan, in order)
        decoded a payload at a time, as the strict path decodes them."""
        out: list = [None] * len(RI)
        for p, e in zip(fpos.tolist(), fev):
            out[p] = e
        decoded: dict[int, list[Event]] = {}
        for p, row in zip(np.flatnonzero(RI[:, J.R_OK] == 1).tolist(), src_rows.tolist()):
            k = int(sc.RI[row, J.R_LINE])
            evs = decoded.get(k)
            if evs is None:
                evs = decoded[k] = decode_payload(sc.payload(k))[0]  # sure: every element
            out[p] = evs[row - int(sc.first[k])]
        return out

    def _keep_held(self, site: str, eng: Engine, sc: Scanned, RI, fpos, fev, events,
                   tag0: int, n: int) -> None:
        """Remember the events of this call the engine holds (for their dead letter should
        it reject them later), and forget those it no longer holds."""
        held = eng.held_tags
        mem = self._held.get(site)
        if not len(held):
            if mem:
                mem.clear()
            return
        live = set(held.tolist())
        mem = self._held.setdefault(site, {})
        for t in [t for t in mem if t not in live]:
            del mem[t]
        for t in live:
            if tag0 <= t < tag0 + n and t not in mem:
                mem[t] = (events[t - tag0] if events is not None
                          else self._event_at(sc, RI, fpos, fev, t - tag0))

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
