"""A result the storage refuses to store: the error says which trial lost what."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.errors import StorageError, TrialNotFoundError
from neps_core.history import TrialHistory
from neps_core.interfaces.storage import Change
from neps_core.models import Trial
from neps_core.plugin_checks import raised_in
from neps_core.reporting import reportable_trial
from neps_core_plugins.disk_storage import DiskStorage

RECORDS = {"disk": ".neps_core/journal.jsonl", "sqlite": "run.db"}
CLASSES = {
    "disk": "neps_core_plugins.disk_storage.storage.DiskStorage",
    "sqlite": "neps_core_plugins.sqlite_storage.storage.SQLiteStorage",
}


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_the_error_names_the_trial_and_the_result_it_lost(tmp_path: Path, storage: str) -> None:
    root = tmp_path / "run"
    record = root / RECORDS[storage]

    def evaluate(x: float) -> dict[str, float]:
        # The record replaced under the worker (a root overwritten meanwhile): its write of
        # this result is refused, as one on a full disk is.
        shutil.copy(record, tmp_path / "copy")
        os.replace(tmp_path / "copy", record)
        return {"objective_to_minimize": 0.25, "cost": 2.0}

    with pytest.raises(StorageError) as refused:
        neps.run(
            evaluate,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            storage=storage,
            evaluations_to_spend=1,
            optimizer="random_search",
        )
    assert refused.value.__notes__[0] == (
        "The result of trial 1 (success, objective_to_minimize 0.25, cost 2.0) was not "
        f"stored by storage {storage!r} ({CLASSES[storage]}): the trial stays unfinished, to "
        "be told again, or evaluated again by a later run()"
    )


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_later_run_of_the_same_process_evaluates_the_unstored_trial_again(
    tmp_path: Path, storage: str
) -> None:
    # The worker could not give the trial back either (the storage refused that too): it
    # stayed EVALUATING, held by this still-present process, until the process ended; a
    # later run() here (a notebook, a retry loop) took it for another worker's, and stopped.
    root = tmp_path / "run"
    record = root / RECORDS[storage]
    calls: list[str] = []
    evaluate = _refusing_the_first_result(record, tmp_path / "copy", calls)

    settings = {"storage": storage, "evaluations_to_spend": 1, "optimizer": "random_search"}
    space = {"x": neps.Float(0.0, 1.0)}
    with pytest.raises(StorageError):
        neps.run(evaluate, space, root_directory=root, **settings)
    assert [t.state for t in neps.status(root).trials] == [neps.TrialState.EVALUATING]
    summary = neps.run(evaluate, space, root_directory=root, **settings)
    assert calls == ["1", "1"]
    assert summary.counts["success"] == 1 and summary.counts["evaluating"] == 0


def test_a_retry_given_the_same_worker_id_evaluates_the_unstored_trial_at_once(
    tmp_path: Path,
) -> None:
    # The retry's worker id works here again, so the trial's worker looked alive until its
    # heartbeat was stale_after old; but the retry is the only run() under that id here and
    # holds none of its own trials at its start: that one is the failed call's.
    root, record = tmp_path / "run", tmp_path / "run" / RECORDS["disk"]
    calls: list[str] = []
    evaluate = _refusing_the_first_result(record, tmp_path / "copy", calls)

    settings = {"evaluations_to_spend": 1, "worker_id": "w0", "stale_after": 3600.0}
    space = {"x": neps.Float(0.0, 1.0)}
    with pytest.raises(StorageError):
        neps.run(evaluate, space, root_directory=root, **settings)
    summary = neps.run(evaluate, space, root_directory=root, **settings)
    assert calls == ["1", "1"]
    assert summary.counts["success"] == 1 and summary.counts["evaluating"] == 0


def _refusing_the_first_result(
    record: Path, scratch: Path, calls: list[str]
) -> Callable[[float, str], float]:
    """An evaluation noting its trial in ``calls``; the first replaces the run's ``record``
    file (by way of ``scratch``), so its result and its give-back are refused (as on a full
    disk) until the run stops."""

    def evaluate(x: float, pipeline_id: str) -> float:
        calls.append(pipeline_id)
        if len(calls) == 1:
            shutil.copy(record, scratch)
            os.replace(scratch, record)
        return x

    return evaluate


class FullDiskStorage(DiskStorage):
    """A plugin's storage whose own code fails to store a result, raising its own error (not
    a ``StorageError``), as a third party's database client does."""

    name = "full_disk"

    def transact(self, change: Change) -> list[Trial]:
        trials = list(super().transact(lambda history: []))  # its lock and reads work
        probe = list(change(self.sync()))
        if any(t.state is neps.TrialState.SUCCESS for t in probe):
            raise OSError(28, "No space left on device")
        return super().transact(change) + trials


class FullDiskPlugin:
    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        return [FullDiskStorage]


def test_a_plugin_storages_own_error_names_the_storage_and_the_lost_result(
    tmp_path: Path,
) -> None:
    with pytest.raises(OSError, match="No space left") as refused:
        neps.run(
            lambda x: {"objective_to_minimize": 0.25, "cost": 2.0},
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path / "run",
            storage="full_disk",
            evaluations_to_spend=1,
            optimizer="random_search",
            plugins=[FullDiskPlugin()],
        )
    assert refused.value.__notes__ == [
        "The result of trial 1 (success, objective_to_minimize 0.25, cost 2.0) was not "
        "stored by storage 'full_disk' (test_results_not_stored.FullDiskStorage): the trial "
        "stays unfinished, to be told again, or evaluated again by a later run()",
        "(raised in storage 'full_disk' of run(plugins=...) 'FullDiskPlugin')",
    ]


class NoNewTrialStorage(DiskStorage):
    """A plugin's storage that cannot write a trial (a new one, as the sampler makes)."""

    name = "no_new_trial"

    def transact(self, change: Change) -> list[Trial]:
        return super().transact(lambda history: self._refuse_new(history, change(history)))

    def _refuse_new(self, history: TrialHistory, trials: Sequence[Trial]) -> list[Trial]:
        if any(trial.id not in history for trial in trials):
            raise ConnectionError("database went away")
        return list(trials)


class NoNewTrialPlugin:
    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        return [NoNewTrialStorage]


def test_a_plugin_storages_error_while_sampling_names_the_storage(tmp_path: Path) -> None:
    with pytest.raises(ConnectionError) as refused:
        neps.run(
            lambda x: x,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path / "run",
            storage="no_new_trial",
            evaluations_to_spend=1,
            plugins=[NoNewTrialPlugin()],
        )
    assert refused.value.__notes__ == [
        "(raised in storage 'no_new_trial' of run(plugins=...) 'NoNewTrialPlugin')"
    ]


def test_an_error_of_the_cores_change_inside_a_storage_is_not_blamed_on_it(
    tmp_path: Path,
) -> None:
    change = functools.partial(reportable_trial, trial_id="9", root=tmp_path)
    with DiskStorage(tmp_path) as storage, pytest.raises(TrialNotFoundError) as raised:
        storage.transact(change)
    assert not raised_in(DiskStorage, raised.value)
