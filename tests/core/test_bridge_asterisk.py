"""The Asterisk queue_log mapping core, line by line: every mapped verb, every unit trap,
the lines a real log has that carry nothing (NONE placeholders, QUEUESTART, unknown verbs,
malformed lines), and the state a restart carries over. No sockets, no files."""
from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from kefu_floor.bridge.asterisk import Malformed, Mapper, parse_db_row, parse_line
from kefu_floor.bridge.tables import Tables

T0 = 1_793_700_000  # 2026-11-03 ... UTC, whole seconds as Asterisk writes them

MEMBERS = {"SIP/8001": "A001", "PJSIP/8002": "A002", "Local/3003@from-queue/n": "A003",
           "Agent/3004": "A004", "3004": "A004"}
REASONS = {"午饭": "lunch", "Auto-Pause": "system", "培训": "training"}


def mapper(**kw) -> Mapper:
    return Mapper(Tables(members=dict(MEMBERS), reasons=dict(REASONS)), "cd1", "pbx1", **kw)


def run(m: Mapper, text: str) -> list[dict]:
    """Feed hand-written lines (`+N|` is T0+N seconds), return the events as dicts."""
    out = []
    for n, line in enumerate(text.strip().splitlines(), 1):
        line = line.strip()
        if line.startswith("+"):
            off, rest = line[1:].split("|", 1)
            line = f"{T0 + int(off)}|{rest}"
        try:
            rec = parse_line(line, n)
        except Malformed as e:
            m.malformed(n, e)
            continue
        out += [_d(e) for e in m.feed(rec)]
    out += [_d(e) for e in m.finish()]
    return out


def _d(e) -> dict:
    d = {k: getattr(e, k) for k in ("type", "ts", "agent", "call", "queue", "wait_ms",
                                     "reason") if getattr(e, k) is not None}
    d["ts"] = (d["ts"] - T0 * 1000)  # ms after T0
    return d


def types(evs):
    return [e["type"] for e in evs]


def test_answered_call_holdtime_is_seconds_ringtime_ignored():
    evs = run(mapper(), """
        +0|1793700000.11|aftersale|NONE|ENTERQUEUE||13800000000|1
        +12|1793700000.11|aftersale|SIP/8001|CONNECT|12|1793700012.12|4
        +152|1793700000.11|aftersale|SIP/8001|COMPLETECALLER|12|140|1
    """)
    call = "1793700000.11"
    assert evs == [
        {"type": "enqueue", "ts": 0, "call": call, "queue": "aftersale"},
        {"type": "offer", "ts": 12_000, "agent": "A001", "call": call, "queue": "aftersale"},
        {"type": "answer", "ts": 12_000, "agent": "A001", "call": call, "queue": "aftersale",
         "wait_ms": 12_000},
        {"type": "hangup", "ts": 152_000, "agent": "A001", "call": call},
        {"type": "wrap_end", "ts": 152_000, "agent": "A001", "call": call}]


def test_ringnoanswer_is_milliseconds_and_gives_offer_and_no_answer():
    m = mapper(min_ring_ms=1000)
    evs = run(m, """
        +0|u1|presale|NONE|ENTERQUEUE||138|1
        +15|u1|presale|PJSIP/8002|RINGNOANSWER|15000
        +15|u1|presale|SIP/8001|RINGNOANSWER|0
        +20|u1|presale|Local/3003@from-queue/n|CONNECT|20|u2|5
    """)
    assert types(evs) == ["enqueue", "offer", "no_answer", "offer", "answer"]
    assert evs[1]["agent"] == evs[2]["agent"] == "A002" and evs[2]["ts"] == 15_000
    assert evs[4]["wait_ms"] == 20_000 and evs[4]["agent"] == "A003"
    # a seat that was busy/unreachable at once (0 ms) is below --min-ring-ms: not offered
    assert m.stats["adjusted"] == {"ring_shorter_than_min_ring_ms": 1}
    # without the setting it is a ring-no-answer like any other
    evs = run(mapper(), "+0|u1|presale|NONE|ENTERQUEUE||138|1\n+1|u1|presale|SIP/8001|RINGNOANSWER|0")
    assert types(evs) == ["enqueue", "offer", "no_answer"]


@pytest.mark.parametrize("line", [
    "COMPLETEAGENT|5|60|1",
    "COMPLETECALLER|5|60|1",
    "TRANSFER|8888|from-internal|5|60",                       # 1.4 - 11
    "TRANSFER|8888|from-internal|5|60|1",
    "BLINDTRANSFER|8888|from-internal|5|60|1",
    "ATTENDEDTRANSFER|BRIDGE|5c2b7e6a-0d7e-4b5e-9c3a-2a3c1d2e3f40|5|60|1",
    "ATTENDEDTRANSFER|APP|VoiceMail|5|60|1",
    "ATTENDEDTRANSFER|LINK|PJSIP/8001-0001|PJSIP/8009-0002|5|60|1",
])
def test_every_end_of_talk_is_a_hangup(line):
    evs = run(mapper(), f"""
        +0|u1|aftersale|NONE|ENTERQUEUE||138|1
        +5|u1|aftersale|SIP/8001|CONNECT|5|u2|2
        +65|u1|aftersale|SIP/8001|{line}
    """)
    assert types(evs) == ["enqueue", "offer", "answer", "hangup", "wrap_end"]
    assert evs[3] == {"type": "hangup", "ts": 65_000, "agent": "A001", "call": "u1"}


@pytest.mark.parametrize("line, wait_s", [
    ("ABANDON|3|1|42", 42),
    ("EXITWITHTIMEOUT|1|1|42", 42),
    ("EXITEMPTY|1|1|42", 42),
    ("EXITWITHKEY|5|1|1|42", 42),        # key|position|origposition|waittime
    ("EXITWITHKEY|5|1", 40),             # older: key|position, wait from ENTERQUEUE
    ("WITHDRAW|1|1|42|moved to callback", 42),
    ("ABANDON|3|1", 40),                 # a data field missing: wait from ENTERQUEUE
    ("ABANDON|3|1|x", 40),               # a bad data field: the same
])
def test_every_exit_without_agent_is_an_abandon_with_waittime_in_seconds(line, wait_s):
    evs = run(mapper(), f"""
        +0|u1|aftersale|NONE|ENTERQUEUE||138|1
        +40|u1|aftersale|NONE|{line}
    """)
    assert evs[1] == {"type": "abandon", "ts": 40_000, "call": "u1", "queue": "aftersale",
                      "wait_ms": wait_s * 1000}


def test_pauseall_and_its_per_queue_lines_are_one_busy_and_one_ready():
    m = mapper()
    evs = run(m, """
        +0|NONE|NONE|SIP/8001|PAUSEALL|午饭
        +0|NONE|aftersale|SIP/8001|PAUSE|午饭
        +0|NONE|presale|SIP/8001|PAUSE|午饭
        +1800|NONE|NONE|SIP/8001|UNPAUSEALL|
        +1800|NONE|aftersale|SIP/8001|UNPAUSE|
        +1800|NONE|presale|SIP/8001|UNPAUSE|
    """)
    assert evs == [{"type": "busy", "ts": 0, "agent": "A001", "reason": "lunch"},
                   {"type": "ready", "ts": 1_800_000, "agent": "A001"}]


def test_pause_reasons_map_change_and_stay():
    m = mapper()
    evs = run(m, """
        +0|NONE|aftersale|SIP/8001|PAUSE|
        +10|NONE|aftersale|SIP/8001|PAUSE|培训
        +20|NONE|aftersale|SIP/8001|PAUSE|培训
        +30|NONE|NONE|SIP/8001|PAUSEALL|抽烟
        +30|NONE|aftersale|SIP/8001|PAUSE|
        +40|NONE|aftersale|SIP/8001|PAUSE|training
        +50|NONE|aftersale|SIP/8001|PAUSE|抽烟
    """)
    # empty reason: busy without one; a mapped reason: its code; the same again: nothing;
    # an unmapped one: busy without a reason, counted and told once; an older version's
    # per-queue line with no reason after a PAUSEALL: not a change; a reason spelled as a
    # contract code passes as it is
    assert [(e["type"], e["ts"] // 1000, e.get("reason")) for e in evs] == [
        ("busy", 0, None), ("busy", 10, "training"), ("busy", 30, None),
        ("busy", 40, "training"), ("busy", 50, None)]
    assert m.stats["unmapped_reasons"] == {"抽烟": 2}
    assert len([n for n in m.notices if "抽烟" in n]) == 1


def test_reason_change_with_log_unpause_on_reason_change():
    evs = run(mapper(), """
        +0|NONE|aftersale|SIP/8001|PAUSE|午饭
        +60|NONE|aftersale|SIP/8001|UNPAUSE|Auto-Unpause
        +60|NONE|aftersale|SIP/8001|PAUSE|培训
        +90|NONE|aftersale|SIP/8001|UNPAUSE|
    """)
    assert [(e["type"], e.get("reason")) for e in evs] == [
        ("busy", "lunch"), ("busy", "training"), ("ready", None)]


def test_dynamic_member_in_two_queues_signs_in_once_and_out_after_the_last():
    evs = run(mapper(), """
        +0|1793700000.1|aftersale|Local/3003@from-queue/n|ADDMEMBER|
        +0|1793700000.2|presale|Local/3003@from-queue/n|ADDMEMBER|
        +100|MANAGER|aftersale|Local/3003@from-queue/n|REMOVEMEMBER|
        +200|MANAGER|presale|Local/3003@from-queue/n|REMOVEMEMBER|
        +300|CLI|presale|Local/3003@from-queue/n|ADDMEMBER|PAUSED
    """)
    assert [(e["type"], e["ts"] // 1000) for e in evs] == [
        ("sign_in", 0), ("sign_out", 200), ("sign_in", 300), ("busy", 300)]


def test_agent_login_logoff_use_the_bare_agent_number():
    evs = run(mapper(), """
        +0|1793700000.5|NONE|3004|AGENTLOGIN|PJSIP/8004-00000012
        +10|NONE|aftersale|Agent/3004|PAUSE|
        +3600|1793700000.5|NONE|3004|AGENTLOGOFF|PJSIP/8004-00000012|3600
    """)
    assert types(evs) == ["sign_in", "busy", "sign_out"]
    assert {e["agent"] for e in evs} == {"A004"}


def test_unmapped_member_is_told_once_counted_and_changes_nothing():
    m = mapper()
    evs = run(m, """
        +0|NONE|aftersale|SIP/8001|PAUSE|
        +1|u1|aftersale|NONE|ENTERQUEUE||138|1
        +3|u1|aftersale|SIP/9999|RINGNOANSWER|2000
        +4|NONE|aftersale|SIP/9999|PAUSE|
        +5|u1|aftersale|SIP/9999|CONNECT|4|u2|1
    """)
    assert types(evs) == ["busy", "enqueue"]
    assert m.stats["unmapped_members"] == {"SIP/9999": 3}
    assert len([n for n in m.notices if "SIP/9999" in n]) == 1
    assert m.agents["A001"]["busy"] is True


def test_placeholders_unknown_verbs_and_malformed_lines_are_counted_and_skipped():
    m = mapper()
    evs = run(m, """
        +0|NONE|NONE|NONE|QUEUESTART|
        +1|NONE|NONE|NONE|CONFIGRELOAD|
        +2|u1|aftersale|NONE|DID|4008001234
        +3|u1|aftersale|NONE|FULL|
        +4|u1|aftersale|NONE|JOINEMPTY|1|1|0
        +5|u1|aftersale|NONE|CLOSED|
        +6|NONE|aftersale|NONE|PAUSE|
        +7|NONE|aftersale|SIP/8001|PENALTY|2
        this is not a queue_log line
        17937000x|u1|q|a|CONNECT|1
        +9|u1|aftersale|SIP/8001
        +10|u1|aftersale|SIP/8001||
        +11|NONE|aftersale|SIP/8001|PAUSE|
    """)
    assert types(evs) == ["busy"] and evs[0]["ts"] == 11_000
    st = m.stats
    assert st["unknown_verbs"] == {"FULL": 1, "JOINEMPTY": 1, "CLOSED": 1}
    assert st["ignored"] == {"QUEUESTART": 1, "CONFIGRELOAD": 1, "DID": 1, "PENALTY": 1}
    assert st["unplaced"] == {"pause_without_member": 1}
    assert st["malformed"] == {"too_few_fields": 2, "bad_time": 1, "no_event": 1}
    assert [x[0] for x in st["malformed_lines"]] == [9, 10, 11, 12]


def test_a_caller_who_queues_twice_is_two_calls():
    evs = run(mapper(), """
        +0|u1|presale|NONE|ENTERQUEUE||138|1
        +30|u1|presale|NONE|EXITWITHTIMEOUT|1|1|30
        +30|u1|aftersale|NONE|ENTERQUEUE||138|1
        +35|u1|aftersale|SIP/8001|CONNECT|5|u9|2
    """)
    assert [(e["type"], e["call"]) for e in evs] == [
        ("enqueue", "u1"), ("abandon", "u1"), ("enqueue", "u1#2"), ("offer", "u1#2"),
        ("answer", "u1#2")]
    assert evs[-1]["wait_ms"] == 5_000


def test_queuestart_ends_the_calls_asterisk_lost():
    m = mapper()
    evs = run(m, """
        +0|u1|presale|NONE|ENTERQUEUE||138|1
        +1|u2|presale|NONE|ENTERQUEUE||139|2
        +5|u1|presale|SIP/8001|CONNECT|5|u9|2
        +100|NONE|NONE|NONE|QUEUESTART|
    """)
    assert [(e["type"], e["ts"] // 1000, e.get("call")) for e in evs[-3:]] == [
        ("hangup", 100, "u1"), ("wrap_end", 100, "u1"), ("abandon", 100, "u2")]
    assert evs[-1]["wait_ms"] == 99_000
    assert m.stats["adjusted"] == {"call_cut_by_restart": 2}


def test_wrapuptime_sends_wrap_end_when_the_log_passes_it_or_the_agent_moves_on():
    evs = run(mapper(wrap_ms=30_000), """
        +0|u1|q|NONE|ENTERQUEUE||138|1
        +1|u1|q|SIP/8001|CONNECT|1|x|0
        +60|u1|q|SIP/8001|COMPLETEAGENT|1|59|1
        +100|u2|q|NONE|ENTERQUEUE||138|1
        +101|u2|q|SIP/8001|CONNECT|1|x|0
        +110|u2|q|SIP/8001|COMPLETEAGENT|1|9|1
        +115|NONE|q|SIP/8001|PAUSE|
    """)
    ends = [(e["type"], e["ts"] // 1000) for e in evs if e["type"] in ("wrap_end", "busy")]
    assert ends == [("wrap_end", 90), ("wrap_end", 115), ("busy", 115)]


def test_realtime_rows_both_forms_local_time_with_microseconds():
    tz = ZoneInfo("Asia/Shanghai")
    a = parse_db_row({"time": "2026-11-03 08:00:01.250000", "callid": "u1",
                      "queuename": "presale", "agent": "SIP/8001", "event": "CONNECT",
                      "data1": "12", "data2": "u2", "data3": "3", "data4": "", "data5": ""}, tz)
    b = parse_db_row({"time": "2026-11-03 08:00:01.250000", "callid": "u1",
                      "queuename": "presale", "agent": "SIP/8001", "event": "CONNECT",
                      "data": "12|u2|3"}, tz)
    assert a.ts == b.ts == 1_793_664_001_250 and a.data == b.data == ["12", "u2", "3"]
    c = parse_db_row({"time": "2026-11-03 00:00:01", "event": "QUEUESTART", "data": None},
                     ZoneInfo("UTC"))
    assert c.ts == 1_793_664_001_000 and c.data == []
    with pytest.raises(Malformed):
        parse_db_row({"time": "yesterday", "event": "PAUSE"}, tz)


def test_line_forms():
    r = parse_line("1793700000|NONE|NONE|SIP/8001|PAUSEALL|")
    assert (r.ts, r.callid, r.queue, r.member, r.verb, r.data) == (
        1_793_700_000_000, "NONE", "NONE", "SIP/8001", "PAUSEALL", [""])
    assert parse_line("1793700000.5|u|q|a|connect|1").ts == 1_793_700_000_500
    for bad in ("", "1793700000|u|q|a", "-1|u|q|a|X|", "1793700000|u|q|a|  |"):
        with pytest.raises(Malformed):
            parse_line(bad)


def test_state_round_trip_continues_mid_call_exactly():
    text = """
        +0|u1|q|NONE|ENTERQUEUE||138|1
        +0|NONE|NONE|SIP/8001|PAUSEALL|午饭
        +0|NONE|q|SIP/8001|PAUSE|午饭
        +2|u1|q|PJSIP/8002|CONNECT|2|x|0
        +3|0000|q|Local/3003@from-queue/n|ADDMEMBER|
        +3|0001|q2|Local/3003@from-queue/n|ADDMEMBER|
        +50|u1|q|PJSIP/8002|COMPLETEAGENT|2|48|1
        +51|NONE|q|SIP/8001|PAUSE|
        +60|MANAGER|q|Local/3003@from-queue/n|REMOVEMEMBER|
        +61|u3|q|NONE|ENTERQUEUE||138|1
        +70|MANAGER|q2|Local/3003@from-queue/n|REMOVEMEMBER|
        +75|u3|q|NONE|ABANDON|1|1|14
    """
    lines = text.strip().splitlines()
    whole = run(mapper(wrap_ms=20_000), text)
    for cut in range(1, len(lines)):
        m1 = mapper(wrap_ms=20_000)
        first = run_no_finish(m1, "\n".join(lines[:cut]))
        st = json.loads(json.dumps(m1.state()))
        m2 = Mapper(Tables(members=dict(MEMBERS), reasons=dict(REASONS)), "cd1", "pbx1",
                    wrap_ms=20_000, state=st)
        rest = run(m2, "\n".join(lines[cut:]))
        assert first + rest == whole, cut
        assert m2.seq == len(whole)


def run_no_finish(m, text):
    out = []
    for n, line in enumerate(text.strip().splitlines(), 1):
        line = line.strip()
        off, rest = line[1:].split("|", 1)
        out += [_d(e) for e in m.feed(parse_line(f"{T0 + int(off)}|{rest}", n))]
    return out


def test_seq_strictly_increases_and_src_is_the_bridge():
    m = mapper()
    evs = []
    for k in range(5):
        evs += m.feed(parse_line(f"{T0 + k}|NONE|q|SIP/8001|{'PAUSE' if k % 2 == 0 else 'UNPAUSE'}|"))
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert {e.src for e in evs} == {"pbx1"} and {e.site for e in evs} == {"cd1"}


def test_agentdump_syscompat_and_callback_agents():
    evs = run(mapper(), """
        +0|u1|q|NONE|ENTERQUEUE||138|1
        +3|u1|q|SIP/8001|AGENTDUMP|
        +9|u1|q|PJSIP/8002|SYSCOMPAT|
        +10|NONE|NONE|Agent/3004|AGENTCALLBACKLOGIN|3004@from-internal
        +90|NONE|NONE|Agent/3004|AGENTCALLBACKLOGOFF|3004@from-internal|80|Autologoff
    """)
    # the agent hung up on the caller before the bridge: offered, not answered; a
    # channel-compatibility failure drops the caller unanswered (its wait from ENTERQUEUE)
    assert [(e["type"], e.get("agent"), e["ts"] // 1000) for e in evs] == [
        ("enqueue", None, 0), ("offer", "A001", 3), ("no_answer", "A001", 3),
        ("abandon", None, 9), ("sign_in", "A004", 10), ("sign_out", "A004", 90)]
    assert evs[3]["wait_ms"] == 9_000


def test_an_exit_after_the_connect_is_not_an_abandon():
    m = mapper()
    evs = run(m, """
        +0|u1|q|NONE|ENTERQUEUE||138|1
        +2|u1|q|SIP/8001|CONNECT|2|x|1
        +5|u1|q|NONE|ABANDON|1|1|5
        +60|u1|q|SIP/8001|COMPLETECALLER|2|58|1
    """)
    assert types(evs) == ["enqueue", "offer", "answer", "hangup", "wrap_end"]
    assert m.stats["unplaced"] == {"abandon_after_connect": 1}
