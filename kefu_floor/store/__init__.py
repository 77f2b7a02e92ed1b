"""The store port: where a site's journal, checkpoint, ledger record and lease live.

One narrow interface (`Store`) with two backends: `memory` (in-process, the embedded default
for the demo: nothing survives the process) and `redis` (redis.asyncio; a single server or a
Redis Cluster, detected at connect). Every key carries the site in a hash tag,
`kefu:{SITE}:…`, so all of a site's keys live in one cluster slot and a site's writes can
go in one pipeline.

Stream ids are Redis stream ids ("ms-seq") in both backends; `sid` turns one into a
comparable tuple.
"""
from __future__ import annotations

from kefu_floor.errors import ConfigError, KefuError

Entry = dict[bytes, bytes]  # one journal or ledger record: field -> value


class StoreDown(KefuError):
    """The store cannot be reached (or refused a write); nothing was written."""


def key(site: str, what: str) -> str:
    return f"kefu:{{{site}}}:{what}"


def sid(stream_id: str | bytes) -> tuple[int, int]:
    s = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = s.partition("-")
    return int(ms), int(seq or 0)


class Store:
    """What the service needs from durable storage, and nothing more."""

    url: str = ""

    async def ping(self) -> None:
        """Raise StoreDown unless the store answers."""
        raise NotImplementedError

    # journal: a per-site stream of accepted messages, appended before they are acked
    async def journal_append(self, batches: dict[str, list[Entry]]) -> dict[str, list[str]]:
        """Append each site's entries in order (one round trip); their stream ids."""
        raise NotImplementedError

    async def journal_read(self, site: str, after: str | None, count: int
                           ) -> list[tuple[str, Entry]]:
        """Up to `count` entries with an id above `after` (None: from the start)."""
        raise NotImplementedError

    async def journal_trim(self, site: str, keep_from: str) -> None:
        """Drop the entries with an id below `keep_from`."""
        raise NotImplementedError

    async def journal_len(self, site: str) -> int:
        raise NotImplementedError

    # checkpoint: one blob per site, replaced atomically
    async def checkpoint_put(self, site: str, blob: bytes) -> None:
        raise NotImplementedError

    async def checkpoint_get(self, site: str) -> bytes | None:
        raise NotImplementedError

    # small per-site facts (e.g. whether the journal was ever trimmed)
    async def meta_set(self, site: str, field: str, value: str) -> None:
        raise NotImplementedError

    async def meta_get(self, site: str, field: str) -> str | None:
        raise NotImplementedError

    # record streams (ledger, excuses): each entry has an identity; the store appends an
    # entry only if its identity was never recorded (one atomic step), so a restarted engine
    # that books the same deductions again records each exactly once
    async def record_append(self, site: str, stream: str, entries: list[tuple[str, Entry]]
                            ) -> int:
        """Append the (identity, entry) pairs not recorded before; returns how many were."""
        raise NotImplementedError

    async def record_read(self, site: str, stream: str) -> list[tuple[str, Entry]]:
        """(stream id, entry) in the order recorded."""
        raise NotImplementedError

    # lease: which of two `serve` processes is the active one
    async def lease(self, site: str, owner: str, ttl_ms: int) -> bool:
        """Take the lease if it is free or renew it if `owner` holds it; True if held."""
        raise NotImplementedError

    async def release(self, site: str, owner: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass

    # `async with open_store(url) as st:` closes it however the block ends
    async def __aenter__(self) -> "Store":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


def open_store(url: str) -> Store:
    """`memory`, `redis://[:pass@]host:port/db` or `rediss://…` (TLS)."""
    if url == "memory":
        from kefu_floor.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith(("redis://", "rediss://")):
        from kefu_floor.store.redis import RedisStore

        return RedisStore(url)
    raise ConfigError(f"--store {url!r}: expected 'memory', redis://[:password@]host:port/db "
                      "or rediss://… for TLS")


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    from urllib.parse import urlsplit

    p = urlsplit(url)
    if p.password is None:
        return url
    host = p.hostname or ""
    port = f":{p.port}" if p.port else ""
    user = p.username or ""
    return p._replace(netloc=f"{user}:***@{host}{port}").geturl()
