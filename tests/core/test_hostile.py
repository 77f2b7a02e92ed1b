"""Hostile input (issue 8): no payload raises, stalls or rewrites the floor; every
rejection is counted. Each test reproduces one probe of the issue."""
import json
import tracemalloc

import numpy as np
import pytest
from harness.scenario_builder import DAY, HOUR, Day, Floor, agent, decode

from kefu_floor.cli.main import main
from kefu_floor.engine import Engine
from kefu_floor.live.ingest import Ingest
from kefu_floor.views.report import build_report
from kefu_floor.schema import decode_event, decode_payload
from kernels import layout as K
from kernels.clock import local_day

DATE = "2026-11-03"
YEAR = 365 * DAY


def floor() -> Floor:
    f = Floor(site="cd1")
    for a in ("A1", "A2", "A3"):
        f.shift(a, DATE, "08:00", "16:30", "12:00-12:30")
    return f


def good_day(srcs=("gw1", "gw2")) -> list[dict]:
    """A small day from two gateways (each numbering its events), sorted by time."""
    d = Day(DATE, site="cd1")
    d.clock("00:00")
    for k, a in enumerate(("A1", "A2", "A3")):
        d.sign_in(a, f"08:0{k}")
        for h in range(9, 16):
            d.answer(a, f"{h:02d}:0{k}", f"c{a}{h}", wait_ms=3000)
            d.hangup(a, f"{h:02d}:0{k}:40", f"c{a}{h}")
            d.ready(a, f"{h:02d}:0{k}:50")
            d.busy(a, f"{h:02d}:2{k}", "toilet")
            d.ready(a, f"{h:02d}:2{k + 4}")
        d.sign_out(a, f"16:3{k + 1}")
    d.clock("23:59")
    evs = d.events
    seq = {}
    for i, e in enumerate(evs):
        s = srcs[i % len(srcs)]
        seq[s] = seq.get(s, 0) + 1
        e["src"], e["seq"] = s, seq[s]
    return evs


def run(events, cuts=None):
    f = floor()
    eng = f.engine()
    evs = decode(events)
    bounds = [0, *sorted(set(c for c in (cuts or []) if 0 < c < len(evs))), len(evs)]
    for a, b in zip(bounds, bounds[1:]):
        eng.feed(evs[a:b])
    return eng, build_report(eng.finish(), None)


def scores(rep):
    """The report without its counters: what people are scored on."""
    return json.dumps({k: v for k, v in rep.items() if k != "counters"}, sort_keys=True)


CLEAN = None


def clean():
    global CLEAN
    if CLEAN is None:
        CLEAN = scores(run(good_day())[1])
    return CLEAN


def inject(events, at, extra):
    return events[:at] + extra + events[at:]


# ------------------------------------------------------------------ decoder


def test_deeply_nested_payload_is_rejected_not_raised():
    p = b"[" * 1000 + b"]" * 1000  # 2 KB: raised RecursionError and stopped serve
    good, bad = decode_payload(p)
    assert good == [] and [r.reason for r in bad] == ["bad_json"]
    assert "nested" in bad[0].detail
    line = b'{"type":"ready","ts":1793700000000,"agent":"A1","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(Exception) as e:
        decode_event(line)
    assert e.value.reason == "bad_json"
    good, bad = decode_payload(b"[" + line + b"]")
    assert [r.reason for r in bad] == ["bad_json"]


@pytest.mark.parametrize("field, value", [
    ("ts", 253_402_300_799_999),  # 9999-12-31: stalled 35 s, then crashed day_str
    ("ts", 4_102_444_800_000),  # 2100-01-01: past the offset table
    ("ts", 0),
    ("agent", "A" * 65),  # long ids cost width x batch length
    ("agent", "A\x00B"),
    ("seat", "S\n1"),
    ("wait_ms", 10**12),
    ("amount", 1e300),
    ("points", -1e9),
    ("month", "0000-01"),
    ("month", "9999-12"),
    ("day", "0001-01-01"),
])
def test_field_ranges(field, value):
    e = {"type": "answer", "ts": 1793700000000, "agent": "A1", "call": "c", "queue": "q"}
    if field in ("amount",):
        e = {"type": "sale", "ts": 1793700000000, "agent": "A1", "amount": 1}
    if field in ("points", "month"):
        e = {"type": "adjust", "ts": 1793700000000, "agent": "A1", "points": 1, "reason": "x"}
    if field == "day":
        e = {"type": "excuse", "ts": 1793700000000, "agent": "A1", "rule": "absent",
             "reason": "x", "day": "2026-11-03"}
    e[field] = value
    good, bad = decode_payload(json.dumps(e).encode())
    assert good == [] and [r.reason for r in bad] == ["invalid_value"], bad[0].detail


@pytest.mark.slow
def test_bad_element_amplification_is_bounded():
    """An 800 KB array of 400 k bad elements took 1.5 GB: one dead letter per payload."""
    n = 200_000
    p = b"[" + b"1," * (n - 1) + b"1]"
    eng = floor().engine()
    ing = Ingest({"cd1": eng})
    tracemalloc.start()
    ing.handle_many([("kefu/cd1/telemetry", p)])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert eng.counters()["rejected_wrong_type"] == n  # every one counted
    dead = ing.take_dead()
    assert len(dead) == 1  # one dead letter, not n
    body = json.loads(dead[0].body)
    assert body["rejected"] == n and body["counts"] == {"wrong_type": n}
    assert len(body["details"]) <= 20 and len(dead[0].body) < 20_000
    assert peak < 40 * len(p)  # bounded by the payload's size, not n x 2 KB


def test_unknown_id_flood_is_capped():
    eng = floor().engine()
    cap = eng.policy.limits.max_unknown_agents
    n = cap + 300
    evs = [{"type": "ready", "ts": 1793700000000 + i, "agent": f"X{i}"} for i in range(n)]
    out = eng.feed(decode(evs))
    assert len(out) == 300 and {r.reason for r, _, _ in out} == {"over_cap"}
    assert eng.counters()["rejected_over_cap"] == 300
    assert eng.n_agents <= 2 * (3 + cap)  # rows grow by doubling, never per bogus id
    # the roster's own agents are never capped
    assert not eng.feed(decode([{"type": "ready", "ts": 1793700100000, "agent": "A1"}]))


# ------------------------------------------------------------------ clock


@pytest.mark.parametrize("ahead", [DAY, YEAR, 8 * HOUR, HOUR])
def test_one_event_far_ahead_moves_nothing(ahead):
    """A ts one day ahead booked 358 false busy deductions; a year ahead wiped the month."""
    evs = good_day()
    bad = dict(evs[40], ts=evs[40]["ts"] + ahead, src="gw9", seq=1)
    eng, rep = run(inject(evs, 41, [bad]))
    assert scores(rep) == clean()
    assert eng.counters()["rejected_clock_skew"] == 1


def test_far_ahead_from_the_same_gateway_is_held_and_rejected():
    evs = good_day()
    bad = dict(evs[40], ts=evs[40]["ts"] + DAY)  # keeps gw1's src, a fresh seq
    bad["seq"] = 10_000
    eng, rep = run(inject(evs, 41, [bad]))
    assert scores(rep) == clean()
    assert eng.counters()["rejected_clock_skew"] == 1


@pytest.mark.parametrize("off", [8 * HOUR, HOUR, -8 * HOUR, -HOUR])
def test_a_source_on_the_wrong_time_zone_moves_no_figures(off):
    """A third gateway whose clock is off sends its events in batches: none applies."""
    evs = good_day()
    out, k = [], 0
    for i, e in enumerate(evs):
        out.append(e)
        if i % 37 == 5 and 0 < i < len(evs) - 10:
            batch = [dict(x, ts=x["ts"] + off, src="gw3", seq=k + j + 1)
                     for j, x in enumerate(evs[i:i + 5])]
            k += len(batch)
            out.extend(batch)
    for cuts in (None, list(range(1, len(out), 7))):
        eng, rep = run(out, cuts)
        assert scores(rep) == clean()
        assert eng.counters()["rejected_clock_skew"] == k


def test_overnight_gap_of_every_source_is_accepted():
    """All sources jump together (23:00 -> 07:00): the jump is confirmed, nothing lost."""
    f = floor()
    f.shift("A1", "2026-11-04", "08:00", "16:30")
    d = Day(DATE, site="cd1")
    seq = {"gw1": 0, "gw2": 0}

    def ev(fn, *a, src):
        seq[src] += 1
        return fn(*a, src=src, seq=seq[src])
    ev(d.sign_in, "A1", "08:00", src="gw1")
    ev(d.sign_out, "A1", "16:30", src="gw1")
    ev(d.enqueue, "23:00", "c1", src="gw2")
    n2 = d.next()
    ev(n2.sign_in, "A1", "07:58", src="gw1")
    ev(n2.enqueue, "07:59", "c2", src="gw2")
    ev(n2.answer, "A1", "08:00", "c2", src="gw1")
    ev(n2.hangup, "A1", "08:02", "c2", src="gw2")
    eng = f.engine()
    assert not eng.feed(decode(d.events))
    c = eng.counters()
    assert c["accepted"] == 7 and c["held"] == 0 and c["clock_jumps"] >= 1
    assert "rejected_clock_skew" not in c


def test_a_survey_let_through_while_a_jump_is_held_is_applied_before_the_jump():
    """Rows are applied in the order admission lets them through: a survey sent while a
    jump over midnight is being confirmed goes before the jump, whether the stream comes in
    one batch or event by event (in one batch it went after it, onto the next day)."""
    d = Day(DATE, site="cd1")
    n2 = d.next()
    seq = {"gw1": 0, "gw2": 0}

    def ev(fn, *a, src, **kw):
        seq[src] += 1
        return fn(*a, src=src, seq=seq[src], **kw)
    ev(d.sign_in, "A1", "08:00", src="gw1")
    ev(d.answer, "A1", "09:00", "c1", src="gw1", wait_ms=1000)
    ev(d.hangup, "A1", "09:05", "c1", src="gw1")
    ev(d.sign_out, "A1", "16:31", src="gw1")
    ev(d.enqueue, "23:20", "c2", src="gw2")
    ev(d.abandon, "23:21", "c2", src="gw1", wait_ms=60_000)
    ev(n2.enqueue, "02:20", "c3", src="gw1")  # three hours ahead: held
    ev(d.survey, "A1", "23:22", "c1", src="gw1")  # meanwhile
    ev(n2.enqueue, "02:21", "c4", src="gw2")  # both gateways ahead: the jump is confirmed
    ev(n2.abandon, "02:22", "c3", src="gw1", wait_ms=120_000)
    evs = decode(d.stream.raw)
    states = []
    for cut in (len(evs), 1):
        eng = floor().engine()
        for k in range(0, len(evs), cut):
            assert not eng.feed(evs[k:k + cut])
        c = eng.counters()
        assert c["accepted"] == len(evs) and c["clock_jumps"] >= 1
        states.append(eng)
    one, each = states
    day = one.slot_day.tolist().index(local_day(one.tz_utc, one.tz_off, d.t("12:00")))
    assert one.DACC[day, one.sym.agents.ids["A1"], K.D_SURVEYS] == 1
    assert np.array_equal(one.DACC, each.DACC)


def test_far_future_ts_in_replay(tmp_path, capsys):
    """ts at 9999-12-31 took 38 s and ended in a traceback; a year ahead is held."""
    evs = good_day()
    lines = [json.dumps(e) for e in evs]
    lines.insert(30, json.dumps(dict(evs[29], ts=253_402_300_799_999)))
    lines.insert(60, json.dumps(dict(evs[58], ts=evs[58]["ts"] + YEAR, seq=99_999)))
    p = tmp_path / "events.jsonl"
    p.write_text("\n".join(lines) + "\n")
    rs, sc = write_people(tmp_path)
    code = main(["replay", str(p), "--roster", str(rs), "--schedule", str(sc),
                 "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 3
    assert f"{p}:31: rejected (invalid_value)" in err
    assert f"{p}:61: rejected (clock_skew)" in err
    rep = json.loads(out)
    assert rep["counters"]["rejected"] == 2


def test_far_future_ts_live_is_rejected_against_the_wall_clock():
    eng = Engine(floor().setup(), live=True)
    wall = 1793700000000
    ing = Ingest({"cd1": eng}, wall_ahead_ms=300_000, wall_ms=lambda: wall)
    ok = {"type": "ready", "ts": wall, "agent": "A1", "site": "cd1"}
    ahead = dict(ok, ts=wall + 301_000)
    assert ing.handle_many([("kefu/cd1/telemetry", json.dumps([ok, ahead]).encode())]) == 1
    assert eng.counters()["rejected_clock_skew"] == 1
    assert eng.now == wall
    assert json.loads(ing.take_dead()[0].body)["reason"] == "clock_skew"


# ------------------------------------------------------------------ dedup


def _seq_events(seqs, src="gw1", epoch=None, t0=1793700000000):
    out = []
    for k, s in enumerate(seqs):
        e = {"type": "sale", "ts": t0 + k * 1000, "agent": "A1", "amount": 1.0, "src": src,
             "seq": s}
        if epoch is not None:
            e["epoch"] = epoch
        out.append(e)
    return out


def test_huge_seq_jump_does_not_silence_the_source():
    """One event with a huge seq made every later one a duplicate (40,164 dropped)."""
    eng = floor().engine()
    eng.feed(decode(_seq_events([1, 2, 3, 2**52, 4, 5, 6])))
    c = eng.counters()
    assert c["accepted"] == 7 and c["duplicates"] == 0
    assert c["gaps"] == 0 and c["seq_jumps"] == 1 and c["seq_restarts"] == 1


def test_gateway_restart_counting_from_one_is_not_silenced():
    eng = floor().engine()
    eng.feed(decode(_seq_events(range(1, 201))))
    eng.feed(decode(_seq_events(range(1, 51), t0=1793700300000)))
    c = eng.counters()
    assert c["accepted"] == 250 and c["duplicates"] == 0 and c["seq_restarts"] == 1


def test_restart_with_epoch_within_the_window():
    eng = floor().engine()
    eng.feed(decode(_seq_events(range(1, 11), epoch=1)))
    eng.feed(decode(_seq_events(range(1, 11), epoch=2, t0=1793700300000)))
    eng.feed(decode(_seq_events([5], epoch=1, t0=1793700400000)))  # the old boot: stale
    c = eng.counters()
    assert c["accepted"] == 20 and c["duplicates"] == 1 and c["seq_restarts"] == 1


def test_out_of_order_within_the_window_is_not_a_duplicate():
    eng = floor().engine()
    eng.feed(decode(_seq_events([1, 2, 5, 3, 4, 60, 8, 6, 7])))
    c = eng.counters()
    assert c["accepted"] == 9 and c["duplicates"] == 0
    assert c["gaps"] == 60 - 9  # 9..59 still missing
    eng.feed(decode(_seq_events([3, 60], t0=1793700100000)))  # resent: duplicates
    assert eng.counters()["duplicates"] == 2


# ------------------------------------------------------------------ month


def test_qa_month_far_from_its_own_is_refused():
    """One qa with month 2027-11 wiped every November QA score."""
    f = floor()
    d = Day(DATE, site="cd1")
    d.qa("A1", "18:00", "recording", 90)
    d.qa("A2", "18:01", "recording", 70, month="2027-11")
    d.adjust("A2", "18:02", 2, month="2025-11")
    d.qa("A2", "18:03", "recording", 80, month="2026-10")  # last month: fine
    eng = f.engine()
    out = eng.feed(decode(d.events))
    assert [r.reason for r, _, _ in out] == ["invalid_value", "invalid_value"]
    assert "limits.month_max_apart" in out[0][0].detail
    rep = build_report(eng.finish(), 2026 * 12 + 10)
    assert agent(rep, "A1")["items"]["recording"] == 90


# ------------------------------------------------------------------ files and flags


def write_people(tmp, roster=None, schedule=None):
    rs, sc = tmp / "roster.csv", tmp / "schedule.csv"
    rs.write_text(roster if roster is not None else
                  "agent,name,team,role,hired,probation,products\n"
                  "A1,甲,T1,agent,2025-01-01,false,3\nA2,乙,T1,agent,2025-01-01,false,3\n"
                  "A3,丙,T2,agent,2025-01-01,false,3\n", encoding="utf-8")
    sc.write_text(schedule if schedule is not None else
                  "agent,date,start,end,breaks,grace_min\n" + "".join(
                      f"{a},{DATE},08:00,16:30,12:00-12:30,\n" for a in ("A1", "A2", "A3")),
                  encoding="utf-8")
    return rs, sc


@pytest.fixture
def day_file(tmp_path):
    p = tmp_path / "events.jsonl"
    p.write_text("".join(json.dumps(e) + "\n" for e in good_day()))
    return p


def _replay(capsys, *args):
    code = main(["replay", *map(str, args), "--format", "json"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case, expect", [
    ("no_team_column", "lacks column(s) team"),
    ("header_only", "no agents"),
    ("empty_file", "empty"),
    ("empty_team", "column team is empty"),
    ("no_breaks_column", "lacks column(s) breaks"),
    ("roster_is_dir", "is a directory"),
    ("events_is_dir", "is a directory"),
    ("events_utf16", "UTF-16"),
    ("month_0000", "2000-01 .. 2099-12"),
    ("month_9999", "2000-01 .. 2099-12"),
    ("month_13", "not a month"),
    ("bad_site", "site id"),
    ("binary_roster", "UTF-8"),
])
def test_file_and_flag_problems_are_one_line(tmp_path, capsys, day_file, case, expect):
    rs, sc = write_people(tmp_path)
    ev = day_file
    extra = []
    if case == "no_team_column":
        rs.write_text("agent,name,role,hired,probation,products\nA1,甲,agent,,false,3\n")
    elif case == "header_only":
        rs.write_text("agent,name,team,role,hired,probation,products\n")
    elif case == "empty_file":
        rs.write_text("")
    elif case == "empty_team":
        rs.write_text("agent,name,team,role,hired,probation,products\nA1,甲,,agent,,false,3\n")
    elif case == "no_breaks_column":
        sc.write_text(f"agent,date,start,end,grace_min\nA1,{DATE},08:00,16:30,\n")
    elif case == "roster_is_dir":
        rs = tmp_path
    elif case == "events_is_dir":
        ev = tmp_path
    elif case == "events_utf16":
        ev = tmp_path / "u16.jsonl"
        ev.write_bytes(day_file.read_text().encode("utf-16"))
    elif case.startswith("month_"):
        extra = ["--month", {"month_0000": "0000-01", "month_9999": "9999-12",
                             "month_13": "2026-13"}[case]]
    elif case == "bad_site":
        extra = ["--site", "cd1/#"]
    elif case == "binary_roster":
        rs.write_bytes(b"\x81\x30\xff\xff\x00\x01" * 10)
    code, out, err = _replay(capsys, ev, "--roster", rs, "--schedule", sc, *extra)
    assert code == 1, err
    assert out == ""
    lines = [ln for ln in err.splitlines() if ln.startswith("kefu-floor: error")]
    assert len(lines) == 1 and expect in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("enc", ["utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_spreadsheet_encodings_are_read_and_named(tmp_path, capsys, day_file, enc):
    rs, sc = write_people(tmp_path)
    rs.write_bytes(rs.read_text("utf-8").encode(enc))
    sc.write_bytes(sc.read_text("utf-8").encode(enc))
    code, out, err = _replay(capsys, day_file, "--roster", rs, "--schedule", sc)
    assert code == 0, err
    rep = json.loads(out)
    assert {a["name"] for a in rep["agents"]} == {"甲", "乙", "丙"}
    if enc != "utf-8-sig":
        assert "not UTF-8" in err and "CSV UTF-8" in err


def test_events_file_with_a_byte_order_mark(tmp_path, capsys, day_file):
    rs, sc = write_people(tmp_path)
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + day_file.read_bytes())
    code, out, err = _replay(capsys, p, "--roster", rs, "--schedule", sc)
    assert code == 0, err


def test_replay_without_roster_or_schedule_says_what_it_cannot_check(capsys, day_file):
    code, out, err = _replay(capsys, day_file)
    assert code == 0
    assert "no --roster" in err and "roster membership" in err
    assert "no --schedule" in err and "attendance" in err and "breaks" in err


def test_month_without_data_exits_4(tmp_path, capsys, day_file):
    rs, sc = write_people(tmp_path)
    code, out, err = _replay(capsys, day_file, "--roster", rs, "--schedule", sc,
                             "--month", "2026-09")
    assert code == 4 and out == ""
    assert "no data for 2026-09" in err and "2026-11" in err


@pytest.mark.parametrize("flags, expect", [
    (["--max-payload", "0"], "--max-payload"),
    (["--ws-port", "70000"], "--ws-port"),
    (["--lateness-ms", "-5"], "--lateness-ms"),
    (["--site", "a b"], "site id"),
    (["--site", "x", "--site", "x"], "twice"),
    (["--delta-ms", "0"], "--delta-ms"),
])
def test_serve_flag_problems_are_one_line(tmp_path, capsys, flags, expect):
    rs, sc = write_people(tmp_path)
    code = main(["serve", "--roster", str(rs), "--schedule", str(sc), *flags])
    _, err = capsys.readouterr()
    assert code == 1 and expect in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
