"""Policy as data (POLICY.md §1-2): the preset carries every number; bad files are refused
with the key named; changing a number in the file changes results."""
from importlib import resources

import pytest

from kefu_floor.errors import ConfigError
from kefu_floor.policy import ITEM_KEYS, load_policy, parse_policy, preset_names
from kefu_floor.scoring import star_counts
from harness.scenario_builder import Day, Floor, agent, ms

PRESET = (resources.files("kefu_floor") / "policies" / "chengdu-2014.toml").read_text("utf-8")
DATE = "2026-11-03"


def edit(text: str, key: str, value: str | None, section: str | None = None) -> str:
    """Replace (or with value None delete) the line `key = ...` [inside `section`]."""
    out, cur, hits = [], None, 0
    for ln in text.splitlines():
        s = ln.strip()
        if s.startswith("["):
            cur = s.strip("[]")
        if (s.split("=")[0].strip() == key and "=" in s
                and (section is None or cur == section)):
            hits += 1
            if value is not None:
                out.append(f"{key} = {value}")
            continue
        out.append(ln)
    assert hits == 1, (key, section, hits)
    return "\n".join(out) + "\n"


def drop_table(text: str, header: str) -> str:
    out, skip = [], False
    for ln in text.splitlines():
        s = ln.strip()
        if s.startswith("["):
            skip = s == f"[{header}]"
        if not skip:
            out.append(ln)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- the preset


def test_preset_is_listed_and_loads():
    assert "chengdu-2014" in preset_names()
    p = load_policy("chengdu-2014")
    assert p.name == "chengdu-2014" and p.timezone == "Asia/Shanghai"


def test_preset_holds_every_number_of_policy_sections_1_and_2():
    p = load_policy("chengdu-2014")
    # §1 items and weights
    assert {k: p.items[k].weight for k in ITEM_KEYS} == {
        "recording": 25, "text": 20, "aht": 5, "performance": 10, "satisfaction": 10,
        "exam": 10, "utilization": 10, "answer_rate": 5, "site": 5}
    assert sum(p.weights.values()) == 100
    assert {k: p.items[k].kind for k in ("recording", "text", "performance", "exam")} == {
        "recording": "qa", "text": "qa", "performance": "qa", "exam": "qa"}
    # bands
    b = p.bands
    assert (b.aht.max, b.aht.score, b.aht.above) == (
        [140, 145, 155, 160, 165], [100, 95, 90, 80, 70], 60)
    assert (b.satisfaction.min, b.satisfaction.score, b.satisfaction.below) == (
        [90, 80, 70, 60], [100, 70, 40, 20], 0)
    assert (b.answer_rate.min, b.answer_rate.score, b.answer_rate.below) == (
        [95, 90, 85, 80, 70], [100, 90, 70, 60, 50], 0)
    # busy budget
    bz = p.busy
    assert (bz.budget_min, bz.step_min, bz.first_points, bz.step_points) == (30, 15, -10, -10)
    assert (bz.base, bz.floor) == (100, 0)
    assert sorted(bz.excused_reasons) == ["meeting", "system", "training"]
    assert bz.exclude_breaks is True
    # floor rules
    at = p.attendance
    assert (at.default_grace_min, at.break_grace_min, at.early_leave_tolerance_min) == (5, 1, 2)
    assert (at.late_sign_in_points, at.late_return_points, at.early_leave_points,
            at.absent_points) == (-20, -20, -20, 0)
    assert (p.site.base, p.site.floor) == (100, 0)
    # §2 stars and pay
    s = p.stars
    assert s.grades == [5, 4, 3, 2, 1]
    assert s.shares == [5, 10, 25, 45, 15]
    assert s.coefficients == [2.6, 2.2, 1.8, 1.4, 1.0]
    assert (s.rounding, s.ties) == ("half_up", "better")
    pay = p.pay
    assert pay.star_pay_unit == 500 and pay.no_star_coefficient == 1.0
    assert [pay.star_pay_unit * c for c in s.coefficients] == [1300, 1100, 900, 700, 500]
    assert (pay.base_regular, pay.base_probation) == (1600, 1400)
    assert (pay.seniority_years, pay.seniority_pay) == ([1, 2, 3], [200, 400, 500])
    assert pay.full_attendance == 100
    assert (pay.products_required, pay.subsidy_per_extra_product) == (3, 150)
    assert (pay.night_shift_end, pay.night_shift_pay) == ("23:00", 20)


def test_preset_params_for_the_kernels():
    from kernels import layout as K
    P = load_policy("chengdu-2014").params()
    assert P[K.P_BUDGET_MS] == 30 * 60_000 and P[K.P_STEP_MS] == 15 * 60_000
    assert P[K.P_BREAK_GRACE_MS] == 60_000 and P[K.P_EARLY_TOL_MS] == 120_000
    assert P[K.P_PTS_LATE_SIGN_IN] == -20 and P[K.P_PTS_ABSENT] == 0


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("name, make, key", [
    ("wrong type", lambda t: edit(t, "budget_min", '"thirty"'), "busy.budget_min"),
    ("wrong type list", lambda t: edit(t, "shares", '"5,10,25,45,15"'), "stars.shares"),
    ("wrong type weight", lambda t: edit(t, "weight", '"25"', "items.recording"),
     "items.recording.weight"),
    ("missing key", lambda t: edit(t, "budget_min", None), "budget_min"),
    ("missing item", lambda t: drop_table(t, "items.exam"), "items"),
    ("unknown item", lambda t: t + "\n[items.smile]\nweight = 1\nkind = \"qa\"\n", "items"),
    ("wrong kind", lambda t: edit(t, "kind", '"qa"', "items.aht"), "items.aht.kind"),
    ("shares not 100", lambda t: edit(t, "shares", "[5, 10, 25, 45, 10]"), "stars.shares"),
    ("shares length", lambda t: edit(t, "shares", "[5, 10, 25, 60]"), "stars"),
    ("aht bands not increasing", lambda t: edit(t, "max", "[140, 155, 145, 160, 165]"),
     "bands.aht.max"),
    ("satisfaction not decreasing",
     lambda t: edit(t, "min", "[90, 70, 80, 60]", "bands.satisfaction"),
     "bands.satisfaction.min"),
    ("answer_rate not decreasing",
     lambda t: edit(t, "min", "[95, 90, 90, 80, 70]", "bands.answer_rate"),
     "bands.answer_rate.min"),
    ("band lengths", lambda t: edit(t, "score", "[100, 95, 90]", "bands.aht"), "bands.aht"),
    ("percent over 100", lambda t: edit(t, "min", "[190, 80, 70, 60]", "bands.satisfaction"),
     "bands.satisfaction.min"),
    ("step zero", lambda t: edit(t, "step_min", "0"), "busy.step_min"),
    ("negative grace", lambda t: edit(t, "default_grace_min", "-1"),
     "attendance.default_grace_min"),
    ("unknown timezone", lambda t: edit(t, "timezone", '"Asia/Chengdu"'), "timezone"),
    ("unknown key", lambda t: edit(t, "budget_min", "30\nbudjet_minutes = 30"), "budjet_minutes"),
    ("bad ties", lambda t: edit(t, "ties", '"coin"'), "stars.ties"),
])
def test_invalid_policy_names_the_key(name, make, key, tmp_path):
    text = make(PRESET)
    with pytest.raises(ConfigError) as info:
        parse_policy(text, "policy file x.toml")
    msg = str(info.value)
    assert key in msg, msg
    assert "x.toml" in msg
    # and through load_policy from a file
    p = tmp_path / "bad.toml"
    p.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as info:
        load_policy(str(p))
    assert key in str(info.value) and str(p) in str(info.value)


def test_bad_toml():
    with pytest.raises(ConfigError) as info:
        parse_policy(PRESET + "\nthis is = = not toml\n", "policy file y.toml")
    assert "TOML" in str(info.value) and "y.toml" in str(info.value)


def test_unknown_preset_or_missing_file():
    with pytest.raises(ConfigError) as info:
        load_policy("beijing-1999")
    assert "beijing-1999" in str(info.value) and "chengdu-2014" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_policy("/nonexistent/centre.toml")
    assert "centre.toml" in str(info.value)


# --------------------------------------------------------------------------- numbers are data


def _day_with_late_and_busy():
    f_events = Day(DATE)
    f_events.clock("00:00")
    f_events.sign_in("A1", "08:06")          # late under grace 5
    f_events.spell("A1", "09:00", "09:21", "toilet")  # 21 min counted
    f_events.spell("A1", "10:00", "10:30", "coffee")  # 30 min counted
    f_events.sign_out("A1", "16:31")
    f_events.clock("23:59")
    return f_events.events


def _report(policy):
    f = Floor(policy)
    f.shift("A1", DATE, "08:00", "16:30", "12:00-12:30")
    return agent(f.report(_day_with_late_and_busy()), "A1")


def test_preset_numbers_baseline():
    # 51 min counted: > 30 at 10:09, > 45 at 10:24 -> -20; late -20
    a = _report("chengdu-2014")
    assert [(x["rule"], x["ts"], x["points"]) for x in a["deductions"]] == [
        ("late_sign_in", ms(DATE, "08:06"), -20),
        ("busy_over_30", ms(DATE, "10:09"), -10),
        ("busy_over_30", ms(DATE, "10:24"), -10)]
    assert a["items"]["site"] == 80 and a["items"]["utilization"] == 80


def test_modified_policy_changes_results():
    """budget 20 min, step 10, first -5, step -15, late sign-in -10, grace 10:
    21 + 30 = 51 counted -> > 20 at 09:20, > 30 at 10:09, > 40 at 10:19, > 50 at 10:29
    -> -5 -15 -15 -15 = -50; sign-in 08:06 is within grace 10 -> no late."""
    t = PRESET
    t = edit(t, "budget_min", "20")
    t = edit(t, "step_min", "10")
    t = edit(t, "first_points", "-5")
    t = edit(t, "step_points", "-15")
    t = edit(t, "default_grace_min", "10")
    t = edit(t, "late_sign_in_points", "-10")
    a = _report(parse_policy(t))
    assert [(x["rule"], x["ts"], x["points"]) for x in a["deductions"]] == [
        ("busy_over_30", ms(DATE, "09:20"), -5),
        ("busy_over_30", ms(DATE, "10:09"), -15),
        ("busy_over_30", ms(DATE, "10:19"), -15),
        ("busy_over_30", ms(DATE, "10:29"), -15)]
    assert a["items"]["utilization"] == 50 and a["items"]["site"] == 100


def test_modified_points_and_excused_reasons(tmp_path):
    t = PRESET
    t = edit(t, "late_sign_in_points", "-10")
    t = edit(t, "excused_reasons", '["meeting", "training", "system", "coffee"]')
    p = tmp_path / "centre.toml"
    p.write_text(t, "utf-8")
    a = _report(str(p))
    # coffee no longer counts: 21 min -> no busy deduction; late -10 -> site 90
    assert [(x["rule"], x["points"]) for x in a["deductions"]] == [("late_sign_in", -10)]
    assert a["items"]["site"] == 90 and a["items"]["utilization"] == 100
    assert a["kpi"]["busy_s_by_day"] == {DATE: 21 * 60}


def test_modified_bands_and_weights():
    t = PRESET
    t = edit(t, "max", "[120, 145, 155, 160, 165]", "bands.aht")
    f = Floor(parse_policy(t))
    f.shift("A1", DATE, "08:00", "16:30")
    d = Day(DATE)
    d.clock("00:00")
    d.workday("A1")
    d.call("A1", "09:00", 130_000)  # 130 s: 100 under the preset, 95 here
    d.clock("23:59")
    assert agent(f.report(d.events), "A1")["items"]["aht"] == 95


def test_modified_star_shares():
    t = edit(PRESET, "shares", "[10, 10, 30, 40, 10]")
    # N = 10: cumulative 1, 2, 5, 9, 10 -> 1, 1, 3, 4, 1
    assert star_counts(parse_policy(t), 10) == [1, 1, 3, 4, 1]
    assert star_counts(load_policy("chengdu-2014"), 10) == [1, 1, 2, 5, 1]
