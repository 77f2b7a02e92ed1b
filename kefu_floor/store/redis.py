"""The Redis backend (redis.asyncio): one server, or a Redis Cluster (found at connect).

Every failure to reach Redis is `StoreDown`; the caller decides what stops meanwhile (the
service stops acknowledging the broker). A site's keys share one hash tag, so a site's
journal batch is one pipeline to one node; on a single server it is also one MULTI/EXEC, so
a batch is journaled whole or not at all.
"""
from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from kefu_floor.errors import ConfigError
from kefu_floor.store import Entry, Store, StoreDown, key, redact

log = logging.getLogger("kefu_floor.store")

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RECORD = """
local added = 0
for i = 1, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1], '*', 'k', ARGV[i], 'j', ARGV[i + 1])
    added = added + 1
  end
end
return added
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _entry_id(e) -> str:
    return e.decode() if isinstance(e, bytes) else str(e)


class RedisStore(Store):
    def __init__(self, url: str, timeout_s: float = 2.0):
        self.url = url
        self.display = redact(url)
        self.timeout_s = timeout_s
        self.cluster = False
        self._r = None
        try:
            self._opts = dict(socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
            aioredis.from_url(url, **self._opts)  # validates the URL now, not at first use
        except ValueError as e:
            raise ConfigError(f"--store {self.display}: {e}") from None

    async def _client(self):
        if self._r is not None:
            return self._r
        r = aioredis.from_url(self.url, **self._opts)
        try:
            info = await r.info("cluster")
        except RedisError as e:
            await r.aclose()
            raise StoreDown(f"redis {self.display}: {e}") from None
        if info.get("cluster_enabled"):
            await r.aclose()
            from redis.asyncio.cluster import RedisCluster

            r = RedisCluster.from_url(self.url, **self._opts)
            try:
                await r.initialize()
            except RedisError as e:
                raise StoreDown(f"redis cluster {self.display}: {e}") from None
            self.cluster = True
        self._r = r
        return r

    async def _call(self, fn):
        try:
            return await fn(await self._client())
        except (RedisError, OSError) as e:
            raise StoreDown(f"redis {self.display}: {e or type(e).__name__}") from None

    async def ping(self) -> None:
        await self._call(lambda r: r.ping())

    async def journal_append(self, batches: dict[str, list[Entry]]) -> dict[str, list[str]]:
        async def go(r):
            pipe = r.pipeline(transaction=not self.cluster)
            sizes = []
            for site, entries in batches.items():
                k = key(site, "journal")
                for e in entries:
                    pipe.xadd(k, e)
                sizes.append((site, len(entries)))
            res = await pipe.execute()
            out, i = {}, 0
            for site, n in sizes:
                out[site] = [_entry_id(x) for x in res[i:i + n]]
                i += n
            return out

        return await self._call(go)

    async def journal_read(self, site, after, count):
        lo = "-" if after is None else f"({after}"
        rows = await self._call(lambda r: r.xrange(key(site, "journal"), lo, "+", count=count))
        return [(_entry_id(i), e) for i, e in rows]

    async def journal_trim(self, site, keep_from):
        await self._call(lambda r: r.xtrim(key(site, "journal"), minid=keep_from,
                                           approximate=False))

    async def journal_len(self, site):
        return await self._call(lambda r: r.xlen(key(site, "journal")))

    async def checkpoint_put(self, site, blob):
        await self._call(lambda r: r.set(key(site, "checkpoint"), blob))  # one SET: atomic

    async def checkpoint_get(self, site):
        return await self._call(lambda r: r.get(key(site, "checkpoint")))

    async def meta_set(self, site, field, value):
        await self._call(lambda r: r.hset(key(site, "meta"), field, value))

    async def meta_get(self, site, field):
        v = await self._call(lambda r: r.hget(key(site, "meta"), field))
        return None if v is None else v.decode()

    async def record_append(self, site, stream, entries):
        total = 0
        for i in range(0, len(entries), 500):  # one script call per 500: short, atomic steps
            argv = []
            for ident, e in entries[i:i + 500]:
                argv += [ident, e[b"j"]]
            total += int(await self._call(lambda r, a=argv: r.eval(
                _RECORD, 2, key(site, stream), key(site, stream + ":ids"), *a)))
        return total

    async def record_read(self, site, stream):
        out, lo = [], "-"
        while True:
            rows = await self._call(lambda r, lo=lo: r.xrange(key(site, stream), lo, "+",
                                                             count=10_000))
            for i, e in rows:
                out.append((_entry_id(i), e))
            if len(rows) < 10_000:
                return out
            lo = f"({_entry_id(rows[-1][0])}"

    async def lease(self, site, owner, ttl_ms):
        got = await self._call(lambda r: r.eval(_RENEW, 1, key(site, "lease"), owner, ttl_ms))
        return bool(got)

    async def release(self, site, owner):
        await self._call(lambda r: r.eval(_RELEASE, 1, key(site, "lease"), owner))

    async def close(self) -> None:
        if self._r is not None:
            try:
                await self._r.aclose()
            except (RedisError, OSError):
                pass
            self._r = None
