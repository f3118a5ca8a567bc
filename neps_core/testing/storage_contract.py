"""The contract every storage plugin fulfils, as a pytest class to subclass.

Usage, in a plugin's test suite::

    from neps_core.testing import StorageContract
    from my_plugin import MyStorage

    class TestMyStorage(StorageContract):
        storage_class = MyStorage
        storage_variants = {"default": {}, "durable": {"fsync": True}}  # optional

Every test that opens storage runs once per entry of ``storage_variants`` (constructor
options by name). The concurrency and crash tests start real Python processes that import
``storage_class`` by its module path and construct it with the same options, so the class
must be importable from the test process's ``sys.path`` and the options JSON-serializable.

The contract is what the worker loop relies on (see ``neps_core.interfaces.Storage``):
``transact`` is exclusive across processes and across the instances of one process (a worker's
heartbeat thread opens its own) and aborts cleanly, ``sync`` shows every instance's writes and
the latest version of each trial, run info is stored once, and a report is durable once
``transact`` returned.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

import neps_core
from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.models import Report, RunInfo, Trial, TrialState
from neps_core.plugin_manager import load_plugins
from neps_core.space import describe_space
from neps_core.testing import _storage_workers as workers
from neps_core.testing.fixtures import make_trial, toy_evaluate_pipeline, toy_spaces

StorageFactory = Callable[[], Storage]


class ContractError(Exception):
    """Raised inside a transaction on purpose, to check that it aborts."""


class StorageContract:
    """Contract tests for a storage class; subclass it and set ``storage_class``."""

    #: The storage under test (required).
    storage_class: ClassVar[type[Storage] | None] = None
    #: Constructor options by variant name; every storage test runs once per variant.
    storage_variants: ClassVar[Mapping[str, Mapping[str, Any]]] = {"default": {}}
    #: Worker processes of the concurrency tests, and trials each of them writes.
    processes: ClassVar[int] = 4
    trials_per_process: ClassVar[int] = 12

    # -- parametrization and fixtures ----------------------------------------------------------
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run every storage test once per entry of ``storage_variants``."""
        if "storage_variant" in metafunc.fixturenames:
            names = list(self.storage_variants)
            metafunc.parametrize("storage_variant", names, ids=names)

    def the_class(self) -> type[Storage]:
        """``storage_class``, or a clear error when the subclass forgot to set it."""
        if self.storage_class is None:
            raise TypeError(f"{type(self).__name__} must set `storage_class`")
        return self.storage_class

    @pytest.fixture
    def storage_options(self, storage_variant: str) -> dict[str, Any]:
        """The constructor options of the variant under test."""
        return dict(self.storage_variants[storage_variant])

    @pytest.fixture
    def storage_root(self, tmp_path: Path) -> Path:
        """The root directory every storage instance of a test shares."""
        return tmp_path / "root"

    @pytest.fixture
    def new_storage(
        self, storage_root: Path, storage_options: dict[str, Any]
    ) -> Iterator[StorageFactory]:
        """Open another instance on the shared root (as another worker would); closed after."""
        opened: list[Storage] = []

        def open_instance() -> Storage:
            opened.append(self.the_class()(storage_root, **storage_options))
            return opened[-1]

        yield open_instance
        for storage in opened:
            storage.close()

    @pytest.fixture
    def spawn(
        self, storage_root: Path, storage_options: dict[str, Any], tmp_path: Path
    ) -> Iterator[workers.Spawner]:
        """Start worker processes on the shared root; any still alive are killed after."""
        spawner = workers.Spawner(self.the_class(), storage_root, storage_options, tmp_path)
        yield spawner
        spawner.kill_all()

    # -- declarations and run info -------------------------------------------------------------
    def test_declares_a_name(self) -> None:
        """A registry needs ``name``; ``schemes`` lists URL schemes."""
        cls = self.the_class()
        assert issubclass(cls, Storage)
        assert isinstance(cls.name, str)
        assert cls.name
        assert isinstance(cls.schemes, tuple | list)  # a bare string matched letter by letter
        assert all(isinstance(scheme, str) and scheme for scheme in cls.schemes)

    def test_a_new_root_holds_no_run(self, new_storage: StorageFactory) -> None:
        """Before ``initialize`` there is no run info and no trial."""
        storage = new_storage()
        assert storage.load_info() is None
        assert not storage.exists()
        assert len(storage.sync()) == 0

    def test_run_info_round_trip(self, new_storage: StorageFactory) -> None:
        """``initialize`` stores once; every instance loads the same info; the first one wins."""
        info = RunInfo(
            space=describe_space(toy_spaces()["mixed"]),
            optimizer="random_search",
            optimizer_settings={"use_priors": True},
            seed=3,
            created_at=1234.5,
        )
        first = new_storage()
        assert first.initialize(info) == info
        second = new_storage()
        assert second.exists()
        assert second.load_info() == info
        assert second.initialize(attrs.evolve(info, optimizer="grid_search")) == info
        assert new_storage().load_info() == info

    # -- trials --------------------------------------------------------------------------------
    def test_create_and_list_trials(self, new_storage: StorageFactory) -> None:
        """Created trials are returned, listed in order, and seen by other instances."""
        storage = new_storage()
        created = [make_trial(i, {"x": i / 10}, "pending") for i in (1, 2, 3)]
        assert storage.transact(lambda history: created) == created
        history = storage.sync()
        assert list(history) == ["1", "2", "3"]
        assert history.count(TrialState.PENDING) == 3
        assert history.next_id() == "4"
        assert list(new_storage().sync().values()) == created

    def test_claim_and_report_round_trip(self, new_storage: StorageFactory) -> None:
        """Every field of a trial, its report included, reads back exactly as written."""
        storage = new_storage()
        pending = make_trial(1, {"x": 0.5, "kind": "a", "epochs": 3}, "pending", fidelity=3)
        storage.transact(lambda history: [pending])
        claimed = attrs.evolve(
            pending, state=TrialState.EVALUATING, worker_id="w1", started_at=2.0, attempts=1
        )
        assert storage.transact(lambda history: [claimed]) == [claimed]
        report = Report(
            objective_to_minimize=0.25,
            cost=3.5,
            learning_curve=(0.9, 0.5, 0.25),
            extra={"accuracy": 0.75, "nested": {"values": [1, 2]}},
            evaluation_duration=1.5,
        )
        final = attrs.evolve(
            claimed, state=TrialState.SUCCESS, report=report, finished_at=3.0, metadata={"a": 1}
        )
        failed = attrs.evolve(
            make_trial(2, {"x": 0.1}, "failed", error="ValueError: bad"),
            report=Report(None, error="ValueError: bad", traceback="Traceback (...)"),
        )
        pareto = make_trial(3, {"x": 0.2}, "success", objective=(0.5, 2.0), previous_trial_id="1")
        storage.transact(lambda history: [final, failed, pareto])
        reread = new_storage().sync()
        assert [reread[i] for i in ("1", "2", "3")] == [final, failed, pareto]

    def test_sync_shows_other_instances_writes(self, new_storage: StorageFactory) -> None:
        """``sync`` brings an instance up to date with every write made through any other."""
        writer, reader = new_storage(), new_storage()
        assert len(reader.sync()) == 0
        writer.transact(lambda history: [make_trial(1, {"x": 0.1}, "pending")])
        assert list(reader.sync()) == ["1"]
        running = make_trial(1, {"x": 0.1}, "evaluating", worker_id="w1")
        writer.transact(lambda history: [running, make_trial(2, {"x": 0.2}, "pending")])
        history = reader.sync()
        assert history["1"] == running
        assert history.state_counts["evaluating"] == history.state_counts["pending"] == 1
        assert reader.sync().state_counts == history.state_counts  # nothing new: unchanged

    def test_a_changed_trial_replaces_its_old_version(self, new_storage: StorageFactory) -> None:
        """Versions of one trial never pile up: the history keeps only the latest."""
        storage = new_storage()
        versions = [
            make_trial(7, {"x": 0.3}, "pending"),
            make_trial(7, {"x": 0.3}, "evaluating", worker_id="w1"),
            make_trial(7, {"x": 0.3}, "success", cost=2.0),
        ]
        for version in versions:
            storage.transact(functools.partial(_only, version))
        for history in (storage.sync(), new_storage().sync()):
            assert len(history) == 1
            assert history["7"] == versions[-1]
            assert history.count(TrialState.SUCCESS) == 1
            assert history.count(TrialState.PENDING, TrialState.EVALUATING) == 0
            assert history.cost_spent == 2.0

    def test_a_transaction_sees_the_current_history(self, new_storage: StorageFactory) -> None:
        """A transaction decides on what every worker wrote, not on a stale copy."""
        first, second = new_storage(), new_storage()
        first.sync()
        second.transact(lambda history: [make_trial(history.next_id(), {"x": 0.1}, "pending")])
        seen: list[str] = []

        def change(history: TrialHistory) -> list[Trial]:
            seen.extend(history)
            return [make_trial(history.next_id(), {"x": 0.2}, "pending")]

        assert [trial.id for trial in first.transact(change)] == ["2"]
        assert seen == ["1"]

    def test_a_failing_change_writes_nothing(self, new_storage: StorageFactory) -> None:
        """What ``change`` raises propagates unchanged and aborts the transaction."""
        storage = new_storage()

        def change(history: TrialHistory) -> list[Trial]:
            raise ContractError("changed my mind")

        with pytest.raises(ContractError, match="changed my mind"):
            storage.transact(change)
        assert storage.transact(lambda history: []) == []
        assert len(storage.sync()) == 0
        assert len(new_storage().sync()) == 0
        storage.transact(lambda history: [make_trial(1, {"x": 0.1}, "pending")])  # not locked
        assert list(new_storage().sync()) == ["1"]

    def test_trial_directories_are_distinct(self, new_storage: StorageFactory) -> None:
        """Each trial gets its own ``pipeline_directory``."""
        storage = new_storage()
        directories = {storage.trial_directory(str(i)) for i in range(1, 12)}
        assert len(directories) == 11
        assert all(isinstance(directory, Path) for directory in directories)

    # -- processes -----------------------------------------------------------------------------
    def test_transactions_exclude_each_other_across_processes(
        self, new_storage: StorageFactory, spawn: workers.Spawner
    ) -> None:
        """A transaction started while another process is inside one waits for it to commit."""
        holder = spawn.start("hold", index=0, seconds=0.5)
        assert holder.read_line() == "locked"
        seen: list[str] = []

        def change(history: TrialHistory) -> list[Trial]:
            seen.extend(history)
            return [make_trial(history.next_id(), {"x": 0.2}, "pending")]

        mine = new_storage().transact(change)
        holder.finish()
        assert seen == ["1"], "the transaction ran while another process held the storage"
        assert [trial.id for trial in mine] == ["2"]

    def test_transactions_exclude_each_other_within_a_process(
        self, new_storage: StorageFactory, storage_root: Path, storage_options: dict[str, Any]
    ) -> None:
        """Instances in one process exclude each other too: a worker's heartbeat thread writes
        through an instance of its own, and with a lock between processes only (``lockf``) its
        stale version of a trial replaced the report the worker had just stored."""
        inside, errors = threading.Event(), []

        def hold(history: TrialHistory) -> list[Trial]:
            inside.set()
            time.sleep(0.5)
            return [make_trial(history.next_id(), {"x": 0.1}, "pending")]

        def holder() -> None:  # opened, used and closed in its thread, as the heartbeat's
            try:
                with self.the_class()(storage_root, **storage_options) as storage:
                    storage.transact(hold)
            except Exception as error:  # reported by the assertion below
                errors.append(error)
                inside.set()

        thread = threading.Thread(target=holder)
        thread.start()
        assert inside.wait(timeout=60) and not errors, f"the holding thread failed: {errors}"
        seen: list[str] = []

        def change(history: TrialHistory) -> list[Trial]:
            seen.extend(history)
            return [make_trial(history.next_id(), {"x": 0.2}, "pending")]

        mine = new_storage().transact(change)
        thread.join()
        assert seen == ["1"], "the transaction ran while another instance in this process held it"
        assert [trial.id for trial in mine] == ["2"]

    def test_concurrent_sampling_keeps_ids_unique_and_every_write(
        self, new_storage: StorageFactory, spawn: workers.Spawner
    ) -> None:
        """Processes creating and reporting trials at once: unique ids, no write lost."""
        outputs = spawn.run_together("create", self.processes, count=self.trials_per_process)
        ids = [trial_id for lines in outputs for trial_id in lines]
        assert len(ids) == len(set(ids)) == self.processes * self.trials_per_process
        history = new_storage().sync()
        assert sorted(history) == sorted(ids)
        for index, lines in enumerate(outputs):
            for number, trial_id in enumerate(lines):
                trial = history[trial_id]
                assert trial.state is TrialState.SUCCESS
                assert trial.config == {"worker": index, "number": number}
                assert trial.objective == workers.objective_of(index, number)

    def test_concurrent_claims_take_each_pending_trial_once(
        self, new_storage: StorageFactory, spawn: workers.Spawner
    ) -> None:
        """Processes claiming pending trials at once never claim the same trial twice."""
        total = self.processes * self.trials_per_process
        pending = [make_trial(i, {"x": i}, "pending") for i in range(1, total + 1)]
        new_storage().transact(lambda history: pending)
        outputs = spawn.run_together("claim", self.processes)
        claimed = [trial_id for lines in outputs for trial_id in lines]
        assert sorted(claimed, key=int) == [trial.id for trial in pending]
        history = new_storage().sync()
        assert history.count(TrialState.SUCCESS) == total
        for index, lines in enumerate(outputs):
            assert all(history[trial_id].worker_id == f"worker-{index}" for trial_id in lines)

    def test_a_returned_report_survives_sigkill(
        self, new_storage: StorageFactory, spawn: workers.Spawner
    ) -> None:
        """Once ``transact`` returned a report, killing the process cannot lose it."""
        child = spawn.start("report_and_wait", index=0)
        trial_id = child.read_line()
        child.kill()
        trial = new_storage().sync()[trial_id]
        assert trial.state is TrialState.SUCCESS
        assert trial.objective == workers.objective_of(0, 0)

    # -- through neps_core.run -----------------------------------------------------------------
    def test_runs_end_to_end(self, storage_root: Path, storage_options: dict[str, Any]) -> None:
        """``neps_core.run(storage={"name": ..., **options})``, continued by a second call."""
        cls = self.the_class()
        registered = load_plugins().storages.get(cls.name)
        assert registered is cls, f"storage {cls.name!r} is not registered by any plugin"
        arguments: dict[str, Any] = {
            "evaluate_pipeline": toy_evaluate_pipeline,
            "pipeline_space": toy_spaces()["mixed"],
            "root_directory": storage_root,
            "evaluations_to_spend": 6,
            "optimizer": "random_search",
            "storage": {"name": cls.name, **storage_options},
        }
        first = neps_core.run(**arguments, max_evaluations_per_run=2)
        assert first.counts["success"] == 2
        summary = neps_core.run(**arguments)
        assert summary.counts["success"] == 6
        assert neps_core.status(storage_root).counts == summary.counts
        status_best = neps_core.status(storage_root).best_trial
        assert status_best is not None
        assert status_best.objective == summary.best_objective


def _only(trial: Trial, history: TrialHistory) -> list[Trial]:
    """A change that writes ``trial`` whatever the history holds."""
    return [trial]
