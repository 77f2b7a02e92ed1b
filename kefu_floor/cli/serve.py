"""`kefu-floor serve` and `kefu-floor report --connect`: CLI adapters of the live service."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import ssl
import sys

from kefu_floor.errors import ConfigError

SERVE_HELP = """\
Run the live floor: subscribe to kefu/SITE/telemetry and kefu/SITE/manual on an MQTT broker
(QoS 1, persistent session), score every event as it arrives, fire deadlines from the clock
(an agent not signed in by shift start + grace shows as missing at that minute), publish
rejected payloads on kefu/SITE/deadletter, and serve the live feed over a websocket.

examples:
  kefu-floor serve --roster roster.csv --schedule schedule.csv            # embedded broker
  kefu-floor serve --broker mqtt://user@10.0.0.5:1883 --mqtt-password-file /etc/kefu/mqtt.pw \\
                   --site cd1 --roster roster.csv --schedule schedule.csv --ws-port 8765 \\
                   --store redis://127.0.0.1:6379/0 --client-id kefu-cd1
  kefu-floor serve --broker mqtts://mq.example:8883 --tls-ca ca.pem --site cd1 --site cd2 ...

Stop with Ctrl-C (SIGINT) or SIGTERM; state is kept in memory while the broker is away and
the service reconnects by itself. With --store redis://… every accepted message is journaled
in Redis before the broker gets its acknowledgement, and a restart resumes from the last
checkpoint plus the journal.

The live feed and the wallboard carry names and scores: on anything but 127.0.0.1 give them
an access token (--feed-token-file, or the KEFU_FEED_TOKEN environment variable; never on
the command line, where `ps` shows it) and, across networks, TLS (--feed-tls-cert/-key).
"""
TOKEN_ENV = "KEFU_FEED_TOKEN"
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,}")


def read_token(path: str | None, flag: str) -> str | None:
    """The feed's access token: from the file `path` (first line) or $KEFU_FEED_TOKEN."""
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{flag} {path}: cannot read it "
                              f"({getattr(e, 'strerror', None) or e})") from None
        if not text.strip():
            raise ConfigError(f"{flag} {path}: the file is empty; put the token on its "
                              "first line")
        token = text.strip().splitlines()[0].strip()
        where = f"{flag} {path}"
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
        where = f"${TOKEN_ENV}"
        if not token:
            return None
    if not _TOKEN.fullmatch(token):
        raise ConfigError(f"{where}: the token must be 16 or more of A-Z a-z 0-9 . _ ~ + / = - "
                          "(e.g. made by `openssl rand -hex 16`)")
    return token


def client_ssl(url: str, ca: str | None) -> ssl.SSLContext | None:
    """TLS for a wss:// feed: the system's CAs, or the PEM given (a private CA)."""
    if not url.startswith("wss://"):
        return None
    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"--feed-ca {ca}: cannot use it ({e})") from None


def add_client_flags(p) -> None:
    """Flags of the feed's clients (`report --connect`, `tui`)."""
    p.add_argument("--token-file", metavar="FILE",
                   help=f"the feed's access token (first line); default ${TOKEN_ENV}")
    p.add_argument("--feed-ca", metavar="PEM",
                   help="CA certificate of a wss:// feed (default: the system's)")


def register(sub, common) -> None:
    sp = sub.add_parser("serve", help="run the live service (MQTT in, websocket feed out)",
                        description=SERVE_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    common(sp, site=False)
    sp.add_argument("--site", action="append", dest="sites", metavar="SITE",
                    help="site to serve (repeat for several; default 'default')")
    sp.add_argument("--broker", default="embedded", metavar="URL",
                    help="mqtt://[user@]host:port, mqtts://… for TLS, or 'embedded' "
                         "(default: an in-process broker on 127.0.0.1:1883 or a free port)")
    sp.add_argument("--tls-ca", metavar="PEM", help="CA certificate for mqtts://")
    sp.add_argument("--tls-cert", metavar="PEM", help="client certificate for mqtts://")
    sp.add_argument("--tls-key", metavar="PEM", help="client key for mqtts://")
    sp.add_argument("--client-id", help="MQTT client id (keep it stable: the broker keeps the "
                                        "session's queued events for it)")
    sp.add_argument("--ws-host", default="127.0.0.1", help="feed address (default 127.0.0.1; "
                                                           "0.0.0.0 for the whole network)")
    sp.add_argument("--ws-port", type=int, default=8765, help="feed port (default 8765; 0 = any)")
    sp.add_argument("--max-payload", type=int, default=1 << 20, metavar="BYTES",
                    help="reject bigger MQTT payloads unread (default 1 MiB)")
    sp.add_argument("--lateness-ms", type=int, default=2000,
                    help="how late an event may arrive; the wall clock moves engine time only "
                         "to now minus this (default 2000)")
    sp.add_argument("--delta-ms", type=int, default=200,
                    help="feed changes are coalesced and sent at most this often (default 200, "
                         "so a change reaches screens within 250 ms)")
    sp.add_argument("--feed-compression", action="store_true",
                    help="offer permessage-deflate on the feed (off by default: it costs the "
                         "service CPU per client; worth it only over a slow link)")
    sp.add_argument("--feed-queue-mb", type=float, default=16.0, metavar="MB",
                    help="a feed client more than this far behind is dropped to a fresh "
                         "snapshot (default 16)")
    sp.add_argument("--metrics-port", type=int, metavar="PORT",
                    help="serve Prometheus metrics on http://HOST:PORT/metrics (off unless "
                         "given; 0 = any free port)")
    sp.add_argument("--metrics-host", default="127.0.0.1",
                    help="metrics address (default 127.0.0.1; 0.0.0.0 for a remote Prometheus)")
    sp.add_argument("--metrics-per-agent", action="store_true",
                    help="also export one series per agent (agent ids as labels)")
    sp.add_argument("--log-format", choices=("text", "json"), default="text")
    st = sp.add_argument_group("durable state and broker login")
    st.add_argument("--store", default="memory", metavar="URL",
                    help="memory (default: nothing survives the process), "
                         "redis://[:password@]host:port/db or rediss://… (TLS): journal, "
                         "checkpoints and the ledger record in Redis (or a Redis Cluster)")
    st.add_argument("--checkpoint-s", type=float, default=10.0, metavar="S",
                    help="write a checkpoint at most this often (default 10)")
    st.add_argument("--checkpoint-events", type=int, default=500_000, metavar="N",
                    help="... or after this many journaled messages (default 500000)")
    st.add_argument("--lease-ms", type=int, default=3000, metavar="MS",
                    help="with a Redis store, one serve per site holds a lease of this TTL "
                         "and a second one (same --site and --client-id) waits as the hot "
                         "standby, taking over this long after the first dies (default 3000)")
    st.add_argument("--archive", metavar="DIR",
                    help="also write each site-day's accepted events to "
                         "DIR/SITE/YYYY-MM-DD.jsonl.gz (replay format; `replay` reads .gz)")
    st.add_argument("--mqtt-password-file", metavar="FILE",
                    help="the broker password, first line of FILE (or set KEFU_MQTT_PASSWORD); "
                         "never in --broker, where `ps` would show it")
    st.add_argument("--max-login-refusals", type=int, default=5, metavar="N",
                    help="exit after the broker refuses the login N times in a row (default 5)")
    sp.add_argument("--feed-token-file", metavar="FILE",
                    help="access token for the feed and the pages, first line of FILE "
                         f"(default ${TOKEN_ENV}; unset: open to anyone who can reach it)")
    sp.add_argument("--feed-origin", action="append", default=[], metavar="ORIGIN",
                    help="a browser origin allowed to open the feed besides the service's "
                         "own pages, e.g. https://board.example (repeat; * = any)")
    sp.add_argument("--feed-tls-cert", metavar="PEM",
                    help="serve the feed and pages over TLS (wss://, https://) with this "
                         "certificate chain")
    sp.add_argument("--feed-tls-key", metavar="PEM", help="the --feed-tls-cert's key")
    sp.add_argument("--report-per-min", type=float, default=30.0, metavar="N",
                    help="report requests a feed client may make per minute (burst 5; "
                         "default 30)")
    sp.set_defaults(func=cmd_serve)

    rp = sub.add_parser("report", help="print a running service's current score report")
    rp.add_argument("--connect", required=True, metavar="ws://HOST:PORT",
                    help="the service's feed address")
    rp.add_argument("--site", help="site (default: the service's first)")
    rp.add_argument("--month", metavar="YYYY-MM", help="month (default: current)")
    rp.add_argument("--timeout", type=float, default=30.0)
    add_client_flags(rp)
    rp.set_defaults(func=cmd_report)


def check_serve_flags(args) -> None:
    """One clear line for a number or id no service can run with."""
    from kefu_floor.cli.main import check_site

    for s in args.sites or []:
        check_site(s)
    if len(set(args.sites or [])) != len(args.sites or []):
        raise ConfigError("--site: the same site is given twice")
    if not 1 <= args.max_payload <= 256 << 20:
        raise ConfigError(f"--max-payload {args.max_payload}: must be 1 .. {256 << 20} bytes "
                          "(default 1048576)")
    if not 0 <= args.lateness_ms <= 3_600_000:
        raise ConfigError(f"--lateness-ms {args.lateness_ms}: must be 0 .. 3600000 (default "
                          "2000)")
    if not 0 <= args.ws_port <= 65535:
        raise ConfigError(f"--ws-port {args.ws_port}: a port is 0 .. 65535 (0 = any free one)")
    if args.feed_queue_mb <= 0:
        raise ConfigError(f"--feed-queue-mb {args.feed_queue_mb:g}: must be positive "
                          "(default 16)")
    if args.delta_ms <= 0:
        raise ConfigError(f"--delta-ms {args.delta_ms}: must be positive (default 200)")


def build_config(args):
    from kefu_floor.cli.main import _setup
    from kefu_floor.live.ingest import LiveClock
    from kefu_floor.live.mqtt import parse_broker_url
    from kefu_floor.live.service import ServiceConfig
    from kefu_floor.store.durable import DurableConfig
    from kefu_floor.live.wsfeed import FeedAccess
    from dashboards.pages import static_pages

    if args.broker != "embedded":  # a wrong URL is said before anything starts
        parse_broker_url(args.broker, args.tls_ca, args.tls_cert, args.tls_key)
    if not args.report_per_min > 0:
        raise ConfigError(f"--report-per-min {args.report_per_min:g}: give a number > 0")
    access = FeedAccess(token=read_token(args.feed_token_file, "--feed-token-file"),
                        origins=tuple(args.feed_origin), report_per_min=args.report_per_min)

    check_serve_flags(args)
    sites = args.sites or ["default"]
    if args.checkpoint_s <= 0 or args.checkpoint_events <= 0:
        raise ConfigError("--checkpoint-s and --checkpoint-events must be above 0")
    if args.lease_ms < 300:
        raise ConfigError("--lease-ms must be at least 300")
    if args.max_login_refusals < 1:
        raise ConfigError("--max-login-refusals must be at least 1")
    password = mqtt_password(args)
    setups = {}
    for s in sites:
        args.site = s
        setups[s] = _setup(args)
    return ServiceConfig(setups=setups, broker=args.broker, tls_ca=args.tls_ca,
                         tls_cert=args.tls_cert, tls_key=args.tls_key, client_id=args.client_id,
                         ws_host=args.ws_host, ws_port=args.ws_port,
                         max_payload=args.max_payload, delta_s=args.delta_ms / 1000.0,
                         clock=LiveClock(lateness_ms=args.lateness_ms), store=args.store,
                         durable=DurableConfig(checkpoint_s=args.checkpoint_s,
                                               checkpoint_events=args.checkpoint_events),
                         mqtt_password=password, max_login_refusals=args.max_login_refusals,
                         archive=args.archive, lease_ms=args.lease_ms,
                         metrics_port=args.metrics_port, metrics_host=args.metrics_host,
                         metrics_per_agent=args.metrics_per_agent, access=access,
                         feed_tls_cert=args.feed_tls_cert, feed_tls_key=args.feed_tls_key,
                         feed_compression=args.feed_compression,
                         feed_queue_bytes=round(args.feed_queue_mb * (1 << 20)),
                         lang=getattr(args, "lang", None), pages=static_pages())


def mqtt_password(args) -> str | None:
    """The broker password from --mqtt-password-file or KEFU_MQTT_PASSWORD; one in the
    --broker URL is refused, since every user of the machine can read argv with `ps`."""
    import os
    from urllib.parse import urlsplit

    if args.broker != "embedded" and urlsplit(args.broker).password is not None:
        raise ConfigError("--broker: put no password in the URL (`ps` shows it to every user); "
                          "use mqtt://USER@host:port with --mqtt-password-file FILE or the "
                          "environment variable KEFU_MQTT_PASSWORD")
    if args.mqtt_password_file:
        try:
            with open(args.mqtt_password_file, encoding="utf-8") as f:
                line = f.readline().rstrip("\r\n")
        except OSError as e:
            raise ConfigError(f"--mqtt-password-file {args.mqtt_password_file}: cannot read it "
                              f"({e.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"--mqtt-password-file {args.mqtt_password_file}: not UTF-8 "
                              "text") from None
        if not line:
            raise ConfigError(f"--mqtt-password-file {args.mqtt_password_file}: the first line "
                              "is empty")
        return line
    return os.environ.get("KEFU_MQTT_PASSWORD") or None


async def run_until_signal(make_service, on_ready=None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with make_service() as svc:
        if on_ready:
            on_ready(svc)
        waiter = asyncio.create_task(svc.wait())
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for t in (waiter, stopper):
            t.cancel()
        if waiter in done and not waiter.cancelled() and waiter.exception():
            raise waiter.exception()


def cmd_serve(args) -> int:
    import logging

    from kefu_floor.cli.logs import setup_logging
    from kefu_floor.live.service import Service, feed_ssl_context
    from kefu_floor.live.warmup import warm_kernels

    setup_logging(args.log_format)
    cfg = build_config(args)
    feed_ssl_context(cfg.feed_tls_cert, cfg.feed_tls_key)  # a bad file: said before waiting
    if cfg.access.token is None and cfg.ws_host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("kefu_floor.service").warning(
            "the live feed on %s has no access token: anyone who can reach the port sees "
            "names and scores; set --feed-token-file or $%s", cfg.ws_host, TOKEN_ENV)
    say = (lambda s: print(s, file=sys.stderr, flush=True)) if args.log_format == "text" \
        else (lambda s: logging.getLogger("kefu_floor.service").info("%s", s))
    warm_kernels(say)  # before the event loop exists: nothing to keep alive yet

    def ready(svc):
        print(f"kefu-floor: broker {svc.broker_url.display}; live feed "
              f"{svc.feed_url} (sites: {', '.join(cfg.setups)})"
              + (f"; metrics {svc.exporter.url}" if svc.exporter else ""),
              file=sys.stderr, flush=True)

    try:
        asyncio.run(run_until_signal(lambda: Service(cfg), ready))
    except OSError as e:
        raise ConfigError(f"cannot start: {e}") from None
    return 0


async def fetch_report(url: str, site: str | None, month: str | None, timeout: float,
                       token: str | None = None, ssl_ctx: ssl.SSLContext | None = None) -> dict:
    from websockets.asyncio.client import connect

    q = f"?site={site}" if site else ""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with asyncio.timeout(timeout):
        tls = {"ssl": ssl_ctx} if ssl_ctx is not None else {}
        async with connect(url.rstrip("/") + "/" + q, max_size=None, additional_headers=headers,
                           **tls) as ws:
            await ws.recv()  # the snapshot
            await ws.send(json.dumps({"type": "report", "month": month}))
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "report":
                    return msg["report"]
                if msg.get("type") == "error":
                    raise ConfigError(msg["error"])
    raise ConfigError(f"{url}: the service closed the connection")


def cmd_report(args) -> int:
    from websockets.exceptions import InvalidStatus

    token = read_token(args.token_file, "--token-file")
    ctx = client_ssl(args.connect, args.feed_ca)
    try:
        rep = asyncio.run(fetch_report(args.connect, args.site, args.month, args.timeout,
                                       token, ctx))
    except InvalidStatus as e:
        code = e.response.status_code
        why = {401: f"the feed needs its access token (--token-file or ${TOKEN_ENV})",
               403: "the feed refused this client"}.get(code, f"HTTP {code}")
        raise ConfigError(f"{args.connect}: {why}") from None
    except (OSError, TimeoutError) as e:
        raise ConfigError(f"cannot reach {args.connect}: {e or 'timed out'}") from None
    sys.stdout.write(json.dumps(rep, ensure_ascii=False) + "\n")
    return 0
