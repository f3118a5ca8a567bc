"""Each observer is told of a trial through a copy of its own.

A trial is a frozen record, but its ``config``, ``metadata`` and report ``extra`` are plain
dicts shared with the worker's history: an observer that tidied a log line with
``trial.config.pop("seed")`` changed what ``evaluate_pipeline`` received, what the journal
recorded and what every later ``ask`` read (a grid search evaluated one configuration for its
whole budget). Observers "cannot change the run", so each gets a deep copy; the copy costs
microseconds per event, and users keep plain dicts everywhere.
"""

from __future__ import annotations

import copy
from typing import Any

from neps_core.models import Report, Trial


def own_copies(arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` of an observer hook with its trial and report replaced by copies (the
    report by the copied trial's own, where it is that trial's)."""
    trial, report = arguments.get("trial"), arguments.get("report")
    copied = dict(arguments)
    if isinstance(trial, Trial):
        copied["trial"] = copy.deepcopy(trial)
        if report is not None and report is trial.report:
            copied["report"] = copied["trial"].report
            return copied
    if isinstance(report, Report):
        copied["report"] = copy.deepcopy(report)
    return copied
