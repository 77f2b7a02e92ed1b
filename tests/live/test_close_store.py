"""`kefu-floor close --store URL --site S` (DESIGN.md §3.4): the month closed from a live
store, read-only, equals the close of the same events from a file, byte for byte; frozen
months and late events; the store's failures as one line each.

The store is filled by the service's own path: `Durable.handle` (journal, then apply through
`Ingest`, as `serve` does), with a checkpoint (which trims the journal) part-way, against a
real redis-server and a real 3-node Redis Cluster."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from kefu_floor.cli.main import _setup, main
from kefu_floor.engine import Engine
from kefu_floor.live.ingest import Ingest
from kefu_floor.store import key, open_store
from kefu_floor.store.durable import Durable
from harness.close import close_files, close_scenario, perfect_month
from harness.scenario_builder import Day, Floor

SITE = "cd1"


def close(*args):
    """The command in this process (the kernels are loaded once): its exit code and
    stderr. Anything but a KefuError escapes, and fails the test, as a traceback would."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["close", *map(str, args)])
    return subprocess.CompletedProcess(args, rc, "", err.getvalue())


def close_process(*args):
    cmd = [sys.executable, "-m", "kefu_floor", "close", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


class Msg:  # what the MQTT adapter hands to Durable.handle
    def __init__(self, payload: bytes):
        self.topic, self.payload, self.dup = f"kefu/{SITE}/telemetry", payload, False


def in_order(events: list[dict]) -> list[dict]:
    return sorted(events, key=lambda e: e["ts"])


async def _serve(url: str, setup, events: list[dict], checkpoint_after: int | None,
                 per_msg: int = 3) -> Durable:
    """The live service's durable path: `events` published `per_msg` to a message, a
    checkpoint (and trim) after `checkpoint_after` of them."""
    eng = Engine(setup, live=True)
    ingest = Ingest({SITE: eng})
    d = Durable(open_store(url), {SITE: eng}, ingest.handle_many)
    await d.recover()
    for k in range(0, len(events), per_msg):
        part = events[k:k + per_msg]
        await d.handle([Msg(json.dumps(part, ensure_ascii=False).encode())])
        if checkpoint_after is not None and k < checkpoint_after <= k + per_msg:
            assert await d.checkpoint()
    return d


def fill(url: str, setup, events, checkpoint_after=None) -> None:
    async def main():
        d = await _serve(url, setup, events, checkpoint_after)
        await d.store.close()

    asyncio.run(main())


def setup_of(ro: Path, sc: Path, policy: str):
    return _setup(Namespace(policy=policy, roster=str(ro), schedule=str(sc), site=SITE))


async def _keys(url: str, site: str = SITE) -> dict:
    """Every key of the site with its type and content: to see nothing was written."""
    st = open_store(url)
    r = await st._client()
    out = {}
    for what in ("journal", "checkpoint", "meta", "lease", "ledger", "ledger:ids",
                 "excuses", "excuses:ids"):
        k = key(site, what)
        t = (await r.type(k)).decode()
        if t == "stream":
            v = await r.xrange(k)
        elif t == "string":
            v = await r.get(k)
        elif t == "hash":
            v = sorted((await r.hgetall(k)).items())
        elif t == "set":
            v = sorted(await r.smembers(k))
        else:
            v = None
        out[what] = (t, v)
    await st.close()
    return out


@pytest.fixture(params=["redis", "cluster"])
def store_url(request):
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    cluster = request.getfixturevalue("redis_cluster")
    cluster.flushall()
    return cluster.url


def test_close_from_the_store_equals_the_close_from_a_file(tmp_path, store_url):
    f, events = close_scenario()
    events = in_order(events)
    ev, ro, sc = close_files(tmp_path, f, events)
    fill(store_url, setup_of(ro, sc, "team-80-20"), events,
         checkpoint_after=len(events) // 2)
    before = asyncio.run(_keys(store_url))
    assert before["checkpoint"][0] == "string" and before["lease"][0] == "none"
    # the checkpoint trimmed the journal: the store holds only the state plus a tail
    assert 0 < len(before["journal"][1]) < len(events)
    common = ("--roster", ro, "--schedule", sc, "--policy", "team-80-20", "--month",
              "2026-11", "--site", SITE)
    a, b = tmp_path / "from-file", tmp_path / "from-store"
    r = close(ev, *common, "--out", a)
    assert r.returncode == 0, r.stderr
    r = close_process("--store", store_url, *common, "--out", b)
    assert r.returncode == 0, r.stderr
    for name in ("close.json", "paysheet.csv"):
        assert (b / name).read_bytes() == (a / name).read_bytes(), name
    assert (b / "paysheet.xlsx").is_file()
    doc = json.loads((b / "close.json").read_text("utf-8"))
    assert doc["site"] == SITE and doc["inputs"]["events"] == len(events)
    # read-only: the same keys with the same contents, no lease taken
    assert asyncio.run(_keys(store_url)) == before
    # closing again: identical files
    files = {p.name: p.read_bytes() for p in b.iterdir()}
    r = close("--store", store_url, *common, "--out", b)
    assert r.returncode == 0, r.stderr
    assert {p.name: p.read_bytes() for p in b.iterdir()} == files
    # a late event for the month reaches the live service: the close stays, it is reported
    late = Day("2026-11-25").sale("A2", "10:00", 9_999_999)

    async def more():
        d = await _serve(store_url, setup_of(ro, sc, "team-80-20"), [late], None)
        await d.store.close()

    asyncio.run(more())
    r = close("--store", store_url, *common, "--out", b)
    assert r.returncode == 0, r.stderr
    assert "1 late event" in r.stderr
    for name, data in files.items():
        assert (b / name).read_bytes() == data
    rep = json.loads((b / "late_events.json").read_text("utf-8"))
    assert rep["count"] == 1 and rep["first"][0]["amount"] == 9_999_999
    # and the file with the same late event says the same of the file's close
    with open(ev, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(late) + "\n")
    r = close(ev, *common, "--out", a)
    assert r.returncode == 0 and "1 late event" in r.stderr, r.stderr


def test_inputs_count_the_accepted_events_whatever_the_batching(tmp_path):
    """The digest is order- and batch-free; a duplicate (same src/seq) is not an input."""
    f, events = close_scenario()
    events = in_order(events)
    _, ro, sc = close_files(tmp_path, f, events)
    s = setup_of(ro, sc, "team-80-20")
    one = Engine(s)
    one.feed(_decoded(events))
    many = Engine(s)
    for k in range(0, len(events), 4):
        many.feed(_decoded(events[k:k + 4]))
    from kefu_floor.localtime import parse_month

    m = parse_month("2026-11")
    assert one.month_inputs(m) == many.month_inputs(m)
    assert one.month_inputs(m)[0] == len(events)
    dup = Engine(s)
    tagged = [dict(e, src="gw1", seq=i + 1) for i, e in enumerate(events)]
    dup.feed(_decoded(tagged + tagged[-3:]))  # the last three again: duplicates
    assert dup.month_inputs(m)[0] == len(events)
    other = Engine(s)
    changed = [dict(e) for e in events]
    sale = next(e for e in changed if e["type"] == "sale")
    sale["amount"] += 1
    other.feed(_decoded(changed))
    assert other.month_inputs(m)[0] == len(events)
    assert other.month_inputs(m)[1] != one.month_inputs(m)[1]


def _decoded(events):
    from kefu_floor.schema import decode_payload

    good, bad = decode_payload(json.dumps(events).encode())
    assert not bad
    return good


def test_a_journal_trimmed_while_the_close_reads_it_is_read_again(tmp_path, redis_url):
    """`serve` checkpoints and trims while the close reads the journal: the close notices
    the tail after its checkpoint was trimmed away (read as it is, it would miss those
    events) and starts over from the newer checkpoint, missing nothing."""
    from kefu_floor.store import reader as store_source

    f, events = close_scenario()
    events = in_order(events)
    _, ro, sc = close_files(tmp_path, f, events)
    s = setup_of(ro, sc, "team-80-20")

    async def main():
        d = await _serve(redis_url, s, events, checkpoint_after=6)
        real = open_store(redis_url)
        fired = []

        class Racing:  # the real store, with the service's checkpoint landing mid-read
            def __getattr__(self, name):
                return getattr(real, name)

            async def journal_read(self, site, after, count):
                if not fired:  # just before the close reads the tail of the checkpoint
                    fired.append(1)  # it restored, the live service checkpoints and trims
                    assert await d.checkpoint()
                return await real.journal_read(site, after, count)

        got = await store_source._rebuild(Racing(), "redis", SITE, lambda: Engine(s),
                                          "2026-11")
        await d.store.close()
        return got, d.engines[SITE]

    got, live = asyncio.run(main())
    assert got.engine.counters()["accepted"] == live.counters()["accepted"] == len(events)
    # started over from the checkpoint written meanwhile, which covers everything
    assert got.applied == 0


def test_store_errors_are_one_line_each(tmp_path, redis_url):
    f, events = close_scenario()
    events = in_order(events)
    ev, ro, sc = close_files(tmp_path, f, events)
    common = ("--roster", ro, "--schedule", sc, "--policy", "team-80-20")

    def one_line(r, *words):
        assert r.returncode == 1, (r.returncode, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        for w in words:
            assert w in lines[0], lines[0]
        return lines[0]

    out = tmp_path / "out"
    # nothing listens there
    one_line(close("--store", "redis://127.0.0.1:1/0", "--site", SITE, *common,
                   "--month", "2026-11", "--out", out), "--store redis://127.0.0.1:1/0",
             "cannot read it", "Redis running")
    # a site the service does not run
    fill(redis_url, setup_of(ro, sc, "team-80-20"), events, checkpoint_after=10)
    one_line(close("--store", redis_url, "--site", "cd9", *common, "--month", "2026-11",
                   "--out", out), "nothing of site 'cd9'", "--site")
    # a roster the service does not run with (B1 left out)
    other = tmp_path / "other-roster.csv"
    other.write_text("".join(x for x in ro.read_text("utf-8").splitlines(True)
                             if not x.startswith("B1,")), "utf-8")
    one_line(close("--store", redis_url, "--site", SITE, "--roster", other, "--schedule", sc,
                   "--policy", "team-80-20", "--month", "2026-11", "--out", out),
             "another policy, roster, schedule", "`serve` runs with")
    # a month with no events in the store
    one_line(close("--store", redis_url, "--site", SITE, *common, "--month", "2026-10",
                   "--out", out), "no events for 2026-10")
    # the flags that go with --store
    one_line(close("--store", redis_url, *common, "--month", "2026-11", "--out", out),
             "--site")
    one_line(close("--store", redis_url, "--site", SITE, "--policy", "team-80-20",
                   "--month", "2026-11", "--out", out), "--roster and --schedule")
    one_line(close(ev, "--store", redis_url, "--site", SITE, *common, "--month", "2026-11",
                   "--out", out), "one of them")
    # the checkpoint gone after the journal was trimmed behind it
    asyncio.run(_delete(redis_url, key(SITE, "checkpoint")))
    one_line(close("--store", redis_url, "--site", SITE, *common, "--month", "2026-11",
                   "--out", out), "is missing", "trimmed", "--archive", "zcat")
    assert not out.exists()


async def _delete(url, k):
    st = open_store(url)
    await (await st._client()).delete(k)
    await st.close()


def test_a_month_the_store_no_longer_holds_is_refused(tmp_path, redis_url):
    """September, then November: September's days have left the engine's day ring."""
    f = Floor("team-80-20")
    f.agent("A1", team="T1", name="王一")
    sep = perfect_month(f, "A1", "2026-09-07", 90)
    nov = perfect_month(f, "A1", "2026-11-16", 80)
    events = in_order(sep + nov)
    ev, ro, sc = close_files(tmp_path, f, events)
    fill(redis_url, setup_of(ro, sc, "team-80-20"), events, checkpoint_after=len(sep))
    common = ("--roster", ro, "--schedule", sc, "--policy", "team-80-20", "--site", SITE)
    r = close("--store", redis_url, *common, "--month", "2026-09", "--out", tmp_path / "o")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    line = r.stderr.strip()
    assert "no longer holds 2026-09" in line and "--archive" in line and "\n" not in line
    # the file holding both months says the same (its November pushed September out)
    r = close(ev, *common, "--month", "2026-09", "--out", tmp_path / "o")
    assert r.returncode == 1 and "no longer holds the month" in r.stderr, r.stderr
    # November is held: closed from the store as from the file
    r = close("--store", redis_url, *common, "--month", "2026-11", "--out", tmp_path / "s")
    assert r.returncode == 0, r.stderr
    r = close(ev, *common, "--month", "2026-11", "--out", tmp_path / "f")
    assert r.returncode == 0, r.stderr
    assert ((tmp_path / "s" / "close.json").read_bytes()
            == (tmp_path / "f" / "close.json").read_bytes())


def test_close_from_the_store_of_a_running_serve(tmp_path, redis_url, mosquitto):
    """A real `serve --store` (checkpointing every second) fed over a real mosquitto: the
    close read from its store while it runs equals the close of the same events as a file."""
    from kefu_floor.live.mqtt import parse_broker_url
    from harness.serve import SITE as S, Serve, publish, settle

    f, events = close_scenario()
    events = in_order(events)
    ev, ro, sc = close_files(tmp_path, f, events)
    batches = [json.dumps(events[k:k + 3], ensure_ascii=False).encode()
               for k in range(0, len(events), 3)]
    serve = Serve(tmp_path, tmp_path, mosquitto.url, redis_url, "--policy", "team-80-20")
    common = ("--roster", ro, "--schedule", sc, "--policy", "team-80-20", "--month",
              "2026-11", "--site", S)

    async def main():
        serve.start()
        feed = await serve.subscribed()
        await publish(parse_broker_url(mosquitto.url), batches, 200)
        rep = await settle(feed, len(events), "2026-11")
        assert rep["counters"]["accepted"] == len(events)
        await asyncio.sleep(1.5)  # a checkpoint (and trim) or two

    try:
        asyncio.run(main())
        ks = asyncio.run(_keys(redis_url, S))
        assert ks["checkpoint"][0] == "string" and ks["lease"][0] == "string"
        r = close("--store", redis_url, *common, "--out", tmp_path / "s")
        assert r.returncode == 0, r.stderr
        assert serve.proc.poll() is None  # still serving
    finally:
        serve.stop()
    r = close(ev, *common, "--out", tmp_path / "f")
    assert r.returncode == 0, r.stderr
    for name in ("close.json", "paysheet.csv"):
        assert ((tmp_path / "s" / name).read_bytes()
                == (tmp_path / "f" / name).read_bytes()), name
