"""The site's local time: day numbers, months and the offset table the kernels read."""
from __future__ import annotations

import datetime as dt
import struct
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


_TABLE_END = 47_482 * 86_400_000  # 2100-01-01: the tables run to there


@lru_cache(maxsize=16)
def offset_table(tz_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(transition instants ms, offset ms from each) for 1970..2100, first row = -inf.

    Read from the zone's TZif file when its offsets stop changing after its listed
    transitions (China's zones and most of Asia's: a replay starts 0.08 s sooner), else
    sampled from zoneinfo (`sampled_offset_table`); the two agree (tests/core).
    """
    try:
        got = tzif_offset_table(tz_name)
    except (OSError, ValueError, ImportError, IndexError, struct.error):
        got = None  # no file where zoneinfo looks, or one this reader cannot read
    return got if got is not None else sampled_offset_table(tz_name)


def _tzif_bytes(key: str) -> bytes:
    """The TZif file of a zone, where zoneinfo finds it: TZPATH, then the tzdata package."""
    import zoneinfo
    from pathlib import Path

    if key.startswith("/") or ".." in key.split("/"):
        raise ValueError(f"not a zone key: {key!r}")
    for d in zoneinfo.TZPATH:
        p = Path(d) / key
        if p.is_file():
            return p.read_bytes()
    from importlib import resources

    return resources.files("tzdata.zoneinfo").joinpath(*key.split("/")).read_bytes()


def tzif_offset_table(tz_name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """offset_table from the zone's TZif file (RFC 8536, version 2 or later), or None
    when its footer rule still changes the offset (daylight saving after the last
    listed transition)."""
    data = _tzif_bytes(tz_name)
    if data[:4] != b"TZif" or data[4:5] < b"2":
        return None
    hdr = struct.Struct(">4sc15x6l")

    def counts(at):
        _, _, isut, isstd, leap, timecnt, typecnt, charcnt = hdr.unpack_from(data, at)
        return isut, isstd, leap, timecnt, typecnt, charcnt

    isut, isstd, leap, timecnt, typecnt, charcnt = counts(0)
    at = hdr.size + timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut
    isut, isstd, leap, timecnt, typecnt, charcnt = counts(at)  # the 64-bit block
    at += hdr.size
    if leap:
        return None  # "right/" zones count leap seconds: not a civil clock
    times = struct.unpack_from(f">{timecnt}q", data, at)
    at += timecnt * 8
    idx = data[at: at + timecnt]
    at += timecnt
    utoff = [struct.unpack_from(">l", data, at + 6 * k)[0] for k in range(typecnt)]
    at += typecnt * 6 + charcnt + isstd + isut
    footer = data[at:].strip(b"\n")
    if b"," in footer or not footer:
        return None  # a rule with daylight saving (or none given): sampled instead
    # offset at 1970-01-01 00:00 UTC: the last transition at or before it, else type 0
    cur = utoff[0]
    out_t, out_o = [-(2**62)], []
    for t, k in zip(times, idx):
        ms = t * 1000
        if ms <= 0:
            cur = utoff[k]
            continue
        if not out_o:
            out_o.append(cur * 1000)
        if ms > _TABLE_END:
            break
        if utoff[k] * 1000 != out_o[-1]:
            out_t.append(ms)
            out_o.append(utoff[k] * 1000)
    if not out_o:
        out_o.append(cur * 1000)
    return np.array(out_t, np.int64), np.array(out_o, np.int64)


def sampled_offset_table(tz_name: str) -> tuple[np.ndarray, np.ndarray]:
    """offset_table sampled from zoneinfo, which keeps its transitions private: daily,
    bisecting each change to the minute (every real zone changes offset on a whole
    minute)."""
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
