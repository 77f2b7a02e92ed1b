"""Replay a recorded day: JSON Lines events through the same engine as the live feed.

Two readers, one result. The default reads the file once in blocks with the compiled
scanner (`kefu_floor.linescan`): the common well-formed lines become batch columns with no
Python per event, and every line it is not sure of goes through the strict decoder, the
one live ingest uses. `strict=True` reads every line with the strict decoder (the
reference the scanner is tested against). Both feed the engine the same chunks of CHUNK
decoded events, intern ids in the same order, and report every rejection with its line
number in the same order.
"""
from __future__ import annotations

import gzip
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from kefu_floor.engine import Engine
from kefu_floor.errors import ConfigError, Rejected
from kefu_floor.linescan import Block, EngineIds, EventFile
from kefu_floor.schema import Event, decode_event
from kernels import jsonscan as J

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


def replay(engine: Engine, path: Path | EventFile,
           on_reject: Callable[[LineRejection], None] | None = None,
           progress: Callable[[int], None] | None = None, strict: bool = False,
           site_from_file: bool = False) -> ReplayResult:
    """Feed the file's events in chunks; each rejected line is counted, kept in the result
    and handed to `on_reject`; `progress` gets the last line number fed. `path` may be an
    EventFile already opened. `site_from_file`: the engine's site is the one named by the
    file's first event that names one (`first_site`), its own if none does."""
    if strict:
        path = path.path if isinstance(path, EventFile) else path
        if site_from_file:
            engine.site = first_site(path) or engine.site
        return _replay_strict(engine, path, on_reject, progress)
    src = path if isinstance(path, EventFile) else EventFile(path)
    run = _Scanned(engine, src, on_reject, progress, site_from_file)
    for block in src.blocks():
        run.add(block)
    run.flush(run.res.lines)
    run.by_engine(engine.settle())
    run.res.rejected.sort(key=lambda lr: lr.line)
    return run.res


class _Run:
    """What both readers share: the result, and how a rejection is counted and told."""

    def __init__(self, engine: Engine, on_reject, progress):
        self.engine = engine
        self.on_reject = on_reject
        self.progress = progress
        self.res = ReplayResult()

    def reject(self, line: int, r: Rejected, counted: bool = False) -> None:
        lr = LineRejection(line, r)
        self.res.rejected.append(lr)
        if not counted:
            self.engine.count_rejected([r])
        if self.on_reject:
            self.on_reject(lr)

    def by_engine(self, out) -> None:
        # the engine's own rejections (caps, clock guard, month), counted by it; a held
        # event may be decided chunks later, so it carries its line number as its tag
        for r, line, _ in out:
            self.res.accepted -= 1
            self.reject(line, r, counted=True)


class _Scanned(_Run):
    """Blocks of scanned rows -> chunks of CHUNK decoded events -> the engine."""

    def __init__(self, engine: Engine, src: EventFile, on_reject, progress,
                 site_from_file: bool = False):
        super().__init__(engine, on_reject, progress)
        self.site_from_file = site_from_file
        self.sym = src.sym
        self.ids = EngineIds(engine, src.sym)
        self.pending: list[tuple[Block, np.ndarray]] = []  # (block, its rows) of the chunk
        self.n = 0

    def add(self, block: Block) -> None:
        RI = block.RI
        good = RI[:, J.R_OK] == 1
        bad = []
        for k, item in block.strict.items():  # in row order
            if isinstance(item, Event):
                good[k] = True
            else:
                bad.append(k)
        idx = np.flatnonzero(good)
        b = start = 0
        while True:
            need = CHUNK - self.n
            last = len(idx) - start < need
            take = idx[start:] if last else idx[start: start + need]
            # the strict decoder's rejections are told as the lines are read: before the
            # chunk a later line completes
            upto = len(RI) if last else int(take[-1])
            while b < len(bad) and bad[b] < upto:
                self.reject(int(RI[bad[b], J.R_LINE]), block.strict[bad[b]])
                b += 1
            if len(take):
                self.pending.append((block, take))
                self.n += len(take)
            if last:
                break
            start += need
            self.flush(int(RI[take[-1], J.R_LINE]))
        if len(RI):
            self.res.lines = int(RI[-1, J.R_LINE])

    def take_site(self, RI, ok, fpos, fev) -> None:
        """The site of the chunk's first event that names one becomes the engine's. Every
        event before it names none, so it was fed to the engine whatever its site: the file
        is read once, and the engine is made while the first blocks are read."""
        named = np.flatnonzero(ok & (RI[:, J.R_SITE] >= 0))
        first = int(named[0]) if len(named) else len(RI)
        site = self.sym.names[int(RI[first, J.R_SITE])] if len(named) else None
        for p, e in zip(fpos.tolist(), fev):  # the strictly decoded events, in row order
            if p > first:
                break
            if e.site:
                site = e.site
                break
        if site is not None:
            self.engine.site = site
            self.site_from_file = False

    def flush(self, upto: int) -> None:
        parts, self.pending, self.n = self.pending, [], 0
        eng = self.engine
        if parts:
            RI = np.concatenate([blk.RI[rows] for blk, rows in parts])
            RN = np.concatenate([blk.RN[rows] for blk, rows in parts])
        else:
            RI, RN = np.zeros((0, J.R_K), np.int64), np.zeros(0)
        n = len(RI)
        where = [(blk, rows[k]) for blk, rows in parts
                 for k in np.flatnonzero(blk.RI[rows, J.R_OK] == 0).tolist()]
        fpos = np.flatnonzero(RI[:, J.R_OK] == 0)
        fev = [blk.strict[int(k)] for blk, k in where]  # the strictly decoded events

        def row_event(p: int) -> Event:
            at = np.searchsorted(np.cumsum([len(rows) for _, rows in parts]), p, "right")
            blk, rows = parts[at]
            first = sum(len(r) for _, r in parts[:at])
            return blk.event(int(rows[p - first]))

        lines = RI[:, J.R_LINE]
        ok = RI[:, J.R_OK] == 1
        if self.site_from_file:
            self.take_site(RI, ok, fpos, fev)
        # events for another site are not ours (engine.check_site says so, by name)
        wrong = np.zeros(n, np.bool_)
        site = np.where(ok, RI[:, J.R_SITE], -1)
        if (site >= 0).any():
            others = [s for s in np.unique(site[site >= 0]).tolist()
                      if self.sym.names[s] != eng.site]
            if others:
                wrong |= np.isin(site, others)
        for p, e in zip(fpos.tolist(), fev):
            if e.site is not None and e.site != eng.site:
                wrong[p] = True
        wrong_site = []
        for p in np.flatnonzero(wrong).tolist():
            _, bad = eng.check_site([fev[int(np.searchsorted(fpos, p))] if not ok[p]
                                     else row_event(p)])
            wrong_site.append((int(lines[p]), bad[0]))
        keep = ~wrong
        self.res.accepted += int(keep.sum())
        if self.ids.intern(RI, ok & keep, fpos, fev, keep):
            self.by_engine(eng.feed_interned(self.ids.batch(RI, RN, fpos, fev)
                                             .take(np.flatnonzero(keep)), lines[keep]))
        else:  # a cap would be reached: the engine decides event by event
            events = [fev[int(np.searchsorted(fpos, p))] if not ok[p] else row_event(p)
                      for p in np.flatnonzero(keep).tolist()]
            self.by_engine(eng.feed(events, tags=lines[keep].tolist()))
        for line, r in wrong_site:
            self.reject(line, r)
        if self.progress:
            self.progress(upto)


def _replay_strict(engine: Engine, path: Path, on_reject, progress) -> ReplayResult:
    """Every line through the strict decoder, event objects into `Engine.feed`."""
    run = _Run(engine, on_reject, progress)
    res = run.res
    chunk: list[Event] = []
    chunk_lines: list[int] = []

    def flush(upto: int) -> None:
        good, bad = engine.check_site(chunk)
        lines = [chunk_lines[k] for k in range(len(chunk))]
        if bad:
            drop = {r.index for r in bad}
            lines = [ln for k, ln in enumerate(chunk_lines) if k not in drop]
        res.accepted += len(good)
        run.by_engine(engine.feed(good, tags=lines))
        for r in bad:
            run.reject(chunk_lines[r.index], r)
        chunk.clear()
        chunk_lines.clear()
        if progress:
            progress(upto)

    for n, item in read_events(path):
        res.lines = n
        if isinstance(item, Rejected):
            run.reject(n, item)
            continue
        chunk.append(item)
        chunk_lines.append(n)
        if len(chunk) >= CHUNK:
            flush(n)
    flush(res.lines)
    run.by_engine(engine.settle())
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
