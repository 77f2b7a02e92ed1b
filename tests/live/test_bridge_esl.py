"""FreeSWITCH live: the event-socket client against a recorded inbound session (auth,
`event plain CUSTOM callcenter::info`, `api callcenter_config agent list`, then the
events, all framed as mod_event_socket frames them), through `kefu-floor bridge
freeswitch --esl`."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

from harness import ROOT
from harness.freeswitch import T0, recorded
from kefu_floor.bridge.freeswitch import EslParser, agent_list_rows

AGENT_LIST = ("name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|"
              "reject_delay_time|busy_delay_time|no_answer_delay_time|last_bridge_start|"
              "last_bridge_end|last_offered_call|last_status_change|no_answer_count|"
              "calls_answered|talk_time|ready_time|external_calls_count\n"
              "1000@default|single_box||callback|[call_timeout=10]user/1000|On Break|Idle|3|"
              "10|10|60|0|0|0|0|0|0|0|0|0|0\n"
              "1001@default|single_box||callback|user/1001|Logged Out|Idle|3|10|10|60|0|0|0|"
              "0|0|0|0|0|0|0\n+OK\n")


def frame(kind: str, body: str = "", **headers) -> bytes:
    b = body.encode()
    h = "".join(f"{k.replace('_', '-')}: {v}\n" for k, v in headers.items())
    if b:
        return f"Content-Type: {kind}\n{h}Content-Length: {len(b)}\n\n".encode() + b
    return f"Content-Type: {kind}\n{h}\n".encode()


def test_parser_frames_whatever_the_chunking():
    wire = frame("auth/request") + recorded()[:-len(b"Content-Length: x\nContent-Type: "
                                                    b"text/event-plain\n\n")]
    for size in (1, 13, len(wire)):
        p = EslParser()
        got = []
        for k in range(0, len(wire), size):
            got += p.feed(wire[k:k + size])
        assert got[0][0]["Content-Type"] == "auth/request"
        assert len(got) == 18 and all(h["Content-Type"] == "text/event-plain" for h, _ in got[1:])
    rows = agent_list_rows(AGENT_LIST)
    assert [(r["name"], r["status"]) for r in rows] == [("1000@default", "On Break"),
                                                        ("1001@default", "Logged Out")]


class RecordedFreeSwitch:
    def __init__(self, password: str = "ClueCon"):
        self.password = password
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
        writer.write(frame("auth/request"))
        await writer.drain()
        buf = b""
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    return
                buf += data
                while b"\n\n" in buf:
                    cmd, buf = buf.split(b"\n\n", 1)
                    cmd = cmd.decode()
                    if cmd.startswith("auth "):
                        ok = cmd[5:] == self.password
                        writer.write(frame("command/reply", Reply_Text="+OK accepted" if ok
                                           else "-ERR invalid"))
                        if not ok:
                            await writer.drain()
                            writer.close()
                            return
                    elif cmd.startswith("event plain"):
                        writer.write(frame("command/reply",
                                           Reply_Text="+OK event listener enabled plain"))
                    elif cmd.startswith("api callcenter_config agent list"):
                        writer.write(frame("api/response", AGENT_LIST))
                        await writer.drain()
                        writer.write(recorded())  # the live events, recorded
                    await writer.drain()
        except ConnectionError:
            return

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_bridge_freeswitch_live_from_a_recorded_event_socket(tmp_path):
    srv = RecordedFreeSwitch()
    (tmp_path / "members.csv").write_text("member,agent\n1000@default,A001\n")
    (tmp_path / "reasons.csv").write_text("reason,code\nOn Break,break\n")
    (tmp_path / "pw").write_text("ClueCon\n")
    out = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kefu_floor", "bridge", "freeswitch", "--esl",
         f"127.0.0.1:{srv.port}", "--esl-password-file", str(tmp_path / "pw"), "--site",
         "cd1", "--id", "fs1", "--members", str(tmp_path / "members.csv"), "--reasons",
         str(tmp_path / "reasons.csv"), "--state", str(tmp_path / "st.json"), "--out",
         str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t = time.monotonic() + 30
        while time.monotonic() < t and (not out.exists() or
                                        len(out.read_text().splitlines()) < 14):
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        srv.close()
    evs = [json.loads(x) for x in out.read_text().splitlines()]
    # the resync first (agent list: 1000 On Break → sign in busy), then the recording:
    # "Available" ends the break (ready, not a second sign-in)
    assert [e["type"] for e in evs] == [
        "busy", "ready", "enqueue", "offer", "answer", "hangup", "wrap_end", "enqueue",
        "offer", "no_answer", "abandon", "busy", "ready", "sign_out"], err
    assert evs[0]["reason"] == "break" and evs[1]["ts"] == T0 * 1000
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
