"""argparse value types shared by the commands: a bad value gets argparse's one line
naming the flag and what it needs ("… is not a whole number >= 1"), never a traceback."""
from __future__ import annotations

import argparse


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number >= 1")
    return v


def positive(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        v = -1.0
    if not v > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{s!r} is not a number > 0")
    return v


def nonneg(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        v = -1.0
    if not v >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{s!r} is not a number >= 0")
    return v
