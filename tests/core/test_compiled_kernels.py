"""The kernels compiled ahead of time (kernels.compiled, built by `make venv`) against the
same kernels under numba: a replay gives the same bytes either way, runs without numba,
lets the reading threads run beside it (the GIL released), switches to JIT rather than
run a call it has no variant for, and is not used once the sources change."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from harness import ROOT
from harness.oddlines import DAY, hostile_file
from kefu_floor.cli.aot import _key_of
from kernels import compiled


def _replay(args, mode, extra_env=None):
    env = {**os.environ, compiled.ENV: mode, **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "kefu_floor", "replay", *map(str, args),
                           "--lang", "en"], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT)


def test_the_extension_is_built_for_these_sources():
    so, table = compiled.extension_paths(compiled.extension_name())
    assert so.is_file() and table.is_file(), "make venv builds it (python -m kefu_floor.cli.aot)"
    names = {(v["module"], v["name"]) for v in json.loads(table.read_text())}
    from kefu_floor.live.warmup import ENTRY_POINTS

    assert set(ENTRY_POINTS) <= names
    assert {("kernels.jsonscan", "scan_lines"), ("kernels.scan", "json_depth")} <= names


@pytest.mark.parametrize("case", ["day", "hostile", "gzip", "strict", "month", "bare"])
def test_a_replay_is_the_same_compiled_and_under_numba(tmp_path, case):
    """KEFU_KERNELS=compiled fails on any call without a variant, so this also shows that a
    replay of each kind runs on the extension alone."""
    files = ["--roster", DAY / "roster.csv", "--schedule", DAY / "schedule.csv"]
    p = DAY / "events.jsonl"
    extra = ["--format", "json"]
    if case in ("hostile", "gzip", "strict"):
        p = hostile_file(tmp_path, 4000, 11)
    if case == "gzip":
        gz = tmp_path / "day.jsonl.gz"
        gz.write_bytes(gzip.compress(p.read_bytes()))
        p = gz
    if case == "strict":
        extra += ["--decoder", "strict"]
    if case == "month":
        extra = ["--format", "table", "--month", "2026-11"]
    if case == "bare":
        files = []
    runs = {m: _replay([p, *files, *extra], m) for m in ("compiled", "jit")}
    c, j = runs["compiled"], runs["jit"]
    assert c.returncode == j.returncode and c.returncode in (0, 3, 4), c.stderr[-2000:]
    assert c.stdout == j.stdout
    assert c.stderr == j.stderr
    assert c.stdout or case == "month"


@pytest.mark.parametrize("policy", ["chengdu-2014", "taobao-30pt", "team-80-20"])
def test_a_close_is_the_same_compiled_and_under_numba(tmp_path, policy):
    outs = {}
    for mode in ("compiled", "jit"):
        out = tmp_path / mode
        r = subprocess.run([sys.executable, "-m", "kefu_floor", "close", DAY / "events.jsonl",
                            "--roster", DAY / "roster.csv", "--schedule", DAY / "schedule.csv",
                            "--policy", policy, "--month", "2026-11", "--out", out,
                            "--lang", "en"], capture_output=True, text=True, cwd=ROOT,
                           timeout=300, env={**os.environ, compiled.ENV: mode})
        assert r.returncode == 0, r.stderr
        outs[mode] = (r.stderr.replace(str(out), "OUT"),
                      {p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs["compiled"] == outs["jit"]
    assert outs["jit"][1]


def test_a_compiled_replay_never_imports_numba():
    code = textwrap.dedent(f"""
        import contextlib, io, sys
        from kefu_floor.cli.main import main
        with contextlib.redirect_stdout(io.StringIO()):
            rc = main(["replay", {str(DAY / 'events.jsonl')!r}, "--roster",
                       {str(DAY / 'roster.csv')!r}, "--format", "json"])
        from kernels import compiled
        print(rc, compiled.mode(), [m for m in sys.modules
                                    if m.split(".")[0] in ("numba", "llvmlite")])
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=ROOT, env={**os.environ, compiled.ENV: ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0 compiled []"


def test_argument_types_are_keyed_as_numba_types_them():
    from numba import typeof

    base = np.arange(24, dtype=np.int64).reshape(4, 6)
    ro = np.frombuffer(b"abcdefgh", np.uint8)
    values = [np.zeros(3), np.zeros(3, np.int32), np.zeros((2, 3), np.float64), base,
              base[:, 1], base.T, base[::2], np.zeros(0, np.bool_), ro, np.zeros(4, np.uint64),
              np.asfortranarray(np.zeros((3, 2))), 0, -5, 2**63 - 1, 2**63, 1.5, True,
              np.int64(3), np.int32(3), np.float64(2.0), np.bool_(True), np.uint64(9), None]
    for v in values:
        want = _key_of(typeof(v))
        assert compiled.typekey(v) == (tuple(want) if isinstance(want, list) else want), v


PROBE = """
import sys, threading, time
import numpy as np
from kernels import compiled
assert compiled.prefer_compiled()
from kernels import clock, scan
{body}
"""


def _probe(body: str, **env) -> str:
    r = subprocess.run([sys.executable, "-c", PROBE.format(body=textwrap.dedent(body))],
                       capture_output=True, text=True, timeout=300, cwd=ROOT,
                       env={**os.environ, compiled.ENV: "", **env})
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_a_call_without_a_variant_switches_the_process_to_numba_with_the_same_result():
    got = _probe("""
        tz_utc = np.array([0], np.int64); tz_off = np.array([8 * 3_600_000], np.int64)
        t = 1_793_000_000_000
        a = clock.local_day(tz_utc, tz_off, t)  # as the build saw it: compiled
        m1 = compiled.mode()
        # int32 offsets: no variant, so numba compiles one; same day
        b = clock.local_day(tz_utc.astype(np.int32), tz_off.astype(np.int32), t)
        c = clock.local_day(tz_utc, tz_off, t)  # numba from now on, for every kernel
        print(m1, compiled.mode(), a == b == c == clock.local_day.py_func(tz_utc, tz_off, t),
              "numba" in sys.modules)
    """)
    assert got == ["compiled", "jit", "True", "True"]


def test_required_compiled_kernels_raise_instead_of_switching():
    got = _probe("""
        try:
            scan.json_depth(np.zeros(4, np.int16), 3)
        except compiled.CompiledKernelError as e:
            print("raised", "no compiled variant" in str(e), compiled.mode())
    """, **{compiled.ENV: "compiled"})
    assert got == ["raised", "True", "compiled"]


def test_a_compiled_kernel_lets_other_threads_run():
    """The extension's wrappers release the GIL as the JIT's nogil kernels do: the main
    thread keeps taking steps while another thread is inside one long compiled call. (A
    wrapper holding the GIL lets it take none between the call's start and end: a pycc
    build without the release was seen to give 0 here.)"""
    got = _probe("""
        b = b"[]" * 100_000_000
        span, started = [], threading.Event()
        def long_call():
            started.set()
            time.sleep(0.01)
            t0 = time.perf_counter()
            scan.depth_of(b, 10)  # as the schema checks a payload
            span.extend((t0, time.perf_counter()))
        th = threading.Thread(target=long_call)
        th.start()
        started.wait()
        marks = []
        while th.is_alive():
            marks.append(time.perf_counter())
        th.join()
        t0, t1 = span
        pad = (t1 - t0) * 0.1
        print(sum(t0 + pad < m < t1 - pad for m in marks), compiled.mode())
    """)
    assert int(got[0]) > 1000 and got[1] == "compiled"


def test_an_extension_built_for_other_sources_is_not_used(tmp_path, monkeypatch):
    """Named by a digest of every kernels file: after any edit (here, a comment), the
    built extension no longer matches and the process runs JIT until `make venv`."""
    import shutil

    pkg = tmp_path / "kernels"
    shutil.copytree(compiled.HERE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), compiled.ENV: ""}
    code = ("from kernels import compiled; print(compiled.prefer_compiled(), "
            "compiled.extension_name())")

    def run():
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    used, name = run()
    assert used == "True" and name == compiled.extension_name()
    (pkg / "layout.py").write_text((pkg / "layout.py").read_text() + "\n# edited\n")
    used, name2 = run()
    assert used == "False" and name2 != name
