"""A hand-worked queue scenario: two queues, three agents, and what waiting, ringing and the
longest wait must be after each step (worked out by hand in the comments)."""
from __future__ import annotations

from harness.scenario_builder import Day


def hand_worked():
    """Two queues, three agents; returns (events, checkpoints) where each checkpoint is
    (number of events fed so far, expected q1, expected q2, expected totals)."""
    d = Day("2026-11-03")
    steps = []
    for a in ("A1", "A2", "A3"):
        d.sign_in(a, "08:00")
    d.enqueue("09:00:00", "c1", "q1")
    d.enqueue("09:00:05", "c4", "q2")
    d.enqueue("09:00:10", "c2", "q1")
    d.offer("A1", "09:00:20", "c1", "q1")
    # c1 rings at A1: not waiting; c2 waited 10 s, c4 15 s
    steps.append((len(d.events), (1, 1, 10.0), (1, 0, 15.0), (2, 1, 15.0)))
    d.no_answer("A1", "09:00:35", "c1", "q1")
    d.ready("A1", "09:00:35")
    # A1 rang out: c1 is back in the queue with its own enqueue time (35 s)
    steps.append((len(d.events), (2, 0, 35.0), (1, 0, 30.0), (3, 0, 35.0)))
    d.enqueue("09:00:40", "c3", "q1")
    d.offer("A2", "09:00:50", "c1", "q1")
    d.answer("A2", "09:00:55", "c1", "q1")
    # c1 answered after 55 s; c2 (09:00:10) is the oldest in q1: 45 s; c4: 50 s
    steps.append((len(d.events), (2, 0, 45.0), (1, 0, 50.0), (3, 0, 50.0)))
    d.offer("A1", "09:00:58", "c4", "q2")
    d.answer("A1", "09:01:00", "c4", "q2")
    steps.append((len(d.events), (2, 0, 50.0), (0, 0, 0.0), (2, 0, 50.0)))
    d.enqueue("09:01:10", "c5", "q2")
    d.offer("A3", "09:01:12", "c5", "q2")
    d.answer("A3", "09:01:15", "c5", "q2")
    d.abandon("09:01:30", "c2", "q1", wait_ms=80_000)
    # c2 gave up; c3 (09:00:40) waited 50 s
    steps.append((len(d.events), (1, 0, 50.0), (0, 0, 0.0), (1, 0, 50.0)))
    return d.events, steps
