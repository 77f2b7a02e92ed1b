"""`kefu-floor ledger`: a month's deductions and excuses straight from the store, with no
engine running."""
from __future__ import annotations

import asyncio
import sys

from kefu_floor.errors import ConfigError

LEDGER_HELP = """\
List the deductions (and excuses) a live service recorded in Redis, for HR and appeals:
one entry per booked deduction, each exactly once, with the facts it rests on.

examples:
  kefu-floor ledger --store redis://127.0.0.1:6379/0 --site cd1 --month 2026-11
  kefu-floor ledger --store redis://… --site cd1 --month 2026-11 --agent A001 --format csv
"""


def register(sub, common) -> None:
    import argparse

    lp = sub.add_parser("ledger", help="list a month's recorded deductions from the store",
                        description=LEDGER_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    lp.add_argument("--store", required=True, metavar="URL",
                    help="redis://[:password@]host:port/db or rediss://…")
    lp.add_argument("--site", required=True)
    lp.add_argument("--month", metavar="YYYY-MM", help="only this month (default: all)")
    lp.add_argument("--agent", help="only this agent")
    lp.add_argument("--format", choices=("json", "csv"), default="json",
                    help="json: one JSON object a line (default); csv: a header and a row each")
    lp.add_argument("--excuses", action="store_true", help="list the excuses instead")
    lp.set_defaults(func=cmd_ledger)


async def read_ledger(url: str, site: str, stream: str) -> list[dict]:
    from kefu_floor.store import StoreDown, open_store, records

    try:
        async with open_store(url) as st:
            return records.decode(await st.record_read(site, stream))
    except StoreDown as e:
        raise ConfigError(f"cannot read the ledger: {e}") from None


def cmd_ledger(args) -> int:
    from kefu_floor.localtime import parse_month
    from kefu_floor.store import records

    if args.store == "memory":
        raise ConfigError("--store memory: the in-process store lives only inside `serve`; "
                          "give the redis://… URL the service was started with")
    if args.month:
        try:
            parse_month(args.month)
        except ValueError as e:
            raise ConfigError(f"--month {args.month!r}: {e}") from None
    entries = asyncio.run(read_ledger(args.store, args.site,
                                      records.EXCUSES if args.excuses else records.LEDGER))
    sys.stdout.write(records.render(records.select(entries, args.month, args.agent),
                                    args.format))
    return 0
