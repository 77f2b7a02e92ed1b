"""Render the ACD simulator's run as the queue_log Asterisk app_queue would have written.

    lines, members = render(events, queues)      # queue_log text lines, members.csv rows

Every line is in the exact flat-file form of main/logger.c (`%ld|%s|%s|%s|%s|` + data,
whole-second epoch) with the data fields apps/app_queue.c writes for that event (see
kefu_floor/bridge/asterisk.py for the list). Members come in the forms a real site has:
`SIP/8001`, `PJSIP/8002`, `Local/3003@from-queue/n` (dynamic members: ADDMEMBER and
REMOVEMEMBER per queue) and `Agent/3004` (app_agent_pool: AGENTLOGIN/AGENTLOGOFF with the
bare agent number, static membership). A 示忙 is a QueuePause without a queue: PAUSEALL
followed by one PAUSE per queue, as set_member_paused writes it.

What queue_log cannot say, and `expressible` therefore drops or moves, is documented there.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

from kefu_floor.schema import Event

ACD_TYPES = frozenset({"sign_in", "sign_out", "ready", "busy", "offer", "answer", "no_answer",
                       "hangup", "wrap_end", "enqueue", "abandon"})


def member_name(agent: str, k: int) -> str:
    n = 8000 + k + 1
    return (f"SIP/{n}", f"PJSIP/{n}", f"Local/{n}@from-queue/n", f"Agent/{n}")[k % 4]


def _h(s: str) -> int:
    return int.from_bytes(hashlib.blake2s(s.encode(), digest_size=4).digest(), "big")


class QueueLogWriter:
    """Sim events in → queue_log lines out, keeping what Asterisk would know."""

    def __init__(self, queues: Iterable[str], epoch_uid: int = 0):
        self.queues = list(queues)
        self.members: dict[str, str] = {}  # agent → member
        self.lines: list[str] = []
        self.uid_n = epoch_uid
        self.calls: dict[str, dict] = {}  # sim call id → info
        self.call_uid: dict[str, str] = {}  # sim call id → uniqueid
        self.waiting: dict[str, int] = {q: 0 for q in self.queues}

    def member(self, agent: str) -> str:
        m = self.members.get(agent)
        if m is None:
            m = self.members[agent] = member_name(agent, len(self.members))
        return m

    def _uid(self, t: int) -> str:
        self.uid_n += 1
        return f"{t}.{self.uid_n}"

    def _w(self, t: int, callid: str, queue: str, agent: str, verb: str, *data) -> None:
        # logger.c: "%ld|%s|%s|%s|%s|" then the formatted data ("%s" of "" leaves the
        # trailing '|')
        self.lines.append(f"{t}|{callid}|{queue}|{agent}|{verb}|" + "|".join(str(d) for d in data))

    def start(self, t: int) -> None:
        self._w(t, "NONE", "NONE", "NONE", "QUEUESTART", "")

    def feed(self, e: Event) -> None:
        t = e.ts // 1000
        et = e.type
        if et not in ACD_TYPES:
            return
        if e.agent is not None:
            m = self.member(e.agent)
        if et == "sign_in":
            if m.startswith("Agent/"):
                self._w(t, self._uid(t), "NONE", m.split("/", 1)[1], "AGENTLOGIN",
                        f"PJSIP/{m.split('/', 1)[1]}-0000{self.uid_n % 10000:04x}")
            else:
                for q in self.queues:
                    self._w(t, self._uid(t), q, m, "ADDMEMBER", "")
        elif et == "sign_out":
            if m.startswith("Agent/"):
                self._w(t, self._uid(t), "NONE", m.split("/", 1)[1], "AGENTLOGOFF",
                        f"PJSIP/{m.split('/', 1)[1]}-0000abcd", 3600)
            else:
                for q in self.queues:
                    self._w(t, "MANAGER", q, m, "REMOVEMEMBER", "")
        elif et == "busy":
            r = e.reason or ""
            self._w(t, "NONE", "NONE", m, "PAUSEALL", r)
            for q in self.queues:
                self._w(t, "NONE", q, m, "PAUSE", r)
        elif et == "ready":
            self._w(t, "NONE", "NONE", m, "UNPAUSEALL", "")
            for q in self.queues:
                self._w(t, "NONE", q, m, "UNPAUSE", "")
        elif et == "enqueue":
            uid = self._uid(t)
            self.call_uid[e.call] = uid
            self.waiting[e.queue] = self.waiting.get(e.queue, 0) + 1
            pos = self.waiting[e.queue]
            self.calls[e.call] = {"enq": t, "q": e.queue, "pos": pos, "offer": None}
            num = f"138{_h(e.call) % 100_000_000:08d}"
            self._w(t, uid, e.queue, "NONE", "DID", "4008001234")
            self._w(t, uid, e.queue, "NONE", "ENTERQUEUE", "", num, pos)
        elif et == "offer":
            self.calls[e.call]["offer"] = e.ts
        elif et == "no_answer":
            c = self.calls[e.call]
            ring_ms = e.ts - (c["offer"] if c["offer"] is not None else e.ts)
            self._w(t, self.call_uid[e.call], e.queue, m, "RINGNOANSWER", ring_ms)
        elif et == "answer":
            c = self.calls[e.call]
            self.waiting[c["q"]] -= 1
            ring_s = (e.ts - c["offer"]) // 1000 if c["offer"] is not None else 0
            c["ans"] = t
            self._w(t, self.call_uid[e.call], e.queue, m, "CONNECT", t - c["enq"],
                    self._uid(t), ring_s)
        elif et == "hangup":
            c = self.calls.pop(e.call)
            uid = self.call_uid.pop(e.call)
            hold, talk = c["ans"] - c["enq"], t - c["ans"]
            k = _h(e.call) % 20
            if k == 0:
                self._w(t, uid, c["q"], m, "BLINDTRANSFER", "8888", "from-internal", hold,
                        talk, c["pos"])
            elif k == 1:
                self._w(t, uid, c["q"], m, "ATTENDEDTRANSFER", "BRIDGE",
                        f"{_h(uid):08x}-1c2d-4e5f-8a9b-{_h(e.call):012x}", hold, talk,
                        c["pos"])
            else:
                self._w(t, uid, c["q"], m, "COMPLETEAGENT" if k % 2 else "COMPLETECALLER",
                        hold, talk, c["pos"])
        elif et == "abandon":
            c = self.calls.pop(e.call)
            uid = self.call_uid.pop(e.call)
            self.waiting[c["q"]] -= 1
            verb = "EXITWITHTIMEOUT" if _h(e.call) % 9 == 0 else "ABANDON"
            self._w(t, uid, c["q"], "NONE", verb, 1, c["pos"], t - c["enq"])

    def members_rows(self) -> list[dict[str, str]]:
        rows = []
        for agent, m in self.members.items():
            rows.append({"member": m, "agent": agent})
            if m.startswith("Agent/"):  # AGENTLOGIN/LOGOFF name the bare agent number
                rows.append({"member": m.split("/", 1)[1], "agent": agent})
        return rows


def render(events: list[Event], queues: Iterable[str]) -> tuple[list[str], list[dict], dict]:
    """(queue_log lines, members.csv rows, sim call id → uniqueid) for a run's events."""
    w = QueueLogWriter(queues)
    acd = [e for e in events if e.src in (None, "acd")]
    if acd:
        w.start(acd[0].ts // 1000 - 60)
    uids = {}
    for e in acd:
        if e.type == "enqueue":
            w.feed(e)
            uids[e.call] = w.call_uid[e.call]
        else:
            w.feed(e)
    return w.lines, w.members_rows(), uids


def expressible(events: list[Event]) -> list[Event]:
    """The simulator's events as far as queue_log can carry them — what a perfect bridge
    gives back:

    - surveys, sales and every manual entry: not in queue_log (other sources send them);
    - ts to whole seconds (Asterisk logs `time(NULL)`), wait_ms the difference of the two
      whole-second times (CONNECT holdtime, ABANDON waittime);
    - ringing: queue_log has no line when a seat starts ringing, only CONNECT (answered)
      and RINGNOANSWER (rang out), so each offer moves to that line's second;
    - wrap-up: Asterisk does not log it (queues.conf wrapuptime is config): wrap_end at the
      hangup (the bridge's --wrap-s 0);
    - the seat of a sign-in; a repeated busy with the same reason.
    """
    out: list[Event] = []
    enq: dict[str, int] = {}
    offers: dict[tuple[str, str], Event] = {}
    busy: dict[str, str | None] = {}
    sec = lambda ms: ms // 1000 * 1000
    for e in events:
        if e.type not in ACD_TYPES or e.src not in (None, "acd"):
            continue
        t = sec(e.ts)
        kw = {"site": e.site}
        if e.type == "enqueue":
            enq[e.call] = t
            out.append(Event(type="enqueue", ts=t, call=e.call, queue=e.queue, **kw))
        elif e.type == "offer":
            offers[(e.agent, e.call)] = e
        elif e.type == "no_answer":
            offers.pop((e.agent, e.call), None)
            out.append(Event(type="offer", ts=t, agent=e.agent, call=e.call, queue=e.queue, **kw))
            out.append(Event(type="no_answer", ts=t, agent=e.agent, call=e.call, queue=e.queue,
                             **kw))
        elif e.type == "answer":
            offers.pop((e.agent, e.call), None)
            out.append(Event(type="offer", ts=t, agent=e.agent, call=e.call, queue=e.queue, **kw))
            out.append(Event(type="answer", ts=t, agent=e.agent, call=e.call, queue=e.queue,
                             wait_ms=t - enq[e.call], **kw))
        elif e.type == "abandon":
            out.append(Event(type="abandon", ts=t, call=e.call, queue=e.queue,
                             wait_ms=t - enq[e.call], **kw))
        elif e.type == "hangup":
            out.append(Event(type="hangup", ts=t, agent=e.agent, call=e.call, **kw))
            out.append(Event(type="wrap_end", ts=t, agent=e.agent, call=e.call, **kw))
        elif e.type == "wrap_end":
            continue
        elif e.type == "busy":
            if e.agent in busy and busy[e.agent] == e.reason:
                continue
            busy[e.agent] = e.reason
            out.append(Event(type="busy", ts=t, agent=e.agent, reason=e.reason, **kw))
        elif e.type in ("ready", "sign_in", "sign_out"):
            busy.pop(e.agent, None)
            out.append(Event(type=e.type, ts=t, agent=e.agent, **kw))
    return out


def main(argv: list[str] | None = None) -> int:
    """python -m simulators.queuelog --agents N --days D --seed S --out DIR: a simulated
    floor as queue_log + members.csv (+ the simulator's roster.csv, schedule.csv and
    events.jsonl for comparison)."""
    import argparse
    import csv
    import datetime as dt
    from pathlib import Path

    from simulators.acd import Scenario
    from simulators.files import write_run

    ap = argparse.ArgumentParser(prog="python -m simulators.queuelog")
    ap.add_argument("--agents", type=int, default=40)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--start", default="2026-11-03")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--site", default="cd1")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    out = Path(a.out)
    scn = Scenario(agents=a.agents, days=a.days, start=dt.date.fromisoformat(a.start),
                   seed=a.seed, site=a.site)
    write_run(scn, out, progress=False)
    from kefu_floor.replay import read_events

    events = [e for _, e in read_events(out / "events.jsonl")]
    lines, members, _ = render(events, [q for q, _ in scn.queues])
    (out / "queue_log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open(out / "members.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=("member", "agent"), lineterminator="\n")
        w.writeheader()
        w.writerows(members)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
