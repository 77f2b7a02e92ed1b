"""`kefu-floor bridge asterisk|freeswitch`: registered into the main CLI by kefu_floor.cli.main.

The loop: read a batch from the source, map it (pure), hand the events to the sink and wait
until it has them (PUBACK, or fsync), then save the position and the mapper's state
atomically. A bridge killed anywhere re-sends at most one batch, with the same `seq`."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kefu_floor.cli.argtypes import nonneg, positive_int
from kefu_floor.cli.logs import setup_logging
from kefu_floor.errors import ConfigError

STATS_EVERY_S = 5.0  # how often the counts are published (retained) while running

ASTERISK_HELP = """\
Read Asterisk app_queue's queue_log and send what it says as kefu-floor telemetry: to the
broker (kefu/SITE/telemetry, QoS 1, each event with src = --id and a strictly increasing
seq) or to a JSON Lines file (--out) that `kefu-floor replay` scores.

  kefu-floor bridge asterisk /var/log/asterisk/queue_log --site cd1 --id pbx1 \\
      --members members.csv --reasons reasons.csv --follow --state /var/lib/kefu/pbx1.json \\
      --broker mqtt://127.0.0.1:1883

Without --follow the whole file is converted and the bridge exits. With --follow it keeps
reading what Asterisk appends, through log rotation and truncation, and saves its position
in --state after the broker acknowledged each batch: a restarted bridge resumes exactly
there. members.csv: `member,agent` (ACD member name such as SIP/8007, PJSIP/8007,
Agent/3001 or Local/3001@from-queue/n → 工号); reasons.csv: `reason,code` (pause reason
→ the policy's busy reason code). Unmapped members and unknown events are reported once
on stderr and counted; malformed lines are reported with their line number and skipped.

exit codes: 0 every line placed; 1 a file or flag is unusable; 2 the command line is wrong;
3 done, but some lines were malformed, unknown or could not be placed (see the summary)
"""

FREESWITCH_HELP = """\
FreeSWITCH mod_callcenter's callcenter::info events as kefu-floor telemetry: from a
recorded event-socket log (plain format), or live from the event socket (--esl), to the
broker (--broker, with --state) or a JSON Lines file (--out).

  kefu-floor bridge freeswitch --esl 127.0.0.1:8021 --esl-password-file /etc/kefu/esl \\
      --site cd1 --id fs1 --members members.csv --state /var/lib/kefu/fs1.json \\
      --broker mqtt://127.0.0.1:1883
"""


def _outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", required=True, help="site id: the topic kefu/SITE/telemetry and "
                                                 "each event's site")
    p.add_argument("--id", dest="src", metavar="BRIDGE_ID",
                   help="this bridge's source id, sent as `src` on every event (default: "
                        "the subcommand's name); keep it stable across restarts")
    p.add_argument("--members", metavar="CSV", help="member,agent: ACD member → 工号")
    p.add_argument("--members-as-ids", action="store_true",
                   help="the ACD's member names are the agent ids already (no CSV)")
    p.add_argument("--reasons", metavar="CSV", help="reason,code: ACD pause reason → busy "
                                                    "reason code")
    p.add_argument("--out", metavar="EVENTS.jsonl", help="write JSON Lines here")
    p.add_argument("--broker", metavar="URL", help="publish to mqtt://[user:pass@]host:port "
                                                   "or mqtts://…")
    p.add_argument("--tls-ca", metavar="PEM")
    p.add_argument("--tls-cert", metavar="PEM")
    p.add_argument("--tls-key", metavar="PEM")
    p.add_argument("--state", metavar="FILE", help="durable position and mapping state "
                                                   "(needed with --follow)")
    p.add_argument("--stats", metavar="FILE", help="write the counts (JSON) here after each "
                                                   "batch")
    p.add_argument("--batch-lines", type=positive_int, default=2000, metavar="N",
                   help="lines per batch between acknowledgements (default 2000)")
    p.add_argument("--log-level", default="warning",
                   choices=("debug", "info", "warning", "error"))


def register(sub, common) -> None:
    p = sub.add_parser("bridge", help="bridge a real ACD (Asterisk, FreeSWITCH) into telemetry")
    bs = p.add_subparsers(dest="acd", required=True, metavar="ACD")
    a = bs.add_parser("asterisk", help="Asterisk app_queue queue_log (file or table)",
                      description=ASTERISK_HELP,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("queue_log", metavar="QUEUE_LOG",
                   help="the queue_log file (/var/log/asterisk/queue_log), a CSV/TSV export "
                        "of the realtime table, or an SQLite database (--input)")
    a.add_argument("--input", choices=("file", "csv", "sqlite"), default="file",
                   help="file: the flat queue_log (default); csv: an export of the "
                        "realtime table with a header row; sqlite: a realtime database")
    a.add_argument("--table", default="queue_log", help="with --input sqlite (default "
                                                        "queue_log)")
    a.add_argument("--db-tz", default="Asia/Shanghai", metavar="ZONE",
                   help="time zone of the realtime table's `time` column (Asterisk writes "
                        "local time; UTC with queue_log_realtime_use_gmt; default "
                        "Asia/Shanghai)")
    a.add_argument("--follow", action="store_true",
                   help="keep reading what is appended (file and sqlite)")
    a.add_argument("--poll-s", type=nonneg, default=0.2, metavar="S",
                   help="with --follow: how often to look for new lines (default 0.2)")
    a.add_argument("--wrap-s", type=nonneg, default=0.0, metavar="S",
                   help="after-call work the queue gives (queues.conf wrapuptime; default 0): "
                        "wrap_end is sent this long after each hangup")
    a.add_argument("--ami", metavar="HOST:PORT",
                   help="with --follow: also read live state from Asterisk's manager "
                        "interface (user with read = agent); the log stays the source of "
                        "truth and nothing said by both is sent twice")
    a.add_argument("--ami-user", metavar="USER", help="manager.conf user for --ami")
    a.add_argument("--ami-secret-file", metavar="FILE",
                   help="file holding that user's secret (or env KEFU_AMI_SECRET)")
    a.add_argument("--min-ring-ms", type=nonneg, default=0.0, metavar="MS",
                   help="a RINGNOANSWER shorter than this (a seat that was busy or "
                        "unreachable at once) is not counted as offered (default 0)")
    _outputs(a)
    a.set_defaults(func=cmd_asterisk)
    f = bs.add_parser("freeswitch", help="FreeSWITCH mod_callcenter recorded events",
                      description=FREESWITCH_HELP,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("events_log", metavar="EVENTS.log", nargs="?",
                   help="event-socket plain events, one after another (or --esl)")
    f.add_argument("--esl", metavar="HOST:PORT", help="live: FreeSWITCH's event socket "
                                                      "(mod_event_socket, port 8021)")
    f.add_argument("--esl-password-file", metavar="FILE",
                   help="file holding the event socket password (or env KEFU_ESL_PASSWORD)")
    f.add_argument("--poll-s", type=nonneg, default=0.2, metavar="S", help=argparse.SUPPRESS)
    _outputs(f)
    f.set_defaults(func=cmd_freeswitch)


def _sink(args, src: str, append: bool):
    from kefu_floor.bridge.sinks import JsonlSink, MqttSink
    from kefu_floor.live.mqtt import parse_broker_url

    if bool(args.out) == bool(args.broker):
        raise ConfigError("give one of --out EVENTS.jsonl or --broker URL")
    if args.out:
        return JsonlSink(Path(args.out), append)
    url = parse_broker_url(args.broker, args.tls_ca, args.tls_cert, args.tls_key)
    return MqttSink(url, args.site, f"kefu-bridge-{src}", src)


def _tables(args):
    from kefu_floor.bridge.tables import load_tables

    return load_tables(args.members, args.reasons, args.members_as_ids)


def summary(stats: dict, src: str) -> str:
    ev = sum(stats["events"].values())
    parts = [f"bridge {src}: {stats['lines']} line(s), {ev} event(s) sent"]
    for key, label in (("malformed", "malformed"), ("unknown_verbs", "unknown events"),
                       ("ignored", "ignored events"), ("unmapped_members", "unmapped members"),
                       ("unmapped_reasons", "unmapped pause reasons"),
                       ("unplaced", "not placed"), ("adjusted", "placed with an adjustment"),
                       ("seen_twice", "said by both log and AMI, sent once")):
        d = stats.get(key) or {}
        if d:
            items = ", ".join(f"{k or '(empty)'} {n}" for k, n in sorted(d.items()))
            parts.append(f"  {label}: {sum(d.values())} ({items})")
    for key in ("rotations", "truncations", "rotated_file_not_found"):
        if stats.get("source", {}).get(key):
            parts.append(f"  {key.replace('_', ' ')}: {stats['source'][key]}")
    return "\n".join(parts)


def problems(stats: dict) -> bool:
    return any(stats.get(k) for k in ("malformed", "unknown_verbs", "unmapped_members",
                                      "unplaced"))


async def run_bridge(source, mapper, sink, args, src: str, state_path: Path | None,
                     follow: bool, live=None) -> None:
    """The loop shared by the bridges: read → map → send → record. `live(on_event,
    on_resync)` makes a client (AMI, event socket) whose events are mapped by the same
    mapper between log batches."""
    from kefu_floor.bridge.asterisk import Malformed
    from kefu_floor.bridge.follow import save_state

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    stats_path = Path(args.stats) if args.stats else None
    stats_sent = [-1e9]

    def tell() -> None:
        for n in getattr(source, "notices", []) + mapper.notices:
            print(f"kefu-floor bridge: {n}", file=sys.stderr)
        if hasattr(source, "notices"):
            source.notices.clear()
        mapper.notices.clear()

    def record() -> None:
        if state_path is not None:
            save_state(state_path, src, source.position(), mapper.state())
        if stats_path is not None:
            tmp = stats_path.with_name(stats_path.name + ".tmp")
            tmp.write_text(json.dumps(mapper.stats, ensure_ascii=False, indent=1),
                           encoding="utf-8")
            tmp.replace(stats_path)

    await sink.start()
    wake = asyncio.Event()
    inbox: list = []
    live_task = None
    if live is not None:
        def on_event(item) -> None:
            inbox.append(("event", item))
            wake.set()

        def on_resync(rows: list[dict], now: int) -> None:
            inbox.append(("resync", rows, now))
            wake.set()

        mapper.dual = True
        live_task = asyncio.create_task(live(on_event, on_resync).run())
    try:
        while not stop.is_set():
            events = []
            while inbox:  # AMI first: it is the earlier word on what it says
                item = inbox.pop(0)
                if item[0] == "event":
                    events.extend(mapper.feed(item[1], "ami"))
                else:
                    events.extend(mapper.resync(item[1], item[2]))
            if live is not None and hasattr(mapper, "prune"):
                mapper.prune(mapper.last_ts)  # event time: the same clock as the keys
            batch = source.read(args.batch_lines)
            for n, item in batch:
                if isinstance(item, Malformed):
                    mapper.malformed(n, item)
                    print(f"{args.input_path}:{n}: skipped ({item.reason}): {item.detail}",
                          file=sys.stderr)
                else:
                    events.extend(mapper.feed(item))
            if not batch and not follow:
                events.extend(mapper.finish())
            tell()
            await sink.send(events)
            if batch or events:
                record()
                if loop.time() - stats_sent[0] >= STATS_EVERY_S:
                    stats_sent[0] = loop.time()
                    await sink.stats(mapper.stats)
            if not batch and not inbox:
                if not follow:
                    break
                wake.clear()
                stopper = asyncio.ensure_future(stop.wait())
                waker = asyncio.ensure_future(wake.wait())
                await asyncio.wait({stopper, waker}, timeout=args.poll_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                waker.cancel()
        record()
        await sink.stats(mapper.stats)
    finally:
        if live_task is not None:
            live_task.cancel()
            try:
                await live_task
            except asyncio.CancelledError:
                pass
        await sink.close()
        source.close()


def _run(coro) -> None:
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        pass


def _put(on_event, rec) -> None:
    if rec is not None:
        on_event(rec)


def _secret(path: str | None, env: str, what: str) -> str:
    import os

    secret = os.environ.get(env)
    if path:
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"{what} {path}: cannot read it ({e.strerror})") from None
    return secret or ""


def _hostport(value: str, flag: str, example: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"{flag} {value!r}: expected HOST:PORT, e.g. {example}")
    return host, int(port)


def _ami(args):

    if not args.ami:
        if args.ami_user or args.ami_secret_file:
            raise ConfigError("--ami-user and --ami-secret-file go with --ami HOST:PORT")
        return None
    if not args.follow:
        raise ConfigError("--ami gives live state: it goes with --follow")
    host, port = _hostport(args.ami, "--ami", "127.0.0.1:5038")
    if not args.ami_user:
        raise ConfigError("--ami needs --ami-user (a manager.conf user with read = agent)")
    secret = _secret(args.ami_secret_file, "KEFU_AMI_SECRET", "--ami-secret-file")
    if not secret:
        raise ConfigError("--ami needs the user's secret: --ami-secret-file FILE or the "
                          "environment variable KEFU_AMI_SECRET")
    return host, port, args.ami_user, secret


def _need_state(args) -> None:
    if args.broker and not args.state:
        raise ConfigError("--broker needs --state FILE: the engine drops a source's seq it "
                          "has seen, so the bridge keeps its seq (and its place) there; "
                          "running again then sends only what is new")


def cmd_asterisk(args) -> int:
    from kefu_floor.bridge.asterisk import Mapper
    from kefu_floor.bridge.follow import CsvTable, LogFile, SqliteTable, load_state

    setup_logging("text", args.log_level)
    src = args.src or "asterisk"
    if args.follow and not args.state:
        raise ConfigError("--follow needs --state FILE: where the bridge keeps its position, "
                          "so a restart resumes where it stopped")
    try:
        tz = ZoneInfo(args.db_tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--db-tz {args.db_tz!r}: not a time zone (e.g. Asia/Shanghai, "
                          "UTC)") from None
    tables = _tables(args)
    _need_state(args)
    state_path = Path(args.state) if args.state else None
    st = load_state(state_path, src)
    pos = (st or {}).get("position", {})
    mapper = Mapper(tables, args.site, src, wrap_ms=round(args.wrap_s * 1000),
                    min_ring_ms=round(args.min_ring_ms), state=(st or {}).get("mapper"))
    path = Path(args.queue_log)
    args.input_path = path
    if pos.get("path") and Path(pos["path"]).resolve() != path.resolve():
        raise ConfigError(f"state file {state_path} is the position in {pos['path']}, not "
                          f"{path}: give that file, or another --state file")
    if args.input == "file":
        counts = mapper.stats.setdefault("source", {})
        source = LogFile(path, args.follow, pos.get("inode"), pos.get("offset", 0),
                         pos.get("line", 0), counts)
    elif args.input == "csv":
        if args.follow:
            raise ConfigError("--follow reads the flat file or an SQLite table; a CSV export "
                              "is converted whole")
        if not path.is_file():
            raise ConfigError(f"queue_log table {path}: no such file")
        source = CsvTable(path, tz, pos.get("row", 0))
    else:
        source = SqliteTable(path, args.table, tz, pos.get("rowid", 0))
    ami = _ami(args)
    live = None
    if ami is not None:
        from kefu_floor.bridge.ami import AmiClient, to_record

        def live(on_event, on_resync):
            return AmiClient(*ami, on_event=lambda m, now: _put(on_event, to_record(
                m, tables, now)), on_resync=on_resync)
    sink = _sink(args, src, append=st is not None)
    _run(run_bridge(source, mapper, sink, args, src, state_path, args.follow, live))
    print(summary(mapper.stats, src), file=sys.stderr)
    return 3 if problems(mapper.stats) else 0


class _Idle:
    """The source of a live-only bridge: no file, only the client's events."""

    def __init__(self):
        self.notices: list[str] = []

    def read(self, n: int) -> list:
        return []

    def position(self) -> dict:
        return {}

    def close(self) -> None:
        pass


def cmd_freeswitch(args) -> int:
    from kefu_floor.bridge.follow import load_state
    from kefu_floor.bridge.freeswitch import EslClient, EventLog, FsMapper

    setup_logging("text", args.log_level)
    src = args.src or "freeswitch"
    if bool(args.events_log) == bool(args.esl):
        raise ConfigError("give one of EVENTS.log (a recorded event-socket log) or --esl "
                          "HOST:PORT (live)")
    tables = _tables(args)
    state_path = Path(args.state) if args.state else None
    _need_state(args)
    st = load_state(state_path, src)
    mapper = FsMapper(tables, args.site, src, state=(st or {}).get("mapper"))
    live = None
    if args.esl:
        if state_path is None:
            raise ConfigError("--esl needs --state FILE: the bridge's seq must keep "
                              "increasing across restarts")
        host, port = _hostport(args.esl, "--esl", "127.0.0.1:8021")
        password = _secret(args.esl_password_file, "KEFU_ESL_PASSWORD",
                           "--esl-password-file")
        if not password:
            raise ConfigError("--esl needs the event socket password: --esl-password-file "
                              "FILE or the environment variable KEFU_ESL_PASSWORD")
        args.input_path = Path(args.esl)
        source = _Idle()

        def live(on_event, on_resync):
            return EslClient(host, port, password, on_event=on_event, on_resync=on_resync)
    else:
        path = Path(args.events_log)
        if not path.is_file():
            raise ConfigError(f"events log {path}: no such file")
        args.input_path = path
        source = EventLog(path, skip=(st or {}).get("position", {}).get("event", 0))
    sink = _sink(args, src, append=st is not None)
    _run(run_bridge(source, mapper, sink, args, src, state_path, live is not None, live))
    print(summary(mapper.stats, src), file=sys.stderr)
    return 3 if problems(mapper.stats) else 0
