"""`kefu-floor close` as HR runs it (DESIGN.md §3.4): the files, their formats, frozen months
and late events, streaks read from --history, bad flags."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import openpyxl

import pytest

from harness import ROOT
from harness.close import close_files, close_scenario, perfect_month
from harness.scenario_builder import Day, Floor


def close(*args):
    cmd = [sys.executable, "-m", "kefu_floor", "close", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_close_writes_json_csv_xlsx_and_a_closed_month_is_frozen(tmp_path):
    f, events = close_scenario()
    ev, ro, sc = close_files(tmp_path, f, events)
    out = tmp_path / "out"
    r = close(ev, "--roster", ro, "--schedule", sc, "--policy", "team-80-20",
              "--month", "2026-11", "--out", out)
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "close.json").read_text("utf-8"))
    assert doc["schema"] == "kefu-floor/close/1" and doc["policy"] == "team-80-20"
    assert doc["month"] == "2026-11" and doc["site"] == "default"
    assert doc["as_of"] == max(e["ts"] for e in events)
    assert [a["agent"] for a in doc["agents"]] == ["A1", "A2", "B1", "L1"]
    for a in doc["agents"]:
        assert {"agent", "name", "team", "role", "score", "star", "pay", "flags", "gold",
                "gold_run"} <= set(a)
    # A1: 2,800 + 700 (T1 mean (90 + 70) / 2 = 80 >= 80) + gold 300 = 3,800
    a1 = doc["agents"][0]
    assert a1["pay"]["total"] == 3800.0 and a1["gold"] is True
    # CSV: BOM, "中文 / English" headers, one row per person, no totals row
    raw = (out / "paysheet.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(out / "paysheet.csv", newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    head = rows[0]
    assert all(" / " in h for h in head)
    assert head[:6] == ["工号 / Agent", "姓名 / Name", "班组 / Team", "角色 / Role",
                        "得分 / Score", "星级 / Star"]
    assert "合计 / Total" in head and "个人奖金80% / Individual" in head
    assert len(rows) == 1 + 4
    by = {r[0]: dict(zip(head, r)) for r in rows[1:]}
    assert by["A1"]["姓名 / Name"] == "王一"
    assert by["A1"]["合计 / Total"] == "3800.00"
    assert by["A1"]["个人奖金80% / Individual"] == "2800.00"
    assert by["L1"]["角色 / Role"] == "leader"
    # L1: commission 1 per mille of 501,000 = 501
    assert by["L1"]["销售提成 / Commission"] == "501.00"
    # xlsx: a sheet per team plus the summary, frozen header, money formats, cell by cell
    wb = openpyxl.load_workbook(out / "paysheet.xlsx")
    assert wb.sheetnames == ["汇总 Summary", "T1", "T2"]
    ws = wb["T1"]
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]] == head
    assert [c.value for c in ws["A"]][1:] == ["A1", "A2", "L1"]
    tot = head.index("合计 / Total") + 1
    assert ws.cell(2, tot).value == 3800
    assert ws.cell(2, tot).number_format == "#,##0.00"
    assert ws.cell(2, 2).value == "王一"
    assert ws.max_row == 4  # header + 3 people, no totals row
    s = wb["汇总 Summary"]
    assert [c.value for c in s[1]] == ["班组 / Team", "值班长 / Leader", "人数 / People",
                                       "平均分 / Mean score", "团队奖 / Team bonus",
                                       "工资合计 / Pay total"]
    assert [c.value for c in s[2]][:4] == ["T1", "L1", 3, 80]
    # closing again with the same inputs: identical files
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r2 = close(ev, "--roster", ro, "--schedule", sc, "--policy", "team-80-20",
               "--month", "2026-11", "--out", out)
    assert r2.returncode == 0, r2.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # a late event for the month: the close stays as it was, the event is reported
    late = Day("2026-11-25").sale("A2", "10:00", 9_999_999)
    with open(ev, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(late) + "\n")
    r3 = close(ev, "--roster", ro, "--schedule", sc, "--policy", "team-80-20",
               "--month", "2026-11", "--out", out)
    assert r3.returncode == 0, r3.stderr
    assert "1 late event" in r3.stderr
    for name, data in before.items():
        assert (out / name).read_bytes() == data
    rep = json.loads((out / "late_events.json").read_text("utf-8"))
    assert rep["count"] == 1 and rep["first"][0]["amount"] == 9_999_999


@pytest.mark.slow
def test_history_gives_the_gold_run(tmp_path):
    # A1 gold in Sep and Oct (history), gold again in Nov: gold_run 3, gold_quarter 1,000
    hist = tmp_path / "hist"
    hist.mkdir()
    for mon, day in (("2026-09", "2026-09-08"), ("2026-10", "2026-10-13")):
        f, _ = close_scenario()
        ev = perfect_month(f, "A1", day, 90, sales=[500_000])
        ev += perfect_month(f, "A2", day, 70, sales=[1_000])
        d = tmp_path / mon
        d.mkdir()
        files = close_files(d, f, ev)
        r = close(files[0], "--roster", files[1], "--schedule", files[2], "--policy",
                  "team-80-20", "--month", mon, "--out", hist / mon, "--history", hist)
        assert r.returncode == 0, r.stderr
    f, events = close_scenario()
    ev, ro, sc = close_files(tmp_path, f, events)
    r = close(ev, "--roster", ro, "--schedule", sc, "--policy", "team-80-20", "--month",
              "2026-11", "--out", tmp_path / "nov", "--history", hist)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "nov" / "close.json").read_text("utf-8"))
    a1 = next(a for a in doc["agents"] if a["agent"] == "A1")
    assert a1["gold_run"] == 3 and a1["pay"]["gold_quarter"] == 1000
    assert a1["pay"]["total"] == 4800.0


def test_bad_flags_get_one_line(tmp_path):
    f, events = close_scenario()
    ev, ro, sc = close_files(tmp_path, f, events)
    r = close(ev, "--roster", ro, "--schedule", sc, "--month", "2026-11", "--out",
              tmp_path / "o", "--history", tmp_path / "nowhere")
    assert r.returncode == 1 and "--history" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "kefu_floor" / "policies" / "team-80-20.toml")
                   .read_text("utf-8").replace("team_threshold = 80", "team_threshold = \"x\""),
                   "utf-8")
    r = close(ev, "--roster", ro, "--schedule", sc, "--month", "2026-11", "--out",
              tmp_path / "o", "--policy", bad)
    assert r.returncode == 1 and "team8020.team_threshold" in r.stderr
    cal = tmp_path / "cal.csv"
    cal.write_text("date,kind\n2026-11-09,feast\n", "utf-8")
    r = close(ev, "--roster", ro, "--schedule", sc, "--month", "2026-11", "--out",
              tmp_path / "o", "--calendar", cal)
    assert r.returncode == 1 and "feast" in r.stderr and "Traceback" not in r.stderr


def excuse(*args):
    cmd = [sys.executable, "-m", "kefu_floor", "excuse", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_excuse_published_to_mqtt(mosquitto):
    import asyncio

    import aiomqtt

    from kefu_floor.schema import decode_event

    async def run():
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="excuse-t") as c:
            await c.subscribe("kefu/s1/manual", qos=1)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kefu_floor", "excuse", "--site", "s1", "--agent", "A1",
                "--rule", "late_sign_in", "--day", "2026-11-03", "--reason", "地铁故障",
                "--by", "L1", "--broker", mosquitto.url, stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            assert proc.returncode == 0, err
            async for msg in c.messages:
                return msg.payload

    payload = asyncio.run(asyncio.wait_for(run(), 60))
    e = decode_event(payload)
    assert (e.type, e.site, e.agent, e.rule, e.day, e.reason, e.by) == (
        "excuse", "s1", "A1", "late_sign_in", "2026-11-03", "地铁故障", "L1")


@pytest.mark.slow
def test_excuse_to_a_file_then_the_close_lists_who_approved_it(tmp_path):
    # A1 signs in at 08:07 on 3 Nov (late: -20 on site, no full attendance); the appeal
    # is approved by L1, appended to the events file: the close lists it, A1 keeps the
    # full-attendance 100 and has no appeal left open. B1, late on 4 Nov, not excused:
    # open, appeal by 11 Nov (5 working days: 5, 6, 9, 10, 11 Nov), past that on 20 Nov.
    f = Floor("chengdu-2014")
    f.agent("A1", team="T1")
    f.agent("B1", team="T1")
    f.shift("A1", "2026-11-03")
    f.shift("B1", "2026-11-04")
    d = Day("2026-11-03")
    d.sign_in("A1", "08:07")
    d.sign_out("A1", "16:30")
    d4 = Day("2026-11-04")
    d4.sign_in("B1", "08:07")
    d4.sign_out("B1", "16:30")
    Day("2026-11-20").clock("09:00")
    ev, ro, sc = close_files(tmp_path, f, d.events + d4.events + [Day("2026-11-20").clock("09:00")])
    r = excuse("--site", "default", "--agent", "A1", "--rule", "late_sign_in", "--day",
               "2026-11-03", "--reason", "地铁故障", "--by", "L1", "--out", ev)
    assert r.returncode == 0, r.stderr
    r = close(ev, "--roster", ro, "--schedule", sc, "--month", "2026-11", "--out",
              tmp_path / "out")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "out" / "close.json").read_text("utf-8"))
    a1 = next(a for a in doc["agents"] if a["agent"] == "A1")
    assert [(x["rule"], x["day"], x["by"], x["reason"]) for x in a1["excused"]] == [
        ("late_sign_in", "2026-11-03", "L1", "地铁故障")]
    assert a1["appeals_open"] == [] and a1["pay"]["full_attendance"] == 100
    b1 = next(a for a in doc["agents"] if a["agent"] == "B1")
    assert [(x["rule"], x["appeal_by"], x["past_deadline"]) for x in b1["appeals_open"]] == [
        ("late_sign_in", "2026-11-11", True)]
    assert b1["pay"]["full_attendance"] == 0
    bad = excuse("--site", "default", "--agent", "A1", "--rule", "late_sign_in", "--day",
                 "2026-11-31", "--reason", "x", "--by", "L1", "--out", ev)
    assert bad.returncode == 1 and bad.stderr.startswith("kefu-floor: error: --day")


def test_replay_table_shows_the_pay_sheet(tmp_path):
    f, events = close_scenario()
    ev, ro, sc = close_files(tmp_path, f, events)
    cmd = [sys.executable, "-m", "kefu_floor", "replay", str(ev), "--roster", str(ro),
           "--schedule", str(sc), "--policy", "team-80-20", "--month", "2026-11",
           "--format", "table", "--lang", "en"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "2026-11 pay sheet (team-80-20)" in r.stdout
    a1 = next(line for line in r.stdout.splitlines() if "│ A1 " in line and "2,800.00" in line)
    assert "3,800.00" in a1 and "Individual" in r.stdout and "个人" not in r.stdout


@pytest.mark.slow
def test_a_closed_month_is_kept_when_other_inputs_change(tmp_path):
    # the same November events, a roster that now gives A2 five products: the close of
    # November already in --out is not rewritten
    f, events = close_scenario()
    ev, ro, sc = close_files(tmp_path, f, events)
    out = tmp_path / "out"
    args = [ev, "--roster", ro, "--schedule", sc, "--policy", "chengdu-2014", "--month",
            "2026-11", "--out", out]
    assert close(*args).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    ro.write_text(ro.read_text("utf-8").replace("A2,张三,T1,agent,2020-01-01,false,3",
                                                "A2,张三,T1,agent,2020-01-01,false,5"), "utf-8")
    r = close(*args)
    assert r.returncode == 0 and "kept as it was" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    r = close(*args[:-1], tmp_path / "fresh")
    doc = json.loads((tmp_path / "fresh" / "close.json").read_text("utf-8"))
    assert next(a for a in doc["agents"] if a["agent"] == "A2")["pay"]["subsidy"] == 300
