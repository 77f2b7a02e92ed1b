"""numba's cache must not serve machine code compiled against an older kernels/layout.py
(a kernel compiles the layout's constants in, but numba only checks the kernel's own file)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import kernels

PROBE = """from kernels.compiled import njit
from kernels.layout import PROBE_VALUE

@njit(cache=True)
def probe():
    return PROBE_VALUE
"""


def test_editing_only_the_layout_recompiles_the_kernels(tmp_path):
    pkg = tmp_path / "kernels"
    shutil.copytree(Path(kernels.__file__).parent, pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "probe.py").write_text(PROBE)
    layout = pkg / "layout.py"
    base = layout.read_text()
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "nc")}

    def run(value: int) -> str:
        layout.write_text(base + f"\nPROBE_VALUE = {value}\n")
        out = subprocess.run([sys.executable, "-c", "from kernels.probe import probe; "
                              "print(probe())"], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run(1) == "1"
    assert any((tmp_path / "nc").rglob("*.nbi"))  # it was cached
    assert run(2) == "2"  # only layout.py changed: not the cached 1
    assert run(2) == "2"
