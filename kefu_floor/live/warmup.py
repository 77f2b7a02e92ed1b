"""Compile (first run) or load (numba's cache) every kernel before anything is connected.

numba compiles a `cache=True` kernel the first time it is called and stores it in the cache
(`kernels/__pycache__`, or `NUMBA_CACHE_DIR`); later processes load it from there (about a
second). Left to the first telemetry message, that is 30 s of a blocked event loop on a cold
cache: broker keep-alives missed, the demo's publisher dropped. So `serve` and `demo` call
`warm_kernels()` before they subscribe or publish, `make venv` runs `python -m
kefu_floor.live.warmup` so a fresh clone's first `make demo` only loads, and the progress line
says what is happening and how long it took.

The warm-up drives a tiny synthetic floor through the same public path live telemetry takes
(ingest's payload scanner -> engine -> tick -> floor view -> report), so every kernel entry point is called
with the argument types the live path uses, including the rarer ones: an agent not in the
roster appearing after start (`start_agents`) and a call table that has to grow
(`call_table_insert_all`).
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

_done = False

# the kernels Python calls directly: each must have a compiled signature after the warm-up
ENTRY_POINTS = (("kernels.floor", "apply_batch"), ("kernels.floor", "advance_all"),
                ("kernels.floor", "start_agents"), ("kernels.floor", "call_table_insert_all"),
                ("kernels.floor", "fnv1a_rows"), ("kernels.stats", "side_passes"),
                ("kernels.stats", "needs_calls"),
                ("kernels.guard", "admit"), ("kernels.guard", "admit_start"),
                ("kernels.guard", "admit_rows"), ("kernels.guard", "admit_end"),
                ("kernels.guard", "in_order"),
                ("kernels.jsonscan", "scan_payloads"))


def _events(day_ms: int) -> list[dict]:
    """A morning of two rostered agents, one stranger, and more waiting calls than the
    engine's first call table holds."""
    h = 3_600_000
    t = day_ms + 8 * h  # 08:00 local-ish; the exact time does not matter for compiling
    ev = [{"type": "sign_in", "ts": t, "agent": "W001"},
          {"type": "ready", "ts": t + 1000, "agent": "W001"},
          {"type": "sign_in", "ts": t + 2000, "agent": "W002"},
          {"type": "busy", "ts": t + 3000, "agent": "W002", "reason": "toilet"},
          {"type": "enqueue", "ts": t + 4000, "call": "c0", "queue": "q1"},
          {"type": "offer", "ts": t + 5000, "agent": "W001", "call": "c0", "queue": "q1"},
          {"type": "answer", "ts": t + 6000, "agent": "W001", "call": "c0", "queue": "q1"},
          {"type": "hangup", "ts": t + 66000, "agent": "W001", "call": "c0"},
          {"type": "wrap_end", "ts": t + 70000, "agent": "W001", "call": "c0"},
          {"type": "survey", "ts": t + 71000, "agent": "W001", "call": "c0",
           "result": "satisfied"},
          {"type": "sale", "ts": t + 72000, "agent": "W001", "amount": 10.0},
          {"type": "offer", "ts": t + 73000, "agent": "W001", "call": "c1", "queue": "q1"},
          {"type": "no_answer", "ts": t + 80000, "agent": "W001", "call": "c1",
           "queue": "q1"},
          {"type": "abandon", "ts": t + 81000, "call": "c1", "queue": "q1", "wait_ms": 9000},
          {"type": "ready", "ts": t + 90000, "agent": "W999"}]  # not in the roster
    # more callers waiting at once than the first call table holds: it has to grow
    ev += [{"type": "enqueue", "ts": t + 100_000 + k, "call": f"w{k}", "queue": "q1"}
           for k in range(1500)]
    ev += [{"type": "ready", "ts": t + 2 * h, "agent": "W002"},
           {"type": "sign_out", "ts": t + 9 * h, "agent": "W001"}]
    return ev


def warm_kernels(say=None) -> float:
    """Compile or load every kernel once per process; returns the seconds it took (0 when
    already done). `say(text)` gets a line before and after (none when already done)."""
    global _done
    if _done:
        return 0.0
    import datetime as dt

    from kefu_floor.engine import Engine, Setup
    from kefu_floor.views.floorview import FloorView
    from kefu_floor.policy import load_policy
    from kefu_floor.views.report import build_report
    from kefu_floor.roster import load_roster, load_schedule
    from kefu_floor.live.ingest import Ingest, topics
    import importlib

    t0 = time.perf_counter()
    if say is not None:
        say("kefu-floor: loading the scoring kernels (about 1 s; the first run after an "
            "install or a kernel change compiles them: about 30 s)...")
    pol = load_policy("chengdu-2014")
    day = dt.date.today()
    day_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=pol.tz).timestamp() * 1000)
    with tempfile.TemporaryDirectory(prefix="kefu-warmup-") as tmp:
        roster, sched = Path(tmp) / "roster.csv", Path(tmp) / "schedule.csv"
        roster.write_text("agent,name,team,role,hired,probation,products\n"
                          "W001,warm,T1,agent,2024-01-01,false,3\n"
                          "W002,up,T1,agent,2024-01-01,false,3\n"
                          "W000,lead,T1,leader,2024-01-01,false,3\n", encoding="utf-8")
        sched.write_text("agent,date,start,end,breaks,grace_min\n"
                         f"W001,{day},08:00,16:30,12:00-12:30,\n"
                         f"W002,{day},08:00,16:30,12:00-12:30,\n", encoding="utf-8")
        setup = Setup(pol, load_roster(roster),
                      load_schedule(sched, pol.tz, pol.attendance.default_grace_min), "warmup")
    eng = Engine(setup)
    events = _events(day_ms)
    view = FloorView(eng)
    view.snapshot()
    # in two batches: an id first seen after the engine started takes its own kernel
    stranger = next(k for k, e in enumerate(events) if e.get("agent") == "W999")
    ingest = Ingest({"warmup": eng})
    for k, part in enumerate((events[:stranger], events[stranger:])):
        if k:  # the second the way a big batch goes: admitted in chunks, counted beside
            eng.side_min, eng.admit_chunk = 1, 256
        ingest.handle_many([(topics("warmup")[0], json.dumps(part).encode())])
    eng.tick(day_ms + 20 * 3_600_000)
    view.snapshot(incremental=True)
    eng.tick()
    build_report(eng.finish())
    missing = [f"{m}.{n}" for m, n in ENTRY_POINTS
               if not getattr(getattr(importlib.import_module(m), n, None), "signatures", [1])]
    _done = True
    took = time.perf_counter() - t0
    if say is not None:
        extra = f" (not reached by the warm-up: {', '.join(missing)})" if missing else ""
        say(f"kefu-floor: kernels ready in {took:.1f} s{extra}")
    return took


def warm_replay() -> None:
    """Compile or load the replay's line scanner (kernels.jsonscan), growing its symbol
    table once, and what turns its rows into an engine's batches (a replay of the lines);
    not part of `warm_kernels`, which the live service runs at start."""
    from kefu_floor.engine import Engine, Setup
    from kefu_floor.linescan import LineScanner, Symbols
    from kefu_floor.policy import load_policy
    from kefu_floor.replay import replay
    from kefu_floor.roster import Roster

    sc = LineScanner()
    sc.sym = Symbols(cap=8)  # small: the table has to grow (jsonscan.rehash)
    lines = b"".join(json.dumps(e).encode() + b"\n" for e in _events(1_793_000_000_000)[:40])
    for _ in sc.scan(lines):
        pass
    with tempfile.TemporaryDirectory(prefix="kefu-warmup-") as tmp:
        day = Path(tmp) / "events.jsonl"
        day.write_bytes(lines)
        replay(Engine(Setup(load_policy("chengdu-2014"), Roster(), [], "warmup")), day)


def main() -> int:
    """`python -m kefu_floor.live.warmup`: fill numba's cache (run by `make venv`): every
    kernel of the live path, and the replay's scanner."""
    warm_kernels(say=lambda s: print(s, file=sys.stderr, flush=True))
    warm_replay()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
