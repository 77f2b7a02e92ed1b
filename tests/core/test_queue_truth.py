"""Queue truth (issue 12 item 4, issue 11 item 7): `waiting` counts callers enqueued and not
yet answered or abandoned (a call ringing at a seat is counted as `ringing`, and goes back
to waiting when the seat rings out), `longest_wait_s` is the age of the oldest waiting
caller since they were enqueued, per queue and for the site (`totals`).

Every expected number below is worked out by hand from the event times."""
import pytest

from kefu_floor.views.floorview import FloorView
from harness.queues import hand_worked
from harness.scenario_builder import Day, Floor, feed


def _fig(e: dict) -> tuple:
    return e["waiting"], e["ringing"], e["longest_wait_s"]


def test_waiting_and_longest_wait_hand_worked():
    f = Floor()
    for a in ("A1", "A2", "A3"):
        f.agent(a)
    events, steps = hand_worked()
    eng = f.engine()
    view = FloorView(eng, lang="en")
    fed = 0
    for n, q1, q2, tot in steps:
        feed(eng, events[fed:n])
        fed = n
        qs = view.queues()
        assert _fig(qs["q1"]) == q1, events[n - 1]
        assert _fig(qs["q2"]) == q2, events[n - 1]
        assert _fig(view.totals()) == tot, events[n - 1]
        # the kernel's running count and the call table agree
        waiting, _, _ = view._calls(2)
        assert [int(x) for x in waiting] == [q1[0], q2[0]]
    # today: q1 offered c1 c2 c3, answered c1 (55 s), abandoned c2 (80 s);
    # q2 offered c4 c5, answered c4 (55 s) and c5 (5 s, within the 20 s service level)
    q = view.queues()
    assert q["q1"]["today"]["offered"] == 3 and q["q1"]["today"]["answered"] == 1
    assert q["q1"]["today"]["abandoned"] == 1 and q["q1"]["today"]["service_level"] == 0
    assert q["q2"]["today"]["service_level"] == 0.5
    tot = view.totals()["today"]
    assert (tot["offered"], tot["answered"], tot["abandoned"]) == (5, 3, 1)
    assert tot["service_level"] == 0.25  # 1 in SL / (3 answered + 1 abandoned)
    assert tot["asa_s"] == pytest.approx((55 + 55 + 5) / 3, abs=1e-3)
    assert tot["max_wait_s"] == 55.0
    # the 30-minute trend bucket from 09:00 holds the same
    trend = view.trend()
    assert trend["bucket_min"] == 30 and len(trend["buckets"]) == 1
    (b,) = trend["buckets"].values()
    assert (b["offered"], b["answered"], b["abandoned"], b["service_level"]) == (5, 3, 1, 0.25)


def test_batching_does_not_change_queue_figures():
    f = Floor()
    events, steps = hand_worked()
    a = f.engine()
    feed(a, events)
    b = f.engine()
    feed(b, events, cuts=list(range(1, len(events))), tick=True)
    va, vb = FloorView(a, lang="en"), FloorView(b, lang="en")
    assert va.queues() == vb.queues() and va.totals() == vb.totals()


def test_compaction_of_day_old_calls_keeps_the_waiting_count_true():
    """Issue 11.7: a caller neither answered nor reported abandoned is dropped from the call
    table a day later; the queue's waiting count must drop with it (it drifted upward)."""
    f = Floor()
    d = Day("2026-11-03")
    d.enqueue("09:00", "lost-1", "q1")
    d.enqueue("09:01", "lost-2", "q1")
    d.offer("A1", "09:02", "lost-2", "q1")  # rang at a seat, then nothing more was heard
    d2 = d.next()
    # the next day, enough traffic to make the call table compact itself (1,024 slots)
    for k in range(700):
        c = f"n{k}"
        d2.enqueue(d2.t("10:00") + 10 * k, c, "q1")
        d2.answer("A1", d2.t("10:00") + 10 * k + 1, c, "q1")
    eng = f.engine()
    feed(eng, d.events)
    view = FloorView(eng, lang="en")
    q = view.queues()["q1"]
    assert (q["waiting"], q["ringing"]) == (0, 0)
    assert q["longest_wait_s"] == 0.0
    assert view.totals()["waiting"] == 0
