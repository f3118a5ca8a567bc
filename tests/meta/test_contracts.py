"""The contract suites catch what they promise to catch.

Each case runs the suite in a separate pytest process (``pytester``) on an implementation with
one deliberate defect and checks that exactly the test guarding against it fails, and that a
correct implementation passes everything.
"""

from __future__ import annotations

import re
import textwrap

import pytest

pytest_plugins = ["pytester"]

OPTIMIZERS = """
import numpy as np
import neps_core as neps
from neps_core.models import Proposal
from neps_core.testing import OptimizerContract
from neps_core_plugins.random_search import RandomSearch


class OutOfSpace(RandomSearch):
    name = "out_of_space"

    def ask(self, trials, budget, n):
        return [Proposal({**p.config, "x": 99.0}) for p in super().ask(trials, budget, n)]


class TooMany(RandomSearch):
    name = "too_many"

    def ask(self, trials, budget, n):
        return list(super().ask(trials, budget, n + 1))


class IgnoresSeed(RandomSearch):
    name = "ignores_seed"

    def ask(self, trials, budget, n):
        rng = np.random.default_rng()
        return [Proposal(self.space.sample(rng)) for _ in range(n)]


class RepeatsPending(RandomSearch):
    name = "repeats_pending"

    def ask(self, trials, budget, n):
        pending = [t.config for t in trials.values() if not t.state.is_final]
        return [Proposal(c) for c in pending[:n]] or list(super().ask(trials, budget, n))


class ChokesOnFailures(RandomSearch):
    name = "chokes_on_failures"

    def ask(self, trials, budget, n):
        sum(t.objective for t in trials.values() if t.report is not None)
        return list(super().ask(trials, budget, n))


class TestCorrect(OptimizerContract):
    optimizer_class = RandomSearch


class TestOutOfSpace(OptimizerContract):
    optimizer_class = OutOfSpace
    spaces = {"x": neps.PipelineSpace({"x": neps.Float(0, 1)})}


class TestTooMany(OptimizerContract):
    optimizer_class = TooMany


class TestIgnoresSeed(OptimizerContract):
    optimizer_class = IgnoresSeed


class TestRepeatsPending(OptimizerContract):
    optimizer_class = RepeatsPending


class TestChokesOnFailures(OptimizerContract):
    optimizer_class = ChokesOnFailures
"""

STORAGE = '''
import contextlib
import fcntl
import json

from neps_core import hookimpl
from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.models import RunInfo, Trial
from neps_core.serialization import make_converter, to_plain


class ToyStorage(Storage):
    """A minimal correct storage: a JSON-lines file under flock, re-read on every sync."""

    name = "toy"
    locking = fresh_reads = flushing = True
    acquire = staticmethod(fcntl.flock)

    def __init__(self, root_directory, *, url=None, **options):
        super().__init__(root_directory, url=url, **options)
        self.root_directory.mkdir(parents=True, exist_ok=True)
        self._path = self.root_directory / "trials.jsonl"
        self._path.touch()
        self._out = open(self._path, "a")
        self._converter = make_converter()
        self._history = None

    def initialize(self, info):
        with self._lock():
            stored = self.load_info()
            if stored is not None:
                return stored
            plain = to_plain(self._converter.unstructure(info))
            (self.root_directory / "info.json").write_text(json.dumps(plain))
            return info

    def load_info(self):
        path = self.root_directory / "info.json"
        if not path.exists():
            return None
        return self._converter.structure(json.loads(path.read_text()), RunInfo)

    def sync(self):
        if self._history is None or self.fresh_reads:
            self._history = TrialHistory()
            for line in self._path.read_text().splitlines():
                self._history.put(self._converter.structure(json.loads(line), Trial))
        return self._history

    def transact(self, change):
        with self._lock():
            trials = list(change(self.sync()))
            for trial in trials:
                plain = to_plain(self._converter.unstructure(trial))
                self._out.write(json.dumps(plain) + "\\n")
            if self.flushing:
                self._out.flush()
        return trials

    @contextlib.contextmanager
    def _lock(self):
        if not self.locking:
            yield
            return
        with open(self.root_directory / "lock", "w") as handle:
            self.acquire(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                self.acquire(handle, fcntl.LOCK_UN)

    def close(self):
        self._out.close()


class Unlocked(ToyStorage):
    locking = False


class ProcessLocked(ToyStorage):
    """A POSIX record lock: it excludes other processes, not this one's other instances."""

    acquire = staticmethod(fcntl.lockf)


class Stale(ToyStorage):
    fresh_reads = False


class Unflushed(ToyStorage):
    flushing = False


@hookimpl
def neps_register_storages():
    return [ToyStorage]
'''

STORAGE_TESTS = """
from toy_storage import ProcessLocked, Stale, ToyStorage, Unflushed, Unlocked
from neps_core.testing import StorageContract


class TestCorrect(StorageContract):
    storage_class = ToyStorage


class TestUnlocked(StorageContract):
    storage_class = Unlocked


class TestProcessLocked(StorageContract):
    storage_class = ProcessLocked


class TestStale(StorageContract):
    storage_class = Stale


class TestUnflushed(StorageContract):
    storage_class = Unflushed
"""


def _failures(pytester: pytest.Pytester, *arguments: str) -> dict[str, set[str]]:
    """Run pytest in a subprocess; the failed test functions of each test class.

    With ``--strict-markers``, as many plugin projects run: the kit's own ``slow`` marker,
    registered only in this repository, made their collection fail.
    """
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-q", "-rf", "--strict-markers", *arguments
    )
    assert result.ret in (0, 1), result.stdout.str()
    failed: dict[str, set[str]] = {}
    for line in result.stdout.lines:
        match = re.match(r"FAILED \S+::(\w+)::(\w+)", line)
        if match:
            failed.setdefault(match.group(1), set()).add(match.group(2))
    assert "passed" in result.stdout.str()
    return failed


def test_the_optimizer_contract_catches_each_defect(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_optimizers=OPTIMIZERS)
    # The end-to-end runs (three quarters of the time) guard against none of these defects:
    # the correct optimizer alone runs them, to show they pass where nothing is wrong.
    failed = _failures(pytester, "-k", "TestCorrect or not end_to_end")
    assert "TestCorrect" not in failed
    assert "test_first_proposals_are_valid" in failed["TestOutOfSpace"]
    assert failed["TestTooMany"] >= {"test_never_more_than_n_proposals"}
    assert "test_first_proposals_are_valid" in failed["TestTooMany"]
    assert failed["TestIgnoresSeed"] == {"test_same_seed_and_history_give_same_proposals"}
    assert failed["TestRepeatsPending"] == {"test_respects_trials_of_other_workers"}
    assert failed["TestChokesOnFailures"] >= {"test_copes_with_failed_and_crashed_trials"}


@pytest.mark.slow
def test_the_storage_contract_catches_each_defect(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(toy_storage=STORAGE, test_storages=STORAGE_TESTS)
    info = pytester.path / "toy_storage-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-storage\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[neps_core]\ntoy_storage = toy_storage\n")
    # Each defect's own guard, its neighbours in the exclusion tests, and the whole contract
    # for the correct storage; the other process-starting tests of a defective storage add
    # nothing but process start-ups.
    selected = "Correct or sync_shows or (Locked and exclude) or (Unflushed and sigkill)"
    failed = _failures(pytester, "-k", selected)
    assert "TestCorrect" not in failed
    assert failed["TestUnlocked"] == {
        "test_transactions_exclude_each_other_across_processes",
        "test_transactions_exclude_each_other_within_a_process",
    }
    # It passed the contract, and its runs lost reports to their heartbeat thread's writes.
    assert failed["TestProcessLocked"] == {"test_transactions_exclude_each_other_within_a_process"}
    assert "test_sync_shows_other_instances_writes" in failed["TestStale"]
    assert failed["TestUnflushed"] >= {"test_a_returned_report_survives_sigkill"}


def test_an_optimizer_ignoring_its_seed_is_told_where_to_draw_from(
    pytester: pytest.Pytester,
) -> None:
    # The failure showed two lists of configurations and nothing of what to change.
    pytester.makepyfile(test_optimizers=OPTIMIZERS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-q", "-k", "TestIgnoresSeed and same_seed"
    )
    result.stdout.fnmatch_lines(
        [
            "*two instances of 'ignores_seed' with seed 1234 proposed different configurations*"
            "self.random_generator(trials)*"
        ]
    )


def test_a_contract_without_its_class_says_what_is_missing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_forgot=textwrap.dedent(
            """
            from neps_core.testing import OptimizerContract

            class TestForgot(OptimizerContract):
                pass
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.stdout.fnmatch_lines(["*TestForgot must set `optimizer_class`*"])
