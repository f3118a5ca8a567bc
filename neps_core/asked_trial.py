"""What ``AskAndTell.ask`` hands out: a trial to evaluate, also under NePS's names.

NePS's ``AskAndTell`` returns its ``Trial``, read as ``trial.config_id``, ``trial.config``,
``trial.metadata.location``, ``.state``, ``.previous_trial_id`` and
``.previous_trial_location``; those spellings work here too. ``tell`` takes such a trial
back (or a stored one, or its id).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from neps_core.history import TrialHistory
from neps_core.models import Trial, TrialState, trial_id


@attrs.frozen
class AskedTrialMetadata:
    """NePS's ``trial.metadata`` fields that say where an asked trial comes from."""

    id: str
    location: str
    state: TrialState
    previous_trial_id: str | None
    previous_trial_location: str


@attrs.frozen
class AskedTrial:
    """A trial to evaluate: its id, the configuration and its folder.

    ``config`` is exactly what ``evaluate_pipeline`` would receive as keyword arguments;
    ``previous_pipeline_directory`` is the folder of the trial a fidelity promotion continues.
    """

    id: str
    config: Mapping[str, Any]
    pipeline_directory: Path
    previous_pipeline_directory: Path | None
    trial: Trial

    @property
    def config_id(self) -> str:
        """NePS's name of ``id``."""
        return self.id

    @property
    def metadata(self) -> AskedTrialMetadata:
        """NePS's ``trial.metadata``: the trial a promotion continues, and its folder."""
        previous = self.previous_pipeline_directory
        return AskedTrialMetadata(
            id=self.id,
            location=str(self.pipeline_directory),
            state=self.trial.state,
            previous_trial_id=self.trial.previous_trial_id,
            previous_trial_location="" if previous is None else str(previous),
        )


def check_same_run(
    trial: AskedTrial | Trial | str | int, history: TrialHistory, root: Path
) -> None:
    """A trial object of another run has an id here too: its result must not land on it."""
    record = trial.trial if isinstance(trial, AskedTrial) else trial
    if not isinstance(record, Trial):
        return
    stored = history.get(record.id)
    # Another run's trial may have drawn the same configuration (one seed, one optimizer),
    # but not at the same moment.
    if stored is not None and (
        dict(stored.config) != dict(record.config) or stored.created_at != record.created_at
    ):
        raise ValueError(
            f"tell(): trial {record.id!r} was asked in another run; trial {record.id!r} of "
            f"{root} is another trial (another configuration, or created at another time)"
        )


def told_trial_id(trial: AskedTrial | Trial | str | int) -> str:
    """The id of the trial ``tell`` names (NePS's ``"config_3"`` is trial ``"3"``)."""
    return trial.id if isinstance(trial, AskedTrial | Trial) else trial_id(trial)


def as_asked(claimed: Trial, worker_id: str, asked_at: float) -> Trial | None:
    """``claimed`` as the client ``worker_id`` asked it (at ``asked_at``, its monotonic
    clock), where the trial was re-queued and taken by another worker since; else ``None``.

    The first result stands and names who produced it: a late client telling first was
    recorded under the worker that took the trial over, which was then told it had reported.
    """
    if claimed.worker_id == worker_id:
        return None
    started_at = time.time() - (time.monotonic() - asked_at)
    return attrs.evolve(claimed, worker_id=worker_id, started_at=started_at)
