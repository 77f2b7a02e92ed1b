"""The store port: one conformance suite run against every backend (memory, a real
redis-server with AOF, a real 3-node Redis Cluster), and the checkpoint format."""
from __future__ import annotations

import asyncio
import json
import struct

import numpy as np
import pytest

from kefu_floor.engine import Engine
from kefu_floor.errors import ConfigError
from kefu_floor.views.report import build_report
from kefu_floor.schema import decode_event
from kefu_floor.store import StoreDown, open_store, redact, state
from kefu_floor.store.durable import Durable

from harness.handworked import HW, hw_setup


def run(coro):
    return asyncio.run(coro)


def _lines() -> list[str]:
    """The hand-worked day's event lines."""
    evs = (HW / "events.jsonl").read_text("utf-8").splitlines()
    return [x for x in evs if x.strip() and not x.startswith("#")]


class Msg:  # what the MQTT adapter hands over
    def __init__(self, p: str):
        self.topic, self.payload, self.dup = "kefu/cd1/telemetry", p.encode(), False


class SlowPut:  # the memory store, with a checkpoint write held until `gate` is set
    def __init__(self, inner):
        self.inner, self.gate = inner, asyncio.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def checkpoint_put(self, site, blob):
        await self.gate.wait()
        await self.inner.checkpoint_put(site, blob)


@pytest.fixture(params=["memory", "redis", "cluster"])
def store_url(request):
    if request.param == "memory":
        return "memory"
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    cluster = request.getfixturevalue("redis_cluster")
    cluster.flushall()
    return cluster.url


class TestStoreConformance:
    """What every backend must do, whatever it is."""

    def test_journal_append_read_trim(self, store_url):
        async def main():
            async with open_store(store_url) as st:
                ids = await st.journal_append({"cd1": [{b"t": b"x", b"p": bytes([i])}
                                                       for i in range(5)],
                                               "cd2": [{b"t": b"y", b"p": b"z"}]})
                assert len(ids["cd1"]) == 5 and len(ids["cd2"]) == 1
                rows = await st.journal_read("cd1", None, 100)
                assert [i for i, _ in rows] == ids["cd1"]
                assert [e[b"p"] for _, e in rows] == [bytes([i]) for i in range(5)]
                tail = await st.journal_read("cd1", ids["cd1"][1], 2)
                assert [i for i, _ in tail] == ids["cd1"][2:4]
                await st.journal_trim("cd1", ids["cd1"][3])
                assert [i for i, _ in await st.journal_read("cd1", None, 100)] == ids["cd1"][3:]
                assert await st.journal_len("cd1") == 2 and await st.journal_len("cd2") == 1
                more = await st.journal_append({"cd1": [{b"t": b"x", b"p": b"later"}]})
                assert more["cd1"][0] not in ids["cd1"]
                assert (await st.journal_read("cd1", ids["cd1"][-1], 9))[0][0] == more["cd1"][0]
        run(main())

    def test_checkpoint_meta_replace(self, store_url):
        async def main():
            async with open_store(store_url) as st:
                assert await st.checkpoint_get("cd1") is None
                await st.checkpoint_put("cd1", b"\x00one")
                await st.checkpoint_put("cd1", b"\x00two")
                assert await st.checkpoint_get("cd1") == b"\x00two"
                assert await st.checkpoint_get("cd2") is None
                assert await st.meta_get("cd1", "trimmed") is None
                await st.meta_set("cd1", "trimmed", "1")
                assert await st.meta_get("cd1", "trimmed") == "1"
        run(main())

    def test_records_are_written_exactly_once(self, store_url):
        async def main():
            async with open_store(store_url) as st:
                e = lambda k: (k, {b"j": k.encode()})
                assert await st.record_append("cd1", "ledger", [e("a"), e("b"), e("c")]) == 3
                # a restarted engine books b, c again, in another order, then d
                assert await st.record_append("cd1", "ledger", [e("c"), e("d"), e("b")]) == 1
                rows = await st.record_read("cd1", "ledger")
                assert [x[b"j"] for _, x in rows] == [b"a", b"b", b"c", b"d"]
                assert len({i for i, _ in rows}) == 4
                assert await st.record_read("cd1", "excuses") == []
                assert await st.record_append("cd1", "excuses", [e("a")]) == 1  # own ids
        run(main())

    def test_lease_is_held_by_one_owner_until_it_expires(self, store_url):
        async def main():
            async with open_store(store_url) as st:
                assert await st.lease("cd1", "a", 300)
                assert not await st.lease("cd1", "b", 300)
                assert await st.lease("cd1", "a", 300)  # renewed
                await asyncio.sleep(0.45)
                assert await st.lease("cd1", "b", 300)  # a's expired
                assert not await st.lease("cd1", "a", 300)
                await st.release("cd1", "a")  # not a's: no effect
                assert not await st.lease("cd1", "a", 300)
                await st.release("cd1", "b")
                assert await st.lease("cd1", "a", 300)
        run(main())


def test_cluster_keys_of_a_site_share_a_slot(redis_cluster):
    from kefu_floor.store import key

    slots = {redis_cluster.nodes[0].command("CLUSTER", "KEYSLOT", key("cd1", k))
             for k in ("journal", "checkpoint", "meta", "ledger", "excuses", "lease")}
    assert len(slots) == 1


def test_redis_down_is_store_down_and_urls_are_checked():
    async def main():
        st = open_store("redis://127.0.0.1:1/0")
        with pytest.raises(StoreDown, match="127.0.0.1:1"):
            await st.journal_append({"cd1": [{b"t": b"x", b"p": b"y"}]})
        await st.close()
    run(main())
    with pytest.raises(ConfigError, match="--store"):
        open_store("postgres://x")
    assert redact("redis://:s3cret@h:1/0") == "redis://:***@h:1/0"


# ------------------------------------------------------------------ engine state

def _events():
    return [decode_event(x) for x in _lines()]


def test_every_engine_attribute_is_captured_or_excluded():
    """Fails when someone adds engine state that a checkpoint would not carry: arrays are
    captured by type; any other attribute must be listed in state.PY_STATE or EXCLUDED."""
    eng = Engine(hw_setup())
    eng.feed(_events()[:50])
    assert state.unclassified(eng) == []
    eng.some_new_table = {"x": 1}
    assert state.unclassified(eng) == ["some_new_table"]
    with pytest.raises(TypeError, match="some_new_table"):
        state.capture(eng)


def test_a_frozen_copy_written_over_encodes_what_a_fresh_one_does():
    """A checkpoint reuses the last one's copies (state.freeze(reuse=)): what it encodes is
    the engine as of now, byte for byte, the arrays that grew since included; the copy does
    not follow the engine once taken."""
    evs = _events()
    eng = Engine(hw_setup())
    eng.feed(evs[:40])
    first = state.freeze(eng, {"journal": "1-0"})
    first.encode()
    eng.feed(evs[40:])
    eng.L = np.concatenate([eng.L, np.zeros_like(eng.L)])  # an array that grew
    again = state.freeze(eng, {"journal": "2-0"}, reuse=first)
    assert again.encode() == state.capture(eng, {"journal": "2-0"})
    assert any(a is b for (_, a), (_, b) in zip(again.arrays, first.arrays))  # reused
    blob = again.encode()
    eng.feed([decode_event(json.dumps({"type": "sign_in", "ts": 1793750400000,
                                       "agent": "ZZ9"}))])
    assert again.encode() == blob


def test_restore_then_rest_of_day_equals_whole_day():
    evs = _events()
    whole = Engine(hw_setup())
    whole.feed(evs)
    half = Engine(hw_setup())
    half.feed(evs[: len(evs) // 2])
    blob = state.capture(half, {"journal": "5-0"})
    resumed = Engine(hw_setup())
    assert state.restore(resumed, blob) == {"journal": "5-0"}
    for name, v in vars(half).items():
        if isinstance(v, np.ndarray):
            assert np.array_equal(getattr(resumed, name), v), name
    resumed.feed(evs[len(evs) // 2:])
    assert json.dumps(build_report(resumed.finish(), 2026 * 12 + 10), sort_keys=True) == json.dumps(
        build_report(whole.finish(), 2026 * 12 + 10), sort_keys=True)


def test_checkpoint_of_another_format_version_is_refused_clearly():
    eng = Engine(hw_setup())
    eng.feed(_events()[:20])
    blob = bytearray(state.capture(eng))
    struct.pack_into(">H", blob, len(state.MAGIC), state.FORMAT + 1)
    fresh = Engine(hw_setup())
    with pytest.raises(state.CheckpointError,
                       match=f"format version {state.FORMAT + 1}; this kefu-floor reads version "
                             f"2/{state.FORMAT} only"):
        state.restore(fresh, bytes(blob))
    damaged = bytearray(state.capture(eng))
    damaged[-3] ^= 0xFF
    with pytest.raises(state.CheckpointError, match="damaged"):
        state.restore(fresh, bytes(damaged))
    with pytest.raises(state.CheckpointError, match="bad magic"):
        state.restore(fresh, b"garbage")
    other = hw_setup()
    other.site = "cd9"
    with pytest.raises(state.CheckpointError, match="another policy, roster"):
        state.restore(Engine(other), state.capture(eng))
    assert fresh.G[0] == Engine(hw_setup()).G[0]  # a refused checkpoint changed nothing


def test_setup_fingerprint_is_kept_per_engine_and_follows_its_setup():
    # kept: a checkpoint no longer pays for the roster's repr (~85 ms at 20,000 agents)
    eng = Engine(hw_setup())
    first = state.setup_fingerprint(eng)
    assert state.setup_fingerprint(eng) == first == state.setup_fingerprint(Engine(hw_setup()))
    eng.P[0] += 1  # a setup array that changed is seen, kept figure or not
    assert state.setup_fingerprint(eng) != first
    eng.P[0] -= 1
    assert state.setup_fingerprint(eng) == first
    other = hw_setup()
    other.site = "cd9"
    assert state.setup_fingerprint(Engine(other)) != first


def test_unusable_checkpoint_rebuilds_from_journal_or_refuses(redis_url, caplog):
    """A bad checkpoint with the whole journal still there: rebuilt from it (logged with
    the key and reason); with the journal trimmed behind it: refused, saying so."""
    evs = _lines()

    async def main():
        st = open_store(redis_url)
        eng = Engine(hw_setup())
        d = Durable(st, {"cd1": eng}, lambda ms: eng.feed(
            [decode_event(p) for _, p in ms]))
        await d.recover()
        await d.handle([Msg(p) for p in evs[:40]])
        await st.checkpoint_put("cd1", b"KEFU-CKPT\x00\x01\x00\x00\x00\x02{}")  # corrupt
        e2 = Engine(hw_setup())
        d2 = Durable(st, {"cd1": e2}, lambda ms: e2.feed([decode_event(p) for _, p in ms]))
        await d2.recover()
        assert e2.counters()["accepted"] == eng.counters()["accepted"] == 40
        assert await d.checkpoint()  # a good one, and the journal trimmed behind it
        await st.checkpoint_put("cd1", b"not a checkpoint")
        e3 = Engine(hw_setup())
        with pytest.raises(ConfigError, match=r"kefu:\{cd1\}:checkpoint cannot be used "
                                              r"\(not a kefu-floor checkpoint.*refusing"):
            await Durable(st, {"cd1": e3}, lambda ms: None).recover()
        await st.close()

    run(main())
    assert "kefu:{cd1}:checkpoint cannot be used" in caplog.text
    assert "rebuilding from the whole journal" in caplog.text


def test_checkpoint_written_while_a_batch_is_journaled_loses_nothing():
    """The ticker's checkpoint and the MQTT task's batch interleave on one loop. Only the
    copy of the state holds the store lock, so the batch is journaled and applied while
    the checkpoint is still being compressed and written (at 20,000 agents that took half
    a second on the event loop, every --checkpoint-s), and it survives the trim that
    follows (that trimmed to the newest journal position, past what the checkpoint
    covered, and a restart then lost the batch)."""
    evs = _lines()

    async def main():
        st = SlowPut(open_store("memory"))
        eng = Engine(hw_setup())
        d = Durable(st, {"cd1": eng}, lambda ms: eng.feed([decode_event(p) for _, p in ms]))
        await d.recover()
        await d.handle([Msg(p) for p in evs[:30]])
        ckpt = asyncio.create_task(d.checkpoint())
        await asyncio.sleep(0)  # the state is copied; it is being written
        await asyncio.wait_for(d.handle([Msg(p) for p in evs[30:60]]), 10)
        written_before = ckpt.done()
        st.gate.set()
        await ckpt
        e2 = Engine(hw_setup())
        await Durable(st, {"cd1": e2}, lambda ms: e2.feed(
            [decode_event(p) for _, p in ms])).recover()
        return written_before, eng.counters()["accepted"], e2.counters()["accepted"]

    assert run(main()) == (False, 60, 60)


def test_a_checkpoint_is_not_written_once_the_lease_is_unconfirmed():
    """The standby lease can go unconfirmed while a checkpoint is being encoded (another
    process may have taken over): that checkpoint is not written and trims nothing."""
    evs = _lines()

    async def main():
        st = SlowPut(open_store("memory"))
        eng = Engine(hw_setup())
        d = Durable(st, {"cd1": eng}, lambda ms: eng.feed([decode_event(p) for _, p in ms]))
        await d.recover()
        await d.handle([Msg(p) for p in evs[:30]])
        st.gate.set()
        assert await d.checkpoint()
        kept = await st.checkpoint_get("cd1")
        await d.handle([Msg(p) for p in evs[30:60]])
        ckpt = asyncio.create_task(d.checkpoint())
        await asyncio.sleep(0)  # copied; being encoded
        d.may_write = lambda: False  # the lease renewal failed meanwhile
        before = await st.journal_len("cd1")
        written = await ckpt
        return (written, kept == await st.checkpoint_get("cd1"),
                before == await st.journal_len("cd1"))

    assert run(main()) == (False, True, True)


def test_two_callers_finding_a_checkpoint_due_write_one():
    """The MQTT task and the ticker can both find a checkpoint due at the same moment; the
    second, once it has the lock, finds the first one written and writes none."""
    evs = _lines()

    class Counting:  # the memory store, counting checkpoint writes (each one yields)
        def __init__(self, inner):
            self.inner, self.puts = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        async def checkpoint_put(self, site, blob):
            self.puts += 1
            await asyncio.sleep(0.01)
            await self.inner.checkpoint_put(site, blob)

    async def main():
        st = Counting(open_store("memory"))
        eng = Engine(hw_setup())
        d = Durable(st, {"cd1": eng}, lambda ms: eng.feed([decode_event(p) for _, p in ms]))
        await d.recover()
        await d.handle([Msg(p) for p in evs[:30]])
        before = st.puts
        d._since_ckpt = d.cfg.checkpoint_events  # due
        # both callers' record sync is a store round trip: both look at "due" after it,
        # before either checkpoint has started
        d.sync_records = lambda: asyncio.sleep(0.005)
        await asyncio.gather(d.after_change(), d.after_change())
        return st.puts - before

    assert run(main()) == 1


def test_restart_archives_the_whole_journal_tail_ticks_included(tmp_path):
    """On a restart the journal tail after the checkpoint is archived, every run of
    messages of it: those before a journaled clock tick too (only the run after the last
    tick of a read chunk was archived)."""
    import gzip

    from kefu_floor.store.archive import Archive

    evs = _lines()[:40]

    async def main():
        st = open_store("memory")
        eng = Engine(hw_setup())
        d = Durable(st, {"cd1": eng}, lambda ms: eng.feed([decode_event(p) for _, p in ms]))
        await d.recover()
        await d.handle([Msg(p) for p in evs[:20]])
        await d.tick("cd1", int(eng.now))  # journaled between the two batches
        await d.handle([Msg(p) for p in evs[20:]])
        # killed before any checkpoint: a new process with an archive restores
        e2 = Engine(hw_setup())
        arch = Archive(tmp_path / "arch", {"cd1": e2})
        d2 = Durable(st, {"cd1": e2}, lambda ms: e2.feed([decode_event(p) for _, p in ms]),
                     archive=arch)
        await d2.recover()
        arch.flush()

    run(main())
    lines = [x for f in sorted((tmp_path / "arch" / "cd1").glob("*.jsonl.gz"))
             for x in gzip.decompress(f.read_bytes()).splitlines() if x]
    assert len(lines) == 40
