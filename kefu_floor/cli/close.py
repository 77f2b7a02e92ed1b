"""`kefu-floor close` (DESIGN.md §3.4): a thin adapter over kefu_floor.close."""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from kefu_floor.errors import ConfigError

CLOSE_HELP = """\
Close a month: score it, work out the pay sheet of the policy's scheme (chengdu-2014,
team-80-20 or taobao-30pt) and write close.json, paysheet.csv and paysheet.xlsx into --out.

A closed month is frozen: closing it again with the same inputs writes the same files; when
the inputs now hold more events for it, the close is left as it is and the late events are
reported on stderr and in OUT/late_events.json.

exit codes:
  0  the month was closed (or was already closed: see stderr for late events)
  1  a file or flag is unusable (the message names it)
  2  the command line itself is wrong
  3  closed, but some lines were rejected (each is listed on stderr)
"""
LATE_SHOWN = 10


def register(sub, common) -> None:
    cp = sub.add_parser("close", help="close a month: pay sheet and close.json",
                        description=CLOSE_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    cp.add_argument("events", metavar="EVENTS.jsonl")
    common(cp)
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


def cmd_close(args) -> int:
    from kefu_floor.cli.main import EXIT_OK, EXIT_REJECTED, _month, _setup
    from kefu_floor.close import build_close
    from kefu_floor.close.calendar import load_calendar
    from kefu_floor.close.common import read_history
    from kefu_floor.close.writer import write_close
    from kefu_floor.engine import Engine
    from kefu_floor.errors import Rejected
    from kefu_floor.replay import first_site, read_events, stderr_reject
    from kefu_floor.schema import encode

    path = Path(args.events)
    if not path.is_file():
        raise ConfigError(f"events file {path}: no such file")
    month = _month(args.month)
    calendar = load_calendar(args.calendar)
    history = read_history(args.history, month)
    if not args.site:
        args.site = first_site(path)
    engine = Engine(_setup(args))
    tz = engine.policy.tz
    events, rejected, mine = [], 0, []
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
    mine = [e for e in good if _event_month(e, tz) == month]
    if not mine:
        raise ConfigError(f"events file {path}: no events for {args.month}")
    lines = [encode(e) for e in mine]
    out = Path(args.out)
    old = _closed(out, args.month)
    if old is not None:
        n = old["inputs"]["events"]
        if len(lines) < n or _digest(lines[:n]) != old["inputs"]["sha256"]:
            raise ConfigError(f"--out {out}: holds a close of {args.month} made from other "
                              "events; close into another folder, or remove it to close again")
        late = lines[n:]
        if late:
            _report_late(out, args.month, late)
            return EXIT_OK
    for k in range(0, len(good), 20_000):
        engine.feed(good[k:k + 20_000])
    doc = build_close(engine, month, calendar, history)
    doc["inputs"] = {"events": len(lines), "sha256": _digest(lines)}
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
    return EXIT_REJECTED if rejected else EXIT_OK


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
        doc["inputs"]["events"], doc["inputs"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"--out {out}: close.json there is not a kefu-floor close; "
                          "use an empty folder") from None
    return doc


def _report_late(out: Path, month: str, late: list[bytes]) -> None:
    first = [json.loads(b) for b in late[:LATE_SHOWN]]
    doc = {"month": month, "count": len(late), "first": first,
           "note": "the month is closed; these events were not applied"}
    (out / "late_events.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n",
                                          "utf-8")
    print(f"kefu-floor close: {month} is already closed in {out}: {len(late)} late event(s) "
          f"not applied, first: {late[0].decode()} (all listed in {out / 'late_events.json'})",
          file=sys.stderr)
