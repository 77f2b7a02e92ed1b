"""Local time for kernels: UTC offsets from a transition table, civil dates from day numbers.

The service builds the table once from zoneinfo (`kefu_floor.timezone`), so kernels need no
tz database and DST zones work as well as Asia/Shanghai.
"""
import numpy as np
from kernels.compiled import njit

from kernels.layout import DAY_MS


@njit(cache=True)
def utc_offset(tz_utc, tz_off, t):
    """Offset (ms) in force at UTC instant t; tz_utc is sorted, tz_utc[0] is before any t."""
    k = np.searchsorted(tz_utc, t, side="right") - 1
    if k < 0:
        k = 0
    return tz_off[k]


@njit(cache=True)
def local_day(tz_utc, tz_off, t):
    return (t + utc_offset(tz_utc, tz_off, t)) // DAY_MS


@njit(cache=True)
def next_local_midnight(tz_utc, tz_off, t):
    """First UTC instant > t at which the local date changes."""
    d = local_day(tz_utc, tz_off, t) + 1
    c = d * DAY_MS - utc_offset(tz_utc, tz_off, t)
    # the offset may change between t and midnight (DST): settle on the offset at midnight
    c2 = d * DAY_MS - utc_offset(tz_utc, tz_off, c)
    if c2 > t:
        return c2
    return c


@njit(cache=True)
def civil_from_days(z):
    """(year, month, day) of day number z since 1970-01-01 (H. Hinnant's algorithm)."""
    z = z + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return y, m, d


@njit(cache=True)
def month_of_day(z):
    """Month id (year * 12 + month - 1) of day number z."""
    y, m, _ = civil_from_days(z)
    return y * 12 + m - 1
