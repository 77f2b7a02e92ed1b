"""Log lines go to the stderr of the moment: a command run in-process whose stderr was
swapped (and closed) since it set up logging must not print a logging traceback."""
from __future__ import annotations

import io
import logging
import sys

from kefu_floor.cli.logs import setup_logging


def test_log_lines_follow_stderr_when_it_is_swapped(monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", first)
        setup_logging("text", "info")
        logging.getLogger("kefu_floor.test").info("one")
        first.close()  # the caller's capture is gone
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("kefu_floor.test").info("two")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert "kefu_floor.test: two" in second.getvalue()
    assert "Logging error" not in second.getvalue()
