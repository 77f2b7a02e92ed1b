"""The offset table the kernels read: from the zone's TZif file, or sampled from zoneinfo."""
import numpy as np
import pytest

from kefu_floor.localtime import offset_table, sampled_offset_table, tzif_offset_table

# zones whose offsets stop changing after their listed transitions: China's, its
# neighbours', a half-hour and a 45-minute zone, and zones that ended daylight saving or
# list every future change (Morocco, to 2087)
FIXED = ("Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei",
         "Asia/Tokyo", "Asia/Kolkata", "Asia/Kathmandu", "UTC", "Etc/GMT-8",
         "Africa/Casablanca", "America/Sao_Paulo", "Asia/Tehran", "Pacific/Apia")


@pytest.mark.parametrize("zone", FIXED)
def test_the_tzif_table_equals_the_sampled_one(zone):
    fast = tzif_offset_table(zone)
    assert fast is not None
    slow = sampled_offset_table(zone)
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])
    got = offset_table(zone)
    assert np.array_equal(got[0], fast[0]) and np.array_equal(got[1], fast[1])


@pytest.mark.parametrize("zone", ("Europe/London", "America/New_York", "Australia/Sydney"))
def test_a_zone_with_daylight_saving_ahead_is_sampled(zone):
    assert tzif_offset_table(zone) is None
    got, slow = offset_table(zone), sampled_offset_table(zone)
    assert np.array_equal(got[0], slow[0]) and np.array_equal(got[1], slow[1])


def test_a_transition_off_the_minute_is_exact_in_the_tzif_table():
    # Liberia moved from -0:44:30 to UTC at 1972-01-07 00:44:30 local; sampling bisects
    # to the minute, so it lands 30 s late
    t, o = tzif_offset_table("Africa/Monrovia")
    assert list(o) == [-2_670_000, 0] and t[1] == 63_593_070_000
    assert sampled_offset_table("Africa/Monrovia")[0][1] == t[1] + 30_000


@pytest.mark.parametrize("cut", [10, 60, 300, -40])
def test_a_tzif_file_this_reader_cannot_read_falls_back_to_sampling(monkeypatch, cut):
    from kefu_floor import localtime

    good = localtime._tzif_bytes("Asia/Shanghai")
    monkeypatch.setattr(localtime, "_tzif_bytes", lambda key: good[:cut])
    got = localtime.offset_table.__wrapped__("Asia/Shanghai")
    slow = sampled_offset_table("Asia/Shanghai")
    assert np.array_equal(got[0], slow[0]) and np.array_equal(got[1], slow[1])


def test_no_tzif_file_and_no_tzdata_package_falls_back_to_sampling(monkeypatch):
    import sys
    import zoneinfo

    from kefu_floor import localtime

    monkeypatch.setattr(zoneinfo, "TZPATH", ())
    monkeypatch.setitem(sys.modules, "tzdata", None)  # import tzdata fails
    got = localtime.offset_table.__wrapped__("Asia/Shanghai")
    slow = sampled_offset_table("Asia/Shanghai")
    assert np.array_equal(got[0], slow[0]) and np.array_equal(got[1], slow[1])
