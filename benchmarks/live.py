"""End-to-end benchmark of the live service against a real mosquitto (issue 3).

    python -m benchmarks.live            # full run (~2 min)
    python -m benchmarks.live --quick    # smoke run

Throughput: the events are queued at the broker first (for a persistent QoS 1 session), then
the receiving client connects and drains them, so the figure is the receiver's, not the
publisher's. Measured in the same run for (a) a bare aiomqtt client that only counts
messages and (b) the service (decode, kernels, feed hub), for single-event messages and
for batches of 500; the comparison is the ratio (b)/(a) on the same machine, same run.

Latency: `kefu-floor serve` runs as its own process with 2,000 agents; events are published
at a steady rate with ts = now, and a websocket client notes when each agent's new state
shows in the feed; p50/p99 of publish -> feed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

from kefu_floor.engine import Setup
from kefu_floor.live.ingest import LiveClock
from kefu_floor.policy import load_policy
from kefu_floor.roster import Person, Roster
from kefu_floor.live.service import Service, ServiceConfig
from simulators.load import synthetic_events
from simulators.services import MosquittoServer, free_port

SITE = "bench"
TOPIC = f"kefu/{SITE}/telemetry"
BROKER_CONFIG = "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 100\n"


def payloads(events: list[dict], batch: int) -> list[bytes]:
    if batch == 1:
        return [json.dumps(e).encode() for e in events]
    return [json.dumps(events[i:i + batch]).encode() for i in range(0, len(events), batch)]


def preload(port: int, client_id: str, data: list[bytes]) -> None:
    """Publish `data` (QoS 1) for the offline persistent session `client_id`."""
    sub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                      clean_session=False)
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    sub.subscribe(TOPIC, qos=1)
    time.sleep(0.3)
    sub.loop_stop()
    sub.disconnect()
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{client_id}-pub")
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    last = None
    for k, p in enumerate(data, 1):
        last = pub.publish(TOPIC, p, qos=1)
        if k % 20_000 == 0:  # message ids wrap at 65535: keep fewer than that outstanding
            last.wait_for_publish(timeout=600)
    last.wait_for_publish(timeout=600)
    pub.loop_stop()
    pub.disconnect()


async def drain_raw(port: int, client_id: str, n_messages: int) -> float:
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id,
                              clean_session=False) as c:
        t0 = time.perf_counter()
        got = 0
        async for _ in c.messages:
            got += 1
            if got == n_messages:
                break
        return time.perf_counter() - t0


def bench_roster(n_agents: int) -> Roster:
    r = Roster()
    for i in range(n_agents):
        a = f"B{i:05d}"
        r.people[a] = Person(a, a, f"T{i // 15}", "agent", None, False, 3)
    return r


async def drain_service(port: int, client_id: str, n_events: int, n_agents: int,
                        metrics: bool = False, scrape_s: float = 1.0) -> float:
    """Seconds for the service to take n_events; with `metrics`, the exporter is on and
    scraped every `scrape_s` meanwhile (as a Prometheus with that scrape interval would),
    starting at once."""
    pol = load_policy("chengdu-2014")
    cfg = ServiceConfig(setups={SITE: Setup(pol, bench_roster(n_agents), [], SITE)},
                        broker=f"mqtt://127.0.0.1:{port}", client_id=client_id, ws_port=0,
                        clock=LiveClock(), metrics_port=0 if metrics else None)
    svc = Service(cfg)
    eng = svc.engines[SITE]
    stop = threading.Event()
    async with svc:
        await svc.wait_connected()
        if metrics:
            import urllib.request

            def scraper():
                while True:
                    urllib.request.urlopen(svc.exporter.url, timeout=30).read()
                    if stop.wait(scrape_s):
                        return

            threading.Thread(target=scraper, daemon=True).start()
        t0 = time.perf_counter()
        try:
            while eng.counters()["accepted"] < n_events:
                await asyncio.sleep(0.002)
            return time.perf_counter() - t0
        finally:
            stop.set()


def warm_up(n_agents: int) -> None:
    """Compile the kernels before anything is timed."""
    from kefu_floor.engine import Engine
    from kefu_floor.schema import decode_event

    pol = load_policy("chengdu-2014")
    eng = Engine(Setup(pol, bench_roster(n_agents), [], SITE))
    eng.feed([decode_event(json.dumps(e)) for e in synthetic_events(n_agents, 3000)])
    eng.tick()


def throughput(broker: MosquittoServer, events: list[dict], batch: int, n_agents: int,
               scrape_s: float = 1.0) -> dict:
    data = payloads(events, batch)
    tag = f"{batch}-{random.randrange(1 << 30)}"
    preload(broker.port, f"raw-{tag}", data)
    raw_s = asyncio.run(drain_raw(broker.port, f"raw-{tag}", len(data)))
    preload(broker.port, f"svc-{tag}", data)
    svc_s = asyncio.run(drain_service(broker.port, f"svc-{tag}", len(events), n_agents))
    preload(broker.port, f"met-{tag}", data)
    met_s = asyncio.run(drain_service(broker.port, f"met-{tag}", len(events), n_agents, True,
                                      scrape_s))
    return {"batch": batch, "messages": len(data), "events": len(events),
            "raw_events_s": len(events) / raw_s, "service_events_s": len(events) / svc_s,
            "ratio": raw_s / svc_s, "metrics_events_s": len(events) / met_s,
            "metrics_ratio": svc_s / met_s}


# ------------------------------------------------------------------------------- latency


def latency(broker: MosquittoServer, n_agents: int, rate: int, seconds: float,
            delta_ms: int, metrics: bool = False) -> dict:
    """publish -> feed latency with `kefu-floor serve` in its own process (with `metrics`:
    its exporter on and scraped every second)."""
    tmp = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    with open(tmp / "roster.csv", "w") as f:
        f.write("agent,name,team,role,hired,probation,products\n")
        for i in range(n_agents):
            f.write(f"B{i:05d},B{i:05d},T{i // 15},agent,2025-01-01,false,3\n")
    ws_port = free_port()
    metrics_port = free_port()
    extra = ["--metrics-port", str(metrics_port)] if metrics else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "kefu_floor", "serve", "--broker", broker.url, "--site", SITE,
         "--roster", str(tmp / "roster.csv"), "--ws-port", str(ws_port),
         "--client-id", f"lat-{random.randrange(1 << 30)}", "--delta-ms", str(delta_ms), *extra],
        stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "w"))
    stop = threading.Event()
    if metrics:
        import urllib.request

        def scraper():
            while not stop.wait(1.0):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                           timeout=10).read()
                except OSError:
                    pass  # not up yet

        threading.Thread(target=scraper, daemon=True).start()
    try:
        out = asyncio.run(_measure_latency(broker.port, ws_port, n_agents, rate, seconds))
        return {**out, "delta_ms": delta_ms, "metrics": metrics}
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=20)


async def _measure_latency(port: int, ws_port: int, n_agents: int, rate: int,
                           seconds: float) -> dict:
    from websockets.asyncio.client import connect

    for _ in range(300):
        try:
            ws = await connect(f"ws://127.0.0.1:{ws_port}/", max_size=None)
            break
        except OSError:
            await asyncio.sleep(0.1)
    else:
        raise RuntimeError("the service did not come up")
    sent: dict[tuple[str, str], float] = {}
    lat: list[float] = []
    stop = threading.Event()

    pub = paho.Client(paho.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    # everyone signs in first, so every later event is a visible state change
    # the service may still be subscribing: send until the feed shows everyone signed in
    signed_in = 0
    for _ in range(20):
        now = int(time.time() * 1000)
        pub.publish(TOPIC, json.dumps([{"type": "sign_in", "ts": now, "agent": f"B{i:05d}"}
                                       for i in range(n_agents)]), qos=1).wait_for_publish()
        t_end = time.perf_counter() + 1.0
        while time.perf_counter() < t_end and signed_in < n_agents:
            try:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except TimeoutError:
                continue
            if "floor" in msg:
                by = msg["floor"]["by_state"]
                signed_in = sum(v for k, v in by.items() if k != "out")
        if signed_in >= n_agents:
            break

    def publisher():
        rnd = random.Random(3)
        state = {}
        period = 1.0 / rate
        nxt = time.perf_counter()
        while not stop.is_set():
            a = f"B{rnd.randrange(n_agents):05d}"
            new = "ready" if state.get(a) == "busy" else "busy"
            state[a] = new
            ev = {"type": new, "ts": int(time.time() * 1000), "agent": a}
            if new == "busy":
                ev["reason"] = "toilet"
            sent[(a, new)] = time.perf_counter()
            pub.publish(TOPIC, json.dumps(ev), qos=1)
            nxt += period
            delay = nxt - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    t = threading.Thread(target=publisher, daemon=True)
    t_end = time.perf_counter() + seconds
    t.start()
    try:
        while time.perf_counter() < t_end:
            try:
                raw = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
            now_pc = time.perf_counter()
            msg = json.loads(raw)
            for a, entry in msg.get("agents", {}).items():
                t_pub = sent.pop((a, entry["state"]), None)
                if t_pub is not None:
                    lat.append(now_pc - t_pub)
    finally:
        stop.set()
        t.join()
        pub.loop_stop()
        await ws.close()
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return {"agents": n_agents, "rate_events_s": rate, "samples": len(lat),
            "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": lat[-1] * 1000}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.live", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--single", type=int, help="events sent as single messages (100,000)")
    ap.add_argument("--events", type=int, help="events sent in batches of 500 (1,000,000)")
    args = ap.parse_args(argv)
    n_single = args.single or (5_000 if args.quick else 100_000)
    n_batch = args.events or (50_000 if args.quick else 1_000_000)
    seconds = 3 if args.quick else 15
    warm_up(args.agents)
    rows = []
    with MosquittoServer(extra_config=BROKER_CONFIG) as broker:
        broker.start()
        rows.append(throughput(broker, synthetic_events(args.agents, n_single), 1, args.agents))
        rows.append(throughput(broker, synthetic_events(args.agents, n_batch, 2), 500,
                               args.agents))
        lats = [latency(broker, args.agents, 400, seconds, d) for d in (200, 250)]
        lats.append(latency(broker, args.agents, 400, seconds, 200, metrics=True))
    print(f"end-to-end from a real mosquitto (QoS 1), {args.agents} agents")
    print(f"{'payload':>14} {'events':>9} {'raw client ev/s':>16} {'service ev/s':>13} "
          f"{'service/raw':>12} {'exporter on ev/s':>17} {'on/off':>7}")
    for r in rows:
        label = "single events" if r["batch"] == 1 else f"batches of {r['batch']}"
        print(f"{label:>14} {r['events']:>9} {r['raw_events_s']:>16,.0f} "
              f"{r['service_events_s']:>13,.0f} {r['ratio']:>11.0%} "
              f"{r['metrics_events_s']:>17,.0f} {r['metrics_ratio']:>7.0%}")
    for lat in lats:
        print(f"publish -> feed latency at {lat['agents']} agents, {lat['rate_events_s']} "
              f"events/s, deltas every {lat['delta_ms']} ms"
              f"{', exporter on' if lat['metrics'] else ''}: p50 {lat['p50_ms']:.0f} ms, "
              f"p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms ({lat['samples']} samples)")
    print("targets: single >= 80% of raw; batched >= 1,000,000 events/s; p99 < 250 ms; "
          "exporter on within noise of off")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
