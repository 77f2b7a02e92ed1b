"""A JSON Lines file read in blocks by the compiled scanner (`kernels.jsonscan`), with the
strict decoder (`kefu_floor.schema.decode_event`) for every line the scanner leaves.

`EventFile(path).blocks()` yields `Block`s: the rows of a block of whole lines, each either
filled by the scanner (columns in `RI`/`RN`, ids as symbols of the file's `Names`) or
decoded strictly (`strict[row]`: the Event or its Rejected). Threads scan the file's
segments on the other cores while the caller feeds the engine (`read_segments`). The scanner's tables (type
names, required fields, enum values, ranges) are built here from the schema, so the wire
format has one definition. They, the symbol table (`Symbols`) and the mapping of its
symbols to an engine's ids (`EngineIds`) are shared with live ingest's payload scanner
(`kefu_floor.payloadscan`).
"""
from __future__ import annotations

import gzip
import mmap
import os
import queue
import threading
import weakref
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
AHEAD = 2  # blocks a reading thread may have ready before the caller takes them
SEGMENT = 4 << 20  # bytes of a mapped file a reading thread takes at a time (whole lines)
# threads that read a file (read_segments), one per core up to 4: on 2 cores, 2 readers
# beside the caller replayed the benchmark's day in 1.42-1.45 s, 1 in 1.49-1.54, 3 in 1.49-1.51
WORKERS = max(1, min(4, (os.cpu_count() or 1)))

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
        n = len(RI)
        b = Batch(*(np.empty(n, t) for t in (np.int8, np.int64, np.int32, np.int64, np.int32,
                                             np.int32, np.int64, np.float64, np.int32,
                                             np.int64)), epoch=np.empty(n, np.int64))
        J.batch_columns(RI, RN, self.gmap, *b.columns(), b.epoch)
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

    def scan(self, buf, rows: int | None = None, start: int = 0, bom: bool = True
             ) -> Iterator[Block]:
        """Blocks of at most `rows` (ROWS) rows from buf (bytes, a mmap or a uint8 array)
        from byte `start`, whole lines; `bom`: a byte-order mark may open line 1."""
        rows = rows or ROWS
        b = buf if isinstance(buf, np.ndarray) else np.frombuffer(buf, np.uint8)
        sym = self.sym
        pos = start
        while pos < len(b):
            RI = np.empty((rows, J.R_K), np.int64)
            RN = np.empty(rows, np.float64)
            r = 0
            while True:
                pos, self.line, r, st = J.scan_lines(
                    b, pos, self.line, bom, RI, RN, r, *self.tables, sym.tab, sym.SH,
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

    def segment(self, buf: np.ndarray, lo: int, hi: int, first: bool) -> Iterator[Block]:
        """The blocks of segment buf[lo:hi] (whole lines), its lines numbered from 1 (the
        caller adds the lines before it); a byte-order mark only in the file's first."""
        self.line = 1
        return self.scan(buf[:hi], start=lo, bom=first)


class Names:
    """The symbols of several scanners' tables as one: (category, name) -> one id, in the
    order the caller meets them; `names[id]` as a Symbols table has them."""

    def __init__(self):
        self.names: list[str] = []
        self._ids: dict[tuple[int, str], int] = {}
        self._maps: dict[int, np.ndarray] = {}  # id(scanner's Symbols) -> its ids here

    def adopt(self, block: Block, sym: Symbols, n_sym: int, lines_before: int) -> None:
        """Renumber the block's symbol columns from `sym`'s ids (its first n_sym symbols
        are complete) to these, and its line numbers from its segment's to the file's."""
        m = self._maps.get(id(sym), np.zeros(0, np.int64))
        if len(m) < n_sym:
            new = []
            for s in range(len(m), n_sym):
                key = (int(sym.cats[s]), sym.names[s])
                k = self._ids.get(key)
                if k is None:
                    k = self._ids[key] = len(self.names)
                    self.names.append(key[1])
                new.append(k)
            m = self._maps[id(sym)] = np.concatenate([m, np.array(new, np.int64)])
        J.renumber(block.RI, SYMBOL_COLUMNS, m, lines_before)


# the columns of a row that hold symbols of the scan's table
SYMBOL_COLUMNS = np.array([J.R_AGENT, J.R_QUEUE, J.R_SRC, J.R_REASON, J.R_SITE], np.int64)


def read_segments(segments: Iterator[tuple[np.ndarray, int, int]], scanning: bool,
                  workers: int, names: Names) -> Iterator[Block]:
    """The blocks of `segments` (buf, lo, hi: whole lines buf[lo:hi]) in their order,
    scanned by `workers` threads started now (0: in the caller's thread, as it reads),
    line numbers counted across segments and symbols numbered in `names`.

    The scanner runs without the GIL, so the threads scan on other cores while the caller
    makes the engine and feeds it. Each thread takes the next segment (the source is read
    under a lock, in order) and scans it with its own symbol table into a queue of that
    segment's blocks, at most AHEAD of them ahead of the caller; the caller reads the
    queues in segment order. A thread's error (a broken gzip file) is raised here, at the
    segment it stopped at; when the caller stops early or drops the iterator, the threads
    stop at their next block."""
    if workers <= 0:
        return _read_here(segments, scanning, names)
    lock = threading.Lock()
    ready = threading.Condition(lock)
    stop = threading.Event()
    queues: dict[int, queue.Queue] = {}
    state = {"next": 0, "last": None}  # next segment to hand out; the last one, once known

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            scanner = LineScanner(scanning)
        except BaseException as e:  # told at this thread's first segment, as any error
            scanner = e
        while not stop.is_set():
            q: queue.Queue = queue.Queue(AHEAD)
            with lock:
                if state["last"] is not None:
                    return
                k = state["next"]
                if isinstance(scanner, BaseException):
                    seg = scanner
                else:
                    try:
                        seg = next(segments, None)
                    except BaseException as e:  # handed to the caller at segment k
                        seg = e
                if seg is None or isinstance(seg, BaseException):
                    state["last"] = k
                state["next"] = k + 1
                queues[k] = q
                ready.notify_all()
            if seg is None or isinstance(seg, BaseException):
                put(q, (None, 0, seg))  # no more segments, or why not
                return
            try:
                for block in scanner.segment(*seg, first=k == 0):
                    if not put(q, (block, len(scanner.sym.names), scanner.sym)):
                        return
            except BaseException as e:
                put(q, (None, 0, e))
                return
            put(q, (None, scanner.line - 1, None))  # the segment's end: its lines

    def take() -> Iterator[Block]:
        try:
            base, k = 0, 0
            while True:
                with lock:
                    while k not in queues:
                        ready.wait()
                    q = queues.pop(k)
                    last = state["last"] == k
                while True:
                    block, n, extra = q.get()
                    if block is None:
                        break
                    names.adopt(block, extra, n, base)
                    yield block
                if isinstance(extra, BaseException):
                    raise extra
                if last:
                    return
                base += n
                k += 1
        finally:
            close()

    def close() -> None:
        stop.set()
        for t in threads:
            t.join()
        segments.close()

    threads = [threading.Thread(target=run, name=f"kefu-scan-{w}", daemon=True)
               for w in range(workers)]
    for t in threads:
        t.start()
    return _Reading(take(), close, stop)


class _Reading:
    """read_segments' blocks; `close` stops the threads (also when none was read yet, which
    a generator's own close does not reach), as does dropping it."""

    def __init__(self, blocks: Iterator[Block], close, stop: threading.Event):
        self._blocks = blocks
        self._close = close
        weakref.finalize(self, stop.set)

    def __iter__(self):
        return self

    def __next__(self) -> Block:
        return next(self._blocks)

    def close(self) -> None:
        self._blocks.close()
        self._close()


def _read_here(segments, scanning: bool, names: Names) -> Iterator[Block]:
    """read_segments without threads."""
    scanner = LineScanner(scanning)
    base = 0
    for k, seg in enumerate(segments):
        for block in scanner.segment(*seg, first=k == 0):
            names.adopt(block, scanner.sym, len(scanner.sym.names), base)
            yield block
        base += scanner.line - 1


class EventFile:
    """An events file (.jsonl, or .jsonl.gz from `serve --archive`), read once, in blocks,
    by `workers` threads (WORKERS; 0: in the caller's thread) started now."""

    def __init__(self, path: Path, scan: bool = True, workers: int | None = None):
        self.path = Path(path)
        self.sym = Names()  # the symbols of the blocks handed out (`names`)
        self._it = read_segments(self._segments(), scan,
                                 WORKERS if workers is None else workers, self.sym)

    def _open(self):
        try:
            # .gz: the audit archive of `serve --archive`
            return (gzip.open(self.path, "rb") if str(self.path).endswith(".gz")
                    else open(self.path, "rb"))
        except OSError as e:
            raise ConfigError(f"events file {self.path}: cannot open it ({e.strerror})") from None

    def _segments(self) -> Iterator[tuple[np.ndarray, int, int]]:
        """(buf, lo, hi): the file in segments of whole lines, in order."""
        with self._open() as f:
            if not isinstance(f, gzip.GzipFile):
                # mapped, not copied: the scanner reads the page cache in place (the map
                # lives as long as a block refers to it)
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    return
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                b = np.frombuffer(mm, np.uint8)
                lo = 0
                while lo < size:
                    cut = mm.find(b"\n", min(lo + SEGMENT, size) - 1)
                    hi = size if cut < 0 else cut + 1
                    yield b, lo, hi
                    lo = hi
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
                yield np.frombuffer(data, np.uint8), 0, len(data)

    def blocks(self) -> Iterator[Block]:
        yield from self._it

    def close(self) -> None:
        """Stop reading (the threads end at their next block); the blocks already handed
        out stay valid."""
        self._it.close()
