"""Runs on a read-only file system: everything that only reads works, writes name the file.

The file system is really read-only: a read-only bind mount of the run, as a user archiving
runs has (CI runs as root, where permissions alone would not stop a write). Where mounting is
not permitted, a user that is not root gets the run with its write permissions removed,
which stops it just as well; root without mount rights skips.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from worker_processes import kill_mid_evaluation

import neps_core as neps
from neps_core.errors import StorageError

SCRIPT = Path(sys.executable).parent / "neps-core"
SPACE = {"x": neps.Float(0.0, 1.0)}
STORAGES = ("sqlite", "disk")
WORKER = """
import sys, time
import neps_core as neps

def evaluate(x, pipeline_directory):
    (pipeline_directory / "started").write_text("")
    time.sleep(600)

neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
         evaluations_to_spend=10, sample_batch_size=3, storage=sys.argv[2])
"""


@contextlib.contextmanager
def read_only(source: Path) -> Iterator[Path]:
    """``source`` seen through a read-only bind mount (or, without mount rights, chmod)."""
    view = source.with_name(source.name + "_ro")
    view.mkdir()
    if _mount("--bind", str(source), str(view)):
        if not _mount("-o", "remount,bind,ro", str(view)):
            subprocess.run(["umount", str(view)], check=True)
            pytest.skip("a bind mount cannot be made read-only here")
        try:
            yield view
        finally:  # lazily, should a failed test leave a connection open
            subprocess.run(["umount", "-l", str(view)], check=True)
        return
    if os.geteuid() == 0:
        pytest.skip("root without the right to mount: permissions cannot stop its writes")
    view.rmdir()
    shutil.copytree(source, view)
    paths = [view, *view.rglob("*")]
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield view
    finally:
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)


def _mount(*arguments: str) -> bool:
    return subprocess.run(["mount", *arguments], capture_output=True, check=False).returncode == 0


def cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``neps-core`` as a user does; never raises on a non-zero exit."""
    return subprocess.run(
        [str(SCRIPT), *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _killed_worker(root: Path, storage: str) -> None:
    """A worker SIGKILLed mid-evaluation: one EVALUATING and two PENDING trials remain (and,
    for SQLite, the ``-wal`` and ``-shm`` files, with the trials only in the ``-wal``)."""
    kill_mid_evaluation(WORKER, [str(root), storage], root, "configs/*/started")


@pytest.mark.parametrize("storage", STORAGES)
def test_a_read_only_run_can_be_inspected_and_migrated_but_not_continued(
    tmp_path: Path, storage: str
) -> None:
    source = tmp_path / "run"
    neps.run(lambda x: x, SPACE, root_directory=source, evaluations_to_spend=3, storage=storage)
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    with read_only(source) as view:
        assert neps.status(view).counts["success"] == 3
        assert neps.load_config(view, 1) == neps.load_config(source, 1)
        status = cli("status", str(view), cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert "budget: 3 of 3 evaluations" in status.stdout
        dry = cli("clean", str(view), "--dry-run", cwd=tmp_path)
        assert (dry.returncode, dry.stdout.strip()) == (0, f"Nothing to clean in {view}"), (
            dry.stderr
        )
        migrated = cli(
            "migrate", str(view), str(tmp_path / "copy"), "--storage", "disk", cwd=tmp_path
        )
        assert migrated.returncode == 0, migrated.stderr
        assert neps.status(tmp_path / "copy").counts["success"] == 3

        with pytest.raises(StorageError, match=r"(run\.db|journal\.jsonl)") as refused:
            neps.run(lambda x: x, SPACE, root_directory=view, evaluations_to_spend=5)
        assert str(view) in str(refused.value)
        assert neps.status(view).counts["success"] == 3
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before


@pytest.mark.parametrize("storage", STORAGES)
def test_clean_dry_run_only_reads_a_read_only_run(tmp_path: Path, storage: str) -> None:
    root = tmp_path / "run"
    _killed_worker(root, storage)
    time.sleep(1.0)  # the dead worker's heartbeat goes stale
    with read_only(root) as view:
        dry = cli("clean", str(view), "--stale-after", "0.5", "--dry-run", cwd=tmp_path)
        assert dry.returncode == 0, dry.stderr
        assert "would mark 3 trial(s) CRASHED" in dry.stdout
        done = cli("clean", str(view), "--stale-after", "0.5", cwd=tmp_path)
        assert done.returncode == 1
        assert str(view) in done.stderr
    counts = neps.status(root).counts
    assert (counts["evaluating"], counts["pending"], counts["crashed"]) == (1, 2, 0)


def test_sqlite_refuses_a_write_ahead_log_it_cannot_index_instead_of_reading_stale_data(
    tmp_path: Path,
) -> None:
    root = tmp_path / "run"
    _killed_worker(root, "sqlite")
    wal, index = root / "run.db-wal", root / "run.db-shm"
    assert wal.stat().st_size > 0  # the trials are only in the log
    index.unlink()  # as when only run.db and run.db-wal were archived
    with read_only(root) as view, pytest.raises(StorageError, match=r"run\.db-wal holds changes"):
        neps.status(view)
    assert neps.status(root).counts["pending"] == 2  # with write access, SQLite reads the log


CONTINUE = """
import sys
import neps_core as neps

try:
    neps.run(lambda x: x, root_directory=sys.argv[1], evaluations_to_spend=4)
except neps.StorageError as error:
    print("StorageError:", error)
"""


@pytest.mark.parametrize("locked", [".neps_core/journal.jsonl", "configs"])
def test_a_file_or_folder_without_write_permission_is_a_storage_error(
    tmp_path: Path, locked: str
) -> None:
    # A bare PermissionError: `except neps.StorageError` missed it.
    root = tmp_path / "run"
    neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=2, storage="disk")
    with (root / ".neps_core" / "journal.jsonl").open("ab") as journal:
        journal.write(b'{"torn')  # a killed writer's last line: the journal needs a repair
    (root / locked).chmod(0o555 if (root / locked).is_dir() else 0o444)
    # As a user without root's right to write anywhere (CI runs as root).
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"] if os.geteuid() == 0 else []
    try:
        done = subprocess.run(
            [*drop, sys.executable, "-c", CONTINUE, str(root)],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        (root / locked).chmod(0o755 if (root / locked).is_dir() else 0o644)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("StorageError: Could not ") and locked in done.stdout
