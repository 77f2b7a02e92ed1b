"""A JSON Lines file read in blocks by the compiled scanner (`kernels.jsonscan`), with the
strict decoder (`kefu_floor.schema.decode_event`) for every line the scanner leaves.

`EventFile(path).blocks()` yields `Block`s: the rows of a block of whole lines, each either
filled by the scanner (columns in `RI`/`RN`, ids as local symbols of the file's one table)
or decoded strictly (`strict[row]`: the Event or its Rejected). The scanner's tables (type
names, required fields, enum values, ranges) are built here from the schema, so the wire
format has one definition. They, the symbol table (`Symbols`) and the mapping of its
symbols to an engine's ids (`EngineIds`) are shared with live ingest's payload scanner
(`kefu_floor.payloadscan`).
"""
from __future__ import annotations

import gzip
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from kefu_floor import schema
from kefu_floor.batch import Batch, to_batch
from kefu_floor.errors import ConfigError, Rejected
from kernels import jsonscan as J

BLOCK = 8 << 20  # bytes of a gzip file decompressed at a time (whole lines)
ROWS = 1 << 17  # rows of a block
KEEP = 8  # blocks first_site keeps for the replay (~1 M lines, ~130 MB); beyond, it reads twice

# how the scanner fills a type's columns (kernels.jsonscan TSHAPE); types not named here
# (manual entries with free text, days, points: floor, adjust, excuse, incident) are left
# to the strict decoder
_SHAPE = {"sign_in": 1, "sign_out": 1, "ready": 1, "offer": 1, "no_answer": 1, "hangup": 1,
          "wrap_end": 1, "enqueue": 1, "busy": 2, "answer": 3, "abandon": 3, "survey": 4,
          "sale": 5, "qa": 6}


def _names(values) -> tuple[np.ndarray, np.ndarray]:
    raw = [v.encode() for v in values]
    return (np.frombuffer(b"".join(raw), np.uint8).copy(),
            np.cumsum([0] + [len(r) for r in raw]).astype(np.int64))


def _tables(scan: bool):
    types, toff = _names(schema.EVENT_TYPES)
    shape = np.array([_SHAPE.get(t, 0) if scan else 0 for t in schema.EVENT_TYPES], np.int64)
    req = np.zeros(len(schema.EVENT_TYPES), np.int64)
    for k, t in enumerate(schema.EVENT_TYPES):
        for f in schema.REQUIRED[t]:
            if f not in J.FIELD_NAMES:
                shape[k] = 0  # a required field the scanner does not read
            else:
                req[k] |= 1 << J.FIELD_NAMES.index(f)
    groups = {J.F_RESULT: schema.SURVEY_RESULTS, J.F_ITEM: schema.QA_ITEMS}
    values, grp, at = [], np.zeros((len(J.FIELD_NAMES), 2), np.int64), 0
    for f, vals in groups.items():
        grp[f] = (at, at + len(vals))
        values += vals
        at += len(vals)
    enums, eoff = _names(values)
    lim = np.zeros(J.L_K)
    lim[J.L_MIN_TS], lim[J.L_MAX_TS] = schema.MIN_TS, schema.MAX_TS
    lim[J.L_MAX_ID] = schema.MAX_ID
    lim[J.L_MAX_COUNT] = 2**53
    lim[J.L_MAX_WAIT] = 86_400_000
    lim[J.L_AMOUNT] = 1e9
    lim[J.L_POINTS_MAX] = 100
    return types, toff, J.name_index(schema.EVENT_TYPES), shape, req, enums, eoff, grp, lim


def _check_tables() -> None:
    """The scanner's ranges are the schema's: read them back from the Event annotations."""
    import typing

    hints = typing.get_type_hints(schema.Event, include_extras=True)

    def bounds(name):
        t = hints[name]
        if typing.get_origin(t) is not typing.Annotated:
            t = typing.get_args(t)[0]  # X | None
        meta = typing.get_args(t)[1]
        return meta.ge, meta.le

    assert bounds("ts") == (schema.MIN_TS, schema.MAX_TS)
    assert bounds("seq") == (0, 2**53) and bounds("epoch") == (0, 2**53)
    assert bounds("wait_ms") == (0, 86_400_000)
    assert bounds("amount") == (-1e9, 1e9) and bounds("score") == (0, 100)


@dataclass
class Block:
    """Rows of one block of lines (blank and # lines have none)."""

    buf: np.ndarray  # uint8: the lines (RI's R_LO/R_HI index it)
    RI: np.ndarray  # int64 (rows, jsonscan.R_K)
    RN: np.ndarray  # float64 (rows,)
    strict: dict[int, schema.Event | Rejected] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.RI.shape[0]

    def line_bytes(self, row: int) -> bytes:
        return self.buf[self.RI[row, J.R_LO]: self.RI[row, J.R_HI]].tobytes()

    def event(self, row: int) -> schema.Event:
        """The row as an Event (a scanned row decoded strictly: rare paths only)."""
        got = self.strict.get(row)
        if got is None:
            got = self.strict[row] = schema.decode_event(self.line_bytes(row))
        return got


class Symbols:
    """The scan's interning table: one open-addressing table over every category."""

    def __init__(self, cap: int = 1 << 12):
        self.tab = np.zeros(cap, np.int64)
        self.SH = np.zeros(cap // 2, np.int64)
        self.SC = np.zeros(cap // 2, np.int64)
        self.SO = np.zeros(cap // 2, np.int64)
        self.SL = np.zeros(cap // 2, np.int64)
        self.pool = np.zeros(cap * 16, np.uint8)
        self.S = np.zeros(2, np.int64)  # symbols, pool bytes used
        self.names: list[str] = []
        self.cats = np.zeros(0, np.int64)

    def grow(self) -> None:
        n = int(self.S[0])
        cap = self.tab.shape[0] * 2
        self.tab = np.zeros(cap, np.int64)
        for k in ("SH", "SC", "SO", "SL"):
            old = getattr(self, k)
            new = np.zeros(cap // 2, np.int64)
            new[:n] = old[:n]
            setattr(self, k, new)
        if self.pool.shape[0] < cap * 16:
            pool = np.zeros(cap * 16, np.uint8)
            pool[: self.S[1]] = self.pool[: self.S[1]]
            self.pool = pool
        J.rehash(self.tab, self.SH, n)

    def take_new(self) -> None:
        """Names of the symbols added since the last call (ASCII, by the scanner's rule)."""
        n0, n = len(self.names), int(self.S[0])
        if n == n0:
            return
        pool = self.pool.tobytes()
        self.names += [pool[o: o + ln].decode("ascii")
                       for o, ln in zip(self.SO[n0:n].tolist(), self.SL[n0:n].tolist())]
        self.cats = self.SC[:n].copy()


# scan columns of interned ids -> the engine's symbol tables
ID_COLUMNS = ((J.R_AGENT, "agents"), (J.R_QUEUE, "queues"), (J.R_SRC, "sources"),
              (J.R_REASON, "reasons"))


class EngineIds:
    """A scan's symbols -> one engine's ids, and rows of scanned events (with strictly
    decoded ones patched in at their positions) -> the engine's Batch, interning new ids
    in the engine's order of first sight, as its `feed` would."""

    def __init__(self, engine, sym: Symbols):
        self.engine = engine
        self.sym = sym
        # scan symbol -> engine id (-1: not interned yet); never empty, so rows of strict
        # events alone (no symbol yet) can index it
        self.gmap = np.full(1, -1, np.int64)

    def grow(self) -> None:
        m = len(self.sym.names)
        if m > len(self.gmap):
            g = np.full(max(m, 2 * len(self.gmap)), -1, np.int64)
            g[: len(self.gmap)] = self.gmap
            self.gmap = g

    def intern(self, RI, scanned, fpos, fev, keep) -> bool:
        """Offer the rows' new ids to the engine in order of first sight (`scanned`: the
        rows filled by the scanner; `fev`: the strict events at positions `fpos`; `keep`:
        the rows that are fed); False if one would pass a cap (nothing interned then)."""
        self.grow()
        names = self.sym.names
        new: dict[str, list[tuple[int, str]]] = {k: [] for _, k in ID_COLUMNS}
        seen_src: list[tuple[int, str]] = []
        fresh_syms = []  # scan symbols the engine has no id for yet
        for col, kind in ID_COLUMNS:
            c = RI[:, col]
            m = scanned & (c >= 0)
            loc = c[m]
            fresh = self.gmap[loc] < 0
            if fresh.any():
                u, first = np.unique(loc[fresh], return_index=True)
                pos = np.flatnonzero(m)[fresh][first]
                new[kind] += [(p, names[s]) for p, s in zip(pos.tolist(), u.tolist())]
                fresh_syms.append((kind, u.tolist()))
        for p, e in zip(fpos.tolist(), fev):
            if not keep[p]:
                continue
            if e.agent is not None:
                new["agents"].append((p, e.agent))
            if e.queue is not None:
                new["queues"].append((p, e.queue))
            if e.src is not None:
                seen_src.append((p, e.src))
                if e.seq is not None:
                    new["sources"].append((p, e.src))
            if e.type == "busy" and e.reason:
                new["reasons"].append((p, e.reason))
        if not any(new.values()) and not seen_src:
            return True
        seen_src += new["sources"]
        order = {k: [s for _, s in sorted(v)] for k, v in new.items()}
        if not self.engine.intern_new(order, {s for _, s in seen_src}):
            return False
        tables = vars(self.engine.sym)
        for kind, syms in fresh_syms:
            ids = tables[kind].ids
            for s in syms:
                self.gmap[s] = ids[names[s]]
        return True

    def batch(self, RI, RN, fpos, fev) -> Batch:
        """The rows as the engine's Batch (after `intern`); rows at `fpos` are `fev`'s."""
        g = self.gmap

        def ids(col):
            c = RI[:, col]
            return np.where(c >= 0, g[np.maximum(c, 0)], -1)

        reason = RI[:, J.R_REASON]
        code = np.where(reason >= 0, g[np.maximum(reason, 0)], RI[:, J.R_CODE])
        src = ids(J.R_SRC)
        b = Batch(RI[:, J.R_ETYPE].astype(np.int8), RI[:, J.R_TS].copy(),
                  ids(J.R_AGENT).astype(np.int32), RI[:, J.R_CALL].copy(),
                  ids(J.R_QUEUE).astype(np.int32), code.astype(np.int32),
                  RI[:, J.R_AUX].copy(), RN.copy(), src.astype(np.int32),
                  np.where(src >= 0, RI[:, J.R_SEQ], -1), RI[:, J.R_EPOCH].copy())
        if len(fpos):
            fb = to_batch(fev, self.engine.sym)
            for mine, theirs in zip(b.columns() + (b.epoch,), fb.columns() + (fb.epochs(),)):
                mine[fpos] = theirs
        return b


class LineScanner:
    """Whole lines -> Blocks of rows, one symbol table across them; `line` is the number
    of the next line."""

    def __init__(self, scan: bool = True):
        self.scanning = scan
        self.tables = _tables(scan)
        self.sym = Symbols()
        self.line = 1

    def scan(self, buf, rows: int | None = None) -> Iterator[Block]:
        """Blocks of at most `rows` (ROWS) rows from buf (bytes, or a mmap), whole lines."""
        rows = rows or ROWS
        b = np.frombuffer(buf, np.uint8)
        sym = self.sym
        pos = 0
        while pos < len(b):
            RI = np.empty((rows, J.R_K), np.int64)
            RN = np.empty(rows, np.float64)
            r = 0
            while True:
                pos, self.line, r, st = J.scan_lines(
                    b, pos, self.line, True, RI, RN, r, *self.tables, sym.tab, sym.SH,
                    sym.SC, sym.SO, sym.SL, sym.pool, sym.S)
                if st != J.NEED_SYMBOLS:
                    break
                sym.grow()
            sym.take_new()
            block = Block(b, RI[:r], RN[:r])
            for k in np.flatnonzero(block.RI[:, J.R_OK] == 0).tolist():
                try:
                    block.strict[k] = schema.decode_event(block.line_bytes(k))
                except Rejected as rej:
                    block.strict[k] = rej
            yield block


class EventFile:
    """An events file (.jsonl, or .jsonl.gz from `serve --archive`), read once, in blocks."""

    def __init__(self, path: Path, scan: bool = True):
        self.path = Path(path)
        self.scanner = LineScanner(scan)
        self.sym = self.scanner.sym
        self._kept: list[Block] = []  # read ahead by first_site, not yet handed out
        self._it = self._read()

    def _open(self):
        try:
            # .gz: the audit archive of `serve --archive`
            return (gzip.open(self.path, "rb") if str(self.path).endswith(".gz")
                    else open(self.path, "rb"))
        except OSError as e:
            raise ConfigError(f"events file {self.path}: cannot open it ({e.strerror})") from None

    def _read(self) -> Iterator[Block]:
        with self._open() as f:
            if not isinstance(f, gzip.GzipFile):
                # mapped, not copied: the scanner reads the page cache in place (the map
                # lives as long as a block refers to it)
                if os.fstat(f.fileno()).st_size == 0:
                    return
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                yield from self.scanner.scan(mm)
                return
            tail = b""
            while True:
                try:
                    data = f.read(BLOCK)
                except (EOFError, gzip.BadGzipFile) as e:
                    raise ConfigError(f"events file {self.path}: not a complete gzip file "
                                      f"({e})") from None
                if data:
                    data = tail + data
                    cut = data.rfind(b"\n") + 1
                    if cut == 0:
                        tail = data
                        continue
                    data, tail = data[:cut], data[cut:]
                else:
                    data, tail = tail, b""
                    if not data:
                        return
                yield from self.scanner.scan(data)

    def first_site(self) -> str | None:
        """The site named by the file's first event that names one (for a run without
        --site); the blocks read to find it are kept for `blocks`, up to KEEP blocks:
        beyond, the search goes on without keeping them and `blocks` reads the file again
        from the start (memory stays bounded for a long file that names no site)."""
        keeping = True
        site = None
        for block in self._it:
            if keeping:
                self._kept.append(block)
                if len(self._kept) > KEEP:
                    keeping = False
                    self._kept.clear()
            site = self._site_in(block)
            if site is not None:
                break
        if not keeping:  # start again: a fresh symbol table, line 1
            self._it.close()
            self.scanner = LineScanner(self.scanner.scanning)
            self.sym = self.scanner.sym
            self._it = self._read()
        return site

    def _site_in(self, block: Block) -> str | None:
        RI = block.RI
        named = np.flatnonzero((RI[:, J.R_OK] == 1) & (RI[:, J.R_SITE] >= 0))
        first = int(named[0]) if len(named) else len(block)
        for k in sorted(block.strict):
            if k > first:
                break
            e = block.strict[k]
            if isinstance(e, schema.Event) and e.site:
                return e.site
        return self.sym.names[RI[first, J.R_SITE]] if len(named) else None

    def blocks(self) -> Iterator[Block]:
        while self._kept:
            yield self._kept.pop(0)
        yield from self._it
