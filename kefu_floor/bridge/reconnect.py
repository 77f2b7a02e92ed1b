"""The bridges' reconnect loop: run a session until it ends, then again after a backoff
that doubles up to a cap and starts over after a session that got going. AMI and the
FreeSWITCH event socket share it (same shape, their own refusal error and log names)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def reconnecting(session: Callable[[], Awaitable[None]], what: str, log: logging.Logger,
                       refused: type[Exception], transient: tuple[type[Exception], ...],
                       backoff: tuple[float, float],
                       on_down: Callable[[], None] | None = None) -> None:
    """`refused`: the peer answered but said no (a wrong secret): logged as an error;
    `transient`: the peer is away or the connection broke: a warning. Anything else is a
    bug and ends the loop loudly."""
    delay = backoff[0]
    while True:
        try:
            await session()
            delay = backoff[0]
        except refused as e:
            log.error("%s: %s; retrying in %.0fs", what, e, delay)
        except transient as e:
            log.warning("%s unreachable (%s); retrying in %.1fs", what, e, delay)
        if on_down is not None:
            on_down()
        await asyncio.sleep(delay)
        delay = min(delay * 2, backoff[1])
