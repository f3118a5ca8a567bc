"""What ``AskAndTell.ask`` hands out: a trial to evaluate, also under NePS's names.

NePS's ``AskAndTell`` returns its ``Trial``, read as ``trial.config_id``, ``trial.config``,
``trial.metadata.location``, ``.state``, ``.previous_trial_id``,
``.previous_trial_location`` and, once told, ``trial.report``; those spellings work here too.
``tell`` takes such a trial back (or a stored one, or its id).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.models import Report, Trial, trial_id
from neps_core.neps_trials import TrialMetadata, neps_copy
from neps_core.space import PipelineSpace
from neps_core.trial_calls import built_for_the_user


@attrs.define(on_setattr=attrs.setters.frozen)
class AskedTrial:
    """A trial to evaluate: its id, the configuration and its folder.

    ``config`` is exactly what ``evaluate_pipeline`` would receive as keyword arguments;
    ``previous_pipeline_directory`` is the folder of the trial a fidelity promotion continues.
    ``trial`` is a copy of the stored record: changing it changes nothing stored. Once this
    client tells the trial's result, ``trial`` is the told record (what ``tell`` returns), so
    the asked object reads as done, as NePS's does.
    """

    id: str
    config: Mapping[str, Any]
    pipeline_directory: Path
    previous_pipeline_directory: Path | None
    trial: Trial = attrs.field(on_setattr=attrs.setters.NO_OP)

    @property
    def config_id(self) -> str:
        """NePS's name of ``id``."""
        return self.id

    @property
    def metadata(self) -> TrialMetadata:
        """NePS's ``trial.metadata``: the trial's state, its folder, the trial a promotion
        continues and its folder, ... (also the trial's metadata dict)."""
        return TrialMetadata.of(
            self.trial, self.pipeline_directory, self.previous_pipeline_directory
        )

    @property
    def report(self) -> Report | None:
        """NePS's ``trial.report``: the told result, ``None`` until it is told."""
        return self.trial.report


def handed_out(
    trial: Trial, storage: Storage, space: PipelineSpace, run_seed: int | None
) -> AskedTrial:
    """What ``ask`` returns for the claimed ``trial``, its folder made; the ``trial`` record
    is the caller's own copy (see ``trial_copies``), which ``tell`` does not read back. Its
    configuration is built as a worker builds it, under the trial's seed in a seeded run
    (``run_seed``): ``load_config`` rebuilds the same objects."""
    directory = storage.trial_directory(trial.id)
    directory.mkdir(parents=True, exist_ok=True)
    previous = trial.previous_trial_id
    return AskedTrial(
        id=trial.id,
        config=built_for_the_user(space, trial.config, trial.id, run_seed),
        pipeline_directory=directory,
        previous_pipeline_directory=None if previous is None else storage.trial_directory(previous),
        trial=neps_copy(trial, storage),
    )


def check_same_run(
    trial: AskedTrial | Trial | str | int, history: TrialHistory, root: Path
) -> None:
    """A trial object of another run has an id here too: its result must not land on it.

    Another run's trial may have drawn the same configuration (one seed, one optimizer), but
    not at the same moment: the creation time tells them apart. The configuration is not
    compared: the caller's copy is theirs to change (``kwargs = asked.trial.config``, the
    fidelity popped), and ``tell`` stores the configuration as it was asked.
    """
    record = trial.trial if isinstance(trial, AskedTrial) else trial
    if not isinstance(record, Trial):
        return
    stored = history.get(record.id)
    if stored is not None and stored.created_at != record.created_at:
        raise ValueError(
            f"tell(): trial {record.id!r} was asked in another run; trial {record.id!r} of "
            f"{root} is another trial (created at another time)"
        )


def told_trial_id(trial: AskedTrial | Trial | str | int | None, stop_reason: str | None) -> str:
    """The id of the trial ``tell`` names (NePS's ``"config_3"`` is trial ``"3"``); ``None``,
    what ``ask()`` returns when no trial is left (the client's ``stop_reason``), is refused."""
    if trial is None:  # the loop went on without checking what ask() returned
        raise TypeError(
            f"tell(None, ...): no trial to tell; ask() returns None when no trial is left "
            f"(stop reason: {stop_reason or 'none yet'})"
        )
    return trial.id if isinstance(trial, AskedTrial | Trial) else trial_id(trial)


def told_duration(
    claimed: Trial, asked_at: float | None, evaluation_duration: float | None
) -> float:
    """How long ``claimed`` was evaluated: as told, else since it was asked here (at
    ``asked_at``, this client's monotonic clock), else since it was claimed (by another
    client), by the wall clock."""
    if evaluation_duration is not None:
        return evaluation_duration
    if asked_at is not None:
        return time.monotonic() - asked_at
    started = claimed.started_at
    return 0.0 if started is None else max(0.0, time.time() - started)


def closed_client_error(told: AskedTrial | Trial | str | int | None) -> RuntimeError:
    """A call on a closed client; ``tell``'s (a thread still evaluated when Ctrl-C closed the
    client) names the trial whose result is lost unless told elsewhere."""
    if told is None:
        return RuntimeError("This AskAndTell client is closed")
    return RuntimeError(
        f"This AskAndTell client is closed: the result of trial {told_trial_id(told, None)!r} is "
        "not recorded (an open client of the run can tell it by id while it is evaluating)"
    )


def as_told(claimed: Trial, worker_id: str, asked_at: float | None) -> Trial | None:
    """``claimed`` as the client ``worker_id`` tells it, where another worker holds it (for
    ``record_result``); else ``None``.

    The first result stands and names the client that told it (else a second tell would be
    refused as "from worker <asker>"). A trial asked elsewhere (a scheduler asks, a collector
    tells) keeps its asker's start, as this client knows no other. One asked here (at
    ``asked_at``, this client's monotonic clock), re-queued and taken by another worker since,
    gets this client's start too, not the start of the worker that took it over (which is
    then told the trial was reported).
    """
    if claimed.worker_id == worker_id:
        return None
    if asked_at is None:
        return attrs.evolve(claimed, worker_id=worker_id)
    started_at = time.time() - (time.monotonic() - asked_at)
    return attrs.evolve(claimed, worker_id=worker_id, started_at=started_at)
