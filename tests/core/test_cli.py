"""`python -m kefu_floor replay` as a user runs it (DESIGN.md §3.3, issue 2 item 6)."""
import json
import subprocess
import sys

import pytest

from harness import HW

EVENTS, ROSTER, SCHEDULE = HW / "events.jsonl", HW / "roster.csv", HW / "schedule.csv"

TOP_KEYS = {"schema", "site", "month", "as_of", "agents"}
AGENT_KEYS = {"agent", "team", "kpi", "items", "adjustments", "score", "star", "deductions"}
KPI_KEYS = {"offered", "answered", "talk_s", "aht_s", "surveys", "satisfied", "late_sign_ins",
            "late_returns", "early_leaves", "absences", "busy_s_by_day"}
ITEM_KEYS = {"recording", "text", "aht", "performance", "satisfaction", "exam", "utilization",
             "answer_rate", "site"}
DED_KEYS = {"ts", "rule", "item", "points", "day"}


def replay(*args, events=EVENTS, roster=ROSTER, schedule=SCHEDULE, env=None):
    cmd = [sys.executable, "-m", "kefu_floor", "replay"]
    if events is not None:
        cmd.append(str(events))
    if roster is not None:
        cmd += ["--roster", str(roster)]
    if schedule is not None:
        cmd += ["--schedule", str(schedule)]
    cmd += list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def json_run():
    return replay("--policy", "chengdu-2014", "--month", "2026-11", "--format", "json")


def test_json_output_matches_the_contract(json_run):
    r = json_run
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert TOP_KEYS <= set(rep)
    assert rep["schema"] == "kefu-floor/report/1"
    assert rep["site"] == "cd1" and rep["month"] == "2026-11"
    assert isinstance(rep["as_of"], int) and rep["as_of"] == 1796090400000
    ids = [a["agent"] for a in rep["agents"]]
    assert ids == sorted(ids) and "L001" not in ids  # leader not among agents
    for a in rep["agents"]:
        assert AGENT_KEYS <= set(a), a["agent"]
        assert KPI_KEYS <= set(a["kpi"])
        assert set(a["items"]) >= ITEM_KEYS
        for d in a["deductions"]:
            assert DED_KEYS <= set(d)
            assert d["rule"] in {"busy_over_30", "late_sign_in", "late_return", "early_leave",
                                 "absent"}  # DESIGN.md §3.3's rule names, nothing else
        for d in a["manual"]:
            assert d["rule"] == "floor" and d["reason"]
            assert d["item"] in {"utilization", "site"}
            assert isinstance(d["ts"], int)
    a3 = next(a for a in rep["agents"] if a["agent"] == "A003")
    assert a3["star"] is None  # probation
    a4 = next(a for a in rep["agents"] if a["agent"] == "A004")
    assert a4["score"] is None and a4["items"]["exam"] is None


@pytest.mark.slow
def test_table_zh_and_en():
    zh = replay("--month", "2026-11", "--format", "table", "--lang", "zh")
    assert zh.returncode == 0, zh.stderr
    for label in ("工号", "总分", "星级", "工时利用率", "现场管理", "迟到", "早退", "旷工"):
        assert label in zh.stdout, label
    assert "A001" in zh.stdout and "张伟" in zh.stdout
    en = replay("--month", "2026-11", "--format", "table", "--lang", "en")
    assert en.returncode == 0, en.stderr
    for label in ("Agent", "Score", "Star", "Utilization", "late sign-in", "early leave",
                  "absent"):
        assert label in en.stdout, label
    assert "工号" not in en.stdout and "Agent" not in zh.stdout


@pytest.mark.slow
def test_malformed_lines_reported_and_skipped(tmp_path):
    lines = EVENTS.read_text("utf-8").splitlines()
    bad_lines = {
        3: "{this is not json",
        7: '{"type": "sign_in", "ts": 1.5, "agent": "A001"}',
        9: '{"type": "offer", "ts": 1793664600000, "agent": "A001", "call": "x"}',
        11: '{"type": "warp", "ts": 1793664600000, "agent": "A001"}',
    }
    # insert: each bad line lands at its own line number (shifting the originals down)
    out = []
    src = iter(lines)
    n = 1
    total = len(lines) + len(bad_lines)
    while n <= total:
        out.append(bad_lines[n] if n in bad_lines else next(src))
        n += 1
    ev = tmp_path / "events.jsonl"
    ev.write_text("\n".join(out) + "\n", "utf-8")
    r = replay("--month", "2026-11", "--format", "json", events=ev)
    assert r.returncode == 3, r.stderr
    err = r.stderr
    assert f"{ev}:3: rejected (bad_json)" in err
    assert f"{ev}:7: rejected (wrong_type)" in err
    assert f"{ev}:9: rejected (missing_field)" in err
    assert f"{ev}:11: rejected (unknown_type)" in err
    assert err.count(": rejected (") == 4
    assert "Traceback" not in err
    rep = json.loads(r.stdout)  # the report is still printed, in full
    assert rep["schema"] == "kefu-floor/report/1" and len(rep["agents"]) == 7
    good = replay("--month", "2026-11", "--format", "json")
    # the rejected lines were extra: the report equals the clean run's (but counters)
    clean = json.loads(good.stdout)
    assert [a["score"] for a in rep["agents"]] == [a["score"] for a in clean["agents"]]


@pytest.mark.parametrize("case", ["no_events", "no_roster", "no_schedule", "bad_month",
                                  "bad_month_format", "unknown_policy", "bad_policy_file",
                                  "bad_roster", "empty_events"])
def test_config_errors_one_line_no_traceback(case, tmp_path):
    kw = {}
    args = ["--format", "json"]
    if case == "no_events":
        kw["events"] = tmp_path / "nope.jsonl"
    elif case == "no_roster":
        kw["roster"] = tmp_path / "nope.csv"
    elif case == "no_schedule":
        kw["schedule"] = tmp_path / "nope.csv"
    elif case == "bad_month":
        args += ["--month", "2026-13"]
    elif case == "bad_month_format":
        args += ["--month", "Nov 2026"]
    elif case == "unknown_policy":
        args += ["--policy", "shanghai-2099"]
    elif case == "bad_policy_file":
        p = tmp_path / "p.toml"
        p.write_text("name = 'x'\n[busy\n", "utf-8")
        args += ["--policy", str(p)]
    elif case == "bad_roster":
        p = tmp_path / "roster.csv"
        p.write_text("agent,name,team,role,hired,probation,products\nA1,x,T1,boss,,false,3\n",
                     "utf-8")
        kw["roster"] = p
    elif case == "empty_events":
        p = tmp_path / "events.jsonl"
        p.write_text("# nothing\n\n", "utf-8")
        kw["events"] = p
    r = replay(*args, **kw)
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("kefu-floor: error:")
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
    if case == "no_events":
        assert "nope.jsonl" in lines[0]
    if case in ("no_roster", "no_schedule"):
        assert "nope.csv" in lines[0]
    if case.startswith("bad_month"):
        assert "--month" in lines[0]
    if case == "unknown_policy":
        assert "shanghai-2099" in lines[0]


def test_help_documents_exit_codes():
    r = subprocess.run([sys.executable, "-m", "kefu_floor", "replay", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    out = r.stdout
    assert "exit codes" in out.lower()
    for code in ("0", "1", "3"):
        assert f"\n  {code} " in out, code
    assert "--month" in out and "--format" in out and "--lang" in out


@pytest.mark.slow
def test_unknown_agent_is_scored_and_flagged(tmp_path):
    ev = tmp_path / "events.jsonl"
    ev.write_text("\n".join([
        json.dumps({"type": "sign_in", "ts": 1793664000000, "agent": "Z999"}),
        json.dumps({"type": "answer", "ts": 1793664060000, "agent": "Z999", "call": "c",
                    "queue": "q"}),
        json.dumps({"type": "hangup", "ts": 1793664180000, "agent": "Z999", "call": "c"}),
        json.dumps({"type": "sign_out", "ts": 1793670000000, "agent": "Z999"}),
    ]) + "\n", "utf-8")
    r = replay("--format", "json", events=ev)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    z = next(a for a in rep["agents"] if a["agent"] == "Z999")
    assert z["unknown"] is True
    assert z["kpi"]["answered"] == 1 and z["items"]["aht"] == 100  # 120 s
    assert rep["month"] == "2026-11"  # default: the last event's month
