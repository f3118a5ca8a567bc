"""``overwrite_root_directory=True`` stopped half-way (SIGTERM, a job's time limit, an error):
the root says so, and the next overwrite, or ``neps-core clean``, finishes the job.

The old run is moved aside (one rename each) before anything is deleted; deleting it in
place, journal first, had left a run without its journal that every open blamed on a copy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.cli.clean import clean_run
from neps_core.errors import StorageError
from neps_core.run_storage import OVERWRITE_MOVING, OVERWRITE_TRASH

SPACE = {"x": neps.Float(0.0, 1.0)}


def _run(root: Path, storage: str, evaluations: int, *, overwrite: bool = False) -> neps.Summary:
    return neps.run(
        lambda x: x,
        SPACE,
        root_directory=root,
        storage=storage,
        evaluations_to_spend=evaluations,
        overwrite_root_directory=overwrite,
    )


@contextlib.contextmanager
def _immutable(path: Path) -> Iterator[None]:
    """``path`` made immutable for real, so that an overwrite stops half-way (root ignores
    permissions; nothing else stops a rename)."""
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="chattr +i needs root")
@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_an_overwrite_stopped_half_way_says_so_and_the_next_one_finishes_it(
    root: Path, storage: str, caplog: pytest.LogCaptureFixture
) -> None:
    _run(root, storage, 3)
    stopped = r"overwrite_root_directory=True was stopped while deleting the run"
    with _immutable(root / "summary.yaml"), caplog.at_level(logging.ERROR):
        with pytest.raises(PermissionError):
            _run(root, storage, 2, overwrite=True)
        assert "stopped before it finished: run again with overwrite_root_directory" in (
            caplog.text
        )
        assert (root / OVERWRITE_MOVING).is_dir()
        # Not "holds a run but not its journal; was it copied without hidden folders?"
        with pytest.raises(StorageError, match=stopped):
            neps.status(root)
        with pytest.raises(StorageError, match=stopped):
            _run(root, storage, 5)  # continuing what is left
    summary = _run(root, storage, 2, overwrite=True)
    assert summary.counts["success"] == 2
    assert neps.status(root).budget.used_evaluations == 2
    assert not (root / OVERWRITE_MOVING).exists()
    assert not (root / OVERWRITE_TRASH).exists()


def test_what_a_stopped_overwrite_left_to_delete_is_no_run_and_is_deleted_later(
    root: Path,
) -> None:
    """Stopped once everything was moved aside, only deleting was left: the root holds no
    run, a new one starts there, and ``clean`` (or the next overwrite) deletes the rest."""
    left = root / OVERWRITE_TRASH / "configs" / "config_1"
    left.mkdir(parents=True)
    (left / "config.yaml").write_text("x: 0.5\n")
    assert _run(root, "disk", 2).counts["success"] == 2
    report = clean_run(root, stale_after=60.0, dry_run=False)
    assert report.removed_files == (root / OVERWRITE_TRASH,)
    assert not (root / OVERWRITE_TRASH).exists()
    left.mkdir(parents=True)
    assert _run(root, "disk", 1, overwrite=True).counts["success"] == 1
    assert not (root / OVERWRITE_TRASH).exists()
    # A root holding nothing but the leftover is no folder of the user's own either.
    other = root.parent / "other"
    (other / OVERWRITE_TRASH).mkdir(parents=True)
    assert _run(other, "disk", 1, overwrite=True).counts["success"] == 1
    assert not (other / OVERWRITE_TRASH).exists()


#: A worker whose storage's ``erase`` gets a real SIGTERM (``terminate``), as ``scancel`` or a
#: job's time limit sends it: half-way through the overwrite, the old run moved aside.
WORKER = """
import os, signal, sys
import neps_core as neps
from neps_core_plugins.disk_storage import DiskStorage

class TerminatedWhileErasing(DiskStorage):
    name = "terminated_while_erasing"

    def erase(self):
        if sys.argv[1] == "terminate":
            os.kill(os.getpid(), signal.SIGTERM)

class Plugin:
    @neps.hookimpl
    def neps_register_storages(self):
        return [TerminatedWhileErasing]

neps.run(
    lambda x: x,
    {"x": neps.Float(0.0, 1.0)},
    root_directory="results",
    storage="terminated_while_erasing",
    evaluations_to_spend=int(sys.argv[2]),
    overwrite_root_directory=sys.argv[1] != "start",
    plugins=[Plugin()],
)
"""


def test_a_sigterm_during_an_overwrite_stops_it_saying_what_to_do(root: Path) -> None:
    """It ended with status 143 and nothing on stderr, the run half-deleted, journal first."""
    (root.parent / "worker.py").write_text(WORKER, encoding="utf-8")

    def worker(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "worker.py", *arguments]
        return subprocess.run(command, check=False, cwd=root.parent, capture_output=True, text=True)

    assert worker("start", "3").returncode == 0
    stopped = worker("terminate", "2")
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert "stopped before it finished: run again with overwrite_root_directory" in stopped.stderr
    with pytest.raises(StorageError, match=r"was stopped while deleting the run .* run again"):
        neps.status(root)
    assert worker("finish", "2").returncode == 0
    assert sorted(p.name for p in (root / "configs").iterdir()) == ["config_1", "config_2"]
    assert not (root / OVERWRITE_MOVING).exists()
    assert not (root / OVERWRITE_TRASH).exists()


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_an_overwrite_stopped_once_all_was_moved_aside_says_so_to_every_reader(
    root: Path, storage: str
) -> None:
    """Killed (SIGKILL) after moving ``storage.yaml`` too, before renaming the folder to
    ``OVERWRITE_TRASH``: ``status``, ``clean`` and ``load_config`` said "No neps_core run" (only
    ``run()`` said the overwrite was stopped), though the old run was intact beside it."""
    _run(root, storage, 3)
    moving = root / OVERWRITE_MOVING
    moving.mkdir()
    for entry in [p for p in root.iterdir() if p != moving]:  # what the killed overwrite left
        entry.rename(moving / entry.name)
    stopped = r"overwrite_root_directory=True was stopped while deleting the run .* run again"
    with pytest.raises(StorageError, match=stopped):
        neps.status(root)
    with pytest.raises(StorageError, match=stopped):
        neps.load_config(root, config_id="1")
    with pytest.raises(StorageError, match=stopped):
        clean_run(root, stale_after=60.0, dry_run=True)
    command = [sys.executable, "-m", "neps_core", "status", str(root)]
    shown = subprocess.run(command, check=False, capture_output=True, text=True)
    assert shown.returncode == 1
    assert re.search(stopped, shown.stderr), shown.stderr
    assert _run(root, storage, 2, overwrite=True).counts["success"] == 2
    assert not (root / OVERWRITE_MOVING).exists()
