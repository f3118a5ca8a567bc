"""The ``disk`` storage plugin: the storage contract plus its files, journal and crash safety."""

from __future__ import annotations

import errno
import fcntl
import functools
import gc
import json
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
import yaml

import neps_core as neps
from neps_core.errors import SettingsError, StorageError
from neps_core.models import Report, TrialState
from neps_core.testing import StorageContract, make_trial, toy_evaluate_pipeline
from neps_core.testing import _storage_workers as workers
from neps_core.testing._storage_workers import WORKER_CODE, child_environment
from neps_core_plugins.disk_storage import locking
from neps_core_plugins.disk_storage import storage as disk
from neps_core_plugins.disk_storage.storage import DiskStorage

pytest_plugins = ["neps_core.testing.fixtures"]


class TestDiskStorageContract(StorageContract):
    storage_class = DiskStorage
    storage_variants: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "fsync": {"fsync": True},
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def _open(storages: list[DiskStorage], root: Path, **options: Any) -> DiskStorage:
    storages.append(DiskStorage(root, **options))
    return storages[-1]


def _journal(root: Path) -> Path:
    return root / disk.STATE_DIRECTORY / "journal.jsonl"


def _read(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# -- layout --------------------------------------------------------------------------------------
def test_each_trial_has_a_readable_folder(root: Path, storages: list[DiskStorage]) -> None:
    storage = _open(storages, root)
    config = {"lr": 0.01, "act": "relu", "layers": 3}
    storage.transact(lambda history: [make_trial(1, config, "pending")])
    folder = root / "configs" / "config_1"
    assert storage.trial_directory("1") == folder
    assert _read(folder / "config.yaml") == config
    assert not (folder / "report.yaml").exists()  # no result yet

    report = Report(0.5, cost=2.0, learning_curve=(0.9, 0.5), extra={"accuracy": 0.8})
    final = attrs.evolve(
        make_trial(1, config, "evaluating", worker_id="w1"),
        state=TrialState.SUCCESS,
        report=report,
        finished_at=9.0,
    )
    storage.transact(lambda history: [final])
    assert _read(folder / "config.yaml") == config
    assert _read(folder / "report.yaml") == {
        "objective_to_minimize": 0.5,
        "cost": 2.0,
        "learning_curve": [0.9, 0.5],
        "extra": {"accuracy": 0.8},
        "error": None,
        "traceback": None,
        "evaluation_duration": None,
    }
    metadata = _read(folder / "metadata.yaml")
    assert metadata["state"] == "success"
    assert metadata["worker_id"] == "w1"
    assert metadata["finished_at"] == 9.0


def test_the_first_write_gives_a_corrupted_trial_no_files(
    root: Path, storages: list[DiskStorage]
) -> None:
    """A final trial without metadata.yaml has its files written by the next process's first
    write; a corrupted one got the stand-in's: config {} and its state, hiding the damage."""
    _open(storages, root).transact(lambda history: [make_trial(1, {"x": 0.5}, "success")])
    records = [json.loads(line) for line in _journal(root).read_text().splitlines()]
    records[-1]["config"] = "{garbage"  # valid JSON, not a trial's configuration
    _journal(root).write_text("".join(json.dumps(record) + "\n" for record in records))
    shutil.rmtree(root / "configs" / "config_1")
    fresh = _open(storages, root)
    fresh.transact(lambda history: [])
    assert fresh.sync()["1"].state is TrialState.CORRUPTED
    assert not (root / "configs" / "config_1").exists()


def test_a_run_leaves_the_documented_layout(tmp_path: Path) -> None:
    neps.run(
        toy_evaluate_pipeline,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        evaluations_to_spend=3,
        optimizer="random_search",
    )
    assert (tmp_path / disk.RUN_INFO_FILE).is_file()
    assert _journal(tmp_path).is_file()
    for trial_id in (1, 2, 3):
        folder = tmp_path / "configs" / f"config_{trial_id}"
        assert {"config.yaml", "metadata.yaml", "report.yaml"} <= {p.name for p in folder.iterdir()}
        assert _read(folder / "metadata.yaml")["state"] == "success"


def test_non_ascii_text_is_written_as_such(tmp_path: Path) -> None:
    """People read these files: "größe" was written as "gr\\xF6\\xDFe"."""
    neps.run(
        lambda size: {"objective_to_minimize": 0.5, "note": f"{size} → 日本"},
        {"size": neps.Categorical(("größe", "größer"))},
        root_directory=tmp_path,
        evaluations_to_spend=1,
        optimizer="random_search",
        seed=0,
    )
    folder = tmp_path / "configs" / "config_1"
    config = (folder / "config.yaml").read_text(encoding="utf-8")
    report = (folder / "report.yaml").read_text(encoding="utf-8")
    size = _read(folder / "config.yaml")["size"]
    assert size in config and "\\x" not in config + report
    assert _read(folder / "report.yaml")["extra"]["note"] == f"{size} → 日本"


def test_unknown_options_are_refused_with_the_likely_meant_one(root: Path) -> None:
    with pytest.raises(SettingsError, match=r"unknown option.*'fsynk'.*known: \['fsync'") as caught:
        DiskStorage(root, fsynk=True)
    assert str(caught.value).endswith("Did you mean 'fsync'?")  # as a run config's YAML says


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("fsync", "maybe"),
        ("fsync", 1),
        ("lock_timeout", -1),
        ("lock_timeout", 0),
        ("lock_timeout", "x"),
    ],
)
def test_bad_option_values_are_refused_before_anything_is_written(
    tmp_path: Path, option: str, value: Any
) -> None:
    # lock_timeout=-1 was stored, then every worker died with "Could not lock within -1 s".
    root = tmp_path / "run"
    with pytest.raises(SettingsError, match=rf"storage 'disk': {option} must be"):
        neps.run(
            lambda x: x,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=1,
            storage={"name": "disk", option: value},
        )
    assert not root.exists()


# -- the journal ---------------------------------------------------------------------------------
def test_the_journal_is_append_only(root: Path, storages: list[DiskStorage]) -> None:
    storage = _open(storages, root)
    storage.transact(lambda history: [make_trial(1, {"x": 0.1}, "pending")])
    before = _journal(root).read_bytes()
    storage.transact(lambda history: [make_trial(1, {"x": 0.1}, "evaluating")])
    storage.transact(lambda history: [make_trial(1, {"x": 0.1}, "success")])
    after = _journal(root).read_bytes()
    assert after.startswith(before)
    records = [json.loads(line) for line in after.splitlines()]
    assert [(r["id"], r["state"]) for r in records] == [
        ("1", "pending"),
        ("1", "evaluating"),
        ("1", "success"),
    ]


@pytest.mark.parametrize("how", ["root deleted", "journal replaced"])
def test_a_journal_deleted_or_replaced_under_an_instance_is_an_error(
    root: Path, storages: list[DiskStorage], how: str
) -> None:
    """The open file took every later result without a word: all of them were lost."""
    storage = _open(storages, root)
    storage.transact(lambda history: [make_trial(1, {"x": 0.1}, "pending")])
    if how == "root deleted":
        shutil.rmtree(root)
    else:
        _journal(root).rename(_journal(root).with_suffix(".old"))
        _journal(root).write_bytes(_journal(root).with_suffix(".old").read_bytes())
    with pytest.raises(StorageError, match="deleted or replaced"):
        storage.transact(lambda history: [make_trial(1, {"x": 0.1}, "success")])
    assert not root.exists() or _journal(root).read_bytes().count(b"\n") == 1


def test_sync_reads_only_what_was_appended(root: Path, storages: list[DiskStorage]) -> None:
    """A reader never re-reads old records: damage to them goes unnoticed by it, not by a
    newcomer, which proves the replay is incremental (cost per sync independent of run size)."""
    writer, reader = _open(storages, root), _open(storages, root)
    writer.transact(lambda history: [make_trial(i, {"x": i}, "pending") for i in (1, 2, 3)])
    assert len(reader.sync()) == 3
    journal = _journal(root)
    data = journal.read_bytes()
    first_line = data.index(b"\n")
    journal.write_bytes(b"#" * first_line + data[first_line:])  # same size, line 1 is garbage

    writer.transact(lambda history: [make_trial(4, {"x": 4}, "pending")])
    assert list(reader.sync()) == ["1", "2", "3", "4"]
    with pytest.raises(StorageError, match=r"journal\.jsonl, line 1"):
        _open(storages, root).sync()


def test_a_torn_last_line_is_repaired(root: Path, storages: list[DiskStorage]) -> None:
    writer = _open(storages, root)
    writer.transact(lambda history: [make_trial(1, {"x": 0.1}, "success")])
    torn = b'{"id":"2","config":{"x":0.2},"sta'
    with _journal(root).open("ab") as handle:  # what a writer killed mid-line leaves behind
        handle.write(torn)

    reader = _open(storages, root)
    assert list(reader.sync()) == ["1"]  # an incomplete line is never parsed
    newcomer = _open(storages, root)
    created = newcomer.transact(
        lambda history: [make_trial(history.next_id(), {"x": 0.3}, "pending")]
    )
    assert [trial.id for trial in created] == ["2"]
    assert _journal(root).read_bytes().endswith(b"\n")
    assert torn in _journal(root).with_suffix(".torn").read_bytes()  # kept for inspection
    for storage in (reader, _open(storages, root)):
        history = storage.sync()
        assert list(history) == ["1", "2"]
        assert history["2"].config == {"x": 0.3}


# -- processes -----------------------------------------------------------------------------------
def _worker(root: Path, tmp_path: Path, action: str, **params: Any) -> subprocess.Popen[str]:
    job = {
        "storage": "neps_core_plugins.disk_storage.storage:DiskStorage",
        "root": str(root),
        "options": {},
        "action": action,
        "index": 0,
        "barrier": None,
        **params,
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER_CODE, json.dumps(job)],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / f"{action}.stderr").open("w"),
        text=True,
        env=child_environment(),
    )


@pytest.mark.slow
def test_reports_survive_sigkill_during_a_stream_of_writes(
    root: Path, tmp_path: Path, storages: list[DiskStorage]
) -> None:
    """Kill a process that writes as fast as it can: whatever it confirmed is in the journal,
    whatever it was writing is repaired away, and the run goes on."""
    process = _worker(root, tmp_path, "create", count=100_000)
    assert process.stdout is not None
    confirmed = [process.stdout.readline().strip() for _ in range(40)]
    process.kill()
    process.wait()
    process.stdout.close()
    assert all(confirmed), (tmp_path / "create.stderr").read_text()

    storage = _open(storages, root)
    storage.transact(lambda history: [make_trial(history.next_id(), {"x": 0.0}, "pending")])
    history = storage.sync()
    for trial_id in confirmed:
        assert history[trial_id].state is TrialState.SUCCESS
    assert _journal(root).read_bytes().endswith(b"\n")
    assert list(_open(storages, root).sync()) == list(history)


#: The instance forked children use: ``Pool.map`` passes functions by name, not open files.
_FORKED: dict[str, DiskStorage] = {}
_FORKED_WRITERS, _TRIALS_PER_WRITER = 2, 20


def _work_in_a_forked_child(index: int) -> list[str]:
    """Writers create and report trials like the workers of the concurrency contract; readers
    sync outside the lock, as workers do, until they have seen them all (or 30 s passed)."""
    storage = _FORKED["storage"]
    if index >= _FORKED_WRITERS:
        deadline = time.monotonic() + 30
        expected = 1 + _FORKED_WRITERS * _TRIALS_PER_WRITER
        while time.monotonic() < deadline and storage.sync().count(TrialState.SUCCESS) < expected:
            pass
        return list(storage.sync())
    ids = []
    for number in range(_TRIALS_PER_WRITER):
        change = functools.partial(workers._one_new_trial, index=index, number=number)
        (trial,) = storage.transact(change)
        workers._report(storage, trial.id, index, number)
        ids.append(trial.id)
    return ids


def test_forked_copies_of_an_instance_work_like_separate_instances(
    root: Path, storages: list[DiskStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Children forked from a process that used the storage (an ``AskAndTell`` client in a
    ``fork`` pool) shared its lock descriptor, so ``flock`` let them all in at once (one id
    for several trials, damaged journal lines), and its journal reader, whose shared offset
    made one child's read start where another's seek pointed."""
    storage = _open(storages, root)
    storage.transact(lambda history: [make_trial(1, {"x": 0.0}, "success")])  # opens the files
    storage.sync()
    monkeypatch.setitem(_FORKED, "storage", storage)
    with multiprocessing.get_context("fork").Pool(4) as pool:
        outputs = pool.map(_work_in_a_forked_child, range(4))
    written = outputs[:_FORKED_WRITERS]
    ids = [trial_id for lines in written for trial_id in lines]
    assert len(set(ids)) == len(ids) == _FORKED_WRITERS * _TRIALS_PER_WRITER
    every_id = [str(i) for i in range(1, len(ids) + 2)]
    assert [sorted(seen, key=int) for seen in outputs[_FORKED_WRITERS:]] == [every_id] * 2
    for reader in (storage, _open(storages, root)):  # the parent's copy still reads and writes
        history = reader.sync()
        assert sorted(history, key=int) == every_id
        for index, lines in enumerate(written):
            for number, trial_id in enumerate(lines):
                assert history[trial_id].objective == workers.objective_of(index, number)
    assert storage.transact(lambda history: [make_trial(len(every_id) + 1, {}, "pending")])


def test_a_stuck_lock_holder_gives_a_clear_error(
    root: Path, tmp_path: Path, storages: list[DiskStorage]
) -> None:
    holder = _worker(root, tmp_path, "hold", seconds=60)
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        impatient = _open(storages, root, lock_timeout=0.2)
        with pytest.raises(StorageError, match=r"journal\.jsonl\.lock") as caught:
            impatient.transact(lambda history: [])
        assert f"process {holder.pid} (" in str(caught.value)  # the holder, by pid and command
        # It runs: "Resume or end it" sent users to end a worker busy with a long ask.
        assert "may be busy" in str(caught.value) and "Resume" not in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert _open(storages, root, lock_timeout=5).transact(lambda history: []) == []


def test_a_lock_holder_the_lock_table_does_not_show_may_be_stopped_or_busy(
    root: Path, tmp_path: Path, storages: list[DiskStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without /proc/locks (not Linux) the holder is unknown: it was told "Resume or end it"
    # alone, which sends users to end a worker busy with a long ask.
    monkeypatch.setattr("neps_core_plugins.disk_storage.locking.holders", lambda path: "")
    holder = _worker(root, tmp_path, "hold", seconds=60)
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        impatient = _open(storages, root, lock_timeout=0.2)
        with pytest.raises(StorageError, match="another process") as caught:
            impatient.transact(lambda history: [])
        assert "resume or end it" in str(caught.value) and "may be busy" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_a_lock_held_through_another_handle_of_this_process_is_named_so(tmp_path: Path) -> None:
    """Two handles on one run in one process (a status() thread beside run()): the error
    blamed "another process (a stopped or suspended worker?)"."""
    path = tmp_path / "journal.lock"
    holding = locking.ExclusiveLock(path, guards=tmp_path / "journal", timeout=1.0)
    waiting = locking.ExclusiveLock(path, guards=tmp_path / "journal", timeout=0.1)
    with holding.held(), pytest.raises(StorageError) as caught, waiting.held():
        pass
    assert f"this very process (pid {os.getpid()}" in str(caught.value)
    holding.close()
    waiting.close()


def test_a_lock_dropped_unclosed_closes_its_descriptor(tmp_path: Path) -> None:
    """A storage dropped without close() (an AskAndTell client NePS-style code never closes)
    kept its lock file open until the process exited: one descriptor per client."""
    path = tmp_path / "journal.lock"

    def open_on_path() -> int:
        return sum(
            os.path.realpath(f"/proc/self/fd/{fd}") == str(path)
            for fd in os.listdir("/proc/self/fd")
        )

    for close in (False, True):
        lock = locking.ExclusiveLock(path, guards=tmp_path / "journal")
        with lock.held():
            assert open_on_path() == 1
        if close:
            lock.close()
            lock.close()  # closes nothing twice
        del lock
        gc.collect()
        assert open_on_path() == 0


def test_a_long_wait_for_the_lock_is_told_before_giving_up(
    root: Path,
    tmp_path: Path,
    storages: list[DiskStorage],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker (or ``neps-core clean``) waited up to the lock timeout without a word while
    another process held the lock (suspended with Ctrl-Z, stopped in a debugger); the warning
    names that process and says it is stopped."""
    monkeypatch.setattr(locking, "ANNOUNCE_WAIT_SECONDS", 0.2)
    holder = _worker(root, tmp_path, "hold", seconds=60)
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        holder.send_signal(signal.SIGSTOP)
        waiting = _open(storages, root, lock_timeout=1.0)
        with caplog.at_level(logging.WARNING), pytest.raises(StorageError) as caught:
            waiting.transact(lambda history: [])
        assert "which is stopped" in str(caught.value) and "Resume or end it" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    [told] = [r.getMessage() for r in caplog.records if "Waiting for the lock" in r.getMessage()]
    assert str(_journal(root)) in told and "giving up after 1 s" in told
    assert f"process {holder.pid} (" in told and "which is stopped" in told


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP])
def test_a_file_system_without_flock_is_named_with_what_to_do(
    root: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    # A raw OSError (ENOLCK) escaped from the journal lock. No file system here refuses
    # flock (an NFS mount without its lock service would), so flock is made to refuse.
    def refused(descriptor: int, operation: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", refused)
    with pytest.raises(StorageError) as caught:
        neps.run(
            lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=1
        )
    message = str(caught.value)
    assert str(_journal(root)) in message
    assert "does not support file locking" in message
    assert "sqlite" in message and "another file system" in message
    # The root now records the disk storage: storage='sqlite' alone was refused for it.
    assert "new root directory" in message and "overwrite_root_directory=True" in message
    space, local = {"x": neps.Float(0.0, 1.0)}, root.parent / "local"
    neps.run(
        lambda x: x,
        space,
        root_directory=root.parent / "new",
        storage=f"sqlite:///{local}_1.db",
        evaluations_to_spend=1,
    )
    neps.run(
        lambda x: x,
        space,
        root_directory=root,
        storage=f"sqlite:///{local}_2.db",
        overwrite_root_directory=True,
        evaluations_to_spend=1,
    )


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664)])
def test_run_files_follow_the_umask_like_any_new_file(
    tmp_path: Path, umask: int, mode: int
) -> None:
    """A group sharing a run (umask 002) must read and write all of its files."""
    script = (
        "import os, sys\n"
        f"os.umask({umask})\n"
        "import neps_core as neps\n"
        "neps.run(lambda x: x, {'x': neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],\n"
        "         evaluations_to_spend=2)\n"
    )
    root = tmp_path / "run"
    subprocess.run([sys.executable, "-c", script, str(root)], check=True, capture_output=True)
    files = [p for p in root.rglob("*") if p.is_file()]  # the journal and its lock too
    assert {p.relative_to(root).as_posix() for p in files} >= {
        "storage.yaml",
        "run_info.yaml",
        "configs/config_1/config.yaml",
        "configs/config_1/report.yaml",
        "summary.yaml",
    }
    assert {p.relative_to(root).as_posix(): oct(p.stat().st_mode & 0o777) for p in files} == {
        p.relative_to(root).as_posix(): oct(mode) for p in files
    }
