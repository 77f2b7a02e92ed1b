"""`kefu-floor` command line. Each subcommand is a thin adapter over the package."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from kefu_floor.errors import ConfigError, KefuError
from kefu_floor.i18n import default_lang, t

if TYPE_CHECKING:  # imported when a command runs: `--help` stays quick
    from kefu_floor.engine import Setup

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_NO_DATA = 4

REPLAY_HELP = """\
Replay a recorded day (JSON Lines, one event per line) through the scoring engine and print
the month's score report.

exit codes:
  0  every line was accepted
  1  a file or flag is unusable (the message names it); nothing is printed on stdout
  2  the command line itself is wrong
  3  the report was printed, but some lines were rejected (each is listed on stderr as
     FILE:LINE: rejected (REASON): DETAIL)
  4  --month names a month the events do not reach: nothing is printed on stdout, stderr
     says which months they cover

Without --roster every agent is scored as "not in the roster" (no teams, no probation);
without --schedule nothing of attendance can be checked (late sign-in, late return, early
leave, absent) and busy time in breaks counts against the budget. Both are said on stderr.
"""

SITE_OK = "letters, digits, '-', '_' or '.', at most 64"


def check_site(site: str, flag: str = "--site") -> str:
    """A site id is part of MQTT topic names: no '/', '+', '#', spaces or control chars."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", site or ""):
        raise ConfigError(f"{flag} {site!r}: a site id is {SITE_OK} (it is part of the MQTT "
                          "topic names)")
    return site


def events_path(p: str) -> Path:
    path = Path(p)
    if path.is_dir():
        raise ConfigError(f"events file {path}: is a directory; give the JSON Lines file "
                          "itself (e.g. {path}/events.jsonl)".replace("{path}", str(path)))
    if not path.exists():
        raise ConfigError(f"events file {path}: no such file")
    if not path.is_file():
        raise ConfigError(f"events file {path}: not a regular file")
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) == 4 and head[1] == 0
                                                         and head[3] == 0):
        raise ConfigError(f"events file {path}: is UTF-16 text; JSON Lines must be UTF-8 "
                          "(e.g. iconv -f UTF-16 -t UTF-8 FILE > events.jsonl)")
    return path



def _setup(args) -> "Setup":
    from kefu_floor.engine import Setup
    from kefu_floor.policy import load_policy
    from kefu_floor.roster import Roster, load_roster, load_schedule

    pol = load_policy(args.policy)
    if getattr(args, "site", None):
        check_site(args.site)
    roster = load_roster(args.roster) if args.roster else Roster()
    shifts = (load_schedule(args.schedule, pol.tz, pol.attendance.default_grace_min)
              if args.schedule else [])
    return Setup(policy=pol, roster=roster, shifts=shifts, site=args.site or "default")


def _month(s: str | None) -> int | None:
    from kefu_floor.localtime import parse_month

    if s is None:
        return None
    try:
        return parse_month(s)
    except ValueError as e:
        raise ConfigError(f"--month: {e}") from None


def cmd_replay(args) -> int:
    from kernels import compiled

    compiled.prefer_compiled()  # before any kernel module: a replay runs without numba
    from kefu_floor.linescan import EventFile

    path = events_path(args.events)
    month = _month(args.month)
    strict = args.decoder == "strict"
    # reading starts now, in threads of its own, while the engine is made
    events = path if strict else EventFile(path)
    try:
        return _replay(args, path, events, month, strict)
    finally:
        if not strict:
            events.close()  # read to the end already, unless the set-up failed


def _replay(args, path, events, month, strict) -> int:
    from kefu_floor.engine import Engine
    from kefu_floor.replay import replay, stderr_reject
    from kefu_floor.views.report import build_report

    engine = Engine(_setup(args))
    lang = args.lang
    if not args.roster:
        print(t("warn_no_roster", lang), file=sys.stderr)
    if not args.schedule:
        print(t("warn_no_schedule", lang), file=sys.stderr)
    progress = None
    bar = None
    if sys.stderr.isatty() and path.stat().st_size > 5_000_000:
        from rich.progress import Progress

        total = sum(chunk.count(b"\n") for chunk in iter(lambda f=open(path, "rb"): f.read(1 << 20), b""))
        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("replay", total=total)
        progress = lambda n: bar.update(task, completed=n)  # noqa: E731
    try:
        # without --site, the site the file names first (one pass over the file)
        res = replay(engine, events, on_reject=lambda lr: stderr_reject(lr, path),
                     progress=progress, strict=strict, site_from_file=not args.site)
    finally:
        if bar:
            bar.stop()
    if res.accepted == 0:
        raise ConfigError(f"events file {path}: no usable events "
                          f"({len(res.rejected)} line(s) rejected)")
    if month is not None and not _month_has_data(engine, month):
        from kefu_floor.localtime import month_of, month_str
        from kernels import layout as K

        first, last = (month_of(int(engine.G[g]), engine.policy.tz)
                       for g in (K.G_START, K.G_NOW))
        span = month_str(first) if first == last else f"{month_str(first)} .. {month_str(last)}"
        print(t("no_data_month", lang, month=month_str(month), span=span), file=sys.stderr)
        return EXIT_NO_DATA
    report = build_report(engine.finish(), month)
    if args.format == "json":
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        from kefu_floor.close import build_close
        from kefu_floor.localtime import parse_month
        from kefu_floor.views.table import render_table

        # the month's pay sheet of the policy's scheme, as the close computes it
        close = build_close(engine, parse_month(report["month"]))
        sys.stdout.write(render_table(report, args.lang, close=close))
    if res.rejected:
        print(t("rejected_lines", args.lang, n=len(res.rejected)), file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


def _month_has_data(engine, month: int) -> bool:
    """Do the accepted events reach the month (their span overlaps its local days), or
    name it (a qa/adjust with that month field)?"""
    from kefu_floor.localtime import month_of
    from kernels import layout as K

    engine.settle()
    if engine.now is None:
        return False
    first = month_of(int(engine.G[K.G_START]), engine.policy.tz)
    last = month_of(int(engine.G[K.G_NOW]), engine.policy.tz)
    if first <= month <= last:
        return True
    return bool((engine.slot_month == month).any())


def _common(p: argparse.ArgumentParser, site: bool = True) -> None:
    p.add_argument("--roster", metavar="CSV", help="roster.csv: agent,name,team,role,hired,probation,products")
    p.add_argument("--schedule", metavar="CSV", help="schedule.csv: agent,date,start,end,breaks,grace_min")
    p.add_argument("--policy", default="chengdu-2014", metavar="NAME|TOML",
                   help="policy preset name or a .toml file (default: chengdu-2014)")
    if site:
        p.add_argument("--site", help="site id (default: the events' own site field, else "
                                      "'default')")
    p.add_argument("--lang", choices=("zh", "en"), default=default_lang(),
                   help="language of labels (default from the locale)")


def build_parser(only_replay: bool = False) -> argparse.ArgumentParser:
    """The command line; `only_replay`: just `replay` (the other subcommands' modules
    import the service, simulator and dashboards: a second of imports a replay never uses)."""
    ap = argparse.ArgumentParser(
        prog="kefu-floor",
        description="Call-centre floor monitor and appraisal scoring engine (客服现场监控与考核).")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    rp = sub.add_parser("replay", help="score a recorded events file",
                        description=REPLAY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("events", metavar="EVENTS.jsonl")
    _common(rp)
    rp.add_argument("--month", metavar="YYYY-MM", help="month to report (default: the last event's)")
    rp.add_argument("--format", choices=("json", "table"), default="table")
    rp.add_argument("--decoder", choices=("scan", "strict"), default="scan",
                    help="scan (default): a compiled scanner reads the common lines and "
                         "the strict decoder the rest; strict: every line through the "
                         "strict decoder (slower; the same report and rejections)")
    rp.set_defaults(func=cmd_replay)
    for extra in () if only_replay else _extra_commands():
        extra(sub, _common)
    return ap


def _extra_commands():
    """Every other subcommand, in the order `--help` lists them. Named here, not looked up:
    this package is the composition root, the one place that imports every layer (the live
    service, the store, the close, the bridge, the simulators and the dashboards), so a
    missing module is an ImportError at start, not a command that silently is not there."""
    from kefu_floor.cli import bridge, close, demo, ledger, serve, simulate, tui

    return (serve.register, ledger.register, close.register, simulate.register,
            demo.register, tui.register, bridge.register)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = build_parser(only_replay=argv[:1] == ["replay"])
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except KefuError as e:
        print(f"kefu-floor: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def run() -> NoReturn:
    """The `kefu-floor` command: `main`, then exit. A replay has written all it writes
    when `main` returns; what is left is freeing its engine, its blocks and numba's
    compiled code object by object, about a tenth of a big day's replay, so it leaves
    without the interpreter's teardown (its output flushed first)."""
    argv = sys.argv[1:]
    rc = main(argv)
    if argv[:1] == ["replay"]:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            pass  # a reader that stopped early (`| head`): as main, not an error
        os._exit(rc)
    sys.exit(rc)


if __name__ == "__main__":
    run()
