"""What the tests share: the hand-worked scenario and a live configuration for it, a real feed
server, the TUI's Pilot helpers, the scenario builder, test certificates, a recorded
FreeSWITCH stream. Test modules import from here (never from each other); fixtures are in
the conftest.py files."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
TESTS = ROOT / "tests"
HW = TESTS / "scenarios" / "handworked"  # the hand-worked scenario (WORKED.md)
