"""The in-process store: the embedded default (demo, tests). Nothing outlives the process."""
from __future__ import annotations

import time
from bisect import bisect_left, bisect_right

from kefu_floor.store import Entry, Store, sid


class MemoryStore(Store):
    url = "memory"

    def __init__(self):
        self._streams: dict[str, tuple[list[tuple[int, int]], list[Entry]]] = {}
        self._last: dict[str, tuple[int, int]] = {}
        self._blobs: dict[str, bytes] = {}
        self._meta: dict[tuple[str, str], str] = {}
        self._records: dict[tuple[str, str], list[tuple[str, Entry]]] = {}
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._leases: dict[str, tuple[str, float]] = {}

    async def ping(self) -> None:
        return None

    async def journal_append(self, batches: dict[str, list[Entry]]) -> dict[str, list[str]]:
        out = {}
        ms = int(time.time() * 1000)
        for site, entries in batches.items():
            ids, rows = self._streams.setdefault(site, ([], []))
            last = self._last.get(site, (0, 0))
            got = []
            for e in entries:
                last = (ms, 0) if ms > last[0] else (last[0], last[1] + 1)
                ids.append(last)
                rows.append(dict(e))
                got.append(f"{last[0]}-{last[1]}")
            self._last[site] = last
            out[site] = got
        return out

    async def journal_read(self, site, after, count):
        ids, rows = self._streams.get(site, ([], []))
        i = 0 if after is None else bisect_right(ids, sid(after))
        return [(f"{a}-{b}", dict(rows[j])) for j, (a, b) in
                enumerate(ids[i:i + count], i)]

    async def journal_trim(self, site, keep_from):
        ids, rows = self._streams.get(site, ([], []))
        i = bisect_left(ids, sid(keep_from))
        del ids[:i], rows[:i]

    async def journal_len(self, site):
        return len(self._streams.get(site, ([], []))[0])

    async def checkpoint_put(self, site, blob):
        self._blobs[site] = bytes(blob)

    async def checkpoint_get(self, site):
        return self._blobs.get(site)

    async def meta_set(self, site, field, value):
        self._meta[site, field] = value

    async def meta_get(self, site, field):
        return self._meta.get((site, field))

    async def record_append(self, site, stream, entries):
        rec = self._records.setdefault((site, stream), [])
        seen = self._seen.setdefault((site, stream), set())
        added = 0
        for ident, e in entries:
            if ident not in seen:
                seen.add(ident)
                rec.append((f"{len(rec) + 1}-0", dict(e)))
                added += 1
        return added

    async def record_read(self, site, stream):
        return [(i, dict(e)) for i, e in self._records.get((site, stream), [])]

    async def lease(self, site, owner, ttl_ms):
        now = time.monotonic()
        held = self._leases.get(site)
        if held is None or held[0] == owner or held[1] <= now:
            self._leases[site] = (owner, now + ttl_ms / 1000)
            return True
        return False

    async def release(self, site, owner):
        if self._leases.get(site, ("",))[0] == owner:
            del self._leases[site]
