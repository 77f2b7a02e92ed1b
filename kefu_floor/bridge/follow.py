"""Reading queue_log: the flat file (whole, or followed through rotation and truncation),
a CSV/TSV export of the realtime table, or an SQLite realtime table — and the durable
position (the state file) a restarted bridge resumes from.

Each source hands out batches of (line or row number, Record | Malformed) and a position
that is saved only after the sink has the batch's events (`save_state`), so a bridge killed
at any point re-reads at most one batch, and `seq` lets the engine drop what it already had.
"""
from __future__ import annotations

import csv
import json
import os
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

from kefu_floor.bridge.asterisk import Malformed, parse_db_row, parse_line
from kefu_floor.errors import ConfigError

CHUNK = 1 << 20
STATE_VERSION = 1


def _decode(raw: bytes) -> str:
    # queue names and caller names may be in any encoding an old PBX used; only the
    # ASCII fields matter for the mapping, so undecodable bytes never reject a line
    return raw.decode("utf-8", errors="replace").rstrip("\r")


class LogFile:
    """The flat queue_log. `read(n)` returns up to n complete lines from the saved offset;
    a line without its newline yet is left for the next read (Asterisk may be mid-write).

    Rotation (logger rotate: the file is renamed and a new one created) is seen as a new
    inode at the path: the old file is read to its end first, then the new one from 0. A
    bridge that was stopped over a rotation finds the old file by its inode in the same
    folder (queue_log.0, queue_log.1, …) and finishes it first. Truncation (the same inode,
    shorter than the offset) restarts at 0."""

    def __init__(self, path: Path, follow: bool, inode: int | None = None, offset: int = 0,
                 line: int = 0, counts: dict | None = None):
        self.path = Path(path)
        self.follow = follow
        self.inode = inode
        self.offset = offset
        self.line = line
        self.counts = counts if counts is not None else {}
        self.notices: list[str] = []
        self._fd: int | None = None
        self._draining = False  # reading a rotated-away file to its end
        self._buf = b""

    def _bump(self, k: str) -> None:
        self.counts[k] = self.counts.get(k, 0) + 1

    def position(self) -> dict:
        return {"path": str(self.path), "inode": self.inode, "offset": self.offset,
                "line": self.line}

    def _open_path(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            if not self.follow:
                raise ConfigError(f"queue_log {self.path}: no such file") from None
            return False
        except OSError as e:
            raise ConfigError(f"queue_log {self.path}: cannot open it ({e.strerror})") from None
        ino = os.fstat(fd).st_ino
        if self.inode is not None and ino != self.inode:
            old = self._find_rotated(self.inode)
            if old is not None:
                os.close(fd)
                self._fd = os.open(old, os.O_RDONLY)
                self._draining = True
                self.notices.append(f"{self.path} was rotated while the bridge was stopped: "
                                    f"finishing {old.name} first")
                return True
            if self.offset:
                self._bump("rotated_file_not_found")
                self.notices.append(f"{self.path} was rotated while the bridge was stopped "
                                    "and the old file is gone (compressed or deleted): the "
                                    "rest of it is lost; starting the new file")
            self.offset = 0
            self.line = 0
        self._fd = fd
        self.inode = ino
        if os.fstat(fd).st_size < self.offset:
            self._truncated()
        return True

    def _find_rotated(self, inode: int) -> Path | None:
        d = self.path.parent
        try:
            names = sorted(os.listdir(d))
        except OSError:
            return None
        for name in names:
            p = d / name
            if name.startswith(self.path.name) and p != self.path:
                try:
                    if p.stat().st_ino == inode and p.is_file():
                        return p
                except OSError:
                    continue
        return None

    def _truncated(self) -> None:
        self._bump("truncations")
        self.notices.append(f"{self.path} was truncated: reading it again from the start")
        self.offset = 0
        self.line = 0
        self._buf = b""

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def read(self, max_lines: int) -> list[tuple[int, object]]:
        """Up to max_lines parsed lines; [] when nothing complete is there yet (or, without
        follow, at the end of the file)."""
        if self._fd is None and not self._open_path():
            return []
        out: list[tuple[int, object]] = []
        while len(out) < max_lines:
            nl = self._buf.find(b"\n")
            if nl < 0:
                chunk = os.pread(self._fd, CHUNK, self.offset + len(self._buf))
                if chunk:
                    self._buf += chunk
                    continue
                if self._at_end(out):
                    continue
                break
            raw, self._buf = self._buf[:nl], self._buf[nl + 1:]
            self.offset += nl + 1
            self._take(raw, out)
        return out

    def _take(self, raw: bytes, out: list) -> None:
        self.line += 1
        text = _decode(raw)
        if not text.strip():
            return
        try:
            out.append((self.line, parse_line(text, self.line)))
        except Malformed as m:
            out.append((self.line, m))

    def _at_end(self, out: list) -> bool:
        """At the end of what is there: True if reading should go on (a new file)."""
        if self._draining or not self.follow:
            if self._buf:  # the last line of a finished file may lack its newline
                raw, self._buf = self._buf, b""
                self.offset += len(raw)
                self._take(raw, out)
            if not self._draining:
                return False
            os.close(self._fd)
            self._fd = None
            self._draining = False
            self.inode = None
            self.offset = 0
            self.line = 0
            self._bump("rotations")
            return self._open_path()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False  # rotated away, the new one not created yet: keep the old open
        if st.st_ino != self.inode:
            self._draining = True  # rotated: finish the old file, then the new one
            return True
        if st.st_size < self.offset + len(self._buf):
            self._truncated()
            return True
        return False


class CsvTable:
    """A CSV or TSV export of the realtime queue_log table (header row naming the
    columns; e.g. `mysql --batch -e 'SELECT * FROM queue_log ORDER BY id'`)."""

    def __init__(self, path: Path, tz: ZoneInfo, skip: int = 0):
        self.path = Path(path)
        self.tz = tz
        self.line = skip
        try:
            self._f = open(self.path, newline="", encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as e:
            raise ConfigError(f"queue_log table {self.path}: cannot open it "
                              f"({e.strerror})") from None
        head = self._f.readline()
        delim = "\t" if head.count("\t") > head.count(",") else ","
        cols = [c.strip().strip('"').lower() for c in next(csv.reader([head], delimiter=delim))]
        if "time" not in cols or "event" not in cols:
            raise ConfigError(f"queue_log table {self.path}: the header must name the "
                              "realtime columns (time, callid, queuename, agent, event, "
                              "data1..data5 or data)")
        self._rows = csv.DictReader(self._f, fieldnames=cols, delimiter=delim)
        for _ in range(skip):
            next(self._rows, None)
        self.inode = None

    def position(self) -> dict:
        return {"path": str(self.path), "row": self.line}

    def read(self, max_lines: int) -> list[tuple[int, object]]:
        out = []
        for row in self._rows:
            self.line += 1
            if all(v in (None, "", "NULL") for v in row.values()):
                continue
            row = {k: (None if v == "NULL" else v) for k, v in row.items() if k}
            try:
                out.append((self.line, parse_db_row(row, self.tz, self.line)))
            except Malformed as m:
                out.append((self.line, m))
            if len(out) >= max_lines:
                break
        return out

    def close(self) -> None:
        self._f.close()


class SqliteTable:
    """An SQLite realtime queue_log table (res_config_sqlite3), read in rowid order; with
    follow, new rows are picked up by rowid."""

    def __init__(self, path: Path, table: str, tz: ZoneInfo, after: int = 0):
        self.path = Path(path)
        self.tz = tz
        self.rowid = after
        if not self.path.is_file():
            raise ConfigError(f"queue_log database {self.path}: no such file")
        if not table.replace("_", "").isalnum():
            raise ConfigError(f"--table {table!r}: a table name is letters, digits and _")
        self.table = table
        try:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._db.row_factory = sqlite3.Row
            cols = [r[1].lower() for r in self._db.execute(f"PRAGMA table_info({table})")]
        except sqlite3.Error as e:
            raise ConfigError(f"queue_log database {self.path}: {e}") from None
        if "time" not in cols or "event" not in cols:
            raise ConfigError(f"queue_log database {self.path}: table {table!r} has no "
                              "time/event columns (is it the realtime queue_log table?)")

    def position(self) -> dict:
        return {"path": str(self.path), "rowid": self.rowid}

    def read(self, max_lines: int) -> list[tuple[int, object]]:
        try:
            rows = self._db.execute(f"SELECT rowid AS _rowid_, * FROM {self.table} WHERE "
                                    "rowid > ? ORDER BY rowid LIMIT ?",
                                    (self.rowid, max_lines)).fetchall()
        except sqlite3.Error as e:
            raise ConfigError(f"queue_log database {self.path}: {e}") from None
        out = []
        for r in rows:
            self.rowid = r["_rowid_"]
            row = {k.lower(): r[k] for k in r.keys() if k != "_rowid_"}  # noqa: SIM118 - a Row iterates values
            try:
                out.append((self.rowid, parse_db_row(row, self.tz, self.rowid)))
            except Malformed as m:
                out.append((self.rowid, m))
        return out

    def close(self) -> None:
        self._db.close()


# ---------------------------------------------------------------------- the state file
def load_state(path: Path | None, src: str) -> dict | None:
    if path is None or not path.exists():
        return None
    try:
        s = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"state file {path}: unreadable ({e}); move it away to start "
                          "over from the beginning of the log") from None
    if not isinstance(s, dict) or s.get("version") != STATE_VERSION:
        raise ConfigError(f"state file {path}: not a kefu-floor bridge state (version "
                          f"{STATE_VERSION}); move it away to start over")
    if s.get("src") != src:
        raise ConfigError(f"state file {path} belongs to bridge {s.get('src')!r}, not "
                          f"{src!r}: give the same --id, or another --state file")
    return s


def save_state(path: Path, src: str, position: dict, mapper_state: dict) -> None:
    """Atomically: a reader (or a restart after kill -9) sees the old file or the new one."""
    body = json.dumps({"version": STATE_VERSION, "src": src, "position": position,
                       "mapper": mapper_state}, ensure_ascii=False, separators=(",", ":"))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
