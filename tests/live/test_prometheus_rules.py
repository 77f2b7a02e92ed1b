"""The shipped Prometheus rules and Grafana dashboard, checked with the real promtool:
rules load, every alert is unit-tested firing and quiet, the tests can fail, every query
parses, and every name is one the exporter exports (or a shipped recording rule)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from harness import ROOT
from kefu_floor.live.metrics import exported_names
from simulators.services import find_binary

RULES = ROOT / "dashboards" / "prometheus" / "kefu-floor.rules.yml"
RULE_TESTS = ROOT / "dashboards" / "prometheus" / "kefu-floor.rules.test.yml"
DASHBOARD = ROOT / "dashboards" / "grafana" / "kefu-floor.json"
NAME = re.compile(r'"[^"]*"|([a-zA-Z_:][a-zA-Z0-9_:]*)')
PROMQL_WORDS = {"sum", "by", "on", "and", "or", "unless", "group_left", "group_right",
                "increase", "rate", "time", "histogram_quantile", "le", "without", "ignoring",
                "bool", "max", "min", "avg", "count", "abs", "queue", "site", "team", "state",
                "rule", "outcome", "reason", "direction", "kind", "agent"}


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([find_binary("promtool"), *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def rule_groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text("utf-8"))["groups"]


def alerts() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def recorded() -> set[str]:
    return {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}


def names_in(expr: str) -> set[str]:
    """Metric names an expression reads (quoted strings, ranges and label names aside)."""
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    out = set()
    for m in NAME.finditer(expr):
        w = m.group(1)
        if w and w not in PROMQL_WORDS and not re.fullmatch(r"\d.*", w):
            out.add(w)
    return out


# ---------------------------------------------------------------------------- rules


def test_promtool_checks_the_rules():
    r = promtool("check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_promtool_unit_tests_pass():
    r = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_is_tested_firing_and_quiet():
    cases: dict[str, set[bool]] = {}
    for t in yaml.safe_load(RULE_TESTS.read_text("utf-8"))["tests"]:
        for a in t.get("alert_rule_test", []):
            cases.setdefault(a["alertname"], set()).add(bool(a.get("exp_alerts")))
    for a in alerts():
        assert cases.get(a["alert"]) == {True, False}, \
            f"{a['alert']}: needs a promtool test where it fires and one where it does not"


def test_the_unit_tests_catch_a_broken_threshold(tmp_path):
    """Loosen one threshold in a copy of the rules: the unit tests must fail."""
    text = RULES.read_text("utf-8").replace("kefu_queue_longest_wait_seconds > 120",
                                            "kefu_queue_longest_wait_seconds > 1200")
    assert text != RULES.read_text("utf-8")
    (tmp_path / RULES.name).write_text(text, "utf-8")
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text("utf-8"), "utf-8")
    r = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert r.returncode != 0
    assert "KefuLongestWaitHigh" in r.stdout + r.stderr


def test_alerts_are_complete_and_bilingual():
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names))
    assert {"KefuServiceLevelLow15m", "KefuServiceLevelLow60m", "KefuAbandonRateHigh",
            "KefuLongestWaitHigh", "KefuCallsWaitingNoAgentReady", "KefuAgentsBusyHigh",
            "KefuAgentsMissing", "KefuTelemetryStale", "KefuEventsRejectedHigh",
            "KefuMQTTDisconnected", "KefuTelemetryQuality"} <= set(names)
    for a in alerts():
        assert a.get("for"), a["alert"]
        assert a["labels"]["severity"] in ("critical", "warning"), a["alert"]
        ann = a["annotations"]
        for k in ("summary", "summary_zh", "description", "description_zh"):
            assert ann.get(k), f"{a['alert']}: annotation {k}"
        assert re.search(r"[\u4e00-\u9fff]", ann["summary_zh"] + ann["description_zh"])


def test_rules_read_only_exported_metrics():
    known = exported_names() | recorded()
    for g in rule_groups():
        for r in g["rules"]:
            unknown = names_in(r["expr"]) - known
            assert not unknown, f"{r.get('alert') or r.get('record')}: {unknown}"


def test_the_target_comes_from_the_exported_policy():
    """The SLA alerts compare with kefu_service_level_target, never a literal 0.8."""
    for a in alerts():
        if a["alert"].startswith("KefuServiceLevel"):
            assert "kefu_service_level_target" in a["expr"]
            assert "0.8" not in a["expr"]


# ---------------------------------------------------------------------------- Grafana


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text("utf-8"))


def panel_targets(d: dict):
    for p in d["panels"]:
        for t in p.get("targets", []):
            yield p, t


def test_dashboard_is_provisioning_ready():
    d = dashboard()
    assert "__inputs" not in d
    assert d["uid"] and d["title"]
    ds = [v for v in d["templating"]["list"] if v["name"] == "datasource"]
    assert ds and ds[0]["type"] == "datasource" and ds[0]["query"] == "prometheus"
    for p in d["panels"]:
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}", p["title"]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"]["uid"] == "${datasource}", v["name"]
    titles = " ".join(p["title"] for p in d["panels"]).lower()
    for want in ("service level", "wait", "calls waiting", "agents by state", "busy budget",
                 "missing", "deductions by rule", "events", "telemetry health"):
        assert want in titles, want


def _concrete(expr: str) -> str:
    return (expr.replace("$__rate_interval", "5m").replace("$site", ".*")
            .replace("$queue", ".*").replace("$team", ".*"))


def test_every_dashboard_query_parses(tmp_path):
    """Each panel query as a recording rule: promtool parses every one of them."""
    rules = [{"record": f"dashboard:query{k}", "expr": _concrete(t["expr"])}
             for k, (_, t) in enumerate(panel_targets(dashboard()))]
    f = tmp_path / "dashboard-queries.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), "utf-8")
    r = promtool("check", "rules", str(f))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(rules)} rules found" in r.stdout


def test_a_broken_dashboard_query_is_caught(tmp_path):
    f = tmp_path / "bad.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [
        {"record": "dashboard:bad", "expr": "sum by (site (kefu_agents)"}]}]}), "utf-8")
    assert promtool("check", "rules", str(f)).returncode != 0


def test_dashboard_names_only_exported_metrics():
    known = exported_names() | recorded()
    d = dashboard()
    used = set()
    for p, t in panel_targets(d):
        unknown = names_in(_concrete(t["expr"])) - known
        assert not unknown, f"{p['title']}: {unknown}"
        used |= names_in(_concrete(t["expr"]))
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            m = re.match(r"label_values\(([a-z_:]+)", v["query"]["query"])
            assert m and m.group(1) in known, v["name"]
    assert {"kefu_queue_calls_waiting", "kefu_agents", "kefu_deductions_total",
            "kefu_service_level_target"} <= used
