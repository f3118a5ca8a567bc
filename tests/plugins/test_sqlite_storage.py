"""The ``sqlite`` storage: the shared storage contract plus what only SQLite has.

WAL mode, the schema version, the ``sqlite:///`` URL form, incremental reads, and clear errors
for a database that another process keeps locked or that is read-only — all against real
SQLite files and real processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
import yaml
from worker_processes import kill, start_worker

import neps_core as neps
from neps_core.cli.clean import clean_run
from neps_core.errors import SettingsError, StorageError
from neps_core.history import TrialHistory
from neps_core.interfaces import Change
from neps_core.migration import migrate_run
from neps_core.models import Report, RunInfo, Trial, TrialState
from neps_core.plugin_manager import load_plugins
from neps_core.testing import StorageContract
from neps_core.testing._storage_workers import child_environment
from neps_core_plugins.sqlite_storage import SQLiteStorage, database_path
from neps_core_plugins.sqlite_storage.location import absolute_url

INFO = RunInfo(space={"x": {"type": "float", "lower": 0.0, "upper": 1.0}}, optimizer="random")


def _new_trials(count: int) -> Change:
    """A change that creates ``count`` PENDING trials with fresh ids."""

    def change(history: TrialHistory) -> list[Trial]:
        first = int(history.next_id())
        return [
            Trial(id=str(first + i), config={"x": 0.5}, state=TrialState.PENDING, created_at=1.0)
            for i in range(count)
        ]

    return change


def _finish(trial_id: str, objective: float) -> Change:
    def change(history: TrialHistory) -> list[Trial]:
        report = Report(objective_to_minimize=objective)
        return [attrs.evolve(history[trial_id], state=TrialState.SUCCESS, report=report)]

    return change


class TestSQLiteStorageContract(StorageContract):
    storage_class = SQLiteStorage
    storage_variants: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "fsync": {"fsync": True},
    }


@pytest.fixture
def storage(root: Path) -> Iterator[SQLiteStorage]:
    opened = SQLiteStorage(root)
    opened.initialize(INFO)
    yield opened
    opened.close()


# -- the basics ---------------------------------------------------------------------------------
def test_is_registered_under_its_name_and_url_scheme() -> None:
    storages = load_plugins().storages
    assert storages["sqlite"] is SQLiteStorage
    assert SQLiteStorage.schemes == ("sqlite",)


def test_a_missing_database_is_an_empty_run_and_is_not_created(root: Path) -> None:
    storage = SQLiteStorage(root)
    assert storage.load_info() is None
    assert len(storage.sync()) == 0
    assert not storage.exists()
    assert not (root / "run.db").exists()


def test_status_of_a_run_whose_creator_was_killed_names_the_empty_database_unchanged(
    tmp_path: Path,
) -> None:
    """A 0-byte run.db (its creator killed at once) stays 0 bytes: a read creates no tables."""
    root = tmp_path / "run"
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=1, storage="sqlite")
    database = root / "run.db"
    database.write_bytes(b"")  # as its creator left it, before any trial
    shutil.rmtree(root / "configs")
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "neps_core.cli", "status", str(root)],
        capture_output=True,
        text=True,
        env=child_environment(),
        check=False,
    )
    assert done.returncode != 0
    assert f"{database} is an empty file that holds no run" in done.stderr
    assert database.stat().st_size == 0
    with pytest.raises(StorageError, match="is an empty file that holds no run"):
        neps.status(root)
    assert database.stat().st_size == 0
    summary = neps.run(
        lambda x: x, space, root_directory=root, evaluations_to_spend=1, storage="sqlite"
    )
    assert summary.counts["success"] == 1  # run() sets it up


def test_new_trials_get_a_folder_with_their_config(
    root: Path, trial_file: Callable[..., Any]
) -> None:
    storage = SQLiteStorage(root)
    storage.initialize(INFO)
    storage.transact(_new_trials(1))
    assert trial_file(root, 1, "config") == {"x": 0.5}
    assert storage.trial_directory("1") == root / "configs" / "config_1"


KILLED_AFTER_THE_COMMIT = """
import os, signal, sys
from pathlib import Path
from neps_core.models import Trial, TrialState
from neps_core_plugins.sqlite_storage import SQLiteStorage

def kill_at_the_config(event, args):  # writing config.yaml starts after the commit
    if event == "open" and ".config.yaml." in str(args[0]):
        os.kill(os.getpid(), signal.SIGKILL)

storage = SQLiteStorage(Path(sys.argv[1]))
sys.addaudithook(kill_at_the_config)
trial = Trial(id="1", config={"x": 0.25}, state=TrialState.PENDING, created_at=1.0)
storage.transact(lambda history: [trial])
"""


def test_a_config_a_worker_killed_after_the_commit_left_out_is_written_by_the_next(
    root: Path, storage: SQLiteStorage, trial_file: Callable[..., Any]
) -> None:
    script = [sys.executable, "-c", KILLED_AFTER_THE_COMMIT, str(root)]
    assert subprocess.run(script, check=False).returncode == -signal.SIGKILL
    assert list(SQLiteStorage(root).sync()) == ["1"]
    assert list((root / "configs" / "config_1").iterdir()) == []
    SQLiteStorage(root).transact(lambda history: [])  # the next worker's first write
    assert trial_file(root, 1, "config") == {"x": 0.25}


def test_a_config_a_killed_worker_left_out_is_written_by_a_worker_already_running(
    root: Path, storage: SQLiteStorage, trial_file: Callable[..., Any]
) -> None:
    """A worker looks at every trial once; after that, at the trials it writes."""
    storage.transact(lambda history: [])  # the running worker's first look: nothing missing
    SQLiteStorage(root).transact(_new_trials(1))
    (root / "configs" / "config_1" / "config.yaml").unlink()  # as a SIGKILL after the commit
    storage.transact(_finish("1", 0.5))  # say, its worker's death found and the trial re-run
    assert trial_file(root, 1, "config") == {"x": 0.5}


FIRST_WRITE = """
import sys
from pathlib import Path
from neps_core_plugins.sqlite_storage import SQLiteStorage

made = []
sys.addaudithook(lambda event, args: event == "os.mkdir" and made.append(str(args[0])))
SQLiteStorage(Path(sys.argv[1])).transact(lambda history: [])
print(*[path for path in made if "config_" in path])
"""


def test_a_new_handles_first_write_makes_no_folder_of_a_finished_trial_that_has_one(
    root: Path, storage: SQLiteStorage
) -> None:
    """Every new handle (each save_pipeline_results from elsewhere, each AskAndTell client)
    made every trial's folder again and looked for its config.yaml in its first write: 0.14 s
    in a 10,000-trial run. One listing of configs/ now finds the folders missing."""
    storage.transact(_new_trials(5))
    for trial_id in "12345":
        storage.transact(_finish(trial_id, 0.5))
    script = [sys.executable, "-c", FIRST_WRITE, str(root)]
    made = subprocess.run(script, capture_output=True, text=True, check=True).stdout
    assert made.split() == []
    shutil.rmtree(root / "configs" / "config_3")  # as a SIGKILL right after the commit
    made = subprocess.run(script, capture_output=True, text=True, check=True).stdout
    assert made.split() == [str(root / "configs" / "config_3")]
    assert (root / "configs" / "config_3" / "config.yaml").is_file()


def test_a_new_handles_first_write_gives_a_corrupted_trial_no_config(
    root: Path, storage: SQLiteStorage
) -> None:
    """The stand-in of a damaged row has the configuration {}: written, it hid that the
    trial's own was lost."""
    storage.transact(_new_trials(2))
    shutil.rmtree(root / "configs" / "config_2")
    with sqlite3.connect(root / "run.db") as db:
        db.execute("UPDATE trials SET data = '{garbage' WHERE id = '2'")
    db.close()
    fresh = SQLiteStorage(root)
    fresh.transact(lambda history: [])
    assert fresh.sync()["2"].state is TrialState.CORRUPTED
    fresh.close()
    assert not (root / "configs" / "config_2").exists()


def test_a_configs_folder_that_cannot_be_listed_is_a_warning_after_the_commit(
    root: Path, storage: SQLiteStorage, caplog: pytest.LogCaptureFixture
) -> None:
    """The first write lists configs/ after committing: its error escaped transact, as if
    the committed trial had not been stored. Then every stored trial was written, each
    failing with its own warning."""
    storage.transact(_new_trials(3))
    shutil.rmtree(root / "configs")
    (root / "configs").write_text("not a folder")
    fresh = SQLiteStorage(root)
    with caplog.at_level("WARNING"):
        assert [t.id for t in fresh.transact(_new_trials(1))] == ["4"]
    fresh.close()
    listing, writing = (record.getMessage() for record in caplog.records)  # only the new one
    assert listing.startswith("Could not list the trial folders")
    assert writing.startswith(f"Could not write {root / 'configs' / 'config_4'}")
    assert "4" in SQLiteStorage(root).sync()


def test_unknown_and_bad_options_are_refused(root: Path) -> None:
    with pytest.raises(SettingsError, match="storage 'sqlite': unknown option"):
        SQLiteStorage(root, journal=True)
    with pytest.raises(SettingsError, match="storage 'sqlite': lock_timeout must be"):
        SQLiteStorage(root, lock_timeout=-1)
    with pytest.raises(SettingsError, match="storage 'sqlite': fsync must be true or false"):
        SQLiteStorage(root, fsync="no")


# -- SQLite specifics ---------------------------------------------------------------------------
def test_database_is_in_wal_mode(root: Path, storage: SQLiteStorage) -> None:
    connection = sqlite3.connect(root / "run.db")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


@pytest.mark.parametrize("block_fails", [False, True])
def test_a_with_block_closes_the_storage(root: Path, block_fails: bool) -> None:
    """SQLite removes the WAL file when its last connection closes: it shows the close."""
    wal = root / "run.db-wal"
    failure = pytest.raises(RuntimeError) if block_fails else contextlib.nullcontext()
    with failure, SQLiteStorage(root) as storage:
        storage.initialize(INFO)
        storage.transact(_new_trials(1))
        assert wal.exists()
        if block_fails:
            raise RuntimeError("the block failed")
    assert not wal.exists()
    with SQLiteStorage(root) as reopened:
        assert len(reopened.sync()) == 1


def test_rows_are_plain_json(root: Path, storage: SQLiteStorage) -> None:
    storage.transact(_new_trials(1))
    connection = sqlite3.connect(root / "run.db")
    state, data = connection.execute("SELECT state, json(data) FROM trials").fetchone()
    assert state == "pending"
    assert '"config":{"x":0.5}' in data
    connection.close()


def test_unknown_schema_version_is_a_clear_error(root: Path, storage: SQLiteStorage) -> None:
    connection = sqlite3.connect(root / "run.db")
    with connection:
        connection.execute("UPDATE schema_version SET version = 99")
    connection.close()
    with pytest.raises(StorageError, match=r"run\.db has schema version 99.*version 1"):
        SQLiteStorage(root).sync()


def test_a_foreign_database_is_refused(root: Path) -> None:
    root.mkdir()
    connection = sqlite3.connect(root / "run.db")
    with connection:
        connection.execute("CREATE TABLE users (name TEXT)")
    connection.close()
    with pytest.raises(StorageError, match="not one written by neps_core"):
        SQLiteStorage(root).load_info()


def test_a_file_that_is_no_database_is_named_in_the_error(root: Path) -> None:
    root.mkdir()
    (root / "run.db").write_bytes(b"certainly not SQLite " * 100)
    with pytest.raises(StorageError, match=r"run\.db"):
        SQLiteStorage(root).load_info()


def test_url_selects_a_database_outside_the_root(tmp_path: Path, root: Path) -> None:
    database = tmp_path / "elsewhere" / "my run.db"
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(
        lambda x: x,
        space,
        root_directory=root,
        storage=f"sqlite:///{database.as_posix().replace(' ', '%20')}",
        evaluations_to_spend=3,
        optimizer="random_search",
    )
    assert database.is_file()
    assert not (root / "run.db").exists()
    assert (root / "configs" / "config_3").is_dir()
    # A later call finds the database through the run's storage pointer.
    summary = neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=5)
    assert summary.counts["success"] == 5
    assert len(SQLiteStorage(root, url=f"sqlite:///{database}").sync()) == 5
    # Another root pointed at the same database: the database is the culprit, and
    # overwriting the new root (the old advice) could not help.
    with pytest.raises(SettingsError, match=r"sqlite://.*my%20run.db already holds the run"):
        neps.run(
            lambda y: y,
            {"y": neps.Float(0.0, 1.0)},
            root_directory=tmp_path / "other",
            storage=f"sqlite:///{database.as_posix().replace(' ', '%20')}",
            evaluations_to_spend=1,
        )


def test_database_path_forms_follow_sqlalchemy(tmp_path: Path) -> None:
    assert database_path(tmp_path, None) == tmp_path / "run.db"
    assert database_path(tmp_path, "sqlite:///data/r.db") == Path("data/r.db")  # relative
    assert database_path(tmp_path, "sqlite:////data/r.db") == Path("/data/r.db")
    assert database_path(tmp_path, "sqlite://") == tmp_path / "run.db"
    # "#" is part of the name, as in SQLAlchemy: it had cut the path to "/runs/exp".
    assert database_path(tmp_path, "sqlite:////runs/exp#1/r.db") == Path("/runs/exp#1/r.db")
    assert absolute_url("sqlite:////runs/exp#1/r.db") == "sqlite:////runs/exp%231/r.db"
    with pytest.raises(SettingsError, match=r"'sqlite:///run.db' \(relative\).*sqlite://host"):
        database_path(tmp_path, "sqlite://host/r.db")


def test_a_tilde_in_a_url_is_the_home_directory_as_in_every_path_of_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sqlite:///~/db/a.db`` had made a folder literally named ``~`` in the working directory."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert database_path(tmp_path, "sqlite:///~/db/a.db") == tmp_path / "home" / "db" / "a.db"
    assert absolute_url("sqlite:///~/db/a.db") == f"sqlite:///{tmp_path / 'home' / 'db' / 'a.db'}"
    with pytest.raises(SettingsError, match=r"'sqlite:///~nosuchuser/a.db'.*no home directory"):
        database_path(tmp_path, "sqlite:///~nosuchuser/a.db")


def test_a_relative_url_is_recorded_absolute_so_any_directory_finds_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Optuna's ``sqlite:///example.db`` is a file in the working directory, not in ``/``."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(
        lambda x: x,
        space,
        root_directory="results",
        storage="sqlite:///example.db",
        evaluations_to_spend=2,
    )
    assert (work / "example.db").is_file()
    pointer = yaml.safe_load((work / "results" / "storage.yaml").read_text())
    assert pointer["url"] == f"sqlite:///{work / 'example.db'}"
    # Continued from another directory, with or without the URL: the same database.
    monkeypatch.chdir(elsewhere)
    assert neps.status(work / "results").budget.used_evaluations == 2
    summary = neps.run(
        lambda x: x,
        space,
        root_directory=work / "results",
        storage=f"sqlite:///{work / 'example.db'}",
        evaluations_to_spend=3,
    )
    assert summary.budget.used_evaluations == 3
    assert not (elsewhere / "example.db").exists()


def test_a_database_holds_one_run_and_another_root_cannot_join_or_erase_it(
    tmp_path: Path,
) -> None:
    """Optuna keeps several studies in one file; here a second root joined the first's run,
    and overwriting it erased the first's trials."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    space = {"x": neps.Float(0.0, 1.0)}
    first = tmp_path / "study_a"
    neps.run(lambda x: x, space, root_directory=first, storage=url, evaluations_to_spend=3)
    for overwrite in (False, True):
        with pytest.raises(SettingsError, match=r"already holds the run of another root"):
            neps.run(
                lambda x: 10 + x,
                space,
                root_directory=tmp_path / "study_b",
                storage=url,
                evaluations_to_spend=2,
                overwrite_root_directory=overwrite,
            )
        assert not (tmp_path / "study_b" / "storage.yaml").exists()
    with pytest.raises(SettingsError, match=r"already holds the run of another root"):
        neps.AskAndTell(root_directory=tmp_path / "study_c", storage=url)
    assert neps.status(first).budget.used_evaluations == 3  # untouched


def run_identity(root: Path, evaluations: int, **arguments: Any) -> neps.Summary:
    """A run of ``x -> x`` on ``x`` in [0, 1] in ``root``."""
    return neps.run(
        lambda x: x,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=evaluations,
        **arguments,
    )


def refused_with_or_without_overwrite(match: str, root: Path, **arguments: Any) -> None:
    """A new run in ``root`` with ``arguments`` is refused (``match``), overwriting or not."""
    for overwrite in (False, True):
        with pytest.raises(SettingsError, match=match):
            run_identity(root, 2, overwrite_root_directory=overwrite, **arguments)


def test_a_copied_root_cannot_join_or_erase_its_originals_database(tmp_path: Path) -> None:
    # The copy's storage.yaml names the same database: continuing the copy added its trials
    # to the original's run, and overwriting the copy erased the original's.
    original, copy = tmp_path / "A", tmp_path / "B"
    run_identity(original, 3, storage=f"sqlite:///{tmp_path / 'scratch' / 'a.db'}")
    shutil.copytree(original, copy)
    refused_with_or_without_overwrite(rf"is a copy of that root.*migrate {original}", copy)
    assert neps.status(original).budget.used_evaluations == 3  # untouched
    moved = tmp_path / "moved"  # a moved root is its run's root still
    shutil.move(original, moved)
    assert run_identity(moved, 4).budget.used_evaluations == 4


def record_url_as_given(root: Path, url: str) -> None:
    """Make ``root``'s ``storage.yaml`` name ``url`` as versions before ec24843 recorded it:
    as given (and ``sqlite:///PATH`` meant the absolute ``/PATH`` then)."""
    pointer = root / "storage.yaml"
    pointer.write_text(yaml.safe_dump({**yaml.safe_load(pointer.read_text()), "url": url}))


def test_a_root_naming_another_roots_database_by_another_url_is_refused_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OLD's storage.yaml, written before ec24843, reads sqlite:///run.db (then /run.db); a
    # NEW run of the project uses ./run.db, which HEAD reads OLD's URL as too. The copy check
    # compared the URL texts: status and migrate of OLD showed and copied NEW's trials, and
    # overwriting OLD deleted NEW's database.
    monkeypatch.chdir(tmp_path)
    old, new = tmp_path / "OLD", tmp_path / "NEW"
    run_identity(old, 2, storage=f"sqlite:///{tmp_path / 'old_place' / 'run.db'}")
    record_url_as_given(old, "sqlite:///run.db")  # its database: /run.db (gone, here)
    run_identity(new, 3, storage="sqlite:///run.db")
    both = rf"{old}.*{new}|{new}.*{old}"
    attempts: dict[str, Callable[[], object]] = {
        "status": lambda: neps.status(old),
        "migrate": lambda: migrate_run(old, tmp_path / "copy", storage="disk"),
        "clean": lambda: clean_run(old, stale_after=60.0, dry_run=False),
        "run": lambda: run_identity(old, 4),
        "overwrite": lambda: run_identity(old, 4, overwrite_root_directory=True),
    }
    for name, attempt in attempts.items():
        with pytest.raises(SettingsError, match=both):
            attempt()
        assert (tmp_path / "run.db").is_file(), name
    assert not (tmp_path / "copy").exists()
    assert neps.status(new).budget.used_evaluations == 3  # untouched


def forget_the_root(database: Path) -> None:
    """Make ``database``'s run info as versions before ec3a97e wrote it: without its root."""
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        (data,) = connection.execute("SELECT data FROM run_info WHERE id = 1").fetchone()
        info = {key: value for key, value in json.loads(data).items() if key != "root_directory"}
        connection.execute("UPDATE run_info SET data = ? WHERE id = 1", (json.dumps(info),))


def test_continuing_an_old_run_records_its_root_so_a_later_copy_is_refused(
    tmp_path: Path,
) -> None:
    # A run of a version before ec3a97e records no root: a cp -r copy of it could join or
    # erase the original's trials, and continuing the original never recorded its root.
    original, copy, database = tmp_path / "A", tmp_path / "B", tmp_path / "scratch" / "a.db"
    run_identity(original, 3, storage=f"sqlite:///{database}")
    forget_the_root(database)
    run_identity(original, 4)  # continued with this version
    shutil.copytree(original, copy)
    refused_with_or_without_overwrite(rf"{copy} names .*run of {original}", copy)
    assert neps.status(original).budget.used_evaluations == 4
    forget_the_root(database)  # a write alone (save_pipeline_results, clean) records it too
    with SQLiteStorage(original, url=f"sqlite:///{database}") as storage:
        storage.transact(lambda history: [])
        info = storage.load_info()
    assert info is not None and info.root_directory == str(original.resolve())


def test_a_failed_first_write_does_not_stop_the_root_being_recorded(tmp_path: Path) -> None:
    # The first write recorded the root and marked it done; an optimizer error rolled the
    # write back, and no later write of that storage recorded the root again.
    original, database = tmp_path / "A", tmp_path / "scratch" / "a.db"
    run_identity(original, 2, storage=f"sqlite:///{database}")
    forget_the_root(database)

    def failing(history: TrialHistory) -> list[Trial]:
        raise RuntimeError("the optimizer failed")

    with SQLiteStorage(original, url=f"sqlite:///{database}") as storage:
        with pytest.raises(RuntimeError):
            storage.transact(failing)
        storage.transact(lambda history: [])
        info = storage.load_info()
    assert info is not None and info.root_directory == str(original.resolve())


def old_root_with_an_absolute_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A root (3 trials) whose ``storage.yaml`` records its database as versions before
    ec24843 wrote the old docs' ``sqlite:///absolute/path/run.db``, and that database; the
    working directory is another, in which the URL's relative reading does not exist."""
    root, database = tmp_path / "ABS", tmp_path / "db" / "run.db"
    run_identity(root, 3, storage=f"sqlite:///{database}")
    record_url_as_given(root, f"sqlite://{database}")  # three slashes
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    return root, database


def test_an_old_absolute_url_finds_its_database_where_that_records_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read as relative to the working directory, it named a file that does not exist:
    # status and run() failed from any directory but /.
    root, _ = old_root_with_an_absolute_database(tmp_path, monkeypatch)
    assert neps.status(root).budget.used_evaluations == 3
    assert run_identity(root, 4).budget.used_evaluations == 4
    assert not (tmp_path / "project" / "tmp").exists()  # nothing at the relative reading


def test_an_old_absolute_url_continues_given_as_four_slashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its four-slash form, which the errors advise, names the same database, but was compared
    # as text with the storage.yaml's URL: continuing was refused as another storage, and an
    # overwrite as a database of a run "its storage.yaml does not name".
    root, database = old_root_with_an_absolute_database(tmp_path, monkeypatch)
    four_slashes = f"sqlite:///{database}"
    assert run_identity(root, 4, storage=four_slashes).budget.used_evaluations == 4
    fresh = run_identity(root, 2, storage=four_slashes, overwrite_root_directory=True)
    assert fresh.budget.used_evaluations == 2
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"  # another database is another storage
    with pytest.raises(SettingsError, match="was started with storage"):
        run_identity(root, 3, storage=elsewhere)


def test_an_old_absolute_url_whose_database_records_no_root_names_both_readings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Said only that the relative reading did not exist; a run of a version before ec3a97e
    # records no root, so the database may be another root's: named, not taken.
    root, database = old_root_with_an_absolute_database(tmp_path, monkeypatch)
    forget_the_root(database)
    relative = tmp_path / "project" / str(database).lstrip("/")
    for attempt in (lambda: neps.status(root), lambda: run_identity(root, 4)):
        with pytest.raises(StorageError, match=rf"absolute path {database} .*{relative}"):
            attempt()
    assert not (tmp_path / "project" / "tmp").exists()
    record_url_as_given(root, f"sqlite:///{database}")  # as the error advises
    assert neps.status(root).budget.used_evaluations == 3


def test_an_old_absolute_url_whose_relative_reading_is_another_roots_is_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old root's URL now reads as the database of a run of this version: its own
    # database is used where it records it, both readings are named where it does not.
    root, database = old_root_with_an_absolute_database(tmp_path, monkeypatch)
    relative = tmp_path / "project" / str(database).lstrip("/")
    run_identity(tmp_path / "NEW", 2, storage=f"sqlite:///{relative}")
    assert neps.status(root).budget.used_evaluations == 3
    forget_the_root(database)
    with pytest.raises(StorageError, match=rf"latter holds the run of {tmp_path / 'NEW'}"):
        run_identity(root, 4, overwrite_root_directory=True)
    assert neps.status(tmp_path / "NEW").budget.used_evaluations == 2
    assert database.is_file()  # neither database deleted


def test_a_copy_of_an_old_root_naming_its_database_anew_cannot_join_or_erase_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The copy check compared the owner's URL made absolute with this version's reading
    # (relative to the working directory), not the old absolute one its storage uses: a copy
    # whose storage.yaml names the database with four slashes, as the error of the three-slash
    # URL advises, added its trials to the original's run and overwriting it deleted them.
    original, database = old_root_with_an_absolute_database(tmp_path, monkeypatch)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    record_url_as_given(copy, f"sqlite:///{database}")  # four slashes
    refused_with_or_without_overwrite(rf"{copy} names .*run of {original}", copy)
    with pytest.raises(SettingsError, match=rf"run of {original}"):
        neps.status(copy)
    assert neps.status(original).budget.used_evaluations == 3  # untouched
    assert database.is_file()


def test_a_copy_of_a_root_keeping_its_database_in_the_root_by_url_is_a_run_of_its_own(
    tmp_path: Path,
) -> None:
    # storage="sqlite://" is the root's own run.db, which a cp -r copy takes along; the copy
    # check compared URL texts ("sqlite://" both) and refused the copy as sharing one.
    original, copy = tmp_path / "A", tmp_path / "B"
    run_identity(original, 2, storage="sqlite://")
    shutil.copytree(original, copy)
    assert neps.status(copy).budget.used_evaluations == 2
    assert run_identity(copy, 3).budget.used_evaluations == 3
    assert neps.status(original).budget.used_evaluations == 2  # its own database, untouched


def test_a_root_gone_from_beside_its_database_is_named_and_its_run_kept(tmp_path: Path) -> None:
    # It was refused as "another root directory's" run. Erasing it on overwrite would erase
    # the run of a root that was only moved: the database cannot tell moved from deleted.
    url = f"sqlite:///{tmp_path / 'scratch' / 'run.db'}"
    root, moved = tmp_path / "results", tmp_path / "moved"
    run_identity(root, 3, storage=url)
    shutil.move(root, moved)
    refused_with_or_without_overwrite(
        r"holds a run started in .*results that its", root, storage=url
    )
    assert neps.status(moved).budget.used_evaluations == 3


def test_an_overwrite_refused_for_its_database_keeps_the_roots_own_run(tmp_path: Path) -> None:
    # The refusal came after the overwrite had deleted the root's own run.
    other, mine = tmp_path / "other", tmp_path / "mine"
    url = f"sqlite:///{tmp_path / 'other.db'}"
    run_identity(other, 1, storage=url)
    run_identity(mine, 3)
    with pytest.raises(SettingsError, match=r"already holds the run of another root directory"):
        run_identity(mine, 2, storage=url, overwrite_root_directory=True)
    assert neps.status(mine).budget.used_evaluations == 3


def test_a_malformed_url_is_a_settings_error_naming_it(root: Path) -> None:
    with pytest.raises(SettingsError, match=r"sqlite://host/r\.db"):
        neps.run(
            lambda x: x,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            storage="sqlite://host/r.db",
            evaluations_to_spend=1,
        )
    assert not root.exists()


def test_storage_name_puts_the_database_in_the_root(root: Path) -> None:
    summary = neps.run(
        lambda x: x,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        storage="sqlite",
        evaluations_to_spend=4,
        optimizer="random_search",
    )
    assert summary.counts["success"] == 4
    assert (root / "run.db").is_file()
    assert not (root / ".neps_core" / "journal.jsonl").exists()  # the run is not on disk storage
    assert neps.status(root).counts["success"] == 4


def test_incremental_sync_reads_only_changed_rows(root: Path, storage: SQLiteStorage) -> None:
    storage.transact(_new_trials(50))
    reader = SQLiteStorage(root)
    assert len(reader.sync()) == 50
    assert reader.rows_read == 50
    assert len(reader.sync()) == 50
    assert reader.rows_read == 50  # nothing changed, nothing read
    storage.transact(_finish("17", 1.0))
    storage.transact(_new_trials(2))
    history = reader.sync()
    assert reader.rows_read == 53
    assert history["17"].state is TrialState.SUCCESS
    assert len(history) == 52
    reader.close()


def test_concurrent_writers_never_take_the_same_id(root: Path, storage: SQLiteStorage) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        mine = SQLiteStorage(root)
        try:
            for _ in range(25):
                mine.transact(_new_trials(1))
        except BaseException as error:
            errors.append(error)
        finally:
            mine.close()

    threads = [threading.Thread(target=write) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = SQLiteStorage(root).sync()
    assert sorted(map(int, history)) == list(range(1, 151))


# -- a database that cannot be written ----------------------------------------------------------
HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
"""


def _holding(script: str, database: Path) -> subprocess.Popen[str]:
    """A process holding ``database`` locked as ``script`` does, until :func:`_release`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()


def test_a_database_locked_by_another_process_is_a_clear_error(
    root: Path, storage: SQLiteStorage
) -> None:
    storage.transact(_new_trials(1))
    holder = _holding(HOLD_LOCK, root / "run.db")
    try:
        blocked = SQLiteStorage(root, lock_timeout=0.5)
        with pytest.raises(StorageError, match=r"run\.db stayed locked for .*lock_timeout=0\.5"):
            blocked.transact(_new_trials(1))
        assert len(blocked.sync()) == 1  # readers are not blocked by a writer in WAL mode
    finally:
        _release(holder)
        assert holder.wait(timeout=30) == 0
    assert blocked.transact(_new_trials(1))[0].id == "2"
    blocked.close()


def test_a_waiting_writer_gets_the_lock_once_it_is_released(
    root: Path, storage: SQLiteStorage
) -> None:
    holder = _holding(HOLD_LOCK, root / "run.db")
    releaser = threading.Timer(0.5, _release, (holder,))
    releaser.start()
    created = SQLiteStorage(root, lock_timeout=60).transact(_new_trials(1))
    releaser.join()
    assert holder.wait(timeout=30) == 0
    assert [t.id for t in created] == ["1"]


HOLD_EXCLUSIVE_MODE = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA locking_mode=EXCLUSIVE")
connection.execute("BEGIN EXCLUSIVE")
connection.execute("COMMIT")  # the lock stays until the connection closes, readers too wait
print("locked", flush=True)
sys.stdin.readline()
connection.close()
"""


def test_opening_waits_up_to_lock_timeout_for_a_database_held_in_exclusive_mode(
    root: Path, storage: SQLiteStorage
) -> None:
    """Opening failed after SQLite's own 2 s wait, not lock_timeout: a setting was made
    outside the retries."""
    storage.transact(_new_trials(1))
    storage.close()
    holder = _holding(HOLD_EXCLUSIVE_MODE, root / "run.db")
    releaser = threading.Timer(3.0, _release, (holder,))  # longer than SQLite's own wait
    releaser.start()
    try:
        waiting = SQLiteStorage(root, lock_timeout=60)
        assert list(waiting.sync()) == ["1"]
        waiting.close()
    finally:
        releaser.join()
        assert holder.wait(timeout=30) == 0


@pytest.fixture
def read_only_database(root: Path, storage: SQLiteStorage) -> Iterator[Path]:
    """``run.db`` made read-only for real; root ignores permissions, so it is made immutable."""
    storage.transact(_new_trials(2))
    storage.close()
    path = root / "run.db"
    path.chmod(0o444)
    immutable = os.geteuid() == 0
    if immutable:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o644)


def test_under_umask_002_the_database_and_its_wal_files_are_group_writable(root: Path) -> None:
    """A group shares a run under ``umask 002``: SQLite alone creates ``run.db`` 0644 (and its
    ``-wal``/``-shm`` copy that), so another user of the group got "attempt to write a
    readonly database"."""
    umask = os.umask(0o002)
    try:
        with SQLiteStorage(root) as storage:
            storage.initialize(INFO)
            storage.transact(_new_trials(1))
            modes = {path.name: path.stat().st_mode & 0o777 for path in root.glob("run.db*")}
    finally:
        os.umask(umask)
    assert modes == {"run.db": 0o664, "run.db-wal": 0o664, "run.db-shm": 0o664}


def test_a_read_only_database_is_readable_and_writes_name_the_file(
    root: Path, read_only_database: Path
) -> None:
    storage = SQLiteStorage(root, lock_timeout=2)
    assert storage.load_info() == INFO
    assert len(storage.sync()) == 2
    with pytest.raises(StorageError, match=r"run\.db: attempt to write a readonly database"):
        storage.transact(_new_trials(1))
    assert len(storage.sync()) == 2
    storage.close()


def test_a_damaged_row_is_a_corrupted_trial_and_the_run_goes_on(
    root: Path, storage: SQLiteStorage
) -> None:
    storage.transact(_new_trials(3))
    storage.transact(_finish("1", 0.5))
    connection = sqlite3.connect(root / "run.db")
    with connection:
        connection.execute(
            "UPDATE trials SET data = json_set(data, '$.state', 'bogus') WHERE id = '2'"
        )
        connection.execute("UPDATE trials SET data = '{\"id\": \"3\", tor' WHERE id = '3'")
    connection.close()
    reader = SQLiteStorage(root)
    history = reader.sync()
    assert history["1"].state is TrialState.SUCCESS  # what was reported is kept
    for trial_id in ("2", "3"):
        damaged = history[trial_id]
        assert damaged.state is TrialState.CORRUPTED
        assert damaged.report is not None and damaged.report.error is not None
        assert f"trial {trial_id} in {root / 'run.db'} is damaged" in damaged.report.error
    assert history["2"].config == {"x": 0.5}
    # which field is wrong, not "While structuring Trial (1 sub-exception)"
    assert "expected TrialState @ trial.state" in str(history["2"].report.error)
    assert "JSONDecodeError" in str(history["3"].report.error)
    assert reader.transact(_new_trials(1))[0].id == "4"
    reader.close()


def test_a_full_database_is_a_clear_error_and_loses_nothing(
    root: Path, storage: SQLiteStorage
) -> None:
    storage.transact(_new_trials(2))
    connection = storage._connect(create=True)
    assert connection is not None
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk is full"

    def huge(history: TrialHistory) -> list[Trial]:
        config = {"blob": "x" * 200_000}
        return [Trial(id="3", config=config, state=TrialState.PENDING, created_at=1.0)]

    with pytest.raises(StorageError, match=r"run\.db: database or disk is full"):
        storage.transact(huge)
    assert sorted(storage.sync()) == ["1", "2"]
    assert sorted(SQLiteStorage(root).sync()) == ["1", "2"]


def test_overwrite_root_directory_also_starts_a_database_outside_the_root_afresh(
    tmp_path: Path, root: Path
) -> None:
    """Core bug (neps_core/api.py, run): overwrite only deletes the root directory.

    A database given by URL lives outside the root, so the "overwritten" run silently
    continues the old one. Expected: the second call evaluates three new trials.
    """
    url = f"sqlite:///{tmp_path / 'db' / 'run.db'}"
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(lambda x: x, space, root_directory=root, storage=url, evaluations_to_spend=3)
    calls: list[float] = []

    def evaluate(x: float) -> float:
        calls.append(x)
        return x

    neps.run(
        evaluate,
        space,
        root_directory=root,
        storage=url,
        evaluations_to_spend=3,
        overwrite_root_directory=True,
    )
    assert len(calls) == 3


def test_a_database_missing_from_its_url_is_named(tmp_path: Path, root: Path) -> None:
    # "records no trials" without saying where it looked: a scratch disk not mounted, say.
    database = tmp_path / "scratch" / "run.db"
    space = {"x": neps.Float(0.0, 1.0)}
    url = f"sqlite:///{database}"
    neps.run(lambda x: x, space, root_directory=root, storage=url, evaluations_to_spend=1)
    database.unlink()
    with pytest.raises(StorageError, match=rf"storage 'sqlite' \(at sqlite:///{database}\)"):
        neps.status(root)


def test_a_database_that_cannot_be_created_binds_the_root_to_nothing(tmp_path: Path) -> None:
    # A database path through a file: a raw FileExistsError, and the storage.yaml naming it
    # stayed, so every corrected retry was refused ("was started with storage ...").
    (tmp_path / "afile").write_text("not a folder\n")
    root, url = tmp_path / "run", f"sqlite:///{tmp_path}/afile/x.db"
    space = {"x": neps.Float(0.0, 1.0)}
    with pytest.raises(StorageError, match=r"cannot create the run's storage \(sqlite:.*afile"):
        neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=1, storage=url)
    assert not (root / "storage.yaml").exists()
    summary = neps.run(
        lambda x: x, space, root_directory=root, evaluations_to_spend=1, storage="sqlite"
    )
    assert summary.counts["success"] == 1


def test_an_overwrite_deletes_a_root_bound_to_a_database_never_created(tmp_path: Path) -> None:
    # The storage.yaml an earlier version left naming a database path through a file: the
    # overwrite meant to start afresh raised a raw NotADirectoryError deleting the database.
    (tmp_path / "afile").write_text("not a folder\n")
    root = tmp_path / "run"
    root.mkdir()
    pointer = {"name": "sqlite", "url": f"sqlite:///{tmp_path}/afile/x.db", "options": {}}
    (root / "storage.yaml").write_text(yaml.safe_dump(pointer))
    summary = neps.run(
        lambda x: x,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=1,
        storage="sqlite",
        overwrite_root_directory=True,
    )
    assert summary.counts["success"] == 1
    assert (tmp_path / "afile").read_text() == "not a folder\n"


_WORKER_UNTIL_RELEASED = """
import sys, time
from pathlib import Path
import neps_core as neps
from neps_core.errors import StorageError

root, storage = sys.argv[1], sys.argv[2]
def evaluate(pipeline_directory, x):
    (Path(pipeline_directory) / "ckpt.txt").write_text("OLD")
    while not Path("release").exists():
        time.sleep(0.02)
    return x
try:
    neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=root, storage=storage,
             evaluations_to_spend=5, optimizer="random_search")
except StorageError as error:
    Path("failure.txt").write_text(str(error))
    sys.exit(3)
"""


@pytest.mark.parametrize("storage", ["sqlite", "sqlite:///elsewhere/run.db"])
def test_a_worker_whose_root_was_deleted_fails_and_writes_nothing_there(
    tmp_path: Path, storage: str
) -> None:
    """Its connection would go on writing into the unlinked database (results lost) and put
    its next trial's folder and checkpoint among those of a new run at the same path."""
    root = tmp_path / "run"
    old = start_worker(_WORKER_UNTIL_RELEASED, [str(root), storage], root, "configs/*/ckpt.txt")
    try:
        shutil.rmtree(root)
        if storage == "sqlite":  # a new run there; with a URL its database still holds the old
            space = {"x": neps.Float(0.0, 1.0)}
            neps.run(
                lambda x: x, space, root_directory=root, storage=storage, evaluations_to_spend=2
            )
        (tmp_path / "release").touch()
        assert old.wait(timeout=120) == 3
    finally:
        if old.poll() is None:
            kill(old)
    failure = (tmp_path / "failure.txt").read_text()
    assert "was deleted or replaced while this run used it" in failure
    written = [path for path in root.rglob("*") if path.is_file()] if root.exists() else []
    assert not [path for path in written if path.name == "ckpt.txt"]
    if storage == "sqlite":
        assert sorted(path.name for path in (root / "configs").iterdir()) == [
            "config_1",
            "config_2",
        ]
        assert neps.status(root).counts["success"] == 2
    else:
        assert not root.exists()


def test_a_project_moved_away_from_its_database_path_is_told_where_to_give_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative URL is recorded absolute: after ``mv proj proj2`` the database is at
    ``proj2/run.db``, not lost, and starting over (as the message said) would discard it."""
    project = tmp_path / "proj"
    project.mkdir()
    monkeypatch.chdir(project)
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(
        lambda x: x,
        space,
        root_directory="results/r",
        storage="sqlite:///run.db",
        evaluations_to_spend=2,
    )
    project.rename(tmp_path / "proj2")
    monkeypatch.chdir(tmp_path / "proj2")
    with pytest.raises(StorageError) as refused:
        neps.status("results/r")
    message = str(refused.value)
    assert f"there is no {project / 'run.db'}" in message
    assert f"{Path('results/r/storage.yaml')} records that path" in message
    assert "write its new path there" in message
    assert "record was lost" not in message and "overwrite_root_directory" not in message
