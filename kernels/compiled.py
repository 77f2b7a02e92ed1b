"""How this process runs the kernels: compiled by numba when first called (JIT, the
default), or ahead of time, from an extension module that `make venv` builds from these
same sources (`python -m kefu_floor.cli.aot`).

Why two ways. numba costs every process about half a second before its first kernel runs
(its import, then its typing registries and LLVM on the first call, then each kernel's
cache). The live service pays that once at start; a replay of a day pays it on every run,
and it was a third of a big day's replay. The extension is the same kernels, compiled by
numba's ahead-of-time compiler (`numba.pycc`) into ordinary machine code: it imports in
about a millisecond, needs no numba, and releases the GIL like the `nogil` kernels do, so
the replay's reading threads still run beside the engine. `kefu-floor replay` asks for it
(`prefer_compiled`); everything else (serve, demo, the tests) runs JIT.

A kernel module says `from kernels.compiled import njit` where it would say `from numba
import njit`. In JIT mode that *is* numba's `njit`. In compiled mode it returns a `Kernel`:
the extension's variants of that function, one per argument types the build saw (the
warm-up and a replay: the types Python passes). A call whose argument types have no
variant (or a source that changed since the build: the extension is named by a digest of
the kernels' sources and is not used when it does not match) switches the whole process to
JIT, once: the kernel modules are imported again with numba, every `Kernel` forwards to its
numba twin from then on, and the result is the same, only later. `KEFU_KERNELS=jit` never
uses the extension; `KEFU_KERNELS=compiled` requires it, and raises `CompiledKernelError`
instead of switching (the tests use both, to compare the two and to show nothing switched).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
import sysconfig
import threading
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EXT_DIR = HERE / "__aot__"  # where `python -m kefu_floor.cli.aot` puts the extension
ENV = "KEFU_KERNELS"

_mode: str | None = None  # "jit" or "compiled": fixed by the first kernel module imported
_variants: dict = {}  # (module, name) -> {argument types key: the extension's function}
_kernels: list = []  # every Kernel made, to point at its numba twin on a switch
_lock = threading.RLock()


class CompiledKernelError(RuntimeError):
    """KEFU_KERNELS=compiled, and the extension is missing, stale, or lacks a variant."""


def sources_digest() -> str:
    """What the extension was built from: every file of this package, numpy's version (its
    C API) and the interpreter's (its ABI)."""
    h = hashlib.sha256()
    for p in sorted(HERE.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(f"numpy {np.__version__} {sys.implementation.cache_tag}".encode())
    return h.hexdigest()


def extension_name(digest: str | None = None) -> str:
    return "kefu_kernels_" + (digest or sources_digest())[:16]


def extension_paths(name: str) -> tuple[Path, Path]:
    """The extension module's file and its table of variants (JSON)."""
    return EXT_DIR / (name + sysconfig.get_config_var("EXT_SUFFIX")), EXT_DIR / (name + ".json")


# -- argument types, as numba's typeof names them ----------------------------------------

def array_key(dtype_str: str, ndim: int, layout: str, readonly: bool, aligned: bool) -> tuple:
    return (dtype_str, ndim, layout, readonly, aligned)


def typekey(x):
    """A key of what numba would type `x` as (numba.typeof): an array by dtype, rank,
    layout ('C', 'F', 'A' as numba's map_layout), read-only and aligned; a scalar by dtype;
    a Python int as int64 while it fits (uint64 for a positive 64-bit one), as numba does.
    Anything else gets a key no variant has."""
    if isinstance(x, np.ndarray):
        f = x.flags
        layout = "C" if f.c_contiguous else "F" if f.f_contiguous else "A"
        return (x.dtype.str, x.ndim, layout, not f.writeable, f.aligned)
    t = type(x)
    if t is bool:
        return "|b1"
    if t is int:
        n = x.bit_length()
        return "<i8" if n < 64 else "<u8" if n == 64 and x >= 0 else "int too large"
    if t is float:
        return "<f8"
    if isinstance(x, np.generic):
        return x.dtype.str
    if x is None:
        return "none"
    return repr(t)


def _freeze(k):
    return tuple(tuple(a) if isinstance(a, list) else a for a in k)


# -- the mode -----------------------------------------------------------------------------

def jit() -> bool:
    """True when numba compiles this process's kernels (deciding so if nothing has yet)."""
    global _mode
    if _mode is None:
        with _lock:
            if _mode is None:
                if os.environ.get(ENV) == "compiled":
                    _load_extension()
                else:
                    _start_jit()
    return _mode == "jit"


def mode() -> str | None:
    return _mode


def prefer_compiled() -> bool:
    """Use the extension for this process if it is built for these sources and no kernel
    module is loaded yet (then JIT stays); True when it will be used."""
    with _lock:
        if _mode is None and os.environ.get(ENV) != "jit":
            try:
                _load_extension()
            except CompiledKernelError:
                if os.environ.get(ENV) == "compiled":
                    raise
        return _mode == "compiled"


def _load_extension() -> None:
    global _mode
    name = extension_name()
    so, table = extension_paths(name)
    if not (so.is_file() and table.is_file()):
        raise CompiledKernelError(f"no compiled kernels for these sources ({so.name}): run "
                                  "`make venv` (or python -m kefu_floor.cli.aot)")
    spec = importlib.util.spec_from_file_location(name, so)
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    variants: dict = {}
    for v in json.loads(table.read_text()):
        variants.setdefault((v["module"], v["name"]), {})[_freeze(v["key"])] = getattr(
            ext, v["symbol"])
    _variants.update(variants)
    _mode = "compiled"


def _start_jit() -> None:
    global _mode
    _invalidate_stale_cache()
    _mode = "jit"


# -- the decorator --------------------------------------------------------------------------

class Kernel:
    """A kernel in compiled mode: the extension's variant for the call's argument types, or
    (none fits) its numba twin after a switch of the whole process to JIT."""

    def __init__(self, fn):
        self.py_func = fn
        self.__name__, self.__qualname__ = fn.__name__, fn.__qualname__
        self.__module__, self.__doc__ = fn.__module__, fn.__doc__
        self._variants = _variants.get((fn.__module__, fn.__name__), {})
        self._twin = None

    def __call__(self, *args, **kwargs):
        twin = self._twin
        if twin is None:
            fn = None if kwargs else self._variants.get(tuple(map(typekey, args)))
            if fn is not None:
                return fn(*args)
            twin = _switch_to_jit(self, args)
        return twin(*args, **kwargs)

    def __repr__(self):
        return f"<compiled kernel {self.__module__}.{self.__name__}>"


def njit(*args, **options):
    """numba's `njit` in JIT mode; in compiled mode, a `Kernel` (options apply at the build,
    where the extension calls numba's own compilation of this function)."""
    if jit():
        from numba import njit as numba_njit

        return numba_njit(*args, **options)
    if args and callable(args[0]):
        return _kernel(args[0])
    return _kernel


def _kernel(fn):
    k = Kernel(fn)
    _kernels.append(k)
    return k


def _switch_to_jit(k: Kernel, args):
    """No variant of `k` fits `args`: import the kernel modules again under numba and point
    every Kernel at its numba twin (the state arrays are plain numpy, shared as they are)."""
    global _mode
    with _lock:
        if k._twin is not None:
            return k._twin
        if os.environ.get(ENV) == "compiled":
            raise CompiledKernelError(
                f"{k.__module__}.{k.__name__}: no compiled variant for arguments of types "
                f"{[typekey(a) for a in args]}")
        for name in [n for n in sys.modules if n.startswith("kernels.") and n != __name__]:
            del sys.modules[name]
        _start_jit()
        for kern in _kernels:
            kern._twin = getattr(importlib.import_module(kern.__module__), kern.__name__)
        return k._twin


def _invalidate_stale_cache() -> None:
    """numba's on-disk cache (cache=True) is keyed by the content of the kernel's own file
    only, but a kernel compiles the constants it imports from `kernels.layout` (or any
    sibling) into its machine code: after editing only layout.py, every kernel would load
    code with the old column numbers. So a digest of all of this package's files is kept in
    the cache folder numba uses for it (`__pycache__`, or under NUMBA_CACHE_DIR); when it
    differs, that folder's cached kernels are deleted and compile afresh. Where nothing can
    be written (a read-only install) nothing is cached either, and this does nothing."""
    from numba.core import caching

    # numba 0.61 renamed _CacheImpl to CacheImpl
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    srcs = sorted(HERE.glob("*.py"))
    h = hashlib.sha256()
    for p in srcs:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    digest = h.hexdigest()
    try:
        for cls in impl._locator_classes:  # where numba will look, in its own order
            loc = cls.from_function(_invalidate_stale_cache, __file__)
            if loc is not None:
                break
        else:
            return
        cache = Path(loc.get_cache_path())
        stamp = cache / "kernels-sources.sha256"
        if stamp.is_file() and stamp.read_text() == digest:
            return
        mods = tuple(p.stem + "." for p in srcs if p.stem != "__init__")
        for f in cache.iterdir():
            if f.suffix in (".nbi", ".nbc") and f.name.startswith(mods):
                f.unlink(missing_ok=True)
        tmp = cache / f"kernels-sources.{os.getpid()}.tmp"
        tmp.write_text(digest)
        os.replace(tmp, stamp)
    except (OSError, AttributeError):  # AttributeError: numba's internals moved
        pass
