"""NePS's ``tell_custom`` keywords: when and by whom a warm-start trial was evaluated, under
which id, and which trial it continues, applied to the trial it records."""

from __future__ import annotations

import itertools
import math
from typing import Any

import attrs

from neps_core.config import RunSettings
from neps_core.history import TrialHistory
from neps_core.models import Report, Trial, TrialState, trial_id
from neps_core.reporting import with_error_values
from neps_core.validators import is_seconds

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
            if value is not None and not (_not_given(value) or is_seconds(value)):
                raise TypeError(
                    f"tell_custom(): {name} must be a finite number of seconds >= 0 (NaN: not "
                    f"given), got {value!r}"
                )
        told = [(n, getattr(self, n)) for n in TIMES if not _not_given(getattr(self, n))]
        for (earlier, first), (later, second) in itertools.pairwise(told):
            if second < first:  # a trial that ended before it started, say
                raise ValueError(f"tell_custom(): {later}={second} is before {earlier}={first}")
        for name in ("config_id", "previous_trial_id", "worker_id", "traceback_str"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | int):
                raise TypeError(f"tell_custom(): {name} must be a str, got {value!r}")

    def apply(
        self,
        trial: Trial,
        history: TrialHistory,
        *,
        fidelity_name: str | None,
        settings: RunSettings,
        raised: bool,
    ) -> Trial:
        """``trial`` (just imported) with what was told, and, failed, the ``settings``'
        error values (as ``tell()`` gives them); ``raised``: the result was an exception.

        A ``config_id`` told before is a ``ValueError``, and so is a ``previous_trial_id``
        that is no lower-fidelity trial of the same configuration: a bracket would promote
        the wrong configuration from it.
        """
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
            if not _not_given(getattr(self, keyword))
        }
        if self.worker_id is not None:
            changes["worker_id"] = str(self.worker_id)
        if self.previous_trial_id is not None:
            previous = _previous(str(self.previous_trial_id), known, history)
            _check_continues(trial, history[previous], fidelity_name)
            changes["previous_trial_id"] = previous
        metadata = dict(trial.metadata)
        if config_id is not None:
            metadata["config_id"] = config_id
        report = self._report(trial, metadata, raised)
        if report is not None and trial.state is TrialState.FAILED:
            report = with_error_values(report, settings)
        return attrs.evolve(trial, report=report, metadata=metadata, **changes)

    def _report(self, trial: Trial, metadata: dict[str, Any], raised: bool) -> Report | None:
        """The trial's report with the duration and traceback told; a traceback given with a
        value (not an exception) goes to ``metadata``, as ``tell()`` keeps it."""
        report = trial.report
        if report is None:
            return None
        if self.evaluation_duration is not None:
            duration = None if _not_given(self.evaluation_duration) else self.evaluation_duration
            report = attrs.evolve(report, evaluation_duration=duration)
        if self.traceback_str is not None and not raised:
            metadata["traceback"] = self.traceback_str
        elif self.traceback_str is not None:
            report = attrs.evolve(report, traceback=self.traceback_str)
        return report


def _not_given(value: Any) -> bool:
    """NePS's default for an unknown time: NaN (``None`` here too)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _previous(told: str, known: dict[Any, str], history: TrialHistory) -> str:
    """The run's id of the trial NePS's ``previous_trial_id`` names: a ``config_id`` told
    before, or a trial id of the run (also as NePS's folder name, ``config_<id>``)."""
    if told in known:
        return known[told]
    for candidate in (told, trial_id(told)):
        if candidate in history:
            return candidate
    raise ValueError(
        f"tell_custom(): previous_trial_id {told!r} is no trial of the run (neither a "
        "config_id told before nor a trial id)"
    )


def _check_continues(trial: Trial, previous: Trial, fidelity_name: str | None) -> None:
    """``trial`` must be ``previous``'s configuration at a higher fidelity."""
    if fidelity_name is None:
        raise ValueError(
            "tell_custom(): previous_trial_id names the trial this one continues at a higher "
            "fidelity, but the space has no fidelity"
        )
    others = {k: v for k, v in trial.config.items() if k != fidelity_name}
    same = others == {k: v for k, v in previous.config.items() if k != fidelity_name}
    higher = (previous.fidelity or 0) < (trial.fidelity or 0)
    if not (same and higher):
        raise ValueError(
            f"tell_custom(): previous_trial_id names trial {previous.id}, but this trial is not "
            "its configuration at a higher fidelity"
        )
