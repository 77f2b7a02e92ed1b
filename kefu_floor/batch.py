"""Checked events -> a columnar batch of numpy arrays the kernels read.

Agent, queue, reason-code and source ids are interned to small integers here (`Symbols`);
call ids are hashed in a kernel so no table of call strings grows.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter

import numpy as np

from kefu_floor.localtime import day_number, parse_month
from kefu_floor.schema import EVENT_TYPES, QA_ITEMS, RULES, SURVEY_RESULTS, TYPE_CODE, Event
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

    def column(self, values) -> np.ndarray:
        """int32 ids of a column of names (-1 for None), interning new names first (in
        order of first sight). C-level passes only, unless a new name appears."""
        ids = self.ids
        new = set(values)
        new.discard(None)
        if not new <= ids.keys():
            for v in values:
                if v is not None and v not in ids:
                    self.id(v)
        return np.fromiter(map(ids.get, values, repeat(-1)), np.int32, len(values))


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
    epoch: np.ndarray | None = None  # the source's boot epoch (-1: none); not a kernel column

    def __len__(self) -> int:
        return len(self.etype)

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.etype, self.ts, self.agent, self.call, self.queue, self.code, self.aux,
                self.num, self.src, self.seq)

    def epochs(self) -> np.ndarray:
        if self.epoch is None:
            self.epoch = np.full(len(self), -1, np.int64)
        return self.epoch

    def slice(self, a: int, b: int) -> "Batch":
        return Batch(*(c[a:b] for c in self.columns()), epoch=self.epochs()[a:b])

    def take(self, idx: np.ndarray) -> "Batch":
        return Batch(*(c[idx] for c in self.columns()), epoch=self.epochs()[idx])

    @staticmethod
    def concat(parts: list["Batch"]) -> "Batch":
        return Batch(*(np.concatenate(cols) for cols in zip(*(p.columns() for p in parts))),
                     epoch=np.concatenate([p.epochs() for p in parts]))


def hash_ids(ids) -> np.ndarray:
    strs = [s or "" for s in ids]
    if "".join(strs).isascii():  # the usual case: numpy's ASCII bytes are the UTF-8 ones
        raw = np.array(strs, dtype="S")
    else:
        raw = np.array([s.encode() for s in strs], dtype="S")
    if raw.itemsize == 0 or len(raw) == 0:
        return np.zeros(len(ids), np.int64)
    return fnv1a_rows(raw.view(np.uint8).reshape(len(ids), raw.itemsize))


def _fill(events: list[Event], etype: np.ndarray, sym: Symbols
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The type-dependent columns (code, aux, num), filled one event type at a time so the
    common types cost one list comprehension each, not a function call per event."""
    n = len(events)
    code = np.zeros(n, np.int32)
    aux = np.full(n, -1, np.int64)
    num = np.zeros(n, np.float64)
    present = np.unique(etype)

    def pick(t: str) -> tuple[np.ndarray, list[Event]]:
        idx = np.flatnonzero(etype == TYPE_CODE[t])
        return idx, [events[k] for k in idx]

    for tc in present.tolist():
        t = EVENT_TYPES[tc]
        if t in ("sign_in", "sign_out", "ready", "offer", "no_answer", "hangup", "wrap_end",
                 "enqueue"):
            continue
        idx, evs = pick(t)
        if t == "busy":
            code[idx] = sym.reasons.column([r or "" for r in map(_REASON, evs)])
        elif t in ("answer", "abandon"):
            w = list(map(_WAIT, evs))
            aux[idx] = w if None not in w else [-1 if x is None else x for x in w]
        elif t == "survey":
            code[idx] = [_SURVEY[e.result] for e in evs]
        elif t == "sale":
            num[idx] = [e.amount for e in evs]
        elif t in ("qa", "adjust"):
            aux[idx] = [parse_month(e.month) if e.month else -1 for e in evs]
            if t == "qa":
                code[idx] = [_QA[e.item] for e in evs]
                num[idx] = [e.score for e in evs]
            else:
                code[idx] = [sym.texts.id(e.reason) for e in evs]
                num[idx] = [e.points for e in evs]
        elif t == "floor":
            code[idx] = [sym.texts.id(e.reason) for e in evs]
            num[idx] = [e.points for e in evs]
        elif t == "excuse":
            code[idx] = [_RULE[e.rule] for e in evs]
            aux[idx] = [day_number(dt.date.fromisoformat(e.day)) for e in evs]
            num[idx] = [sym.texts.id(e.by or "") for e in evs]  # who approved the appeal
        elif t == "incident":
            code[idx] = [sym.texts.id(e.kind) for e in evs]
            aux[idx] = [parse_month(e.month) if e.month else -1 for e in evs]
            num[idx] = [np.nan if e.amount is None else e.amount for e in evs]
    return code, aux, num


def _callless(events: list[Event], etype: np.ndarray, call: np.ndarray, sym: Symbols) -> None:
    """Incidents and excuses have no call but one value more than the other columns hold:
    an incident's `points` ride in the call column as float64 bits (NaN when absent), an
    excuse's reason as its texts code, so the kernel signature every caller shares stays
    as it is."""
    idx = np.flatnonzero(etype == TYPE_CODE["incident"])
    if len(idx):
        pts = np.array([np.nan if events[k].points is None else events[k].points
                        for k in idx], np.float64)
        call[idx] = pts.view(np.int64)
    idx = np.flatnonzero(etype == TYPE_CODE["excuse"])
    if len(idx):
        call[idx] = [sym.texts.id(events[k].reason) for k in idx]


# the columns every event has a value (or None) for, each read in one C-level pass
_BASE = tuple(attrgetter(f) for f in ("type", "ts", "agent", "call", "queue", "src", "seq",
                                      "epoch"))
_REASON = attrgetter("reason")
_WAIT = attrgetter("wait_ms")


def base_columns(events: list[Event]) -> tuple[list, ...]:
    """(type, ts, agent, call, queue, src, seq, epoch) as lists, one C-level pass each:
    read once and shared by the engine's id cap and `to_batch`."""
    return tuple(list(map(g, events)) for g in _BASE)


def to_batch(events: list[Event], sym: Symbols, cols: tuple[list, ...] | None = None
             ) -> Batch:
    n = len(events)
    types, ts, agents, calls, queues, srcs, seqs, epochs = cols or base_columns(events)
    etype = np.fromiter(map(TYPE_CODE.__getitem__, types), np.int8, n)
    ts = np.array(ts, np.int64).reshape(n)
    agent = sym.agents.column(agents)
    queue = sym.queues.column(queues)
    call = hash_ids(calls)
    code, aux, num = _fill(events, etype, sym)
    _callless(events, etype, call, sym)
    if not any(srcs):  # (an epoch without a src means nothing: not kept)
        src = np.full(n, -1, np.int32)
        seq = np.full(n, -1, np.int64)
        epochs = []
    elif None not in srcs and None not in seqs:  # a gateway's stream: every event numbered
        src = sym.sources.column(srcs)
        seq = np.array(seqs, np.int64)
    else:
        src = np.fromiter([-1 if s is None or q is None else sym.sources.id(s)
                           for s, q in zip(srcs, seqs)], np.int32, n)
        seq = np.fromiter([-1 if q is None else q for q in seqs], np.int64, n)
    if not epochs or all(x is None for x in epochs):
        epoch = np.full(n, -1, np.int64)
    elif None not in epochs:
        epoch = np.array(epochs, np.int64)
    else:
        epoch = np.fromiter([-1 if x is None else x for x in epochs], np.int64, n)
    return Batch(etype, ts, agent, call, queue, code, aux, num, src, seq, epoch)
