"""Hostile soak against a real mosquitto (issue 8): hundreds of thousands of hostile
payloads with the example day interleaved, drained by the live service.

    python -m benchmarks.hostile                 # 300,000 hostile payloads
    python -m benchmarks.hostile --hostile 20000 # a quick run

Shows: the service stays up; its RSS stays flat (sampled while it drains, after the first
tenth); every rejection is counted (the live counters equal an in-process run of the same
payloads through `Ingest`, and every hostile payload is rejected or capped, never applied)
and dead-lettered; the good day's report equals its replay.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

from kefu_floor.engine import Engine, Setup
from kefu_floor.live.ingest import Ingest, LiveClock
from kefu_floor.policy import load_policy
from kefu_floor.replay import replay
from kefu_floor.views.report import build_report
from kefu_floor.roster import load_roster, load_schedule
from kefu_floor.live.service import Service, ServiceConfig
from benchmarks.live import BROKER_CONFIG, preload
from simulators.services import MosquittoServer

SITE = "bench"
TOPIC = f"kefu/{SITE}/telemetry"
DAY = Path(__file__).resolve().parent.parent / "examples" / "day"


def setup() -> Setup:
    pol = load_policy("chengdu-2014")
    return Setup(pol, load_roster(DAY / "roster.csv"),
                 load_schedule(DAY / "schedule.csv", pol.tz, 5), SITE)


def good_events() -> list[dict]:
    return [json.loads(x) for x in (DAY / "events.jsonl").read_text().splitlines()
            if x.strip() and not x.startswith("#")]


def hostile(k: int, rng: random.Random, t: int) -> bytes:
    """Payload k of 15 kinds; t: the good stream's time where it is inserted."""
    kind = k % 15
    e = {"type": "ready", "ts": t, "agent": "A001"}
    if kind == 0:
        return b"[" * 2000 + b"]" * 2000
    if kind == 1:
        return b'{"type":"ready","ts":'
    if kind == 2:
        return json.dumps(dict(e, type="teleport")).encode()
    if kind == 3:
        return json.dumps({"type": "offer", "ts": t, "agent": "A001"}).encode()
    if kind == 4:
        return json.dumps(dict(e, ts=str(t))).encode()
    if kind == 5:
        return json.dumps(dict(e, ts=253_402_300_799_999)).encode()
    if kind == 6:
        return json.dumps(dict(e, agent="A" * 5000)).encode()
    if kind == 7:
        return b"[" + b"1," * 400 + b"1]"  # 401 bad elements in one payload
    if kind == 8:  # one day ahead, from a gateway of its own
        return json.dumps(dict(e, ts=t + 86_400_000, src="evil", seq=k)).encode()
    if kind == 9:  # a gateway eight hours ahead, a batch at a time
        return json.dumps([dict(e, ts=t + 8 * 3_600_000 + i, src="tz8", seq=k * 10 + i)
                           for i in range(5)]).encode()
    if kind == 10:
        return json.dumps(dict(e, ts=t - 8 * 3_600_000, src="tz-8", seq=k)).encode()
    if kind == 11:  # unknown agent flood
        return json.dumps(dict(e, agent=f"X{rng.randrange(10**9)}")).encode()
    if kind == 12:
        return json.dumps({"type": "qa", "ts": t, "agent": "A001", "item": "exam",
                           "score": 10, "month": "2027-11"}).encode()
    if kind == 13:
        return json.dumps(dict(e, site="elsewhere")).encode()
    return json.dumps(dict(e, seat="S\x00" * 10)).encode()


def build(n_hostile: int, seed: int) -> tuple[list[bytes], list[dict]]:
    rng = random.Random(seed)
    good = good_events()
    msgs: list[bytes] = []
    per = max(1, n_hostile // max(1, len(good) // 20))
    k = 0
    for i in range(0, len(good), 20):
        chunk = good[i:i + 20]
        msgs.append(json.dumps(chunk).encode())
        t = chunk[-1]["ts"]
        for _ in range(per):
            if k < n_hostile:
                msgs.append(hostile(k, rng, t))
                k += 1
    while k < n_hostile:  # the rest after the day
        msgs.append(hostile(k, rng, good[-1]["ts"]))
        k += 1
    return msgs, good


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def offline(msgs: list[bytes]) -> dict:
    eng = Engine(setup(), live=True)
    ing = Ingest({SITE: eng}, wall_ahead_ms=None)
    for k in range(0, len(msgs), 200):
        ing.handle_many([(TOPIC, m) for m in msgs[k:k + 200]])
        ing.take_dead()
    return eng.counters()


def replay_report() -> dict:
    eng = Engine(setup())
    replay(eng, DAY / "events.jsonl")
    return build_report(eng.finish(), 2026 * 12 + 10)


class DeadCounter:
    def __init__(self, port: int):
        self.n = 0
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="dl-counter")
        self.c.on_message = lambda *a: self._one()
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(f"kefu/{SITE}/deadletter", qos=0)
        self.c.loop_start()
        self.lock = threading.Lock()

    def _one(self):
        self.n += 1

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


async def soak(port: int, n_msgs: int, n_good: int) -> dict:
    cfg = ServiceConfig(setups={SITE: setup()}, broker=f"mqtt://127.0.0.1:{port}",
                        client_id="hostile-soak", ws_port=0, clock=LiveClock(),
                        wall_ahead_ms=None)
    svc = Service(cfg)
    eng = svc.engines[SITE]
    samples: list[tuple[float, float]] = []
    async with svc:
        await svc.wait_connected()
        t0 = time.perf_counter()
        last, still = -1, 0
        while True:
            await asyncio.sleep(0.25)
            samples.append((svc.subscriber.received / n_msgs, rss_mb()))
            if svc.subscriber.received >= n_msgs:
                break
            if svc.subscriber.received == last:
                still += 1
                if still > 120:
                    raise SystemExit(f"stalled at {last} of {n_msgs} messages")
            else:
                last, still = svc.subscriber.received, 0
        elapsed = time.perf_counter() - t0
        await asyncio.sleep(1.0)  # dead letters out
        report = build_report(eng.finish(), 2026 * 12 + 10)
        up = all(not t.done() for t in svc._tasks)
        return {"elapsed_s": elapsed, "samples": samples, "counters": eng.counters(),
                "report": report, "up": up}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.hostile")
    ap.add_argument("--hostile", type=int, default=300_000, help="hostile payloads")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    msgs, good = build(args.hostile, args.seed)
    print(f"{len(msgs)} messages: {args.hostile} hostile, {len(good)} good events "
          f"({sum(map(len, msgs)) / 1e6:.1f} MB)", file=sys.stderr)
    expect = offline(msgs)
    ref = replay_report()
    with MosquittoServer(extra_config=BROKER_CONFIG) as broker:
        # the session must exist before the flood is queued for it
        import benchmarks.live as bl
        bl.TOPIC = TOPIC
        preload(broker.port, "hostile-soak", msgs)
        dead = DeadCounter(broker.port)
        res = asyncio.run(soak(broker.port, len(msgs), len(good)))
        time.sleep(1.0)
        dead.stop()
    c = res["counters"]
    after = [m for f, m in res["samples"] if f >= 0.1]
    rss_lo, rss_hi = (min(after), max(after)) if after else (0, 0)
    def scored(rep):  # the roster's agents and everything else but the counters
        out = {k: v for k, v in rep.items() if k != "counters"}
        out["agents"] = [a for a in rep["agents"] if not a.get("unknown")]
        return json.dumps(out, sort_keys=True)
    same = scored(res["report"]) == scored(ref)
    rej = {k: v for k, v in c.items() if k.startswith("rejected")}
    print(json.dumps({
        "messages": len(msgs), "hostile_payloads": args.hostile,
        "drain_s": round(res["elapsed_s"], 1),
        "messages_per_s": round(len(msgs) / res["elapsed_s"]),
        "service_up": res["up"],
        "rss_mb_after_first_tenth": [round(rss_lo, 1), round(rss_hi, 1)],
        "rss_growth_ratio": round(rss_hi / rss_lo, 3) if rss_lo else None,
        "rejected": rej, "counters_equal_in_process": rej == {
            k: v for k, v in expect.items() if k.startswith("rejected")},
        "dead_letters": dead.n, "accepted": c["accepted"], "good_events": len(good),
        "report_equals_replay": same}, indent=1))
    ok = res["up"] and same and rej == {k: v for k, v in expect.items()
                                        if k.startswith("rejected")}
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
