"""Telemetry events (DESIGN.md §3.1): strict decoding and per-type validation.

One wire struct carries every field any type may have; msgspec checks each field's type
and range in C, then `check` applies the per-type rules (required fields, floor points
negative, real calendar days). A bad event never raises out of here: it becomes a
`Rejected` with a counted `reason` and a `detail` a person can act on.
"""
from __future__ import annotations

import datetime as dt
from itertools import repeat
from operator import attrgetter, is_, is_not
from typing import Annotated, Literal

import msgspec
import numpy as np
from msgspec import Meta

from kefu_floor.errors import Rejected
from kernels.scan import depth_of

EventType = Literal[
    "sign_in", "sign_out", "ready", "busy", "offer", "answer", "no_answer", "hangup",
    "wrap_end", "enqueue", "abandon", "survey", "sale", "qa", "floor", "adjust", "excuse",
    "incident"]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # index = kernels.layout EV_* code
TYPE_CODE = {t: i for i, t in enumerate(EVENT_TYPES)}
RULES = ("busy_over_30", "late_sign_in", "late_return", "early_leave", "absent", "floor",
         "lunch_over_35", "sign_out_in_shift")  # index = kernels.layout R_*
SURVEY_RESULTS = ("satisfied", "neutral", "dissatisfied")
QA_ITEMS = ("recording", "text", "performance", "exam", "management")

# Sanity ranges of the wire format: a value outside them is `invalid_value`, checked in C
# before anything is interned or stored. They bound what one event can cost (an id's length
# is the width of the hashed-id column of its whole batch) and keep every number inside
# what the kernels and the calendar handle (the offset table spans 1970..2100).
MAX_ID = 64  # agent, call, queue, src, seat, site, busy reason code
MAX_TEXT = 500  # the free-text reason of floor / adjust / excuse entries
# ids: printable, no control characters (they reach logs, CSV exports and screens)
Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID, pattern=r"^[^\x00-\x1f\x7f]+$")]
OptId = Annotated[str, Meta(max_length=MAX_ID, pattern=r"^[^\x00-\x1f\x7f]*$")]
Text = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]
NonEmpty = Id
Month = Annotated[str, Meta(pattern=r"^20\d\d-(0[1-9]|1[0-2])$")]  # 2000-01 .. 2099-12
Day = Annotated[str, Meta(pattern=r"^(19[7-9]\d|20\d\d)-\d{2}-\d{2}$")]
# ts: 2000-01-01 .. 2099-12-31 (UTC ms). Nearer bounds (how far ahead of engine time or of
# the wall clock) are the clock guard's, in the policy's [limits].
MIN_TS = 946_684_800_000
MAX_TS = 4_102_444_799_999
Ts = Annotated[int, Meta(ge=MIN_TS, le=MAX_TS)]
Count = Annotated[int, Meta(ge=0, le=2**53)]
WaitMs = Annotated[int, Meta(ge=0, le=86_400_000)]  # a day
Amount = Annotated[float, Meta(ge=-1e9, le=1e9)]
Points = Annotated[float, Meta(ge=-100, le=100)]  # the score scale is 0..100
MAX_DEPTH = 16  # nesting of arrays/objects a payload may have (events need 2)
MAX_DETAILS = 20  # rejections of one payload kept with their detail; all are counted


class Event(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    # gc=False: only scalar fields, so no cycles; a 500-event batch would otherwise make
    # the cyclic collector walk every event, many times over
    type: EventType
    ts: Ts
    agent: Id | None = None
    site: OptId | None = None
    src: Id | None = None
    seq: Count | None = None
    seat: OptId | None = None
    reason: Text | None = None
    call: Id | None = None
    queue: Id | None = None
    wait_ms: WaitMs | None = None
    result: Literal["satisfied", "neutral", "dissatisfied"] | None = None
    amount: Amount | None = None
    item: Literal["recording", "text", "performance", "exam", "management"] | None = None
    score: Annotated[float, Meta(ge=0, le=100)] | None = None
    month: Month | None = None
    points: Points | None = None
    rule: Literal["busy_over_30", "late_sign_in", "late_return", "early_leave", "absent",
                  "floor", "lunch_over_35", "sign_out_in_shift"] | None = None
    day: Day | None = None
    kind: NonEmpty | None = None  # incident
    ref: Annotated[str, Meta(max_length=MAX_TEXT)] | None = None  # incident: e.g. an order id
    by: Annotated[str, Meta(max_length=MAX_TEXT)] | None = None  # excuse: who approved it
    # optional, added to the contract: the source's boot epoch (any number that grows each
    # time the gateway restarts its seq counter, e.g. its boot time in ms); see README
    epoch: Count | None = None


# The same wire struct without the ids' character patterns, for payloads in which no id can
# hold a control character: JSON can only put one in a string as an escape (a backslash)
# or as a raw DEL byte, so a payload with neither decodes to exactly what the strict
# decoder gives. The patterns cost the decoder 4-8x its time on a batch of telemetry; a
# payload that has either byte, or that this decoder refuses, goes the strict way.
LaxId = Annotated[str, Meta(min_length=1, max_length=MAX_ID)]
LaxOptId = Annotated[str, Meta(max_length=MAX_ID)]


class _LaxEvent(Event, kw_only=True, omit_defaults=True, gc=False):
    agent: LaxId | None = None
    site: LaxOptId | None = None
    src: LaxId | None = None
    seat: LaxOptId | None = None
    call: LaxId | None = None
    queue: LaxId | None = None
    kind: LaxId | None = None


REQUIRED: dict[str, tuple[str, ...]] = {
    "sign_in": ("agent",), "sign_out": ("agent",), "ready": ("agent",), "busy": ("agent",),
    "offer": ("agent", "call", "queue"), "answer": ("agent", "call", "queue"),
    "no_answer": ("agent", "call", "queue"), "hangup": ("agent", "call"),
    "wrap_end": ("agent", "call"), "enqueue": ("call", "queue"),
    "abandon": ("call", "queue", "wait_ms"), "survey": ("agent", "call", "result"),
    "sale": ("agent", "amount"), "qa": ("agent", "item", "score"),
    "floor": ("agent", "points", "reason"), "adjust": ("agent", "points", "reason"),
    "excuse": ("agent", "rule", "day", "reason"),
    "incident": ("agent", "kind"),
}
# field -> the types that require it (the same rule, read a column at a time)
_NEEDS: dict[str, np.ndarray] = {
    f: np.array([f in REQUIRED[t] for t in EVENT_TYPES], np.bool_)
    for f in dict.fromkeys(f for fs in REQUIRED.values() for f in fs)}
_NEEDED_BY = {f: frozenset(t for t, fs in REQUIRED.items() if f in fs) for f in _NEEDS}

_one = msgspec.json.Decoder(Event)
_many = msgspec.json.Decoder(Event | list[Event])
_many_lax = msgspec.json.Decoder(_LaxEvent | list[_LaxEvent])
_raws = msgspec.json.Decoder(list[msgspec.Raw])
_raw = msgspec.json.Decoder(msgspec.Raw)
_encoder = msgspec.json.Encoder()


def _classify(e: Exception) -> Rejected:
    msg = str(e)
    if isinstance(e, msgspec.DecodeError) and not isinstance(e, msgspec.ValidationError):
        return Rejected("bad_json", msg)
    if "missing required field" in msg:
        return Rejected("missing_field", msg)
    if "at `$.type`" in msg or msg.endswith("at `$[...].type`"):
        return Rejected("unknown_type", msg)
    if msg.startswith("Expected") and ", got `" in msg:
        return Rejected("wrong_type", msg)  # "Expected `int`, got `float`"
    # constraint failures ("Expected `float` <= 100.0", "... matching regex ...") and bad
    # enum values are values of the right type outside what the field allows
    return Rejected("invalid_value", msg)


def check(e: Event) -> Rejected | None:
    """Per-type rules msgspec cannot express."""
    t = e.type
    for f in REQUIRED[t]:
        if getattr(e, f) is None:
            return Rejected("missing_field", f"{t} event needs field `{f}`")
    if t == "busy" and e.reason is not None and len(e.reason) > MAX_ID:
        return Rejected("invalid_value", f"busy reason code is {len(e.reason)} characters "
                        f"long; at most {MAX_ID}")
    if t == "floor" and e.points >= 0:
        return Rejected("invalid_value", f"floor points must be negative, got {e.points:g}")
    if e.day is not None:
        try:
            dt.date.fromisoformat(e.day)
        except ValueError:
            return Rejected("invalid_value", f"day {e.day!r} is not a calendar date")
    return None


# types whose only rules are their required fields (the common telemetry): `check_all`
# tests those a field column at a time; every other event goes through `check`
_PLAIN = frozenset(t for t in EVENT_TYPES if t not in ("floor", "excuse"))
_get_type = attrgetter("type")
_get_reason = attrgetter("reason")
_get_day = attrgetter("day")


def check_all(events: list[Event]) -> list[tuple[int, Rejected]]:
    """(index, rejection) of every event of a list that `check` rejects.

    A column at a time, so a batch costs a few C-level passes instead of a Python call per
    event: the events that might break a rule (a required field missing, a type with rules
    of its own, a `day`) are found first, and only those go through `check`, which gives
    the exact rejection (or none)."""
    n = len(events)
    types = list(map(_get_type, events))
    suspect = np.zeros(n, np.bool_)
    codes = None
    present = set(types)
    for f, need in _NEEDS.items():
        if present.isdisjoint(_NEEDED_BY[f]):
            continue
        col = list(map(attrgetter(f), events))
        if None not in col:
            continue
        if codes is None:
            codes = np.fromiter(map(TYPE_CODE.__getitem__, types), np.int8, n)
        missing = np.fromiter(map(is_, col, repeat(None)), np.bool_, n)
        suspect |= missing & need[codes]
    if not _PLAIN.issuperset(present):
        suspect |= np.fromiter(map(_PLAIN.__contains__, types), np.bool_, n) == 0
    if "busy" in present and max(map(len, filter(None, map(_get_reason, events))),
                               default=0) > MAX_ID:
        # a long text is fine elsewhere, but a busy reason is an id (the one rule of busy)
        suspect |= np.fromiter(map("busy".__eq__, types), np.bool_, n)
    if any(map(_get_day, events)):
        suspect |= np.fromiter(map(is_not, map(_get_day, events), repeat(None)), np.bool_, n)
    out = []
    for k in np.flatnonzero(suspect).tolist():
        r = check(events[k])
        if r is not None:
            out.append((k, r))
    return out


class Rejections(list):
    """The rejections of one payload: every one counted by reason (`counts`), the first
    MAX_DETAILS kept with their detail (the list itself), so a payload of 400,000 bad
    elements costs a counter, not 400,000 objects."""

    def __init__(self, items=()):
        super().__init__()
        self.counts: dict[str, int] = {}
        self.extend(items)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def append(self, r: Rejected) -> None:
        self.counts[r.reason] = self.counts.get(r.reason, 0) + 1
        if len(self) < MAX_DETAILS:
            super().append(r)

    def extend(self, rs) -> None:
        if isinstance(rs, Rejections):
            for k, v in rs.counts.items():
                self.counts[k] = self.counts.get(k, 0) + v
            super().extend(list(rs)[: max(0, MAX_DETAILS - len(self))])
            return
        for r in rs:
            self.append(r)

    def __iadd__(self, rs):
        self.extend(rs)
        return self


_JSON_KIND = {b"[": "array", b'"': "str", b"t": "bool", b"f": "bool", b"n": "null",
              **{bytes([c]): "number" for c in b"-0123456789"}}


def too_deep(data: bytes | str) -> Rejected | None:
    """Nesting deeper than MAX_DEPTH, found by a byte scan before any decoder recurses."""
    if depth_of(data, MAX_DEPTH) > MAX_DEPTH:
        return Rejected("bad_json", f"arrays/objects nested deeper than {MAX_DEPTH} levels; "
                        "not decoded")
    return None


def decode_event(line: bytes | str, scanned: bool = False) -> Event:
    """One JSON object -> a checked Event, or raise Rejected. `scanned`: its nesting was
    already checked (an element of a scanned payload)."""
    if not scanned:
        deep = too_deep(line)
        if deep is not None:
            raise deep
    try:
        e = _one.decode(line)
    except msgspec.DecodeError as err:
        if isinstance(err, msgspec.ValidationError):
            # msgspec validates as it parses: a truncated line may fail on a value first,
            # but broken JSON is what it is
            try:
                _raw.decode(line)
            except msgspec.DecodeError as err2:
                raise _classify(err2) from None
        raise _classify(err) from None
    except RecursionError:  # belt and braces: too_deep should have caught it
        raise Rejected("bad_json", "nested too deep") from None
    bad = check(e)
    if bad is not None:
        raise bad
    return e


def decode_payload(payload: bytes) -> tuple[list[Event], Rejections]:
    """An MQTT payload (one event or a JSON array of events) -> (good events, rejections).

    The whole payload is decoded in one C call; only when that fails is it taken apart to
    find which elements are bad, so one bad event in a batch of 500 costs the other 499
    nothing but the retry. Its nesting is checked first by a byte scan, so no input makes
    a decoder recurse; the rejections are counted in full but kept with detail only for
    the first few (`Rejections`), so the cost is bounded by the payload's size.
    """
    deep = too_deep(payload)
    if deep is not None:
        return [], Rejections([deep])
    obj = None
    if b"\\" not in payload and b"\x7f" not in payload:
        try:
            obj = _many_lax.decode(payload)
        except (msgspec.DecodeError, RecursionError):
            pass  # the strict decoder says why
    try:
        if obj is None:
            obj = _many.decode(payload)
    except (msgspec.DecodeError, RecursionError) as err:
        try:
            raws = _raws.decode(payload)
        except (msgspec.DecodeError, RecursionError):
            return [], Rejections([_classify(err) if isinstance(err, msgspec.DecodeError)
                                   else Rejected("bad_json", "nested too deep")])
        good, bad = [], Rejections()
        for i, raw in enumerate(raws):
            b = bytes(raw)
            if not b.startswith(b"{"):  # the common flood: not even an object, no decoding
                kind = _JSON_KIND.get(b[:1], "value")
                bad.append(Rejected("wrong_type", f"Expected `object`, got `{kind}` - at "
                                    f"`$[{i}]`", i))
                continue
            try:
                good.append(decode_event(b, scanned=True))
            except Rejected as r:
                r.index = i
                bad.append(r)
        return good, bad
    events = obj if isinstance(obj, list) else [obj]
    bad = check_all(events)
    if not bad:
        return events, Rejections()
    skip = {k for k, _ in bad}
    for k, r in bad:
        r.index = k if isinstance(obj, list) else None
    return ([e for k, e in enumerate(events) if k not in skip],
            Rejections(r for _, r in bad))


def encode(events: list[Event] | Event) -> bytes:
    return _encoder.encode(events)
