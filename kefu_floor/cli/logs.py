"""Structured logging: one JSON object per line (`--log-format json`) or plain text."""
from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path


class JsonFormatter(logging.Formatter):
    def format(self, r: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(r.created))
               + f".{int(r.msecs):03d}", "level": r.levelname.lower(), "logger": r.name,
               "msg": r.getMessage()}
        if r.exc_info:
            out["exc"] = self.formatException(r.exc_info)
        return json.dumps(out, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is logged, not to the stream it was
    when logging was set up: a command run in-process (the tests, an embedding program) may
    have had its stderr swapped and closed since, and a thread still logging then printed
    "--- Logging error ---" with a traceback instead of its line."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    h = StderrHandler()
    h.setFormatter(JsonFormatter() if fmt == "json" else
                   logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [h]
    root.setLevel(level.upper())
    for noisy in ("amqtt", "transitions", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_to_file(path: str | None, default_name: str, level: str = "info") -> Path:
    """While a full-screen view owns the terminal, log lines go to a file instead of being
    drawn over it: `path`, or `default_name` in the temp folder. Returns the file."""
    from kefu_floor.errors import ConfigError

    p = Path(path) if path else Path(tempfile.gettempdir()) / default_name
    try:
        h = logging.FileHandler(p, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"log file {p}: cannot write it ({e.strerror or e})") from None
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [h]
    root.setLevel(level.upper())
    for noisy in ("amqtt", "transitions", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)  # Python's warnings too: they would print to stderr
    return p
