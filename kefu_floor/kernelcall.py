"""How Python calls a kernel (every argument passed by its parameter's name) and hands it
arrays (on a cache-line boundary).

A kernel takes two dozen arrays, several of the same dtype and rank (QROLL and QDAY are
both float64 (slots, queues, Q_K)); passed by position, a swap at a call site compiles and
silently corrupts. `call_kernel` takes each parameter from what the caller gives by name
(batch columns, times, resume points), else from the owner's (the engine's) array of that
name, so the order is written once, in the kernel's own `def`, and no call site lists it.
tests/core/test_layout.py holds the kernels' calls to each other to the same rule (an argument
named like a parameter of the callee sits at that parameter's place) and checks that every
entry point's arrays exist on an engine.

A few µs a call. A namedtuple of the arrays was measured at ~40 µs more per call (numba
types a namedtuple argument in Python), which the live service, calling the kernel per
message, would pay; a structref needs numba's refcounting, which the kernels run without.
"""
from __future__ import annotations

import inspect
from operator import attrgetter, itemgetter

import numpy as np

from kernels.layout import CACHE_LINE

_PARAMS: dict = {}


def kernel_params(fn) -> tuple[str, ...]:
    """A kernel's parameter names, in its own order (`py_func`: also with NUMBA_DISABLE_JIT)."""
    names = _PARAMS.get(fn)
    if names is None:
        names = _PARAMS[fn] = tuple(inspect.signature(getattr(fn, "py_func", fn)).parameters)
    return names


def _getter(get, keys):
    """get(*keys) that always returns a tuple (operator's getters return a bare value for one)."""
    if len(keys) == 1:
        one = get(keys[0])
        return lambda x: (one(x),)
    return get(*keys) if keys else (lambda x: ())


_PLANS: dict = {}


def call_kernel(owner, fn, given: dict, batch=None):
    """fn(...) with each parameter taken by its name: a column of `batch` (a
    `kefu_floor.batch.Batch`), else from `given`, else `owner`'s attribute of that name.

    The plan (which parameter comes from where) is worked out once per kernel and set of
    given names, so a call gathers its arguments with four C-level getters (~2 µs)."""
    key = (fn, tuple(given), batch is None)
    plan = _PLANS.get(key)
    if plan is None:
        names = kernel_params(fn)
        cols = () if batch is None else tuple(n for n in names if n in BATCH_COLUMNS
                                              and n not in given)
        gkeys = key[1]
        own = tuple(n for n in names if n not in given and n not in cols)
        at = {n: i for i, n in enumerate(cols + gkeys + own)}
        plan = _PLANS[key] = (_getter(attrgetter, cols), _getter(itemgetter, gkeys),
                              _getter(attrgetter, own),
                              _getter(itemgetter, tuple(at[n] for n in names)))
    from_batch, from_given, from_owner, in_order = plan
    return fn(*in_order(from_batch(batch) + from_given(given) + from_owner(owner)))


BATCH_COLUMNS = ("etype", "ts", "agent", "call", "queue", "code", "aux", "num", "src", "seq")


def aligned(shape, dtype, fill=0) -> np.ndarray:
    """A C-contiguous array filled with `fill` whose data starts on a cache-line boundary.

    numpy aligns to 16 bytes, so a 192-byte agent row (kernels.layout A, DACC) would straddle
    four lines in three of four tables instead of filling three: one more miss per event.
    The engine makes every state array with this (and restores checkpoints into it)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(n + CACHE_LINE, np.uint8)
    off = -raw.ctypes.data % CACHE_LINE
    out = raw[off:off + n].view(dtype).reshape(shape)
    out[...] = fill
    return out


def aligned_copy(a: np.ndarray) -> np.ndarray:
    out = aligned(a.shape, a.dtype)
    out[...] = a
    return out
