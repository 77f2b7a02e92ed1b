"""AMI for live state: the wire parser, the events → queue_log records mapping, the one
mapper fed by both sources sending each happening once whichever comes first, and the
client against a recorded Asterisk manager session (banner, Login, QueueStatus, events) in
the exact wire format, through `kefu-floor bridge asterisk --follow --ami`."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from harness import ROOT
from kefu_floor.bridge.ami import AmiClient, AmiError, AmiParser, to_record
from kefu_floor.bridge.asterisk import Mapper, parse_line
from kefu_floor.bridge.tables import Tables

T0 = 1_793_700_000
TABLES = Tables(members={"SIP/8001": "A001", "PJSIP/8002": "A002"}, reasons={"午饭": "lunch"})
BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def block(**kv) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in kv.items()) + b"\r\n"


def member(queue, name, paused="0", reason=""):
    return dict(Event="QueueMember", Queue=queue, Name=name, Location=name,
                StateInterface=name, Membership="dynamic", Penalty="0", CallsTaken="0",
                LastCall="0", LastPause="0", LoginTime=str(T0 - 3600), InCall="0",
                Status="1", Paused=paused, PausedReason=reason, Wrapuptime="0")


SNAPSHOT = [member("400", "SIP/8001"), member("401", "SIP/8001"),
            member("400", "PJSIP/8002", "1", "午饭")]

CALLER = dict(Channel="PJSIP/trunk-00000011", ChannelState="6", ChannelStateDesc="Up",
              CallerIDNum="13800000000", CallerIDName="张三", Uniqueid="u1", Linkedid="u1")
AGENT = dict(DestChannel="SIP/8001-00000012", DestUniqueid="u2", DestLinkedid="u1")
# the live events Asterisk sent after the snapshot (timestampevents = yes)
EVENTS = [
    dict(Event="QueueCallerJoin", Privilege="agent,all", Timestamp=f"{T0 + 10}.250000",
         **CALLER, Queue="400", Position="1", Count="1"),
    dict(Event="AgentCalled", Privilege="agent,all", Timestamp=f"{T0 + 10}.500000",
         **CALLER, **AGENT, Queue="400", Interface="SIP/8001", MemberName="SIP/8001"),
    dict(Event="AgentConnect", Privilege="agent,all", Timestamp=f"{T0 + 14}.750000",
         **CALLER, **AGENT, Queue="400", Interface="SIP/8001", MemberName="SIP/8001",
         HoldTime="4", RingTime="4"),
    dict(Event="VarSet", Privilege="dialplan,all", Variable="MEMBERINTERFACE", Value="x"),
    dict(Event="AgentComplete", Privilege="agent,all", Timestamp=f"{T0 + 74}.100000",
         **CALLER, **AGENT, Queue="400", Interface="SIP/8001", MemberName="SIP/8001",
         HoldTime="4", TalkTime="60", Reason="caller"),
    dict(Event="QueueMemberPause", Privilege="agent,all", Timestamp=f"{T0 + 80}.300000",
         Queue="400", MemberName="PJSIP/8002", Interface="PJSIP/8002",
         StateInterface="PJSIP/8002", Membership="dynamic", Penalty="0", CallsTaken="0",
         LastCall="0", LastPause="0", LoginTime="0", InCall="0", Status="1", Paused="0",
         PausedReason="", Ringinuse="0", Wrapuptime="0"),
]
# what queue_log says about the same, whole seconds, plus a pause AMI never delivered
LOG = f"""\
{T0 + 10}|u1|400|NONE|ENTERQUEUE||13800000000|1
{T0 + 14}|u1|400|SIP/8001|CONNECT|4|u2|4
{T0 + 74}|u1|400|SIP/8001|COMPLETECALLER|4|60|1
{T0 + 80}|NONE|NONE|PJSIP/8002|UNPAUSEALL|
{T0 + 80}|NONE|400|PJSIP/8002|UNPAUSE|
{T0 + 100}|NONE|NONE|SIP/8001|PAUSEALL|午饭
{T0 + 100}|NONE|400|SIP/8001|PAUSE|午饭
{T0 + 100}|NONE|401|SIP/8001|PAUSE|午饭
"""


def test_parser_reads_the_banner_and_blocks_whatever_the_chunking():
    wire = BANNER + b"".join(block(**e) for e in EVENTS)
    for size in (1, 7, 64, len(wire)):
        p = AmiParser()
        msgs = []
        for k in range(0, len(wire), size):
            msgs += p.feed(wire[k:k + size])
        assert p.banner == "Asterisk Call Manager/9.0.0"
        assert [m["Event"] for m in msgs] == [e["Event"] for e in EVENTS]
        assert msgs[0]["CallerIDName"] == "张三"


def test_ami_events_become_the_records_queue_log_has():
    recs = [to_record(e, TABLES, 0) for e in EVENTS]
    assert recs[3] is None  # VarSet: not a queue event
    got = [(r.verb, r.callid, r.queue, r.member, r.data, r.ts) for r in recs if r]
    assert got == [
        ("ENTERQUEUE", "u1", "400", "NONE", ["", "13800000000", "1"], (T0 + 10) * 1000 + 250),
        ("AGENTCALLED", "u1", "400", "SIP/8001", [], (T0 + 10) * 1000 + 500),
        ("CONNECT", "u1", "400", "SIP/8001", ["4", "u2", "4"], (T0 + 14) * 1000 + 750),
        ("COMPLETECALLER", "u1", "400", "SIP/8001", ["4", "60", ""], (T0 + 74) * 1000 + 100),
        ("UNPAUSE", "NONE", "400", "PJSIP/8002", [""], (T0 + 80) * 1000 + 300)]
    # no Timestamp header (timestampevents off): the time it was read
    e = {k: v for k, v in EVENTS[0].items() if k != "Timestamp"}
    assert to_record(e, TABLES, 123).ts == 123


ONCE = [("sign_in", "A001", None, None), ("sign_in", "A002", None, None),
        ("busy", "A002", None, "lunch"),
        ("enqueue", None, "u1", None), ("offer", "A001", "u1", None),
        ("answer", "A001", "u1", None), ("hangup", "A001", "u1", None),
        ("wrap_end", "A001", "u1", None), ("ready", "A002", None, None),
        ("busy", "A001", None, "lunch")]


def _log_records():
    return [parse_line(x, n) for n, x in enumerate(LOG.splitlines(), 1)]


def _ami_records():
    return [r for r in (to_record(e, TABLES, 0) for e in EVENTS) if r]


def test_ami_first_then_the_log_sends_each_happening_once_with_ami_times():
    m = Mapper(TABLES, "cd1", "pbx1")
    m.dual = True
    out = m.resync(SNAPSHOT, (T0 + 5) * 1000)
    for r in _ami_records():
        out += m.feed(r, "ami")
    for r in _log_records():
        out += m.feed(r, "log")
    assert [(e.type, e.agent, e.call, e.reason) for e in out] == ONCE
    ans = next(e for e in out if e.type == "answer")
    assert ans.ts == (T0 + 14) * 1000 + 750 and ans.wait_ms == 4000
    assert next(e for e in out if e.type == "offer").ts == (T0 + 10) * 1000 + 500  # ringing
    assert m.stats["seen_twice"] == {"ENTERQUEUE": 1, "CONNECT": 1, "COMPLETECALLER": 1,
                                     "UNPAUSEALL": 1, "UNPAUSE": 1}
    assert [e.seq for e in out] == list(range(1, len(out) + 1))
    assert not m.pending.get("ami|C|u1|A001")


def test_log_first_then_ami_also_sends_each_happening_once():
    m = Mapper(TABLES, "cd1", "pbx1")
    m.dual = True
    out = m.resync(SNAPSHOT, (T0 + 5) * 1000)
    logs, amis = _log_records(), _ami_records()
    # the log is read first for the call; AMI's AgentCalled came before the log's CONNECT
    out += m.feed(logs[0], "log")
    out += m.feed(amis[0], "ami")  # join: already said by the log
    out += m.feed(amis[1], "ami")  # ringing: only AMI says it
    out += m.feed(logs[1], "log")  # connect: the offer was AMI's, the answer the log's
    out += m.feed(amis[2], "ami")
    for r in logs[2:]:
        out += m.feed(r, "log")
    for r in amis[3:]:
        out += m.feed(r, "ami")
    assert Counter((e.type, e.agent, e.call, e.reason) for e in out) == Counter(ONCE)
    assert sum(m.stats["seen_twice"].values()) == 4  # AMI has no PAUSEALL to match


def test_without_ami_the_same_log_alone_gives_the_same_happenings():
    m = Mapper(TABLES, "cd1", "pbx1")
    out = []
    for r in _log_records():
        out += m.feed(r)
    # no resync: A002 was never seen paused; no AMI ring: the offer goes with the answer
    assert [(e.type, e.agent) for e in out] == [
        ("enqueue", None), ("offer", "A001"), ("answer", "A001"), ("hangup", "A001"),
        ("wrap_end", "A001"), ("ready", "A002"), ("busy", "A001")]


# ---------------------------------------------------------------------- a recorded session
class RecordedAsterisk:
    """Plays a recorded manager session back on a real TCP socket: the banner, the answers
    to Login and QueueStatus (with the client's ActionIDs, as Asterisk echoes them), then
    the live events. A wrong secret gets Asterisk's refusal."""

    def __init__(self, events: list[dict], secret: str = "s3cret", gap_s: float = 0.0):
        self.events = events
        self.secret = secret
        self.gap_s = gap_s
        self.logins = 0
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.started.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.started.set()
        self.loop.run_forever()

    async def _session(self, reader, writer):
        writer.write(BANNER)
        p = AmiParser()
        p.banner = ""
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    return
                for a in p.feed(data):
                    aid = a.get("ActionID", "")
                    if a.get("Action") == "Login":
                        self.logins += 1
                        if a.get("Secret") != self.secret:
                            writer.write(block(Response="Error", ActionID=aid,
                                               Message="Authentication failed"))
                            await writer.drain()
                            writer.close()
                            return
                        writer.write(block(Response="Success", ActionID=aid,
                                           Message="Authentication accepted"))
                        writer.write(block(Event="FullyBooted", Privilege="system,all",
                                           Uptime="100", LastReload="100", Status="Fully Booted"))
                    elif a.get("Action") == "QueueStatus":
                        writer.write(block(Response="Success", ActionID=aid,
                                           EventList="start",
                                           Message="Queue status will follow"))
                        for m in SNAPSHOT:
                            writer.write(block(**m, ActionID=aid))
                        writer.write(block(Event="QueueStatusComplete", ActionID=aid,
                                           EventList="Complete", ListItems=str(len(SNAPSHOT))))
                        await writer.drain()
                        for e in self.events:
                            await asyncio.sleep(self.gap_s)
                            writer.write(block(**e))
                            await writer.drain()
                    elif a.get("Action") == "Ping":
                        writer.write(block(Response="Success", ActionID=aid, Ping="Pong",
                                           Timestamp=f"{time.time():.6f}"))
                    await writer.drain()
        except ConnectionError:
            return

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_client_logs_in_resyncs_and_streams_from_a_recorded_session():
    srv = RecordedAsterisk(EVENTS)
    got, resyncs = [], []

    async def main():
        c = AmiClient("127.0.0.1", srv.port, "kefu", "s3cret",
                      on_event=lambda m, now: got.append(m),
                      on_resync=lambda ms, now: resyncs.append(ms))
        task = asyncio.create_task(c.run())
        for _ in range(200):
            if len([m for m in got if m.get("Event") != "FullyBooted"]) == len(EVENTS):
                break
            await asyncio.sleep(0.02)
        task.cancel()

    try:
        asyncio.run(main())
    finally:
        srv.close()
    assert [m["Name"] for m in resyncs[0]] == ["SIP/8001", "SIP/8001", "PJSIP/8002"]
    assert [m["Event"] for m in got if m["Event"] != "FullyBooted"] == [e["Event"] for e in EVENTS]


def test_a_refused_login_names_the_fix():
    srv = RecordedAsterisk(EVENTS)

    async def main():
        c = AmiClient("127.0.0.1", srv.port, "kefu", "wrong", on_event=lambda *a: None,
                      on_resync=lambda *a: None)
        with pytest.raises(AmiError, match="login refused .*read = agent"):
            await c._session()

    try:
        asyncio.run(main())
    finally:
        srv.close()


def test_bridge_follow_with_ami_sends_each_happening_once(tmp_path):
    srv = RecordedAsterisk(EVENTS, gap_s=0.05)
    log = tmp_path / "queue_log"
    log.write_text("")
    (tmp_path / "members.csv").write_text("member,agent\nSIP/8001,A001\nPJSIP/8002,A002\n")
    (tmp_path / "reasons.csv").write_text("reason,code\n午饭,lunch\n")
    (tmp_path / "secret").write_text("s3cret\n")
    out = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kefu_floor", "bridge", "asterisk", str(log), "--site", "cd1",
         "--id", "pbx1", "--members", str(tmp_path / "members.csv"), "--reasons",
         str(tmp_path / "reasons.csv"), "--follow", "--state", str(tmp_path / "st.json"),
         "--out", str(out), "--poll-s", "0.05", "--ami", f"127.0.0.1:{srv.port}",
         "--ami-user", "kefu", "--ami-secret-file", str(tmp_path / "secret")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def lines():
        return out.read_text().splitlines() if out.exists() else []

    try:
        t = time.monotonic() + 30
        while len(lines()) < 9 and time.monotonic() < t:  # resync + the AMI events
            time.sleep(0.05)
        log.write_text(LOG)  # then Asterisk's log catches up with the same, and one more
        t = time.monotonic() + 30
        while len(lines()) < 10 and time.monotonic() < t:
            time.sleep(0.05)
        time.sleep(0.5)  # anything doubled would arrive now
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        srv.close()
    evs = [json.loads(x) for x in lines()]
    assert [(e["type"], e.get("agent"), e.get("call"), e.get("reason")) for e in evs] == ONCE, err
    assert "said by both log and AMI, sent once: 5" in err
