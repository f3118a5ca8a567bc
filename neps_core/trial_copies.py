"""Observers and users get trials through copies of their own of the trial's mappings.

A trial is a frozen record, but its ``config``, ``metadata`` and report ``extra`` are plain
dicts shared with the worker's history. An observer that tidied a log line with
``trial.config.pop("seed")`` changed what ``evaluate_pipeline`` received, what the journal
recorded and what every later ``ask`` read (a grid search evaluated one configuration for its
whole budget); an ask-and-tell loop that took ``kwargs = asked.trial.config`` and popped the
fidelity had the trial stored without it on ``tell`` (and promoted by hyperband, though never
evaluated at the higher fidelity). Neither may change the run, so each gets the trial with
those three mappings copied: ~5 us per trial (a deep copy took ~22 us, several times per
trial), and users keep plain dicts everywhere. Values inside them (a list in ``extra``) are
shared.
"""

from __future__ import annotations

from typing import Any

import attrs

from neps_core.models import Report, Trial


def own_copy(trial: Trial) -> Trial:
    """``trial`` with its ``config``, ``metadata`` and report ``extra`` copied."""
    return attrs.evolve(
        trial,
        config=dict(trial.config),
        metadata=dict(trial.metadata),
        report=_copied(trial.report),
    )


def own_copies(arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` of an observer hook with its trial and report replaced by copies (the
    report by the copied trial's own, where it is that trial's)."""
    trial, report = arguments.get("trial"), arguments.get("report")
    copied = dict(arguments)
    if isinstance(trial, Trial):
        copied["trial"] = own_copy(trial)
        if report is not None and report is trial.report:
            copied["report"] = copied["trial"].report
            return copied
    if isinstance(report, Report):
        copied["report"] = _copied(report)
    return copied


def _copied(report: Report | None) -> Report | None:
    return None if report is None else attrs.evolve(report, extra=dict(report.extra))
