"""The ledger keeps only the months the engine still holds (issue 11 item 6): a multi-month
run, simulated day by day, against the same run with the day roll's trim switched off (the
ledger as it was before: every row kept for ever).

Months held: a month's rows go once engine time is `limits.ledger_keep_days` (64, the day
slots) past its first day, so on 2026-12-10 September and October are gone and November and
December are kept."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from harness.scenario_builder import Day, Floor, decode
from kefu_floor.close import build_close
from kefu_floor.localtime import parse_month
from kefu_floor.store import state
from kefu_floor.views.floorview import FloorView
from kefu_floor.views.report import build_report
from kernels import layout as K

FIRST, LAST = dt.date(2026, 9, 28), dt.date(2026, 12, 10)
SEP, OCT, NOV, DEC = (parse_month(m) for m in ("2026-09", "2026-10", "2026-11", "2026-12"))


def dates():
    d = FIRST
    while d <= LAST:
        yield d.isoformat()
        d += dt.timedelta(days=1)


def floor() -> Floor:
    f = Floor("chengdu-2014", site="cd1")
    for day in dates():
        f.shift("A1", day, "08:00", "16:30", "12:00-12:30")
        f.shift("A2", day, "08:00", "16:30", "12:00-12:30")
        f.shift("B1", day, "22:00", "06:00", "02:00-02:30")  # a night shift: ends next day
    return f


def day_events(date: str, k: int) -> list[dict]:
    """One day of the floor: A1 late every day, A2 busy 40 min (over the budget), B1 absent
    every third night and early out on the others; a manual floor entry now and then."""
    d = Day(date, site="cd1")
    d.clock("00:10")
    d.sign_in("A1", "08:07")
    d.sign_out("A1", "16:31")
    d.sign_in("A2", "07:58")
    d.spell("A2", "09:00", "09:40", "toilet")
    d.sign_out("A2", "16:31")
    if k % 3:
        d.sign_in("B1", "21:59")
        d.sign_out("B1", "29:30")  # 05:30 the next morning: early leave
    if k % 7 == 0:
        d.floor("A2", "15:00", -10, "untidy desk")
    return d.events


def days() -> list[tuple[str, list[dict]]]:
    return [(date, day_events(date, k)) for k, date in enumerate(dates())]


def excuses(when: str, *rows) -> list[dict]:
    d = Day(when, site="cd1")
    for agent, rule, day in rows:
        d.excuse(agent, "18:00", rule, day, by="L1")
    return d.events


def untrimmed(eng):
    """The same engine without the day roll's trim: every row kept, as before."""
    eng._ledger_roll_at = 2**62  # the day roll never comes
    return eng


def run(eng, batches, tick: bool = True):
    for evs in batches:
        eng.feed(decode(evs))
        if tick:
            eng.tick()
    return eng


def stream():
    """The run as daily batches, with appeals: on 12-08 one for a November day (a month the
    ledger keeps) and one for an October day (dropped by then); the clock then runs past
    the last shift."""
    out = [evs for _, evs in days()]
    out.append(excuses("2026-12-08", ("A1", "late_sign_in", "2026-11-12"),
                       ("A2", "busy_over_30", "2026-10-20")))
    d = Day(LAST.isoformat(), site="cd1")
    d.clock("23:50")
    out.append(d.events)
    evs = sorted((e for b in out for e in b), key=lambda e: e["ts"])
    # a batch a day, cut at 07:00 (a night shift's end is in the next day's batch)
    cuts = [Day(date).t("07:00") for date in dates()] + [2**62]
    batches, k = [[]], 0
    for e in evs:
        while e["ts"] >= cuts[k]:
            k += 1
            batches.append([])
        batches[-1].append(e)
    return evs, [b for b in batches if b]


def at(batches, date: str) -> int:
    """The first batch at or after 07:00 of `date`."""
    t = Day(date).t("07:00")
    return next(k for k, b in enumerate(batches) if b[0]["ts"] >= t)


def months_of(eng) -> set[int]:
    """Months of the ledger's rows (those dropped where they stand are in none)."""
    days_ = eng.ledger[:, K.L_DAY]
    days_ = days_[days_ != eng.DROPPED_DAY].astype(np.int64)
    return set((days_.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
                + 1970 * 12).tolist())


def live_rows(eng) -> list[tuple]:
    L = eng.ledger
    return sorted(map(tuple, L[L[:, K.L_DAY] != eng.DROPPED_DAY].tolist()))


def docs(eng, months=(NOV, DEC)) -> str:
    eng.finish()
    return json.dumps([[build_report(eng, m), build_close(eng, m)] for m in months],
                      sort_keys=True)


@pytest.fixture(scope="module")
def engines():
    f = floor()
    _, batches = stream()
    trimmed = run(f.engine(), batches)
    whole = run(untrimmed(f.engine()), batches)
    return f, trimmed, whole


def test_after_the_roll_the_ledger_holds_only_the_months_kept(engines):
    _, eng, whole = engines
    assert months_of(whole) == {SEP, OCT, NOV, DEC}  # the run does book in every month
    assert months_of(eng) == {NOV, DEC}
    assert eng.ledger_cutoff() == NOV
    # row numbers stay global: the rows kept are the untrimmed ledger's last ones
    assert eng.ledger_base > 0 and eng.ledger_booked == len(whole.ledger)
    kept = whole.ledger[eng.ledger_base:]
    here = eng.ledger[:, K.L_DAY] != eng.DROPPED_DAY
    assert np.array_equal(eng.ledger[here], kept[here])
    # a few October rows booked after November's first (B1's night shift of 10-31 ended
    # in November) were dropped where they stand
    assert 0 < (~here).sum() < 5 and (kept[~here, K.L_DAY] < eng.ledger[here, K.L_DAY].min()).all()
    assert not eng.holds_month(OCT) and eng.holds_month(NOV) and eng.holds_month(DEC)


def test_reports_and_closes_of_kept_months_equal_the_untrimmed_engines(engines):
    _, eng, whole = engines
    assert months_of(eng) == {NOV, DEC}  # read after the trim
    assert docs(eng) == docs(whole)
    rep = build_report(eng, NOV)
    a1 = next(a for a in rep["agents"] if a["agent"] == "A1")
    late = [d for d in a1["deductions"] if d["rule"] == "late_sign_in"]
    assert len(late) == 30 and a1["kpi"]["late_sign_ins"] == 29  # one excused


def test_an_excuse_of_a_kept_month_still_applies_and_one_of_a_dropped_month_cancels_nothing(
        engines):
    _, eng, whole = engines
    # the appeals came on 12-08, after October's rows went (12-04)
    before = run(floor().engine(), [b for b in stream()[1] if b[0]["ts"] < Day("2026-12-08").t(
        "07:00")])
    assert months_of(before) == {NOV, DEC} and before.ledger_base > 0
    rep = build_report(eng, NOV)
    a1 = next(a for a in rep["agents"] if a["agent"] == "A1")
    ex = [d for d in a1["deductions"] if d.get("excused")]
    assert [(d["rule"], d["day"]) for d in ex] == [("late_sign_in", "2026-11-12")]
    row = eng.ledger_rows(NOV)
    L = eng.ledger[row]
    assert L[:, K.L_EXCUSED].sum() == 1
    # the October appeal came after October was dropped: recorded, counted too old, and
    # the same in the engine that still had October's rows
    assert int(eng.G[K.G_EXCUSE_N]) == 2
    assert eng.counters()["too_old"] == whole.counters()["too_old"] == 1
    octo = whole.ledger[whole.ledger_rows(OCT)]
    assert not octo[:, K.L_EXCUSED].any()


def test_the_kept_rows_do_not_depend_on_batching_or_ticking(engines):
    f, eng, _ = engines
    evs, batches = stream()
    one = run(f.engine(), [evs], tick=False)
    assert months_of(one) == months_of(eng) == {NOV, DEC}
    assert docs(one) == docs(eng)
    # the order rows are booked in follows when agents are brought up to time (batches,
    # ticks), as before; the rows kept are the same
    assert one.ledger_booked == eng.ledger_booked and live_rows(one) == live_rows(eng)
    # every second day in one batch, no ticks: rolls happen at other points of the run
    pairs = [batches[k] + batches[k + 1] for k in range(0, len(batches) - 1, 2)]
    pairs += [batches[-1]] if len(batches) % 2 else []
    other = run(f.engine(), pairs, tick=False)
    assert docs(other) == docs(eng) and live_rows(other) == live_rows(eng)


def test_a_checkpoint_after_the_trim_restores_the_same_state_and_goes_on_the_same(engines):
    f, _, whole = engines
    _, batches = stream()
    cut = at(batches, "2026-12-06")
    half = run(f.engine(), batches[:cut])
    assert half.ledger_base > 0  # October went on 12-04
    resumed = f.engine()
    state.restore(resumed, state.capture(half))
    for name, v in vars(half).items():
        if isinstance(v, np.ndarray):
            assert np.array_equal(getattr(resumed, name), v), name
    assert (resumed.ledger_base, resumed.ledger_booked) == (half.ledger_base, half.ledger_booked)
    assert resumed.take_booked() == range(len(resumed.ledger), len(resumed.ledger))
    run(half, batches[cut:])
    run(resumed, batches[cut:])
    assert docs(resumed) == docs(half) == docs(whole)
    assert np.array_equal(resumed.ledger, half.ledger)


def _as_format_2(blob: bytes) -> bytes:
    """A version-2 checkpoint of the same state: no ledger_base, no ledger_gone."""
    header, body = state.read_header(blob)
    chunks, off = [], 0
    for a in header["arrays"]:
        chunks.append((a, bytes(body[off:off + a["size"]])))
        off += a["size"]
    keep = [(a, raw) for a, raw in chunks if a["name"] != "ledger_gone"]
    new_body = b"".join(raw for _, raw in keep)
    import zlib
    header = {**header, "format": 2, "arrays": [a for a, _ in keep],
              "crc32": zlib.crc32(new_body),
              "python": {k: v for k, v in header["python"].items() if k != "ledger_base"}}
    hj = json.dumps(header, separators=(",", ":")).encode()
    return state.MAGIC + state._HEAD.pack(2, len(hj)) + hj + new_body


def test_a_format_2_checkpoint_is_restored_and_trimmed_at_the_next_roll(engines):
    f, eng, _ = engines
    _, batches = stream()
    cut = at(batches, "2026-11-20")
    old = untrimmed(f.engine())  # a version-2 engine kept every row from row 0
    run(old, batches[:cut])
    resumed = f.engine()
    state.restore(resumed, _as_format_2(state.capture(old)))
    assert resumed.ledger_base == 0 and resumed.ledger_gone.shape[0] == 0
    run(resumed, batches[cut:])
    assert months_of(resumed) == {NOV, DEC}
    assert docs(resumed) == docs(eng)


def test_the_feed_sees_every_row_once_and_its_counts_never_fall(engines):
    f, eng, whole = engines
    _, batches = stream()
    live = f.engine()
    view = FloorView(live)
    taken = []
    for evs in batches:
        live.feed(decode(evs))
        live.tick()
        rows = live.take_booked()
        taken.extend(tuple(live.ledger[r, [K.L_TS, K.L_AGENT, K.L_RULE]]) for r in rows)
    want = [tuple(r) for r in whole.ledger[:, [K.L_TS, K.L_AGENT, K.L_RULE]]]
    assert taken == want
    assert live.ledger_base > 0
    assert view.deductions_by_team() == FloorView(whole).deductions_by_team()


def test_a_pinned_row_is_kept_until_the_pin_moves(engines):
    """The durable store pins the rows its ledger record has not got yet."""
    f, eng, _ = engines
    _, batches = stream()
    pinned = f.engine()
    pinned.ledger_pin = 10
    run(pinned, batches)
    assert pinned.ledger_base == 10
    assert docs(pinned) == docs(eng)
    pinned.ledger_pin = None
    pinned._ledger_roll_at = K.NO_TIME  # the next batch or tick rolls
    pinned.tick()
    assert pinned.ledger_base == eng.ledger_base


def test_the_retention_is_a_checked_setting():
    from kefu_floor.errors import ConfigError
    from importlib import resources

    from kefu_floor.policy import load_policy, parse_policy

    assert load_policy("chengdu-2014").limits.ledger_keep_days == K.N_DAY_SLOTS
    text = (resources.files("kefu_floor") / "policies" / "chengdu-2014.toml").read_text("utf-8")
    assert "ledger_keep_days = 64" in text
    with pytest.raises(ConfigError, match="limits.ledger_keep_days: must be 31 to 64"):
        parse_policy(text.replace("ledger_keep_days = 64", "ledger_keep_days = 20"))


def test_the_ledger_record_names_rows_by_their_global_number(engines):
    """The store's record stream (kefu_floor.store.records) takes global row numbers: the
    rows kept give the untrimmed engine's entries for the same numbers."""
    from kefu_floor.store import records

    _, eng, whole = engines
    lo, hi = eng.ledger_base, eng.ledger_booked
    here = [k for k in range(hi - lo) if eng.ledger[k, K.L_DAY] != eng.DROPPED_DAY]
    got = records.ledger_entries(eng, lo, hi)
    want = records.ledger_entries(whole, lo, hi)
    assert lo > 0 and len(here) < hi - lo and got == [want[k] for k in here]
