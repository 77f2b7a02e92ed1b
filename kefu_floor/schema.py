"""Telemetry events (DESIGN.md §3.1): strict decoding and per-type validation.

One wire struct carries every field any type may have; msgspec checks each field's type
and range in C, then `check` applies the per-type rules (required fields, floor points
negative, real calendar days). A bad event never raises out of here: it becomes a
`Rejected` with a counted `reason` and a `detail` a person can act on.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from kefu_floor.errors import Rejected

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

NonEmpty = Annotated[str, Meta(min_length=1)]
Month = Annotated[str, Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Day = Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
# integers the kernels store as int64: a JSON integer beyond that is an invalid value, not
# an OverflowError in the engine. ts: 1970-01-01 .. 9999-12-31 in ms.
MAX_TS = 253_402_300_799_999
Ts = Annotated[int, Meta(ge=0, le=MAX_TS)]
Count = Annotated[int, Meta(ge=0, le=2**53)]


class Event(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    # gc=False: only scalar fields, so no cycles; a 500-event batch would otherwise make
    # the cyclic collector walk every event, many times over
    type: EventType
    ts: Ts
    agent: NonEmpty | None = None
    site: str | None = None
    src: str | None = None
    seq: Count | None = None
    seat: str | None = None
    reason: str | None = None
    call: NonEmpty | None = None
    queue: NonEmpty | None = None
    wait_ms: Count | None = None
    result: Literal["satisfied", "neutral", "dissatisfied"] | None = None
    amount: float | None = None
    item: Literal["recording", "text", "performance", "exam", "management"] | None = None
    score: Annotated[float, Meta(ge=0, le=100)] | None = None
    month: Month | None = None
    points: float | None = None
    rule: Literal["busy_over_30", "late_sign_in", "late_return", "early_leave", "absent",
                  "floor", "lunch_over_35", "sign_out_in_shift"] | None = None
    day: Day | None = None
    kind: NonEmpty | None = None  # incident
    ref: str | None = None  # incident: e.g. an order id
    by: str | None = None  # excuse: who approved the appeal (optional; listed by the close)


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

_one = msgspec.json.Decoder(Event)
_many = msgspec.json.Decoder(Event | list[Event])
_raws = msgspec.json.Decoder(list[msgspec.Raw])
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
    if t == "floor" and e.points >= 0:
        return Rejected("invalid_value", f"floor points must be negative, got {e.points:g}")
    if e.day is not None:
        try:
            dt.date.fromisoformat(e.day)
        except ValueError:
            return Rejected("invalid_value", f"day {e.day!r} is not a calendar date")
    return None


def check_all(events: list[Event]) -> list[tuple[int, Rejected]]:
    """(index, rejection) of every event of a list that `check` rejects."""
    out = []
    for k, e in enumerate(events):
        r = check(e)
        if r is not None:
            out.append((k, r))
    return out


def decode_event(line: bytes | str) -> Event:
    """One JSON object -> a checked Event, or raise Rejected."""
    try:
        e = _one.decode(line)
    except msgspec.DecodeError as err:
        raise _classify(err) from None
    bad = check(e)
    if bad is not None:
        raise bad
    return e


def decode_payload(payload: bytes) -> tuple[list[Event], list[Rejected]]:
    """An MQTT payload (one event or a JSON array of events) -> (good events, rejections).

    The whole payload is decoded in one C call; only when that fails is it taken apart to
    find which elements are bad, so one bad event in a batch of 500 costs the other 499
    nothing but the retry.
    """
    try:
        obj = _many.decode(payload)
    except msgspec.DecodeError as err:
        try:
            raws = _raws.decode(payload)
        except msgspec.DecodeError:
            return [], [_classify(err)]
        good, bad = [], []
        for i, raw in enumerate(raws):
            try:
                good.append(decode_event(raw))
            except Rejected as r:
                r.index = i
                bad.append(r)
        return good, bad
    events = obj if isinstance(obj, list) else [obj]
    bad = check_all(events)
    if not bad:
        return events, []
    skip = {k for k, _ in bad}
    for k, r in bad:
        r.index = k if isinstance(obj, list) else None
    return [e for k, e in enumerate(events) if k not in skip], [r for _, r in bad]


def encode(events: list[Event] | Event) -> bytes:
    return _encoder.encode(events)
