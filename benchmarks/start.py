"""Cold start (issue 11 item 4): seconds from starting `kefu-floor demo` to the first event
scored, with an empty kernel cache (what a fresh clone would see without the set-up
warm-up) and with the cache `make venv` fills (`python -m kefu_floor.live.warmup`), in one run.

    python -m benchmarks.start [--agents 200]

Each run gets its own NUMBA_CACHE_DIR, so nothing of this checkout's cache is used.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


async def _first_event(feed: str, timeout: float) -> None:
    from websockets.asyncio.client import connect

    async with asyncio.timeout(timeout):
        while True:
            try:
                async with connect(feed, max_size=None) as ws:
                    async for raw in ws:
                        msg = json.loads(raw)
                        if (msg.get("counters") or {}).get("accepted", 0) > 0:
                            return
            except OSError:
                await asyncio.sleep(0.05)


def demo_start(cache: Path, agents: int, timeout: float = 600.0) -> dict:
    """Start the demo on `cache`; seconds to 'kernels ready', to the feed, to the first
    event scored."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    log = cache.parent / f"{cache.name}.log"
    t0 = time.perf_counter()
    with open(log, "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "kefu_floor", "demo", "--view", "none",
                              "--ws-port", "0", "--agents", str(agents), "--lang", "en"],
                             stderr=err, stdout=subprocess.DEVNULL, env=env)
    try:
        while not (m := re.search(r"live feed\s+(\S+)", log.read_text())):
            if p.poll() is not None or time.perf_counter() - t0 > timeout:
                raise RuntimeError("the demo did not start:\n" + log.read_text())
            time.sleep(0.05)
        t_feed = time.perf_counter() - t0
        asyncio.run(_first_event(m.group(1), timeout))
        t_first = time.perf_counter() - t0
    finally:
        p.terminate()
        p.wait(60)
    ready = re.search(r"kernels ready in ([\d.]+) s", log.read_text())
    return {"kernels_s": float(ready.group(1)) if ready else None,
            "feed_s": round(t_feed, 2), "first_event_s": round(t_first, 2)}


def replay_start(cache: Path) -> float:
    """Seconds of a whole `kefu-floor replay` of examples/day (17 k events) on `cache`."""
    day = Path(__file__).resolve().parent.parent / "examples" / "day"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kefu_floor", "replay", str(day / "events.jsonl"),
                    "--roster", str(day / "roster.csv"), "--schedule", str(day / "schedule.csv"),
                    "--format", "json"], check=True, capture_output=True,
                   env={**os.environ, "NUMBA_CACHE_DIR": str(cache)})
    return round(time.perf_counter() - t0, 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=200)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kefu-bench-start-") as tmp:
        cold_cache = Path(tmp) / "cold"
        cold = demo_start(cold_cache, args.agents)
        warm_cache = Path(tmp) / "setup"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kefu_floor.live.warmup"], check=True,
                       env={**os.environ, "NUMBA_CACHE_DIR": str(warm_cache)},
                       capture_output=True)
        setup_s = time.perf_counter() - t0
        warm = demo_start(warm_cache, args.agents)
        replay_s = replay_start(warm_cache)
    res = {"agents": args.agents, "empty_cache": cold, "after_setup": warm,
           "setup_warmup_s": round(setup_s, 2), "replay_after_setup_s": replay_s,
           "first_event_ratio_cold_to_setup": round(cold["first_event_s"]
                                                    / warm["first_event_s"], 1)}
    print(json.dumps(res))
    print(f"cold start: first event scored {warm['first_event_s']:.1f} s after `demo` starts "
          f"once `make venv` has compiled the kernels ({setup_s:.0f} s, once); "
          f"{cold['first_event_s']:.1f} s with an empty cache "
          f"({res['first_event_ratio_cold_to_setup']}x); target < 10 s. A replay of "
          f"examples/day (17 k events) after set-up: {replay_s:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
