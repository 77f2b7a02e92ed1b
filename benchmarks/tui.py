"""How much the dashboard costs with a big floor: N agents, R feed updates a second.

    python -m benchmarks.tui [--agents 2000] [--rate 4] [--changed 0.1] [--seconds 20]
                                   [--size 200x60] [--terminal]

A feed server in a child process (so its CPU is not counted) sends a snapshot of N synthetic
agents in the feed's format (`kefu-floor/feed/1`), then R deltas a second over a real
websocket, each changing `--changed` of the agents (state, time in state, busy time, calls)
and the queues. The dashboard runs headless (or, with `--terminal`, in this terminal) and is
measured from inside: process CPU time (time.process_time) over the run and per update,
the time each update takes to apply (decode excluded), how far behind the feed the screen is
(send -> applied), and how long keys take while the feed is running.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import statistics
import time

STATES = ("ready", "busy", "ringing", "talking", "wrap", "out")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗欧阳司马"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
DAY0 = 1_793_750_400_000  # 2026-11-04 08:00 +08


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def agent_entry(i: int, n_teams: int, now: int, rng: random.Random) -> dict:
    st = rng.choice(STATES)
    busy = rng.uniform(0, 2400)
    ans = rng.randint(0, 60)
    return {"agent": f"A{i:04d}", "name": _name(rng), "team": f"T{i % n_teams + 1:02d}",
            "state": st, "reason": rng.choice(["toilet", "lunch", None]) if st == "busy" else None,
            "since": now - rng.randint(0, 3_600_000),
            "flags": ["in_shift"] + (["late"] if rng.random() < 0.03 else []),
            "shift": {"start": DAY0, "end": DAY0 + 30_600_000, "day": "2026-11-04"},
            "day": "2026-11-04", "busy_today_s": round(busy, 1),
            "budget_left_s": round(max(0.0, 1800 - busy), 1),
            "today": {"offered": ans + rng.randint(0, 3), "answered": ans,
                      "aht_s": round(rng.uniform(100, 200), 1) if ans else None,
                      "answer_rate": 0.97 if ans else None, "satisfaction": 0.9 if ans else None,
                      "utilization_points": 0, "site_points": 0},
            "last_60m": {"answered": rng.randint(0, 10), "aht_s": None},
            "items": {}, "score": round(rng.uniform(60, 100), 2), "star": rng.randint(1, 5),
            "probation": False}


def mutate(e: dict, now: int, rng: random.Random) -> dict:
    e = dict(e)
    today = dict(e["today"])
    st = rng.choice(STATES)
    if st != e["state"]:
        e["state"], e["since"] = st, now
    e["reason"] = "toilet" if st == "busy" else None
    if st == "busy":
        e["busy_today_s"] = round(e["busy_today_s"] + 0.25, 1)
        e["budget_left_s"] = round(max(0.0, 1800 - e["busy_today_s"]), 1)
    if st == "talking" and rng.random() < 0.5:
        today["answered"] += 1
        today["offered"] += 1
        today["aht_s"] = round(rng.uniform(100, 200), 1)
    e["today"] = today
    return e


def queues(now: int, rng: random.Random) -> dict:
    def w():
        ans = rng.randint(50, 200)
        sl = int(ans * rng.uniform(0.7, 0.95))
        ab = rng.randint(0, 10)
        return {"offered": ans + ab, "answered": ans, "answered_in_sl": sl, "abandoned": ab,
                "abandoned_short": 0, "service_level": sl / (ans + ab),
                "asa_s": 8.0, "abandon_rate": ab / (ans + ab), "max_wait_s": 60.0}
    return {q: {"queue": q, "waiting": rng.randint(0, 12), "longest_wait_s": rng.uniform(0, 90),
                "windows": {"15": w(), "30": w(), "60": w()}, "today": w()}
            for q in ("billing", "broadband", "mobile")}


def totals(rng: random.Random) -> dict:
    """The site's queue figures (the service sends them computed; made up here too)."""
    q = queues(0, rng)["billing"]
    return {k: v for k, v in q.items() if k != "queue"}


def floor(agents: dict) -> dict:
    by = {s: 0 for s in STATES}
    for e in agents.values():
        by[e["state"]] += 1
    working = by["ringing"] + by["talking"] + by["wrap"]
    return {"by_state": by, "occupancy": working / max(1, working + by["ready"])}


def serve(n: int, n_teams: int, rate: float, changed: float, seconds: float, port_q) -> None:
    """The child process: a websocket feed of synthetic agents."""
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws):
        try:
            await feed(ws)
        except ConnectionClosed:
            pass  # the dashboard is done

    async def feed(ws):
        rng = random.Random(7)
        now = DAY0 + 7_200_000
        agents = {f"A{i:04d}": agent_entry(i, n_teams, now, rng) for i in range(n)}
        base = {"schema": "kefu-floor/feed/1", "site": "bench"}
        await ws.send(json.dumps({**base, "type": "snapshot", "now": now, "month": "2026-11",
                                  "policy": {"name": "chengdu-2014", "timezone": "Asia/Shanghai",
                                             "busy_budget_s": 1800.0, "service_level_s": 20.0,
                                             "service_level_target": 80.0,
                                             "windows_min": [15, 30, 60]},
                                  "agents": agents, "teams": {}, "queues": queues(now, rng),
                                  "totals": totals(rng),
                                  "floor": floor(agents), "counters": {}}, ensure_ascii=False))
        ids = list(agents)
        k = max(1, int(n * changed))
        period = 1.0 / rate
        t_next = time.monotonic() + 1.0
        end = t_next + seconds + 5
        while time.monotonic() < end:
            await asyncio.sleep(max(0.0, t_next - time.monotonic()))
            t_next += period
            now += int(period * 1000)
            ch = {}
            for a in rng.sample(ids, k):
                agents[a] = ch[a] = mutate(agents[a], now, rng)
            await ws.send(json.dumps({**base, "type": "delta", "now": now, "agents": ch,
                                      "queues": queues(now, rng), "floor": floor(agents),
                                      "totals": totals(rng), "t_sent": time.time()}, ensure_ascii=False))

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0, max_size=None) as server:
            port_q.put(next(iter(server.sockets)).getsockname()[1])
            await asyncio.sleep(seconds + 60)

    asyncio.run(main())


def pctl(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def run(n: int = 2000, rate: float = 4.0, changed: float = 0.1, seconds: float = 20.0,
        size: tuple[int, int] = (200, 60), terminal: bool = False, n_teams: int = 20,
        keys: bool = True, url: str | None = None, ready_timeout: float = 600.0) -> dict:
    """`url`: a real service's feed instead of the synthetic one (its `n` agents; the lag
    then is not measured, the service does not stamp its deltas)."""
    from dashboards.tui import FloorApp

    proc = None
    if url is None:
        ctx = mp.get_context("spawn")
        port_q = ctx.Queue()
        proc = ctx.Process(target=serve, args=(n, n_teams, rate, changed, seconds, port_q),
                           daemon=True)
        proc.start()
        url = f"ws://127.0.0.1:{port_q.get(timeout=60)}"
    app = FloorApp(url, lang="zh")
    res: dict = {"agents": n, "rate_hz": rate, "changed_per_update": max(1, int(n * changed)),
                 "size": f"{size[0]}x{size[1]}", "headless": not terminal}
    apply_cpu: list[float] = []
    lag: list[float] = []
    orig_handle = app.client.handle
    orig_apply = app._apply_change

    def handle(msg):
        ch = orig_handle(msg)
        if "t_sent" in msg:
            ch.t_sent = msg["t_sent"]  # type: ignore[attr-defined]
        return ch

    def apply(ch):
        c0 = time.process_time()
        orig_apply(ch)
        if ch.kind == "delta":
            apply_cpu.append(time.process_time() - c0)
            if getattr(ch, "t_sent", None):
                lag.append(time.time() - ch.t_sent)

    app.client.handle = handle
    app._apply_change = apply

    async def pilot_main(pilot):
        t0 = time.perf_counter()
        while app.floor.row_count < n and time.perf_counter() - t0 < ready_timeout:
            await asyncio.sleep(0.05)
        res["initial_build_s"] = round(time.perf_counter() - t0, 2)
        connects0 = app.client.connects
        await asyncio.sleep(1.0)
        apply_cpu.clear()
        lag.clear()
        u0, c0, w0 = app.updates, time.process_time(), time.perf_counter()
        key_ms = []
        step = seconds / 8
        for k in ("s", "s", "s", "x", "x", "t", "t", "r") if keys else ():
            await asyncio.sleep(step)
            k0 = time.perf_counter()
            await pilot.press(k)
            key_ms.append((time.perf_counter() - k0) * 1000)
            res.setdefault("keys", []).append([k, round(key_ms[-1])])
        rest = seconds - (time.perf_counter() - w0)
        if rest > 0:
            await asyncio.sleep(rest)
        u1, c1, w1 = app.updates, time.process_time(), time.perf_counter()
        wall = w1 - w0
        ups = u1 - u0
        res.update({
            "size": f"{app.size.width}x{app.size.height}",
            "rows": app.floor.row_count,
            "seconds": round(wall, 1), "updates": ups, "updates_per_s": round(ups / wall, 2),
            "cpu_s": round(c1 - c0, 2), "cpu_share_of_one_core": round((c1 - c0) / wall, 3),
            "cpu_ms_per_update_total": round((c1 - c0) / max(1, ups) * 1000, 1),
            "apply_ms_mean": round(statistics.mean(apply_cpu) * 1000, 1) if apply_cpu else None,
            "apply_ms_p95": round(pctl(apply_cpu, 0.95) * 1000, 1),
            "apply_ms_max": round(max(apply_cpu, default=0) * 1000, 1),
            "lag_ms_median": round(pctl(lag, 0.5) * 1000, 1),
            "lag_ms_p95": round(pctl(lag, 0.95) * 1000, 1),
            "key_ms_median": round(pctl(key_ms, 0.5), 1) if key_ms else None,
            "key_ms_max": round(max(key_ms), 1) if key_ms else None,
            "connected_at_end": app.client.connected,
            "reconnects": app.client.connects - connects0,
        })
        app.exit()

    async def auto_pilot(pilot):
        await pilot_main(pilot)

    try:
        app.run(headless=not terminal, size=None if terminal else size, auto_pilot=auto_pilot)
    finally:
        if proc is not None:
            proc.terminate()
            proc.join(5)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tui", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=4.0, help="feed updates a second")
    ap.add_argument("--changed", type=float, default=0.1,
                    help="share of the agents changed by each update (1.0 = all)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", default="200x60", help="WxH of the headless screen")
    ap.add_argument("--terminal", action="store_true", help="draw in this terminal")
    ap.add_argument("--no-keys", action="store_true", help="do not press keys meanwhile")
    ap.add_argument("--out", metavar="FILE", help="write the figures here (with --terminal)")
    a = ap.parse_args(argv)
    w, h = (int(x) for x in a.size.split("x"))
    res = run(a.agents, a.rate, a.changed, a.seconds, (w, h), a.terminal, keys=not a.no_keys)
    text = json.dumps(res, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
