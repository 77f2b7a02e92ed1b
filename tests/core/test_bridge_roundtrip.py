"""The simulator's day, written as Asterisk's queue_log (simulators.queuelog), converted back
by the bridge and scored by replay: the same report as the simulator's own events carried
as far as queue_log can carry them (`expressible`), and the same counts, rules and
deductions as the simulator's full report wherever queue_log holds the facts."""
from __future__ import annotations

import argparse

import msgspec

from kefu_floor.cli.main import _setup, main
from kefu_floor.engine import Engine
from kefu_floor.replay import read_events, replay
from kefu_floor.views.report import build_report
from simulators.acd import Scenario, simulate
from simulators.files import ROSTER_COLUMNS, SCHEDULE_COLUMNS, write_csv
from simulators.queuelog import expressible, render

QUEUES = ["aftersale", "presale"]


def _report(tmp_path, events_path):
    args = argparse.Namespace(policy="chengdu-2014", roster=tmp_path / "roster.csv",
                              schedule=tmp_path / "schedule.csv", site="cd1")
    eng = Engine(_setup(args))
    res = replay(eng, events_path)
    assert not res.rejected
    return build_report(eng.finish())


def test_simulated_day_through_queue_log_gives_the_same_report(tmp_path):
    roster, schedule, events = simulate(Scenario(agents=30, days=1, seed=5, site="cd1"))
    write_csv(tmp_path / "roster.csv", ROSTER_COLUMNS, roster)
    write_csv(tmp_path / "schedule.csv", SCHEDULE_COLUMNS, schedule)
    enc = msgspec.json.Encoder()
    (tmp_path / "sim.jsonl").write_bytes(enc.encode_lines(events))

    lines, members, uids = render(events, QUEUES)
    (tmp_path / "queue_log").write_text("\n".join(lines) + "\n")
    write_csv(tmp_path / "members.csv", ("member", "agent"), members)
    assert {m["member"].split("/")[0] for m in members} >= {"SIP", "PJSIP", "Local", "Agent"}

    out = tmp_path / "bridged.jsonl"
    assert main(["bridge", "asterisk", str(tmp_path / "queue_log"), "--site", "cd1",
                 "--id", "pbx1", "--members", str(tmp_path / "members.csv"),
                 "--stats", str(tmp_path / "stats.json"), "--out", str(out)]) == 0

    # event for event what queue_log can carry (call ids are Asterisk's uniqueids)
    proj = expressible(events)
    for e in proj:
        if e.call:
            e.call = uids[e.call]
    got = [e for _, e in read_events(out)]
    strip = lambda e: {**msgspec.structs.asdict(e), "src": None, "seq": None}
    assert [strip(e) for e in got] == [strip(e) for e in proj]
    assert [e.seq for e in got] == list(range(1, len(got) + 1))
    (tmp_path / "proj.jsonl").write_bytes(enc.encode_lines(proj))

    bridged = _report(tmp_path, out)
    assert bridged == _report(tmp_path, tmp_path / "proj.jsonl")

    # against the simulator's full report: the fields queue_log holds are equal
    full = _report(tmp_path, tmp_path / "sim.jsonl")
    b = {a["agent"]: a for a in bridged["agents"]}
    assert set(b) == {a["agent"] for a in full["agents"]}
    same = ("offered", "answered", "no_answer", "late_sign_ins", "late_returns",
            "early_leaves", "absences")
    for a in full["agents"]:
        x = b[a["agent"]]
        assert {k: a["kpi"][k] for k in same} == {k: x["kpi"][k] for k in same}, a["agent"]
        # talk time from whole-second log times: within a second per call
        assert abs(a["kpi"]["talk_s"] - x["kpi"]["talk_s"]) <= a["kpi"]["answered"]
        assert [(d["rule"], d["day"], d["points"]) for d in a["deductions"]] == \
            [(d["rule"], d["day"], d["points"]) for d in x["deductions"]]
        assert x["kpi"]["surveys"] == 0 and x["kpi"]["sales"] == 0  # not in queue_log
    assert sum(a["kpi"]["offered"] for a in full["agents"]) > 500
