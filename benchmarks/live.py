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

    python -m benchmarks.live --scale [--before TREE]

The read side at scale: 20,000 agents at 5,000 events/s with 20 more feed clients and the
TUI (headless, in child processes), then 2,000 agents at 400 events/s: publish -> feed
p50/p99, the interval between deltas, serve's CPU (share of one core), the sign-in wave,
whether the TUI stayed connected and how long its keys took; with `--before`, the same
against a serve from another source tree in the same run (the ratios).
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
            delta_ms: int, metrics: bool = False, clients: int = 0, tui: bool = False,
            tree: str | None = None, probe_compact: bool = False) -> dict:
    """publish -> feed latency with `kefu-floor serve` in its own process (with `metrics`:
    its exporter on and scraped every second; `clients` more feed clients and, with `tui`,
    the TUI headless, each in a child process; `tree`: serve from that source tree, the
    peer of another version in the same run; `probe_compact`: the probe reads the compact
    stream, as the wallboard and the TUI do, else the plain one)."""
    tmp = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    with open(tmp / "roster.csv", "w") as f:
        f.write("agent,name,team,role,hired,probation,products\n")
        for i in range(n_agents):
            f.write(f"B{i:05d},B{i:05d},T{i // 15},agent,2025-01-01,false,3\n")
    ws_port = free_port()
    metrics_port = free_port()
    extra = ["--metrics-port", str(metrics_port)] if metrics else []
    env = None
    if tree is not None:
        import os

        env = {**os.environ, "PYTHONPATH": tree}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kefu_floor", "serve", "--broker", broker.url, "--site", SITE,
         "--roster", str(tmp / "roster.csv"), "--ws-port", str(ws_port),
         "--client-id", f"lat-{random.randrange(1 << 30)}", "--delta-ms", str(delta_ms), *extra],
        stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "w"), cwd=tree, env=env)
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
        out = asyncio.run(_measure_latency(broker.port, ws_port, n_agents, rate, seconds,
                                           proc.pid, clients, tui, probe_compact))
        return {**out, "delta_ms": delta_ms, "metrics": metrics,
                "probe": "compact" if probe_compact else "plain",
                "tree": "this" if tree is None else tree}
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=60)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _feed_clients(url: str, n: int, seconds: float, out) -> None:
    """A child process: `n` feed clients reading (and decoding) everything for `seconds`;
    reports messages, bytes and connections lost. They take the compact stream, as the
    wallboard and the TUI do (the latency probe stays on the plain one)."""
    from websockets.asyncio.client import connect

    url = url.rstrip("/") + "/?compact=1"

    async def one(k: int, stats: dict):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            try:
                async with connect(url, max_size=None, open_timeout=60,
                                   ping_interval=None) as ws:
                    while time.perf_counter() < end:
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 1.0)
                        except TimeoutError:
                            continue
                        json.loads(raw)
                        stats["messages"] += 1
                        stats["bytes"] += len(raw)
            except Exception:  # noqa: BLE001 — counted: the figure is how often
                stats["lost"] += 1
                await asyncio.sleep(0.5)

    async def main():
        stats = {"messages": 0, "bytes": 0, "lost": 0}
        await asyncio.gather(*(one(k, stats) for k in range(n)))
        return stats

    out.put(asyncio.run(main()))


def _tui(url: str, n: int, seconds: float, out) -> None:
    """A child process: the TUI headless against the service (benchmarks.tui)."""
    from benchmarks.tui import run

    try:
        out.put(run(n, seconds=seconds, url=url, size=(200, 60), ready_timeout=180.0))
    except Exception as e:  # noqa: BLE001 — the bench reports it
        out.put({"error": f"{type(e).__name__}: {e}"})


async def _measure_latency(port: int, ws_port: int, n_agents: int, rate: int,
                           seconds: float, pid: int, clients: int = 0,
                           tui: bool = False, probe_compact: bool = False) -> dict:
    import multiprocessing as mp

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = f"ws://127.0.0.1:{ws_port}/"
    probe_url = url + ("?compact=1" if probe_compact else "")
    for _ in range(1200):
        try:
            # no keepalive: behind a big message the pong waits, and this is a probe
            ws = await connect(probe_url, max_size=None, open_timeout=60,
                               ping_interval=None)
            break
        except OSError:
            await asyncio.sleep(0.1)
    else:
        raise RuntimeError("the service did not come up")
    sent: dict[tuple[str, str], float] = {}
    lat: list[float] = []
    deltas: list[float] = []
    stop = threading.Event()

    pub = paho.Client(paho.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    # everyone signs in first, so every later event is a visible state change
    # the service may still be subscribing: send until the feed shows everyone signed in
    signed_in = 0
    wave_t0 = time.perf_counter()
    for _ in range(20 if n_agents <= 2000 else 3):
        now = int(time.time() * 1000)
        for lo in range(0, n_agents, 1000):
            pub.publish(TOPIC, json.dumps([{"type": "sign_in", "ts": now,
                                            "agent": f"B{i:05d}"}
                                           for i in range(lo, min(n_agents, lo + 1000))]),
                        qos=1).wait_for_publish()
        t_end = time.perf_counter() + max(1.0, n_agents / 400)
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
    wave_s = time.perf_counter() - wave_t0

    ctx = mp.get_context("spawn")
    children = []
    q_clients, q_tui = ctx.Queue(), ctx.Queue()
    warm = 10.0 + n_agents / 1000  # for the children to connect and take their snapshot
    if clients:
        children.append(ctx.Process(target=_feed_clients,
                                    args=(url, clients, warm + seconds, q_clients),
                                    daemon=True))
    if tui:
        children.append(ctx.Process(target=_tui, args=(url, n_agents, seconds, q_tui),
                                    daemon=True))
    for c in children:
        c.start()
    if children:
        t_end = time.perf_counter() + warm
        while time.perf_counter() < t_end:  # keep reading meanwhile: no backlog of ours
            try:
                await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                pass

    def publisher():
        rnd = random.Random(3)
        state = {}
        # above 1,000 events/s, a message every 20 ms carries the events due by then
        per = max(1, rate // 50)
        period = per / rate
        nxt = time.perf_counter()
        while not stop.is_set():
            evs = []
            for _ in range(per):
                a = f"B{rnd.randrange(n_agents):05d}"
                new = "ready" if state.get(a) == "busy" else "busy"
                state[a] = new
                ev = {"type": new, "ts": int(time.time() * 1000), "agent": a}
                if new == "busy":
                    ev["reason"] = "toilet"
                sent[(a, new)] = time.perf_counter()
                evs.append(ev)
            pub.publish(TOPIC, json.dumps(evs[0] if per == 1 else evs), qos=1)
            nxt += period
            delay = nxt - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    t = threading.Thread(target=publisher, daemon=True)
    t_end = time.perf_counter() + seconds
    cpu0, wall0 = _cpu_s(pid), time.perf_counter()
    t.start()
    probe_lost = 0
    try:
        while time.perf_counter() < t_end:
            try:
                raw = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
            except ConnectionClosed:  # the service dropped the probe: counted, reconnect
                probe_lost += 1
                ws = await connect(probe_url, max_size=None, open_timeout=60,
                                   ping_interval=None)
                continue
            now_pc = time.perf_counter()
            msg = json.loads(raw)
            if msg.get("type") == "delta":
                deltas.append(now_pc)
            for a, entry in msg.get("agents", {}).items():
                # (a compact delta's entry has `state` only when it changed)
                t_pub = sent.pop((a, entry.get("state")), None)
                if t_pub is not None:
                    lat.append(now_pc - t_pub)
    finally:
        cpu = (_cpu_s(pid) - cpu0) / (time.perf_counter() - wall0)
        stop.set()
        t.join()
        pub.loop_stop()
        await ws.close()
    res_clients = q_clients.get(timeout=120 + seconds) if clients else None
    res_tui = q_tui.get(timeout=900) if tui else None
    for c in children:
        c.join(30)
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    gaps = sorted(b - a for a, b in zip(deltas, deltas[1:]))
    return {"agents": n_agents, "rate_events_s": rate, "samples": len(lat),
            "p50_ms": pick(0.50) if lat else float("nan"),
            "p99_ms": pick(0.99) if lat else float("nan"),
            "max_ms": lat[-1] * 1000 if lat else float("nan"),
            "delta_gap_ms_mean": 1000 * sum(gaps) / len(gaps) if gaps else float("nan"),
            "delta_gap_ms_p99": 1000 * gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))]
            if gaps else float("nan"),
            "serve_cpu": cpu, "sign_in_wave_s": wave_s, "probe_lost": probe_lost,
            "clients": res_clients,
            "tui": res_tui}


def scale_main(args) -> int:
    """20,000 agents at 5,000 events/s with 20 feed clients and the TUI, and 2,000 agents
    at 400 events/s; each against `--before` (a source tree of the version to compare
    with) in the same run when given."""
    warm_up(2000)
    trees = [None] + ([args.before] if args.before else [])
    rows = []
    with MosquittoServer(extra_config=BROKER_CONFIG) as broker:
        broker.start()
        for tree in trees:
            # the probe at scale reads what the screens there read: the compact stream
            rows.append(latency(broker, args.agents, args.rate, args.seconds, 200,
                                clients=args.clients, tui=not args.no_tui, tree=tree,
                                probe_compact=True))
            print(json.dumps(rows[-1], default=str), file=sys.stderr, flush=True)
            rows.append(latency(broker, 2000, 400, args.seconds, 200, tree=tree))
            print(json.dumps(rows[-1], default=str), file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=1, default=str))
    for r in rows:
        tui = r["tui"] or {}
        print(f"{r['tree']:>10}: {r['agents']:>6} agents, {r['rate_events_s']:>5} ev/s, "
              f"{r['probe']} probe: "
              f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, deltas every "
              f"{r['delta_gap_ms_mean']:.0f} ms (p99 {r['delta_gap_ms_p99']:.0f}), serve CPU "
              f"{r['serve_cpu']:.0%}, sign-in wave {r['sign_in_wave_s']:.1f} s, probe "
              f"dropped {r['probe_lost']}x"
              + (f", clients {r['clients']}" if r["clients"] else "")
              + (f", TUI connected {tui.get('connected_at_end')} reconnects "
                 f"{tui.get('reconnects')} keys p99 {tui.get('key_ms_p99')} ms (target "
                 f"{tui.get('key_target_ms', 200):.0f}) max {tui.get('key_ms_max')} ms"
                 if r["tui"] else ""))
    if len(trees) == 2:
        n = len(rows) // 2
        for new, old in zip(rows[:n], rows[n:]):
            print(f"{new['agents']} agents: p99 {old['p99_ms'] / new['p99_ms']:.1f}x lower, "
                  f"serve CPU {old['serve_cpu'] / max(new['serve_cpu'], 1e-3):.1f}x lower, "
                  f"delta gap {old['delta_gap_ms_mean'] / new['delta_gap_ms_mean']:.1f}x "
                  "shorter than --before")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.live", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--single", type=int, help="events sent as single messages (100,000)")
    ap.add_argument("--events", type=int, help="events sent in batches of 500 (1,000,000)")
    ap.add_argument("--scale", action="store_true",
                    help="the read side at scale only: --agents (default 20000) at --rate "
                         "with --clients feed clients and the TUI, then 2,000 agents at 400/s")
    ap.add_argument("--rate", type=int, default=5000, help="events/s for --scale")
    ap.add_argument("--clients", type=int, default=20, help="feed clients for --scale")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured time for --scale")
    ap.add_argument("--no-tui", action="store_true", help="--scale without the TUI")
    ap.add_argument("--before", metavar="TREE",
                    help="with --scale: also run a serve from this source tree (e.g. a "
                         "`git worktree` of the previous version) as the peer")
    args = ap.parse_args(argv)
    if args.scale:
        if args.agents == 2000:
            args.agents = 20000
        return scale_main(args)
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
