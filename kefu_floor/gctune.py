"""Python's cyclic collector tuned for a process that holds a big floor's state.

At 20,000 agents a process keeps hundreds of thousands of tracked objects (the service its
read model and feed snapshots, the TUI the feed's state), and with CPython's default
thresholds a full collection walks all of them every few seconds, 100-650 ms each time, on
the event loop. The feed's entries hold no cycles (reference counting frees them as deltas
replace them), so the old generation can be collected far less often and long-lived state
frozen out of the collector (`gc.freeze`) by the caller when it has built it.
"""
from __future__ import annotations

import gc
from typing import Callable


def tune(old_every: int) -> Callable[[], None]:
    """Collect the old generation after `old_every` collections of the middle one (never
    more often than now); returns what puts the thresholds back and unfreezes whatever the
    caller froze meanwhile."""
    saved = gc.get_threshold()
    gc.set_threshold(saved[0], saved[1], max(saved[2], old_every))

    def restore() -> None:
        gc.set_threshold(*saved)
        gc.unfreeze()

    return restore
