"""Write a simulated run as replay files: events.jsonl, roster.csv, schedule.csv."""
from __future__ import annotations

import csv
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable

import msgspec

from kefu_floor.schema import Event
from simulators.acd import Floor, Scenario

ROSTER_COLUMNS = ("agent", "name", "team", "role", "hired", "probation", "products")
SCHEDULE_COLUMNS = ("agent", "date", "start", "end", "breaks", "grace_min")

_encoder = msgspec.json.Encoder()


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


class JsonlSink:
    """A sink for `simulators.acd.run`: appends each tick's events as JSON Lines."""

    def __init__(self, f):
        self.f = f

    def __call__(self, events: list[Event]) -> None:
        self.f.write(_encoder.encode_lines(events))


def write_run(scenario: Scenario, out_dir: str | Path, progress: bool | None = None,
              extra_sink: Callable[[list[Event]], None] | None = None) -> Floor:
    """Simulate `scenario` into out_dir/{roster.csv, schedule.csv, events.jsonl}.

    A progress bar (rich) is drawn on stderr when `progress` is True, or by default when
    stderr is a terminal. `extra_sink`, if given, also gets every tick's events (e.g. a
    broker publisher). Returns the finished Floor (its `stats` say what happened).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    floor = Floor(scenario)
    write_csv(out / "roster.csv", ROSTER_COLUMNS, floor.roster_rows())
    write_csv(out / "schedule.csv", SCHEDULE_COLUMNS, floor.schedule_rows())
    with ExitStack() as stack:
        f = stack.enter_context(open(out / "events.jsonl", "wb"))
        sink = JsonlSink(f)
        on_tick = stack.enter_context(progress_bar(floor, progress))
        for tick, evs in floor.ticks():
            sink(evs)
            if extra_sink is not None:
                extra_sink(evs)
            on_tick(tick)
    return floor


@contextmanager
def progress_bar(floor: Floor, show: bool | None = None, label: str = "simulating"):
    """A rich progress bar on stderr over the floor's simulated span (by default when
    stderr is a terminal); yields the per-tick callback, a no-op when not shown."""
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        yield lambda tick: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    t0, t1 = floor.span()
    tz = floor.scn.tz
    with Progress(TextColumn(label), BarColumn(), TextColumn("{task.fields[clock]}"),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=max(1, t1 - t0), clock="")
        last = [0]

        def on_tick(tick: int) -> None:
            if tick - last[0] >= 60_000:  # redraw at most once per simulated minute
                last[0] = tick
                bar.update(task, completed=min(t1, tick) - t0, clock=_clock(tick, tz))

        yield on_tick


def _clock(ms: int, tz: str) -> str:
    import datetime as dt
    from zoneinfo import ZoneInfo

    return dt.datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
