"""The replay's compiled scanner (issue 11 item 3) against the strict decoder: the same
report, counters and rejections (reason, detail, line number, order) on the simulator's day
and on hostile and odd lines, in-process and through the command line."""
import json
import random
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest

from harness import ROOT
from harness.oddlines import hostile_file
from kefu_floor.batch import hash_ids
from kefu_floor.engine import Engine, Setup
from kefu_floor.linescan import EventFile, LineScanner, _check_tables
from kefu_floor.policy import load_policy
from kefu_floor.replay import replay
from kefu_floor.views.report import build_report
from kefu_floor.roster import load_roster, load_schedule
from kernels import jsonscan as J

DAY = ROOT / "examples" / "day"
LINES = (DAY / "events.jsonl").read_bytes().splitlines()


def _setup(site=None, **limits) -> Setup:
    pol = load_policy("chengdu-2014")
    if limits:
        pol = msgspec.structs.replace(pol, limits=msgspec.structs.replace(pol.limits, **limits))
    return Setup(pol, load_roster(DAY / "roster.csv"),
                 load_schedule(DAY / "schedule.csv", pol.tz, pol.attendance.default_grace_min),
                 site or "default")


def both(path: Path, site=None, **limits):
    """(report, counters, told rejections) of each reader: scanner, strict."""
    out = []
    for strict in (False, True):
        eng = Engine(_setup(site, **limits))
        told = []
        res = replay(eng, path, on_reject=lambda lr: told.append(
            (lr.line, lr.rejection.reason, lr.rejection.detail)), strict=strict)
        kept = [(lr.line, lr.rejection.reason, lr.rejection.detail) for lr in res.rejected]
        out.append((json.dumps(build_report(eng.finish()), sort_keys=True), eng.counters(), told, kept,
                    res.accepted))
    return out


def assert_same(path: Path, **kw):
    scan, strict = both(path, **kw)
    assert scan[2] == strict[2]  # rejections as told, in order
    assert scan[3] == strict[3]
    assert scan[1] == strict[1]
    assert scan[4] == strict[4]
    assert scan[0] == strict[0]
    return scan


def test_scanner_tables_match_the_schema():
    _check_tables()


def test_simulated_day_is_read_by_the_scanner_and_scores_the_same(tmp_path):
    f = EventFile(DAY / "events.jsonl")
    blocks = list(f.blocks())
    rows = sum(len(b) for b in blocks)
    scanned = sum(int(b.RI[:, J.R_OK].sum()) for b in blocks)
    assert rows == len([x for x in LINES if x.strip()])
    assert scanned >= 0.99 * rows  # only the free-text manual entries go strict
    scan = assert_same(DAY / "events.jsonl")
    assert scan[4] > 17_000 and not scan[2]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hostile_and_odd_lines_give_the_same_report_and_rejections(tmp_path, seed):
    scan = assert_same(hostile_file(tmp_path, 6000, seed))
    reasons = {r for _, r, _ in scan[2]}
    assert {"bad_json", "wrong_type", "invalid_value", "missing_field", "unknown_type",
            "wrong_site"} <= reasons


def test_caps_reached_in_a_chunk_give_the_same_rejections(tmp_path):
    p = hostile_file(tmp_path, 6000, 4)
    scan = assert_same(p, max_unknown_agents=5, max_queues=3, max_reason_codes=4)
    assert any(r == "over_cap" for _, r, _ in scan[2])


def _site_runs(p: Path):
    """(site, report, told rejections, accepted) of a replay that takes the site from the
    file: the scanner's (the site found as the chunks are fed) and the strict decoder's
    (first_site, read before)."""
    out = []
    for strict in (False, True):
        eng = Engine(_setup())
        told = []
        res = replay(eng, p, on_reject=lambda lr: told.append((lr.line, lr.rejection.reason)),
                     strict=strict, site_from_file=True)
        out.append((eng.site, json.dumps(build_report(eng.finish())), told, res.accepted))
    return out


def test_a_site_from_the_file(tmp_path):
    lines = [json.dumps({**json.loads(x), "site": "cd9"}).encode() if k > 50 else x
             for k, x in enumerate(LINES[:3000])]
    lines[2000] = lines[2000].replace(b'"cd9"', b'"cd8"')
    p = tmp_path / "site.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    scan, strict = _site_runs(p)
    assert scan == strict and scan[0] == "cd9"
    assert (2001, "wrong_site") in scan[2]
    assert_same(p, site="cd9")


def test_a_site_named_late_is_taken_and_the_lines_before_it_count(tmp_path, monkeypatch):
    from kefu_floor import linescan, replay as rp

    lines = list(LINES[:3000])
    lines[2500] = json.dumps({**json.loads(lines[2500]), "site": "cd9"}).encode()
    lines[2700] = json.dumps({**json.loads(lines[2700]), "site": "cd8"}).encode()
    p = tmp_path / "late.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(linescan, "ROWS", 256)
    monkeypatch.setattr(linescan, "SEGMENT", 5000)
    monkeypatch.setattr(rp, "CHUNK", 700)  # the site is named in the fourth chunk
    scan, strict = _site_runs(p)
    assert scan == strict and scan[0] == "cd9"
    assert [t for t in scan[2] if t[1] == "wrong_site"] == [(2701, "wrong_site")]


def test_a_file_without_a_site_is_the_engines(tmp_path):
    p = tmp_path / "nosite.jsonl"
    p.write_bytes(b"\n".join(LINES[:500]) + b"\n")
    scan, strict = _site_runs(p)
    assert scan == strict and scan[0] == "default"


@pytest.mark.parametrize("segment", [1, 777, 1 << 20])
def test_reading_threads_and_segments_change_nothing(tmp_path, monkeypatch, segment):
    """Every line its own segment (1 byte: a segment ends at the first newline), segments
    cutting blocks anywhere, one big segment; two threads or none: the same rows, line
    numbers, report and rejections. A byte-order mark counts on line 1 only, wherever the
    segments start."""
    from kefu_floor import linescan

    p = hostile_file(tmp_path, 2500, 8)
    data = p.read_bytes().split(b"\n")
    data[1200] = b"\xef\xbb\xbf" + data[1200]  # not line 1: bad JSON for both decoders
    p.write_bytes(b"\n".join(data))
    monkeypatch.setattr(linescan, "SEGMENT", segment)
    monkeypatch.setattr(linescan, "ROWS", 300)

    def rows(workers):
        f = EventFile(p, workers=workers)
        got = [(b.RI.copy(), b.RN.copy(), sorted(b.strict)) for b in f.blocks()]
        RI = np.concatenate([g[0] for g in got])
        # symbols as names: the ids are each reader's own numbering
        for col in linescan.SYMBOL_COLUMNS:
            RI[:, col] = [hash(f.sym.names[s]) if s >= 0 else -1 for s in RI[:, col].tolist()]
        return RI, np.concatenate([g[1] for g in got])

    (a, an), (b, bn) = rows(2), rows(0)
    ok = a[:, J.R_OK] == 1  # RN is the scanner's only where it filled the row
    assert np.array_equal(a, b) and np.array_equal(an[ok].view(np.int64), bn[ok].view(np.int64))
    assert a[:, J.R_LINE].tolist() == [k + 1 for k, x in enumerate(data)
                                       if x.strip() and not x.strip().startswith(b"#")]
    scan = assert_same(p)
    assert (1201, "bad_json") in [(ln, r) for ln, r, _ in scan[2]]


def test_reading_threads_stop_when_the_reader_stops(tmp_path, monkeypatch):
    import threading

    from kefu_floor import linescan

    p = tmp_path / "day.jsonl"
    p.write_bytes(b"\n".join(LINES) + b"\n")
    monkeypatch.setattr(linescan, "SEGMENT", 2000)
    monkeypatch.setattr(linescan, "ROWS", 50)
    f = EventFile(p, workers=2)
    it = f.blocks()
    next(it)
    it.close()  # the threads were blocked on full queues
    assert not [t for t in threading.enumerate() if t.name.startswith("kefu-scan")]
    f = EventFile(p, workers=2)  # never read: dropped
    del f
    import gc

    gc.collect()
    for _ in range(100):
        if not [t for t in threading.enumerate() if t.name.startswith("kefu-scan")]:
            break
        threading.Event().wait(0.05)
    assert not [t for t in threading.enumerate() if t.name.startswith("kefu-scan")]


def test_a_broken_gzip_file_is_one_line_at_the_segment_it_breaks(tmp_path, monkeypatch):
    import gzip

    from kefu_floor import linescan
    from kefu_floor.errors import ConfigError

    monkeypatch.setattr(linescan, "BLOCK", 100_000)  # decompressed a segment at a time

    raw = b"\n".join(LINES) + b"\n"
    gz = gzip.compress(raw)
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(gz[: len(gz) * 3 // 4])
    f = EventFile(p, workers=2)
    n = 0
    with pytest.raises(ConfigError, match="not a complete gzip file"):
        for block in f.blocks():
            n += len(block)
    assert 0 < n < len(LINES)


@pytest.mark.slow
def test_cli_both_decoders_same_output_and_exit(tmp_path):
    p = hostile_file(tmp_path, 3000, 5)
    runs = []
    for dec in ("scan", "strict"):
        r = subprocess.run([sys.executable, "-m", "kefu_floor", "replay", str(p), "--roster",
                            str(DAY / "roster.csv"), "--schedule", str(DAY / "schedule.csv"),
                            "--format", "json", "--decoder", dec, "--lang", "en"],
                           capture_output=True, text=True, timeout=600)
        runs.append(r)
    assert runs[0].returncode == runs[1].returncode == 3
    assert runs[0].stdout == runs[1].stdout
    assert runs[0].stderr == runs[1].stderr
    assert ": rejected (bad_json)" in runs[0].stderr


def test_gzip_archive_is_read_the_same(tmp_path):
    import gzip

    p = hostile_file(tmp_path, 2000, 6)
    gz = tmp_path / "day.jsonl.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert both(gz)[0][:4] == both(p)[0][:4]


def test_decimals_and_call_hashes_are_the_strict_decoders():
    rng = random.Random(7)
    vals = [repr(round(rng.uniform(-1e6, 1e6), rng.randrange(0, 8))) for _ in range(3000)]
    vals += ["0", "0.0", "1", "-1", "0.1", "0.2", "0.30000000000000004", "123456789012345",
             "99.995", "0.000001", "5e-324"]
    calls = [f"c{rng.getrandbits(64):x}" * rng.randrange(1, 4) for _ in range(len(vals))]
    buf = b"".join(f'{{"type":"sale","ts":1793663356226,"agent":"A1","amount":{v},'
                   f'"call":"{c}"}}\n'.encode() for v, c in zip(vals, calls))
    block = next(LineScanner().scan(buf))
    ok = block.RI[:, J.R_OK] == 1
    assert ok.sum() >= len(vals) - 5
    want = np.array([msgspec.json.decode(v.encode(), type=float) for v in vals])
    assert np.array_equal(block.RN[ok].view(np.int64), want[ok].view(np.int64))
    assert np.array_equal(block.RI[ok, J.R_CALL], hash_ids(calls)[ok])


def test_a_reading_thread_that_cannot_start_is_an_error_not_a_wait(tmp_path, monkeypatch):
    import threading

    from kefu_floor import linescan

    p = tmp_path / "day.jsonl"
    p.write_bytes(b"\n".join(LINES[:100]) + b"\n")

    def broken(scan):
        raise MemoryError("no room for the scanner's tables")

    monkeypatch.setattr(linescan, "_tables", broken)
    got = []

    def read():
        try:
            list(EventFile(p, workers=2).blocks())
        except MemoryError as e:
            got.append(e)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive() and got
