"""Asterisk app_queue → telemetry contract: the pure mapping core.

Asterisk writes one queue_log line per queue event (main/logger.c `ast_queue_log`):

    EPOCH|CALLID|QUEUE|AGENT|EVENT|DATA1|DATA2|...

EPOCH is `time(NULL)`: whole seconds. CALLID is the caller channel's uniqueid, or `NONE`,
`MANAGER`, `CLI`, `REALTIME` for lines no call belongs to; QUEUE and AGENT are `NONE` where
they do not apply. The realtime (database) form has the columns time, callid, queuename,
agent, event and data1..data5 (`queue_adaptive_realtime`) or one `data` column with the
same `|`-separated text; its `time` is local time `YYYY-MM-DD HH:MM:SS.ffffff` (UTC with
`queue_log_realtime_use_gmt`).

The data fields, as apps/app_queue.c writes them (seconds unless marked ms):

    ENTERQUEUE       url|callerid|origposition[|callername]
    CONNECT          holdtime|bridged uniqueid|ringtime
    RINGNOANSWER     ringtime in MILLISECONDS
    RINGCANCELED     ringtime in ms (ringall: another member answered)
    COMPLETEAGENT    holdtime|calltime|origposition     (COMPLETECALLER the same)
    BLINDTRANSFER    exten|context|holdtime|calltime|origposition
    ATTENDEDTRANSFER BRIDGE|id or APP|app or LINK|chan|chan, then holdtime|calltime|origposition
    TRANSFER         exten|context|holdtime|calltime[|origposition]   (1.4-11)
    ABANDON          position|origposition|waittime
    EXITWITHTIMEOUT  position|origposition|waittime     (EXITEMPTY the same)
    EXITWITHKEY      key|position[|origposition|waittime]
    WITHDRAW         position|origposition|waittime|info
    PAUSE / UNPAUSE  reason (may be empty); PAUSEALL / UNPAUSEALL reason, queue NONE,
                     followed by one PAUSE / UNPAUSE line per queue the member is in
    ADDMEMBER        "PAUSED" or empty;  REMOVEMEMBER  empty
    AGENTLOGIN       channel;  AGENTLOGOFF  channel|logintime   (queue NONE)
    AGENTDUMP        the agent hung up before the caller was bridged

`Mapper.feed` turns one parsed `Record` into contract events, keeping the little state a
line cannot carry alone (who is signed in and busy, which call is where, the leg of a
caller who queues twice). It never raises on a record: what it cannot place is counted in
`Mapper.stats` with a reason, and the agent's state is left as it was.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from kefu_floor.bridge.tables import Tables
from kefu_floor.schema import Event

# verbs with no contract meaning: counted by name, nothing sent
IGNORED = frozenset({
    "QUEUESTART", "CONFIGRELOAD", "RINGCANCELED", "PENALTY", "RINGINUSE", "SYSCOMPAT_OK",
    "DID", "INFO", "OUTCALL", "CALLSTATUS"})
# every verb that leaves the caller out of the queue without an agent
EXITS = frozenset({"ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY", "WITHDRAW",
                   "SYSCOMPAT"})
ENDS = frozenset({"COMPLETEAGENT", "COMPLETECALLER", "TRANSFER", "BLINDTRANSFER",
                  "ATTENDEDTRANSFER"})
# placeholders Asterisk writes where no queue / agent / call applies
NO_CALL = frozenset({"NONE", "MANAGER", "CLI", "REALTIME", ""})
_EPOCH = re.compile(r"^\d{9,11}(\.\d{1,6})?$")
# a call whose exit line never came is forgotten after this long (bounded state)
CALL_TTL_MS = 86_400_000
CLOSED_TTL_MS = 3_600_000
MALFORMED_KEEP = 200  # malformed lines listed in the stats (all are counted)


@dataclass
class Record:
    ts: int  # ms since the epoch, UTC
    callid: str
    queue: str
    member: str
    verb: str
    data: list[str]
    line: int = 0


class Malformed(Exception):
    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def parse_line(text: str, line: int = 0) -> Record:
    """One flat-file line (without its newline) → Record, or raises Malformed."""
    parts = text.split("|")
    if len(parts) < 5:
        raise Malformed("too_few_fields", f"{len(parts)} '|'-separated fields, expected at "
                                          "least 5 (epoch|callid|queue|agent|event)")
    epoch = parts[0].strip()
    if not _EPOCH.match(epoch):
        raise Malformed("bad_time", f"time {parts[0][:40]!r} is not Unix seconds")
    verb = parts[4].strip()
    if not verb:
        raise Malformed("no_event", "the event field is empty")
    if not re.match(r"^[A-Za-z0-9_\-]+$", verb):
        raise Malformed("bad_event", f"event {verb[:40]!r} is not a word")
    ts = round(float(epoch) * 1000) if "." in epoch else int(epoch) * 1000
    return Record(ts, parts[1].strip(), parts[2].strip(), parts[3].strip(), verb.upper(),
                  parts[5:], line)


def parse_db_time(value, tz: ZoneInfo) -> int:
    """The realtime table's `time`: 'YYYY-MM-DD HH:MM:SS[.ffffff]' in `tz`, or epoch
    seconds (some sites keep an integer column)."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _EPOCH.match(value)):
        return round(float(value) * 1000)
    if not isinstance(value, str):
        raise Malformed("bad_time", f"time {value!r} is not a date-time")
    try:
        d = dt.datetime.fromisoformat(value.strip().replace("T", " "))
    except ValueError:
        raise Malformed("bad_time", f"time {value[:40]!r} is not YYYY-MM-DD HH:MM:SS") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=tz)
    return round(d.timestamp() * 1000)


def parse_db_row(row: dict, tz: ZoneInfo, line: int = 0) -> Record:
    """One realtime row (column → value) → Record: data1..data5, or a single `data`."""
    def col(name: str) -> str:
        v = row.get(name)
        return "" if v is None else str(v).strip()

    for need in ("time", "event"):
        if need not in row:
            raise Malformed("too_few_fields", f"no `{need}` column")
    ts = parse_db_time(row["time"], tz)
    verb = col("event")
    if not verb:
        raise Malformed("no_event", "the event column is empty")
    if any(f"data{k}" in row for k in range(1, 6)):
        data = [col(f"data{k}") for k in range(1, 6)]
        if "data" in row and row.get("data"):  # both forms in one table: the single one wins
            data = col("data").split("|")
        while data and data[-1] == "":
            data.pop()
    else:
        data = col("data").split("|") if col("data") else []
    return Record(ts, col("callid"), col("queuename") or col("queue"), col("agent"),
                  verb.upper(), data, line)


def _int(data: list[str], k: int) -> int | None:
    if k < 0:
        k += len(data)
    if 0 <= k < len(data):
        s = data[k].strip()
        if re.match(r"^-?\d+$", s):
            return int(s)
    return None


def new_stats() -> dict:
    return {"lines": 0, "records": 0, "events": {}, "verbs": {}, "ignored": {},
            "unknown_verbs": {}, "malformed": {}, "malformed_lines": [],
            "unmapped_members": {}, "unmapped_reasons": {}, "unplaced": {}, "adjusted": {}}


def _bump(d: dict, k: str, n: int = 1) -> None:
    d[k] = d.get(k, 0) + n


class Mapper:
    """queue_log records → contract events, with the per-agent and per-call state a line
    alone cannot carry. `state()` / `Mapper(..., state=...)` round-trip it through JSON so a
    restarted bridge continues mid-call exactly as if it had not stopped."""

    def __init__(self, tables: Tables, site: str, src: str, wrap_ms: int = 0,
                 min_ring_ms: int = 0, state: dict | None = None):
        self.tables = tables
        self.site = site
        self.src = src
        self.wrap_ms = wrap_ms
        self.min_ring_ms = min_ring_ms
        s = state or {}
        self.seq: int = s.get("seq", 0)
        self.last_ts: int = s.get("last_ts", 0)
        # agent id → {"st": "in"|"out"|"?", "busy": bool, "reason": str|None,
        #             "queues": [..], "login": bool, "pall": ts of the last PAUSEALL}
        self.agents: dict[str, dict] = s.get("agents", {})
        # callid → {"leg", "q", "enq", "agent", "open", "talk"}
        self.calls: dict[str, dict] = s.get("calls", {})
        # [due ts, agent, call id]: wrap_end waiting for the log to pass its time
        self.wraps: list[list] = s.get("wraps", [])
        self.stats: dict = s.get("stats") or new_stats()
        # with AMI: what one source sent and the other has not yet said, "origin|key" →
        # [ts, …] (a multiset: the same key may come several times), and the seats AMI saw
        # ring ("callid|agent")
        self.dual: bool = s.get("dual", False)
        self.pending: dict[str, list[int]] = s.get("pending", {})
        self.rang: dict[str, int] = s.get("rang", {})
        self.ami_pause: dict[str, int] = s.get("ami_pause", {})
        self.notices: list[str] = []  # one-time messages for a person (drained by the adapter)
        self._out: list[Event] = []

    def state(self) -> dict:
        return {"seq": self.seq, "last_ts": self.last_ts, "agents": self.agents,
                "calls": self.calls, "wraps": self.wraps, "stats": self.stats,
                "dual": self.dual, "pending": self.pending, "rang": self.rang,
                "ami_pause": self.ami_pause}

    # ------------------------------------------------------------------ counting
    def malformed(self, line: int, m: Malformed) -> None:
        st = self.stats
        st["lines"] += 1
        _bump(st["malformed"], m.reason)
        if len(st["malformed_lines"]) < MALFORMED_KEEP:
            st["malformed_lines"].append([line, m.reason, m.detail])

    def _unplaced(self, why: str) -> None:
        """A line that could not be placed: nothing sent for it, no state changed."""
        _bump(self.stats["unplaced"], why)

    def _note(self, why: str) -> None:
        """A line placed with an adjustment a person may want to know about."""
        _bump(self.stats.setdefault("adjusted", {}), why)

    # ------------------------------------------------------------------ output
    def _emit(self, etype: str, ts: int, **kw) -> None:
        self.seq += 1
        _bump(self.stats["events"], etype)
        self._out.append(Event(type=etype, ts=ts, site=self.site, src=self.src, seq=self.seq,
                               **kw))

    def _flush_wraps(self, upto: int) -> None:
        if not self.wraps:
            return
        keep = []
        for due, agent, call in sorted(self.wraps, key=lambda w: w[0]):
            if due <= upto:
                self._emit("wrap_end", due, agent=agent, call=call)
            else:
                keep.append([due, agent, call])
        self.wraps = keep

    def _end_wrap(self, agent: str, ts: int) -> None:
        """The agent does something else before its wrap-up was due: wrap ends now."""
        for w in self.wraps:
            if w[1] == agent:
                self.wraps.remove(w)
                self._emit("wrap_end", ts, agent=agent, call=w[2])
                return

    def finish(self) -> list[Event]:
        """End of a whole-file conversion: wrap-ups still open end at their due time."""
        self._flush_wraps(1 << 62)
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ helpers
    def _agent(self, rec: Record) -> tuple[str, dict] | None:
        m = rec.member
        if m in ("", "NONE"):
            self._unplaced(f"{rec.verb.lower()}_without_member")
            return None
        a = self.tables.agent(m)
        if a is None:
            um = self.stats["unmapped_members"]
            if m not in um:
                self.notices.append(f"member {m!r} is not in the members file: its lines are "
                                    "skipped (add a row `member,agent` for it)")
            _bump(um, m)
            return None
        st = self.agents.get(a)
        if st is None:
            st = self.agents[a] = {"st": "?", "busy": False, "reason": None, "queues": [],
                                   "login": False, "pall": -1}
        return a, st

    def _queue(self, rec: Record, call: dict | None) -> str | None:
        q = rec.queue if rec.queue not in ("", "NONE") else None
        return q or (call["q"] if call else None)

    def _call_id(self, callid: str, c: dict) -> str:
        return callid if c["leg"] == 1 else f"{callid}#{c['leg']}"

    def _working(self, agent: str, st: dict, ts: int) -> None:
        """A call or pause line of an agent: the engine treats a signed-out seat's activity
        as an implicit sign-in, so does the bridge; an open wrap-up ends here."""
        self._end_wrap(agent, ts)
        st["st"] = "in"

    def _sign_in(self, agent: str, st: dict, ts: int) -> None:
        if st["st"] != "in":
            self._end_wrap(agent, ts)
            self._emit("sign_in", ts, agent=agent)
            st["st"] = "in"
            st["busy"] = False
            st["reason"] = None

    def _sign_out(self, agent: str, st: dict, ts: int) -> None:
        if st["st"] != "out":
            self._end_wrap(agent, ts)
            self._emit("sign_out", ts, agent=agent)
            st["st"] = "out"
            st["busy"] = False
            st["reason"] = None

    def _busy(self, agent: str, st: dict, ts: int, raw: str, follows_all: bool) -> None:
        code, known = self.tables.reason(raw)
        if not known:
            if raw not in self.stats["unmapped_reasons"]:
                self.notices.append(f"pause reason {raw!r} is not in the reasons file: sent "
                                    "as busy without a reason (add a row `reason,code`)")
            _bump(self.stats["unmapped_reasons"], raw)
        if st["busy"] and (code == st["reason"] or follows_all):
            return  # the per-queue lines after a PAUSEALL, or a repeat
        self._working(agent, st, ts)
        kw = {"reason": code} if code else {}
        self._emit("busy", ts, agent=agent, **kw)
        st["busy"] = True
        st["reason"] = code

    def _ready(self, agent: str, st: dict, ts: int) -> None:
        if st["busy"] or st["st"] != "in":
            self._working(agent, st, ts)
            self._emit("ready", ts, agent=agent)
        st["busy"] = False
        st["reason"] = None

    def _wait_ms(self, rec: Record, value: int | None, c: dict | None) -> int | None:
        if value is not None and value >= 0:
            return value * 1000
        if c is not None and c.get("enq") is not None:
            return max(0, rec.ts - c["enq"])
        return None

    def _close(self, callid: str, ts: int) -> None:
        c = self.calls.get(callid)
        if c:
            c["open"] = False
            c["agent"] = None
            c["talk"] = False
            c["closed"] = ts

    def _gc_calls(self, ts: int) -> None:
        """Bounded state: a closed call is kept an hour (a caller re-queued after a
        timeout is its next leg), an open one whose end never came a day."""
        for k in [k for k, c in self.calls.items()
                  if ts - c.get("closed", ts) > CLOSED_TTL_MS
                  or ts - (c.get("enq") or c.get("seen") or ts) > CALL_TTL_MS]:
            del self.calls[k]

    # ------------------------------------------------------------------ the mapping
    def feed(self, rec: Record, origin: str = "log") -> list[Event]:
        """Map one record. `origin` "ami" for a record made from an AMI event: with AMI on
        (`dual`), each event is sent by whichever source says it first, and the other's
        saying of it is consumed and counted in `seen_twice`."""
        st = self.stats
        if origin == "log":
            st["records"] += 1
            st["lines"] += 1
        else:
            _bump(st.setdefault("ami", {}), rec.verb)
        if self.dual and self._twice(rec, origin):
            out, self._out = self._out, []
            return out
        if rec.ts < self.last_ts and origin == "log" and not self.dual:
            self._note("time_went_back")  # still mapped, in file order
        self.last_ts = max(self.last_ts, rec.ts)
        self._flush_wraps(rec.ts)
        if st["records"] % 1000 == 0:
            self._gc_calls(rec.ts)
        v = rec.verb
        handler = _HANDLERS.get(v)
        if v == "AGENTCALLED":
            self._ringing(rec)
        elif handler is not None:
            if origin == "log":
                _bump(st["verbs"], v)
            handler(self, rec)
        elif v in IGNORED:
            _bump(st["ignored"], v)
            if v == "QUEUESTART":
                self._restart(rec)
        else:
            if v not in st["unknown_verbs"]:
                self.notices.append(f"event {v!r} is not an app_queue event the bridge knows: "
                                    "counted and skipped")
            _bump(st["unknown_verbs"], v)
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ log and AMI
    def _key(self, rec: Record) -> str | None:
        """What makes a log line and an AMI event the same happening: the caller's uniqueid
        and the agent for call events, the agent and queue for member events."""
        v = rec.verb
        agent = self.tables.agent(rec.member) if rec.member not in ("", "NONE") else None
        if v == "ENTERQUEUE":
            return f"E|{rec.callid}"
        if v in ("ABANDON",):
            return f"A|{rec.callid}"
        if agent is None:
            return None
        if v == "CONNECT":
            return f"C|{rec.callid}|{agent}"
        if v in ("RINGNOANSWER", "AGENTDUMP"):
            return f"R|{rec.callid}|{agent}"
        if v in ENDS:
            return f"H|{rec.callid}|{agent}"
        if v in ("PAUSE", "UNPAUSE"):
            return f"P|{agent}|{rec.queue}|{v}"
        if v in ("ADDMEMBER", "REMOVEMEMBER"):
            return f"M|{agent}|{rec.queue}|{v}"
        if v in ("AGENTLOGIN", "AGENTLOGOFF"):
            return f"L|{agent}|{v}"
        return None

    def _twice(self, rec: Record, origin: str) -> bool:
        """True if the other source already sent this record's happening (consumed now)."""
        if origin == "log" and rec.verb in ("PAUSEALL", "UNPAUSEALL"):
            # AMI has no PAUSEALL: its per-queue QueueMemberPause events carried it
            agent = self.tables.agent(rec.member)
            t = self.ami_pause.get(agent) if agent else None
            if t is not None and abs(t - rec.ts) <= 3000:
                _bump(self.stats.setdefault("seen_twice", {}), rec.verb)
                return True
            return False
        key = self._key(rec)
        if key is None:
            return False
        other = self.pending.get(("ami|" if origin == "log" else "log|") + key)
        if other:
            other.pop(0)
            if not other:
                del self.pending[("ami|" if origin == "log" else "log|") + key]
            _bump(self.stats.setdefault("seen_twice", {}), rec.verb)
            return True
        self.pending.setdefault(f"{origin}|{key}", []).append(rec.ts)
        if origin == "ami" and rec.verb in ("PAUSE", "UNPAUSE"):
            agent = self.tables.agent(rec.member)
            if agent:
                self.ami_pause[agent] = rec.ts
        return False

    def prune(self, now_ms: int, keep_ms: int = 600_000) -> None:
        """Forget what the other source never confirmed within `keep_ms` (bounded state)."""
        for k in list(self.pending):
            v = [t for t in self.pending[k] if now_ms - t <= keep_ms]
            if v:
                self.pending[k] = v
            else:
                del self.pending[k]
        for d in (self.rang, self.ami_pause):
            for k in [k for k, t in d.items() if now_ms - t > keep_ms]:
                del d[k]

    def _ringing(self, rec: Record) -> None:
        """AMI AgentCalled: the seat rings now (queue_log never says so)."""
        got = self._call(rec)
        ag = self._agent(rec)
        if got is None or ag is None:
            return
        cid, c = got
        q = self._queue(rec, c)
        if q is None:
            return
        agent, st = ag
        self._working(agent, st, rec.ts)
        self._emit("offer", rec.ts, agent=agent, call=cid, queue=q)
        self.rang[f"{rec.callid}|{agent}"] = rec.ts

    def resync(self, members: list[dict], now_ms: int) -> list[Event]:
        """AMI QueueStatus on (re)connect: the members' state now. An agent the bridge has
        out who is a member is signed in; paused in any queue → busy, in none → ready; an
        agent the bridge has in who is in no queue and not an agent login is signed out.
        What AMI missed while disconnected, the log says (it is read all along)."""
        seen: dict[str, dict] = {}
        for m in members:
            name = m.get("Name", "")
            agent = self.tables.agent(name) or self.tables.agent(m.get("Location", ""))
            if agent is None:
                continue
            s = seen.setdefault(agent, {"paused": False, "reason": ""})
            if m.get("Paused") == "1":
                s["paused"] = True
                s["reason"] = m.get("PausedReason", "") or s["reason"]
        n0 = self.seq
        for agent, s in seen.items():
            st = self.agents.get(agent)
            if st is None:
                st = self.agents[agent] = {"st": "?", "busy": False, "reason": None,
                                           "queues": [], "login": False, "pall": -1}
            if st["st"] != "in":
                self._sign_in(agent, st, now_ms)
            if s["paused"]:
                code, _ = self.tables.reason(s["reason"])
                if not st["busy"] or code != st["reason"]:
                    self._busy(agent, st, now_ms, s["reason"], False)
            elif st["busy"]:
                self._ready(agent, st, now_ms)
        for agent, st in self.agents.items():
            if agent not in seen and st["st"] == "in" and not st["login"]:
                st["queues"] = []
                self._sign_out(agent, st, now_ms)
        _bump(self.stats.setdefault("resync", {}), "events", self.seq - n0)
        out, self._out = self._out, []
        return out

    def _restart(self, rec: Record) -> None:
        """QUEUESTART: Asterisk (re)started, so every call it had is gone. Members and their
        pauses come back from astdb (persistentmembers), so agent states stay."""
        for callid, c in list(self.calls.items()):
            if not c["open"]:
                continue
            cid = self._call_id(callid, c)
            if c["agent"] and c.get("talk"):
                self._emit("hangup", rec.ts, agent=c["agent"], call=cid)
                self._after_hangup(c["agent"], cid, rec.ts)
            elif c.get("q"):
                self._emit("abandon", rec.ts, call=cid, queue=c["q"],
                           wait_ms=max(0, rec.ts - (c.get("enq") or rec.ts)))
            self._note("call_cut_by_restart")
            self._close(callid, rec.ts)

    def _after_hangup(self, agent: str, cid: str, ts: int) -> None:
        if self.wrap_ms <= 0:
            self._emit("wrap_end", ts, agent=agent, call=cid)
        else:
            self.wraps.append([ts + self.wrap_ms, agent, cid])

    def _enter(self, rec: Record) -> None:
        if rec.callid in NO_CALL or rec.queue in ("", "NONE"):
            self._unplaced("enterqueue_without_call_or_queue")
            return
        c = self.calls.get(rec.callid)
        if c is None:
            c = self.calls[rec.callid] = {"leg": 1}
        else:
            if c["open"]:
                self._note("entered_again_without_exit")
            c["leg"] += 1
        c.pop("closed", None)
        c.update(q=rec.queue, enq=rec.ts, agent=None, open=True, talk=False)
        self._emit("enqueue", rec.ts, call=self._call_id(rec.callid, c), queue=rec.queue)

    def _call(self, rec: Record) -> tuple[str, dict] | None:
        if rec.callid in NO_CALL:
            self._unplaced(f"{rec.verb.lower()}_without_call")
            return None
        c = self.calls.get(rec.callid)
        if c is None:  # the bridge started after this caller queued
            c = self.calls[rec.callid] = {"leg": 1, "q": self._queue(rec, None), "enq": None,
                                          "agent": None, "open": True, "talk": False,
                                          "seen": rec.ts}
        return self._call_id(rec.callid, c), c

    def _connect(self, rec: Record) -> None:
        got = self._call(rec)
        if got is None:
            return
        cid, c = got
        q = self._queue(rec, c)
        ag = self._agent(rec)
        if ag is None or q is None:
            if q is None:
                self._unplaced("connect_without_queue")
            return
        agent, st = ag
        self._working(agent, st, rec.ts)
        kw = {}
        w = self._wait_ms(rec, _int(rec.data, 0), c)
        if w is not None:
            kw["wait_ms"] = w
        # the offer goes with the answer: the engine counts an answer without an offer as
        # offered only if the call had no offer at all, and a caller who rang out at this
        # seat before (RINGNOANSWER) did
        if self.rang.pop(f"{rec.callid}|{agent}", None) is None:
            self._emit("offer", rec.ts, agent=agent, call=cid, queue=q)
        self._emit("answer", rec.ts, agent=agent, call=cid, queue=q, **kw)
        c.update(agent=agent, talk=True, open=True)

    def _rna(self, rec: Record) -> None:
        got = self._call(rec)
        if got is None:
            return
        cid, c = got
        q = self._queue(rec, c)
        ms = _int(rec.data, 0)  # RINGNOANSWER: milliseconds
        if rec.verb == "RINGNOANSWER" and ms is not None and ms < self.min_ring_ms:
            self._note("ring_shorter_than_min_ring_ms")
            return
        ag = self._agent(rec)
        if ag is None or q is None:
            if q is None:
                self._unplaced("ringnoanswer_without_queue")
            return
        agent, st = ag
        self._working(agent, st, rec.ts)
        if self.rang.pop(f"{rec.callid}|{agent}", None) is None:
            self._emit("offer", rec.ts, agent=agent, call=cid, queue=q)
        self._emit("no_answer", rec.ts, agent=agent, call=cid, queue=q)

    def _end(self, rec: Record) -> None:
        got = self._call(rec)
        if got is None:
            return
        cid, c = got
        agent = c.get("agent")
        if rec.member not in ("", "NONE"):
            ag = self._agent(rec)
            if ag is None and agent is None:
                return
            if ag is not None:
                agent = ag[0]
        if agent is None:
            self._unplaced("hangup_without_member")
            return
        self._emit("hangup", rec.ts, agent=agent, call=cid)
        self._after_hangup(agent, cid, rec.ts)
        self._close(rec.callid, rec.ts)

    def _exit(self, rec: Record) -> None:
        got = self._call(rec)
        if got is None:
            return
        cid, c = got
        q = self._queue(rec, c)
        if q is None:
            self._unplaced(f"{rec.verb.lower()}_without_queue")
            return
        if c.get("talk"):
            # an exit line for a caller the bridge has as talking: cannot be both
            self._unplaced(f"{rec.verb.lower()}_after_connect")
            return
        k = {"EXITWITHKEY": 3, "SYSCOMPAT": None}.get(rec.verb, 2)
        w = self._wait_ms(rec, _int(rec.data, k) if k is not None else None, c)
        if w is None:
            w = 0
            self._note("abandon_wait_unknown")
        self._emit("abandon", rec.ts, call=cid, queue=q, wait_ms=w)
        self._close(rec.callid, rec.ts)

    def _pause(self, rec: Record) -> None:
        ag = self._agent(rec)
        if ag is None:
            return
        agent, st = ag
        raw = rec.data[0] if rec.data else ""
        if rec.verb == "PAUSEALL":
            st["pall"] = rec.ts
            self._busy(agent, st, rec.ts, raw, False)
        else:
            # per-queue lines in the same second as a PAUSEALL are its echo: they never
            # change the reason (older versions write them with an empty one)
            self._busy(agent, st, rec.ts, raw, st.get("pall", -1) // 1000 == rec.ts // 1000)

    def _unpause(self, rec: Record) -> None:
        ag = self._agent(rec)
        if ag is None:
            return
        agent, st = ag
        if rec.verb == "UNPAUSE" and rec.data and rec.data[0] == "Auto-Unpause" and st["busy"]:
            # log_unpause_on_reason_change: a paused member's reason changes; the PAUSE
            # with the new reason follows at once (set_queue_member_pause)
            self._note("auto_unpause_on_reason_change")
            return
        if st["busy"] or st["st"] != "in":
            self._ready(agent, st, rec.ts)

    def _add(self, rec: Record) -> None:
        ag = self._agent(rec)
        if ag is None:
            return
        agent, st = ag
        q = rec.queue if rec.queue not in ("", "NONE") else "*"
        if q not in st["queues"]:
            st["queues"].append(q)
        self._sign_in(agent, st, rec.ts)
        if rec.data and rec.data[0].strip().upper() == "PAUSED" and not st["busy"]:
            self._busy(agent, st, rec.ts, "", False)

    def _remove(self, rec: Record) -> None:
        ag = self._agent(rec)
        if ag is None:
            return
        agent, st = ag
        q = rec.queue if rec.queue not in ("", "NONE") else "*"
        if q in st["queues"]:
            st["queues"].remove(q)
        if not st["queues"] and not st["login"]:
            self._sign_out(agent, st, rec.ts)

    def _login(self, rec: Record) -> None:
        ag = self._agent(rec)
        if ag is None:
            return
        agent, st = ag
        st["login"] = True
        self._sign_in(agent, st, rec.ts)

    def _logoff(self, rec: Record) -> None:
        ag = self._agent(rec)
        if ag is None:
            return
        agent, st = ag
        st["login"] = False
        if not st["queues"]:
            self._sign_out(agent, st, rec.ts)


_HANDLERS = {
    "ENTERQUEUE": Mapper._enter,
    "CONNECT": Mapper._connect,
    "RINGNOANSWER": Mapper._rna,
    "AGENTDUMP": Mapper._rna,
    **{v: Mapper._end for v in ENDS},
    **{v: Mapper._exit for v in EXITS},
    "PAUSE": Mapper._pause,
    "PAUSEALL": Mapper._pause,
    "UNPAUSE": Mapper._unpause,
    "UNPAUSEALL": Mapper._unpause,
    "ADDMEMBER": Mapper._add,
    "REMOVEMEMBER": Mapper._remove,
    "AGENTLOGIN": Mapper._login,
    "AGENTCALLBACKLOGIN": Mapper._login,
    "AGENTLOGOFF": Mapper._logoff,
    "AGENTCALLBACKLOGOFF": Mapper._logoff,
}
MAPPED = frozenset(_HANDLERS)
