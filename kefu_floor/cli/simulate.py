"""`kefu-floor simulate`: registered into the main CLI by `kefu_floor.cli.main`."""
from __future__ import annotations

import argparse
import datetime as dt
import sys

from kefu_floor.cli.argtypes import positive, positive_int

SIMULATE_HELP = """\
Simulate an ACD floor and write what it would have sent: events.jsonl (contract telemetry,
ready for `kefu-floor replay`), roster.csv and schedule.csv, into --out.

The floor: N agents on early (08:00-16:30) and evening (14:30-23:00) shifts with staggered
breaks, five days in seven; Poisson calls with an intraday curve, longest-idle routing,
FIFO queueing, lognormal talk times, ring-no-answer, abandonment, wrap-up, surveys and
sales; agents now and then sign in late, stay busy too long, come back late from a break,
leave early or do not come. Same arguments and --seed, same files, byte for byte.

--mmc C instead runs an M/M/c queue (C agents always signed in, exponential talk, callers
who never give up, constant --rate) for checking against Erlang C.

example:
  kefu-floor simulate --agents 40 --days 1 --start 2026-11-03 --seed 7 --out examples/day
"""


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a date like 2026-11-03") from None


def register(sub, common) -> None:
    p = sub.add_parser("simulate", help="simulate a floor and write replay files",
                       description=SIMULATE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=positive_int, default=40, metavar="N",
                   help="agents on the roster (default 40)")
    p.add_argument("--days", type=positive_int, default=1, metavar="D",
                   help="days to simulate (default 1)")
    p.add_argument("--start", type=_date, default=dt.date(2026, 11, 3), metavar="YYYY-MM-DD",
                   help="first day (default 2026-11-03)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--out", metavar="DIR",
                   help="folder for events.jsonl, roster.csv, schedule.csv (created); "
                        "needed unless --broker is given")
    p.add_argument("--broker", metavar="URL",
                   help="also publish to this broker (mqtt://host:port), one JSON array per "
                        "simulated second, QoS 1, on kefu/SITE/telemetry and .../manual")
    p.add_argument("--speed", type=positive, metavar="X",
                   help="with --broker: simulated seconds per wall second (1 = real time, "
                        "60 = an hour a minute; default: as fast as the broker takes it)")
    p.add_argument("--rate", type=positive, metavar="CALLS_PER_HOUR",
                   help="mean calls per hour over the opening hours 08:00-23:00 "
                        "(default 7.5 per agent at work)")
    p.add_argument("--aht", type=positive, metavar="S",
                   help="mean talk time in seconds (default 135; M/M/c 180)")
    p.add_argument("--talk", choices=("lognormal", "exponential"),
                   help="talk-time distribution (default lognormal; M/M/c exponential)")
    p.add_argument("--no-rest-days", action="store_true",
                   help="everyone works every day (default: five days in seven)")
    p.add_argument("--site", help="stamp this site id on every event (default: none, the "
                                  "replay's --site or 'default' applies)")
    p.add_argument("--mmc", type=positive_int, metavar="C",
                   help="M/M/c mode with C agents (needs --rate)")
    p.add_argument("--hours", type=positive, default=8.0, metavar="H",
                   help="length of an M/M/c run (default 8)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=cmd_simulate)

    lp = sub.add_parser("load", help="publish synthetic events at a steady rate",
                        description="Publish synthetic floor events (sign-ins, calls, busy "
                        "spells) stamped with the wall clock at a steady rate, in JSON-array "
                        "batches (QoS 1), and report the rate achieved.")
    lp.add_argument("--broker", required=True, metavar="URL", help="mqtt://host:port")
    lp.add_argument("--site", default="default")
    lp.add_argument("--rate", type=positive, required=True, metavar="EVENTS_PER_S")
    lp.add_argument("--agents", type=positive_int, default=2000, metavar="N")
    lp.add_argument("--batch", type=positive_int, default=500, metavar="B",
                    help="events per message (default 500; 1 = single-event messages)")
    lp.add_argument("--duration", type=positive, default=10.0, metavar="S")
    lp.add_argument("--seed", type=int, default=1)
    lp.set_defaults(func=cmd_load)


def scenario_from_args(args):
    from simulators.acd import Scenario

    if args.mmc:
        if args.rate is None:
            from kefu_floor.errors import ConfigError

            raise ConfigError("--mmc needs --rate (calls per hour)")
        aht = args.aht or 180.0
        scn = Scenario.mmc(args.mmc, args.rate * aht / 3600.0, aht_s=aht, hours=args.hours,
                           seed=args.seed, start=args.start, site=args.site)
        if args.talk:
            from dataclasses import replace

            scn = replace(scn, talk=args.talk)
        return scn
    kw = {}
    if args.aht:
        kw["aht_s"] = args.aht
    if args.talk:
        kw["talk"] = args.talk
    return Scenario(agents=args.agents, days=args.days, start=args.start, seed=args.seed,
                    rate_per_hour=args.rate, site=args.site, rest_days=not args.no_rest_days,
                    **kw)


def cmd_simulate(args) -> int:
    from pathlib import Path

    from kefu_floor.errors import ConfigError
    from simulators.files import write_run

    if args.out is None and args.broker is None:
        raise ConfigError("give --out DIR (replay files), --broker URL (publish), or both")
    if args.speed and not args.broker:
        raise ConfigError("--speed paces publishing: it needs --broker")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    scn = scenario_from_args(args)
    try:
        scn.check()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    try:
        if args.broker:
            floor = _publish(scn, args, out)
        else:
            floor = write_run(scn, out, progress=args.progress)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot write there ({e.strerror})") from None
    st = floor.stats
    sl = f"{st.answered_in_20s / st.answered:.1%}" if st.answered else "—"
    asa = f"{st.wait_ms_sum / st.answered / 1000:.1f} s" if st.answered else "—"
    print(f"simulated {st.calls} calls: {st.answered} answered ({sl} within 20 s, ASA {asa}), "
          f"{st.abandoned} abandoned, {st.no_answers} rang out", file=sys.stderr)
    if out is not None:
        print(f"wrote {out / 'events.jsonl'} ({st.events} events), "
              f"{out / 'roster.csv'} ({len(floor.roster_rows())} people), "
              f"{out / 'schedule.csv'} ({len(floor.schedule_rows())} shifts)", file=sys.stderr)
    if args.broker:
        print(f"published {st.events} events to {args.broker}", file=sys.stderr)
    return 0


def _publish(scn, args, out):
    """Publish the run (and write the files too when --out is given)."""
    import asyncio
    from contextlib import ExitStack

    import aiomqtt

    from kefu_floor.errors import ConfigError
    from kefu_floor.live.mqtt import parse_broker_url
    from simulators.acd import Floor
    from simulators.files import (ROSTER_COLUMNS, SCHEDULE_COLUMNS, JsonlSink, progress_bar,
                                  write_csv)
    from simulators.publish import publish_floor

    url = parse_broker_url(args.broker)
    floor = Floor(scn)
    with ExitStack() as stack:
        also = None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            write_csv(out / "roster.csv", ROSTER_COLUMNS, floor.roster_rows())
            write_csv(out / "schedule.csv", SCHEDULE_COLUMNS, floor.schedule_rows())
            also = JsonlSink(stack.enter_context(open(out / "events.jsonl", "wb")))
        # a bar when it runs faster than real time; real time has nothing to wait for
        show = args.progress if args.progress is not None else (
            sys.stderr.isatty() and (args.speed or 2) > 1)
        on_tick = stack.enter_context(progress_bar(floor, show, "publishing"))
        try:
            asyncio.run(publish_floor(floor, url, args.site or "default", args.speed,
                                      on_tick=on_tick, also=also))
        except aiomqtt.MqttError as e:
            raise ConfigError(f"--broker {args.broker}: {e}") from None
    return floor


def cmd_load(args) -> int:
    import asyncio
    import json

    import aiomqtt

    from kefu_floor.errors import ConfigError
    from kefu_floor.live.mqtt import parse_broker_url
    from simulators.load import run_load

    url = parse_broker_url(args.broker)
    try:
        res = asyncio.run(run_load(url, args.site, args.rate, args.agents, args.batch,
                                   args.duration, args.seed))
    except aiomqtt.MqttError as e:
        raise ConfigError(f"--broker {args.broker}: {e}") from None
    print(json.dumps(res))
    if res["achieved_events_s"] < 0.95 * args.rate:
        print(f"kefu-floor load: achieved {res['achieved_events_s']:,.0f} of the "
              f"{args.rate:,.0f} events/s asked for", file=sys.stderr)
    return 0
