"""FreeSWITCH mod_callcenter → telemetry contract: the pure mapping core and a reader of
recorded event-socket output (plain format).

mod_callcenter fires CUSTOM `callcenter::info` events with a `CC-Action` header
(src/mod/applications/mod_callcenter/mod_callcenter.c):

    agent-status-change  CC-Agent, CC-Agent-Status: Logged Out | Available |
                         Available (On Demand) | On Break
    agent-state-change   CC-Agent, CC-Agent-State: Idle | Waiting | Receiving | In a queue call
    agent-offering       CC-Queue, CC-Agent, CC-Member-Session-UUID: the agent's phone rings
    bridge-agent-start   … CC-Agent-Called-Time, CC-Agent-Answered-Time, CC-Member-Joined-Time
                         (epoch seconds): the agent answered
    bridge-agent-end     … CC-Bridge-Terminated-Time: the talk ended
    bridge-agent-fail    … CC-Hangup-Cause, CC-Agent-Aborted-Time: the offer failed
    member-queue-start   CC-Queue, CC-Member-Session-UUID (member-queue-resume: re-queued)
    member-queue-end     CC-Cause: Terminated (after a bridge) | Cancel, with CC-Cancel-Reason
                         NONE (caller hung up) | TIMEOUT | NO_AGENT_TIMEOUT | BREAK_OUT |
                         EXIT_WITH_KEY; CC-Member-Joined-Time, CC-Member-Leaving-Time

Every event carries `Event-Date-Timestamp` (microseconds since the epoch), so unlike
queue_log the times are exact. The wire form of one event on the socket:

    Content-Length: 512\\n
    Content-Type: text/event-plain\\n
    \\n
    Event-Name: CUSTOM\\n
    Event-Subclass: callcenter%3A%3Ainfo\\n      (values URL-encoded)
    …\\n
    \\n
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from kefu_floor.bridge.asterisk import Malformed, _bump, new_stats
from kefu_floor.bridge.reconnect import reconnecting
from kefu_floor.bridge.tables import Tables
from kefu_floor.errors import ConfigError
from kefu_floor.schema import Event

log = logging.getLogger("kefu_floor.bridge.freeswitch")
SUBCLASS = "callcenter::info"
IGNORED = frozenset({"members-count", "agent-add", "agent-contact-change",
                     "agent-max-no-answer", "agent-state-change"})


def parse_block(text: str) -> dict[str, str]:
    """`Name: url-encoded value` lines → headers (a body after a blank line is dropped)."""
    h: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line:
            if h:
                break
            continue
        k, sep, v = line.partition(": ")
        if not sep:
            k, sep, v = line.partition(":")
            if not sep:
                raise Malformed("not_a_header", f"{line[:60]!r} is not `Name: value`")
        h[k.strip()] = unquote(v.strip())
    return h


class EventLog:
    """A recorded event-socket stream: Content-Length framed events (what `nc` or an ESL
    client saved), or plain header blocks separated by blank lines."""

    def __init__(self, path: Path, skip: int = 0):
        self.path = Path(path)
        try:
            self.data = self.path.read_bytes().decode("utf-8", errors="replace")
        except OSError as e:
            raise ConfigError(f"events log {path}: cannot read it ({e.strerror})") from None
        self.pos = 0
        self.n = 0
        self.notices: list[str] = []
        while self.n < skip and self._next() is not None:  # resume after a --state
            self.n += 1

    def position(self) -> dict:
        return {"path": str(self.path), "event": self.n}

    def close(self) -> None:
        pass

    def _next(self) -> str | None:
        d = self.data
        while self.pos < len(d) and d[self.pos] in "\r\n":
            self.pos += 1
        if self.pos >= len(d):
            return None
        end = d.find("\n\n", self.pos)
        end = len(d) if end < 0 else end
        head = d[self.pos:end]
        if head.startswith("Content-Length:"):
            outer = parse_block(head)
            self.pos = end + 2
            try:
                n = int(outer["Content-Length"])
            except (KeyError, ValueError):
                raise Malformed("bad_frame", "Content-Length is not a number") from None
            # the length counts bytes; the log was decoded, so measure in bytes
            body_b = d[self.pos:].encode("utf-8")[:n]
            body = body_b.decode("utf-8", errors="replace")
            self.pos += len(body)
            if outer.get("Content-Type") != "text/event-plain":
                return ""
            return body
        self.pos = end + 2
        return head

    def read(self, max_items: int) -> list[tuple[int, object]]:
        out = []
        while len(out) < max_items:
            try:
                block = self._next()
            except Malformed as m:
                self.n += 1
                out.append((self.n, m))
                continue
            if block is None:
                break
            self.n += 1
            if not block.strip():
                continue
            try:
                out.append((self.n, parse_block(block)))
            except Malformed as m:
                out.append((self.n, m))
        return out


class FsMapper:
    """callcenter::info events → contract events (same counting as the Asterisk mapper)."""

    def __init__(self, tables: Tables, site: str, src: str, state: dict | None = None):
        self.tables = tables
        self.site = site
        self.src = src
        s = state or {}
        self.seq = s.get("seq", 0)
        self.agents: dict[str, dict] = s.get("agents", {})
        self.calls: dict[str, dict] = s.get("calls", {})
        self.stats = s.get("stats") or new_stats()
        self.notices: list[str] = []
        self._out: list[Event] = []

    def state(self) -> dict:
        return {"seq": self.seq, "agents": self.agents, "calls": self.calls,
                "stats": self.stats}

    def malformed(self, n: int, m: Malformed) -> None:
        _bump(self.stats["malformed"], m.reason)
        self.stats["lines"] += 1
        if len(self.stats["malformed_lines"]) < 200:
            self.stats["malformed_lines"].append([n, m.reason, m.detail])

    def finish(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def _emit(self, etype: str, ts: int, **kw) -> None:
        self.seq += 1
        _bump(self.stats["events"], etype)
        self._out.append(Event(type=etype, ts=ts, site=self.site, src=self.src, seq=self.seq,
                               **kw))

    def _agent(self, h: dict) -> tuple[str, dict] | None:
        m = h.get("CC-Agent", "")
        if not m:
            _bump(self.stats["unplaced"], "no_agent")
            return None
        a = self.tables.agent(m)
        if a is None:
            if m not in self.stats["unmapped_members"]:
                self.notices.append(f"agent {m!r} is not in the members file: its events "
                                    "are skipped (add a row `member,agent` for it)")
            _bump(self.stats["unmapped_members"], m)
            return None
        return a, self.agents.setdefault(a, {"st": "?", "wrap": None})

    def resync(self, rows: list[dict], now_ms: int) -> list[Event]:
        """`callcenter_config agent list` on (re)connect: each agent's status now, applied
        as an agent-status-change would be (nothing sent where the bridge agrees)."""
        for r in rows:
            name, status = r.get("name", ""), r.get("status", "")
            if not name or self.tables.agent(name) is None:
                continue
            agent = self.tables.agent(name)
            st = self.agents.get(agent, {"st": "?"})
            if (status == "Logged Out" and st["st"] == "out") or \
                    (status.startswith("Available") and st["st"] == "in") or \
                    (status == "On Break" and st["st"] == "busy"):
                continue
            self._status({"CC-Agent": name, "CC-Agent-Status": status}, now_ms)
        _bump(self.stats.setdefault("resync", {}), "events", len(self._out))
        out, self._out = self._out, []
        return out

    def feed(self, h: dict, origin: str = "log") -> list[Event]:
        st = self.stats
        st["records"] += 1
        st["lines"] += 1
        if h.get("Event-Subclass") != SUBCLASS:
            _bump(st["ignored"], h.get("Event-Subclass") or h.get("Event-Name") or "?")
            return []
        try:
            ts = int(h["Event-Date-Timestamp"]) // 1000
        except (KeyError, ValueError):
            st["lines"] -= 1  # counted again as malformed
            self.malformed(st["records"], Malformed("bad_time", "no Event-Date-Timestamp"))
            return []
        action = h.get("CC-Action", "")
        fn = _ACTIONS.get(action)
        if fn is not None:
            _bump(st["verbs"], action)
            fn(self, h, ts)
        elif action in IGNORED:
            _bump(st["ignored"], action)
            if action == "agent-state-change":
                self._state(h, ts)
        else:
            if action not in st["unknown_verbs"]:
                self.notices.append(f"CC-Action {action!r} is not one the bridge knows: "
                                    "counted and skipped")
            _bump(st["unknown_verbs"], action)
        out, self._out = self._out, []
        return out

    def _call(self, h: dict) -> str | None:
        c = h.get("CC-Member-Session-UUID") or h.get("CC-Member-UUID")
        if not c:
            _bump(self.stats["unplaced"], "no_member_uuid")
        return c

    def _end_wrap(self, agent: str, st: dict, ts: int) -> None:
        if st.get("wrap"):
            self._emit("wrap_end", ts, agent=agent, call=st["wrap"])
            st["wrap"] = None

    def _status(self, h: dict, ts: int) -> None:
        ag = self._agent(h)
        if ag is None:
            return
        agent, st = ag
        s = h.get("CC-Agent-Status", "")
        if s == "Logged Out":
            if st["st"] != "out":
                st["wrap"] = None
                self._emit("sign_out", ts, agent=agent)
            st["st"] = "out"
        elif s in ("Available", "Available (On Demand)"):
            self._end_wrap(agent, st, ts)
            if st["st"] in ("out", "?"):
                self._emit("sign_in", ts, agent=agent)
            elif st["st"] == "busy":
                self._emit("ready", ts, agent=agent)
            st["st"] = "in"
        elif s == "On Break":
            self._end_wrap(agent, st, ts)
            code, known = self.tables.reason(s)
            if not known:
                code = None  # "On Break" carries no reason; a site may map it (reasons.csv)
            self._emit("busy", ts, agent=agent, **({"reason": code} if code else {}))
            st["st"] = "busy"
        else:
            _bump(self.stats["unplaced"], "unknown_agent_status")

    def _state(self, h: dict, ts: int) -> None:
        # the agent is back to Waiting after its wrap-up-time: that is the wrap_end
        if h.get("CC-Agent-State") == "Waiting":
            ag = self._agent(h)
            if ag is not None:
                self._end_wrap(ag[0], ag[1], ts)

    def _offer(self, h: dict, ts: int) -> None:
        call, q, ag = self._call(h), h.get("CC-Queue"), self._agent(h)
        if call and q and ag:
            self._end_wrap(ag[0], ag[1], ts)
            self._emit("offer", ts, agent=ag[0], call=call, queue=q)

    def _start(self, h: dict, ts: int) -> None:
        call, q, ag = self._call(h), h.get("CC-Queue"), self._agent(h)
        if not (call and q and ag):
            return
        kw = {}
        try:
            kw["wait_ms"] = max(0, int(h["CC-Agent-Answered-Time"])
                                - int(h["CC-Member-Joined-Time"])) * 1000
        except (KeyError, ValueError):
            pass
        self._emit("answer", ts, agent=ag[0], call=call, queue=q, **kw)
        self.calls.setdefault(call, {})["agent"] = ag[0]

    def _end(self, h: dict, ts: int) -> None:
        call, ag = self._call(h), self._agent(h)
        if call and ag:
            self._emit("hangup", ts, agent=ag[0], call=call)
            ag[1]["wrap"] = call
            self.calls.pop(call, None)

    def _fail(self, h: dict, ts: int) -> None:
        call, q, ag = self._call(h), h.get("CC-Queue"), self._agent(h)
        if call and q and ag:
            self._emit("no_answer", ts, agent=ag[0], call=call, queue=q)

    def _enqueue(self, h: dict, ts: int) -> None:
        call, q = self._call(h), h.get("CC-Queue")
        if call and q:
            # member-queue-resume (abandoned-resume-allowed): the caller is back, the same
            # call id queues again
            self.calls[call] = {"q": q, "enq": ts}
            self._emit("enqueue", ts, call=call, queue=q)

    def _leave(self, h: dict, ts: int) -> None:
        call, q = self._call(h), h.get("CC-Queue")
        if not (call and q):
            return
        if h.get("CC-Cause") != "Cancel":
            self.calls.pop(call, None)
            return  # Terminated: the bridge-agent-end said it
        try:
            wait = max(0, int(h["CC-Member-Leaving-Time"]) - int(h["CC-Member-Joined-Time"]))
            wait *= 1000
        except (KeyError, ValueError):
            enq = self.calls.get(call, {}).get("enq")
            wait = max(0, ts - enq) if enq is not None else 0
        self._emit("abandon", ts, call=call, queue=q, wait_ms=wait)
        self.calls.pop(call, None)


_ACTIONS = {
    "agent-status-change": FsMapper._status,
    "agent-offering": FsMapper._offer,
    "bridge-agent-start": FsMapper._start,
    "bridge-agent-end": FsMapper._end,
    "bridge-agent-fail": FsMapper._fail,
    "member-queue-start": FsMapper._enqueue,
    "member-queue-resume": FsMapper._enqueue,
    "member-queue-end": FsMapper._leave,
}


class EslParser:
    """Bytes from an event socket → (outer headers, body) frames: a header block, and when
    it has a Content-Length, that many bytes of body (an event in plain format)."""

    def __init__(self):
        self.buf = b""
        self.bad = 0  # header blocks skipped (no usable Content-Length)

    def feed(self, data: bytes) -> list[tuple[dict[str, str], str]]:
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\n\n")
            if end < 0:
                return out
            try:
                head = parse_block(self.buf[:end].decode("utf-8", "replace"))
            except Malformed:
                self.bad += 1
                self.buf = self.buf[end + 2:]
                continue
            n = head.get("Content-Length")
            if n is None:
                self.buf = self.buf[end + 2:]
                out.append((head, ""))
                continue
            try:
                size = int(n)
            except ValueError:
                # framing resumes at the next header block; the frames around it stand
                self.bad += 1
                self.buf = self.buf[end + 2:]
                continue
            if len(self.buf) < end + 2 + size:
                return out
            body = self.buf[end + 2:end + 2 + size].decode("utf-8", "replace")
            self.buf = self.buf[end + 2 + size:]
            out.append((head, body))


def agent_list_rows(text: str) -> list[dict[str, str]]:
    """`api callcenter_config agent list`: a `|`-separated table with a header row, then
    `+OK`."""
    lines = [x for x in text.splitlines() if x.strip() and not x.startswith("+OK")]
    if not lines:
        return []
    cols = lines[0].split("|")
    return [dict(zip(cols, x.split("|"))) for x in lines[1:] if x.count("|") == len(cols) - 1]


class EslClient:
    """Inbound event-socket client: auth, `event plain CUSTOM callcenter::info`, a resync
    from `api callcenter_config agent list` on every (re)connect, then every event to
    `on_event`; reconnects with backoff."""

    def __init__(self, host: str, port: int, password: str,
                 on_event: Callable[[dict], None],
                 on_resync: Callable[[list[dict], int], None],
                 backoff: tuple[float, float] = (0.5, 15.0)):
        self.host, self.port, self.password = host, port, password
        self.on_event = on_event
        self.on_resync = on_resync
        self.backoff = backoff
        self.connects = 0

    async def run(self) -> None:
        await reconnecting(self._session, f"event socket {self.host}:{self.port}", log,
                           EslError, (OSError, ConnectionError, Malformed), self.backoff)

    async def _session(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        parser = EslParser()
        frames: list[tuple[dict, str]] = []

        async def frame() -> tuple[dict, str]:
            while not frames:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("closed by FreeSWITCH")
                frames.extend(parser.feed(data))
            return frames.pop(0)

        def event(body: str) -> None:
            try:
                h = parse_block(body)
            except Malformed as m:
                parser.bad += 1
                log.warning("event socket: an event skipped (%s)", m)
                return
            self.on_event(h)

        async def reply(kind: str) -> tuple[dict, str]:
            while True:
                h, body = await frame()
                if h.get("Content-Type") == kind:
                    return h, body
                if h.get("Content-Type") == "text/event-plain":
                    event(body)

        try:
            h, _ = await frame()
            if h.get("Content-Type") != "auth/request":
                raise EslError(f"not an event socket (got {h.get('Content-Type')!r})")
            writer.write(f"auth {self.password}\n\n".encode())
            h, _ = await reply("command/reply")
            if not h.get("Reply-Text", "").startswith("+OK"):
                raise EslError(f"auth refused ({h.get('Reply-Text')}): check the password "
                               "(event_socket.conf.xml)")
            writer.write(b"event plain CUSTOM callcenter::info\n\n")
            h, _ = await reply("command/reply")
            if not h.get("Reply-Text", "").startswith("+OK"):
                raise EslError(f"event subscription refused ({h.get('Reply-Text')})")
            writer.write(b"api callcenter_config agent list\n\n")
            _, body = await reply("api/response")
            self.connects += 1
            log.info("event socket connected to %s:%d", self.host, self.port)
            self.on_resync(agent_list_rows(body), int(time.time() * 1000))
            while True:
                h, body = await frame()
                if h.get("Content-Type") == "text/event-plain":
                    event(body)
                elif h.get("Content-Type") == "text/disconnect-notice":
                    raise ConnectionError("FreeSWITCH said goodbye")
        finally:
            writer.close()


class EslError(Exception):
    pass
