"""Replay throughput (issue 11 item 3): `kefu-floor replay` as a whole process against its
peer, a process that merely parses the same file line by line with `json.loads`, on the big
simulated day (2,000 agents, one day: about 900 k events).

    python -m benchmarks.replay [--agents 2000] [--repeat 3]

The replay runs its kernels from the extension `make venv` compiles ahead of time
(kernels.compiled); the same replay with the kernels under numba's JIT is shown beside it.
Runs alternate (peer, replay, replay under numba, replay --decoder strict, ...) so each ratio is taken within
the same stretch of machine load; the best of --repeat of each is compared. Then one replay
is timed in-process by phase (imports, the kernel extension, the engine's set-up while
the reading threads start, reading and feeding, which overlap, the report) to show where
the time goes, each as a fraction of the peer's time. The day is simulated once and
kept under the system's temp directory, keyed by the simulator's source.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 3.0

PEER = """
import json, sys
with open(sys.argv[1], "rb") as f:
    for line in f:
        json.loads(line)
"""

PHASES = """
import json, sys, time
t0 = time.perf_counter()
import numpy
t1 = time.perf_counter()
from kernels import compiled
assert compiled.prefer_compiled(), "no kernel extension for these sources: make venv"
t2 = time.perf_counter()
from kefu_floor.engine import Engine
from kefu_floor.linescan import EventFile
from kefu_floor.replay import replay
from kefu_floor.views.report import build_report
from kefu_floor.cli.main import _setup, build_parser
t3 = time.perf_counter()
args = build_parser(True).parse_args(["replay", *sys.argv[1:]])
ev = EventFile(args.events)  # its reading threads start now
eng = Engine(_setup(args))
t4 = time.perf_counter()
replay(eng, ev, site_from_file=not args.site)
t5 = time.perf_counter()
report = build_report(eng.finish())
t6 = time.perf_counter()
json.dumps(report, ensure_ascii=False)
t7 = time.perf_counter()
print({"numpy": t1 - t0, "kernel extension": t2 - t1, "kefu_floor modules": t3 - t2,
       "engine set-up (reading starts)": t4 - t3, "read + scan + feed": t5 - t4,
       "report": t6 - t5, "JSON out": t7 - t6})
"""


def big_day(agents: int, seed: int = 1) -> Path:
    """The simulated day's directory (simulated now unless already kept)."""
    src = hashlib.sha256()
    for p in sorted((ROOT / "simulators").glob("*.py")):
        src.update(p.read_bytes())
    out = Path(tempfile.gettempdir()) / f"kefu-bench-day-{agents}-{seed}-{src.hexdigest()[:12]}"
    if not (out / "events.jsonl").exists():
        tmp = out.with_name(out.name + ".part")
        subprocess.run([sys.executable, "-m", "kefu_floor", "simulate", "--agents", str(agents),
                        "--days", "1", "--start", "2026-11-03", "--seed", str(seed),
                        "--out", str(tmp)], check=True, capture_output=True)
        tmp.rename(out)
    return out


def timed(cmd: list[str], kernels: str = "compiled") -> float:
    """Seconds of one whole process; `kernels`: how it runs them (kernels.compiled), the
    extension required by default so a missing or stale one fails instead of timing JIT."""
    env = dict(os.environ, KEFU_KERNELS=kernels)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       env=env)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.replay", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-strict", action="store_true", help="skip the strict-decoder runs")
    args = ap.parse_args(argv)
    day = big_day(args.agents)
    events = day / "events.jsonl"
    n = sum(1 for _ in open(events, "rb"))
    files = [str(events), "--roster", str(day / "roster.csv"), "--schedule",
             str(day / "schedule.csv"), "--format", "json"]
    peer = [sys.executable, "-c", PEER, str(events)]
    scan = [sys.executable, "-m", "kefu_floor", "replay", *files]
    strict = scan + ["--decoder", "strict"]
    timed(scan)  # the first run after a kernel change loads what the warm-up compiled
    timed(scan, "jit")
    runs: dict[str, list[float]] = {"peer": [], "scan": [], "jit": [], "strict": []}
    for _ in range(args.repeat):
        runs["peer"].append(timed(peer))
        runs["scan"].append(timed(scan))
        runs["jit"].append(timed(scan, "jit"))
        if not args.no_strict:
            runs["strict"].append(timed(strict))
    best = {k: min(v) for k, v in runs.items() if v}
    ratios = [p / s for p, s in zip(runs["peer"], runs["scan"])]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ph = subprocess.run([sys.executable, "-c", PHASES, *files], capture_output=True,
                        text=True, env=env, check=True)
    phases = eval(ph.stdout.strip().splitlines()[-1])  # a dict literal printed above

    print(f"kefu-floor replay benchmark: {n:,} events, {args.agents:,} agents, "
          f"{events.stat().st_size / 1e6:.0f} MB; whole processes, best of {args.repeat}, "
          "alternating")
    print(f"  json.loads per line (peer)       {best['peer']:7.2f} s  "
          f"{n / best['peer']:>12,.0f} events/s  1x")
    print(f"  kefu-floor replay (scanner)      {best['scan']:7.2f} s  "
          f"{n / best['scan']:>12,.0f} events/s  {best['peer'] / best['scan']:.2f}x "
          f"(runs: {', '.join(f'{r:.2f}x' for r in ratios)})")
    print(f"  the same, kernels under numba      {best['jit']:5.2f} s  "
          f"{n / best['jit']:>12,.0f} events/s  {best['peer'] / best['jit']:.2f}x "
          "(KEFU_KERNELS=jit: numba's import, first dispatch and caches)")
    if "strict" in best:
        print(f"  kefu-floor replay --decoder strict {best['strict']:5.2f} s  "
              f"{n / best['strict']:>12,.0f} events/s  {best['peer'] / best['strict']:.2f}x")
    tot = sum(phases.values())
    print(f"  one replay by phase (in-process, {tot:.2f} s; fraction of the peer's best):")
    for k, v in phases.items():
        print(f"    {k:32s} {v:6.2f} s  {v / best['peer']:.2f}")
    ok = best["peer"] / best["scan"] >= TARGET
    print(f"  target >= {TARGET:g}x the peer: {'met' if ok else 'NOT met'}")
    print(json.dumps({"events": n, "peer_s": best["peer"], "scan_s": best["scan"],
                      "jit_s": best["jit"], "strict_s": best.get("strict"), "ratio": best["peer"] / best["scan"],
                      "ratios": ratios, "phases": phases}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
