"""`kefu-floor tui`: the shift leader's terminal dashboard over a running service's feed."""
from __future__ import annotations

import argparse

from kefu_floor.errors import ConfigError

TUI_HELP = """\
Watch the floor live in the terminal (works over SSH): every agent of the team(s) with state
and time in state, today's busy time against the 30-minute budget, sign-in exceptions,
calls, AHT, answer rate, satisfaction, month score and projected star; deductions as they
are booked; the queues. Enter opens an agent (timeline, ledger with evidence, item bands,
what the next star takes), v the team view, ? the keys.

examples:
  kefu-floor tui --connect ws://127.0.0.1:8765
  kefu-floor tui --connect ws://10.0.0.5:8765 --site cd1 --team T2 --lang zh
  kefu-floor tui --connect ws://10.0.0.5:8765 --connect ws://10.0.0.6:8765   # two engines
"""


def register(sub, common) -> None:
    tp = sub.add_parser("tui", help="shift leader's terminal dashboard (a client of the live feed)",
                        description=TUI_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    tp.add_argument("--connect", required=True, metavar="ws://HOST:PORT", action="append",
                    help="the service's feed address (kefu-floor serve prints it); repeat it "
                         "for a centre split across several serve processes: one site on "
                         "screen at a time, n shows the next")
    common(tp, site=True)
    tp.add_argument("--team", help="show only this team (the service filters the feed)")
    from kefu_floor.cli.serve import add_client_flags

    add_client_flags(tp)
    tp.add_argument("--log-file", metavar="FILE",
                    help="where the dashboard's own log lines go while it owns the terminal "
                         "(default: kefu-floor-tui.log in the temp folder)")
    tp.set_defaults(func=cmd_tui)


def cmd_tui(args) -> int:
    from dashboards.feedclient import feed_url
    from dashboards.tui import run
    from kefu_floor.cli.logs import log_to_file
    from kefu_floor.cli.serve import client_ssl, read_token

    for url in args.connect:
        try:
            feed_url(url)
        except ValueError as e:
            raise ConfigError(f"--connect: {e}") from None
    token = read_token(args.token_file, "--token-file")
    ctx = next((c for c in (client_ssl(u, args.feed_ca) for u in args.connect) if c), None)
    log_to_file(args.log_file, "kefu-floor-tui.log")  # never drawn over the screen
    run(args.connect, site=args.site, team=args.team, lang=args.lang, policy=args.policy,
        token=token, ssl=ctx)
    return 0
