"""Checked events -> a columnar batch of numpy arrays the kernels read.

Agent, queue, reason-code and source ids are interned to small integers here (`Symbols`);
call ids are hashed in a kernel so no table of call strings grows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kefu_floor.localtime import day_number, parse_month
from kefu_floor.schema import QA_ITEMS, RULES, SURVEY_RESULTS, TYPE_CODE, Event
from kernels.floor import fnv1a_rows

_SURVEY = {r: i for i, r in enumerate(SURVEY_RESULTS)}
_QA = {r: i for i, r in enumerate(QA_ITEMS)}
_RULE = {r: i for i, r in enumerate(RULES)}


class Interner:
    """str <-> dense int, in order of first sight."""

    def __init__(self, first: tuple[str, ...] = ()):
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        for s in first:
            self.id(s)

    def id(self, s: str) -> int:
        i = self.ids.get(s)
        if i is None:
            i = self.ids[s] = len(self.names)
            self.names.append(s)
        return i

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Symbols:
    agents: Interner = field(default_factory=Interner)
    queues: Interner = field(default_factory=Interner)
    reasons: Interner = field(default_factory=lambda: Interner(("",)))  # busy reason codes
    sources: Interner = field(default_factory=Interner)
    texts: Interner = field(default_factory=lambda: Interner(("",)))  # floor/adjust reasons


@dataclass
class Batch:
    etype: np.ndarray
    ts: np.ndarray
    agent: np.ndarray
    call: np.ndarray
    queue: np.ndarray
    code: np.ndarray
    aux: np.ndarray
    num: np.ndarray
    src: np.ndarray
    seq: np.ndarray

    def __len__(self) -> int:
        return len(self.etype)

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.etype, self.ts, self.agent, self.call, self.queue, self.code, self.aux,
                self.num, self.src, self.seq)

    def slice(self, a: int, b: int) -> "Batch":
        return Batch(*(c[a:b] for c in self.columns()))

    @staticmethod
    def concat(parts: list["Batch"]) -> "Batch":
        return Batch(*(np.concatenate(cols) for cols in zip(*(p.columns() for p in parts))))


def hash_ids(ids: list[str | None]) -> np.ndarray:
    raw = np.array([s.encode() if s else b"" for s in ids], dtype="S")
    if raw.itemsize == 0 or len(raw) == 0:
        return np.zeros(len(ids), np.int64)
    return fnv1a_rows(raw.view(np.uint8).reshape(len(ids), raw.itemsize))


def _code_aux_num(e: Event, sym: Symbols) -> tuple[int, int, float]:
    t = e.type
    if t == "busy":
        return sym.reasons.id(e.reason or ""), -1, 0.0
    if t == "answer" or t == "abandon":
        return 0, -1 if e.wait_ms is None else e.wait_ms, 0.0
    if t == "survey":
        return _SURVEY[e.result], -1, 0.0
    if t == "sale":
        return 0, -1, e.amount
    if t == "qa":
        return _QA[e.item], parse_month(e.month) if e.month else -1, e.score
    if t == "floor":
        return sym.texts.id(e.reason), -1, e.points
    if t == "adjust":
        return sym.texts.id(e.reason), parse_month(e.month) if e.month else -1, e.points
    if t == "excuse":
        import datetime as dt
        return _RULE[e.rule], day_number(dt.date.fromisoformat(e.day)), 0.0
    return 0, -1, 0.0


def to_batch(events: list[Event], sym: Symbols) -> Batch:
    n = len(events)
    agent_id, queue_id, src_id = sym.agents.id, sym.queues.id, sym.sources.id
    etype = np.fromiter((TYPE_CODE[e.type] for e in events), np.int8, n)
    ts = np.fromiter((e.ts for e in events), np.int64, n)
    agent = np.fromiter((-1 if e.agent is None else agent_id(e.agent) for e in events),
                        np.int32, n)
    queue = np.fromiter((-1 if e.queue is None else queue_id(e.queue) for e in events),
                        np.int32, n)
    call = hash_ids([e.call for e in events])
    can = [_code_aux_num(e, sym) for e in events]
    code = np.fromiter((c[0] for c in can), np.int32, n)
    aux = np.fromiter((c[1] for c in can), np.int64, n)
    num = np.fromiter((c[2] for c in can), np.float64, n)
    src = np.fromiter((-1 if e.src is None or e.seq is None else src_id(e.src)
                       for e in events), np.int32, n)
    seq = np.fromiter((-1 if e.seq is None else e.seq for e in events), np.int64, n)
    return Batch(etype, ts, agent, call, queue, code, aux, num, src, seq)
