"""The dashboard's screens other than the floor (which is the app's own): one module each."""
from dashboards.tui.screens.agent import AgentScreen
from dashboards.tui.screens.help import HelpScreen
from dashboards.tui.screens.team import TeamScreen

__all__ = ["AgentScreen", "HelpScreen", "TeamScreen"]
