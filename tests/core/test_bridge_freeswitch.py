"""FreeSWITCH mod_callcenter: a recorded event-socket stream (plain format, Content-Length
framed, URL-encoded values, as mod_event_socket sends it) converted by
`kefu-floor bridge freeswitch` and accepted by replay."""
from __future__ import annotations

import json

from harness.freeswitch import T0, recorded
from kefu_floor.cli.main import main
from kefu_floor.replay import read_events


def test_recorded_callcenter_events_convert_and_replay(tmp_path):
    log = tmp_path / "cc.events"
    log.write_bytes(recorded())
    (tmp_path / "members.csv").write_text("member,agent\n1000@default,A001\n")
    (tmp_path / "reasons.csv").write_text("reason,code\nOn Break,break\n")
    out = tmp_path / "events.jsonl"
    rc = main(["bridge", "freeswitch", str(log), "--site", "cd1", "--id", "fs1", "--members",
               str(tmp_path / "members.csv"), "--reasons", str(tmp_path / "reasons.csv"),
               "--out", str(out), "--stats", str(tmp_path / "stats.json")])
    assert rc == 3  # an unmapped agent, an unknown action, a malformed frame
    evs = [json.loads(x) for x in out.read_text().splitlines()]
    got = [(e["type"], e["ts"] - T0 * 1000, e.get("call"), e.get("wait_ms"), e.get("reason"))
           for e in evs]
    assert got == [
        ("sign_in", 0, None, None, None),
        ("enqueue", 10_000, "c-1", None, None),
        ("offer", 14_250, "c-1", None, None),
        ("answer", 18_500, "c-1", 8_000, None),
        ("hangup", 100_750, "c-1", None, None),
        ("wrap_end", 110_000, "c-1", None, None),
        ("enqueue", 120_000, "c-2", None, None),
        ("offer", 121_000, "c-2", None, None),
        ("no_answer", 141_000, "c-2", None, None),
        ("abandon", 150_000, "c-2", 30_000, None),
        ("busy", 200_000, None, None, "break"),
        ("ready", 500_000, None, None, None),
        ("sign_out", 900_000, None, None, None)]
    assert [e["seq"] for e in evs] == list(range(1, 14)) and {e["src"] for e in evs} == {"fs1"}
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["unmapped_members"] == {"1009@default": 1}
    assert stats["unknown_verbs"] == {"agent-teleport": 1}
    assert stats["malformed"] == {"bad_frame": 1}
    assert all(not isinstance(e, Exception) for _, e in read_events(out))
