"""Fixtures of the TUI tests: a real feed server at two points of the hand-worked month."""
from __future__ import annotations

import pytest

from harness.feed import DEC1, FeedServer, events_between
from harness.tui import MORNING


@pytest.fixture
def morning():
    """A feed whose engine has everything up to 2026-11-04 07:00 local."""
    srv = FeedServer().start()
    srv.feed(events_between(None, MORNING))
    srv.finish()  # what a ticker would have booked by then
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def month_end():
    """A feed with all of November: every score and star is known."""
    srv = FeedServer().start()
    srv.feed(events_between(None, DEC1))
    srv.finish()  # what a ticker would have booked by then
    try:
        yield srv
    finally:
        srv.close()
