"""The site's tables for a bridge: ACD member name → 工号, and ACD pause reason → the
policy's busy reason code. Both are CSV files with a header row, UTF-8."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from kefu_floor.errors import ConfigError

# the contract's example reason codes (DESIGN.md §3.1): an ACD reason spelled exactly like
# one of them (or like a code the site's table maps to) passes through unchanged
CONTRACT_REASONS = ("break", "lunch", "meeting", "training", "system", "toilet")


def _read(path: Path, cols: tuple[str, str], what: str) -> dict[str, str]:
    try:
        f = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed by the with below
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot open it ({e.strerror})") from None
    out: dict[str, str] = {}
    with f:
        try:
            r = csv.DictReader(f)
            if r.fieldnames is None or any(c not in r.fieldnames for c in cols):
                raise ConfigError(f"{what} {path}: the header must name the columns "
                                  f"{','.join(cols)} (it has {','.join(r.fieldnames or [])})")
            for row in r:
                k, v = (row[cols[0]] or "").strip(), (row[cols[1]] or "").strip()
                if not k and not v:
                    continue
                if not k or not v:
                    raise ConfigError(f"{what} {path}:{r.line_num}: both {cols[0]} and "
                                      f"{cols[1]} are needed")
                if k in out and out[k] != v:
                    raise ConfigError(f"{what} {path}:{r.line_num}: {cols[0]} {k!r} is "
                                      f"mapped twice ({out[k]!r} and {v!r})")
                out[k] = v
        except UnicodeDecodeError:
            raise ConfigError(f"{what} {path}: not UTF-8 text; save it as UTF-8") from None
        except csv.Error as e:
            raise ConfigError(f"{what} {path}: not a CSV file ({e})") from None
    return out


@dataclass
class Tables:
    """`members`: ACD member string → agent id; `as_ids`: the member string is the agent id
    already (no CSV); `reasons`: ACD pause reason → reason code."""

    members: dict[str, str] = field(default_factory=dict)
    as_ids: bool = False
    reasons: dict[str, str] = field(default_factory=dict)

    def agent(self, member: str) -> str | None:
        if self.as_ids:
            return member if member and member != "NONE" else None
        return self.members.get(member)

    def reason(self, raw: str) -> tuple[str | None, bool]:
        """(code or None, known): an empty reason is known and has no code."""
        raw = raw.strip()
        if not raw:
            return None, True
        if raw in self.reasons:
            return self.reasons[raw], True
        if raw in CONTRACT_REASONS or raw in self.reasons.values():
            return raw, True
        return None, False


def load_tables(members: str | None, reasons: str | None, as_ids: bool = False) -> Tables:
    if members is None and not as_ids:
        raise ConfigError("--members CSV (member,agent) is needed to turn ACD member names "
                          "into 工号; or give --members-as-ids if the ACD's member names are "
                          "the agent ids already")
    if members is not None and as_ids:
        raise ConfigError("--members and --members-as-ids exclude each other: give one")
    t = Tables(as_ids=as_ids)
    if members is not None:
        t.members = _read(Path(members), ("member", "agent"), "members file")
    if reasons is not None:
        t.reasons = _read(Path(reasons), ("reason", "code"), "reasons file")
    return t
