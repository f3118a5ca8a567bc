"""Trials as an ask-and-tell client hands them out: copies that also read as NePS's.

NePS's ``AskAndTell`` returns its ``Trial``, whose ``metadata`` is an object
(``trial.metadata.state``, ``.id``, ``.location``, ...) and whose ``trials`` dict holds every
trial the client knows. Here a trial's ``metadata`` is the dict of what was recorded beside
it; the copies a client hands out keep that dict (the user's to change, see
``trial_copies``) and add NePS's names as attributes, read from the trial when it was copied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from neps_core.interfaces import Storage
from neps_core.models import Trial, TrialState
from neps_core.trial_copies import own_copy


class TrialMetadata(dict[str, Any]):
    """A trial's metadata dict that also has NePS's ``Trial.metadata`` attributes.

    ``location`` and ``previous_trial_location`` are folders (``""`` when there is none);
    ``time_sampled``, ``time_started`` and ``time_end`` the trial's times (``time_end`` as
    told to ``tell()``, if it was); ``evaluating_worker_id`` the worker that ran or told
    it. NePS's ``sampling_worker_id`` and ``time_submitted`` are not recorded here.
    """

    id: str
    state: TrialState
    location: str
    previous_trial_id: str | None
    previous_trial_location: str
    time_sampled: float
    time_started: float | None
    time_end: float | None
    evaluation_duration: float | None
    evaluating_worker_id: str | None

    @classmethod
    def of(cls, trial: Trial, location: Path, previous_location: Path | None) -> TrialMetadata:
        """A copy of ``trial``'s metadata with NePS's attributes of ``trial``."""
        metadata = cls(trial.metadata)
        metadata.id = trial.id
        metadata.state = trial.state
        metadata.location = str(location)
        metadata.previous_trial_id = trial.previous_trial_id
        metadata.previous_trial_location = (
            "" if previous_location is None else str(previous_location)
        )
        metadata.time_sampled = trial.created_at
        metadata.time_started = trial.started_at
        metadata.time_end = trial.metadata.get("time_end", trial.finished_at)
        metadata.evaluation_duration = (
            None if trial.report is None else trial.report.evaluation_duration
        )
        metadata.evaluating_worker_id = trial.worker_id
        return metadata


def _dump_as_a_dict() -> None:
    """Have PyYAML's dumpers write a ``TrialMetadata`` as the mapping it is, as they did when
    it was a plain dict: they represent a dict subclass only if told to (``yaml.safe_dump``
    of it failed with "cannot represent an object"). Only this class is concerned."""
    names = ("SafeDumper", "CSafeDumper", "Dumper", "CDumper")
    for dumper in {getattr(yaml, name) for name in names if hasattr(yaml, name)}:
        yaml.add_representer(TrialMetadata, yaml.representer.SafeRepresenter.represent_dict, dumper)


_dump_as_a_dict()


def neps_copy(trial: Trial, storage: Storage) -> Trial:
    """``trial`` as the caller's own copy (``own_copy``) with a ``TrialMetadata``."""
    previous = trial.previous_trial_id
    metadata = TrialMetadata.of(
        trial,
        storage.trial_directory(trial.id),
        None if previous is None else storage.trial_directory(previous),
    )
    return attrs.evolve(own_copy(trial), metadata=metadata)


class TrialsRead(Mapping[str, Trial]):
    """The run's trials by id as read at one moment; each lookup gives a new ``neps_copy``
    (copied when read, so reading one trial of a long run copies one)."""

    def __init__(self, trials: Mapping[str, Trial], storage: Storage) -> None:
        self._trials = trials
        self._storage = storage

    def __getitem__(self, trial_id: str) -> Trial:
        return neps_copy(self._trials[trial_id], self._storage)

    def __iter__(self) -> Iterator[str]:
        return iter(self._trials)

    def __len__(self) -> int:
        return len(self._trials)
