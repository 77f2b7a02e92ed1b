"""A big pool is admitted in chunks on the side thread, a chunk ahead of the floor kernel
(Engine.admit_chunk): with duplicates, a wrong clock held and then rejected, a
survey let through while it is held, events too far behind, the engine ends exactly as when
the pool is admitted in one go, and as when the same stream arrives in small batches."""
import numpy as np
import pytest

from benchmarks.kernels import make_setup, new_engine, synthetic_batch
from kefu_floor.batch import Batch
from kernels import layout as K

N_AGENTS, N_EVENTS = 300, 50_000
MIN = 60_000
FIELDS = ("etype", "ts", "agent", "call", "queue", "code", "aux", "num", "src", "seq")


def _hostile(b: Batch) -> Batch:
    """b (one gateway, src 0) with a second gateway (src 1) whose clock runs 3 h ahead for
    a few events, a survey between them, copies of earlier rows, rows 2 h behind."""
    cols = [c.copy() for c in b.columns()]
    n = len(b)
    extra = []  # (insert before row, column values)

    def row(k, **kw):
        r = [c[k] for c in cols]
        for name, v in kw.items():
            r[FIELDS.index(name)] = v
        return r

    mid = n // 2
    agent = int(cols[2][mid])
    for d in range(3):  # held: ahead of engine time, from a source with nothing applied
        extra.append((mid + d, row(mid, etype=K.EV_READY, ts=cols[1][mid] + 180 * MIN,
                                   agent=agent, src=1, seq=d + 1)))
    extra.append((mid + 3, row(mid, etype=K.EV_SURVEY, ts=cols[1][mid] - 60 * MIN,
                               agent=agent, src=1, seq=4, code=0)))
    for k in range(1_000, n - 10, 4_999):
        extra.append((k + 7, row(k)))  # a duplicate: the same source and seq again
        extra.append((k + 9, row(k, ts=cols[1][k] - 120 * MIN, seq=n + k)))  # far behind
    extra.sort(key=lambda e: e[0])
    out = [[] for _ in cols]
    at = 0
    for before, r in extra:
        for c, o in zip(cols, out):
            o.append(c[at:before])
        for v, o in zip(r, out):
            o.append(np.array([v], dtype=o[0].dtype))
        at = before
    for c, o in zip(cols, out):
        o.append(c[at:])
    return Batch(*(np.concatenate(o) for o in out))


@pytest.fixture(scope="module")
def stream():
    setup = make_setup(N_AGENTS)
    return setup, _hostile(synthetic_batch(setup, N_EVENTS, seed=11))


def _feed(setup, batch, cut, chunk):
    eng = new_engine(setup)
    eng.admit_chunk = chunk
    eng.sym.sources.id("gw2")
    out = []
    for lo in range(0, len(batch), cut):
        part = batch.slice(lo, min(len(batch), lo + cut))
        out += [(r.reason, lo + tag, r.detail)
                for r, tag, _ in eng.feed_batch(part, received_ms=None)]
    out += [(r.reason, tag, r.detail) for r, tag, _ in eng.settle()]
    eng.tick(int(batch.ts.max()) + 3_600_000)
    state = {k: v for k, v in vars(eng).items() if isinstance(v, np.ndarray)}
    return out, state, eng


def _same(a: dict, b: dict) -> list[str]:
    return [k for k in a if not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f")]


def test_chunked_admission_ends_as_admitting_at_once_and_as_small_batches(stream):
    setup, batch = stream
    rej, state, eng = _feed(setup, batch, len(batch), 4_096)
    rej1, state1, _ = _feed(setup, batch, len(batch), 10**9)
    rej2, state2, _ = _feed(setup, batch, 997, 4_096)
    reasons = {r for r, _, _ in rej}
    assert reasons == {"clock_skew"}, reasons  # the hold and the rows behind
    assert int(eng.G[K.G_DUPLICATES]) == 10
    assert rej == rej1 and not _same(state, state1)
    # (a detail names the distance from engine time before its batch: batches differ there)
    assert sorted(r[:2] for r in rej) == sorted(r[:2] for r in rej2)
    assert not _same(state, state2)
    # the wrong clock's three events are rejected; its survey, sent meanwhile, is applied
    gw2 = np.flatnonzero(batch.src == 1).tolist()
    rejected = {tag for _, tag, _ in rej}
    assert len(gw2) == 4 and set(gw2[:3]) <= rejected and gw2[3] not in rejected
    assert int(eng.G[K.G_ACCEPTED]) + len(rej) + 10 == len(batch)
