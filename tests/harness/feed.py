"""A real live feed for the TUI's tests: `FeedServer` is the websocket feed of
`kefu_floor.live.wsfeed` (FeedHub over an Engine fed the hand-worked scenario), in a thread with
its own event loop, so an app run by `App.run`/`run_test` in the test's loop talks to it
over a socket like in production."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from zoneinfo import ZoneInfo

from harness.handworked import SITE, hw_events, hw_setup
from kefu_floor.engine import Engine, Setup
from kefu_floor.views.floorview import FloorView
from kefu_floor.localtime import parse_month
from kefu_floor.views.report import build_report
from kefu_floor.schema import decode_event
from kefu_floor.live.wsfeed import FeedHub

TZ = ZoneInfo("Asia/Shanghai")
MIDNIGHT_DAY2 = 1793750400000 - 8 * 3_600_000  # 2026-11-04 00:00 local (08:00 is ...400000)
DEC1 = 1_796_054_400_000  # 2026-12-01 00:00 local


def local_ms(day: int, hh: int, mm: int, ss: int = 0) -> int:
    """ms of 2026-11-<day> hh:mm:ss in the site's zone (UTC+8)."""
    return 1793664000000 + (day - 3) * 86_400_000 + ((hh - 8) * 3600 + mm * 60 + ss) * 1000


def events_between(lo: int | None, hi: int) -> list[dict]:
    """Scenario events with lo <= ts < hi (lo None: from the start), in file order."""
    return [e for e in hw_events() if (lo is None or e["ts"] >= lo) and e["ts"] < hi]


class FeedServer:
    """The real live feed over one engine, served from a thread; start/stop keep the port."""

    def __init__(self, interval: float = 0.1, setup: Setup | None = None):
        self.interval = interval
        self.setup = setup  # default: the hand-worked scenario's (hw_setup())
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True, name="feed-server")
        self._cm = None
        self.serving = False

    # ---------------------------------------------------------------- thread
    def _main(self) -> None:
        asyncio.run(self._amain())

    async def _amain(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.eng = Engine(self.setup or hw_setup())
        self.view = FloorView(self.eng)
        self.hub = FeedHub({SITE: self.view}, report_fn=self._report, interval=self.interval)
        self._done = asyncio.Event()
        runner = asyncio.create_task(self.hub.run())
        await self._open()
        self._ready.set()
        await self._done.wait()
        runner.cancel()
        if self.serving:
            await self._close()

    def _report(self, site: str, month: str | None) -> dict:
        return build_report(self.eng.finish(), parse_month(month) if month else None)

    async def _open(self) -> None:
        self._cm = self.hub.serve("127.0.0.1", self.port)
        server = await self._cm.__aenter__()
        self.port = next(iter(server.sockets)).getsockname()[1]
        self.serving = True

    async def _close(self) -> None:
        cm, self._cm = self._cm, None
        self.serving = False
        await cm.__aexit__(None, None, None)

    def _run(self, coro, timeout: float = 20.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _arun(self, coro):
        """From another event loop (a test's, an app's): wait without blocking that loop,
        which may have to answer the server (a close handshake)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    # ---------------------------------------------------------------- test side
    def start(self) -> "FeedServer":
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("feed server did not start")
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def stop_serving(self) -> None:
        """Close the listening socket and every connection (the service going away)."""
        await self._arun(self._close())

    async def start_serving(self) -> None:
        """Listen again on the same port, same engine (the service coming back)."""
        await self._arun(self._open())

    async def _feed(self, events: list[dict], each: bool) -> int:
        groups = [[e] for e in events] if each else [events]
        for g in groups:
            if g:
                self.eng.feed([decode_event(json.dumps(e)) for e in g])
            self.hub.alerts()
            self.hub.publish_deltas()
        return self.eng.now

    def feed(self, events: list[dict], each: bool = False) -> int:
        """Feed events to the engine and push their alerts and a delta (with `each`, a
        delta per event, as a slow floor sends them); returns the engine time after them.
        From a test's thread with no loop running."""
        return self._run(self._feed(events, each))

    async def afeed(self, events: list[dict], each: bool = False) -> int:
        """`feed` from inside a running loop (a Pilot test)."""
        return await self._arun(self._feed(events, each))

    def finish(self) -> None:
        """Book what is due by engine time and push it, as the live service's ticker does
        every second (reading a report no longer does it as a side effect)."""
        def go():
            self.eng.finish()
            self.hub.alerts()
            self.hub.publish_deltas()
        self.call(go)

    def call(self, fn):
        async def go():
            return fn()
        return self._run(go())

    def close(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._done.set)
        self._thread.join(10)


async def until(cond, timeout: float = 10.0, what: str = "condition", pause=None) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        if pause is not None:
            await pause(0.02)
        else:
            await asyncio.sleep(0.02)
