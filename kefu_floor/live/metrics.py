"""Prometheus exporter of the live floor (`serve --metrics-port`).

Every figure comes from the read model the screens use (`FloorView.snapshot()`), so a
number on Grafana is the number on the wallboard. The figures are built at scrape time, on
the service's event loop (between batches, so every number is of one consistent state):
the client library's HTTP thread asks the loop for a fresh immutable `Figures` object
(`Collector.refresh`) and renders only that, never an engine array the loop may be
mutating. Nobody scraping costs nothing; scrapes closer together than `max_age_s` share
one set; a loop too busy to answer in time gets the last set served.

Names follow Prometheus conventions: base units (seconds, ratios 0–1), counters end in
`_total` and come from the engine's own counts (so they continue across a restart when a
store restores the engine), and labels are bounded (site, queue, team, state, rule,
reason; agent ids only with `--metrics-per-agent`). `METRICS` lists every name, its type
and labels: the README, the rules and the Grafana dashboard are checked against it.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)
from prometheus_client.registry import CollectorRegistry

from kefu_floor.views.floorview import STATES
from kefu_floor.schema import RULES
from kefu_floor.stats import BATCH_BUCKETS_S

log = logging.getLogger("kefu_floor.metrics")

# rejection reasons always exported (at 0 until one happens), so rate() sees them start
REJECT_REASONS = ("bad_json", "unknown_type", "missing_field", "wrong_type", "invalid_value",
                  "too_large", "wrong_site")

# name -> (type, labels, help). Counters are named without `_total` in the client's
# families (it appends it), and listed here with it, as scraped.
METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    # per site and queue
    "kefu_queue_calls_waiting": ("gauge", ("site", "queue"), "Calls waiting in the queue now."),
    "kefu_queue_longest_wait_seconds": ("gauge", ("site", "queue"),
                                        "How long the longest-waiting caller has waited."),
    "kefu_queue_calls_offered_total": ("counter", ("site", "queue"),
                                       "Calls that entered the queue."),
    "kefu_queue_calls_answered_total": ("counter", ("site", "queue"), "Calls answered."),
    "kefu_queue_calls_answered_within_sl_total": (
        "counter", ("site", "queue"),
        "Calls answered within the policy's service-level threshold."),
    "kefu_queue_calls_abandoned_total": ("counter", ("site", "queue"),
                                         "Callers who hung up while waiting."),
    "kefu_queue_calls_abandoned_short_total": (
        "counter", ("site", "queue"),
        "Abandons within the policy's short-abandon threshold (not counted against SL)."),
    "kefu_queue_wait_seconds": ("histogram", ("site", "queue", "outcome"),
                                "Queue wait of answered and abandoned calls."),
    # per site and team
    "kefu_agents": ("gauge", ("site", "team", "state"), "Agents by state."),
    "kefu_agents_scheduled": ("gauge", ("site", "team"), "Agents whose shift is on now."),
    "kefu_agents_missing": ("gauge", ("site", "team"),
                            "Agents not signed in after shift start plus grace."),
    "kefu_agents_over_busy_budget": ("gauge", ("site", "team"),
                                     "Agents with no busy (示忙) budget left today."),
    "kefu_deductions_total": ("counter", ("site", "team", "rule"),
                              "Deductions booked (excused ones included)."),
    "kefu_team_score": ("gauge", ("site", "team"),
                        "Mean month score of the team's scored agents."),
    # per site: policy, engine and telemetry health
    "kefu_service_level_target": ("gauge", ("site",),
                                  "The policy's service-level target, as a ratio."),
    "kefu_service_level_threshold_seconds": ("gauge", ("site",),
                                             "The policy's service-level answer threshold."),
    "kefu_events_total": ("counter", ("site", "outcome"),
                          "Telemetry events by outcome (accepted, rejected, duplicate)."),
    "kefu_events_rejected_total": ("counter", ("site", "reason"), "Rejected events by reason."),
    "kefu_event_gaps_total": ("counter", ("site",),
                              "Events missing from sources' sequence numbers."),
    "kefu_events_clock_skewed_total": (
        "counter", ("site", "direction"),
        "Events stamped further than the policy's clock_skew_s from their receive time."),
    "kefu_event_clock_offset_seconds": (
        "gauge", ("site",), "Receive time minus the newest event time of the last batch."),
    "kefu_calls_unclosed": ("gauge", ("site", "kind"),
                            "Calls answered (talking) or queued (waiting) longer ago than the "
                            "policy's unclosed_call_h and never closed."),
    "kefu_agents_silent": ("gauge", ("site",),
                           "Signed-in agents with no event for the policy's silent_agent_min."),
    "kefu_last_event_timestamp_seconds": ("gauge", ("site",), "Time stamp of the newest event."),
    "kefu_mqtt_connected": ("gauge", ("site",), "1 while the service is connected to the broker."),
    "kefu_feed_clients": ("gauge", ("site",), "Live-feed websocket clients connected."),
    "kefu_feed_publish_errors_total": ("counter", ("site",),
                                       "Delta steps of the live feed that failed (logged; "
                                       "clients were sent a fresh snapshot)."),
    "kefu_batch_seconds": ("histogram", ("site",),
                           "Time of one engine feed call (decoded events to state)."),
    "kefu_store_up": ("gauge", ("site",), "1 while the state store answers."),
    # --metrics-per-agent only
    "kefu_agent_state": ("gauge", ("site", "team", "agent", "state"),
                         "1 for the agent's current state."),
    "kefu_agent_busy_today_seconds": ("gauge", ("site", "team", "agent"),
                                      "Counted busy (示忙) time today."),
    "kefu_agent_score": ("gauge", ("site", "team", "agent"), "Month score (when scored)."),
}


def exported_names() -> set[str]:
    """Every series name a scrape can show (histograms as _bucket/_sum/_count)."""
    out = set()
    for name, (kind, _, _) in METRICS.items():
        out |= ({f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram"
                else {name})
    return out


def _le(x: float) -> str:
    """A bucket bound as Prometheus' Go client writes it: le="20", le="0.5"."""
    return f"{x:g}" if x != int(x) else str(int(x))


@dataclass(frozen=True)
class Family:
    name: str
    samples: tuple  # (label values, value) | histogram: (label values, buckets, sum)


@dataclass(frozen=True)
class Figures:
    """One consistent, immutable set of every series (what a scrape returns)."""

    families: tuple[Family, ...] = ()


@dataclass
class SiteInput:
    """What `figures` reads for a site: its feed snapshot, and the service's view."""

    snapshot: dict
    batch_hist: tuple[float, ...] = ()  # the engine's kefu_batch_seconds (copied)
    mqtt_connected: bool = False
    feed_clients: int = 0
    store_up: bool | None = None  # None: no store configured (no series)
    feed_errors: int = 0  # the feed's failed delta steps (FeedHub.publish_errors)


@dataclass
class _Acc:
    rows: dict = field(default_factory=dict)

    def add(self, name: str, labels: tuple, value) -> None:
        self.rows.setdefault(name, []).append((labels, value))


def figures(sites: dict[str, SiteInput], per_agent: bool = False) -> Figures:
    """The series of every site, from their snapshots (pure: no engine access)."""
    acc = _Acc()
    for site, si in sites.items():
        _site(acc, site, si, per_agent)
    return Figures(tuple(Family(n, tuple(acc.rows.get(n, ()))) for n in METRICS))


def _site(acc: _Acc, site: str, si: SiteInput, per_agent: bool) -> None:
    snap = si.snapshot
    pol = snap.get("policy", {})
    add = acc.add
    add("kefu_service_level_target", (site,), pol.get("service_level_target", 80) / 100.0)
    add("kefu_service_level_threshold_seconds", (site,), pol.get("service_level_s", 20))
    bounds = pol.get("wait_buckets_s", [])
    for q, e in sorted(snap.get("queues", {}).items()):
        add("kefu_queue_calls_waiting", (site, q), e["waiting"])
        add("kefu_queue_longest_wait_seconds", (site, q), e["longest_wait_s"])
        t = e.get("totals")
        if t is None:
            continue
        add("kefu_queue_calls_offered_total", (site, q), t["offered"])
        add("kefu_queue_calls_answered_total", (site, q), t["answered"])
        add("kefu_queue_calls_answered_within_sl_total", (site, q), t["answered_in_sl"])
        add("kefu_queue_calls_abandoned_total", (site, q), t["abandoned"])
        add("kefu_queue_calls_abandoned_short_total", (site, q), t["abandoned_short"])
        for outcome, w in e["waits"].items():
            add("kefu_queue_wait_seconds", (site, q, outcome),
                (_cumulative(bounds, w["counts"]), w["sum_s"]))
    agents = snap.get("agents", {})
    for team, e in sorted(snap.get("teams", {}).items()):
        for st in STATES:
            add("kefu_agents", (site, team, st), e["by_state"][st])
        add("kefu_agents_scheduled", (site, team), e.get("in_shift", 0))
        add("kefu_agents_missing", (site, team), e.get("missing", 0))
        add("kefu_agents_over_busy_budget", (site, team), e["over_budget"])
        for rule in RULES:
            add("kefu_deductions_total", (site, team, rule), e.get("deductions", {}).get(rule, 0))
        if e["mean_score"] is not None:
            add("kefu_team_score", (site, team), e["mean_score"])
    c = snap.get("counters", {})
    add("kefu_events_total", (site, "accepted"), c.get("accepted", 0))
    add("kefu_events_total", (site, "rejected"), c.get("rejected", 0))
    add("kefu_events_total", (site, "duplicate"), c.get("duplicates", 0))
    reasons = set(REJECT_REASONS) | {k[len("rejected_"):] for k in c if k.startswith("rejected_")}
    for r in sorted(reasons):
        add("kefu_events_rejected_total", (site, r), c.get(f"rejected_{r}", 0))
    add("kefu_event_gaps_total", (site,), c.get("gaps", 0))
    qual = snap.get("quality") or {}
    for d in ("ahead", "behind"):
        add("kefu_events_clock_skewed_total", (site, d), qual.get("clock_skewed", {}).get(d, 0))
    if qual.get("clock_offset_s") is not None:
        add("kefu_event_clock_offset_seconds", (site,), qual["clock_offset_s"])
    for kind in ("talking", "waiting"):
        add("kefu_calls_unclosed", (site, kind), qual.get("calls_unclosed", {}).get(kind, 0))
    add("kefu_agents_silent", (site,), qual.get("agents_silent", 0))
    if qual.get("last_event_ts") is not None:
        add("kefu_last_event_timestamp_seconds", (site,), qual["last_event_ts"] / 1000.0)
    add("kefu_mqtt_connected", (site,), 1 if si.mqtt_connected else 0)
    add("kefu_feed_clients", (site,), si.feed_clients)
    add("kefu_feed_publish_errors_total", (site,), si.feed_errors)
    if si.batch_hist:
        add("kefu_batch_seconds", (site,),
            (_cumulative(BATCH_BUCKETS_S, si.batch_hist[:-1]), si.batch_hist[-1]))
    if si.store_up is not None:
        add("kefu_store_up", (site,), 1 if si.store_up else 0)
    if per_agent:
        for a, e in sorted(agents.items()):
            team = e["team"] or "-"
            for st in STATES:
                add("kefu_agent_state", (site, team, a, st), 1 if e["state"] == st else 0)
            add("kefu_agent_busy_today_seconds", (site, team, a), e["busy_today_s"])
            if e["score"] is not None:
                add("kefu_agent_score", (site, team, a), e["score"])


def _cumulative(bounds, counts) -> tuple:
    """Per-bucket counts (last: over the last bound) -> Prometheus' cumulative buckets."""
    out, run = [], 0
    for b, n in zip(bounds, counts):
        run += n
        out.append((_le(b), run))
    run += counts[len(bounds)] if len(counts) > len(bounds) else 0
    out.append(("+Inf", run))
    return tuple(out)


class Collector:
    """prometheus_client collector over the latest published `Figures`.

    `refresh` (called from the HTTP thread) must get a new set published, e.g. by running
    the build on the service's loop and waiting for it; without one, only `publish` does."""

    def __init__(self, refresh: Callable[[], None] | None = None, max_age_s: float = 0.5):
        self.refresh = refresh
        self.max_age_s = max_age_s
        self._current: tuple[Figures, float] = (Figures(), float("-inf"))
        self.scrapes = 0

    def publish(self, figs: Figures) -> None:
        # one reference swap: a scrape sees the old set or the new, never a mix
        self._current = (figs, time.monotonic())

    def collect(self):
        if self.refresh is not None and time.monotonic() - self._current[1] > self.max_age_s:
            try:
                self.refresh()
            except Exception as e:  # a busy or stopping loop: serve the last set
                log.warning("metrics: serving the last figures (%s)", e or type(e).__name__)
        figs = self._current[0]
        self.scrapes += 1
        for fam in figs.families:
            kind, labels, doc = METRICS[fam.name]
            if kind == "counter":
                m = CounterMetricFamily(fam.name[: -len("_total")], doc, labels=labels)
                for lv, v in fam.samples:
                    m.add_metric(lv, v)
            elif kind == "histogram":
                m = HistogramMetricFamily(fam.name, doc, labels=labels)
                for lv, (buckets, total) in fam.samples:
                    m.add_metric(lv, buckets, total)
            else:
                m = GaugeMetricFamily(fam.name, doc, labels=labels)
                for lv, v in fam.samples:
                    m.add_metric(lv, v)
            yield m


class Exporter:
    """The HTTP endpoint: `/metrics` in the Prometheus text format, served by the client
    library's own thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9464,
                 refresh: Callable[[], None] | None = None, max_age_s: float = 0.5):
        self.host, self.port = host, port
        self.collector = Collector(refresh, max_age_s)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> "Exporter":
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(self.port, self.host, self.registry)
        self.port = self._server.server_port
        return self

    def publish(self, figs: Figures) -> None:
        self.collector.publish(figs)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"
