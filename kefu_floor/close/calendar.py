"""Day kinds for overtime pay (POLICY.md §2): the official China calendar, then a site file.

`chinese_calendar` knows the State Council's holiday breaks and the adjusted working days
(调休). POLICY.md pays the holiday rate on the statutory days only: a break day counts as
`holiday` when the package calls it a holiday, it is not a swapped (in-lieu) day, and it is
a weekday or one of the fixed-date statutory days (a setting); other break days are rest
days. A site override file (`date,kind`) wins over all of this.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from kefu_floor.errors import ConfigError

KINDS = ("workday", "restday", "holiday")
# statutory days by (month, day) that are holidays whatever weekday they fall on
FIXED_STATUTORY = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))


class DayKinds:
    def __init__(self, overrides: dict[dt.date, str] | None = None,
                 fixed: tuple[tuple[int, int], ...] = FIXED_STATUTORY):
        self.overrides = overrides or {}
        self.fixed = set(fixed)
        self._seen: dict[dt.date, str] = {}  # the package validates every call: slow

    def kind(self, d: dt.date) -> str:
        if d in self.overrides:
            return self.overrides[d]
        k = self._seen.get(d)
        if k is None:
            k = self._seen[d] = self._official(d)
        return k

    def _official(self, d: dt.date) -> str:
        import chinese_calendar as cc

        try:
            workday = cc.is_workday(d)
            in_lieu = cc.is_in_lieu(d)
            holiday, _name = cc.get_holiday_detail(d)
        except NotImplementedError:
            raise ConfigError(f"the China calendar package has no data for {d.year}: list "
                              f"that year's days in a --calendar file (date,kind)") from None
        if workday:
            return "workday"  # includes 调休 working weekends
        if holiday and not in_lieu and (d.weekday() < 5 or (d.month, d.day) in self.fixed):
            return "holiday"
        return "restday"

    def is_workday(self, d: dt.date) -> bool:
        return self.kind(d) == "workday"

    def add_working_days(self, d: dt.date, n: int) -> dt.date:
        """The n-th working day after d (n = 0: d itself)."""
        while n > 0:
            d += dt.timedelta(days=1)
            if self.is_workday(d):
                n -= 1
        return d


def load_calendar(path: str | Path | None) -> DayKinds:
    """A site override file: CSV `date,kind`, kind workday|restday|holiday."""
    if path is None:
        return DayKinds()
    path = Path(path)
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise ConfigError(f"calendar file {path}: cannot open it ({e.strerror})") from None
    out: dict[dt.date, str] = {}
    with f:
        try:
            reader = csv.DictReader(f)
            cols = [c.strip() for c in reader.fieldnames or []]
            if "date" not in cols or "kind" not in cols:
                raise ConfigError(f"calendar file {path}: the header must be date,kind "
                                  f"(found: {','.join(cols) or 'nothing'})")
            reader.fieldnames = cols
            for row in reader:
                d, k = (row.get("date") or "").strip(), (row.get("kind") or "").strip()
                if not d and not k:
                    continue
                where = f"calendar file {path} line {reader.line_num}"
                try:
                    day = dt.date.fromisoformat(d)
                except ValueError:
                    raise ConfigError(f"{where}: {d!r} is not a date like 2026-10-01") from None
                if k not in KINDS:
                    raise ConfigError(f"{where}: kind {k!r} must be one of {', '.join(KINDS)}")
                out[day] = k
        except UnicodeDecodeError:
            raise ConfigError(f"calendar file {path}: not UTF-8 text") from None
        except csv.Error as e:
            raise ConfigError(f"calendar file {path}: not valid CSV ({e})") from None
    return DayKinds(out)
