"""The site's people files: `roster.csv` and `schedule.csv` (DESIGN.md §3.2)."""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from kefu_floor.errors import ConfigError
from kefu_floor.localtime import day_number, local_ms


@dataclass(frozen=True)
class Person:
    agent: str
    name: str
    team: str
    role: str  # "agent" | "leader"
    hired: dt.date | None
    probation: bool
    products: int
    mentor: str = ""  # agent id of the trainee's one-to-one trainer (team-80-20), optional


@dataclass(frozen=True)
class Shift:
    agent: str
    date: dt.date
    start_ms: int
    end_ms: int
    grace_ms: int
    breaks: tuple[tuple[int, int], ...]  # (start_ms, end_ms), sorted
    line: int
    ends_local: str = ""  # "HH:MM", for night-shift pay
    overtime: bool = False  # an overtime row (POLICY.md §2), optional column

    @property
    def day(self) -> int:
        return day_number(self.date)


@dataclass
class Roster:
    people: dict[str, Person] = field(default_factory=dict)

    def team_of(self, agent: str) -> str | None:
        p = self.people.get(agent)
        return p.team if p else None


ROSTER_REQUIRED = ("agent", "name", "team", "role", "hired", "probation", "products")
SCHEDULE_REQUIRED = ("agent", "date", "start", "end", "breaks")  # grace_min: optional
FIX_ENCODING = ("save it as \"CSV UTF-8\" (Excel: File > Save As > CSV UTF-8; WPS: "
                "另存为 CSV UTF-8)")


def read_text(path: Path, what: str) -> str:
    """A text file people make in a spreadsheet: UTF-8 (with or without a byte-order
    mark), or UTF-16 / GB18030 (GBK), which Excel and WPS in China often save; those are
    read and named on stderr, so the person knows to fix them."""
    import sys

    if path.is_dir():
        raise ConfigError(f"{what} {path}: is a directory, not a file; give the path of "
                          f"the {what} file itself")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot open it ({e.strerror})") from None
    enc = None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16"
    elif len(raw) >= 4 and raw[1:4:2] == b"\0\0" and raw[0] and raw[2]:
        enc = "utf-16-le"  # no BOM, ASCII header: every second byte is NUL
    elif len(raw) >= 4 and raw[0:4:2] == b"\0\0" and raw[1] and raw[3]:
        enc = "utf-16-be"
    if enc is None:
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                raise ConfigError(f"{what} {path}: not UTF-8 text (byte {e.start}) and not "
                                  f"GBK/GB18030 either; {FIX_ENCODING}") from None
            enc = "GB18030 (GBK)"
    else:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            raise ConfigError(f"{what} {path}: looks like UTF-16 but does not decode; "
                              f"{FIX_ENCODING}") from None
        text = text.lstrip("\ufeff")
        enc = "UTF-16"
    if "\0" in text:
        raise ConfigError(f"{what} {path}: contains NUL characters (not a CSV text file?); "
                          f"{FIX_ENCODING}")
    print(f"kefu-floor: note: {what} {path} is {enc}, not UTF-8; read it as {enc}. To "
          f"silence this, {FIX_ENCODING}", file=sys.stderr)
    return text


def _rows(path: Path, what: str, required: tuple[str, ...]):
    import io

    text = read_text(path, what)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not header:
            raise ConfigError(f"{what} {path}: the file is empty; it needs a header row "
                              f"{','.join(required)}")
        missing = [c for c in required if c not in header]
        if missing:
            raise ConfigError(f"{what} {path}: header lacks column(s) {', '.join(missing)} "
                              f"(found: {','.join(header) or 'nothing'}); the header must "
                              f"name {','.join(required)}")
        dup = sorted({h for h in header if h and header.count(h) > 1})
        if dup:
            raise ConfigError(f"{what} {path}: column(s) {', '.join(dup)} appear twice in "
                              "the header")
        reader.fieldnames = header
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items()
                                    if isinstance(k, str)}
    except csv.Error as e:
        raise ConfigError(f"{what} {path}: not valid CSV ({e})") from None


def _bool(v: str, where: str, col: str = "probation") -> bool:
    low = v.lower()
    if low in ("true", "1", "yes", "是"):
        return True
    if low in ("false", "0", "no", "否", ""):
        return False
    raise ConfigError(f"{where}: column {col}: {v!r} is not true/false")


def _date(v: str, where: str, col: str) -> dt.date:
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        raise ConfigError(f"{where}: column {col}: {v!r} is not a date like 2026-11-03") from None


def load_roster(path: str | Path) -> Roster:
    path = Path(path)
    r = Roster()
    for line, row in _rows(path, "roster", ROSTER_REQUIRED):
        where = f"roster {path} line {line}"
        agent = row.get("agent", "")
        if not agent:
            raise ConfigError(f"{where}: column agent is empty")
        if agent in r.people:
            raise ConfigError(f"{where}: agent {agent} is listed twice")
        role = row.get("role") or "agent"
        if role not in ("agent", "leader"):
            raise ConfigError(f"{where}: column role: {role!r} must be agent or leader")
        hired = _date(row["hired"], where, "hired") if row.get("hired") else None
        products = row.get("products") or "0"
        try:
            n_products = int(products)
        except ValueError:
            raise ConfigError(f"{where}: column products: {products!r} is not a whole "
                              "number") from None
        if not row.get("team"):
            raise ConfigError(f"{where}: column team is empty (every agent belongs to a "
                              "team: the leaders' figures and the team view need it)")
        r.people[agent] = Person(agent=agent, name=row.get("name") or agent,
                                 team=row.get("team", ""), role=role, hired=hired,
                                 probation=_bool(row.get("probation", ""), where),
                                 products=n_products, mentor=row.get("mentor", ""))
    if not r.people:
        raise ConfigError(f"roster {path}: no agents (only a header); every agent would be "
                          "scored as not in the roster. List the agents, one a line")
    for p in r.people.values():
        if p.mentor and (p.mentor not in r.people or p.mentor == p.agent):
            raise ConfigError(f"roster {path}: agent {p.agent}: column mentor: {p.mentor!r} is "
                              "not another agent of the roster")
    return r


def _hhmm(v: str, where: str, col: str) -> dt.time:
    try:
        h, m = v.split(":")
        if len(m) != 2:
            raise ValueError
        return dt.time(int(h), int(m))
    except ValueError:
        raise ConfigError(f"{where}: column {col}: {v!r} is not a time like 08:00") from None


def load_schedule(path: str | Path, tz: ZoneInfo, default_grace_min: float) -> list[Shift]:
    """Shifts in local time made absolute; a shift whose end <= start ends the next day."""
    path = Path(path)
    shifts: list[Shift] = []
    for line, row in _rows(path, "schedule", SCHEDULE_REQUIRED):
        where = f"schedule {path} line {line}"
        agent = row.get("agent", "")
        if not agent:
            raise ConfigError(f"{where}: column agent is empty")
        date = _date(row.get("date", ""), where, "date")
        if not 2000 <= date.year <= 2098:
            raise ConfigError(f"{where}: column date: {date} is outside 2000..2098")
        t_start = _hhmm(row.get("start", ""), where, "start")
        t_end = _hhmm(row.get("end", ""), where, "end")
        start = local_ms(date, t_start, tz)
        end_date = date + dt.timedelta(days=1) if t_end <= t_start else date
        end = local_ms(end_date, t_end, tz)
        g = row.get("grace_min", "")
        try:
            grace = float(g) if g else float(default_grace_min)
            if grace < 0:
                raise ValueError
        except ValueError:
            raise ConfigError(f"{where}: column grace_min: {g!r} is not a number of "
                              "minutes") from None
        breaks = []
        for part in filter(None, (p.strip() for p in row.get("breaks", "").split(";"))):
            try:
                a, b = part.split("-")
            except ValueError:
                raise ConfigError(f"{where}: column breaks: {part!r} is not like "
                                  "12:00-12:30") from None
            ta, tb = _hhmm(a.strip(), where, "breaks"), _hhmm(b.strip(), where, "breaks")
            da = date + dt.timedelta(days=1) if ta < t_start else date
            db = da + dt.timedelta(days=1) if tb <= ta else da
            bs, be = local_ms(da, ta, tz), local_ms(db, tb, tz)
            if bs < start or be > end:
                raise ConfigError(f"{where}: column breaks: {part} is outside the shift "
                                  f"{row['start']}-{row['end']}")
            breaks.append((bs, be))
        breaks.sort()
        for (a1, b1), (a2, _) in zip(breaks, breaks[1:]):
            if a2 < b1:
                raise ConfigError(f"{where}: column breaks: breaks overlap")
        shifts.append(Shift(agent=agent, date=date, start_ms=start, end_ms=end,
                            grace_ms=round(grace * 60_000), breaks=tuple(breaks), line=line,
                            ends_local=row.get("end", ""),
                            overtime=_bool(row.get("overtime", ""), where, "overtime")))
    shifts.sort(key=lambda s: (s.agent, s.start_ms))
    for a, b in zip(shifts, shifts[1:]):
        if a.agent == b.agent and b.start_ms < a.end_ms:
            raise ConfigError(f"schedule {path} line {b.line}: agent {b.agent}'s shift on "
                              f"{b.date} overlaps the one on line {a.line}")
    return shifts
