"""Journal first, then apply, then acknowledge; checkpoints; restart; the ledger record.

`Durable.handle(messages)` returns only once the messages are in the site's journal
(retrying while the store is down, so nothing is acknowledged meanwhile) and applied to the
engines; the MQTT adapter acknowledges them after it returns. The engines only ever see
journaled messages, so `recover()` (checkpoint + journal tail) rebuilds exactly the state
that was acknowledged, and more.

Redeliveries: a message journaled but not yet acknowledged when the process (or the broker
connection) died is sent again by the broker with the DUP flag. Events with `src`/`seq` are
deduplicated by the engine; for the others a window of digests of the most recently
journaled messages (kept in the checkpoint and rebuilt from the journal tail) recognises a
DUP message that was already journaled, and it is acknowledged without being applied again.

Ordering: the MQTT task (`handle`) and the ticker (`tick`, `after_change`) run
concurrently on one loop. One lock makes "append to the journal, apply, move `last_id`",
a tick, and "copy the state with the position it covers" each indivisible, so the engines
apply exactly the journal's order and a checkpoint is a state the journal reached. Writing
the copy and trimming the journal behind it happen outside that lock (batches go on), one
checkpoint at a time, and a trim never passes the position its checkpoint covers (trimming
to a `last_id` moved by a batch journaled while the checkpoint was being written lost that
batch on the next restart).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kefu_floor.errors import ConfigError
from kefu_floor.live.ingest import site_of
from kefu_floor.store import Store, StoreDown, key, records, state
from kernels import layout as K

log = logging.getLogger("kefu_floor.store")


@dataclass
class DurableConfig:
    checkpoint_s: float = 10.0  # a checkpoint at most this often ...
    checkpoint_events: int = 500_000  # ... or after this many journaled messages
    window: int = 20_000  # digests of recently journaled messages (redelivery recognition)
    retry_s: float = 0.5  # store down: try again this often
    read_chunk: int = 5_000  # journal entries per read on restart


@dataclass
class StoreStatus:
    ok: bool = True
    since_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    detail: str = ""

    def as_dict(self) -> dict:
        d = {"ok": self.ok, "since": self.since_ms}
        if not self.ok:
            d["detail"] = self.detail
        return d


def journal_entry(site: str, e) -> tuple[int | None, str, bytes]:
    """One journal entry of `site`: (tick time, "", b"") for a clock tick, else (None,
    topic, payload). ValueError (saying why) for an entry that does not decode."""
    try:
        if e.get(b"k") == b"tick":
            return int(e[b"t"]), "", b""
        topic, payload = e[b"t"].decode(), bytes(e[b"p"])
    except (KeyError, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from None
    if site_of(topic) != site:
        raise ValueError(f"topic {topic!r} is not site {site!r}'s")
    return None, topic, payload


def digest(topic: str, payload: bytes) -> bytes:
    return hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=8).digest()


def apply_journal(site: str, rows, eng, apply: Callable[[list[tuple[str, bytes]]], None],
                  on_bad: Callable[[str, ValueError], None],
                  on_message: Callable[[str, bytes], None] | None = None) -> int:
    """Re-apply journal rows of `site` in their order: runs of messages through `apply`,
    each clock tick to `eng` between them (a restart of `serve` and the close's read-only
    rebuild both do exactly this). Returns how many messages were applied."""
    msgs: list[tuple[str, bytes]] = []
    n = 0
    for rid, e in rows:
        try:
            tick, topic, payload = journal_entry(site, e)
        except ValueError as err:
            on_bad(rid, err)
            continue
        if tick is not None:
            if msgs:
                apply(msgs)
                msgs = []
            eng.tick(tick)
            continue
        msgs.append((topic, payload))
        if on_message is not None:
            on_message(topic, payload)
        n += 1
    if msgs:
        apply(msgs)
    return n


class _Window:
    """The digests of the last `size` journaled messages, with counts."""

    def __init__(self, size: int):
        self.size = size
        self.order: deque[bytes] = deque()
        self.count: Counter[bytes] = Counter()

    def add(self, d: bytes) -> None:
        self.order.append(d)
        self.count[d] += 1
        while len(self.order) > self.size:
            old = self.order.popleft()
            self.count[old] -= 1
            if not self.count[old]:
                del self.count[old]

    def take(self, d: bytes) -> bool:
        """True (and forget one) if `d` was journaled recently."""
        if self.count.get(d):
            self.count[d] -= 1
            if not self.count[d]:
                del self.count[d]
            return True
        return False

    def dump(self) -> str:
        return base64.b64encode(b"".join(self.order)).decode()

    def load(self, s: str) -> None:
        raw = base64.b64decode(s)
        for i in range(0, len(raw), 8):
            self.add(raw[i:i + 8])


class Durable:
    def __init__(self, store: Store, engines: dict, apply: Callable[[list[tuple[str, bytes]]], None],
                 cfg: DurableConfig | None = None, archive=None):
        self.store = store
        self.archive = archive  # kefu_floor.store.archive.Archive or None
        self.may_write: Callable[[], bool] = lambda: True  # the standby lease's fence
        self.engines = engines
        self.apply = apply
        self.cfg = cfg or DurableConfig()
        self.status = StoreStatus()
        self.last_id: dict[str, str | None] = {s: None for s in engines}
        self.window = {s: _Window(self.cfg.window) for s in engines}
        self.recorded = {s: {records.LEDGER: 0, records.EXCUSES: 0} for s in engines}
        for eng in engines.values():
            eng.ledger_pin = 0  # a day roll drops no row the ledger record has not got
        self.redelivered = 0  # DUP messages recognised as already journaled
        self.bad_entries = 0  # journal entries that did not decode on restart
        self.checkpoints = 0
        self._since_ckpt = 0
        self._ckpt_at = time.monotonic()
        self._trimmed_marked: set[str] = set()
        self._lock = asyncio.Lock()  # journal+apply, tick, a checkpoint's copy: see the docstring
        self._ckpt_lock = asyncio.Lock()  # one checkpoint at a time (copy, write, trim)
        self._frozen: dict[str, state.Frozen] = {}  # each site's last copy, written over next

    # ---------------------------------------------------------------- store health
    def _down(self, e: Exception) -> None:
        if self.status.ok:
            self.status = StoreStatus(False, detail=str(e))
            log.error("store down (%s): not acknowledging the broker until it is back; the "
                      "broker keeps the messages", e)

    def _up(self) -> None:
        if not self.status.ok:
            log.warning("store back after %.1fs: journaling and acknowledging again",
                        (time.time() * 1000 - self.status.since_ms) / 1000)
            self.status = StoreStatus(True)

    async def health(self) -> None:
        """Ask the store (once a tick), so the feed says "store down" even when idle."""
        try:
            await self.store.ping()
        except StoreDown as e:
            self._down(e)
            return
        self._up()

    async def _retrying(self, what, fn):
        while True:
            try:
                out = await fn()
                self._up()
                return out
            except StoreDown as e:
                self._down(e)
                await asyncio.sleep(self.cfg.retry_s)

    # ---------------------------------------------------------------- restart
    async def recover(self) -> None:
        for site in self.engines:
            await self._recover_site(site)
        await self.sync_records()

    async def _recover_site(self, site: str) -> None:
        eng = self.engines[site]
        k = key(site, "checkpoint")
        blob = await self._retrying("checkpoint", lambda: self.store.checkpoint_get(site))
        trimmed = await self._retrying("meta", lambda: self.store.meta_get(site, "trimmed"))
        after = None
        if blob is not None:
            try:
                extra = state.restore(eng, blob)
                after = extra.get("journal")
                self.window[site].load(extra.get("digests", ""))
                # rows the checkpointed engine had recorded; later ones are offered again
                # (the store keeps each identity once)
                self.recorded[site].update(extra.get("recorded", {}))
                eng.ledger_pin = self.recorded[site][records.LEDGER]
                log.info("site %s: restored checkpoint %s (journal position %s)", site, k, after)
            except state.CheckpointError as e:
                if trimmed:
                    raise ConfigError(
                        f"site {site}: checkpoint {k} cannot be used ({e}) and the journal was "
                        "trimmed behind it, so the state cannot be rebuilt; refusing to start. "
                        "Re-score the month from the --archive files with `replay`, or delete "
                        f"{k} and {key(site, 'journal')} to start the site empty") from None
                log.error("site %s: checkpoint %s cannot be used (%s); rebuilding from the "
                          "whole journal %s", site, k, e, key(site, "journal"))
        elif trimmed:
            raise ConfigError(
                f"site {site}: checkpoint {k} is missing but the journal was trimmed behind an "
                "earlier one, so the state cannot be rebuilt; refusing to start (restore the "
                "Redis data, or re-score from the --archive files with `replay`)")
        n = 0
        while True:
            rows = await self._retrying("journal", lambda a=after: self.store.journal_read(
                site, a, self.cfg.read_chunk))
            if not rows:
                break
            n += self._apply_entries(site, rows)
            after = rows[-1][0]
        self.last_id[site] = after
        if n:
            log.info("site %s: re-applied %d journaled messages after the checkpoint", site, n)

    def _apply_entries(self, site: str, rows) -> int:
        def bad(rid, err) -> None:
            self.bad_entries += 1
            log.error("journal %s entry %s does not decode (%s); skipped",
                      key(site, "journal"), rid, err)

        def apply(msgs) -> None:
            self.apply(msgs)
            if self.archive is not None:  # every run of messages, also those before a tick
                self.archive.add(site, [p for _, p in msgs])

        window = self.window[site]
        return apply_journal(site, rows, self.engines[site], apply, bad,
                             lambda t, p: window.add(digest(t, p)))

    # ---------------------------------------------------------------- live path
    async def handle(self, messages) -> None:
        """`messages`: objects with .topic, .payload and .dup. Returns once they are
        journaled and applied (or recognised as redeliveries)."""
        now = str(int(time.time() * 1000)).encode()
        per_site: dict[str, list] = {}
        redelivered = self.redelivered
        for m in messages:
            topic, payload = str(m.topic), bytes(m.payload)
            site = site_of(topic)
            if site not in self.engines:
                continue  # not ours (a bridge with a wildcard may send it): not journaled
            d = digest(topic, payload)
            if getattr(m, "dup", False) and self.window[site].take(d):
                self.redelivered += 1
                continue
            per_site.setdefault(site, []).append((topic, payload, d))
        if self.redelivered > redelivered:
            log.info("%d redelivered messages were journaled already: acknowledged, not "
                     "applied again (%d in all)", self.redelivered - redelivered,
                     self.redelivered)
        if not per_site:
            return
        batch_id = os.urandom(6).hex().encode()
        entries = {s: [{b"t": t.encode(), b"p": p, b"r": now} for t, p, _ in ms]
                   for s, ms in per_site.items()}
        for es in entries.values():
            es[-1][b"b"] = batch_id
        async with self._lock:
            while not self.may_write():  # lease unconfirmed: another process may be active
                await asyncio.sleep(self.cfg.retry_s)
            ids = await self._retrying("journal", lambda: self._append_once(entries, batch_id))
            flat = []
            for site, ms in per_site.items():
                w = self.window[site]
                for _, _, d in ms:
                    w.add(d)
                self.last_id[site] = ids[site][-1]
                flat.extend((t, p) for t, p, _ in ms)
                self._since_ckpt += len(ms)
                if self.archive is not None:
                    self.archive.add(site, [p for _, p, _ in ms])
            self.apply(flat)
        await self.after_change()

    async def _append_once(self, entries, batch_id: bytes) -> dict[str, list[str]]:
        """Append; after a failure whose outcome is unknown (the reply was lost), look at the
        journal first so the batch is never journaled twice."""
        if getattr(self, "_unsure", False):
            found = {}
            for site, es in entries.items():
                tail = await self.store.journal_read(site, self.last_id[site], len(es) + 1)
                if len(tail) == len(es) and tail[-1][1].get(b"b") == batch_id:
                    found[site] = [i for i, _ in tail]
            if len(found) == len(entries):
                self._unsure = False
                return found
            if found:  # one site's part got in and another's did not: write only the rest
                rest = {s: es for s, es in entries.items() if s not in found}
                got = await self.store.journal_append(rest)
                self._unsure = False
                return {**found, **got}
        self._unsure = True
        out = await self.store.journal_append(entries)
        self._unsure = False
        return out

    async def tick(self, site: str, t: int) -> None:
        """Journal a clock tick of site `site` to `t`, then apply it (skipped, not retried,
        while the store is down: the next tick will move the clock)."""
        async with self._lock:
            if not self.may_write():
                return
            try:
                got = await self.store.journal_append(
                    {site: [{b"k": b"tick", b"t": str(int(t)).encode()}]})
            except StoreDown as e:
                self._down(e)
                return
            self._up()
            self.last_id[site] = got[site][-1]
            self.engines[site].tick(int(t))
        await self.after_change()

    async def after_change(self) -> None:
        await self.sync_records()
        if self._due():
            await self.checkpoint(only_if_due=True)

    def _due(self) -> bool:
        return (self._since_ckpt >= self.cfg.checkpoint_events
                or time.monotonic() - self._ckpt_at >= self.cfg.checkpoint_s)

    # ---------------------------------------------------------------- records, checkpoints
    async def sync_records(self) -> None:
        """Append the ledger rows and excuses booked since the last call (a failure leaves
        them for the next call: the engine still has them)."""
        async with self._lock:
            await self._sync_records()

    async def _sync_records(self) -> None:
        for site, eng in self.engines.items():
            done = self.recorded[site]
            # global ledger rows (every row ever booked), so a day roll that dropped old
            # rows from the engine moves nothing here
            nl, nx = eng.ledger_booked, int(eng.G[K.G_EXCUSE_N])
            try:
                if nl > done[records.LEDGER]:
                    await self.store.record_append(site, records.LEDGER, records.encode(
                        records.ledger_entries(eng, done[records.LEDGER], nl)))
                    done[records.LEDGER] = nl
                    eng.ledger_pin = nl
                if nx > done[records.EXCUSES]:
                    await self.store.record_append(site, records.EXCUSES, records.encode(
                        records.excuse_entries(eng, done[records.EXCUSES], nx)))
                    done[records.EXCUSES] = nx
            except StoreDown as e:
                self._down(e)
                return

    async def checkpoint(self, only_if_due: bool = False) -> bool:
        """Write every site's state with the journal position it covers, then trim the
        journal behind it. False if the store was down (tried again later).
        `only_if_due`: unless another caller wrote one while this one waited for the lock
        (the MQTT task and the ticker can both find one due at the same moment).

        Only the copy of the state holds the store lock (`state.freeze`: 0.1 s at 20,000
        agents); compressing it runs in a thread and writing it awaits the store, while
        batches go on being journaled and applied. Checkpoints themselves are one at a
        time (`_ckpt_lock`): an older one must never land after a newer one's trim."""
        async with self._ckpt_lock:
            async with self._lock:
                if only_if_due and not self._due():
                    return True
                self._ckpt_at = time.monotonic()
                counted = self._since_ckpt
                if self.archive is not None:
                    self.archive.flush()  # the archive covers at least what it covers
                frozen = []
                for site, eng in self.engines.items():
                    pos = self.last_id[site]  # what this checkpoint covers: the trim's limit
                    if pos is not None:
                        frozen.append((site, pos, state.freeze(eng, {
                            "journal": pos, "digests": self.window[site].dump(),
                            "recorded": dict(self.recorded[site]),
                            "written_ms": int(time.time() * 1000)},
                            reuse=self._frozen.get(site))))
            for site, pos, fz in frozen:
                blob = await asyncio.to_thread(fz.encode)
                self._frozen[site] = fz  # encoded: its copies serve the next checkpoint
                if not self.may_write():
                    # the standby lease went unconfirmed while this was encoded: another
                    # process may be active, and a stale checkpoint (and its trim) would
                    # overwrite its newer one; the next checkpoint tries again
                    return False
                try:
                    await self.store.checkpoint_put(site, blob)
                    if site not in self._trimmed_marked:
                        await self.store.meta_set(site, "trimmed", "1")
                        self._trimmed_marked.add(site)
                    await self.store.journal_trim(site, pos)
                except StoreDown as e:
                    self._down(e)
                    return False
            # messages journaled while this one was written count towards the next
            self._since_ckpt = max(0, self._since_ckpt - counted)
            self.checkpoints += 1
            return True
