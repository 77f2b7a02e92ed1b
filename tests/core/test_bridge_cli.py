"""`kefu-floor bridge asterisk` as a person runs it: a messy real-world queue_log, the
realtime table's CSV export and SQLite forms, and one clear line for every bad file or flag."""
from __future__ import annotations

import json
import sqlite3

import pytest

from kefu_floor.cli.main import main
from kefu_floor.replay import read_events

T0 = 1_793_700_000

# the shapes a real FreePBX / Issabel log has, in the order Asterisk writes them
MESSY = f"""\
{T0}|NONE|NONE|NONE|QUEUESTART|
{T0 + 1}|NONE|NONE|NONE|CONFIGRELOAD|
{T0 + 2}|REALTIME|400|Local/3001@from-queue/n|ADDMEMBER|
{T0 + 2}|1793700002.4|401|Local/3001@from-queue/n|ADDMEMBER|
{T0 + 3}|NONE|NONE|Local/3001@from-queue/n|PAUSEALL|
{T0 + 3}|NONE|400|Local/3001@from-queue/n|PAUSE|
{T0 + 3}|NONE|401|Local/3001@from-queue/n|PAUSE|
{T0 + 9}|NONE|NONE|Local/3001@from-queue/n|UNPAUSEALL|
{T0 + 9}|NONE|400|Local/3001@from-queue/n|UNPAUSE|
{T0 + 9}|NONE|401|Local/3001@from-queue/n|UNPAUSE|
{T0 + 10}|1793700010.7|400|NONE|DID|4008001234
{T0 + 10}|1793700010.7|400|NONE|ENTERQUEUE||13800000000|1
{T0 + 11}|1793700010.7|400|Local/3001@from-queue/n|RINGNOANSWER|1000
{T0 + 12}|1793700010.7|400|Local/3001@from-queue/n|RINGCANCELED|1000
{T0 + 20}|1793700010.7|400|Local/3001@from-queue/n|CONNECT|10|1793700011.8|9
{T0 + 80}|1793700010.7|400|Local/3001@from-queue/n|COMPLETEAGENT|10|60|1
{T0 + 81}|1793700081.9|401|NONE|ENTERQUEUE||13900000000|1
{T0 + 81}|1793700081.9|401|NONE|FULL|
{T0 + 95}|1793700081.9|401|NONE|ABANDON|1|1|14
{T0 + 96}|NONE|401|SIP/9999|PAUSE|
garbage that is not a line
{T0 + 97}|MANAGER|400|Local/3001@from-queue/n|REMOVEMEMBER|
{T0 + 98}|MANAGER|401|Local/3001@from-queue/n|REMOVEMEMBER|
"""


def _members(tmp_path):
    p = tmp_path / "members.csv"
    p.write_text("member,agent\nLocal/3001@from-queue/n,A001\n")
    return str(p)


def test_a_messy_real_log_converts_reports_and_replays(tmp_path, capsys):
    log = tmp_path / "queue_log"
    log.write_text(MESSY)
    out = tmp_path / "events.jsonl"
    rc = main(["bridge", "asterisk", str(log), "--site", "cd1", "--members",
               _members(tmp_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 3
    assert f"{log}:21: skipped (too_few_fields)" in err
    assert "member 'SIP/9999' is not in the members file" in err
    assert "event 'FULL' is not an app_queue event" in err
    assert "unknown events: 1 (FULL 1)" in err
    types = [e.type for _, e in read_events(out)]
    assert types == ["sign_in", "busy", "ready", "enqueue", "offer", "no_answer", "offer",
                     "answer", "hangup", "wrap_end", "enqueue", "abandon", "sign_out"]


def test_the_realtime_table_as_csv_export_and_as_sqlite(tmp_path):
    rows = [
        ("2026-11-03 08:00:00.000000", "NONE", "NONE", "NONE", "QUEUESTART", "", "", ""),
        ("2026-11-03 08:00:01.100000", "u1", "400", "NONE", "ENTERQUEUE", "", "138", "1"),
        ("2026-11-03 08:00:04.600000", "u1", "400", "Local/3001@from-queue/n", "CONNECT",
         "3", "u2", "1"),
        ("2026-11-03 08:01:04.900000", "u1", "400", "Local/3001@from-queue/n",
         "COMPLETECALLER", "3", "60", "1"),
    ]
    tsv = tmp_path / "queue_log.tsv"
    tsv.write_text("id\ttime\tcallid\tqueuename\tagent\tevent\tdata1\tdata2\tdata3\tdata4\tdata5\n"
                   + "".join(f"{k}\t" + "\t".join(r) + "\t\t\n" for k, r in enumerate(rows, 1)))
    db = tmp_path / "asterisk.sqlite3"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE queue_log (id INTEGER PRIMARY KEY, time TEXT, callid TEXT, "
                "queuename TEXT, agent TEXT, event TEXT, data TEXT)")
    con.executemany("INSERT INTO queue_log (time, callid, queuename, agent, event, data) "
                    "VALUES (?,?,?,?,?,?)", [(*r[:5], "|".join(r[5:]).rstrip("|")) for r in rows])
    con.commit()
    con.close()
    outs = []
    for kind, path in (("csv", tsv), ("sqlite", db)):
        out = tmp_path / f"{kind}.jsonl"
        assert main(["bridge", "asterisk", str(path), "--input", kind, "--site", "cd1",
                     "--members", _members(tmp_path), "--out", str(out)]) == 0
        outs.append([json.loads(x) for x in out.read_text().splitlines()])
    assert outs[0] == outs[1]
    # the table keeps microseconds in local time: sub-second event times survive
    t = 1_793_664_000_000
    assert [(e["type"], e["ts"] - t) for e in outs[0]] == [
        ("enqueue", 1_100), ("offer", 4_600), ("answer", 4_600), ("hangup", 64_900),
        ("wrap_end", 64_900)]
    assert outs[0][2]["wait_ms"] == 3_000


@pytest.mark.parametrize("argv, msg", [
    (["--out", "o.jsonl"], "--members CSV (member,agent) is needed"),
    (["--members-as-ids", "--follow", "--out", "o.jsonl"], "--follow needs --state FILE"),
    (["--members-as-ids"], "give one of --out EVENTS.jsonl or --broker URL"),
    (["--members-as-ids", "--broker", "http://x", "--state", "s.json"],
     "--broker 'http://x': expected mqtt://"),
    (["--members-as-ids", "--broker", "mqtt://x"], "--broker needs --state FILE"),
    (["--members-as-ids", "--db-tz", "Mars/Base", "--out", "o.jsonl"], "--db-tz 'Mars/Base'"),
    (["--members", "nope.csv", "--out", "o.jsonl"], "members file nope.csv: cannot open it"),
    (["--members", "bad.csv", "--out", "o.jsonl"], "the header must name the columns member,agent"),
])
def test_bad_flags_and_files_get_one_line(tmp_path, monkeypatch, capsys, argv, msg):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "queue_log").write_text(MESSY)
    (tmp_path / "bad.csv").write_text("name,id\nx,y\n")
    rc = main(["bridge", "asterisk", "queue_log", "--site", "cd1", *argv])
    err = capsys.readouterr().err
    assert rc == 1 and msg in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_queue_log_is_one_line(tmp_path, capsys):
    rc = main(["bridge", "asterisk", str(tmp_path / "none"), "--site", "cd1",
               "--members-as-ids", "--out", str(tmp_path / "o.jsonl")])
    assert rc == 1 and "no such file" in capsys.readouterr().err


def test_a_state_file_belongs_to_its_log(tmp_path, capsys):
    a, b = tmp_path / "a_log", tmp_path / "b_log"
    a.write_text(MESSY)
    b.write_text(MESSY)
    st = tmp_path / "st.json"
    common = ["--site", "cd1", "--members", _members(tmp_path), "--state", str(st)]
    assert main(["bridge", "asterisk", str(a), *common, "--out", str(tmp_path / "1.jsonl")]) == 3
    # the same again: everything was sent already, nothing new goes out
    assert main(["bridge", "asterisk", str(a), *common, "--out", str(tmp_path / "1.jsonl")]) == 3
    assert len((tmp_path / "1.jsonl").read_text().splitlines()) == 13
    capsys.readouterr()
    assert main(["bridge", "asterisk", str(b), *common, "--out", str(tmp_path / "2.jsonl")]) == 1
    assert "is the position in" in capsys.readouterr().err
