"""Messages from the app to the screen on top. The app applies each feed change to the floor
and then posts it to whichever screen is showing; a screen that shows live figures handles it
with `@on(FeedChanged)` (and the clock's second with `@on(Tick)`), so the app need not know
which screens exist. They do not bubble: a screen without a handler just ignores them."""
from __future__ import annotations

from textual.message import Message

from dashboards.feedclient import Change


class FeedChanged(Message, bubble=False):
    """The feed client applied a change (snapshot, delta, alert, connected, disconnected)."""

    def __init__(self, change: Change) -> None:
        super().__init__()
        self.change = change


class Tick(Message, bubble=False):
    """A second of the app's clock went by: time in state moves."""
