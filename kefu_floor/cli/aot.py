"""`python -m kefu_floor.cli.aot`: compile the kernels a replay calls ahead of time, into the
extension `kernels.compiled` loads (run by `make venv`, after the warm-up; about 15 s).

What gets compiled is found by running, not listed: the live warm-up and replays of the
example day (scanner and strict decoder) call every kernel entry point the way the service
and a replay do, and each signature numba then holds for a kernel is the argument types
Python passed it. Each becomes a variant in the extension: a trampoline compiled by
`numba.pycc` whose one statement calls the kernel, so the kernel itself is compiled by
numba's own pipeline with its own options (`error_model`, `_nrt`, inlining) exactly as the
JIT compiles it, and linked in. The trampolines release the GIL (pycc's wrappers do not
by default), as the JIT's `nogil` kernels do.

The extension is named by a digest of the kernels' sources (`kernels.compiled`); an older
one is removed. Code here runs at build time only: a replay never imports numba.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNEL_MODULES = ("clock", "floor", "guard", "inputs", "jsonscan", "scan", "stats")
# the CPU the extension targets: a baseline every x86-64 server of the last 15 years has
# (SSE4.2, POPCNT), so a venv copied to another machine still runs; measured no slower
# than the host's own model on the replay (its time is the scanner's branches, not SIMD)
TARGET_CPU = {"x86_64": "x86-64-v2", "AMD64": "x86-64-v2"}


def _workload() -> None:
    """Call every entry point with the argument types the service and a replay pass."""
    from kefu_floor.cli.main import main
    from kefu_floor.live.warmup import warm_kernels, warm_replay

    warm_kernels()
    warm_replay()
    day = ROOT / "examples" / "day"
    files = [str(day / "events.jsonl"), "--roster", str(day / "roster.csv"),
             "--schedule", str(day / "schedule.csv"), "--format", "json"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for extra in ([], ["--decoder", "strict"], ["--format", "table"]):
            main(["replay", *files, *extra])


def _key_of(ty):
    """kernels.compiled.typekey's key for a numba type, None if it is not one a replay's
    Python passes (arrays and plain scalars)."""
    from numba.core import types
    from numba.np.numpy_support import as_dtype

    if isinstance(ty, types.Array):
        return [as_dtype(ty.dtype).str, ty.ndim, ty.layout, not ty.mutable, ty.aligned]
    if isinstance(ty, (types.Integer, types.Float, types.Boolean)):
        return as_dtype(ty).str
    if isinstance(ty, types.NoneType):
        return "none"
    return None


def _trampoline(target, n: int):
    params = ", ".join(f"a{i}" for i in range(n))
    g = {"target": target}
    exec(f"def trampoline({params}):\n    return target({params})\n", g)
    return g["trampoline"]


def build(say=print) -> Path:
    os.environ["KEFU_KERNELS"] = "jit"
    from kernels import compiled

    t0 = time.perf_counter()
    _workload()
    import llvmlite.binding as ll
    import numba.pycc.compiler as pycc_compiler
    from numba.core.compiler import Flags
    from numba.core.registry import CPUDispatcher
    from numba.pycc import CC

    def flags():  # pycc builds its wrappers from Flags(): the same, releasing the GIL
        f = Flags()
        f.release_gil = True
        return f

    pycc_compiler.Flags = flags
    name = compiled.extension_name()
    so, table_path = compiled.extension_paths(name)
    cc = CC(name)
    cc.target_cpu = TARGET_CPU.get(os.uname().machine, "")
    table, skipped = [], []
    for short in KERNEL_MODULES:
        mod = importlib.import_module("kernels." + short)
        for fname, disp in sorted(vars(mod).items()):
            if not isinstance(disp, CPUDispatcher) or disp.py_func.__module__ != mod.__name__:
                continue
            if disp.targetoptions.get("inline") == "always":
                continue  # inlined into its callers: never called from Python
            for k, sig in enumerate(disp.signatures):
                key = [_key_of(t) for t in sig]
                if any(x is None for x in key):
                    skipped.append(f"{mod.__name__}.{fname}{sig}")
                    continue
                symbol = f"{short}__{fname}__{k}"
                ret = disp.overloads[sig].signature.return_type
                cc.export(symbol, ret(*sig))(_trampoline(disp, len(sig)))
                table.append({"module": mod.__name__, "name": fname, "symbol": symbol,
                              "key": key})
    with tempfile.TemporaryDirectory(prefix="kefu-aot-") as tmp:
        cc.output_dir = tmp
        cc.compile()
        built = Path(tmp) / so.name
        compiled.EXT_DIR.mkdir(exist_ok=True)
        for old in compiled.EXT_DIR.glob("kefu_kernels_*"):
            old.unlink()
        shutil.move(str(built), so)
        tmp_table = table_path.with_suffix(".json.tmp")
        tmp_table.write_text(json.dumps(table, indent=1))
        os.replace(tmp_table, table_path)  # last: the table says the extension is whole
    say(f"kefu-floor: {len(table)} kernel variants compiled ahead of time into {so.name} "
        f"in {time.perf_counter() - t0:.1f} s (target CPU {cc.target_cpu or ll.get_host_cpu_name()})"
        + (f"; not compiled (JIT when called): {', '.join(skipped)}" if skipped else ""))
    return so


def main() -> int:
    build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
