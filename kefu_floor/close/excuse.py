"""An approved appeal as an `excuse` event (DESIGN.md §3.1), checked by the real decoder."""
from __future__ import annotations

import json
import time

from kefu_floor.errors import ConfigError, Rejected
from kefu_floor.schema import RULES, decode_event


def excuse_event(site: str, agent: str, rule: str, day: str, reason: str, by: str,
                 ts: int | None = None) -> bytes:
    """The event's JSON, or ConfigError naming the flag that makes it invalid."""
    if rule not in RULES:
        raise ConfigError(f"--rule {rule!r}: not a rule; one of {', '.join(RULES)}")
    e = {"type": "excuse", "ts": int(time.time() * 1000) if ts is None else ts,
         "site": site, "agent": agent, "rule": rule, "day": day, "reason": reason, "by": by}
    raw = json.dumps(e, ensure_ascii=False).encode("utf-8")
    try:
        decode_event(raw)
    except Rejected as r:
        # the decoder names the field (`day`, "day '2026-11-31' ...", `agent`): say the flag
        flag = next((f"--{k}" for k in ("day", "agent", "reason", "by", "site")
                     if f"`{k}`" in r.detail or f"$.{k}`" in r.detail
                     or r.detail.startswith(f"{k} ")), "the appeal")
        raise ConfigError(f"{flag}: {r.detail}") from None
    return raw
