"""End to end on real servers: serve's exporter scraped by a real Prometheus evaluating the
shipped rules, Alertmanager routing to a webhook in this test. A flooded queue with no
agent ready pages the service-level alert with its labels; it resolves when the floor
recovers.

The rules are the shipped file with its windows and `for:` durations shortened (5m→10s,
15m→20s, 30m→30s, 1h→40s; every `for:` 2s) by `fast_rules` below, so the whole story
takes well under a minute; expressions, labels and annotations are unchanged.
"""
from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import HW, ROOT
from kefu_floor.engine import Setup
from kefu_floor.live.ingest import LiveClock
from kefu_floor.live.mqtt import parse_broker_url, publish_batches
from kefu_floor.policy import load_policy
from kefu_floor.roster import load_roster, load_schedule
from kefu_floor.live.service import Service, ServiceConfig
from simulators.services import HOST, AlertmanagerServer, PrometheusServer

SITE = "cd1"

RULES = ROOT / "dashboards" / "prometheus" / "kefu-floor.rules.yml"
WINDOWS = {"5m": "10s", "15m": "20s", "30m": "30s", "1h": "40s"}
ALERT = "KefuServiceLevelLow15m"


def setup() -> Setup:
    pol = load_policy("chengdu-2014")
    return Setup(pol, load_roster(HW / "roster.csv"),
                 load_schedule(HW / "schedule.csv", pol.tz, pol.attendance.default_grace_min),
                 SITE)


def fast_rules(text: str) -> str:
    text = re.sub(r"\[(5m|15m|30m|1h)\]", lambda m: f"[{WINDOWS[m.group(1)]}]", text)
    return re.sub(r"(\n\s+for: )\S+", r"\g<1>2s", text)


class Webhook:
    """Alertmanager's webhook receiver: keeps every notification it is sent."""

    def __init__(self):
        got = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                got.append(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, status: str) -> list[dict]:
        return [a for msg in list(self.received) for a in msg["alerts"]
                if a["status"] == status and a["labels"].get("alertname") == ALERT]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


AM_CONFIG = """\
route:
  receiver: hook
  group_by: [alertname, site, queue]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
"""

PROM_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["{am}"]
scrape_configs:
  - job_name: kefu-floor
    static_configs:
      - targets: ["{target}"]
"""


async def until(cond, timeout: float, what: str):
    t0 = time.monotonic()
    while True:
        got = await asyncio.to_thread(cond)
        if got:
            return got
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.25)


@pytest.mark.slow
def test_sla_breach_pages_and_resolves(mosquitto):
    hook = Webhook()
    am = AlertmanagerServer(AM_CONFIG.format(url=hook.url)).start()
    prom = None
    broker = parse_broker_url(mosquitto.url)
    now = lambda: int(time.time() * 1000)  # noqa: E731  live telemetry is stamped now

    async def publish(events: list[dict]) -> None:
        await publish_batches(broker, SITE, [json.dumps(events).encode()])

    async def story():
        nonlocal prom
        cfg = ServiceConfig(setups={SITE: setup()}, broker=mosquitto.url, ws_port=0,
                            client_id=f"test-alerting-{random.random()}", clock=LiveClock(),
                            metrics_port=0)
        async with Service(cfg) as svc:
            await svc.wait_connected()
            prom = PrometheusServer(
                PROM_CONFIG.format(am=f"{HOST}:{am.port}", target=f"{HOST}:{svc.exporter.port}"),
                {"rules.yml": fast_rules(RULES.read_text("utf-8"))})
            await asyncio.to_thread(prom.start, 30)
            # a normal floor: one agent ready, one call answered at once
            t = now()
            await publish([{"type": "sign_in", "ts": t, "agent": "A001"},
                           {"type": "enqueue", "ts": t, "call": "w0", "queue": "billing"},
                           {"type": "answer", "ts": t + 1, "agent": "A001", "call": "w0",
                            "queue": "billing", "wait_ms": 1000},
                           {"type": "hangup", "ts": t + 2, "agent": "A001", "call": "w0"},
                           {"type": "busy", "ts": t + 3, "agent": "A001", "reason": "meeting"}])
            await until(lambda: prom.api("query", query='kefu_queue_calls_answered_total'
                                         '{queue="billing"} == 1')["result"], 20,
                        "Prometheus to scrape the exporter")
            await asyncio.sleep(2)  # a few samples before the flood
            # the flood: 30 callers queue while nobody is ready, and give up after a minute
            t = now()
            await publish([{"type": "enqueue", "ts": t, "call": f"f{k}", "queue": "billing"}
                           for k in range(30)])
            await publish([{"type": "abandon", "ts": t + 10 + k, "call": f"f{k}",
                            "queue": "billing", "wait_ms": 60_000} for k in range(30)])
            fired = await until(lambda: hook.alerts("firing"), 30, f"{ALERT} at the webhook")
            labels = fired[0]["labels"]
            assert labels["site"] == SITE and labels["queue"] == "billing"
            assert labels["severity"] == "critical"
            assert fired[0]["annotations"]["summary_zh"] and fired[0]["annotations"]["summary"]
            assert not hook.alerts("resolved")
            # recovery: the agent is back, callers are answered within seconds
            t = now()
            evs = [{"type": "ready", "ts": t, "agent": "A001"}]
            for k in range(40):
                evs += [{"type": "enqueue", "ts": t + 10 * k, "call": f"r{k}", "queue": "billing"},
                        {"type": "answer", "ts": t + 10 * k + 1, "agent": "A001",
                         "call": f"r{k}", "queue": "billing", "wait_ms": 2000},
                        {"type": "hangup", "ts": t + 10 * k + 2, "agent": "A001",
                         "call": f"r{k}"},
                        {"type": "ready", "ts": t + 10 * k + 3, "agent": "A001"}]
            await publish(evs)
            resolved = await until(lambda: hook.alerts("resolved"), 45,
                                   f"{ALERT} resolved at the webhook")
            assert resolved[0]["labels"]["queue"] == "billing"

    try:
        asyncio.run(asyncio.wait_for(story(), 110))
    finally:
        hook.close()
        if prom is not None:
            prom.close()
        am.close()
