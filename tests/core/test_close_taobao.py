"""taobao-30pt (POLICY.md §5): points, the sales ranking with its ties, the bonus effect
bands, fines and the discipline ladder, worked out by hand in the comments."""
from __future__ import annotations

from harness.close import row
from harness.scenario_builder import Day, Floor


def _sales_day(f: Floor, agent: str, sales: list[float], answered: int, date="2026-11-03"):
    """A shift attended in full with `answered` calls and the given sale events."""
    f.shift(agent, date)
    d = Day(date)
    d.sign_in(agent, "08:00")
    for k in range(answered):
        d.call(agent, f"09:{k:02d}", 20_000)
    for k, amount in enumerate(sales):
        d.sale(agent, f"10:{k:02d}", amount)
    d.sign_out(agent, "16:30")
    return d.events


def _floor():
    f = Floor("taobao-30pt")
    for a in ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"):
        f.agent(a, team="T1")
    f.agent("L1", team="T1", role="leader")
    return f


def _scenario():
    f = _floor()
    ev = []
    # sales: C1 3,000 in 2 sales of 4 answered (conversion 1/2); C2 3,000 in 1 sale of 4
    # (1/4): C1 1st, C2 2nd; C3 1,000: 3rd; the rest no sales: not placed
    ev += _sales_day(f, "C1", [1_500, 1_500], 4)
    ev += _sales_day(f, "C2", [3_000], 4)
    ev += _sales_day(f, "C3", [1_000], 1)
    for a in ("C4", "C5", "C6", "C7"):
        ev += _sales_day(f, a, [], 1)
    f.shift("C8", "2026-11-04")  # never signed in: absent, -30 yuan
    d = Day("2026-11-20")
    inc = d.incident
    # C1: attitude_complaint x3 -> 0 (warning), -1, -1 and -5 yuan each (-15);
    # big_discount x2 -> 0, -2. Three point deductions: no few_deductions.
    # points 30 + 5 (rank 1) - 1 - 1 - 2 = 31 -> 100 % + 2 % x 6 = 112 % of 1,000 = 1,120
    for t in ("09:00", "09:01", "09:02"):
        inc("C1", t, "attitude_complaint")
    inc("C1", "09:03", "big_discount")
    inc("C1", "09:04", "big_discount")
    # C2: major_error -10 (review), praise_review +3, one deduction -> few_deductions +3,
    # rank 2 +3: 30 - 10 + 3 + 3 + 3 = 29 -> 108 % = 1,080
    inc("C2", "09:10", "major_error")
    inc("C2", "09:11", "praise_review")
    # C3: rank 3 +1, few +3 -> 34 -> 118 % = 1,180; no_clock_form -10 yuan; an unknown
    # kind is listed with no effect
    inc("C3", "09:20", "no_clock_form")
    inc("C3", "09:21", "coffee_spill")
    # C4 exactly 25: attitude x2 (0, -1), major_error -10, two deductions -> few +3,
    # praise_review +3: 30 - 1 - 10 + 3 + 3 = 25 -> 100 % + 0 = 1,000; fines -10 (attitude
    # x2); review
    inc("C4", "09:30", "attitude_complaint")
    inc("C4", "09:31", "attitude_complaint")
    inc("C4", "09:32", "major_error")
    inc("C4", "09:33", "praise_review")
    # C5 exactly 20: big_discount x6 -> 0, -2 x5 = -10, five deductions (no few) -> 20 ->
    # band 20..25: 90 % = 900
    for k in range(6):
        inc("C5", f"09:4{k}", "big_discount")
    # C6 24.x is impossible with whole points: C6 = 30 - 1 x4 (missing_note x5) = 26 ... no:
    # missing_note x5 -> 0, -1, -1, -1, -1 = -4, four deductions -> 26 -> 102 % = 1,020
    for k in range(5):
        inc("C6", f"09:5{k}", "missing_note")
    # C7 exactly 15: major_error x1 (-10), blame_shifting x6 -> 0, -1 x5 (-5): six
    # deductions -> 15 -> band 15..20: 70 % = 700; exactly 14 would pay nothing (C8)
    inc("C7", "10:00", "major_error")
    for k in range(6):
        inc("C7", f"10:0{k + 1}", "blame_shifting")
    # C8 ladder: verbal x4 (-10 each) -> after conversion verbal 1, written 1; written x2
    # (-50 each) -> written 3 -> final 1, written 0: state final; then missing_note x2: the
    # first is a warning (no deduction), the second (-1) after a final warning: dismissal.
    # fines: -30 (absent) - 40 - 100 = -170. points: missing_note 0, -1 -> one deduction ->
    # few +3 -> 32 -> 114 % = 1,140
    for k in range(4):
        inc("C8", f"11:0{k}", "verbal_warning")
    inc("C8", "11:10", "written_warning")
    inc("C8", "11:11", "written_warning")
    inc("C8", "11:20", "missing_note")
    inc("C8", "11:21", "missing_note")
    return f, ev + d.events


def test_points_ranking_bands_fines_ladder():
    f, ev = _scenario()
    doc = f.close(ev)
    assert doc["policy"] == "taobao-30pt"
    exp = {  # agent: (points, bonus, fines, gold)
        "C1": (31, 1120, -15, True), "C2": (29, 1080, 0, False), "C3": (34, 1180, -10, False),
        "C4": (25, 1000, -10, False), "C5": (20, 900, 0, False), "C6": (26, 1020, 0, False),
        "C7": (15, 700, 0, False), "C8": (32, 1140, -170, False),
    }
    for a, (pts, bonus, fine, gold) in exp.items():
        r = row(doc, a)
        assert (r["points"], r["pay"]["bonus"], r["pay"]["fines"], r["gold"]) == (
            pts, bonus, fine, gold), a
        assert r["pay"]["total"] == bonus + fine
        assert r["score"] is None and r["star"] is None
        # the ledger adds up to points - 30
        assert sum(e["points"] for e in r["points_ledger"]) == pts - 30
    c1 = row(doc, "C1")
    assert [(e["kind"], e["points"]) for e in c1["points_ledger"]] == [
        ("attitude_complaint", 0), ("attitude_complaint", -1), ("attitude_complaint", -1),
        ("big_discount", 0), ("big_discount", -2), ("rank_1", 5)]
    assert [(e["kind"], e["points"]) for e in row(doc, "C3")["points_ledger"]] == [
        ("rank_3", 1), ("few_deductions", 3)]
    assert "review" in row(doc, "C2")["flags"] and "review" in row(doc, "C4")["flags"]
    assert row(doc, "C1")["flags"] == []
    assert row(doc, "C8")["ladder"] == {"verbal": 1, "written": 0, "final": 1,
                                        "state": "dismissal"}
    assert row(doc, "C8")["flags"] == ["dismissal"]
    assert row(doc, "C1")["ladder"]["state"] == "none"
    assert [x["effect"] for x in row(doc, "C3")["incidents"]] == [True, False]


def test_ranking_tie_shares_the_better_place_and_skips():
    # D1 3,000; D2 and D3 2,000 each with the same conversion (1 sale / 1 answered) and no
    # customer_lost: both 2nd (+3), place 3 is skipped; D4 1,000 is 4th: nothing.
    # D5 2,000 with 1 sale / 1 answered but one customer_lost: below D2/D3 -> 4th, so D4
    # becomes 5th. few_deductions +3 for all (no deductions).
    f = Floor("taobao-30pt")
    ev = []
    ev += _sales_day(f, "D1", [3_000], 1)
    ev += _sales_day(f, "D2", [2_000], 1)
    ev += _sales_day(f, "D3", [2_000], 1)
    ev += _sales_day(f, "D4", [1_000], 1)
    ev += _sales_day(f, "D5", [2_000], 1)
    d = Day("2026-11-05")
    d.incident("D5", "09:00", "customer_lost")
    doc = f.close(ev + d.events)
    got = {a: row(doc, a)["points"] for a in ("D1", "D2", "D3", "D4", "D5")}
    assert got == {"D1": 38, "D2": 36, "D3": 36, "D4": 33, "D5": 33}
    assert row(doc, "D1")["gold"] and not row(doc, "D2")["gold"]


def test_excused_absence_costs_no_fine_and_lists_the_approver():
    # E1 absent on 3 Nov (-30), excused by L9: no fine; listed with who approved it.
    f = Floor("taobao-30pt")
    f.agent("E1", team="T1")
    f.shift("E1", "2026-11-03")
    d0 = Day("2026-11-03")
    d0.clock("07:00")  # the data starts before the shift
    d = Day("2026-11-04")
    d.clock("09:00")
    d.excuse("E1", "10:00", "absent", "2026-11-03", reason="sick note", by="L9")
    doc = f.close(d0.events + d.events)
    e1 = row(doc, "E1")
    assert e1["pay"]["fines"] == 0
    assert e1["excused"] == [{"rule": "absent", "day": "2026-11-03", "ts": e1["excused"][0]["ts"],
                              "points": 0, "by": "L9", "reason": "sick note"}]
    assert e1["appeals_open"] == []


def _telemetry_day(d: Day, a: str):
    d.sign_in(a, "08:00")
    # lunch 10:00 -> 10:36: 36 min > 35 -> -5 (booked at 10:35:00.001, outside the break:
    # "wherever it falls"); lunch 13:00 -> 13:35: exactly 35 -> nothing
    d.busy(a, "10:00", "lunch")
    d.ready(a, "10:36")
    d.busy(a, "13:00", "lunch")
    d.busy(a, "13:10", "lunch")  # the same episode: no new start
    d.ready(a, "13:35")
    # sign-outs strictly inside the shift, outside its break: 09:00, 14:00, 15:00, 16:00
    # (4 -> one full 3 -> -10); 12:10 is inside the break; 16:30 is the shift's end
    for t in ("09:00", "12:10", "14:00", "15:00", "16:00"):
        d.sign_out(a, t)
        d.sign_in(a, t[:3] + "05")
    d.sign_out(a, "16:30")


def test_lunch_over_35_and_sign_outs_in_shift_live_with_evidence_and_excusable():
    f = Floor("taobao-30pt")
    for a in ("F1", "F2"):
        f.shift(a, "2026-11-03", "08:00", "16:30", breaks="12:00-12:30")
    d = Day("2026-11-03")
    d.clock("07:00")
    _telemetry_day(d, "F1")
    _telemetry_day(d, "F2")
    d4 = Day("2026-11-04")
    d4.excuse("F2", "09:00", "sign_out_in_shift", "2026-11-03", by="L1")
    d4.excuse("F2", "09:01", "lunch_over_35", "2026-11-03", by="L1")
    doc = f.close(d.events + d4.events)
    assert row(doc, "F1")["pay"]["fines"] == -15
    assert row(doc, "F2")["pay"]["fines"] == 0
    assert {(x["rule"], x["by"]) for x in row(doc, "F2")["excused"]} == {
        ("sign_out_in_shift", "L1"), ("lunch_over_35", "L1")}
    assert [x["rule"] for x in row(doc, "F1")["appeals_open"]
            if x["rule"] in ("sign_out_in_shift", "lunch_over_35")] == [
        "sign_out_in_shift", "lunch_over_35", "sign_out_in_shift", "sign_out_in_shift",
        "sign_out_in_shift"]  # by time: 09:00, 10:35, 14:00, 15:00, 16:00
    # live: the lunch rule fires while the agent is still on lunch, with its evidence
    from kefu_floor.views.report import build_report
    from harness.scenario_builder import agent, feed, ms
    eng = f.engine()
    d = Day("2026-11-03")
    d.clock("07:00")
    d.sign_in("F1", "08:00")
    d.busy("F1", "12:00", "lunch")
    feed(eng, d.events)
    eng.tick(ms("2026-11-03", "12:35"))
    assert not [x for x in eng.ledger if x[2] == 6]
    eng.tick(ms("2026-11-03", "12:35:01"))
    rep = build_report(eng.finish(), None)
    lunch = [x for x in agent(rep, "F1")["deductions"] if x["rule"] == "lunch_over_35"]
    assert lunch == [{"ts": ms("2026-11-03", "12:35:00.001"), "rule": "lunch_over_35",
                      "item": "fines", "points": 0, "day": "2026-11-03",
                      "facts": {"busy_since": "12:00:00", "limit_min": 35}}]


def test_telemetry_rules_are_off_in_chengdu():
    f = Floor("chengdu-2014")
    f.shift("F1", "2026-11-03", "08:00", "16:30", breaks="12:00-12:30")
    d = Day("2026-11-03")
    d.clock("07:00")
    _telemetry_day(d, "F1")
    rep = f.report(d.events)
    from harness.scenario_builder import agent
    assert not {x["rule"] for x in agent(rep, "F1")["deductions"]} & {
        "lunch_over_35", "sign_out_in_shift"}
