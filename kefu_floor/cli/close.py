"""`kefu-floor close` (DESIGN.md §3.4): a thin adapter over kefu_floor.close."""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kefu_floor.errors import ConfigError

CLOSE_HELP = """\
Close a month: score it, work out the pay sheet of the policy's scheme (chengdu-2014,
team-80-20 or taobao-30pt) and write close.json, paysheet.csv and paysheet.xlsx into --out.

The events come from a file (EVENTS.jsonl --roster R --schedule S) or from the store of a
running service (--store URL --site S --roster R --schedule S). The store keeps the
service's state (checkpoint and journal), not its set-up: give the --policy, --roster and
--schedule `serve` runs with (a checkpoint taken with others is refused). Reading the store
never writes to it, so the service may keep running; its state holds about two months of
days, so an older month is closed from the service's --archive day files instead.

A closed month is frozen: closing it again with the same inputs writes the same files; when
the inputs now hold more events for it, the close is left as it is and the late events are
reported on stderr and in OUT/late_events.json. "The inputs" are the month's accepted
events, recorded in close.json as inputs.events (how many) and inputs.digest (an order-free
digest of them), the same for a file and a store holding the same events.

examples:
  kefu-floor close events.jsonl --roster roster.csv --schedule schedule.csv \\
                   --policy team-80-20 --month 2026-11 --out close/2026-11
  kefu-floor close --store redis://127.0.0.1:6379/0 --site cd1 --roster roster.csv \\
                   --schedule schedule.csv --policy team-80-20 --month 2026-11 --out close/2026-11

exit codes:
  0  the month was closed (or was already closed: see stderr for late events)
  1  a file or flag is unusable, or the store cannot be read or no longer holds the month
     (the message names it and the fix)
  2  the command line itself is wrong
  3  closed, but some lines were rejected (each is listed on stderr)
"""
LATE_SHOWN = 10


def register(sub, common) -> None:
    cp = sub.add_parser("close", help="close a month: pay sheet and close.json",
                        description=CLOSE_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    cp.add_argument("events", metavar="EVENTS.jsonl", nargs="?",
                    help="the events (JSON Lines, or .jsonl.gz as `serve --archive` writes)")
    common(cp)
    cp.add_argument("--store", metavar="URL",
                    help="instead of a file: the live store of `serve --store URL` "
                         "(redis://[:password@]host:port/db, rediss://…, or any node of a "
                         "Redis Cluster); read-only, with --site and the --roster, --schedule "
                         "and --policy the service runs with")
    cp.add_argument("--month", required=True, metavar="YYYY-MM", help="month to close")
    cp.add_argument("--out", required=True, metavar="DIR", help="folder for the close's files")
    cp.add_argument("--history", metavar="DIR",
                    help="earlier closes, one YYYY-MM folder each (streak rules)")
    cp.add_argument("--calendar", metavar="CSV",
                    help="site day overrides for overtime and appeals: date,kind with kind "
                         "workday|restday|holiday (wins over the China calendar)")
    cp.set_defaults(func=cmd_close)
    ep = sub.add_parser("excuse", help="publish an approved appeal (an excuse event)",
                        description="Publish an approved appeal: the agent's deductions of "
                        "RULE on DAY are cancelled and the scores recompute. The close lists "
                        "it with who approved it.")
    ep.add_argument("--site", required=True)
    ep.add_argument("--agent", required=True, metavar="ID")
    ep.add_argument("--rule", required=True, help="e.g. late_sign_in, busy_over_30, absent")
    ep.add_argument("--day", required=True, metavar="YYYY-MM-DD", help="the deduction's day")
    ep.add_argument("--reason", required=True)
    ep.add_argument("--by", required=True, metavar="LEADER", help="who approved the appeal")
    to = ep.add_mutually_exclusive_group(required=True)
    to.add_argument("--broker", metavar="URL", help="publish to mqtt://host:port "
                    "(the site's manual topic, QoS 1)")
    to.add_argument("--out", metavar="FILE", help="append the event to a JSON Lines file")
    ep.set_defaults(func=cmd_excuse)


def cmd_excuse(args) -> int:
    import asyncio

    from kefu_floor.close.excuse import excuse_event

    raw = excuse_event(args.site, args.agent, args.rule, args.day, args.reason, args.by)
    if args.out:
        try:
            with open(args.out, "ab") as fh:
                fh.write(raw + b"\n")
        except OSError as e:
            raise ConfigError(f"--out {args.out}: cannot append to it ({e.strerror})") from None
        print(f"appended to {args.out}", file=sys.stderr)
        return 0
    from kefu_floor.live.mqtt import parse_broker_url, publish_batches

    url = parse_broker_url(args.broker)
    try:
        asyncio.run(asyncio.wait_for(publish_batches(url, args.site, [raw], manual=True), 15))
    except (OSError, asyncio.TimeoutError, Exception) as e:  # aiomqtt's MqttError and kin
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"--broker {url.display}: cannot publish ({e or type(e).__name__}); "
                          "is the broker running?") from None
    print(f"published to {url.display} kefu/{args.site}/manual", file=sys.stderr)
    return 0


def _event_month(e, tz) -> int:
    from kefu_floor.localtime import month_of, parse_month

    if e.type in ("qa", "adjust", "incident") and e.month:
        return parse_month(e.month)
    return month_of(e.ts, tz)


@dataclass
class _Source:
    """An engine holding the month, and how to find the month's newest input events."""

    engine: object
    rejected: int
    where: str  # how messages name the source
    newest: Callable[[int], tuple[list[bytes], int]]  # k -> (up to the last k, how many exist)
    lines: list[bytes] | None = None  # a file's month events (older closes' sha256)


def _from_file(args, month: int) -> _Source:
    from kefu_floor.cli.main import _setup
    from kefu_floor.engine import Engine
    from kefu_floor.errors import Rejected
    from kefu_floor.replay import first_site, read_events, stderr_reject
    from kefu_floor.schema import encode

    path = Path(args.events)
    if not path.is_file():
        raise ConfigError(f"events file {path}: no such file")
    if not args.site:
        args.site = first_site(path)
    engine = Engine(_setup(args))
    tz = engine.policy.tz
    events, rejected = [], 0
    for n, item in read_events(path):
        if isinstance(item, Rejected):
            rejected += 1
            engine.count_rejected([item])
            stderr_reject(type("LR", (), {"line": n, "rejection": item})(), path)
            continue
        events.append(item)
    good, bad = engine.check_site(events)
    for r in bad:
        rejected += 1
        print(f"{path}: rejected ({r.reason}): {r.detail}", file=sys.stderr)
    engine.count_rejected(bad)
    lines = [encode(e) for e in good if _event_month(e, tz) == month]
    if not lines:
        raise ConfigError(f"events file {path}: no events for {args.month}")
    for k in range(0, len(good), 20_000):
        engine.feed(good[k:k + 20_000])
    engine.settle()  # the end of the file's input
    return _Source(engine, rejected, f"events file {path}",
                   lambda k: (lines[len(lines) - k:] if k else [], len(lines)), lines)


def _from_store(args, month: int) -> _Source:
    from kefu_floor.cli.main import _setup
    from kefu_floor.store.reader import archive_fix, rebuild, tail_events
    from kefu_floor.engine import Engine
    from kefu_floor.store import redact

    if not args.site:
        raise ConfigError("--store: give --site too (the site `serve` runs, e.g. --site cd1)")
    if not args.roster or not args.schedule:
        raise ConfigError("--store: give --roster and --schedule too, the files `serve` runs "
                          "with (the store keeps the engine's state, not its set-up)")
    setup = _setup(args)
    got = rebuild(args.store, args.site, lambda: Engine(setup), args.month)
    engine = got.engine
    engine.settle()  # held events are decided as at the end of a file (the close's input)
    tz = engine.policy.tz
    where = f"--store {redact(args.store)} --site {args.site}"
    if not engine.holds_month(month):
        raise ConfigError(
            f"{where}: the service's state no longer holds {args.month} (the engine keeps "
            "about two months of days and its later days have taken the month's slots); "
            + archive_fix(args.site, args.month))

    def newest(k: int) -> tuple[list[bytes], int]:
        if not k:
            return [], 0
        tail = tail_events(args.store, args.site, engine, got.checkpoint,
                           lambda e: _event_month(e, tz) == month)
        return tail[max(0, len(tail) - k):], len(tail)

    if got.bad_entries:
        print(f"{where}: {got.bad_entries} journal entries do not decode and were skipped "
              "(as serve skips them)", file=sys.stderr)
    return _Source(engine, 0, where, newest)


def cmd_close(args) -> int:
    from kefu_floor.cli.main import EXIT_OK, EXIT_REJECTED, _month
    from kefu_floor.close import build_close
    from kefu_floor.close.calendar import load_calendar
    from kefu_floor.close.common import read_history
    from kefu_floor.close.writer import write_close

    if (args.events is None) == (args.store is None):
        raise ConfigError("give the events either as EVENTS.jsonl or as --store URL --site S "
                          "(one of them)")
    if args.events is not None:
        from kernels import compiled

        compiled.prefer_compiled()  # a file's close replays it: as `replay`, without numba
    month = _month(args.month)
    calendar = load_calendar(args.calendar)
    history = read_history(args.history, month)
    src = _from_store(args, month) if args.store else _from_file(args, month)
    engine = src.engine
    if not engine.holds_month(month):
        raise ConfigError(f"{src.where}: its events run so far past {args.month} that the "
                          "engine no longer holds the month's days; give the month's events "
                          "(the ones after it are not needed)")
    n, dig = engine.month_inputs(month)
    if n == 0:
        raise ConfigError(f"{src.where}: no events for {args.month}")
    out = Path(args.out)
    old = _closed(out, args.month)
    if old is not None:
        late = _late(old, n, dig, src, out, args.month)
        if late is not None:
            _report_late(out, args.month, late, src.where)
            return EXIT_OK
    doc = build_close(engine.finish(), month, calendar, history)
    # what the month was closed from: the accepted events' count and order-free digest
    # (kernels.inputs), the same whichever source gave them
    doc["inputs"] = {"events": n, "digest": dig}
    if old is not None and doc != old:
        # the month's events are the same, but something else moved (roster, schedule,
        # policy, history, events of other months): a closed month stays as it was closed
        print(f"kefu-floor close: {args.month} is already closed in {out} and is kept as it "
              "was; the same events now give a different close (roster, schedule, policy, "
              "history or other months' events changed): close into another folder to see "
              "it", file=sys.stderr)
        return EXIT_OK
    write_close(doc, out)
    print(f"closed {args.month} ({doc['policy']}): {len(doc['agents'])} rows in {out}",
          file=sys.stderr)
    return EXIT_REJECTED if src.rejected else EXIT_OK


def _late(old: dict, n: int, dig: str, src: _Source, out: Path, month: str):
    """None when the inputs hold the events the month was closed from (and no more), else
    (late count, the newest few, how many of them could be listed). ConfigError when the
    close was made from other events."""
    inp = old["inputs"]
    other = ConfigError(f"--out {out}: holds a close of {month} made from other events; "
                        "close into another folder, or remove it to close again")
    if "digest" not in inp:  # a close made before the digest: by the file's lines
        lines, k = src.lines, inp["events"]
        if lines is None or len(lines) < k or _digest(lines[:k]) != inp["sha256"]:
            raise other
        late = lines[k:]
        return (len(late), late[:LATE_SHOWN], len(late)) if late else None
    k = inp["events"]
    if n < k or (n == k and dig != inp["digest"]):
        raise other
    if n == k:
        return None
    newest, found = src.newest(n - k)
    return n - k, newest[:LATE_SHOWN], len(newest)


def _digest(lines: list[bytes]) -> str:
    h = hashlib.sha256()
    for b in lines:
        h.update(b)
        h.update(b"\n")
    return h.hexdigest()


def _closed(out: Path, month: str) -> dict | None:
    p = out / "close.json"
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text("utf-8"))
        if doc["month"] != month:
            raise ConfigError(f"--out {out}: holds the close of {doc['month']}, not {month}; "
                              "use one folder per month")
        doc["inputs"]["events"]
        doc["inputs"]["digest" if "digest" in doc["inputs"] else "sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"--out {out}: close.json there is not a kefu-floor close; "
                          "use an empty folder") from None
    return doc


def _report_late(out: Path, month: str, late, where: str) -> None:
    count, shown, listed = late
    first = [json.loads(b) for b in shown]
    doc = {"month": month, "count": count, "first": first,
           "note": "the month is closed; these events were not applied"}
    missing = ""
    if listed < min(count, LATE_SHOWN):
        # a store's journal holds only what came after its last checkpoint
        doc["note"] += (f"; {count - listed} of them are no longer in {where}'s journal "
                        "(see the service's --archive day files)")
        missing = f" ({count - listed} of them no longer in the journal)"
    (out / "late_events.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n",
                                          "utf-8")
    head = f", first: {shown[0].decode()}" if shown else ""
    print(f"kefu-floor close: {month} is already closed in {out}: {count} late event(s) "
          f"not applied{missing}{head} (all listed in {out / 'late_events.json'})",
          file=sys.stderr)
