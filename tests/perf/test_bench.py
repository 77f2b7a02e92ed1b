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
