"""Tier bands, "no data" rules, weighted score and star grades (POLICY.md §1-2, preset
chengdu-2014). Expected values come from POLICY.md's tables, worked by hand."""
import math

import numpy as np
import pytest

from kefu_floor.policy import load_policy
from kefu_floor.scoring import assign_stars, lower_bands, star_counts, upper_bands
from harness.scenario_builder import Day, Floor, agent

POL = load_policy("chengdu-2014")


def aht_score(talk_ms_total: int, talks: int):
    b = POL.bands.aht
    v = upper_bands(np.array([float(talk_ms_total)]), np.array([talks * 1000.0]), b.max,
                    b.score, b.above)[0]
    return None if math.isnan(v) else v


def pct_score(band, num: int, den: int):
    v = lower_bands(np.array([float(num)]), np.array([float(den)]), band.min, band.score,
                    band.below)[0]
    return None if math.isnan(v) else v


# --------------------------------------------------------------------------- AHT
# T <= 140 -> 100; 140 < T <= 145 -> 95; 145 < T <= 155 -> 90; 155 < T <= 160 -> 80;
# 160 < T <= 165 -> 70; T > 165 -> 60.  T in seconds; inputs in ms, one call.
@pytest.mark.parametrize("t_ms, score", [
    (0, 100), (100_000, 100), (139_999, 100), (140_000, 100), (140_001, 95),
    (145_000, 95), (145_001, 90),
    (155_000, 90), (155_001, 80),
    (160_000, 80), (160_001, 70),
    (165_000, 70), (165_001, 60), (600_000, 60),
])
def test_aht_band_edges(t_ms, score):
    assert aht_score(t_ms, 1) == score


def test_aht_mean_over_calls_on_edges():
    # 3 calls of 140, 140, 140.003 s: T = 140.001 s -> 95; 3 x 140 s exactly -> 100
    assert aht_score(140_000 * 3 + 3, 3) == 95
    assert aht_score(140_000 * 3, 3) == 100
    # 165 s mean from 160 + 170 -> 70; 165.0005 -> 60
    assert aht_score(330_000, 2) == 70
    assert aht_score(330_001, 2) == 60


def test_aht_no_calls_is_no_data():
    assert aht_score(0, 0) is None


# --------------------------------------------------------------------------- satisfaction
# S >= 90% -> 100; 80 <= S < 90 -> 70; 70 <= S < 80 -> 40; 60 <= S < 70 -> 20; S < 60 -> 0
@pytest.mark.parametrize("num, den, score", [
    (10, 10, 100), (9, 10, 100), (90, 100, 100), (8999, 10000, 70), (8, 9, 70),
    (8, 10, 70), (4, 5, 70), (7999, 10000, 40),
    (7, 10, 40), (14, 20, 40), (6999, 10000, 20),
    (6, 10, 20), (3, 5, 20), (5999, 10000, 0),
    (1, 2, 0), (0, 7, 0),
])
def test_satisfaction_band_edges(num, den, score):
    assert pct_score(POL.bands.satisfaction, num, den) == score


def test_satisfaction_no_surveys_is_no_data():
    assert pct_score(POL.bands.satisfaction, 0, 0) is None


# --------------------------------------------------------------------------- answer rate
# R >= 95 -> 100; 90 <= R < 95 -> 90; 85 <= R < 90 -> 70; 80 <= R < 85 -> 60;
# 70 <= R < 80 -> 50; R < 70 -> 0
@pytest.mark.parametrize("num, den, score", [
    (20, 20, 100), (19, 20, 100), (95, 100, 100), (9499, 10000, 90), (18, 19, 90),
    (9, 10, 90), (18, 20, 90), (8999, 10000, 70),
    (17, 20, 70), (85, 100, 70), (8499, 10000, 60),
    (4, 5, 60), (16, 20, 60), (7999, 10000, 50),
    (7, 10, 50), (14, 20, 50), (6999, 10000, 0),
    (2, 3, 0), (0, 5, 0),
])
def test_answer_rate_band_edges(num, den, score):
    assert pct_score(POL.bands.answer_rate, num, den) == score


def test_answer_rate_no_offered_is_no_data():
    assert pct_score(POL.bands.answer_rate, 0, 0) is None


# --------------------------------------------------------------------------- stars
@pytest.mark.parametrize("n, counts", [
    (20, [1, 2, 5, 9, 3]),   # POLICY.md's example
    (5, [0, 1, 1, 2, 1]),    # 0.25->0, 0.75->1, 2->2, 4.25->4, 5
    (10, [1, 1, 2, 5, 1]),   # 0.5->1 (half up), 1.5->2, 4, 8.5->9, 10
    (30, [2, 3, 7, 14, 4]),  # 1.5->2, 4.5->5, 12, 25.5->26, 30
    (2, [0, 0, 1, 1, 0]),    # 0.1, 0.3, 0.8->1, 1.7->2, 2
    (1, [0, 0, 0, 1, 0]),    # 0.85 -> 1
    (0, [0, 0, 0, 0, 0]),
])
def test_star_counts(n, counts):
    assert star_counts(POL, n) == counts
    assert sum(counts) == n


def _grade_counts(stars):
    return [sum(1 for s in stars.values() if s == g) for g in (5, 4, 3, 2, 1)]


def test_stars_distinct_scores_n20():
    scores = {f"A{i:02d}": 100.0 - i for i in range(20)}
    st = assign_stars(POL, scores)
    assert _grade_counts(st) == [1, 2, 5, 9, 3]
    # best first: A00 5*, A01-A02 4*, A03-A07 3*, A08-A16 2*, A17-A19 1*
    assert st["A00"] == 5 and st["A01"] == 4 and st["A02"] == 4
    assert st["A03"] == 3 and st["A07"] == 3 and st["A08"] == 2 and st["A16"] == 2
    assert st["A17"] == 1 and st["A19"] == 1


def test_stars_tie_at_boundary_takes_better_grade_and_shrinks_next():
    scores = {f"A{i:02d}": 100.0 - i for i in range(20)}
    scores["A01"] = scores["A00"]  # positions 1 and 2 tied across the 5*/4* boundary
    st = assign_stars(POL, scores)
    assert st["A00"] == 5 and st["A01"] == 5
    assert st["A02"] == 4  # 4* count shrinks 2 -> 1
    assert st["A03"] == 3
    assert _grade_counts(st) == [2, 1, 5, 9, 3]


def test_stars_tie_inside_a_grade_changes_nothing():
    scores = {f"A{i:02d}": 100.0 - i for i in range(20)}
    scores["A05"] = scores["A04"]  # both inside the 3* block (positions 4-8)
    st = assign_stars(POL, scores)
    assert _grade_counts(st) == [1, 2, 5, 9, 3]


def test_stars_tie_at_lower_boundary():
    # N = 20: 3* covers positions 4..8; position 8 and 9 tied -> both 3*, 2* shrinks 9 -> 8
    scores = {f"A{i:02d}": 100.0 - i for i in range(20)}
    scores["A08"] = scores["A07"]
    st = assign_stars(POL, scores)
    assert st["A07"] == 3 and st["A08"] == 3 and st["A09"] == 2
    assert _grade_counts(st) == [1, 2, 6, 8, 3]


# --------------------------------------------------------------------------- full replays
DATE = "2026-11-03"


def complete_agent(f: Floor, d: Day, a: str, qa: float = 80.0, talks=(120_000,),
                   surveys=("satisfied",), probation=False, exam=True):
    """An agent with every item: shift, sign-in, answered calls, surveys, 4 QA scores."""
    f.agent(a, probation=probation)
    f.shift(a, DATE, "08:00", "16:30", "12:00-12:30")
    d.workday(a)
    for k, talk in enumerate(talks):  # 5 minutes apart from 09:00, never overlapping
        d.call(a, f"{9 + k // 12:02d}:{k % 12 * 5:02d}:00", talk,
               survey=surveys[k] if k < len(surveys) else None)
    for item in ("recording", "text", "performance") + (("exam",) if exam else ()):
        d.qa(a, "18:00", item, qa)


def test_replay_aht_edges():
    f, d = Floor(), Day(DATE)
    complete_agent(f, d, "E140", talks=(140_000,))
    complete_agent(f, d, "E140b", talks=(140_000, 140_002))  # mean 140.001 s
    complete_agent(f, d, "E165", talks=(165_000,))
    complete_agent(f, d, "E165b", talks=(165_001,))
    complete_agent(f, d, "E155", talks=(150_000, 160_000))  # mean 155 exactly
    d.clock("23:59")
    rep = f.report(d.events)
    assert agent(rep, "E140")["items"]["aht"] == 100
    assert agent(rep, "E140")["kpi"]["aht_s"] == 140.0
    assert agent(rep, "E140b")["items"]["aht"] == 95
    assert agent(rep, "E140b")["kpi"]["aht_s"] == pytest.approx(140.001)
    assert agent(rep, "E165")["items"]["aht"] == 70
    assert agent(rep, "E165b")["items"]["aht"] == 60
    assert agent(rep, "E155")["items"]["aht"] == 90
    assert agent(rep, "E155")["kpi"]["talk_s"] == 310.0


def test_replay_satisfaction_and_answer_rate_edges():
    f, d = Floor(), Day(DATE)
    # 10 answered calls, 9 satisfied + 1 neutral = 90% -> 100
    complete_agent(f, d, "S90", talks=(100_000,) * 10, surveys=("satisfied",) * 9 + ("neutral",))
    # 9 surveys, 8 satisfied = 88.9% -> 70
    complete_agent(f, d, "S88", talks=(100_000,) * 9,
                   surveys=("satisfied",) * 8 + ("dissatisfied",))
    # 5 surveys, 3 satisfied = 60% -> 20
    complete_agent(f, d, "S60", talks=(100_000,) * 5,
                   surveys=("satisfied",) * 3 + ("neutral", "dissatisfied"))
    # answer rate: 19 answered of 20 offered = 95% -> 100; 18 of 19 = 94.7% -> 90
    complete_agent(f, d, "R95", talks=(100_000,) * 19)
    d.call("R95", "11:30", 0, answered=False)
    complete_agent(f, d, "R94", talks=(100_000,) * 18)
    d.call("R94", "11:30", 0, answered=False)
    # 7 of 10 = 70% -> 50; 6 of 9 = 66.7% -> 0
    complete_agent(f, d, "R70", talks=(100_000,) * 7)
    complete_agent(f, d, "R66", talks=(100_000,) * 6)
    for k in range(3):
        d.call("R70", f"11:3{k}", 0, answered=False)
        d.call("R66", f"11:3{k}", 0, answered=False)
    d.clock("23:59")
    rep = f.report(d.events)
    s90 = agent(rep, "S90")
    assert (s90["kpi"]["surveys"], s90["kpi"]["satisfied"]) == (10, 9)
    assert s90["items"]["satisfaction"] == 100
    assert agent(rep, "S88")["items"]["satisfaction"] == 70
    assert agent(rep, "S60")["items"]["satisfaction"] == 20
    r95 = agent(rep, "R95")
    assert (r95["kpi"]["offered"], r95["kpi"]["answered"]) == (20, 19)
    assert r95["items"]["answer_rate"] == 100
    assert agent(rep, "R94")["items"]["answer_rate"] == 90
    assert agent(rep, "R70")["items"]["answer_rate"] == 50
    assert (agent(rep, "R66")["kpi"]["offered"], agent(rep, "R66")["kpi"]["answered"]) == (9, 6)
    assert agent(rep, "R66")["items"]["answer_rate"] == 0


def test_answer_without_offer_counts_as_offered():
    f, d = Floor(), Day(DATE)
    complete_agent(f, d, "A1", talks=(100_000,) * 4)  # 4 offered + answered
    d.call("A1", "11:00", 100_000, offer=False)  # answer with no offer: offered too
    d.call("A1", "11:10", 0, answered=False)
    d.clock("23:59")
    a = agent(f.report(d.events), "A1")
    assert (a["kpi"]["offered"], a["kpi"]["answered"]) == (6, 5)
    assert a["items"]["answer_rate"] == 60  # 5/6 = 83.3%


def test_no_data_rules():
    f, d = Floor(), Day(DATE)
    # N1: shift and sign-in, QA, but no calls at all: aht, answer_rate, satisfaction no data
    f.shift("N1", DATE, "08:00", "16:30", "12:00-12:30")
    d.workday("N1")
    for item in ("recording", "text", "performance", "exam"):
        d.qa("N1", "18:00", item, 90)
    # N2: offered 2, answered none: answer_rate 0 (0%), aht no data; no surveys
    f.shift("N2", DATE, "08:00", "16:30", "12:00-12:30")
    d.workday("N2")
    d.call("N2", "09:00", 0, answered=False)
    d.call("N2", "09:10", 0, answered=False)
    # N3: in the roster, no shift and no sign-in, only QA: utilization and site no data
    f.agent("N3")
    for item in ("recording", "text", "performance", "exam"):
        d.qa("N3", "18:00", item, 90)
    # N4: answered calls but no survey answered: satisfaction no data only
    complete_agent(f, d, "N4", talks=(100_000,), surveys=())
    # N5: sign-in without any shift: utilization and site have data
    f.agent("N5")
    d.workday("N5")
    d.clock("23:59")
    rep = f.report(d.events)
    n1 = agent(rep, "N1")["items"]
    assert n1["aht"] is None and n1["answer_rate"] is None and n1["satisfaction"] is None
    assert n1["utilization"] == 100 and n1["site"] == 100 and n1["recording"] == 90
    assert agent(rep, "N1")["score"] is None and agent(rep, "N1")["star"] is None
    assert agent(rep, "N1")["kpi"]["aht_s"] is None
    n2 = agent(rep, "N2")
    assert n2["items"]["answer_rate"] == 0 and n2["items"]["aht"] is None
    assert (n2["kpi"]["offered"], n2["kpi"]["answered"]) == (2, 0)
    n3 = agent(rep, "N3")["items"]
    assert n3["utilization"] is None and n3["site"] is None
    assert n3["exam"] == 90 and agent(rep, "N3")["score"] is None
    n4 = agent(rep, "N4")
    assert n4["items"]["satisfaction"] is None and n4["items"]["aht"] == 100
    assert n4["score"] is None and n4["star"] is None
    n5 = agent(rep, "N5")["items"]
    assert n5["utilization"] == 100 and n5["site"] == 100
    assert n5["recording"] is None


def test_weighted_score_by_hand():
    """recording 88, text 85, perf 85, exam 90; aht 150 s -> 90; satisfaction 3/4 -> 40;
    answer 4/5 -> 60; utilization 100-10 = 90 (busy 31 min); site 100-20 = 80 (late);
    adjustments +2.  Score = 22 + 17 + 4.5 + 8.5 + 4 + 9 + 9 + 3 + 4 + 2 = 83.0."""
    f, d = Floor(), Day(DATE)
    f.shift("W1", DATE, "08:00", "16:30", "12:00-12:30")
    d.sign_in("W1", "08:06")
    for k, res in enumerate(("satisfied", "satisfied", "dissatisfied", "satisfied")):
        d.call("W1", f"09:{k * 5:02d}:00", 150_000, survey=res)
    d.call("W1", "09:30", 0, answered=False)
    d.spell("W1", "10:00", "10:31", "toilet")
    d.qa("W1", "18:00", "recording", 90)
    d.qa("W1", "18:01", "recording", 86)
    d.qa("W1", "18:00", "text", 85)
    d.qa("W1", "18:00", "performance", 85)
    d.qa("W1", "18:00", "exam", 90)
    d.adjust("W1", "18:00", 5, "praise")
    d.adjust("W1", "18:00", -3, "complaint")
    d.sign_out("W1", "16:31")
    d.clock("23:59")
    w = agent(f.report(d.events), "W1")
    assert w["items"] == {"recording": 88.0, "text": 85.0, "aht": 90, "performance": 85.0,
                          "satisfaction": 40, "exam": 90.0, "utilization": 90,
                          "answer_rate": 60, "site": 80}
    assert w["adjustments"] == 2
    assert w["score"] == pytest.approx(83.0, abs=1e-9)
    assert w["star"] == 2  # N = 1 -> counts 0,0,0,1,0 (0.85 rounds up to 1)


def test_probation_no_star_and_not_ranked():
    """P1 (probation, best score) and X1 (score null) are not ranked: N = 2 -> counts
    0,0,1,1,0 -> R1 3*, R2 2*.  (Ranking P1 too, N = 3 -> 0,0,1,2,0, would give R1 2*.)"""
    f, d = Floor(), Day(DATE)
    complete_agent(f, d, "P1", qa=95, probation=True)
    complete_agent(f, d, "R1", qa=90)
    complete_agent(f, d, "R2", qa=80)
    complete_agent(f, d, "X1", qa=99, exam=False)
    d.clock("23:59")
    rep = f.report(d.events)
    # all-100 telemetry items: 5 + 10 + 10 + 5 + 5 = 35; QA q: (25 + 20 + 10 + 10) q / 100
    assert agent(rep, "P1")["score"] == pytest.approx(35 + 0.65 * 95)
    assert agent(rep, "R1")["score"] == pytest.approx(93.5)
    assert agent(rep, "R2")["score"] == pytest.approx(87.0)
    assert agent(rep, "X1")["score"] is None
    assert agent(rep, "P1")["star"] is None
    assert agent(rep, "X1")["star"] is None
    assert agent(rep, "R1")["star"] == 3
    assert agent(rep, "R2")["star"] == 2


def test_replay_tie_takes_better_grade():
    """N = 5 -> counts 0,1,1,2,1 (cumulative 0,1,2,4,5).  Scores 93.5, 87, 87, 80.5, 74:
    position 1 -> 4*; positions 2-3 tied across the 3*/2* boundary -> both 3*, and 2*
    shrinks 2 -> 1: position 4 -> 2*, position 5 -> 1*."""
    f, d = Floor(), Day(DATE)
    for a, q in (("T1", 90), ("T2", 80), ("T3", 80), ("T4", 70), ("T5", 60)):
        complete_agent(f, d, a, qa=q)
    d.clock("23:59")
    rep = f.report(d.events)
    assert agent(rep, "T4")["score"] == pytest.approx(80.5)
    assert agent(rep, "T5")["score"] == pytest.approx(35 + 0.65 * 60)
    assert [agent(rep, a)["star"] for a in ("T1", "T2", "T3", "T4", "T5")] == [4, 3, 3, 2, 1]
