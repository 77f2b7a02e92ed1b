"""Replay a recorded day: JSON Lines events through the same engine as the live feed."""
from __future__ import annotations

import gzip
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from kefu_floor.engine import Engine
from kefu_floor.errors import ConfigError, Rejected
from kefu_floor.schema import Event, decode_event

CHUNK = 20_000


@dataclass
class LineRejection:
    line: int
    rejection: Rejected


@dataclass
class ReplayResult:
    lines: int = 0
    accepted: int = 0
    rejected: list[LineRejection] = field(default_factory=list)


def read_events(path: Path) -> Iterator[tuple[int, Event | Rejected]]:
    """(line number, checked event or its rejection); blank and # lines are skipped."""
    try:
        # .gz: the audit archive of `serve --archive`
        f = gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")
    except OSError as e:
        raise ConfigError(f"events file {path}: cannot open it ({e.strerror})") from None
    with f:
        try:
            for n, raw in enumerate(f, 1):
                if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]  # a UTF-8 byte-order mark, as Windows editors write it
                s = raw.strip()
                if not s or s.startswith(b"#"):
                    continue
                try:
                    yield n, decode_event(s)
                except Rejected as r:
                    yield n, r
        except (EOFError, gzip.BadGzipFile) as e:
            raise ConfigError(f"events file {path}: not a complete gzip file ({e})") from None


def replay(engine: Engine, path: Path, on_reject: Callable[[LineRejection], None] | None = None,
           progress: Callable[[int], None] | None = None) -> ReplayResult:
    """Feed the file's events in chunks; each rejected line is counted, kept in the result
    and handed to `on_reject`; `progress` gets the last line number fed."""
    res = ReplayResult()
    chunk: list[Event] = []
    chunk_lines: list[int] = []

    def reject(line: int, r: Rejected, counted: bool = False) -> None:
        lr = LineRejection(line, r)
        res.rejected.append(lr)
        if not counted:
            engine.count_rejected([r])
        if on_reject:
            on_reject(lr)

    def by_engine(out) -> None:
        # the engine's own rejections (caps, clock guard, month), counted by it; a held
        # event may be decided chunks later, so it carries its line number as its tag
        for r, line, _ in out:
            res.accepted -= 1
            reject(line, r, counted=True)

    def flush(upto: int) -> None:
        good, bad = engine.check_site(chunk)
        lines = [chunk_lines[k] for k in range(len(chunk))]
        if bad:
            drop = {r.index for r in bad}
            lines = [ln for k, ln in enumerate(chunk_lines) if k not in drop]
        res.accepted += len(good)
        by_engine(engine.feed(good, tags=lines))
        for r in bad:
            reject(chunk_lines[r.index], r)
        chunk.clear()
        chunk_lines.clear()
        if progress:
            progress(upto)

    for n, item in read_events(path):
        res.lines = n
        if isinstance(item, Rejected):
            reject(n, item)
            continue
        chunk.append(item)
        chunk_lines.append(n)
        if len(chunk) >= CHUNK:
            flush(n)
    flush(res.lines)
    by_engine(engine.settle())
    res.rejected.sort(key=lambda lr: lr.line)
    return res


def first_site(path: Path) -> str | None:
    """The site named by the file's first event that names one (for a run without --site)."""
    for _, item in read_events(path):
        if isinstance(item, Event) and item.site:
            return item.site
    return None


def stderr_reject(lr: LineRejection, path: Path) -> None:
    print(f"{path}:{lr.line}: rejected ({lr.rejection.reason}): {lr.rejection.detail}",
          file=sys.stderr)
