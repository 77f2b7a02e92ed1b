"""Keyboard help (`?`)."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dashboards.tui.formatting import EXCEPTION_FLAGS, STATE_STYLE, STATES, SYMBOL, VERMILION
from dashboards.tui.labels import t, translate_bindings


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "app.pop_screen", "tui_k_back")]

    def __init__(self, lang: str):
        super().__init__()
        self.lang = lang
        translate_bindings(self, lang)

    def compose(self) -> ComposeResult:
        lang = self.lang
        keys = Table(show_header=False, box=None, padding=(0, 1))
        keys.add_column(style="bold")
        keys.add_column()
        for k, d in (("?", "tui_k_help"), ("Enter", "tui_k_detail"), ("t", "tui_k_team"),
                     ("x", "tui_k_exc"), ("s", "tui_k_sort"), ("r", "tui_k_reverse"),
                     ("v", "tui_k_teams"), ("Tab", "tui_k_alerts"),
                     ("Esc", "tui_k_back"), ("q", "tui_k_quit")):
            keys.add_row(k, t(d, lang))
        legend = Text()
        for s in STATES:
            legend.append(f"{SYMBOL[s]} {t(s, lang)}  ", style=STATE_STYLE[s])
        flags = Text("!" + "  !".join(t(f"tui_f_{f}", lang) for f in EXCEPTION_FLAGS),
                     style=f"bold {VERMILION}")
        body = Group(Text(t("tui_help", lang), style="bold underline"), keys, Text(""),
                     Text(t("tui_legend", lang), style="bold"), legend, flags, Text(""),
                     Text(t("tui_colours", lang)))
        with VerticalScroll():
            yield Static(body, id="help-body")
