"""A big batch's side passes (the exporter's figures and the month's inputs digest) run on a
second core while the floor kernel applies it (Engine.side_min): the engine ends
in exactly the state it reaches running them one after the other, and a batch whose
figures read the waiting-call table (answers without wait_ms) never runs them beside it."""
import threading

import numpy as np
import pytest

from benchmarks.kernels import make_setup, new_engine, synthetic_batch
from kefu_floor import stats
from kefu_floor.batch import Batch
from kernels import layout as K

N_AGENTS, N_EVENTS = 400, 80_000


@pytest.fixture(scope="module")
def stream():
    setup = make_setup(N_AGENTS)
    return setup, synthetic_batch(setup, N_EVENTS, seed=7)


def _state(eng) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in vars(eng).items() if isinstance(v, np.ndarray)}


def _run(setup, batch, side_min, monkeypatch, cuts=(0.5,)):
    seen = set()
    real = stats.count_batch

    def spy(*a):
        seen.add(threading.current_thread().name.startswith("kefu-side"))
        return real(*a)

    monkeypatch.setattr(stats, "count_batch", spy)
    eng = new_engine(setup)
    eng.side_min = side_min
    lo = 0
    for c in (*cuts, 1.0):
        hi = int(len(batch) * c)
        eng.feed_batch(batch.slice(lo, hi), received_ms=int(batch.ts[hi - 1]))
        lo = hi
    eng.tick(int(batch.ts[-1]) + 3_600_000)
    return eng, seen


def _without_waits(b: Batch) -> Batch:
    cols = list(b.columns())
    aux = cols[6].copy()
    aux[(b.etype == K.EV_ANSWER) & (np.arange(len(b)) % 3 == 0)] = -1
    cols[6] = aux
    return Batch(*cols)


@pytest.mark.parametrize("waits", ["given", "some missing"])
def test_beside_the_kernel_or_after_it_the_engine_ends_the_same(stream, waits, monkeypatch):
    setup, batch = stream
    if waits == "some missing":
        batch = _without_waits(batch)
        assert stats.reads_call_table(batch)
    beside, threads = _run(setup, batch, 1_000, monkeypatch)
    inline, threads_inline = _run(setup, batch, 10**9, monkeypatch)
    # the waits are looked up in the call table the kernel changes: never beside it
    assert (True in threads) == (waits == "given")
    assert threads_inline == {False}
    a, b = _state(beside), _state(inline)
    assert a.keys() == b.keys()
    differ = [k for k in a if not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f")]
    assert not differ
    assert int(beside.G[K.G_ACCEPTED]) == N_EVENTS
    assert beside.qhist.sum() > 0 and beside.month_inputs(int(beside.MIN[:, 0].max()))[0] == N_EVENTS


def test_a_failing_side_pass_is_raised_after_the_kernel_finished(stream, monkeypatch):
    setup, batch = stream
    def boom(*a):
        raise RuntimeError("side pass failed")

    monkeypatch.setattr(stats, "count_batch", boom)
    eng = new_engine(setup)
    eng.side_min = 1_000
    with pytest.raises(RuntimeError, match="side pass failed"):
        eng.feed_batch(batch.slice(0, 20_000))
    assert int(eng.G[K.G_ACCEPTED]) == 20_000  # the kernel was not cut short
