"""How Python calls a kernel: every argument passed by its parameter's name.

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

_PARAMS: dict = {}


def kernel_params(fn) -> tuple[str, ...]:
    """A kernel's parameter names, in its own order (`py_func`: also with NUMBA_DISABLE_JIT)."""
    names = _PARAMS.get(fn)
    if names is None:
        names = _PARAMS[fn] = tuple(inspect.signature(getattr(fn, "py_func", fn)).parameters)
    return names


def call_kernel(owner, fn, given: dict):
    """fn(...) with each parameter from `given` by name, else `owner`'s attribute of that name."""
    return fn(*[given[n] if n in given else getattr(owner, n) for n in kernel_params(fn)])


def batch_columns(b) -> dict:
    """A `kefu_floor.batch.Batch`'s kernel columns by name."""
    return dict(zip(BATCH_COLUMNS, b.columns()))


BATCH_COLUMNS = ("etype", "ts", "agent", "call", "queue", "code", "aux", "num", "src", "seq")
