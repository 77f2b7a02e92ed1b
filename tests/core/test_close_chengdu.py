"""chengdu-2014 close: agents' pay (POLICY.md §2, night shifts and overtime on the China
calendar) and shift leaders' appraisal (§3) with the excellent-shift-leader eligibility.
Expected values are worked out by hand in the comments."""
from __future__ import annotations

import datetime as dt

import msgspec

from kefu_floor.close.calendar import DayKinds, load_calendar
from kefu_floor.policy import load_policy
from harness.close import perfect_month, row, team
from harness.scenario_builder import Day, Floor


def _policy():
    pol = load_policy("chengdu-2014")
    return msgspec.structs.replace(pol, leader=msgspec.structs.replace(
        pol.leader, sales_target={"2026-11": 10.0}))


def test_agents_pay_and_leaders_appraisal():
    f = Floor(_policy())
    # three teams, one leader each; scores: T1 A1 95, A2 90, A3 90, A4 85 (probation:
    # not ranked, no star); T2 B1 85; T3 C1 80.
    for a, t in (("L1", "T1"), ("L2", "T2"), ("L3", "T3")):
        f.agent(a, team=t, role="leader")
    f.agent("A1", team="T1", products=5)
    f.agent("A2", team="T1", hired="2025-11-30")  # 1 anniversary on 2026-11-30: 200
    f.agent("A3", team="T1", hired="2025-12-01")  # 0 years in 2026-11: no seniority
    f.agent("A4", team="T1", probation=True)
    f.agent("B1", team="T2")
    f.agent("C1", team="T3")
    ev = []
    ev += perfect_month(f, "A1", "2026-11-03", 95, sales=[20])
    ev += perfect_month(f, "A2", "2026-11-03", 90, sales=[10])
    ev += perfect_month(f, "A3", "2026-11-03", 90, sales=[10], start="14:30", end="23:00")
    ev += perfect_month(f, "A4", "2026-11-03", 85, sales=[10])
    ev += perfect_month(f, "B1", "2026-11-03", 85)
    ev += perfect_month(f, "C1", "2026-11-03", 80)
    # A1 works an overtime row on Saturday 7 Nov (a rest day: 200 %), 09:00-13:00 with a
    # half-hour break: 3.5 h x 1,600 / 21.75 / 8 x 2 = 64.367... -> 64.37
    f.shift("A1", "2026-11-07", "09:00", "13:00", breaks="11:00-11:30", overtime=True)
    sat = Day("2026-11-07")
    sat.sign_in("A1", "09:00")
    sat.sign_out("A1", "13:00")
    # leader L1: floor management 90 - 5 (lapse) - 15 (serious_lapse, points on the event)
    # = 70; business monitoring 90 - 5 - 5 = 80; exam 90; adjust +2
    d = Day("2026-11-20")
    d.incident("L1", "09:00", "lapse")
    d.incident("L1", "09:01", "serious_lapse", points=-15)
    d.incident("L1", "09:02", "missed_test")
    d.incident("L1", "09:03", "missed_test")
    d.qa("L1", "09:10", "exam", 90)
    d.adjust("L1", "09:11", 2)
    d.incident("B1", "09:20", "attitude_complaint")  # bars L2
    doc = f.close(ev + sat.events + d.events)
    assert [row(doc, a)["star"] for a in ("A1", "A2", "A3", "A4", "B1", "C1")] == [
        4, 3, 3, None, 2, 1]
    # ranked N = 5: round-half-up(5 x 5 %, 15 %, 40 %, 85 %) = 0, 1, 2, 4 -> 5*: none;
    # 4*: A1; 3*: A2 and A3 (the tie fills the places exactly); 2*: B1; 1*: C1
    # A1: base 1,600 + star 1,100 + commission 0 + seniority 500 (hired 2020) + full
    # attendance 100 + subsidy (5 - 3) x 150 = 300 + night 0 + overtime 64.37 = 3,664.37
    assert row(doc, "A1")["pay"] == {
        "base": 1600.0, "star": 1100.0, "commission": 0.0, "seniority": 500.0,
        "full_attendance": 100.0, "subsidy": 0.0 + 300.0, "night_shifts": 0.0,
        "overtime": 64.37, "total": 3664.37}
    assert row(doc, "A2")["pay"]["seniority"] == 200
    # A3 worked the evening shift ending 23:00: night 20; hired 2025-12-01: 0 years
    assert row(doc, "A3")["pay"]["night_shifts"] == 20
    assert row(doc, "A3")["pay"]["seniority"] == 0
    # A4 probation: base 1,400, no star 500
    assert row(doc, "A4")["pay"]["base"] == 1400 and row(doc, "A4")["pay"]["star"] == 500
    # L1: team score (95 + 90 + 90 + 85) / 4 = 90 -> 45; team AHT 100 s -> 100 -> 15;
    # sales per call 50 / 4 answered = 12.5 vs target 10: 5 full 0.5 steps above ->
    # 125, capped 110 -> 16.5; floor 70 -> 7; monitoring 80 -> 4; exam 90 -> 4.5; +2
    # = 94.0
    l1 = row(doc, "L1")
    assert l1["role"] == "leader" and l1["star"] is None
    assert l1["leader_items"] == {"team_score": 90, "team_aht": 100, "sales_per_call": 110,
                                  "floor_management": 70, "business_monitoring": 80,
                                  "exam": 90}
    assert l1["score"] == 94
    # team scores T1 90, T2 85, T3 80: T2 and T3 are the bottom two; L1 score 94 >= 88
    # and no attitude_complaint in T1 -> eligible; L2 barred twice; L3 bottom two
    assert l1["flags"] == []
    assert row(doc, "L2")["flags"] == ["not_excellent_leader"]
    assert row(doc, "L3")["flags"] == ["not_excellent_leader"]
    assert [team(doc, t)["mean_score"] for t in ("T1", "T2", "T3")] == [90, 85, 80]
    assert team(doc, "T1")["pay"] == l1["pay"]


def test_sales_per_call_below_target_and_eligibility_score_edge():
    # target 10; team sales 38 over 4 answered = 9.5: one full 0.5 below -> 95.
    # 9.6 would be 0 full steps below -> 100 (checked on T2 with 48 / 5 = 9.6).
    f = Floor(_policy())
    f.agent("L1", team="T1", role="leader")
    f.agent("L2", team="T2", role="leader")
    ev = []
    for k, a in enumerate(("A1", "A2", "A3", "A4")):
        f.agent(a, team="T1")
        ev += perfect_month(f, a, "2026-11-03", 100, sales=[9.5])
    for k, a in enumerate(("B1", "B2", "B3", "B4", "B5")):
        f.agent(a, team="T2")
        ev += perfect_month(f, a, "2026-11-03", 100, sales=[9.6])
    doc = f.close(ev)
    assert row(doc, "L1")["leader_items"]["sales_per_call"] == 95
    assert row(doc, "L2")["leader_items"]["sales_per_call"] == 100
    # L1 has no exam in the month: no score, so not an excellent leader
    assert row(doc, "L1")["score"] is None
    assert row(doc, "L1")["flags"] == ["not_excellent_leader"]


def test_china_calendar_statutory_weekend_and_adjusted_working_day(tmp_path):
    cal = DayKinds()
    assert cal.kind(dt.date(2026, 10, 1)) == "holiday"  # National Day, statutory
    assert cal.kind(dt.date(2026, 10, 6)) == "restday"  # in the break, a swapped day
    assert cal.kind(dt.date(2026, 10, 4)) == "restday"  # Sunday in the break
    assert cal.kind(dt.date(2026, 11, 7)) == "restday"  # an ordinary Saturday
    assert cal.kind(dt.date(2026, 10, 10)) == "workday"  # 调休: a working Saturday
    assert cal.kind(dt.date(2025, 10, 11)) == "workday"  # 调休 Saturday, 2025
    assert cal.kind(dt.date(2025, 10, 1)) == "holiday"
    assert cal.kind(dt.date(2026, 11, 9)) == "workday"
    p = tmp_path / "cal.csv"
    p.write_text("date,kind\n2026-11-09,holiday\n2026-10-10,restday\n", "utf-8")
    site = load_calendar(p)
    assert site.kind(dt.date(2026, 11, 9)) == "holiday"
    assert site.kind(dt.date(2026, 10, 10)) == "restday"
    assert site.kind(dt.date(2026, 10, 1)) == "holiday"


def test_overtime_pay_on_holiday_weekend_and_adjusted_working_day():
    # probation agent P1 (base 1,400): hourly 1,400 / 21.75 / 8 = 8.04597...; overtime rows
    # of 2 h each on 1 Oct (statutory: 300 %), 10 Oct (调休 working Saturday: 150 %),
    # 11 Oct (Sunday: 200 %): 2 x (3 + 1.5 + 2) = 13 h at the hourly rate = 104.5977 ->
    # 104.60. A normal row on 12 Oct is no overtime.
    f = Floor("chengdu-2014")
    f.agent("P1", probation=True)
    evs = []
    for date in ("2026-10-01", "2026-10-10", "2026-10-11"):
        f.shift("P1", date, "09:00", "11:00", overtime=True)
        d = Day(date)
        d.sign_in("P1", "08:55")
        d.sign_out("P1", "11:05")
        evs += d.events
    f.shift("P1", "2026-10-12", "09:00", "11:00")
    d = Day("2026-10-12")
    d.sign_in("P1", "09:00")
    d.sign_out("P1", "11:00")
    pre = Day("2026-09-30")
    pre.clock("23:00")
    doc = f.close(pre.events + evs + d.events, month="2026-10")
    assert row(doc, "P1")["pay"]["overtime"] == 104.6


def test_a_pay_total_is_the_decimal_sum_of_its_rounded_parts():
    """pay_dict sums the rounded components in whole units; the Decimal sum of their
    shortest reprs is the definition it must equal, for any size, sign and place count."""
    import random
    from decimal import Decimal

    from kefu_floor.close.common import money, pay_dict

    rng = random.Random(11)
    for _ in range(20_000):
        decimals = rng.choice((0, 1, 2, 2, 2, 3, 4))
        scale = 10 ** rng.randrange(0, 16)
        parts = {f"c{k}": rng.uniform(-1, 1) * scale for k in range(rng.randrange(1, 9))}
        got = pay_dict(parts, decimals)
        want = money(sum(Decimal(repr(money(v, decimals))) for v in parts.values()), decimals)
        assert repr(got["total"]) == repr(want), (parts, decimals)
