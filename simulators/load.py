"""Load generator: publish synthetic floor events at a steady rate (issue 4).

    kefu-floor load --broker mqtt://127.0.0.1:1883 --site cd1 --rate 50000 --agents 2000 \
                    --batch 500 --duration 30

Events are stamped with the wall clock as they leave, in JSON-array batches of --batch
(QoS 1); at the end it says what rate it achieved. The benchmarks use the same event mix.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import deque

import msgspec

from kefu_floor.live.ingest import topics
from kefu_floor.live.mqtt import BrokerURL
from simulators.publish import WINDOW

T0 = 1_793_664_000_000  # 2026-11-03 08:00 +08:00


def synthetic_events(n_agents: int, n: int, seed: int = 1) -> list[dict]:
    """A floor's event mix: sign-ins, then calls (offer/answer/hangup/wrap_end) and busy
    spells, ts non-decreasing ~10 ms apart."""
    rnd = random.Random(seed)
    out: list[dict] = []
    agents = [f"B{i:05d}" for i in range(n_agents)]
    ts = T0
    for a in agents:
        out.append({"type": "sign_in", "ts": ts, "agent": a})
    call = 0
    while len(out) < n:
        ts += 10
        a = agents[rnd.randrange(n_agents)]
        r = rnd.random()
        if r < 0.7:
            call += 1
            c = f"c{call}"
            out += [{"type": "offer", "ts": ts, "agent": a, "call": c, "queue": "q1"},
                    {"type": "answer", "ts": ts + 3, "agent": a, "call": c, "queue": "q1",
                     "wait_ms": rnd.randrange(40_000)},
                    {"type": "hangup", "ts": ts + 5, "agent": a, "call": c},
                    {"type": "wrap_end", "ts": ts + 7, "agent": a, "call": c}]
        else:
            out += [{"type": "busy", "ts": ts, "agent": a, "reason": "toilet"},
                    {"type": "ready", "ts": ts + 7, "agent": a}]
    return out[:n]



def _stream(n_agents: int, seed: int):
    """An endless version of the synthetic mix (agents sign in first)."""
    k = 0
    while True:
        block = synthetic_events(n_agents, 50_000, seed + k)
        yield from (block if k == 0 else block[n_agents:])  # sign in once
        k += 1


async def run_load(url: BrokerURL, site: str, rate: float, agents: int, batch: int,
                   duration: float, seed: int = 1, qos: int = 1) -> dict:
    """Publish at `rate` events/s for `duration` s; returns what was achieved."""
    tel, _, _ = topics(site)
    enc = msgspec.json.Encoder()
    src = _stream(agents, seed)
    sent = 0
    seq = 0
    loop = asyncio.get_running_loop()
    # up to WINDOW messages in flight: one acknowledgement per round trip would bound the
    # rate by the round trip, which a loaded machine stretches to many milliseconds
    flight: deque = deque()
    async with url.client(f"kefu-load-{random.randrange(1 << 30)}", clean=True,
                          max_queued_outgoing_messages=0) as client:
        t0 = loop.time()
        while (now := loop.time()) - t0 < duration:
            while flight and flight[0].done():
                flight.popleft().result()
            due = int((now - t0) * rate) - sent
            if due < batch:
                await asyncio.sleep(min(0.01, (batch - due) / rate))
                continue
            while due >= batch:
                if len(flight) >= WINDOW:
                    await flight.popleft()
                wall = int(time.time() * 1000)
                evs = []
                for _ in range(batch):
                    e = dict(next(src))
                    e["ts"] = wall
                    e["src"] = "load"
                    e["seq"] = seq
                    seq += 1
                    evs.append(e)
                flight.append(asyncio.ensure_future(client.publish(tel, enc.encode(evs),
                                                                   qos=qos)))
                sent += batch
                due -= batch
        for f in flight:
            await f  # every message acknowledged before the rate is worked out
        elapsed = loop.time() - t0
    return {"target_events_s": rate, "events": sent, "seconds": round(elapsed, 3),
            "achieved_events_s": round(sent / elapsed, 1), "batch": batch}
