"""The hand-worked scenario (tests/scenarios/handworked/WORKED.md), written from POLICY.md
and DESIGN.md alone, must come out of `kefu-floor replay` exactly."""
import json
import subprocess
import sys

import pytest

from harness import HW


def contract_subset(got, exp, path="$"):
    """Every field of `exp` is in `got` with the same value (extra fields are allowed)."""
    if isinstance(exp, dict):
        assert isinstance(got, dict), path
        for k, v in exp.items():
            assert k in got, f"{path}.{k} missing"
            contract_subset(got[k], v, f"{path}.{k}")
    elif isinstance(exp, list):
        assert isinstance(got, list) and len(got) == len(exp), f"{path}: {got!r} != {exp!r}"
        for i, (g, e) in enumerate(zip(got, exp)):
            contract_subset(g, e, f"{path}[{i}]")
    elif isinstance(exp, float) or isinstance(got, float):
        assert got == pytest.approx(exp, abs=1e-9), f"{path}: {got!r} != {exp!r}"
    else:
        assert got == exp, f"{path}: {got!r} != {exp!r}"


def test_replay_matches_hand_worked_report():
    out = subprocess.run(
        [sys.executable, "-m", "kefu_floor", "replay", str(HW / "events.jsonl"),
         "--roster", str(HW / "roster.csv"), "--schedule", str(HW / "schedule.csv"),
         "--policy", "chengdu-2014", "--month", "2026-11", "--format", "json"],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    exp = json.loads((HW / "expected.json").read_text("utf-8"))
    contract_subset(got, exp)


def test_each_deduction_says_what_it_rests_on():
    """`facts` (an addition to the contract) for one deduction of each rule, checked against
    the hand-worked times in WORKED.md."""
    out = subprocess.run(
        [sys.executable, "-m", "kefu_floor", "replay", str(HW / "events.jsonl"),
         "--roster", str(HW / "roster.csv"), "--schedule", str(HW / "schedule.csv"),
         "--month", "2026-11", "--format", "json"], capture_output=True, text=True, timeout=600)
    agents = {a["agent"]: a for a in json.loads(out.stdout)["agents"]}

    def first(agent, rule):
        return next(d for d in agents[agent]["deductions"] if d["rule"] == rule)

    assert first("A001", "busy_over_30")["facts"] == {"threshold_min": 30,
                                                      "counted_busy_s_that_day": 1860}
    assert first("A002", "late_sign_in")["facts"] == {
        "shift": "08:00-16:30", "deadline": "08:05:00", "signed_in": "08:06:00"}
    assert first("A002", "early_leave")["facts"] == {
        "shift": "08:00-16:30", "stay_until": "16:28:00", "last_sign_out": "16:20:00"}
    assert first("A003", "late_return")["facts"] == {
        "shift": "08:00-16:30", "break": "12:00-12:30", "back_by": "12:31:00"}
    assert first("A004", "absent")["facts"] == {"shift": "08:00-16:30"}
    assert first("B001", "early_leave")["facts"]["busy_since"] == "22:55:00"
