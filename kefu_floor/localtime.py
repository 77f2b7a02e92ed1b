"""The site's local time: day numbers, months and the offset table the kernels read."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_UTC = dt.timezone.utc


def day_number(d: dt.date) -> int:
    return d.toordinal() - EPOCH_ORDINAL


def day_date(n: int) -> dt.date:
    return dt.date.fromordinal(int(n) + EPOCH_ORDINAL)


def day_str(n: int) -> str:
    return day_date(n).isoformat()


def month_id(year: int, month: int) -> int:
    return year * 12 + month - 1


def parse_month(s: str) -> int:
    """'2026-11' -> month id; ValueError with a readable message otherwise."""
    try:
        y, m = s.split("-")
        if len(y) != 4 or len(m) != 2:
            raise ValueError
        y, m = int(y), int(m)
        if not 1 <= m <= 12:
            raise ValueError
    except ValueError:
        raise ValueError(f"{s!r} is not a month like 2026-11") from None
    if not 2000 <= y <= 2099:
        raise ValueError(f"{s!r} is outside the months this engine keeps (2000-01 .. 2099-12)")
    return month_id(y, m)


def month_str(mid: int) -> str:
    return f"{mid // 12:04d}-{mid % 12 + 1:02d}"


def month_days(mid: int) -> tuple[int, int]:
    """Day numbers [first, one past last] of month id."""
    y, m = divmod(mid, 12)
    first = dt.date(y, m + 1, 1)
    nxt = dt.date(y + (m + 1) // 12, (m + 1) % 12 + 1, 1)
    return day_number(first), day_number(nxt)


def local_ms(day: dt.date, hhmm: dt.time, tz: ZoneInfo) -> int:
    return int(dt.datetime.combine(day, hhmm, tzinfo=tz).timestamp() * 1000)


def local_dt(ts_ms: int, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz)


def local_day_of(ts_ms: int, tz: ZoneInfo) -> int:
    return day_number(local_dt(ts_ms, tz).date())


def month_of(ts_ms: int, tz: ZoneInfo) -> int:
    """Month id of the site-local date of ts_ms."""
    d = local_dt(ts_ms, tz)
    return month_id(d.year, d.month)


@lru_cache(maxsize=16)
def offset_table(tz_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(transition instants ms, offset ms from each) for 1970..2100, first row = -inf.

    zoneinfo keeps its transitions private, so sample daily and bisect each change to the
    minute: every real zone changes offset on a whole minute.
    """
    tz = ZoneInfo(tz_name)

    def off(ms: int) -> int:
        u = dt.datetime.fromtimestamp(ms / 1000, tz).utcoffset()
        return int(u.total_seconds() * 1000)

    day = 86_400_000
    start = 0
    end = day_number(dt.date(2100, 1, 1)) * day
    times = [-(2**62)]
    offs = [off(start)]
    t = start
    cur = offs[0]
    while t < end:
        nt = t + day
        o = off(nt)
        if o != cur:
            lo, hi = t, nt  # off(lo) == cur, off(hi) == o
            while hi - lo > 60_000:
                mid = (lo + hi) // 2 // 60_000 * 60_000
                if mid <= lo:
                    mid = lo + 60_000
                if off(mid) == cur:
                    lo = mid
                else:
                    hi = mid
            times.append(hi)
            offs.append(o)
            cur = o
        t = nt
    return np.array(times, np.int64), np.array(offs, np.int64)
