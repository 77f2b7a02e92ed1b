"""Deduction rules of POLICY.md §1 with their edge cases, through the engine and the report.

Standard shift unless a test says otherwise: 2026-11-03 08:00-16:30, break 12:00-12:30,
grace 5 (sign-in deadline 08:05), break grace 1 (back by 12:31), early-leave line 16:28.
Every expected number is worked out from POLICY.md by hand in the test's comments.
"""
import json

import pytest

from kefu_floor.engine import Engine
from kefu_floor.errors import Rejected
from kefu_floor.policy import parse_policy
from kefu_floor.views.report import build_report
from kefu_floor.schema import decode_payload
from kernels import layout as K
from harness.scenario_builder import (MINUTE, Day, Floor, agent, deds, feed, ms)

DATE = "2026-11-03"
NEXT = "2026-11-04"


def T(when, date=DATE):
    return ms(date, when)


def std_floor(*agents, breaks="12:00-12:30", grace_min=None, policy="chengdu-2014"):
    f = Floor(policy)
    for a in agents:
        f.shift(a, DATE, "08:00", "16:30", breaks, grace_min)
    return f


def one(f: Floor, d: Day, a="A1"):
    """Report (month 2026-11) of a stream that starts at 00:00 (so no shift is before the
    data) and ends with a clock event at 23:59 (so every deadline of the day has passed)."""
    d.on(DATE).clock("00:00")
    d.clock("23:59")
    return agent(f.report(d.events), a)


def rules(entry, live_only=False):
    return [(x["rule"], x["ts"], x["points"]) for x in deds(entry, live_only=live_only)]


def policy_with(**repl):
    """The preset's text with `key = old` lines replaced (proves numbers are settings)."""
    from importlib import resources
    text = (resources.files("kefu_floor") / "policies" / "chengdu-2014.toml").read_text("utf-8")
    for key, value in repl.items():
        lines = text.splitlines()
        hits = [i for i, ln in enumerate(lines) if ln.split("=")[0].strip() == key]
        assert len(hits) == 1, key
        lines[hits[0]] = f"{key} = {value}"
        text = "\n".join(lines) + "\n"
    return parse_policy(text, "test policy")


# =========================================================================== busy budget


def test_busy_exactly_30_minutes_no_deduction():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "09:00", "09:20", "toilet")
    d.spell("A1", "10:00", "10:10", "toilet")  # 20 + 10 = 30:00 exactly
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 1800}
    assert a["deductions"] == []
    assert a["items"]["utilization"] == 100


def test_busy_30_minutes_and_1_ms_deducts_10_at_the_crossing():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "09:00", "09:30:00.001", "toilet")
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 1800.001}
    assert rules(a) == [("busy_over_30", T("09:30"), -10)]
    assert a["deductions"][0]["item"] == "utilization" and a["deductions"][0]["day"] == DATE
    assert a["items"]["utilization"] == 90


@pytest.mark.parametrize("end, crossings", [
    ("09:45:00", ["09:30"]),                      # B = 45 -> -10
    ("09:45:00.001", ["09:30", "09:45"]),         # B > 45 -> -20
    ("10:00:00", ["09:30", "09:45"]),             # B = 60 -> -20
    ("10:01:00", ["09:30", "09:45", "10:00"]),    # B = 61 -> -30 (POLICY's example)
    ("10:16:00", ["09:30", "09:45", "10:00", "10:15"]),  # B = 76 -> -40
])
def test_busy_steps_of_15_minutes(end, crossings):
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "09:00", end)  # no reason code: counts
    a = one(f, d)
    assert rules(a) == [("busy_over_30", T(c), -10) for c in crossings]
    assert a["items"]["utilization"] == 100 - 10 * len(crossings)


def test_policy_worked_example_two_days():
    """POLICY.md: busy 10 + 12 + 9 = 31 min on 3 Nov -> -10; busy 61 min on 4 Nov -> -30;
    utilization = 60.  Day 1 running total 10, 22, reaches 30 at 11:00 + 8 = 11:08."""
    f = std_floor("A1")
    f.shift("A1", NEXT, "08:00", "16:30", "12:00-12:30")
    d = Day(DATE)
    d.workday("A1")
    d.spell("A1", "09:00", "09:10", "toilet")
    d.spell("A1", "10:00", "10:12", "toilet")
    d.spell("A1", "11:00", "11:09", "toilet")
    d2 = d.next()
    d2.workday("A1")
    d2.spell("A1", "09:00", "10:01")
    a = one(f, d2)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 1860, NEXT: 3660}
    assert rules(a) == [("busy_over_30", T("11:08"), -10),
                        ("busy_over_30", T("09:30", NEXT), -10),
                        ("busy_over_30", T("09:45", NEXT), -10),
                        ("busy_over_30", T("10:00", NEXT), -10)]
    assert [x["day"] for x in a["deductions"]] == [DATE, NEXT, NEXT, NEXT]
    assert a["items"]["utilization"] == 60


def test_busy_deduction_is_live_while_still_busy():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.busy("A1", "09:00", "toilet")
    eng = feed(f.engine(), d.events)
    eng.tick(T("09:30"))
    assert len(eng.ledger) == 0  # B = 30:00 exactly
    eng.tick(T("09:30:00.001"))
    assert len(eng.ledger) == 1
    row = eng.ledger[0]
    assert row[K.L_RULE] == K.R_BUSY and row[K.L_TS] == T("09:30") and row[K.L_POINTS] == -10
    eng.tick(T("09:45:00.001"))
    assert len(eng.ledger) == 2 and eng.ledger[1][K.L_TS] == T("09:45")


def test_busy_inside_break_not_counted():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "12:00", "12:30", "lunch")  # exactly the window
    d.spell("A1", "09:00", "09:29", "toilet")  # 29 min counted
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 29 * 60}
    assert a["deductions"] == []
    assert a["kpi"]["busy_total_s"] == 59 * 60  # raw busy still seen (extra field)


def test_busy_straddling_break_start_counts_outside_only():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "11:50", "12:10", "lunch")  # 10 min before the window
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 600}
    assert a["deductions"] == []


def test_busy_straddling_break_end_counts_outside_only():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "12:20", "12:31", "lunch")  # 12:30-12:31 counted; ready exactly 12:31
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 60}
    assert a["deductions"] == []


def test_busy_across_whole_break():
    """busy 11:35-12:36: counted 11:35-12:00 (25) + 12:30-12:36 (6) = 31 -> -10 when the
    counted total reaches 30, at 12:35; still busy at 12:31 -> late return -20 at 12:31."""
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "11:35", "12:36", "toilet")
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 31 * 60}
    assert rules(a) == [("late_return", T("12:31"), -20), ("busy_over_30", T("12:35"), -10)]
    assert a["items"]["utilization"] == 90 and a["items"]["site"] == 80


@pytest.mark.parametrize("reason", ["meeting", "training", "system"])
def test_excused_reasons_not_counted(reason):
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "09:00", "10:30", reason)
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"].get(DATE, 0) == 0
    assert a["deductions"] == []
    assert a["items"]["utilization"] == 100


@pytest.mark.parametrize("reason", ["toilet", "lunch", "break", None])
def test_other_reasons_counted(reason):
    # 90 min: thresholds 30, 45, 60, 75 exceeded (90 itself not) -> -40
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "09:00", "10:30", reason)
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 5400}
    assert rules(a) == [("busy_over_30", T(c), -10) for c in ("09:30", "09:45", "10:00", "10:15")]
    assert a["items"]["utilization"] == 60


def test_reason_change_inside_one_busy_spell():
    # toilet 09:00-09:20 counted, then re-busy as meeting until 10:30 not counted
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.busy("A1", "09:00", "toilet")
    d.busy("A1", "09:20", "meeting")
    d.ready("A1", "10:30")
    d.spell("A1", "11:00", "11:11", "toilet")  # 20 + 11 = 31 -> -10 at 11:10
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 31 * 60}
    assert rules(a) == [("busy_over_30", T("11:10"), -10)]


def test_busy_ends_at_sign_out():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.busy("A1", "09:00", "toilet")
    d.sign_out("A1", "09:20")  # signed out: no longer busy time
    d.sign_in("A1", "10:00")
    d.sign_out("A1", "16:31")
    a = one(f, d)
    assert a["kpi"]["busy_s_by_day"] == {DATE: 1200}
    assert a["deductions"] == []


def test_utilization_floors_at_zero():
    # busy 08:00-11:01 = 181 min: thresholds 30, 45, ..., 180 -> 11 crossings -> 100-110 -> 0
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "08:00", "11:01", "toilet")
    a = one(f, d)
    assert a["items"]["utilization"] == 0
    assert len(deds(a, "busy_over_30")) >= 10
    assert deds(a, "busy_over_30")[9]["ts"] == T("10:45")  # 10th crossing: 165 min


def test_night_shift_busy_after_midnight_counts_on_the_shifts_date():
    """N1: shift 22:00-06:00 on 11-03; busy 23:50 -> 00:25 = 35 min, all on 11-03 -> -10
    when B reaches 30 at 00:20 (11-04).  N2 (no schedule) does the same: local calendar
    dates, 10 min on 11-03 + 25 min on 11-04 -> no deduction."""
    f = Floor()
    f.shift("N1", DATE, "22:00", "06:00", "02:00-02:30")
    f.agent("N2")
    d = Day(DATE)
    for a in ("N1", "N2"):
        d.sign_in(a, "21:58")
        d.spell(a, "23:50", "24:25", "toilet")
        d.sign_out(a, "30:01")  # 06:01 on 11-04
    d.clock("31:00")
    rep = f.report(d.events)
    n1, n2 = agent(rep, "N1"), agent(rep, "N2")
    assert n1["kpi"]["busy_s_by_day"] == {DATE: 2100}
    assert rules(n1) == [("busy_over_30", T("00:20", NEXT), -10)]
    assert n1["deductions"][0]["day"] == DATE
    assert n1["items"]["utilization"] == 90 and n1["items"]["site"] == 100
    assert n2["kpi"]["busy_s_by_day"] == {DATE: 600, NEXT: 1500}
    assert n2["deductions"] == []


def test_night_shift_attendance_rules_use_the_shifts_date():
    f = Floor()
    f.shift("N1", DATE, "22:00", "06:00")
    d = Day(DATE)
    d.sign_in("N1", "22:06")     # late: deadline 22:05
    d.sign_out("N1", "29:00")    # 05:00 on 11-04 < 05:58 -> early leave at 06:00
    d.clock("31:00")
    a = agent(f.report(d.events), "N1")
    assert rules(a) == [("late_sign_in", T("22:06"), -20),
                        ("early_leave", T("06:00", NEXT), -20)]
    assert [x["day"] for x in a["deductions"]] == [DATE, DATE]


# =========================================================================== late sign-in


def test_sign_in_exactly_at_start_plus_grace_is_not_late():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_in="08:05:00")
    a = one(f, d)
    assert a["deductions"] == [] and a["kpi"]["late_sign_ins"] == 0
    assert a["items"]["site"] == 100


def test_sign_in_after_start_plus_grace_is_late():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_in="08:05:00.001")
    a = one(f, d)
    assert rules(a) == [("late_sign_in", T("08:05:00.001"), -20)]
    x = a["deductions"][0]
    assert x["item"] == "site" and x["day"] == DATE and "excused" not in x
    assert a["kpi"]["late_sign_ins"] == 1
    assert a["items"]["site"] == 80


@pytest.mark.parametrize("grace, on_time, late", [
    (3, "08:03:00", "08:03:00.001"),
    (10, "08:10:00", "08:10:01"),
    (0, "08:00:00", "08:00:00.001"),
])
def test_grace_per_schedule_row(grace, on_time, late):
    f = Floor()
    f.shift("OK", DATE, "08:00", "16:30", "", grace)
    f.shift("LATE", DATE, "08:00", "16:30", "", grace)
    d = Day(DATE)
    d.workday("OK", sign_in=on_time)
    d.workday("LATE", sign_in=late)
    d.clock("23:59")
    rep = f.report(d.events)
    assert agent(rep, "OK")["deductions"] == []
    assert rules(agent(rep, "LATE")) == [("late_sign_in", T(late), -20)]


def test_sign_in_before_shift_start_is_on_time():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_in="07:30")
    assert one(f, d)["deductions"] == []


def _flags(eng: Engine, a: str) -> int:
    return int(eng.A[eng.sym.agents.ids[a], K.A_FLAGS])


def test_missing_flag_live():
    f, d = std_floor("A1"), Day(DATE)
    d.clock("07:00")
    eng = feed(f.engine(), d.events)
    eng.tick(T("08:00"))
    assert not _flags(eng, "A1") & K.F_MISSING
    eng.tick(T("08:05"))  # the deadline itself: not yet missing
    assert not _flags(eng, "A1") & K.F_MISSING
    eng.tick(T("08:05:00.001"))
    assert _flags(eng, "A1") & K.F_MISSING
    d2 = Day(DATE)
    d2.sign_in("A1", "08:07")
    feed(eng, d2.events)
    fl = _flags(eng, "A1")
    assert not fl & K.F_MISSING
    assert fl & K.F_LATE
    assert len(eng.ledger) == 1 and eng.ledger[0][K.L_RULE] == K.R_LATE_SIGN_IN
    assert eng.ledger[0][K.L_TS] == T("08:07")


def test_second_sign_in_in_a_shift_is_not_late():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.sign_out("A1", "10:00")  # not a break, but a sign-in follows before the end
    d.sign_in("A1", "10:20")
    d.sign_out("A1", "16:31")
    a = one(f, d)
    assert a["deductions"] == []
    assert a["kpi"]["late_sign_ins"] == 0 and a["kpi"]["early_leaves"] == 0


def test_first_sign_in_after_the_break_is_late_but_no_late_return():
    # late return needs "the agent signed in earlier in that shift"
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_in="12:45")
    a = one(f, d)
    assert rules(a) == [("late_sign_in", T("12:45"), -20)]


# =========================================================================== late return


def test_back_exactly_at_break_end_plus_grace_is_ok():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "12:00", "12:31:00", "lunch")
    a = one(f, d)
    assert a["deductions"] == [] and a["kpi"]["late_returns"] == 0


def test_busy_at_break_end_plus_grace_is_late_return():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "12:00", "12:31:00.001", "lunch")
    a = one(f, d)
    assert rules(a) == [("late_return", T("12:31"), -20)]
    assert a["deductions"][0]["item"] == "site"
    assert a["kpi"]["late_returns"] == 1 and a["items"]["site"] == 80
    assert a["kpi"]["busy_s_by_day"] == {DATE: 60.001}


def test_signed_out_at_break_end_plus_grace_is_late_return():
    # out for the break at 12:00, back at 12:35: late return; the 12:35 sign-in is not late
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.sign_out("A1", "12:00")
    d.sign_in("A1", "12:35")
    d.sign_out("A1", "16:31")
    a = one(f, d)
    assert rules(a) == [("late_return", T("12:31"), -20)]
    assert a["kpi"]["late_sign_ins"] == 0 and a["kpi"]["early_leaves"] == 0


def test_signing_out_for_the_break_and_back_within_grace_is_ok():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.sign_out("A1", "12:00")
    d.sign_in("A1", "12:30:40")
    d.sign_out("A1", "16:31")
    a = one(f, d)
    assert a["deductions"] == []


def test_at_most_one_late_return_per_break():
    """busy 12:00-13:30: one late return (12:31); counted busy 12:30-13:30 = 60 min ->
    crossings at 13:00 (30) and 13:15 (45), not 60 -> -20."""
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "12:00", "13:30", "lunch")
    a = one(f, d)
    assert rules(a) == [("late_return", T("12:31"), -20), ("busy_over_30", T("13:00"), -10),
                        ("busy_over_30", T("13:15"), -10)]
    assert a["kpi"]["late_returns"] == 1
    assert a["items"]["site"] == 80 and a["items"]["utilization"] == 80


def test_one_late_return_for_each_break():
    f, d = std_floor("A1", breaks="10:00-10:15;12:00-12:30"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "10:00", "10:20", "break")   # late for break 1 (deadline 10:16)
    d.spell("A1", "12:00", "12:40", "lunch")   # late for break 2 (deadline 12:31)
    a = one(f, d)
    assert [(r, t) for r, t, _ in rules(a) if r == "late_return"] == [
        ("late_return", T("10:16")), ("late_return", T("12:31"))]
    assert a["kpi"]["late_returns"] == 2 and a["items"]["site"] == 60
    # counted: 10:15-10:20 (5) + 12:30-12:40 (10) = 15 min
    assert a["kpi"]["busy_s_by_day"] == {DATE: 900}


def test_talking_at_break_end_counts_as_back():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.call("A1", "12:25", 15 * MINUTE)  # talking 12:25-12:40
    assert one(f, d)["deductions"] == []


def test_ringing_at_break_end_counts_as_back():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.busy("A1", "12:00", "lunch")
    d.offer("A1", "12:30:50", "c1")  # ringing from 12:30:50 past 12:31
    d.answer("A1", "12:31:30", "c1")
    d.hangup("A1", "12:33", "c1")
    d.ready("A1", "12:34")
    assert one(f, d)["deductions"] == []


def test_wrap_up_at_break_end_counts_as_back():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.answer("A1", "12:20", "c1")
    d.hangup("A1", "12:30:30", "c1")
    d.wrap_end("A1", "12:33", "c1")
    assert one(f, d)["deductions"] == []


def test_excused_busy_at_break_end_is_late_per_preset_and_a_setting():
    # preset late_return_any_busy = true: POLICY's letter, "signed out or busy"
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.spell("A1", "12:00", "12:40", "meeting")
    assert rules(one(f, d)) == [("late_return", T("12:31"), -20)]
    f2 = std_floor("A1", policy=policy_with(late_return_any_busy="false"))
    assert one(f2, d)["deductions"] == []


# =========================================================================== early leave


def test_last_sign_out_before_end_minus_tolerance_is_early_leave():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_out="16:27:59.999")
    a = one(f, d)
    assert rules(a) == [("early_leave", T("16:30"), -20)]  # booked at the shift end
    assert a["deductions"][0]["item"] == "site" and a["deductions"][0]["day"] == DATE
    assert a["kpi"]["early_leaves"] == 1 and a["items"]["site"] == 80


def test_sign_out_exactly_at_end_minus_tolerance_is_ok():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_out="16:28:00")
    a = one(f, d)
    assert a["deductions"] == [] and a["kpi"]["early_leaves"] == 0


def test_busy_from_before_end_minus_tolerance_until_sign_out_is_early_leave():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.busy("A1", "16:27:59", "toilet")
    d.sign_out("A1", "16:29")
    a = one(f, d)
    assert rules(a) == [("early_leave", T("16:30"), -20)]


def test_busy_from_exactly_end_minus_tolerance_is_ok():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.busy("A1", "16:28:00", "toilet")
    d.sign_out("A1", "16:29")
    assert one(f, d)["deductions"] == []


def test_busy_then_ready_before_sign_out_is_ok():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.spell("A1", "16:20", "16:28:30", "toilet")  # ready again after the line
    d.sign_out("A1", "16:29")
    assert one(f, d)["deductions"] == []


def test_signing_out_early_then_back_before_end_is_ok():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.sign_out("A1", "15:00")
    d.sign_in("A1", "15:30")
    d.sign_out("A1", "16:31")
    assert one(f, d)["deductions"] == []


def test_still_signed_in_at_shift_end_is_ok():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    assert one(f, d)["deductions"] == []


def test_left_early_flag_live():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58")
    d.sign_out("A1", "12:05")  # inside the break: not "left early"
    eng = feed(f.engine(), d.events)
    assert not _flags(eng, "A1") & K.F_LEFT_EARLY
    d2 = Day(DATE)
    d2.sign_in("A1", "12:29")
    d2.sign_out("A1", "15:00")  # outside a break: shows at once
    feed(eng, d2.events)
    assert _flags(eng, "A1") & K.F_LEFT_EARLY
    assert len(eng.ledger) == 0  # booked only at the shift end
    d3 = Day(DATE)
    d3.sign_in("A1", "15:10")
    feed(eng, d3.events)
    assert not _flags(eng, "A1") & K.F_LEFT_EARLY


# =========================================================================== absent


def test_absent_shift():
    f, d = std_floor("A1"), Day(DATE)
    a = one(f, d)
    assert rules(a) == [("absent", T("16:30"), 0)]
    assert a["deductions"][0]["item"] == "site" and a["deductions"][0]["day"] == DATE
    assert a["kpi"]["absences"] == 1 and a["kpi"]["late_sign_ins"] == 0
    assert a["kpi"]["early_leaves"] == 0 and a["kpi"]["late_returns"] == 0
    assert a["items"]["site"] == 100  # absent carries no site points
    assert a["items"]["utilization"] == 100


def test_shift_ended_before_the_first_event_is_outside_the_data():
    # the code's decision: a replay that starts mid-month does not book earlier shifts absent
    f, d = std_floor("A1"), Day(DATE)
    d.clock("16:30")
    d.clock("23:59")
    a = agent(f.report(d.events), "A1")
    assert a["deductions"] == [] and a["kpi"]["absences"] == 0


def test_absent_flag_live():
    f, d = std_floor("A1"), Day(DATE)
    d.clock("07:00")
    eng = feed(f.engine(), d.events)
    eng.tick(T("16:29:59.999"))
    assert _flags(eng, "A1") & K.F_MISSING and not _flags(eng, "A1") & K.F_ABSENT
    eng.tick(T("16:30"))
    assert _flags(eng, "A1") & K.F_ABSENT and not _flags(eng, "A1") & K.F_MISSING


def test_sign_in_at_shift_end_is_still_absent():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_in="16:30", sign_out="16:40")
    a = one(f, d)
    assert rules(a) == [("absent", T("16:30"), 0)]


def test_sign_in_just_before_end_is_late_not_absent():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_in="16:29", sign_out="16:31")
    a = one(f, d)
    assert rules(a) == [("late_sign_in", T("16:29"), -20)]
    assert a["kpi"]["absences"] == 0


def test_out_for_break_and_never_back():
    # POLICY: late return (signed out at 12:31) and early leave (last sign-out 12:00)
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_out="12:00")
    a = one(f, d)
    assert rules(a) == [("late_return", T("12:31"), -20), ("early_leave", T("16:30"), -20)]
    assert a["items"]["site"] == 60


def test_site_floors_at_zero_with_manual_deductions():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_in="08:30")  # -20
    d.floor("A1", "10:00", -50, "absent from meeting")
    d.floor("A1", "11:00", -30, "more than 20 min late")
    d.floor("A1", "11:30", -10, "smoking")
    a = one(f, d)
    assert a["items"]["site"] == 0  # 100 - 110
    assert not deds(a, "floor")  # manual entries are listed apart from the rules
    fl = a["manual"]
    assert [(x["points"], x["reason"], x["item"]) for x in fl] == [
        (-50, "absent from meeting", "site"), (-30, "more than 20 min late", "site"),
        (-10, "smoking", "site")]


# =========================================================================== excuses


def test_excuse_cancels_a_booked_deduction():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_in="08:10")
    d.excuse("A1", "18:00", "late_sign_in", DATE)
    a = one(f, d)
    assert rules(a) == [("late_sign_in", T("08:10"), -20)]  # still listed, same points
    assert a["deductions"][0]["excused"] is True
    assert a["kpi"]["late_sign_ins"] == 0
    assert a["items"]["site"] == 100


def test_excuse_before_the_deduction_is_booked():
    f = std_floor("A1")
    f.shift("A1", NEXT, "08:00", "16:30", "12:00-12:30")
    d = Day(DATE)
    d.workday("A1")
    d.excuse("A1", "18:00", "late_sign_in", NEXT)   # approved in advance
    d.excuse("A1", "18:00", "early_leave", NEXT)
    d2 = d.next()
    d2.workday("A1", sign_in="08:20", sign_out="15:00")
    a = one(f, d2)
    assert rules(a) == [("late_sign_in", T("08:20", NEXT), -20),
                        ("early_leave", T("16:30", NEXT), -20)]
    assert all(x.get("excused") is True for x in a["deductions"])
    assert a["kpi"]["late_sign_ins"] == 0 and a["kpi"]["early_leaves"] == 0
    assert a["items"]["site"] == 100


def test_excuse_busy_over_30_for_one_day_only():
    f = std_floor("A1")
    f.shift("A1", NEXT, "08:00", "16:30", "12:00-12:30")
    d = Day(DATE)
    d.workday("A1")
    d.spell("A1", "09:00", "09:46")  # -20 on 03
    d2 = d.next()
    d2.workday("A1")
    d2.spell("A1", "09:00", "09:31")  # -10 on 04
    d2.excuse("A1", "18:00", "busy_over_30", DATE)
    a = one(f, d2)
    assert [(x["day"], x.get("excused", False)) for x in a["deductions"]] == [
        (DATE, True), (DATE, True), (NEXT, False)]
    assert a["items"]["utilization"] == 90
    assert a["kpi"]["busy_s_by_day"] == {DATE: 46 * 60, NEXT: 31 * 60}  # time still shown


def test_excuse_of_another_rule_or_day_changes_nothing():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1", sign_in="08:10")
    d.excuse("A1", "18:00", "early_leave", DATE)
    d.excuse("A1", "18:00", "late_sign_in", NEXT)
    d.excuse("A2", "18:00", "late_sign_in", DATE)
    a = one(f, d)
    assert "excused" not in a["deductions"][0]
    assert a["items"]["site"] == 80 and a["kpi"]["late_sign_ins"] == 1


def test_excuse_of_a_manual_floor_deduction():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.floor("A1", "10:00", -10, "untidy desk")
    d.excuse("A1", "18:00", "floor", DATE)
    a = one(f, d)
    assert a["manual"][0]["excused"] is True
    assert a["items"]["site"] == 100


# =========================================================================== input hygiene


def test_duplicates_dropped_and_gaps_counted():
    f, d = std_floor("A1"), Day(DATE)
    d.sign_in("A1", "07:58", src="gw1", seq=1)
    d.sale("A1", "09:00", 100.0, src="gw1", seq=2)
    d.sale("A1", "09:00:01", 100.0, src="gw1", seq=2)   # duplicate
    d.sale("A1", "09:00:02", 100.0, src="gw1", seq=5)   # gap: 3, 4 missing
    d.sale("A1", "09:00:03", 100.0, src="gw1", seq=3)   # late (reordered): fills its gap
    d.sale("A1", "09:00:04", 10.0, src="gw2", seq=2)    # another source, first seen
    d.sale("A1", "09:00:05", 10.0, src="gw2", seq=3)
    d.sale("A1", "09:00:06", 1.0)                        # no src/seq: never deduplicated
    d.sale("A1", "09:00:07", 1.0)
    d.sign_out("A1", "16:31", src="gw1", seq=6)
    eng = feed(f.engine(), d.events)
    c = eng.counters()
    assert c["duplicates"] == 1
    assert c["gaps"] == 1  # only 4 is missing
    assert c["accepted"] == 10 - 1
    rep = build_report(eng.finish(), None)
    assert agent(rep, "A1")["kpi"]["sales"] == 322


def test_duplicate_state_event_not_applied_twice():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    d.answer("A1", "09:00", "c1", src="acd", seq=10)
    d.answer("A1", "09:00", "c1", src="acd", seq=10)
    d.hangup("A1", "09:02", "c1", src="acd", seq=11)
    a = one(f, d)
    assert (a["kpi"]["offered"], a["kpi"]["answered"]) == (1, 1)
    assert a["kpi"]["talk_s"] == 120.0


def test_malformed_events_never_raise_from_the_engine_path():
    f = std_floor("A1")
    eng = f.engine()
    good = {"type": "sign_in", "ts": T("07:58"), "agent": "A1"}
    payloads = [
        b"{not json", b"", b"[", b"null", b"42", b'"x"', b"[1, 2, 3]",
        json.dumps({"type": "teleport", "ts": 1, "agent": "A1"}).encode(),
        json.dumps([good, {"type": "busy", "ts": 1.5, "agent": "A1"}]).encode(),
        json.dumps({"type": "sign_in", "ts": 10**23, "agent": "A1"}).encode(),
        json.dumps({"type": "sign_in", "ts": -(10**23), "agent": "A1"}).encode(),
        json.dumps({"type": "answer", "ts": T("09:00"), "agent": "A1", "call": "c",
                    "queue": "q", "wait_ms": 10**30}).encode(),
        json.dumps({"type": "sale", "ts": T("09:00"), "agent": "A1", "amount": 1,
                    "src": "s", "seq": 10**30}).encode(),
        json.dumps({"type": "qa", "ts": T("09:00"), "agent": "A1", "item": "exam",
                    "score": 1e400}).encode().replace(b"Infinity", b"1e400"),
        json.dumps({"type": "excuse", "ts": T("09:00"), "agent": "A1", "rule": "absent",
                    "day": "0000-00-00", "reason": "x"}).encode(),
        json.dumps({"type": "sign_in", "ts": T("09:00"), "agent": "A1",
                    "site": "elsewhere"}).encode(),
    ]
    n_bad = 0
    for p in payloads:
        evs, bad = decode_payload(p)
        evs, wrong_site = eng.check_site(evs)
        bad = bad + wrong_site
        eng.count_rejected(bad)
        n_bad += len(bad)
        assert all(isinstance(r, Rejected) and r.reason for r in bad)
        eng.feed(evs)
    # every payload but the batch is one rejection, except [1, 2, 3] (three); the batch
    # [good, bad] gives one
    assert n_bad == (len(payloads) - 2) + 3 + 1
    assert eng.counters()["rejected"] == n_bad
    assert eng.counters()["accepted"] == 1
    # odd but well-formed events: orphan hangup, wrap_end without call, sign_out when out,
    # events before the first one, unknown agent, an excuse of a day with nothing
    d = Day(DATE)
    d.hangup("A1", "09:00", "nope")
    d.wrap_end("A1", "09:01", "nope")
    d.sign_out("A1", "09:02")
    d.sign_out("A1", "09:03")
    d.ready("A1", "01:00")
    d.busy("ZZ9", "09:05", "?")
    d.survey("ZZ9", "09:06", "nope", "neutral")
    d.excuse("A1", "09:07", "absent", "2025-01-01")
    d.abandon("09:08", "never-queued", "q9", 0)
    d.clock("23:59")
    feed(eng, d.events)
    rep = build_report(eng.finish(), None)
    assert agent(rep, "ZZ9")["unknown"] is True
    assert eng.counters()["orphans"] == 1


def test_events_far_out_of_order_do_not_rewind():
    f, d = std_floor("A1"), Day(DATE)
    d.workday("A1")
    eng = feed(f.engine(), d.events)
    late = Day(DATE)
    late.spell("A1", "09:00", "10:00", "toilet")  # arrives after 16:31: applied at now
    late.clock("23:59")
    feed(eng, late.events)
    a = agent(build_report(eng.finish(), None), "A1")
    assert a["kpi"]["busy_s_by_day"].get(DATE, 0) == 0
    assert a["deductions"] == []
