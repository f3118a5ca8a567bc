"""Warnings about how neps_core was called point at the caller's line, not at ours.

A fixed ``stacklevel`` counts the frames between the warning and the caller, which differ by
entry point (``run()`` itself or behind its argument check, through a run config, the CLI,
plugins loaded deep inside): the first frame outside neps_core is the caller's wherever the
warning is raised.
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType

#: Packages a warning's location skips: ours, and contextlib's context managers around us.
INTERNAL_PACKAGES = frozenset({"neps_core", "neps_core_plugins", "contextlib"})


def warn_at_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn(message, category)`` attributed to the first caller outside neps_core."""
    frame: FrameType | None = sys._getframe(0)  # this function: stacklevel 1
    level = 1
    while frame is not None and _package(frame) in INTERNAL_PACKAGES:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _package(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__", "")).partition(".")[0]
