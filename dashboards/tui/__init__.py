"""The shift leader's terminal dashboard (值班长看板), a Textual client of the live feed.

    kefu-floor tui --connect ws://127.0.0.1:8765 [--site cd1] [--team T1] [--lang zh|en]

Screens: the floor (every agent of the selected team(s), live), the alerts pane (every
deduction as it is booked, newest first), the queue strip, an agent's drill-down (Enter), the
team view (`v`) and keyboard help (`?`). The floor's rows are a model (`rowmodel.FloorRows`:
the agents the filters keep, in sort order, a bisect per agent a delta adds or drops) and the
floor table is virtual: a DataTable holding no rows that draws, and formats cells for, only the
rows on screen, so 20,000 agents open, scroll, sort and filter at the cost of one screen. A
delta costs the agents it names; of those only the rows on screen are drawn again, only the
cells whose text or colour changed (`FloorTable.repaint`); rows off screen are drawn when they
scroll into view. A sort by a live column re-sorts at most every two seconds. Time in state is
recounted each second and on each delta for the rows on screen. When the feed is lost, a banner says since when, the last data stays on
screen, and the client reconnects with backoff.

State is always written as text and a symbol as well as a colour (colour-blind safe); colours
are from the Okabe-Ito palette. Times are in the site's time zone (the policy's).

The package, one job a module:

    formatting.py  pure formatting, no Textual: cells, sort keys, queue strip, bands, next
                   star, evidence (tested without a terminal)
    labels.py      the TUI's zh/en labels (registered in kefu_floor.i18n) and key help
    rowmodel.py    FloorRows, the floor's rows as data: filter, order, drawn cells (no
                   Textual; tested without a terminal)
    widgets.py     FloorTable, the virtual DataTable drawing the model's rows on screen
    screens/       one module per screen besides the floor: agent, team, help
    messages.py    what the app tells the screen on top (feed changes, the clock's second);
                   screens handle them with @on
    app.py         FloorApp (the floor screen and the feed) and `run`
    tui.tcss       the styles
"""
from dashboards.tui.app import FloorApp, run
from dashboards.tui.formatting import (agent_cells, band_text, evidence, next_star, queue_strip,
                                       star_text)
from dashboards.tui.rowmodel import FloorRows
from dashboards.tui.screens import AgentScreen, HelpScreen, TeamScreen
from dashboards.tui.widgets import FloorTable

__all__ = ["AgentScreen", "FloorApp", "FloorRows", "FloorTable", "HelpScreen", "TeamScreen",
           "agent_cells",
           "band_text", "evidence", "next_star", "queue_strip", "run", "star_text"]
