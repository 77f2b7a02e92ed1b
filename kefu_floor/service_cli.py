"""`kefu-floor serve` and `kefu-floor report --connect`: CLI adapters of the live service."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
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
"""


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
    sp.set_defaults(func=cmd_serve)

    rp = sub.add_parser("report", help="print a running service's current score report")
    rp.add_argument("--connect", required=True, metavar="ws://HOST:PORT",
                    help="the service's feed address")
    rp.add_argument("--site", help="site (default: the service's first)")
    rp.add_argument("--month", metavar="YYYY-MM", help="month (default: current)")
    rp.add_argument("--timeout", type=float, default=30.0)
    rp.set_defaults(func=cmd_report)


def check_serve_flags(args) -> None:
    """One clear line for a number or id no service can run with."""
    from kefu_floor.cli import check_site

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
    if args.delta_ms <= 0:
        raise ConfigError(f"--delta-ms {args.delta_ms}: must be positive (default 200)")


def build_config(args):
    from kefu_floor.cli import _setup
    from kefu_floor.ingest import LiveClock
    from kefu_floor.service import ServiceConfig
    from kefu_floor.store.durable import DurableConfig

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
                         metrics_per_agent=args.metrics_per_agent,
                         lang=getattr(args, "lang", None))


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
    from kefu_floor.logs import setup_logging
    from kefu_floor.service import Service

    setup_logging(args.log_format)
    cfg = build_config(args)

    def ready(svc):
        print(f"kefu-floor: broker {svc.broker_url.display}; live feed "
              f"ws://{cfg.ws_host}:{svc.ws_port}/ (sites: {', '.join(cfg.setups)})"
              + (f"; metrics {svc.exporter.url}" if svc.exporter else ""),
              file=sys.stderr, flush=True)

    try:
        asyncio.run(run_until_signal(lambda: Service(cfg), ready))
    except OSError as e:
        raise ConfigError(f"cannot start: {e}") from None
    return 0


async def fetch_report(url: str, site: str | None, month: str | None, timeout: float) -> dict:
    from websockets.asyncio.client import connect

    q = f"?site={site}" if site else ""
    async with asyncio.timeout(timeout):
        async with connect(url.rstrip("/") + "/" + q, max_size=None) as ws:
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
    try:
        rep = asyncio.run(fetch_report(args.connect, args.site, args.month, args.timeout))
    except (OSError, TimeoutError) as e:
        raise ConfigError(f"cannot reach {args.connect}: {e or 'timed out'}") from None
    sys.stdout.write(json.dumps(rep, ensure_ascii=False) + "\n")
    return 0
