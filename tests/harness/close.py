"""Shared by the close tests: an agent's day with every item at 100, so that the month
score is 100 + the adjustment given (POLICY.md §1: weights add up to 100)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

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


def close_files(tmp: Path, f: Floor, events: list[dict], name="events.jsonl") -> tuple[Path, ...]:
    ev = tmp / name
    ev.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n"
                          for e in sorted(events, key=lambda e: e["ts"])), "utf-8")
    ro = tmp / "roster.csv"
    with open(ro, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["agent", "name", "team", "role", "hired", "probation", "products",
                    "mentor"])
        for p in f.people.values():
            w.writerow([p.agent, p.name, p.team, p.role, p.hired or "",
                        str(p.probation).lower(), p.products, p.mentor])
    sc = tmp / "schedule.csv"
    with open(sc, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["agent", "date", "start", "end", "breaks", "grace_min",
                                "overtime"])
        w.writeheader()
        w.writerows(f.rows)
    return ev, ro, sc


def close_scenario():
    # team-80-20, T1: L1 leader, A1 score 90 sales 500,000 (gold), A2 张三 score 70
    f = Floor("team-80-20")
    f.agent("L1", team="T1", role="leader", name="李组长")
    f.agent("A1", team="T1", name="王一")
    f.agent("A2", team="T1", name="张三")
    f.agent("B1", team="T2", name="赵四")
    ev = perfect_month(f, "A1", "2026-11-03", 90, sales=[500_000])
    ev += perfect_month(f, "A2", "2026-11-03", 70, sales=[1_000])
    ev += perfect_month(f, "B1", "2026-11-03", 85, sales=[100])
    d = Day("2026-11-20")
    d.qa("L1", "09:00", "management", 80)
    return f, ev + d.events
