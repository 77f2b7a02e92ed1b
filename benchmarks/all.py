"""`make bench`: every figure of issue 11, each as a ratio against its peer in the same run.

Runs the benchmark modules one after another, each in its own process (so one's memory,
threads or broker never weigh on the next), with sizes chosen to keep the whole run under
about ten minutes on the project's 2-core machine, and prints each one's table under a
heading, then how long each took. A module that fails is reported (its last lines) and the
run goes on; the exit code says whether all of them ran.

    python -m benchmarks.all              # what `make bench` runs
    python -m benchmarks.all --only kernels,soak
    python -m benchmarks.all --list

The figures and their peers:
  kernels   kernel events/s at 10,000 agents vs the same kernels as plain Python
  replay    replay of the big day vs json.loads of each of its lines (when present)
  capacity  one engine in process: ingest vs json.loads and the strict path, 2k vs 20k
            agents, snapshot time, memory per agent
  live      end to end from a real mosquitto: service vs a bare client; publish -> feed p99
  scale     the read side at 20,000 agents, 5,000 events/s, 20 feed clients and the TUI:
            publish -> feed p50/p99, delta spacing, the TUI's key latency
  tui       the TUI alone at 20,000 agents (synthetic feed, 4 deltas/s of 2,000 agents):
            open time, apply time per delta, key latency p99 against the 200 ms target
  store     Redis journal on vs off; restore time
  soak      RSS and ledger rows over 68 days and three month ends (2,000 agents, 100,000
            bogus agent ids); the month report vs a peer holding a year's ledger
  start     first event scored after `demo` starts: warm cache vs empty cache
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time

# (name, module, arguments, timeout s): in the order they run
PLAN = [
    ("kernels", "benchmarks.kernels", ["--repeat", "5", "--plain-events", "20000"], 300),
    ("replay", "benchmarks.replay", ["--repeat", "3", "--no-strict"], 480),
    ("capacity", "benchmarks.capacity", ["--events", "300000", "--single", "30000"], 300),
    ("live", "benchmarks.live", ["--events", "400000", "--single", "30000"], 420),
    ("scale", "benchmarks.live", ["--scale", "--seconds", "20"], 480),
    ("tui", "benchmarks.tui", ["--agents", "20000", "--seconds", "20"], 300),
    ("store", "benchmarks.store", ["--quick"], 300),
    ("soak", "benchmarks.soak", [], 300),
    ("start", "benchmarks.start", [], 420),
]


def _accepts(module: str, flag: str) -> bool:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return False
    with open(spec.origin, encoding="utf-8") as f:
        return f'"{flag}"' in f.read()


def run_one(name: str, module: str, args: list[str], timeout: float) -> tuple[bool, float]:
    print(f"\n=== {name}: python -m {module} {' '.join(args)}", flush=True)
    if importlib.util.find_spec(module) is None:
        print(f"(not in this checkout: {module})")
        return True, 0.0
    # flags a module does not have (yet) are dropped with their value, not failed on
    kept, i = [], 0
    while i < len(args):
        a = args[i]
        has_value = i + 1 < len(args) and not args[i + 1].startswith("--")
        if _accepts(module, a):
            kept += args[i:i + 1 + has_value]
        i += 1 + has_value
    t0 = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-m", module, *kept], timeout=timeout,
                             capture_output=True, text=True, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        print(f"(stopped after {timeout:.0f} s)")
        return False, time.perf_counter() - t0
    took = time.perf_counter() - t0
    print(out.stdout.rstrip())
    if out.returncode != 0:
        print(f"(failed, exit {out.returncode}):\n" + "\n".join(out.stderr.splitlines()[-8:]))
    return out.returncode == 0, took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.all", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated names (see --list)")
    ap.add_argument("--list", action="store_true", help="the benchmarks and their modules")
    args = ap.parse_args(argv)
    if args.list:
        for name, module, a, _ in PLAN:
            print(f"{name:>9}  python -m {module} {' '.join(a)}")
        return 0
    names = [n for n, *_ in PLAN]
    only = args.only.split(",") if args.only else names
    unknown = sorted(set(only) - set(names))
    if unknown:
        print(f"--only: no benchmark named {', '.join(unknown)}; choose from "
              f"{', '.join(names)}", file=sys.stderr)
        return 2
    print("kefu-floor benchmarks (issue 11): every figure is a ratio to its peer in this run; "
          f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    results = []
    for name, module, a, timeout in PLAN:
        if name in only:
            ok, took = run_one(name, module, a, timeout)
            results.append((name, ok, took))
    print("\n=== summary")
    for name, ok, took in results:
        print(f"{name:>9}: {'ok' if ok else 'FAILED'} in {took:.0f} s")
    print(f"all in {time.perf_counter() - t0:.0f} s; load average now "
          f"{os.getloadavg()[0]:.1f}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
