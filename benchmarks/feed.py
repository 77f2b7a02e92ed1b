"""Report requests against ingest (issue 8 item 3): the event loop's longest stall while 50
feed clients make 1,000 report requests, against what the same requests cost when each
report was built on the loop (1,000 x one build), in one run.

    python -m benchmarks.feed [--agents 500]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path


async def _measure(svc, clients: int, per_client: int) -> dict:
    from websockets.asyncio.client import connect

    gaps = []
    stop = asyncio.Event()

    async def heartbeat():
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last - 0.01)
            last = now

    url = f"ws://127.0.0.1:{svc.ws_port}/"
    conns = [await connect(url, max_size=None) for _ in range(clients)]
    for c in conns:
        await c.recv()
    answered = {"report": 0, "error": 0}

    async def flood(ws):
        for _ in range(per_client):
            await ws.send('{"type":"report"}')
            while (m := json.loads(await ws.recv()))["type"] not in ("report", "error"):
                pass
            answered[m["type"]] += 1

    beat = asyncio.create_task(heartbeat())
    t0 = time.perf_counter()
    await asyncio.gather(*(flood(c) for c in conns))
    took = time.perf_counter() - t0
    stop.set()
    await beat
    for c in conns:
        await c.close()
    return {"requests": clients * per_client, "answered": answered,
            "builds": svc.hub.reports.builds, "flood_s": round(took, 2),
            "max_loop_stall_ms": round(max(gaps) * 1000, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=500)
    args = ap.parse_args(argv)

    from kefu_floor.views.report import build_report, frozen_copy
    from kefu_floor.live.service import Service, ServiceConfig
    from kefu_floor.live.warmup import warm_kernels
    from simulators.acd import Floor, Scenario
    from kefu_floor.cli.demo import demo_setup
    from simulators.services import MosquittoServer

    warm_kernels()
    floor = Floor(Scenario(agents=args.agents, days=1, start=dt.date.today(), seed=1,
                           rest_days=False, site="demo"))
    with tempfile.TemporaryDirectory() as tmp, MosquittoServer() as broker:
        setup = demo_setup(floor, Path(tmp))
        events = [e for _, evs in floor.ticks() for e in evs]

        async def run():
            cfg = ServiceConfig(setups={"demo": setup}, broker=broker.url, ws_port=0,
                                client_id="bench-feed")
            async with Service(cfg) as svc:
                eng = svc.engines["demo"]
                for i in range(0, len(events), 5000):
                    eng.feed(events[i:i + 5000])
                eng.tick()
                # the peer: one report built on the loop, as every request was before
                t0 = time.perf_counter()
                build_report(eng.finish())
                one = time.perf_counter() - t0
                t0 = time.perf_counter()
                frozen_copy(eng)
                copy_s = time.perf_counter() - t0
                res = await _measure(svc, 50, 20)
                return one, copy_s, res

        one, copy_s, res = asyncio.run(run())
    res = {"agents": args.agents, "events": len(events), "one_report_on_loop_ms":
           round(one * 1000, 1), "copy_on_loop_ms": round(copy_s * 1000, 1), **res,
           "old_stall_s": round(one * res["requests"], 1)}
    res["stall_ratio_old_to_new"] = round(res["old_stall_s"] * 1000
                                          / max(res["max_loop_stall_ms"], 0.1), 1)
    print(json.dumps(res))
    print(f"1,000 report requests: longest event-loop stall {res['max_loop_stall_ms']} ms "
          f"(builds {res['builds']}); on the loop they would have blocked it "
          f"{res['old_stall_s']} s in all ({res['stall_ratio_old_to_new']}x)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
