"""Shared by the close tests: an agent's day with every item at 100, so that the month
score is 100 + the adjustment given (POLICY.md §1: weights add up to 100)."""
from __future__ import annotations

from harness.scenario_builder import Day, Floor


def perfect_month(f: Floor, agent: str, date: str, score: float, sales=(),
                  start="08:00", end="16:30") -> list[dict]:
    """One shift on `date`, signed in on time and out at its end, one answered call of
    100 s (AHT band 100) with a satisfied survey (satisfaction 100, answer rate 1/1 = 100),
    no busy (utilization 100), no floor rule broken (site 100), QA 100 on the four
    manual items; then an adjustment of score - 100 -> month score = `score`."""
    f.shift(agent, date, start, end)
    d = Day(date)
    d.sign_in(agent, start)
    d.call(agent, "09:00", 100_000, survey="satisfied")
    for k, amount in enumerate(sales):
        d.sale(agent, f"10:{k:02d}", amount)
    for item in ("recording", "text", "performance", "exam"):
        d.qa(agent, "11:00", item, 100)
    if score != 100:
        d.adjust(agent, "11:30", score - 100)
    d.sign_out(agent, end)
    return d.events


def row(doc: dict, agent: str) -> dict:
    for a in doc["agents"]:
        if a["agent"] == agent:
            return a
    raise KeyError(agent)


def team(doc: dict, name: str) -> dict:
    for t in doc["teams"]:
        if t["team"] == name:
            return t
    raise KeyError(name)
