"""`kefu-floor demo`: the whole product on a bare machine, in one command.

An embedded MQTT broker, the live service, and a simulated floor published to it
accelerated (200 agents, 60x by default), with the best live view there is: the Textual
dashboard when stdout is a terminal (`--view table`: a refreshing table); `--view none`
runs without a view (tests, CI).

The kernels are loaded (compiled on the very first run) before anything starts. The
wallboard's address is on the dashboard's status line; while the dashboard owns the
terminal, log lines go to a file (--log-file; default kefu-floor-demo.log in the temp
folder). The simulator reconnects to the broker by itself and says so. When the simulated
day is over the demo says so: without a view it stops, the dashboard stays until you quit.
Ctrl-C, SIGINT or SIGTERM stop everything cleanly in every view; so does q on the dashboard.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from dashboards.pages import static_pages
from kefu_floor.engine import Setup
from kefu_floor.i18n import t
from kefu_floor.policy import load_policy
from kefu_floor.roster import load_roster, load_schedule
from kefu_floor.live.service import Service, ServiceConfig
from simulators.acd import Floor, Scenario
from simulators.files import ROSTER_COLUMNS, SCHEDULE_COLUMNS, write_csv
from simulators.publish import publish_floor

SITE = "demo"


def demo_floor(agents: int, seed: int, tz: str) -> Floor:
    """Today's date on the site's calendar, everyone rostered for it."""
    today = dt.datetime.now(ZoneInfo(tz)).date()
    return Floor(Scenario(agents=agents, days=1, start=today, seed=seed, rest_days=False))


def demo_setup(floor: Floor, folder: Path, policy: str = "chengdu-2014") -> Setup:
    """The floor's roster and schedule written as CSV and read back by the real loaders."""
    write_csv(folder / "roster.csv", ROSTER_COLUMNS, floor.roster_rows())
    write_csv(folder / "schedule.csv", SCHEDULE_COLUMNS, floor.schedule_rows())
    pol = load_policy(policy)
    return Setup(pol, load_roster(folder / "roster.csv"),
                 load_schedule(folder / "schedule.csv", pol.tz,
                               pol.attendance.default_grace_min), SITE)


async def run_demo(agents: int = 200, speed: float = 60.0, seed: int = 1, ws_port: int = 8765,
                   view: str = "auto", lang: str = "zh", duration: float | None = None,
                   announce=print, stop: asyncio.Event | None = None,
                   log_file: str | None = None, metrics_port: int = 0) -> dict:
    """Run until the simulated day is over (the dashboard: until it is quit), `duration`
    seconds passed, or `stop` is set (a signal); then shut down in order and say what was
    scored. `log_file` is named in the banner when the dashboard hides stderr."""
    stop = stop or asyncio.Event()
    with tempfile.TemporaryDirectory(prefix="kefu-demo-") as tmp:
        pol = load_policy("chengdu-2014")
        floor = demo_floor(agents, seed, pol.timezone)
        cfg = ServiceConfig(setups={SITE: demo_setup(floor, Path(tmp))}, broker="embedded",
                            ws_port=ws_port, client_id="kefu-floor-demo",
                            metrics_port=metrics_port, lang=lang,
                            wall_ahead_ms=None,  # the simulated day runs ahead of the clock
                            pages=static_pages())
        async with Service(cfg) as svc:
            await svc.wait_connected()
            feed = svc.feed_url
            logs = f"\n  {t('demo_logs', lang, path=log_file)}" if log_file else ""
            announce(f"kefu-floor demo: {agents} agents at {speed:g}x, broker "
                     f"{svc.broker_url.display}\n  live feed  {feed}\n  wallboard  "
                     f"{svc.page_url}\n  metrics    "
                     f"{svc.exporter.url}\n  dashboard  "
                     f"kefu-floor tui --connect {feed}\n  Ctrl-C stops the demo.{logs}")
            app = None

            def on_status(kind: str, error: str, retry_s: float) -> None:
                msg = (t("demo_pub_lost", lang, error=error, s=retry_s) if kind == "lost"
                       else t("demo_pub_back", lang))
                if app is not None:
                    app.notify(msg, severity="warning" if kind == "lost" else "information",
                               timeout=8)
                else:
                    announce(msg)

            pub = asyncio.create_task(publish_floor(floor, svc.broker_url, SITE, speed,
                                                    reconnect=True, on_status=on_status))
            stopped_by = None
            try:
                if view == "tui":
                    from dashboards.tui import FloorApp

                    # the dashboard is a feed client like any other; quitting it ends the demo
                    app = FloorApp(feed, SITE, None, lang, policy="chengdu-2014",
                                   wallboard=svc.page_url)

                    def day_over(task: asyncio.Task) -> None:
                        if task.cancelled():
                            return
                        if task.exception() is not None:
                            app.notify(f"{type(task.exception()).__name__}: "
                                       f"{task.exception()}", severity="error", timeout=3600)
                        else:
                            app.notify(t("demo_day_over", lang, n=task.result()),
                                       timeout=24 * 3600)

                    pub.add_done_callback(day_over)
                    # a signal before the app has taken the terminal (it then handles its own)
                    stopper = asyncio.create_task(stop.wait())
                    stopper.add_done_callback(lambda _: app.exit())
                    try:
                        await app.run_async()
                    finally:
                        stopper.cancel()
                    stopped_by = app.stopped_by
                else:
                    shown = (asyncio.create_task(_table(svc, pub, lang)) if view == "table"
                             else pub)
                    stopped = asyncio.create_task(stop.wait())
                    await asyncio.wait({shown, stopped}, timeout=duration,
                                       return_when=asyncio.FIRST_COMPLETED)
                    stopped.cancel()
                    if shown is not pub:
                        shown.cancel()
                        await asyncio.gather(shown, return_exceptions=True)
                    if pub.done() and not pub.cancelled() and pub.exception() is None:
                        announce(t("demo_day_over_line", lang, n=pub.result()))
            finally:
                pub.cancel()
                # bounded: a publish waiting for an acknowledgement must not hold the exit
                await asyncio.wait({pub}, timeout=5)
                if pub.done() and not pub.cancelled():
                    pub.exception()  # retrieved: said on screen already, if it was one
            eng = svc.engines[SITE]
            return {"events": eng.counters()["accepted"], "deductions": eng.ledger_booked,
                    "agents": agents, "stopped_by": stopped_by}


async def _table(svc: Service, pub: asyncio.Task, lang: str) -> None:
    """A refreshing rich table: the fallback view when the Textual dashboard is absent."""
    from rich.live import Live

    with Live(render_floor(svc.views[SITE].snapshot(), lang), refresh_per_second=2,
              screen=False) as live:
        while not pub.done():
            await asyncio.sleep(1.0)
            live.update(render_floor(svc.views[SITE].snapshot(), lang))


def render_floor(snap: dict, lang: str, rows: int = 20):
    """The floor as a rich renderable: queues, agents by state, the agents needing a look."""
    from rich.console import Group
    from rich.table import Table

    from kefu_floor.localtime import local_dt

    tz = ZoneInfo(snap.get("policy", {}).get("timezone", "Asia/Shanghai"))
    now = snap.get("now")
    clock = local_dt(now, tz).strftime("%Y-%m-%d %H:%M:%S") if now else "—"
    by = snap["floor"]["by_state"]
    head = Table.grid(padding=(0, 2))
    head.add_row(f"[b]{snap['site']}[/b]  {clock}",
                 "  ".join(f"{t(s, lang)} {n}" for s, n in by.items()))
    q = Table(title=t("queues", lang), header_style="bold")
    for c in ("queue", "waiting", "longest_wait", "sl_30m", "sl_today", "abandon_rate"):
        q.add_column(t(c, lang), justify="right")
    for name, qq in snap["queues"].items():
        w30 = qq["windows"].get("30", {})
        pct = lambda x: "—" if x is None else f"{x:.0%}"  # noqa: E731
        q.add_row(name, str(qq["waiting"]), f"{qq['longest_wait_s']:.0f}s",
                  pct(w30.get("service_level")), pct(qq["today"]["service_level"]),
                  pct(qq["today"]["abandon_rate"]))
    a = Table(title=t("agents", lang), header_style="bold")
    for c in ("agent", "name", "team", "state", "in_state", "busy_today", "answered",
              "score", "star", "flags"):
        a.add_column(t(c, lang))
    agents = sorted(snap["agents"].values(),
                    key=lambda x: (-len(set(x["flags"]) - {"in_shift", "in_break"}),
                                   -x["busy_today_s"], x["agent"]))
    for x in agents[:rows]:
        since = x["since"]
        mins = f"{(now - since) / 60000:.0f}m" if since and now else "—"
        a.add_row(x["agent"], x["name"] or "", x["team"] or "", t(x["state"], lang), mins,
                  f"{x['busy_today_s'] / 60:.0f}/{snap['policy']['busy_budget_s'] / 60:.0f}m",
                  str(x["today"]["answered"]), "—" if x["score"] is None else f"{x['score']:.1f}",
                  "★" * (x["star"] or 0),
                  " ".join(t(f, lang) for f in x["flags"] if f not in ("in_shift",)))
    return Group(head, q, a)


def pick_view(requested: str) -> str:
    if requested != "auto":
        return requested
    if not sys.stdout.isatty():
        return "none"
    return "tui"


def register(sub, common) -> None:
    """`kefu-floor demo`, after `simulate` and `load` in the command list."""
    import argparse

    from kefu_floor.cli.argtypes import positive, positive_int
    from kefu_floor.i18n import default_lang

    dp = sub.add_parser("demo", help="embedded broker + live service + simulated floor + "
                                     "live view, in one command",
                        description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    dp.add_argument("--agents", type=positive_int, default=200, metavar="N")
    dp.add_argument("--speed", type=positive, default=60.0, metavar="X",
                    help="simulated seconds per wall second (default 60)")
    dp.add_argument("--seed", type=int, default=1)
    dp.add_argument("--ws-port", type=int, default=8765, help="feed port (default 8765; 0 = any)")
    dp.add_argument("--view", choices=("auto", "tui", "table", "none"), default="auto",
                    help="live view (default: the dashboard on a terminal, none otherwise)")
    dp.add_argument("--duration", type=positive, metavar="S",
                    help="stop after S seconds (default: when the simulated day is over)")
    dp.add_argument("--lang", choices=("zh", "en"), default=default_lang())
    dp.add_argument("--log-file", metavar="FILE",
                    help="log lines while the dashboard owns the terminal (default: "
                         "kefu-floor-demo.log in the temp folder)")
    dp.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from kefu_floor.cli.logs import log_to_file, setup_logging
    from kefu_floor.live.warmup import warm_kernels

    view = pick_view(args.view)
    say = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    log_file = None
    if view == "tui":  # the dashboard owns the terminal: nothing may draw over it
        log_file = str(log_to_file(args.log_file, "kefu-floor-demo.log", "warning"))
    else:
        setup_logging("text", "warning")
    # before the event loop exists: the embedded broker and the simulator's connection
    # would otherwise wait out a first run's compile, and drop
    warm_kernels(say)
    done = {}

    async def main():
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(sig):
            done["stopped_by"] = sig.name
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        done.update({k: v for k, v in (await run_demo(
            args.agents, args.speed, args.seed, args.ws_port, view, args.lang, args.duration,
            stop=stop, announce=say, log_file=log_file)).items() if v is not None})

    asyncio.run(main())
    if done.get("stopped_by"):
        say(t("stopped_by", args.lang, sig=done["stopped_by"]))
    if "events" in done:
        say(f"demo finished: {done['events']} events scored, {done['deductions']} "
            f"deductions booked")
    return 0
