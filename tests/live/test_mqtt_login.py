"""The broker login as IT runs it: the password from a file or the environment (never in
argv, where `ps` shows it), and a refused login ends `serve` with one line after a bounded
number of tries instead of retrying quietly for ever. Real mosquitto with a password file."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import HW
from simulators.services import MosquittoServer

PASSWORD = "s3cret-Ω"


@pytest.fixture
def locked_broker(tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "kefu", PASSWORD], check=True,
                   capture_output=True)
    os.chmod(pw, 0o600)
    with MosquittoServer(extra_config=f"allow_anonymous false\npassword_file {pw}\n") as mq:
        yield mq


def serve(broker: str, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kefu_floor", "serve", "--ws-port", "0", "--site", "cd1",
         "--roster", str(HW / "roster.csv"), "--schedule", str(HW / "schedule.csv"),
         "--broker", broker, *extra],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, **(env or {})})


def test_password_from_file_is_used_and_not_in_argv(locked_broker, tmp_path):
    pwfile = tmp_path / "mqtt.pw"
    pwfile.write_text(PASSWORD + "\n", "utf-8")
    url = locked_broker.url.replace("mqtt://", "mqtt://kefu@")
    p = serve(url, "--mqtt-password-file", str(pwfile))
    try:
        t0, log = time.monotonic(), ""
        while time.monotonic() - t0 < 120 and "subscribed for" not in log:
            log = Path(locked_broker.log_path).read_text(errors="replace")
            assert p.poll() is None, p.stderr.read()
            if "New client connected" in log and "u'kefu'" in log:
                break
            time.sleep(0.2)
        assert "u'kefu'" in log  # logged in as kefu
        cmdline = Path(f"/proc/{p.pid}/cmdline").read_bytes().decode()
        assert PASSWORD not in cmdline
    finally:
        p.terminate()
        p.wait(30)


def test_refused_login_exits_with_one_line(locked_broker):
    url = locked_broker.url.replace("mqtt://", "mqtt://kefu@")
    p = serve(url, "--max-login-refusals", "2", env={"KEFU_MQTT_PASSWORD": "wrong"})
    try:
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("kefu-floor: error: broker mqtt://kefu@") and "refused the login 2 " \
        "times" in last and "KEFU_MQTT_PASSWORD" in last, err
    assert "Traceback" not in err
    assert err.count("ERROR") >= 2  # each refusal logged as an error


def test_password_in_the_broker_url_is_refused(locked_broker):
    p = serve(locked_broker.url.replace("mqtt://", f"mqtt://kefu:{PASSWORD}@"))
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1
    assert err.strip().splitlines() == [
        "kefu-floor: error: --broker: put no password in the URL (`ps` shows it to every user); "
        "use mqtt://USER@host:port with --mqtt-password-file FILE or the environment variable "
        "KEFU_MQTT_PASSWORD"]
