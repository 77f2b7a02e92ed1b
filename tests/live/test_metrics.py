"""The Prometheus exporter: what the engine counts for it (queue-wait histogram, lifetime
totals, telemetry health), the series built from the read model, and `serve
--metrics-port` scraped over HTTP against a real mosquitto."""
from __future__ import annotations

import asyncio
import json
import random
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import HW
from kefu_floor import stats
from kefu_floor.engine import Engine, Setup
from kefu_floor.errors import ConfigError
from kefu_floor.views.floorview import FloorView
from kefu_floor.live.ingest import Ingest, LiveClock
from kefu_floor.live.metrics import METRICS, SiteInput, figures
from kefu_floor.live.mqtt import parse_broker_url, publish_batches
from kefu_floor.policy import load_policy
from kefu_floor.roster import load_roster, load_schedule
from kefu_floor.schema import decode_event
from kefu_floor.live.service import Service, ServiceConfig
from kernels import layout as K

SITE = "cd1"
T0 = 1793664000000  # 2026-11-03 08:00 Asia/Shanghai


def setup() -> Setup:
    pol = load_policy("chengdu-2014")
    return Setup(pol, load_roster(HW / "roster.csv"),
                 load_schedule(HW / "schedule.csv", pol.tz, pol.attendance.default_grace_min),
                 SITE)


def hw_lines() -> list[str]:
    return [x for x in (HW / "events.jsonl").read_text("utf-8").splitlines()
            if x.strip() and not x.startswith("#")]


def ev(**kw):
    return decode_event(json.dumps({"site": SITE, **kw}))


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def series(samples: dict, name: str, **labels) -> float:
    want = tuple(sorted(labels.items()))
    hits = [v for (n, lv), v in samples.items() if n == name and lv == want]
    assert len(hits) == 1, f"{name}{labels}: {len(hits)} series"
    return hits[0]


# ---------------------------------------------------------------- engine-side counts


def test_wait_histogram_matches_the_kernel_whatever_the_batching():
    lines = hw_lines()
    whole = Engine(setup())
    whole.feed([decode_event(x) for x in lines])
    rnd = random.Random(7)
    cut = Engine(setup())
    i = 0
    while i < len(lines):
        k = rnd.randint(1, 9)
        cut.feed([decode_event(x) for x in lines[i:i + k]])
        i += k
    nq = len(whole.sym.queues)
    np.testing.assert_array_equal(whole.qhist[:, :nq], cut.qhist[:, :nq])
    np.testing.assert_array_equal(whole.qhist_sum[:, :nq], cut.qhist_sum[:, :nq])
    totals = stats.queue_totals(whole)
    sl = list(whole.policy.wait_buckets_s).index(whole.policy.floor_live.service_level_s)
    assert nq >= 2 and totals[:nq, K.Q_ANSWERED].sum() > 0
    for q in range(nq):
        assert whole.qhist[0, q].sum() == totals[q, K.Q_ANSWERED]
        assert whole.qhist[0, q, : sl + 1].sum() == totals[q, K.Q_ANSWERED_SL]
        assert whole.qhist[1, q].sum() == totals[q, K.Q_ABANDONED]


@pytest.mark.parametrize("split", [False, True])
def test_an_answer_without_wait_ms_waited_since_its_enqueue(split):
    """No wait_ms: the wait is answer − enqueue, whether the enqueue came in the same batch
    or an earlier one (then it is read from the waiting-call table)."""
    eng = Engine(setup())
    first = [ev(type="sign_in", ts=T0, agent="A001"),
             ev(type="enqueue", ts=T0 + 1000, call="c1", queue="billing")]
    then = [ev(type="answer", ts=T0 + 26_000, agent="A001", call="c1", queue="billing")]
    if split:
        eng.feed(first)
        eng.feed(then)
    else:
        eng.feed(first + then)
    bounds = eng.policy.wait_buckets_s
    counts = eng.qhist[0, 0]
    assert counts[bounds.index(30)] == 1 and counts.sum() == 1  # 25 s: in (20, 30]
    assert eng.qhist_sum[0, 0] == 25_000
    q = FloorView(eng).snapshot()["queues"]["billing"]
    assert q["totals"]["answered"] == 1 and q["totals"]["answered_in_sl"] == 0


def test_duplicates_are_not_counted_twice():
    eng = Engine(setup())
    ab = dict(type="abandon", ts=T0, call="c1", queue="billing", wait_ms=40_000, src="gw",
              seq=1)
    eng.feed([ev(**ab), ev(**ab)])
    eng.feed([ev(**ab)])
    assert eng.qhist[1, 0].sum() == 1
    assert eng.counters()["duplicates"] == 2


def test_queue_totals_outlive_the_ring_of_day_buckets():
    """The kernel keeps 64 days of queue buckets; the exporter's counters keep counting."""
    eng = Engine(setup())
    days = K.N_DAY_SLOTS + 6
    for d in range(days):
        t = T0 + d * K.DAY_MS
        eng.feed([ev(type="enqueue", ts=t, call=f"c{d}", queue="billing"),
                  ev(type="answer", ts=t + 5000, agent="A001", call=f"c{d}", queue="billing",
                     wait_ms=5000)])
    q = FloorView(eng).snapshot()["queues"]["billing"]
    assert q["totals"]["offered"] == days and q["totals"]["answered"] == days
    assert q["today"]["answered"] == 1
    assert eng.QDAY[:, 0, K.Q_ANSWERED].sum() < days  # what the ring alone would say


def test_telemetry_health_in_the_feed_and_the_metrics():
    eng = Engine(setup())
    ingest = Ingest({SITE: eng})
    import time as _time

    wall = int(_time.time() * 1000)
    hour = 3_600_000
    msgs = [
        {"type": "sign_in", "ts": wall, "agent": "A001", "src": "gw", "seq": 1},
        {"type": "sign_in", "ts": wall, "agent": "A002", "src": "gw", "seq": 2},
        {"type": "answer", "ts": wall + 1000, "agent": "A002", "call": "c1",
         "queue": "billing", "wait_ms": 3000, "src": "gw", "seq": 5},  # seq 3, 4 missing
        {"type": "enqueue", "ts": wall + 2000, "call": "c2", "queue": "billing", "src": "gw",
         "seq": 5},  # a duplicate
        {"type": "ready", "ts": wall + 600_000, "agent": "A003"},  # 10 min ahead of its receipt
    ]
    ingest.handle_many([(f"kefu/{SITE}/telemetry", json.dumps(msgs).encode())])
    # 5 hours on: A002's call never hung up, A001 said nothing since signing in
    eng.tick(wall + 5 * hour)
    qual = FloorView(eng).snapshot()["quality"]
    assert qual["gaps"] == 2 and qual["duplicates"] == 1
    assert qual["clock_skewed"] == {"ahead": 1, "behind": 0}
    assert qual["calls_unclosed"]["talking"] == 1
    assert qual["agents_silent"] == 3  # nobody said anything for over an hour
    assert qual["last_event_ts"] == wall + 600_000
    figs = figures({SITE: SiteInput(FloorView(eng).snapshot())})
    got = {(f.name, lv): v for f in figs.families for lv, v in f.samples}
    assert got[("kefu_event_gaps_total", (SITE,))] == 2
    assert got[("kefu_events_clock_skewed_total", (SITE, "ahead"))] == 1
    assert got[("kefu_calls_unclosed", (SITE, "talking"))] == 1
    assert got[("kefu_agents_silent", (SITE,))] == 3
    assert got[("kefu_events_total", (SITE, "duplicate"))] == 1
    assert got[("kefu_last_event_timestamp_seconds", (SITE,))] == (wall + 600_000) / 1000


# ---------------------------------------------------------------- series from the read model


def test_agent_series_only_when_asked_and_only_for_agents_in_the_read_model():
    eng = Engine(setup())
    eng.feed([decode_event(x) for x in hw_lines()])
    snap = FloorView(eng).snapshot()
    plain = figures({SITE: SiteInput(snap)})
    assert all("agent" not in METRICS[f.name][1] or not f.samples for f in plain.families)
    per = figures({SITE: SiteInput(snap)}, per_agent=True)
    agents = {lv[2] for f in per.families if f.name == "kefu_agent_state" for lv, _ in f.samples}
    assert agents == set(snap["agents"]) and agents
    gone = dict(snap, agents={k: v for k, v in snap["agents"].items() if k != "A001"})
    later = figures({SITE: SiteInput(gone)}, per_agent=True)
    assert not any("A001" in lv for f in later.families for lv, _ in f.samples)


# ---------------------------------------------------------------- serve --metrics-port


def config(broker: str, **kw) -> ServiceConfig:
    return ServiceConfig(setups={SITE: setup()}, broker=broker, ws_port=0,
                         client_id=f"test-metrics-{random.random()}", clock=LiveClock(), **kw)


def test_serve_exports_the_read_model(mosquitto):
    lines = hw_lines()

    async def run():
        async with Service(config(mosquitto.url, metrics_port=0)) as svc:
            await svc.wait_connected()
            await publish_batches(parse_broker_url(mosquitto.url), SITE,
                                  [json.dumps([json.loads(x) for x in lines]).encode()])
            eng = svc.engines[SITE]
            for _ in range(400):
                if eng.counters()["accepted"] == len(lines):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(svc.cfg.metrics_max_age_s)
            before = await asyncio.to_thread(scrape, svc.exporter.url)
            snap = FloorView(eng).snapshot()
            # a scrape within max_age_s shares the last figures; a later one is rebuilt on
            # the loop, from the read model as it is then
            eng.feed([ev(type="abandon", ts=eng.now, call="zz", queue="billing",
                         wait_ms=1000)])
            again = await asyncio.to_thread(scrape, svc.exporter.url)
            await asyncio.sleep(svc.cfg.metrics_max_age_s)
            after = await asyncio.to_thread(scrape, svc.exporter.url)
            return before, again, after, snap

    before, again, after, snap = asyncio.run(run())
    names = {n for n, _ in before}
    optional = {"kefu_agent_state", "kefu_agent_busy_today_seconds", "kefu_agent_score",
                "kefu_team_score"}
    for name, (kind, labels, _) in METRICS.items():
        if name in optional:
            continue
        probe = f"{name}_bucket" if kind == "histogram" else name
        assert probe in names, name
    assert not any(k == "agent" for _, lv in before for k, _ in lv)
    for q, e in snap["queues"].items():
        assert series(before, "kefu_queue_calls_answered_total", site=SITE, queue=q) \
            == e["totals"]["answered"]
        assert series(before, "kefu_queue_wait_seconds_bucket", site=SITE, queue=q,
                      outcome="answered", le="20") == e["totals"]["answered_in_sl"]
        assert series(before, "kefu_queue_wait_seconds_bucket", site=SITE, queue=q,
                      outcome="answered", le="900") <= e["totals"]["answered"]
        assert series(before, "kefu_queue_wait_seconds_count", site=SITE, queue=q,
                      outcome="answered") == e["totals"]["answered"]
        assert series(before, "kefu_queue_calls_waiting", site=SITE, queue=q) == e["waiting"]
    for team, e in snap["teams"].items():
        for st, n in e["by_state"].items():
            assert series(before, "kefu_agents", site=SITE, team=team, state=st) == n
        for rule, n in e["deductions"].items():
            assert series(before, "kefu_deductions_total", site=SITE, team=team,
                          rule=rule) == n
    assert sum(e["deductions"]["busy_over_30"] for e in snap["teams"].values()) > 0
    assert series(before, "kefu_events_total", site=SITE, outcome="accepted") == len(lines)
    assert series(before, "kefu_service_level_target", site=SITE) == 0.8
    assert series(before, "kefu_mqtt_connected", site=SITE) == 1
    assert series(before, "kefu_store_up", site=SITE) == 1
    assert series(before, "kefu_batch_seconds_count", site=SITE) >= 1
    ab = dict(site=SITE, queue="billing")
    assert series(again, "kefu_queue_calls_abandoned_total", **ab) \
        == series(before, "kefu_queue_calls_abandoned_total", **ab)
    assert series(after, "kefu_queue_calls_abandoned_total", **ab) \
        == series(before, "kefu_queue_calls_abandoned_total", **ab) + 1


def test_a_bad_metrics_port_is_one_clear_error(mosquitto):
    async def run(port):
        async with Service(config(mosquitto.url, metrics_port=port)):
            pass

    with pytest.raises(ConfigError, match="--metrics-port 70000"):
        asyncio.run(run(70000))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--metrics-port {port}: cannot listen"):
            asyncio.run(run(port))


def test_exported_counters_continue_from_a_checkpoint():
    """A store restores the engine from a checkpoint of its arrays: the exporter's counters
    (queue totals, the wait histogram, telemetry health) carry on from where they were."""
    from kefu_floor.store.state import capture, restore

    eng = Engine(setup())
    eng.feed([decode_event(x) for x in hw_lines()])
    before = figures({SITE: SiteInput(FloorView(eng).snapshot())})
    again = Engine(setup())
    restore(again, capture(eng))
    after = figures({SITE: SiteInput(FloorView(again).snapshot())})
    counters = {n for n, (kind, _, _) in METRICS.items() if kind in ("counter", "histogram")}
    got = {f.name: f.samples for f in after.families if f.name in counters}
    want = {f.name: f.samples for f in before.families if f.name in counters}
    assert got == want and got["kefu_queue_calls_answered_total"]


def test_a_scrape_the_loop_cannot_answer_gets_the_last_figures():
    from kefu_floor.live.metrics import Collector, Family, Figures

    old = Figures((Family("kefu_mqtt_connected", ((("s",), 1),)),))

    def busy():
        raise TimeoutError

    c = Collector(busy, max_age_s=0.0)
    c.publish(old)
    fams = list(c.collect())
    assert [(f.name, [s.value for s in f.samples]) for f in fams] == [("kefu_mqtt_connected", [1])]
    calls = []
    fresh = Collector(lambda: calls.append(1) or fresh.publish(Figures()), max_age_s=60)
    list(fresh.collect())
    list(fresh.collect())
    assert calls == [1]  # the second scrape, within max_age_s, shared the first's figures
