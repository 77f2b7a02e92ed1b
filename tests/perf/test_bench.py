"""The kernel benchmark runs and prints its table. No timing assertions: that is the
benchmark's job (`python -m benchmarks.kernels`), not a test's."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness import ROOT

pytestmark = pytest.mark.perf


def test_bench_quick_prints_the_table():
    out = subprocess.run([sys.executable, "-m", "benchmarks.kernels", "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert re.search(r"^run\s+agents\s+events\s+seconds\s+events/s\s+vs plain Python$",
                     text, re.M), text
    rows = {name: line for line in text.splitlines()
            for name in ("numba, full batch", "numba, small stream", "plain Python")
            if line.startswith(name)}
    assert len(rows) == 3, text
    assert re.search(r"1,000\s+100,000\s+[\d.]+\s+[\d,]+\s+[\d,]+x$", rows["numba, full batch"])
    assert rows["plain Python"].endswith("1x")
    assert "full run: 100,000 accepted" in text
    assert "targets:" in text


def test_soak_quick_keeps_the_unknown_agents_at_the_cap():
    """The memory soak's flood of bogus agent ids stops at limits.max_unknown_agents, every
    id beyond it counted as over_cap (the RSS ratio itself is the benchmark's to judge)."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.soak", "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert re.search(r"memory soak: 3 simulated days \(\S+ to \S+\) at 200 agents, "
                     r"5,000 bogus agent ids", text), text
    assert "unknown agents kept 1,000 (cap 1,000), 4,000 of 5,000 bogus ids rejected" in text
    assert re.search(r"RSS last/first day [\d.]+x \(last/day 3: [\d.]+x\)", text), text
    # the ledger keeps the months the engine holds: in 3 days nothing is dropped yet
    assert re.search(r"ledger: ([\d,]+) rows kept of \1 booked", text), text
    days = [ln for ln in text.splitlines() if re.match(r"^\s+[123]\s", ln)]
    assert len(days) == 3 and all(" 1,200 " in d for d in days), text  # 200 + the cap


def test_make_bench_lists_every_benchmark_and_refuses_an_unknown_one():
    out = subprocess.run([sys.executable, "-m", "benchmarks.all", "--list"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    names = [ln.split()[0] for ln in out.stdout.splitlines()]
    assert names == ["kernels", "replay", "capacity", "live", "scale", "tui", "store", "soak",
                     "start"]
    bad = subprocess.run([sys.executable, "-m", "benchmarks.all", "--only", "kernel"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "no benchmark named kernel; choose from kernels," in bad.stderr
    assert "Traceback" not in bad.stderr


def test_replay_bench_prints_the_ratio_and_phases():
    out = subprocess.run([sys.executable, "-m", "benchmarks.replay", "--agents", "20",
                          "--repeat", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert re.search(r"json.loads per line \(peer\)\s+[\d.]+ s\s+[\d,]+ events/s\s+1x", text), text
    assert re.search(r"kefu-floor replay \(scanner\)\s+[\d.]+ s\s+[\d,]+ events/s\s+[\d.]+x",
                     text), text
    assert "--decoder strict" in text and "read + scan" in text and "target >= 3x" in text
