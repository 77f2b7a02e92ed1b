"""Following a live queue_log: partial lines, rotation (while running and while stopped),
truncation, the durable state file; and the running bridge (`kefu-floor bridge asterisk
--follow`) through rotation and truncation, and killed with -9 mid-file against a real
mosquitto, resuming with nothing lost or doubled."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

from harness import ROOT
from kefu_floor.bridge.asterisk import Malformed
from kefu_floor.bridge.follow import LogFile, load_state, save_state

T0 = 1_793_700_000


def lines(n0: int, n: int) -> str:
    return "".join(f"{T0 + k}|NONE|q|SIP/8001|{'PAUSE' if k % 2 == 0 else 'UNPAUSE'}|\n"
                   for k in range(n0, n0 + n))


def read_all(lf: LogFile) -> list:
    out = []
    while True:
        got = lf.read(1000)
        if not got:
            return out
        out += got


def secs(items) -> list[int]:
    return [r.ts // 1000 - T0 for _, r in items]


def test_partial_line_waits_for_its_newline(tmp_path):
    p = tmp_path / "queue_log"
    p.write_text(lines(0, 3))
    lf = LogFile(p, follow=True)
    assert secs(read_all(lf)) == [0, 1, 2]
    with open(p, "a") as f:
        f.write(f"{T0 + 3}|NONE|q|SIP/8001|UNP")
        f.flush()
        assert read_all(lf) == []
        f.write("AUSE|\n")
    got = read_all(lf)
    assert secs(got) == [3] and got[0][1].verb == "UNPAUSE" and got[0][0] == 4
    assert lf.offset == p.stat().st_size


def test_rotation_while_following_reads_the_old_file_to_its_end_then_the_new(tmp_path):
    p = tmp_path / "queue_log"
    p.write_text(lines(0, 2))
    lf = LogFile(p, follow=True)
    assert secs(read_all(lf)) == [0, 1]
    with open(p, "a") as old:  # Asterisk still holds the old file open while rotating
        os.rename(p, tmp_path / "queue_log.0")
        old.write(lines(2, 2))
        old.flush()
        p.write_text(lines(4, 3))
    assert secs(read_all(lf)) == [2, 3, 4, 5, 6]
    assert lf.counts["rotations"] == 1 and lf.line == 3


def test_truncation_starts_again_at_the_top(tmp_path):
    p = tmp_path / "queue_log"
    p.write_text(lines(0, 5))
    lf = LogFile(p, follow=True)
    assert len(read_all(lf)) == 5
    with open(p, "r+") as f:
        f.truncate(0)
    p.write_text(lines(10, 2))
    assert secs(read_all(lf)) == [10, 11]
    assert lf.counts["truncations"] == 1


def test_a_restart_over_a_rotation_finishes_the_old_file_first(tmp_path):
    p = tmp_path / "queue_log"
    p.write_text(lines(0, 4))
    lf = LogFile(p, follow=True)
    got = lf.read(2)
    assert secs(got) == [0, 1]
    pos = lf.position()
    lf.close()
    os.rename(p, tmp_path / "queue_log.1")  # rotated while the bridge was down
    p.write_text(lines(4, 2))
    lf2 = LogFile(p, follow=True, inode=pos["inode"], offset=pos["offset"], line=pos["line"])
    got = read_all(lf2)
    assert secs(got) == [2, 3, 4, 5]
    assert [n for n, _ in got] == [3, 4, 1, 2]
    assert any("queue_log.1" in n for n in lf2.notices)


def test_a_rotated_file_that_is_gone_is_told_and_counted(tmp_path):
    p = tmp_path / "queue_log"
    p.write_text(lines(0, 4))
    lf = LogFile(p, follow=True)
    lf.read(2)
    pos = lf.position()
    lf.close()
    new = tmp_path / "new"
    new.write_text(lines(9, 1))
    os.replace(new, p)  # rotated and compressed: the old inode is gone
    lf2 = LogFile(p, follow=True, inode=pos["inode"], offset=pos["offset"])
    assert secs(read_all(lf2)) == [9]
    assert lf2.counts == {"rotated_file_not_found": 1}


def test_malformed_and_blank_lines_keep_their_numbers(tmp_path):
    p = tmp_path / "queue_log"
    p.write_bytes(b"\n" + lines(0, 1).encode() + b"garbage\r\n" + b"\xff\xfe|x\n")
    got = read_all(LogFile(p, follow=False))
    assert [(n, type(x).__name__) for n, x in got] == [(2, "Record"), (3, "Malformed"),
                                                       (4, "Malformed")]
    assert isinstance(got[1][1], Malformed)


def test_state_file_is_replaced_atomically_and_checked(tmp_path):
    s = tmp_path / "st.json"
    save_state(s, "pbx1", {"inode": 1, "offset": 2}, {"seq": 3})
    assert load_state(s, "pbx1")["mapper"] == {"seq": 3}
    assert not (tmp_path / "st.json.tmp").exists()
    import pytest

    from kefu_floor.errors import ConfigError
    with pytest.raises(ConfigError, match="belongs to bridge 'pbx1'"):
        load_state(s, "pbx2")
    s.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        load_state(s, "pbx1")


# ---------------------------------------------------------------------- the running bridge
def _bridge(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kefu_floor", "bridge", "asterisk", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def _wait(cond, timeout=30.0, what="condition", step=0.05):
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        if cond():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def _offset(state: Path) -> int:
    try:
        return json.loads(state.read_text())["position"]["offset"]
    except (OSError, ValueError, KeyError):
        return -1


def _members(tmp_path: Path) -> Path:
    m = tmp_path / "members.csv"
    m.write_text("member,agent\nSIP/8001,A001\n")
    return m


def test_follow_through_rotation_and_truncation_to_jsonl(tmp_path):
    p = tmp_path / "queue_log"
    out = tmp_path / "events.jsonl"
    state = tmp_path / "state.json"
    p.write_text(lines(0, 4))
    proc = _bridge([str(p), "--site", "cd1", "--id", "pbx1", "--members",
                    str(_members(tmp_path)), "--follow", "--state", str(state), "--out",
                    str(out), "--poll-s", "0.05"])
    try:
        _wait(lambda: _offset(state) == p.stat().st_size, what="first lines")
        os.rename(p, tmp_path / "queue_log.0")
        p.write_text(lines(4, 3))
        _wait(lambda: _offset(state) == p.stat().st_size and
              json.loads(state.read_text())["position"]["inode"] == p.stat().st_ino,
              what="the rotated file")
        with open(p, "r+") as f:
            f.truncate(0)
        time.sleep(0.3)
        p.write_text(lines(21, 2))
        _wait(lambda: len(out.read_text().splitlines()) == 9, what="after truncation")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    evs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [e["ts"] // 1000 - T0 for e in evs] == [0, 1, 2, 3, 4, 5, 6, 21, 22]
    assert [e["seq"] for e in evs] == list(range(1, 10))
    assert "truncated" in err and "truncations: 1" in err and "rotations: 1" in err


def _sim_queue_log(tmp_path: Path, agents: int = 8) -> tuple[Path, Path]:
    from simulators.acd import Scenario, simulate
    from simulators.files import write_csv
    from simulators.queuelog import render

    _, _, events = simulate(Scenario(agents=agents, days=1, seed=11, site="cd1",
                                     manual=False))
    text, members, _ = render(events, ["aftersale", "presale"])
    p = tmp_path / "queue_log"
    p.write_text("\n".join(text) + "\n")
    m = tmp_path / "members.csv"
    write_csv(m, ("member", "agent"), members)
    return p, m


class Collector:
    """A real MQTT subscriber on the site's telemetry topic (QoS 1)."""

    def __init__(self, port: int):
        self.payloads: list[bytes] = []
        self.ready = threading.Event()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="collector")
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe("kefu/cd1/telemetry", qos=1)
        self.c.on_subscribe = lambda *a: self.ready.set()
        self.c.on_message = lambda c, u, msg: self.payloads.append(bytes(msg.payload))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.ready.wait(10), "collector could not subscribe"

    def events(self) -> list[dict]:
        out = []
        for p in list(self.payloads):
            x = json.loads(p)
            out += x if isinstance(x, list) else [x]
        return out

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def test_kill_9_mid_file_resumes_with_nothing_lost_or_doubled(tmp_path, mosquitto):
    p, members = _sim_queue_log(tmp_path)
    size = p.stat().st_size
    # what a clean run gives: the whole file converted at once
    whole = tmp_path / "whole.jsonl"
    from kefu_floor.cli.main import main
    assert main(["bridge", "asterisk", str(p), "--site", "cd1", "--id", "pbx1", "--members",
                 str(members), "--out", str(whole)]) == 0
    expect = [json.loads(x) for x in whole.read_text().splitlines()]
    assert len(expect) > 1000

    col = Collector(mosquitto.port)
    state = tmp_path / "state.json"
    args = [str(p), "--site", "cd1", "--id", "pbx1", "--members", str(members), "--follow",
            "--state", str(state), "--broker", mosquitto.url, "--batch-lines", "40",
            "--poll-s", "0.05"]
    try:
        first = _bridge(args)
        # kill as soon as the first batch is recorded (polled often: on a fast disk the
        # whole file takes well under a second)
        _wait(lambda: _offset(state) > 0, what="the first acknowledged batch", step=0.002)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = _offset(state)
        assert 0 < killed_at < size, "the kill must land mid-file for this test to mean much"
        second = _bridge(args)
        _wait(lambda: _offset(state) == size, timeout=60, what="the rest of the file")
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 0, err
        _wait(lambda: max((e["seq"] for e in col.events()), default=0) == len(expect),
              what="the collector to have every event")
    finally:
        col.close()
    got = col.events()
    by_seq: dict[int, dict] = {}
    for e in got:  # a repeat after the kill has the same seq and the same content
        assert by_seq.setdefault(e["seq"], e) == e
    assert sorted(by_seq) == list(range(1, len(expect) + 1))
    assert [by_seq[k] for k in sorted(by_seq)] == expect
    assert len(got) - len(by_seq) <= 40 * 3  # at most one batch of lines is sent twice
    # the counts, retained on the bridge's own topic for dashboards
    seen = []
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="stats-reader")
    c.on_connect = lambda c, u, f, rc, p: c.subscribe("kefu/cd1/bridge/pbx1/stats", qos=1)
    c.on_message = lambda c, u, msg: seen.append(json.loads(msg.payload))
    c.connect("127.0.0.1", mosquitto.port)
    c.loop_start()
    try:
        _wait(lambda: seen, what="the retained stats")
    finally:
        c.loop_stop()
        c.disconnect()
    assert sum(seen[0]["events"].values()) == len(expect) and "DID" in seen[0]["ignored"]
