"""team-80-20 (POLICY.md §4): the seed's worked example and a hand-worked three-month
scenario. Every expected value is worked out by hand from POLICY.md in the comments."""
from __future__ import annotations

from kefu_floor.localtime import parse_month
from harness.close import perfect_month, row, team
from harness.scenario_builder import Day, Floor


def floor_8020() -> Floor:
    return Floor("team-80-20")


def test_seed_worked_example_total_4000():
    # A1: score 90, sales 500,000 -> B = 0.7 % x 500,000 = 3,500; individual 80 % = 2,800;
    # team mean (A1 only: A2 is in the month of `hired`) 90 >= 80 -> team share 700;
    # A1 has the team's highest sales (500,000 > 1,000) and highest score (90 > 85),
    # 90 > 80 -> gold 300; trainee A2 (mentor A1) scores 85 >= 80 in the month of hired
    # -> mentor 200. Total 2,800 + 700 + 300 + 200 = 4,000.
    f = floor_8020()
    f.agent("L1", team="T1", role="leader")
    f.agent("A1", team="T1")
    f.agent("A2", team="T1", hired="2026-11-02", mentor="A1")
    events = []
    events += perfect_month(f, "A1", "2026-11-03", score=90, sales=[500_000])
    events += perfect_month(f, "A2", "2026-11-03", score=85, sales=[1_000])
    d = Day("2026-11-20")
    d.qa("L1", "10:00", "management", 50)
    doc = f.close(events + d.events)
    a1 = row(doc, "A1")
    assert a1["score"] == 90
    assert a1["star"] is None  # mode commission
    assert a1["pay"] == {"individual": 2800.0, "team_share": 700.0, "gold": 300.0,
                         "gold_quarter": 0.0, "mentor": 200.0, "penalties": 0.0,
                         "total": 4000.0}
    assert a1["gold"] is True and a1["gold_run"] == 1
    # A2: B = 0.7 % x 1,000 = 7 -> 5.60 + 1.40 (the team's mean, without A2, is 90)
    a2 = row(doc, "A2")
    assert a2["pay"]["individual"] == 5.6 and a2["pay"]["team_share"] == 1.4
    assert a2["pay"]["total"] == 7.0 and a2["gold"] is False and a2["gold_run"] == 0
    # supervisor: commission 1 per mille of 501,000 = 501; score 50 % x 90 + 50 % x 50 = 70
    l1 = row(doc, "L1")
    assert l1["role"] == "leader" and l1["score"] == 70
    assert l1["pay"] == {"commission": 501.0, "penalties": 0.0, "total": 501.0}
    t1 = team(doc, "T1")
    # mean 90 is not > 90: no excellent-team bonus (edge)
    assert t1["leader"] == "L1" and t1["mean_score"] == 90 and t1["team_bonus"] == 0
    assert t1["pay"] == l1["pay"]


def _month(f: Floor, mon: str, day: str, gold_sales: int, l2_mgmt: float, extra=()):
    """One month of the two-team scenario; see test_three_months."""
    ev = []
    # T1: A1 90 with the top sales (gold each month); A3 91 in Sep only... see below
    ev += perfect_month(f, "A1", day, score=90, sales=[gold_sales])
    ev += perfect_month(f, "A3", day, score=82, sales=[100])
    # T2: B1 and B2 tie on sales (no gold agent) and both score 80 (mean exactly 80)
    ev += perfect_month(f, "B1", day, score=80, sales=[2_000])
    ev += perfect_month(f, "B2", day, score=80, sales=[2_000])
    d = Day(day)
    d.qa("L1", "20:00", "management", 100)
    d.qa("L2", "20:00", "management", l2_mgmt)
    for e in extra:
        e(d)
    return ev + d.events


def _floor() -> Floor:
    f = floor_8020()
    f.agent("L1", team="T1", role="leader")
    f.agent("A1", team="T1")
    f.agent("A3", team="T1")
    f.agent("L2", team="T2", role="leader")
    f.agent("B1", team="T2")
    f.agent("B2", team="T2")
    f.agent("T9", team="T2", hired="2026-10-15", mentor="B1")
    return f


def test_three_months_gold_run_supervisor_streak_mentor_once_penalties(tmp_path):
    history: dict[int, dict] = {}
    docs = {}
    for mon, day in (("2026-09", "2026-09-08"), ("2026-10", "2026-10-13"),
                     ("2026-11", "2026-11-10")):
        f = _floor()
        extra = []
        ev = []
        if mon in ("2026-10", "2026-11"):
            # trainee T9 (hired 2026-10-15, mentor B1) scores 85 in October and in
            # November: the mentor is paid once, in October
            ev += perfect_month(f, "T9", day, score=85, sales=[10])
        if mon == "2026-11":
            extra = [
                lambda d: d.incident("B1", "10:00", "wrong_note_cost", amount=100),
                lambda d: d.incident("B1", "10:05", "refund_reorder"),
                lambda d: d.incident("B2", "10:10", "special_order_cost", amount=200),
                lambda d: d.incident("L2", "10:20", "lost_order_untrained"),
                lambda d: d.incident("B2", "10:30", "coffee_spill"),  # unknown kind
            ]
        ev += _month(f, mon, day, gold_sales=50_000, l2_mgmt=20, extra=extra)
        doc = f.close(ev, month=mon, history=dict(history))
        docs[mon] = doc
        history[parse_month(mon)] = doc
    sep, oct_, nov = docs["2026-09"], docs["2026-10"], docs["2026-11"]
    # gold run: A1 gold in Sep (1), Oct (2), Nov (3 -> +1,000 in the third month)
    assert [row(d, "A1")["gold_run"] for d in (sep, oct_, nov)] == [1, 2, 3]
    assert [row(d, "A1")["pay"]["gold_quarter"] for d in (sep, oct_, nov)] == [0, 0, 1000]
    # A1 in Nov: B = 0.7 % x 50,000 = 350 -> 280 + 70 (T1 mean (90 + 82) / 2 = 86 >= 80)
    # + gold 300 + gold_quarter 1,000 = 1,650
    assert row(nov, "A1")["pay"]["total"] == 1650.0
    assert team(nov, "T1")["mean_score"] == 86
    # T2: B1 and B2 tie on the highest sales: no gold agent in T2
    assert not any(row(nov, a)["gold"] for a in ("B1", "B2", "T9"))
    # T2 mean = 80 exactly (B1, B2; T9 counted from November, its second month:
    # Oct (80 + 80) / 2 = 80; Nov (80 + 80 + 85) / 3 = 81.67) -> team share paid
    assert team(oct_, "T2")["mean_score"] == 80
    assert round(team(nov, "T2")["mean_score"], 2) == 81.67
    # mentor: B1 paid 200 in October only
    assert row(oct_, "B1")["pay"]["mentor"] == 200
    assert row(nov, "B1")["pay"]["mentor"] == 0
    # penalties in Nov: B1 -50 (50 % of 100) -100 (refund_reorder) = -150;
    # B2 -60 (30 % of 200); L2 -50 (50 % of 100) -140 (70 % of 200) -200 = -390
    assert row(nov, "B1")["pay"]["penalties"] == -150
    assert row(nov, "B2")["pay"]["penalties"] == -60
    assert row(nov, "L2")["pay"]["penalties"] == -390
    # B1 Nov: B = 14 -> 11.20 + 2.80 - 150 = -136
    assert row(nov, "B1")["pay"]["total"] == -136.0
    # L2 commission: 1 per mille of (2,000 + 2,000 + 10) = 4.01; total 4.01 - 390 = -385.99
    assert row(nov, "L2")["pay"] == {"commission": 4.01, "penalties": -390.0,
                                     "total": -385.99}
    # supervisor L2: 50 % x 80 + 50 % x 20 = 50 < 60 in Sep, Oct, Nov (Nov: 50 % x 81.67
    # + 10 = 50.83) -> returns_to_agent raised in the third month only
    assert [("returns_to_agent" in row(d, "L2")["flags"]) for d in (sep, oct_, nov)] == [
        False, False, True]
    assert "returns_to_agent" not in row(nov, "L1")["flags"]  # 50 % x 86 + 50 = 93
    assert row(nov, "L1")["score"] == 93
    # the unknown kind is listed with no effect
    b2 = row(nov, "B2")
    assert [x["effect"] for x in b2["incidents"] if x["kind"] == "coffee_spill"] == [False]
    assert nov["unknown_incident_kinds"] == ["coffee_spill"]


def test_excellent_team_bonus_on_the_team_and_gold_score_edge():
    # T1: A1 95 / A2 91 -> mean 93 > 90 -> team bonus 1,000 on the team, not on agents.
    # Gold needs score > 80: in T2, C1 has top sales and top score but exactly 80 -> none.
    f = floor_8020()
    f.agent("L1", team="T1", role="leader")
    f.agent("A1", team="T1")
    f.agent("A2", team="T1")
    f.agent("C1", team="T2")
    f.agent("C2", team="T2")
    ev = []
    ev += perfect_month(f, "A1", "2026-11-03", score=95, sales=[300])
    ev += perfect_month(f, "A2", "2026-11-03", score=91, sales=[200])
    ev += perfect_month(f, "C1", "2026-11-03", score=80, sales=[300])
    ev += perfect_month(f, "C2", "2026-11-03", score=70, sales=[100])
    doc = f.close(ev)
    assert team(doc, "T1")["team_bonus"] == 1000
    assert all(row(doc, a)["pay"]["total"] < 1000 for a in ("A1", "A2"))
    assert row(doc, "A1")["gold"] is True
    assert row(doc, "C1")["gold"] is False
    # T2 mean (80 + 70) / 2 = 75 < 80: C1 gets 80 % only: 0.007 x 300 x 0.8 = 1.68
    assert row(doc, "C1")["pay"]["team_share"] == 0 and row(doc, "C1")["pay"]["total"] == 1.68
    # T2 has no leader: its team row says so
    assert team(doc, "T2")["leader"] is None and team(doc, "T2")["pay"] is None


def test_mode_star_bonus():
    # mode star: B = 918 x attended / scheduled x coefficient x score / 100.
    # A1: 2 shifts, 1 attended; sole ranked agent scores ... -> N = 1: counts
    # round(0.05)=0, round(0.15)=0, round(0.4)=0, round(0.85)=1 -> 2 stars, coefficient 1.4.
    # A1 score: day 1 perfect (items 100), day 2 absent (no site points for absence,
    # utilization 100) -> score 100 + adjust(-10) = 90.
    # B = 918 x 1/2 x 1.4 x 0.9 = 578.34; 80 % = 462.672 -> 462.67; 20 % = 115.668 ->
    # 115.67 (mean 90 >= 80); gold: sole agent, top sales 100 and score 90 > 80 -> 300.
    import msgspec

    from kefu_floor.policy import load_policy
    pol = msgspec.structs.replace(load_policy("team-80-20"), team8020=msgspec.structs.replace(
        load_policy("team-80-20").team8020, mode="star"))
    f = Floor(pol)
    f.agent("A1", team="T1")
    ev = perfect_month(f, "A1", "2026-11-03", score=90, sales=[100])
    f.shift("A1", "2026-11-04")
    doc = f.close(ev + Day("2026-11-05").events + [Day("2026-11-05").clock("09:00")])
    a1 = row(doc, "A1")
    assert a1["star"] == 2
    assert a1["pay"]["individual"] == 462.67 and a1["pay"]["team_share"] == 115.67
    assert a1["pay"]["total"] == 878.34
