"""``migrate_run``: a run started on one storage continues on another, nothing lost."""

from __future__ import annotations

import json
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any

import attrs
import pytest
from worker_processes import kill, start_worker

import neps_core as neps
from neps_core.errors import LiveWorkersError, StorageError
from neps_core.history import TrialHistory
from neps_core.migration import MigrationError, migrate_run
from neps_core.models import Trial, TrialState
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage
from neps_core_plugins.sqlite_storage import SQLiteStorage

SPACE = {"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 5)}


def _evaluate(x: float, n: int, pipeline_directory: Path) -> dict[str, float]:
    (pipeline_directory / "model.txt").write_text(f"{x} {n}")
    return {"objective_to_minimize": x * n, "cost": 1.0}


def _start(root: Path, storage: str = "disk", count: int = 4) -> neps.Summary:
    return neps.run(
        _evaluate,
        SPACE,
        root_directory=root,
        storage=storage,
        evaluations_to_spend=count,
        optimizer="random_search",
        seed=3,
    )


def test_a_disk_run_continues_in_sqlite(tmp_path: Path) -> None:
    source, destination = tmp_path / "disk", tmp_path / "sqlite"
    before = _start(source)
    copied = migrate_run(source, destination, storage="sqlite")
    assert [t.id for t in copied] == ["1", "2", "3", "4"]
    assert (destination / "run.db").is_file()
    old, new = open_storage(source, None, load_plugins()).sync(), SQLiteStorage(destination).sync()
    assert {k: old[k] for k in old} == {k: new[k] for k in new}
    assert (destination / "configs" / "config_2" / "model.txt").read_text() == (
        source / "configs" / "config_2" / "model.txt"
    ).read_text()
    assert neps.status(destination).budget == neps.status(source).budget  # limits too
    assert neps.status(destination).budget.evaluations_to_spend == 4
    # The same budget: nothing more to do; a bigger one continues in SQLite.
    same = neps.run(_evaluate, SPACE, root_directory=destination, evaluations_to_spend=4)
    assert same.counts["success"] == 4
    after = neps.run(_evaluate, SPACE, root_directory=destination, evaluations_to_spend=6)
    assert after.counts["success"] == 6
    assert after.budget.used_cost == 6.0
    assert isinstance(before.best_objective, float)
    assert isinstance(after.best_objective, float)
    assert after.best_objective <= before.best_objective
    assert len(open_storage(source, None, load_plugins()).sync()) == 4  # source untouched


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_corrupted_trial_without_its_folder_gets_no_files_in_the_copy(
    tmp_path: Path, storage: str
) -> None:
    """The copy writes the trial itself: the files of its stand-in (config {}, its state)
    would hide that the trial's own configuration was lost."""
    source, destination = tmp_path / "source", tmp_path / "copy"
    _start(source, count=2)
    journal = source / ".neps_core" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    records[-1]["config"] = "{garbage"  # trial 2's last version: valid JSON, no configuration
    journal.write_text("".join(json.dumps(record) + "\n" for record in records))
    shutil.rmtree(source / "configs" / "config_2")
    copied = migrate_run(source, destination, storage=storage)
    assert [t.state for t in copied][1] is TrialState.CORRUPTED
    assert not (destination / "configs" / "config_2").exists()
    assert (destination / "configs" / "config_1" / "config.yaml").is_file()


def test_an_sqlite_run_moves_back_to_disk(tmp_path: Path) -> None:
    source, destination = tmp_path / "sqlite", tmp_path / "disk"
    _start(source, storage="sqlite", count=3)
    migrate_run(source, destination, storage="disk")
    assert (destination / ".neps_core" / "journal.jsonl").is_file()
    assert neps.status(destination).counts["success"] == 3
    assert (destination / "configs" / "config_3" / "report.yaml").is_file()


def test_run_info_and_lineage_are_kept(tmp_path: Path) -> None:
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=2)

    def promote(history: TrialHistory) -> list[Trial]:
        parent = history["2"]
        return [attrs.evolve(parent, id="3", previous_trial_id="2", state=TrialState.PENDING)]

    open_storage(source, None, load_plugins()).transact(promote)
    migrate_run(source, destination)
    reader, writer = open_storage(source, None, load_plugins()), SQLiteStorage(destination)
    copied, original = writer.load_info(), reader.load_info()
    assert original is not None and original.root_directory == str(source.resolve())
    assert copied == attrs.evolve(original, root_directory=str(destination.resolve()))
    assert writer.sync()["3"].previous_trial_id == "2"


def test_an_interrupted_evaluation_is_requeued(tmp_path: Path) -> None:
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=1)

    def claim(history: TrialHistory) -> list[Trial]:
        return [
            Trial(
                id="2",
                config={"x": 0.5, "n": 2},
                state=TrialState.EVALUATING,
                created_at=1.0,
                worker_id="gone",
                attempts=1,
            )
        ]

    open_storage(source, None, load_plugins()).transact(claim)
    migrate_run(source, destination)
    moved = SQLiteStorage(destination).sync()["2"]
    assert moved.state is TrialState.PENDING
    assert moved.worker_id is None and moved.attempts == 1
    summary = neps.run(_evaluate, SPACE, root_directory=destination, evaluations_to_spend=2)
    assert summary.counts["success"] == 2


def test_a_non_empty_destination_is_refused(tmp_path: Path) -> None:
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=1)
    destination.mkdir()
    (destination / "notes.txt").write_text("mine")
    with pytest.raises(MigrationError, match="not empty"):
        migrate_run(source, destination)
    assert [p.name for p in destination.iterdir()] == ["notes.txt"]
    with pytest.raises(MigrationError, match="onto itself"):
        migrate_run(source, source)
    inside = source / "configs" / "config_1" / "copy"
    with pytest.raises(MigrationError, match="lies inside it"):
        migrate_run(source, inside, storage="disk")  # recursed until RecursionError
    assert not inside.exists()


def test_a_database_url_that_already_holds_a_run_is_refused(tmp_path: Path) -> None:
    source, other, destination = tmp_path / "a", tmp_path / "other", tmp_path / "b"
    _start(source, count=1)
    database = tmp_path / "shared.db"
    _start(other, storage=f"sqlite:///{database}", count=1)
    with pytest.raises(MigrationError, match="already holds the run of another root"):
        migrate_run(source, destination, storage=f"sqlite:///{database}")
    assert not destination.exists()  # the failed attempt leaves nothing behind
    assert len(SQLiteStorage(other, url=f"sqlite:///{database}").sync()) == 1


def test_a_missing_source_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No neps_core run"):
        migrate_run(tmp_path / "nothing", tmp_path / "b")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No neps_core run"):
        migrate_run(tmp_path / "empty", tmp_path / "b")
    assert not (tmp_path / "empty" / "storage.yaml").exists()  # the source is only read


class _PausedWhileLoading:
    """A plugin whose registration waits for ``go``: a migration given it pauses after it
    found its destination empty, before it writes there."""

    def __init__(self) -> None:
        self.loading, self.go = threading.Event(), threading.Event()

    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        self.loading.set()
        assert self.go.wait(30)
        return []


def test_a_migration_that_lost_the_race_leaves_the_winners_copy(tmp_path: Path) -> None:
    # The loser found the destination empty too; failing, it deleted the winner's copy.
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=2)
    paused, refused = _PausedWhileLoading(), []

    def late() -> None:
        try:
            migrate_run(source, destination, plugins=[paused])
        except MigrationError as error:
            refused.append(str(error))

    loser = threading.Thread(target=late)
    loser.start()
    try:
        assert paused.loading.wait(30)
        migrate_run(source, destination)  # the winner
    finally:
        paused.go.set()
        loser.join(30)
    assert sorted(p.name for p in (destination / "configs").iterdir()) == ["config_1", "config_2"]
    assert neps.status(destination).counts["success"] == 2
    assert len(refused) == 1 and "is not empty" in refused[0]


STALLING_MIGRATION = """
import sys, time
import neps_core as neps
from neps_core.migration import migrate_run
from neps_core_plugins.sqlite_storage import SQLiteStorage

class Stalling(SQLiteStorage):
    name = "stalling"

    def initialize(self, info):  # the trial folders are copied, the trials not yet
        super().initialize(info)
        (self.root_directory / "stalled").write_text("")
        time.sleep(600)

class Plugin:
    @neps.hookimpl
    def neps_register_storages(self):
        return [Stalling]

migrate_run(sys.argv[1], sys.argv[2], {"name": "stalling", "url": sys.argv[3]}, plugins=[Plugin()])
"""


def _stalled_migration(source: Path, destination: Path, database: str) -> subprocess.Popen[bytes]:
    """A real migration process, halted half-way through copying ``source``."""
    script = STALLING_MIGRATION
    return start_worker(script, [str(source), str(destination), database], destination, "stalled")


def test_a_half_made_copy_is_named_as_such_and_left_alone(tmp_path: Path) -> None:
    # Killed half-way, a migration left a root that status and run() called a run whose
    # records were lost, and a retry just "not empty"; a live one could be overwritten.
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=2)
    database = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    migration = _stalled_migration(source, destination, database)
    try:
        written = sorted(destination.rglob("*"))
        with pytest.raises(MigrationError, match=r"is copying the run .* into it right now"):
            migrate_run(source, destination)
        with pytest.raises(StorageError, match="right now; wait until it has finished"):
            neps.status(destination)
        assert sorted(destination.rglob("*")) == written
    finally:
        kill(migration)
    stopped = rf"was stopped before it finished .* delete {re.escape(str(destination))} and the "
    stopped += f"database {re.escape(database)}"
    with pytest.raises(MigrationError, match=stopped):
        migrate_run(source, destination)
    for opening in (
        lambda: neps.status(destination),
        lambda: neps.load_config(destination, "1"),
        lambda: _start(destination),
        lambda: _start(destination, storage="sqlite"),
        lambda: neps.run(
            _evaluate, SPACE, root_directory=destination, overwrite_root_directory=True
        ),
    ):
        with pytest.raises(StorageError, match=stopped):
            opening()
    assert sorted(destination.rglob("*")) == written
    shutil.rmtree(destination)
    Path(database.removeprefix("sqlite:///")).unlink()
    migrate_run(source, destination, storage=database)
    assert neps.status(destination).counts["success"] == 2


def test_sigterm_removes_the_half_made_copy_like_ctrl_c(tmp_path: Path) -> None:
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=2)
    migration = _stalled_migration(source, destination, f"sqlite:///{destination / 'copy.db'}")
    migration.send_signal(signal.SIGTERM)
    assert migration.wait(timeout=60) == 128 + signal.SIGTERM
    assert not destination.exists()
    migrate_run(source, destination)
    assert neps.status(destination).counts["success"] == 2


LIVE_WORKER = """
import sys, time
import neps_core as neps

def evaluate(x, n, pipeline_directory):
    (pipeline_directory / "started").write_text("")
    time.sleep(600)

neps.run(evaluate, {"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 5)},
         root_directory=sys.argv[1], evaluations_to_spend=3)
"""


def test_a_run_with_a_live_worker_is_not_migrated(tmp_path: Path) -> None:
    # The live worker's trial was copied as PENDING; its result never reached the copy.
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=2)
    worker = start_worker(LIVE_WORKER, [str(source)], source, "configs/*/started")
    try:
        with pytest.raises(LiveWorkersError, match=r"Refusing to migrate .* trial 3 \(worker "):
            migrate_run(source, destination)
        assert not destination.exists()
    finally:
        kill(worker)
    migrate_run(source, destination)  # its process is gone: its trial is evaluated again
    assert SQLiteStorage(destination).sync()["3"].state is TrialState.PENDING


LATE_WORKER = """
import sys
import neps_core as neps

neps.run(lambda x, n: x * n, root_directory=sys.argv[1], evaluations_to_spend=3)
"""


class _JoinedWhileCopying(SQLiteStorage):
    """A destination written to only once a late worker has evaluated a trial in the
    source (a task of a job array starting while the copy is made)."""

    name = "joined_while_copying"
    source: Path

    def initialize(self, info: Any) -> None:
        late = subprocess.run(
            [sys.executable, "-c", LATE_WORKER, str(self.source)],
            check=False,
            capture_output=True,
            text=True,
        )
        assert late.returncode == 0, late.stderr
        super().initialize(info)


class _Joined:
    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        return [_JoinedWhileCopying]


def test_a_worker_joining_while_the_run_is_copied_fails_the_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Checked once before copying: the copy lacked the late worker's trial, and migrate
    # reported success.
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=2)
    monkeypatch.setattr(_JoinedWhileCopying, "source", source, raising=False)
    with pytest.raises(LiveWorkersError, match=r"while it was being copied \(trial\(s\) 3 new"):
        migrate_run(source, destination, "joined_while_copying", plugins=[_Joined()])
    assert not destination.exists()  # the copy without trial 3 is removed
    assert neps.status(source).counts["success"] == 3
    migrate_run(source, destination)  # with nobody at work
    assert neps.status(destination).counts["success"] == 3


class _RenamedSQLite(SQLiteStorage):
    """A third-party storage, registered only by the plugin module passed."""

    name = "renamed_sqlite"


def test_one_plugin_module_alone_needs_no_list(tmp_path: Path) -> None:
    # plugins=module raised TypeError("'module' object is not iterable").
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=1)
    module = types.ModuleType("renamed_storage")

    @neps.hookimpl
    def neps_register_storages() -> list[type]:
        return [_RenamedSQLite]

    module.neps_register_storages = neps_register_storages  # type: ignore[attr-defined]
    migrate_run(source, destination, "renamed_sqlite", plugins=module)
    assert SQLiteStorage(destination).sync()["1"].state is TrialState.SUCCESS


def test_symbolic_links_in_trial_folders_are_copied_as_links(tmp_path: Path) -> None:
    # A dangling link failed the migration with a raw list of errors; a link to a data set
    # copied the data set.
    source, destination = tmp_path / "a", tmp_path / "b"
    _start(source, count=1)
    data = tmp_path / "data"
    data.mkdir()
    (data / "big.bin").write_bytes(b"0" * 1000)
    folder = source / "configs" / "config_1"
    (folder / "data").symlink_to(data)
    (folder / "gone").symlink_to(tmp_path / "deleted_checkpoint")
    migrate_run(source, destination)
    copied = destination / "configs" / "config_1"
    assert (copied / "data").readlink() == data
    assert (copied / "gone").readlink() == tmp_path / "deleted_checkpoint"
    assert (copied / "model.txt").read_text() == (folder / "model.txt").read_text()


def test_a_copy_of_a_read_only_run_is_writable_by_its_owner(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``copytree`` copied the archive's modes: config files could not be written and the
    re-run of a trial failed in its read-only ``pipeline_directory``."""
    source, destination = tmp_path / "archived", tmp_path / "copy"
    _start(source, count=2)
    archived = [source, *source.rglob("*")]
    for path in archived:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)  # chmod -R a-w
    try:
        migrate_run(source, destination, storage="sqlite")
    finally:
        for path in archived:
            path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)
    not_writable = [
        path for path in destination.rglob("*") if not path.stat().st_mode & stat.S_IWUSR
    ]
    assert not_writable == []
    assert "Could not write" not in caplog.text
    assert neps.run(_evaluate, SPACE, root_directory=destination, evaluations_to_spend=3)
    assert (destination / "configs" / "config_3" / "model.txt").is_file()
