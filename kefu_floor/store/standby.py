"""Hot standby: which of two `serve` processes for a site is the active one.

Each process, before it restores state or connects to the broker, takes every site's lease
in the store (`SET kefu:{SITE}:lease OWNER NX PX ttl`, renewed every ttl/3 by a script that
only extends it for its owner). One that cannot waits as the standby, trying every ttl/5.
When the active process dies (kill -9, host lost) its lease expires and the standby takes
it, restores from checkpoint + journal and connects with the same client id, so the
broker's persistent session (and its queued messages) carries on.

Fencing: the active process journals (and so acknowledges) only while its lease was
confirmed within the last ttl (`may_write`), and exits as soon as a renewal finds the lease
held by another process, so two processes never both acknowledge messages.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from kefu_floor.errors import ConfigError
from kefu_floor.store import Store, StoreDown, key

log = logging.getLogger("kefu_floor.store")


class LeaseLost(ConfigError):
    """Another process holds the lease now: this one must stop."""


class Lease:
    def __init__(self, store: Store, sites: list[str], ttl_ms: int = 3000):
        self.store = store
        self.sites = sites
        self.ttl_ms = ttl_ms
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self._confirmed = 0.0  # monotonic time of the last renewal of every site's lease

    def may_write(self) -> bool:
        return time.monotonic() - self._confirmed < self.ttl_ms / 1000 * 0.9

    async def _take_all(self) -> list[str]:
        """Take/renew every site's lease; the sites whose lease another process holds."""
        t0 = time.monotonic()
        others = [s for s in self.sites if not await self.store.lease(s, self.owner, self.ttl_ms)]
        if not others:
            self._confirmed = t0
        return others

    async def acquire(self) -> float:
        """Wait until this process holds every site's lease; returns seconds waited."""
        t0 = time.monotonic()
        said = False
        while True:
            try:
                others = await self._take_all()
                if not others:
                    if said:
                        log.warning("took over the lease of %s after %.1fs as the standby",
                                    ", ".join(self.sites), time.monotonic() - t0)
                    return time.monotonic() - t0
                if not said:
                    log.warning("standby: the lease %s is held by another serve; taking over "
                                "when it expires (within %.1fs of that process stopping)",
                                ", ".join(key(s, "lease") for s in others), self.ttl_ms / 1000)
                    said = True
                if len(others) < len(self.sites):  # never hold part of the sites' leases
                    for s in self.sites:
                        if s not in others:
                            await self.store.release(s, self.owner)
            except StoreDown as e:
                log.warning("lease: store unreachable (%s); trying again", e)
            await asyncio.sleep(self.ttl_ms / 5000)

    async def keep(self) -> None:
        """Renew every ttl/3 until cancelled; raise LeaseLost when another process has it."""
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                others = await self._take_all()
            except StoreDown as e:
                if not self.may_write():
                    log.error("lease not renewed (%s): journaling (and acknowledging) paused "
                              "until it is", e)
                continue
            if others:
                raise LeaseLost(f"the lease {', '.join(key(s, 'lease') for s in others)} is "
                                "held by another serve process now; this one stops so only "
                                "one serves the site")

    async def release(self) -> None:
        for s in self.sites:
            try:
                await self.store.release(s, self.owner)
            except StoreDown:
                pass
