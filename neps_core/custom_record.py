"""NePS's ``tell_custom`` keywords: when and by whom a warm-start trial was evaluated, under
which id, and which trial it continues, applied to the trial it records."""

from __future__ import annotations

import math
from typing import Any

import attrs

from neps_core.history import TrialHistory
from neps_core.models import Trial

#: NePS's keyword -> the trial field it fills (times are NaN in NePS when not given).
TIMES = {"time_sampled": "created_at", "time_started": "started_at", "time_end": "finished_at"}


@attrs.frozen(kw_only=True)
class CustomRecord:
    """What ``tell_custom`` was told beside the configuration and its result."""

    config_id: str | None = None
    time_sampled: float | None = None
    time_started: float | None = None
    time_end: float | None = None
    evaluation_duration: float | None = None
    previous_trial_id: str | None = None
    worker_id: str | None = None
    traceback_str: str | None = None

    @classmethod
    def of(cls, told: dict[str, Any]) -> CustomRecord:
        """The record of ``tell_custom``'s keywords; an unknown one is a ``TypeError``."""
        known = [field.name for field in attrs.fields(cls)]
        unknown = sorted(set(told) - set(known))
        if unknown:
            raise TypeError(f"tell_custom() got unknown keyword(s) {unknown}; it knows {known}")
        return cls(**told)

    def __attrs_post_init__(self) -> None:
        for name in (*TIMES, "evaluation_duration"):
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not (number and (math.isnan(value) or value >= 0)):
                raise TypeError(f"tell_custom(): {name} must be seconds (a number), got {value!r}")
        for name in ("config_id", "previous_trial_id", "worker_id", "traceback_str"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | int):
                raise TypeError(f"tell_custom(): {name} must be a str, got {value!r}")

    def apply(self, trial: Trial, history: TrialHistory) -> Trial:
        """``trial`` (just imported) with what was told; a ``config_id`` told before, or a
        ``previous_trial_id`` that is no trial of the run, is a ``ValueError``."""
        known = {t.metadata.get("config_id"): t.id for t in history.values()}
        config_id = None if self.config_id is None else str(self.config_id)
        if config_id is not None and config_id in known:
            raise ValueError(
                f"tell_custom(): config_id {config_id!r} was told before (trial "
                f"{known[config_id]}); give each configuration its own id"
            )
        changes: dict[str, Any] = {
            field: getattr(self, keyword)
            for keyword, field in TIMES.items()
            if getattr(self, keyword) is not None and not math.isnan(getattr(self, keyword))
        }
        if self.worker_id is not None:
            changes["worker_id"] = str(self.worker_id)
        if self.previous_trial_id is not None:
            changes["previous_trial_id"] = self._previous(
                str(self.previous_trial_id), known, history
            )
        report = trial.report
        if report is not None and self.evaluation_duration is not None:
            duration = None if math.isnan(self.evaluation_duration) else self.evaluation_duration
            report = attrs.evolve(report, evaluation_duration=duration)
        if report is not None and self.traceback_str is not None:
            report = attrs.evolve(report, traceback=self.traceback_str)
        metadata = dict(trial.metadata)
        if config_id is not None:
            metadata["config_id"] = config_id
        return attrs.evolve(trial, report=report, metadata=metadata, **changes)

    @staticmethod
    def _previous(told: str, known: dict[Any, str], history: TrialHistory) -> str:
        """The run's id of the trial NePS's ``previous_trial_id`` names: a ``config_id``
        told before, or a trial id of the run."""
        if told in known:
            return known[told]
        if told in history:
            return told
        raise ValueError(
            f"tell_custom(): previous_trial_id {told!r} is no trial of the run (neither a "
            "config_id told before nor a trial id)"
        )
