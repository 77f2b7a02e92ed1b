"""Start real mosquitto / redis-server / Prometheus / Alertmanager processes for tests.

Each server runs in the foreground as a child of the test process, listens on
127.0.0.1 on a free port (never the machine's 1883 / 6379) and keeps its
config, data and logs in a private temp dir.  Nothing here skips: a missing
binary or a server that does not come up raises ``ServiceError`` so the test
run fails loudly.

    srv = MosquittoServer().start()
    srv.url            # "mqtt://127.0.0.1:PORT"
    srv.restart()      # same port, same persistence dir (QoS1 sessions survive)
    srv.close()        # stop + remove the temp dir

``stop()`` keeps the temp dir so a later ``start()`` resumes from it;
``close()`` (or leaving a ``with`` block) removes it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = [
    "HOST",
    "MosquittoServer",
    "RedisCluster",
    "RedisServer",
    "PrometheusServer",
    "AlertmanagerServer",
    "ServiceError",
    "find_binary",
    "free_port",
    "redis_command",
    "wait_for_port",
]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class ServiceError(RuntimeError):
    """A real service could not be found, started or talked to."""


def free_port(host: str = HOST) -> int:
    """Bind to port 0 on *host*, read the port the kernel picked, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def find_binary(name: str) -> str:
    """Path of *name* via PATH, falling back to /usr/sbin and /usr/bin."""
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise ServiceError(
        f"{name} binary not found (PATH, /usr/sbin, /usr/bin); "
        "run `bash scripts/ensure-services.sh` or `make services`"
    )


def _port_accepts(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = START_TIMEOUT, host: str = HOST,
                  proc: subprocess.Popen | None = None) -> bool:
    """Poll until *host:port* accepts a TCP connection.

    Returns False on timeout, or as soon as *proc* (if given) has exited.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if _port_accepts(port, host):
            return proc is None or proc.poll() is None
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------------
# minimal RESP client (so the fixtures do not need the `redis` package)

def _resp_encode(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif not isinstance(a, (bytes, bytearray)):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def _resp_read(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ServiceError(f"truncated RESP reply: {line!r}")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise ServiceError(f"redis error: {body.decode(errors='replace')}")
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(body)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise ServiceError(f"unexpected RESP reply: {line!r}")


def redis_command(port: int, *args, host: str = HOST, timeout: float = 5.0):
    """Send one command over a fresh raw socket and return the parsed reply.

    ``+OK`` -> "OK", ``:1`` -> 1, bulk -> bytes, array -> list; ``-ERR`` raises.
    """
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(_resp_encode(*args))
        with s.makefile("rb") as f:
            return _resp_read(f)


# --------------------------------------------------------------------------
# process management

_LIVE: set[_Server] = set()


@atexit.register
def _stop_all() -> None:  # last line of defence against stray servers
    for srv in list(_LIVE):
        try:
            srv.stop()
        except Exception:
            pass


def _die_with_parent() -> None:
    """preexec_fn: have the kernel SIGTERM the server if the test process dies."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except Exception:
        pass


class _Server:
    name = "server"
    scheme = "tcp"

    def __init__(self, port: int | None = None, tmpdir: str | os.PathLike | None = None):
        self.binary = find_binary(self.binary_name)
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self._own_tmpdir = tmpdir is None
        self.tmpdir = Path(tmpdir) if tmpdir is not None else Path(
            tempfile.mkdtemp(prefix=f"kefu-{self.name}-"))
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self._out = None
        self._started_once = False
        self._last_exit: int | None = None

    # -- overridden by subclasses
    binary_name = ""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        pass

    def _ready(self) -> bool:
        return True

    def _log_files(self) -> list[Path]:
        return [self.tmpdir / "stdout.log"]

    # -- public API
    host = HOST

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running else None

    def start(self, timeout: float = START_TIMEOUT):
        """Start and wait until the port accepts connections. Returns self."""
        if self.running:
            return self
        # Before the first successful start we may move to another free port
        # if we lost a race for ours; afterwards the port is fixed.
        attempts = 1 if (self._fixed_port or self._started_once) else 3
        for attempt in range(attempts):
            if attempt:
                self.port = free_port()
            if self._spawn(timeout):
                self._started_once = True
                _LIVE.add(self)
                return self
        why = (f"exited with code {self._last_exit}" if self._last_exit is not None
               else f"did not accept connections within {timeout:.0f}s")
        raise ServiceError(
            f"{self.name} on {HOST}:{self.port} {why} "
            f"(cmd: {' '.join(self._command())})\n"
            f"--- log tail ({self.tmpdir}) ---\n{self.log_tail()}"
        )

    def _spawn(self, timeout: float) -> bool:
        self._prepare()
        self._out = open(self.tmpdir / "stdout.log", "ab")
        self.proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=self.tmpdir,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + timeout
        ok = wait_for_port(self.port, timeout, proc=self.proc)
        while ok and not (self._owns_port() and self._ready()):
            if time.monotonic() > deadline or not self.running:
                ok = False
                break
            time.sleep(0.05)
        if not ok:
            self._terminate()
        return ok

    def _owns_port(self) -> bool:
        """True if *our* process holds the listening socket (not someone else
        who grabbed the port between free_port() and bind).  Linux only;
        elsewhere assume yes."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            inodes = set()
            for table in ("/proc/net/tcp", "/proc/net/tcp6"):
                try:
                    rows = Path(table).read_text().splitlines()[1:]
                except FileNotFoundError:
                    continue
                for row in rows:
                    f = row.split()
                    if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == self.port:
                        inodes.add(f"socket:[{f[9]}]")
            fd_dir = Path(f"/proc/{self.proc.pid}/fd")
            for fd in fd_dir.iterdir():
                try:
                    if os.readlink(fd) in inodes:
                        return True
                except OSError:
                    continue
            return False
        except OSError:
            return True  # no usable /proc: fall back to the TCP check

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        self._last_exit = proc.poll() if proc is not None else None
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        if self._out is not None:
            self._out.close()
            self._out = None

    def stop(self) -> None:
        """SIGTERM the server and wait for it to exit (SIGKILL after 10 s).

        The temp dir (and mosquitto's persistence file) is kept.
        """
        self._terminate()
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL (kill -9): no chance to save anything; the temp dir is kept."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
        if self._out is not None:
            self._out.close()
            self._out = None
        _LIVE.discard(self)

    def restart(self, timeout: float = START_TIMEOUT):
        """stop() then start() on the same port with the same temp dir."""
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """stop() and remove the temp dir (if we created it)."""
        self.stop()
        if self._own_tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for p in self._log_files():
            try:
                text = p.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"[{p.name}]\n" + "\n".join(text))
        return "\n".join(parts) or "(no log output)"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self.proc.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.url} {state} dir={self.tmpdir}>"


PRODUCTION_CONF = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto.conf"


def durability_lines(conf: Path = PRODUCTION_CONF) -> list[str]:
    """The durability section of the production mosquitto config (persistence, autosave,
    session expiry, queue limits), so the tests run the broker the way production does."""
    try:
        text = conf.read_text()
    except OSError as e:
        raise ServiceError(f"{conf}: cannot read the production mosquitto config ({e})")
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("# --- durability: begin"):
            inside = True
        elif line.startswith("# --- durability: end"):
            break
        elif inside and line.strip() and not line.lstrip().startswith("#"):
            lines.append(line.strip())
    if not lines:
        raise ServiceError(f"{conf}: no '# --- durability: begin/end' section")
    return lines


class MosquittoServer(_Server):
    """A real mosquitto broker configured like production (deploy/mosquitto.conf's
    durability section: persistence, autosave, session expiry, queue limits), with its
    persistence in the temp dir. ``production=False`` leaves mosquitto's defaults
    (a 1,000-message queue; persistence still on, so restarts keep sessions).

    ``extra_config`` lines are appended to the generated mosquitto.conf.
    """

    name = "mosquitto"
    scheme = "mqtt"
    binary_name = "mosquitto"

    def __init__(self, port: int | None = None, tmpdir=None, extra_config: str = "",
                 production: bool = True):
        super().__init__(port, tmpdir)
        self.extra_config = extra_config
        self.production = production

    @property
    def config_path(self) -> Path:
        return self.tmpdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.tmpdir / "mosquitto.log"

    def _prepare(self) -> None:
        durable = (durability_lines() if self.production
                   else ["persistence true", "persistence_file mosquitto.db"])
        lines = [
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            *durable,
            f"persistence_location {self.tmpdir}/",
            f"log_dest file {self.log_path}",
            "log_type all",
            "connection_messages true",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # otherwise mosquitto drops to user `mosquitto`, which cannot
            # write to our 0700 temp dir
            lines.append("user root")
        if self.extra_config:
            lines.append(self.extra_config.rstrip("\n"))
        self.config_path.write_text("\n".join(lines) + "\n")

    def _command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def _log_files(self) -> list[Path]:
        return [self.tmpdir / "stdout.log", self.log_path]


class RedisServer(_Server):
    """A real redis-server with the persistence kefu-floor's guarantee relies on (README,
    "Durable state"): AOF on, fsync before each write is acknowledged (`appendfsync always`),
    no RDB snapshots. A restart (or a kill -9 and start) keeps every acknowledged write."""

    name = "redis"
    scheme = "redis"
    binary_name = "redis-server"

    def __init__(self, port: int | None = None, tmpdir=None, extra_args: tuple = ()):
        super().__init__(port, tmpdir)
        self.extra_args = list(extra_args)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def _command(self) -> list[str]:
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--dir", str(self.tmpdir),
            "--daemonize", "no",
            "--logfile", "",
            *self.extra_args,
        ]

    def _ready(self) -> bool:
        try:
            return redis_command(self.port, "PING", timeout=1.0) == "PONG"
        except (OSError, ServiceError):
            return False

    def command(self, *args):
        """Run one raw command against this server (see redis_command)."""
        return redis_command(self.port, *args)

    def flushall(self) -> None:
        if self.command("FLUSHALL") != "OK":
            raise ServiceError("FLUSHALL failed")


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


class PrometheusServer(_Server):
    """A real Prometheus (Debian's `prometheus`) with its TSDB in the temp dir.

    ``config`` is the prometheus.yml text; ``files`` maps more file names (rule files)
    to their text, all written next to it, so the config can name them relatively.
    """

    name = "prometheus"
    scheme = "http"
    binary_name = "prometheus"

    def __init__(self, config: str, files: dict[str, str] | None = None, port: int | None = None,
                 tmpdir=None):
        super().__init__(port, tmpdir)
        self.config = config
        self.files = files or {}

    def _prepare(self) -> None:
        for name, text in self.files.items():
            (self.tmpdir / name).write_text(text, "utf-8")
        (self.tmpdir / "prometheus.yml").write_text(self.config, "utf-8")

    def _command(self) -> list[str]:
        return [self.binary, f"--config.file={self.tmpdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.tmpdir / 'data'}",
                f"--web.listen-address={HOST}:{self.port}", "--log.level=warn"]

    def _ready(self) -> bool:
        return _http_ok(f"{self.url}/-/ready")

    def api(self, path: str, **params) -> dict:
        """GET /api/v1/PATH and return its `data` (raises ServiceError on an error)."""
        import json
        import urllib.parse
        import urllib.request

        q = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{q}", timeout=5) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise ServiceError(f"prometheus {path}: {body}")
        return body["data"]


class AlertmanagerServer(_Server):
    """A real Alertmanager (Debian's `prometheus-alertmanager`), clustering off.

    ``config`` is the alertmanager.yml text.
    """

    name = "alertmanager"
    scheme = "http"
    binary_name = "prometheus-alertmanager"

    def __init__(self, config: str, port: int | None = None, tmpdir=None):
        super().__init__(port, tmpdir)
        self.config = config

    def _prepare(self) -> None:
        (self.tmpdir / "alertmanager.yml").write_text(self.config, "utf-8")

    def _command(self) -> list[str]:
        return [self.binary, f"--config.file={self.tmpdir / 'alertmanager.yml'}",
                f"--storage.path={self.tmpdir / 'data'}",
                f"--web.listen-address={HOST}:{self.port}",
                "--cluster.listen-address=",  # no gossip port (it would need 9094)
                "--log.level=warn"]

    def _ready(self) -> bool:
        return _http_ok(f"{self.url}/-/ready")


def _cluster_port() -> int:
    """A free port p <= 55535 whose cluster bus port p + 10000 is free too."""
    import random

    for _ in range(200):
        p = random.randint(20000, 55535)
        ok = True
        for q in (p, p + 10000):
            with socket.socket() as s:
                try:
                    s.bind((HOST, q))
                except OSError:
                    ok = False
        if ok:
            return p
    raise ServiceError("no free port pair for a Redis Cluster node")


class RedisCluster:
    """A 3-node Redis Cluster (masters only) on free ports, each node with AOF:
    `redis-server --cluster-enabled yes` ×3, then `redis-cli --cluster create … --yes`."""

    def __init__(self, nodes: int = 3):
        self.nodes = [RedisServer(port=_cluster_port(), extra_args=("--cluster-enabled", "yes",
                                              "--cluster-config-file", "nodes.conf",
                                              "--cluster-node-timeout", "2000"))
                      for _ in range(nodes)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> RedisCluster:
        for n in self.nodes:
            n.start()
        cli = find_binary("redis-cli")
        out = subprocess.run([cli, "--cluster", "create",
                              *[f"{HOST}:{n.port}" for n in self.nodes],
                              "--cluster-replicas", "0", "--cluster-yes"],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            self.close()
            raise ServiceError(f"redis-cli --cluster create failed: {out.stdout}{out.stderr}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.nodes[0].command("CLUSTER", "INFO").decode()
            if "cluster_state:ok" in info:
                return self
            time.sleep(0.1)
        self.close()
        raise ServiceError(f"redis cluster did not reach cluster_state:ok within {timeout}s")

    def flushall(self) -> None:
        for n in self.nodes:
            n.flushall()

    def close(self) -> None:
        for n in self.nodes:
            n.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
