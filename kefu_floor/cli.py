"""`kefu-floor` command line. Each subcommand is a thin adapter over the package."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kefu_floor.errors import ConfigError, KefuError
from kefu_floor.i18n import default_lang, t

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3

REPLAY_HELP = """\
Replay a recorded day (JSON Lines, one event per line) through the scoring engine and print
the month's score report.

exit codes:
  0  every line was accepted
  1  a file or flag is unusable (the message names it); nothing is printed on stdout
  2  the command line itself is wrong
  3  the report was printed, but some lines were rejected (each is listed on stderr as
     FILE:LINE: rejected (REASON): DETAIL)
"""


def _setup(args) -> "Setup":
    from kefu_floor.engine import Setup
    from kefu_floor.policy import load_policy
    from kefu_floor.roster import Roster, load_roster, load_schedule

    pol = load_policy(args.policy)
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
    from kefu_floor.engine import Engine
    from kefu_floor.replay import first_site, replay, stderr_reject
    from kefu_floor.report import build_report

    path = Path(args.events)
    if not path.is_file():
        raise ConfigError(f"events file {path}: no such file")
    month = _month(args.month)
    if not args.site:
        args.site = first_site(path)
    engine = Engine(_setup(args))
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
        res = replay(engine, path, on_reject=lambda lr: stderr_reject(lr, path), progress=progress)
    finally:
        if bar:
            bar.stop()
    if res.accepted == 0:
        raise ConfigError(f"events file {path}: no usable events "
                          f"({len(res.rejected)} line(s) rejected)")
    report = build_report(engine, month)
    if args.format == "json":
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        from kefu_floor.close import build_close
        from kefu_floor.localtime import parse_month
        from kefu_floor.table import render_table

        # the month's pay sheet of the policy's scheme, as the close computes it
        close = build_close(engine, parse_month(report["month"]))
        sys.stdout.write(render_table(report, args.lang, close=close))
    if res.rejected:
        print(t("rejected_lines", args.lang, n=len(res.rejected)), file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


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


def build_parser() -> argparse.ArgumentParser:
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
    rp.set_defaults(func=cmd_replay)
    for extra in _extra_commands():
        extra(sub, _common)
    return ap


def _extra_commands():
    """Subcommands that live in their own modules (live service, simulator, dashboards)."""
    import importlib
    import importlib.util

    out = []
    for mod in ("kefu_floor.service_cli", "kefu_floor.store.cli", "kefu_floor.close.cli",
                "simulators.cli", "dashboards.cli", "kefu_floor.bridge.cli"):
        if importlib.util.find_spec(mod) is not None:
            out.append(importlib.import_module(mod).register)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
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


if __name__ == "__main__":
    raise SystemExit(main())
