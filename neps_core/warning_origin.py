"""Warnings about how neps_core was called point at the caller's line, not at ours.

A fixed ``stacklevel`` counts the frames between the warning and the caller, which differ by
entry point (``run()`` itself or behind its argument check, through a run config, the CLI,
plugins loaded deep inside): the first frame outside neps_core is the caller's wherever the
warning is raised. The warning stays neps_core's for the filters, so the one in
``neps_core/__init__.py`` shows it also where the caller is no ``__main__``.
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType

#: Packages a warning's location skips: ours, and contextlib's context managers around us.
INTERNAL_PACKAGES = frozenset({"neps_core", "neps_core_plugins", "contextlib"})


def warn_at_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn(message, category)`` attributed to the first caller outside neps_core."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and _package(frame) in INTERNAL_PACKAGES:
        frame = frame.f_back
    if frame is None:  # called by nothing outside neps_core: our caller's line
        warnings.warn(message, category, stacklevel=2)
        return
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module="neps_core",
        registry=frame.f_globals.setdefault("__warningregistry__", {}),
    )


def _package(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__", "")).partition(".")[0]
