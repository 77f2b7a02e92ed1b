"""How much the dashboard costs with a big floor: N agents, R feed updates a second.

    python -m benchmarks.tui [--agents 2000] [--rate 4] [--changed 0.1] [--seconds 20]
                                   [--size 200x60] [--terminal]
    python -m benchmarks.tui --agents 20000 --before /path/to/old/tree [--rounds 2]

A feed server in a child process (so its CPU is not counted) sends a snapshot of N synthetic
agents in the feed's format (`kefu-floor/feed/1`), then R deltas a second over a real
websocket, each changing `--changed` of the agents (state, time in state, busy time, calls)
and the queues. The dashboard runs headless (or, with `--terminal`, in this terminal) and is
measured from inside: how long the floor takes to open (snapshot received -> every row
there, sorted, and the screen drawn; and the CPU of applying the snapshot), process CPU time
(time.process_time) over the run and per update, the time each update takes to apply
(decode excluded), how far behind the feed the screen is (send -> applied), and how long
keys take while the feed is running: from the key sent to the screen refreshed with its
effect (cursor moves, page down, to the end and back, sort, reverse, exceptions and team
filters), p50/p99/max against the 200 ms target.

`--before TREE`: the same measurement of another source tree's dashboard (this benchmark,
that tree's `dashboards` and `kefu_floor`), alternating with this one's, each run in a fresh
process; prints the ratios and the load average of each run.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import time

STATES = ("ready", "busy", "ringing", "talking", "wrap", "out")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗欧阳司马"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
DAY0 = 1_793_750_400_000  # 2026-11-04 08:00 +08
KEY_TARGET_MS = 200.0  # issue 11: key presses answered within 200 ms at 20,000 agents
# the keys pressed while the feed runs, spread over the run: each changes what is on screen
# (the cursor, the scroll position, the sort or a filter), so its answer can be waited for
KEYS = ("down", "down", "down", "pagedown", "pagedown", "up", "ctrl+end", "ctrl+home",
        "s", "down", "pagedown", "s", "s", "r", "pagedown", "up", "x", "x",
        "t", "pagedown", "t", "r", "down", "ctrl+home")


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def agent_entry(i: int, n_teams: int, now: int, rng: random.Random) -> dict:
    st = rng.choice(STATES)
    busy = rng.uniform(0, 2400)
    ans = rng.randint(0, 60)
    late = rng.random() < 0.03
    return {"agent": f"A{i:04d}", "name": _name(rng), "team": f"T{i % n_teams + 1:02d}",
            "state": st, "reason": rng.choice(["toilet", "lunch", None]) if st == "busy" else None,
            "since": now - rng.randint(0, 3_600_000),
            "flags": ["in_shift"] + (["late"] if late else []), "attention": late,
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


def _on_screen(app) -> tuple:
    """What a key changes: sort, filters, cursor, scroll position, screens."""
    fl = app.floor
    return (app.sort_col, app.sort_reverse, app.exceptions_only, app.team_filter,
            fl.cursor_row, int(fl.scroll_y), len(app.screen_stack))


async def answer_ms(app, key: str, timeout: float = 10.0) -> float:
    """Send `key` as the terminal would and wait until its effect is on screen: the state it
    changes has changed and the screen has been refreshed after that (what the user waits
    for; Pilot.press also waits for the whole process to go idle, feed work included)."""
    from textual import events

    before = _on_screen(app)
    t0 = time.perf_counter()
    app.post_message(events.Key(key, key if len(key) == 1 else None))
    while _on_screen(app) == before and time.perf_counter() - t0 < timeout:
        await asyncio.sleep(0.001)
    drawn = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: drawn.done() or drawn.set_result(None))
    await asyncio.wait_for(drawn, timeout)
    return (time.perf_counter() - t0) * 1000


def run(n: int = 2000, rate: float = 4.0, changed: float = 0.1, seconds: float = 20.0,
        size: tuple[int, int] = (200, 60), terminal: bool = False, n_teams: int = 20,
        keys: bool = True, url: str | None = None, ready_timeout: float = 600.0,
        tree: str | None = None) -> dict:
    """`url`: a real service's feed instead of the synthetic one (its `n` agents; the lag
    then is not measured, the service does not stamp its deltas). `tree`: measure that
    source tree's dashboard (imported from there: call this in a fresh process)."""
    proc = None
    if url is None:
        ctx = mp.get_context("spawn")
        port_q = ctx.Queue()
        proc = ctx.Process(target=serve, args=(n, n_teams, rate, changed, seconds, port_q),
                           daemon=True)
        proc.start()  # before `tree` goes on the path: the feed server is this file's
        url = f"ws://127.0.0.1:{port_q.get(timeout=60)}"
    if tree:
        sys.path.insert(0, os.path.abspath(tree))
    from dashboards.tui import FloorApp

    app = FloorApp(url, lang="zh")
    res: dict = {"agents": n, "rate_hz": rate, "changed_per_update": max(1, int(n * changed)),
                 "size": f"{size[0]}x{size[1]}", "headless": not terminal}
    apply_cpu: list[float] = []
    lag: list[float] = []
    opened: dict[str, float] = {}
    orig_handle = app.client.handle
    orig_apply = app._apply_change

    def handle(msg):
        if msg.get("type") == "snapshot" and "received" not in opened:
            opened["received"] = time.perf_counter()
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
        elif ch.kind == "snapshot" and "apply_s" not in opened:
            opened["apply_s"] = time.process_time() - c0

    app.client.handle = handle
    app._apply_change = apply
    gc_pauses: list[tuple[int, float]] = []  # (generation, seconds): the loop stalls too
    gc_t0 = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            gc_t0[0] = time.perf_counter()
        else:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_t0[0]))
    gc.callbacks.append(on_gc)

    async def pilot_main(pilot):
        t0 = time.perf_counter()
        # open: every row there and sorted (nothing pending), then the screen drawn
        # (not app.settled(): that waits for the alerts' month report too, which this
        # feed never answers)
        while (app.floor.row_count < n or app._sort_due) \
                and time.perf_counter() - t0 < ready_timeout:
            await asyncio.sleep(0.005)
        drawn = asyncio.get_running_loop().create_future()
        app.call_after_refresh(lambda: drawn.done() or drawn.set_result(None))
        await asyncio.wait_for(drawn, 60)
        t_open = time.perf_counter()
        res["initial_build_s"] = round(t_open - t0, 2)
        if "received" in opened:
            res["open_s"] = round(t_open - opened["received"], 3)
        if "apply_s" in opened:
            res["snapshot_apply_ms"] = round(opened["apply_s"] * 1000, 1)
        connects0 = app.client.connects
        await asyncio.sleep(1.0)
        apply_cpu.clear()
        lag.clear()
        gc_pauses.clear()
        u0, c0, w0 = app.updates, time.process_time(), time.perf_counter()
        key_ms = []
        step = seconds / len(KEYS)
        for k in KEYS if keys else ():
            await asyncio.sleep(step)
            key_ms.append(await answer_ms(app, k))
            res.setdefault("keys", []).append([k, round(key_ms[-1], 1)])
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
            "key_ms_p99": round(pctl(key_ms, 0.99), 1) if key_ms else None,
            "key_ms_max": round(max(key_ms), 1) if key_ms else None,
            "key_target_ms": KEY_TARGET_MS,
            "load_avg": [round(x, 2) for x in os.getloadavg()],
            "gc_full_collections": sum(1 for g, _ in gc_pauses if g == 2),
            "gc_pause_ms_max": round(max((d for _, d in gc_pauses), default=0) * 1000, 1),
            "connected_at_end": app.client.connected,
            "reconnects": app.client.connects - connects0,
        })
        app.exit()

    async def auto_pilot(pilot):
        await pilot_main(pilot)

    try:
        app.run(headless=not terminal, size=None if terminal else size, auto_pilot=auto_pilot)
    finally:
        gc.callbacks.remove(on_gc)
        if proc is not None:
            proc.terminate()
            proc.join(5)
    return res


def verdict(res: dict) -> str:
    """The key-latency line: p99 against the target."""
    p99 = res.get("key_ms_p99")
    if p99 is None:
        return "keys: none pressed"
    ok = "met" if p99 <= KEY_TARGET_MS else "MISSED"
    return (f"{res['agents']} agents: key latency p99 {p99:.0f} ms against the "
            f"{KEY_TARGET_MS:.0f} ms target: {ok} (median {res['key_ms_median']:.0f} ms, max "
            f"{res['key_ms_max']:.0f} ms, {len(res.get('keys', []))} keys; load "
            f"{res['load_avg'][0]:.2f})")


# figures compared with --before: (key, what, lower is better)
COMPARED = (("open_s", "open: snapshot -> rows sorted and drawn (s)"),
            ("snapshot_apply_ms", "snapshot applied, CPU (ms)"),
            ("apply_ms_mean", "delta applied, CPU mean (ms)"),
            ("apply_ms_p95", "delta applied, CPU p95 (ms)"),
            ("cpu_ms_per_update_total", "process CPU per update (ms)"),
            ("lag_ms_p95", "send -> applied p95 (ms)"),
            ("key_ms_median", "key answered, median (ms)"),
            ("key_ms_p99", "key answered, p99 (ms)"),
            ("key_ms_max", "key answered, max (ms)"))


def _child(argv: list[str], tree: str | None) -> dict:
    """One measurement in a fresh process (this file; `tree`'s dashboard when given)."""
    cmd = [sys.executable, "-m", "benchmarks.tui", *argv, "--json"]
    if tree:
        cmd += ["--tree", tree]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(cmd, cwd=here, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def compare(argv: list[str], before: str, rounds: int) -> list[dict]:
    """This tree's dashboard and `before`'s, alternating, `rounds` each; prints the table."""
    runs: list[dict] = []
    for r in range(rounds):
        for tree in ((None, before) if r % 2 == 0 else (before, None)):
            res = _child(argv, tree)
            res["tree"] = tree or "this"
            runs.append(res)
            print(f"round {r + 1} {res['tree']}: {verdict(res)}", file=sys.stderr, flush=True)
    for r in range(rounds):
        new = next(x for x in runs[2 * r:2 * r + 2] if x["tree"] == "this")
        old = next(x for x in runs[2 * r:2 * r + 2] if x["tree"] != "this")
        print(f"\nround {r + 1}, {new['agents']} agents, {new['rate_hz']:g} updates/s of "
              f"{new['changed_per_update']} agents, {new['size']} (load this "
              f"{new['load_avg'][0]:.2f}, before {old['load_avg'][0]:.2f}; reconnects this "
              f"{new['reconnects']}, before {old['reconnects']})")
        print(f"  {'figure':<46} {'this':>9} {'before':>9} {'before/this':>12}")
        for key, what in COMPARED:
            a, b = new.get(key), old.get(key)
            ratio = f"{b / a:.1f}x" if a and b is not None and a == a and b == b else "-"
            print(f"  {what:<46} {a if a is not None else '-':>9} "
                  f"{b if b is not None else '-':>9} {ratio:>12}")
    return runs


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
    ap.add_argument("--before", metavar="TREE",
                    help="also measure this source tree's dashboard, alternating")
    ap.add_argument("--rounds", type=int, default=1, help="with --before: runs of each")
    ap.add_argument("--tree", help=argparse.SUPPRESS)  # a --before child: that dashboard
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.before:
        keep = [x for x in (argv if argv is not None else sys.argv[1:])]
        drop = {"--before", "--rounds", "--out"}
        child_argv, i = [], 0
        while i < len(keep):
            if keep[i] in drop:
                i += 2
                continue
            child_argv.append(keep[i])
            i += 1
        runs = compare(child_argv, a.before, a.rounds)
        if a.out:
            with open(a.out, "w") as f:
                f.write(json.dumps(runs, indent=1) + "\n")
        return 0
    w, h = (int(x) for x in a.size.split("x"))
    res = run(a.agents, a.rate, a.changed, a.seconds, (w, h), a.terminal, keys=not a.no_keys,
              tree=a.tree)
    text = json.dumps(res, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    if not a.json:
        print(verdict(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
