"""Asterisk Manager Interface (AMI) for live state: a small asyncio reader of our own (the
protocol is a banner line, then `Key: Value\\r\\n` blocks ended by an empty line) and the
mapping of app_queue's AMI events to the same records queue_log gives, so one mapper
(`kefu_floor.bridge.asterisk.Mapper`) keeps one state and counts nothing twice.

The AMI events (class `agent`, so the manager user needs `read = agent`; the QueueStatus
action needs no write class) and the queue_log verb each stands for:

    QueueCallerJoin       ENTERQUEUE      Queue, Uniqueid, Position
    AgentCalled           (no log line)   the seat starts ringing → offer, at once
    AgentConnect          CONNECT         HoldTime (s), RingTime (s)
    AgentRingNoAnswer     RINGNOANSWER    RingTime (ms)
    AgentComplete         COMPLETE*       HoldTime, TalkTime (s), Reason caller|agent|transfer
    AgentDump             AGENTDUMP
    QueueCallerAbandon    ABANDON         Position, OriginalPosition, HoldTime (s)
    QueueMemberPause      PAUSE/UNPAUSE   Paused 1|0, PausedReason (one per queue)
    QueueMemberAdded      ADDMEMBER       Paused
    QueueMemberRemoved    REMOVEMEMBER
    AgentLogin/AgentLogoff AGENTLOGIN/OFF  Agent

(Asterisk 1.8/11 names `Join`, `QueueMemberPaused` are read too.) Caller fields are the
caller channel's (`Uniqueid`); the agent channel's come prefixed `Dest`. An event's time
is its `Timestamp` header (manager.conf `timestampevents = yes`, recommended), else the
moment it was read.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from kefu_floor.bridge.asterisk import Record
from kefu_floor.bridge.reconnect import reconnecting
from kefu_floor.bridge.tables import Tables

log = logging.getLogger("kefu_floor.bridge.ami")


class AmiParser:
    """Bytes from the socket → messages (dicts). The first line is the banner."""

    def __init__(self):
        self.buf = b""
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[dict[str, str]]:
        self.buf += data
        out = []
        if self.banner is None:
            nl = self.buf.find(b"\n")
            if nl < 0:
                return out
            self.banner = self.buf[:nl].decode("utf-8", "replace").strip()
            self.buf = self.buf[nl + 1:]
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return out
            block, self.buf = self.buf[:end], self.buf[end + 4:]
            msg: dict[str, str] = {}
            for line in block.decode("utf-8", "replace").split("\r\n"):
                k, sep, v = line.partition(":")
                if sep:
                    # a repeated key (ChanVariable, Output) keeps the first value
                    msg.setdefault(k.strip(), v.strip())
            if msg:
                out.append(msg)


def action(name: str, **fields: str) -> bytes:
    lines = [f"Action: {name}"] + [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


_ALIASES = {"Join": "QueueCallerJoin", "QueueMemberPaused": "QueueMemberPause"}


def _member(msg: dict, tables: Tables) -> str:
    """The member string the mapping knows: MemberName if the table has it, else the
    interface (queue_log writes one or the other depending on the line and settings)."""
    name = msg.get("MemberName") or msg.get("Name") or ""
    iface = msg.get("Interface") or msg.get("Location") or ""
    if name and tables.agent(name) is not None:
        return name
    return iface if iface and tables.agent(iface) is not None else (name or iface)


def to_record(msg: dict, tables: Tables, now_ms: int) -> Record | None:
    """One AMI event → the Record its queue_log line would be (verb AGENTCALLED for the
    ring, which the log never writes), or None for an event the bridge does not use."""
    ev = _ALIASES.get(msg.get("Event", ""), msg.get("Event", ""))
    ts = now_ms
    stamp = msg.get("Timestamp")
    if stamp:
        try:
            ts = round(float(stamp) * 1000)
        except ValueError:
            pass
    q = msg.get("Queue", "")
    uid = msg.get("Uniqueid", "")
    g = msg.get

    def rec(verb: str, *data, member: str | None = None, callid: str | None = None):
        return Record(ts, uid if callid is None else callid, q,
                      _member(msg, tables) if member is None else member, verb,
                      [str(d) for d in data])

    if ev == "QueueCallerJoin":
        return rec("ENTERQUEUE", "", g("CallerIDNum", ""), g("Position", ""), member="NONE")
    if ev == "AgentCalled":
        return rec("AGENTCALLED")
    if ev == "AgentConnect":
        return rec("CONNECT", g("HoldTime", ""), g("DestUniqueid", ""), g("RingTime", ""))
    if ev == "AgentRingNoAnswer":
        return rec("RINGNOANSWER", g("RingTime", ""))
    if ev == "AgentComplete":
        verb = {"caller": "COMPLETECALLER", "transfer": "TRANSFER"}.get(
            g("Reason", ""), "COMPLETEAGENT")
        return rec(verb, g("HoldTime", ""), g("TalkTime", ""), "")
    if ev == "AgentDump":
        return rec("AGENTDUMP")
    if ev == "QueueCallerAbandon":
        return rec("ABANDON", g("Position", ""), g("OriginalPosition", ""), g("HoldTime", ""),
                   member="NONE")
    if ev == "QueueMemberPause":
        paused = g("Paused", "0") in ("1", "true", "yes")
        return rec("PAUSE" if paused else "UNPAUSE", g("PausedReason", g("Reason", "")),
                   callid="NONE")
    if ev == "QueueMemberAdded":
        return rec("ADDMEMBER", "PAUSED" if g("Paused") == "1" else "", callid="NONE")
    if ev == "QueueMemberRemoved":
        return rec("REMOVEMEMBER", "", callid="NONE")
    if ev in ("AgentLogin", "AgentLogoff"):
        return Record(ts, uid or "NONE", "NONE", g("Agent", ""),
                      "AGENTLOGIN" if ev == "AgentLogin" else "AGENTLOGOFF", [g("Channel", "")])
    return None


class AmiError(Exception):
    pass


class AmiClient:
    """Logs in, resyncs with QueueStatus, then hands every event to `on_event` and the
    QueueStatus snapshot (QueueMember rows) to `on_resync`; reconnects with backoff and
    resyncs again. A Ping every `ping_s` keeps the connection honest."""

    def __init__(self, host: str, port: int, user: str, secret: str,
                 on_event: Callable[[dict, int], None],
                 on_resync: Callable[[list[dict], int], None],
                 backoff: tuple[float, float] = (0.5, 15.0), ping_s: float = 10.0):
        self.host, self.port, self.user, self.secret = host, port, user, secret
        self.on_event = on_event
        self.on_resync = on_resync
        self.backoff = backoff
        self.ping_s = ping_s
        self.connected = asyncio.Event()
        self.connects = 0
        self._n = 0

    def _id(self) -> str:
        self._n += 1
        return f"kefu-{self._n}"

    async def run(self) -> None:
        await reconnecting(self._session, f"AMI {self.host}:{self.port}", log, AmiError,
                           (OSError, asyncio.IncompleteReadError, ConnectionError),
                           self.backoff, on_down=self.connected.clear)

    async def _session(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        parser = AmiParser()
        pending: list[dict] = []

        async def next_msg() -> dict:
            while not pending:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("closed by Asterisk")
                pending.extend(parser.feed(data))
            return pending.pop(0)

        try:
            login = self._id()
            writer.write(action("Login", Username=self.user, Secret=self.secret,
                                Events="agent", ActionID=login))
            await writer.drain()
            while True:
                m = await next_msg()
                if m.get("ActionID") == login:
                    if m.get("Response") != "Success":
                        raise AmiError(f"login refused ({m.get('Message', 'no message')}): "
                                       "check the user, the secret and `read = agent`")
                    break
            qs = self._id()
            writer.write(action("QueueStatus", ActionID=qs))
            await writer.drain()
            members: list[dict] = []
            early: list[dict] = []
            while True:
                m = await next_msg()
                if m.get("ActionID") == qs:
                    if m.get("Event") == "QueueMember":
                        members.append(m)
                    elif m.get("Event") == "QueueStatusComplete":
                        break
                    elif m.get("Response") == "Error":
                        raise AmiError(f"QueueStatus refused ({m.get('Message')})")
                elif m.get("Event"):
                    early.append(m)  # live events racing the snapshot: after it
            now = int(time.time() * 1000)
            self.connects += 1
            self.connected.set()
            log.info("AMI connected to %s:%d (%s)", self.host, self.port, parser.banner)
            self.on_resync(members, now)
            for m in early:
                self.on_event(m, now)
            silent = 0
            while True:
                try:
                    m = await asyncio.wait_for(next_msg(), timeout=self.ping_s)
                except TimeoutError:
                    silent += 1
                    if silent > 2:  # two Pings unanswered: the link is dead, whatever TCP says
                        raise ConnectionError("no answer to Ping") from None
                    writer.write(action("Ping", ActionID=self._id()))
                    await writer.drain()
                    continue
                silent = 0
                if m.get("Event"):
                    self.on_event(m, int(time.time() * 1000))
        finally:
            writer.close()
