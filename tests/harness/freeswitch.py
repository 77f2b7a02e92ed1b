"""A recorded FreeSWITCH mod_callcenter event-socket stream (plain format, Content-Length
framed, URL-encoded values, as mod_event_socket sends it)."""
from __future__ import annotations

from urllib.parse import quote

T0 = 1_793_700_000  # seconds


def frame(t: float, headers: dict, subclass: str = "callcenter::info") -> bytes:
    h = {"Event-Name": "CUSTOM", "Core-UUID": "5a0c2f6e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
         "FreeSWITCH-Hostname": "fs1", "Event-Date-Timestamp": str(int((T0 + t) * 1e6)),
         "Event-Calling-Function": "cc_agent_update", "Event-Subclass": subclass, **headers}
    body = "".join(f"{k}: {quote(str(v), safe='')}\n" for k, v in h.items()) + "\n"
    b = body.encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(b) + b


def status(t, s):
    return frame(t, {"CC-Agent": "1000@default", "CC-Action": "agent-status-change",
                     "CC-Agent-Status": s})


CALL = {"CC-Queue": "support@default", "CC-Member-UUID": "m-1",
        "CC-Member-Session-UUID": "c-1", "CC-Member-CID-Name": "张三",
        "CC-Member-CID-Number": "13800000000"}


def recorded() -> bytes:
    a = {"CC-Agent": "1000@default", "CC-Agent-System": "single_box"}
    return b"".join([
        status(0, "Available"),
        frame(10, {**CALL, "CC-Action": "member-queue-start"}),
        frame(14.25, {**CALL, **a, "CC-Action": "agent-offering", "CC-Agent-Type": "callback"}),
        frame(18.5, {**CALL, **a, "CC-Action": "bridge-agent-start",
                     "CC-Agent-UUID": "ag-1", "CC-Agent-Called-Time": T0 + 14,
                     "CC-Agent-Answered-Time": T0 + 18, "CC-Member-Joined-Time": T0 + 10}),
        frame(100.75, {**CALL, **a, "CC-Action": "bridge-agent-end",
                       "CC-Hangup-Cause": "NORMAL_CLEARING", "CC-Agent-Bridged": "true",
                       "CC-Bridge-Terminated-Time": T0 + 100}),
        frame(100.8, {**CALL, **a, "CC-Action": "member-queue-end", "CC-Cause": "Terminated",
                      "CC-Member-Leaving-Time": T0 + 100, "CC-Member-Joined-Time": T0 + 10}),
        frame(110, {**a, "CC-Action": "agent-state-change", "CC-Agent-State": "Waiting"}),
        frame(120, {**CALL, "CC-Member-Session-UUID": "c-2", "CC-Action": "member-queue-start"}),
        frame(121, {**CALL, **a, "CC-Member-Session-UUID": "c-2", "CC-Action": "agent-offering"}),
        frame(141, {**CALL, **a, "CC-Member-Session-UUID": "c-2",
                    "CC-Action": "bridge-agent-fail", "CC-Hangup-Cause": "NO_ANSWER"}),
        frame(150, {**CALL, "CC-Member-Session-UUID": "c-2", "CC-Action": "member-queue-end",
                    "CC-Cause": "Cancel", "CC-Cancel-Reason": "NONE",
                    "CC-Member-Leaving-Time": T0 + 150, "CC-Member-Joined-Time": T0 + 120}),
        frame(151, {"Channel-State": "CS_NEW"}, subclass=""),
        frame(152, {"CC-Action": "agent-teleport"}),
        status(200, "On Break"),
        status(500, "Available"),
        status(900, "Logged Out"),
        frame(901, {**CALL, **a, "CC-Agent": "1009@default", "CC-Action": "agent-offering"}),
        b"Content-Length: x\nContent-Type: text/event-plain\n\n",
    ])
