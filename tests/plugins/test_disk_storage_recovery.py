"""The disk storage under damage: edited views, damaged journal records, full and read-only disks.

Full and read-only disks are real: a small tmpfs mounted for the test (the suite runs as root
in CI). Where mounting is not permitted, the same scenario runs with the journal's file
handle patched to fail the way a full disk does.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import neps_core as neps
from neps_core.component_spec import ComponentSpec
from neps_core.errors import StorageError
from neps_core.models import RunInfo
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import create_run, open_storage
from neps_core.testing._storage_workers import child_environment
from neps_core_plugins.disk_storage import DiskStorage
from neps_core_plugins.disk_storage.journal import Journal

SPACE = {"x": neps.Float(0.0, 1.0)}


def _run(root: Path, budget: int, **kwargs: object) -> neps.Summary:
    return neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=budget, **kwargs)


def _journal(root: Path) -> Path:
    return root / ".neps_core" / "journal.jsonl"


def test_edited_or_truncated_report_files_do_not_change_the_run(tmp_path: Path) -> None:
    root = tmp_path / "run"
    first = _run(root, 3)
    (root / "configs" / "config_1" / "report.yaml").write_text("objective_to_minimize: [unclosed")
    (root / "configs" / "config_2" / "report.yaml").write_text("")
    summary = _run(root, 5)
    assert summary.counts["success"] == 5
    assert neps.status(root).best_objective == min(
        first.best_objective or 1.0, summary.best_objective or 1.0
    )


def test_a_damaged_journal_record_marks_its_trial_corrupted(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _run(root, 3)
    lines = _journal(root).read_text().splitlines()
    record = json.loads(lines[-1])
    record["state"] = "exploded"  # valid JSON, not a valid trial
    _journal(root).write_text("\n".join([*lines[:-1], json.dumps(record)]) + "\n")

    summary = _run(root, 5)
    assert summary.counts["corrupted"] == 1
    with open_storage(root, None, load_plugins()) as storage:
        damaged = storage.sync()[record["id"]]
    assert "expected TrialState @ trial.state" in str(damaged.report.error)  # the field
    assert summary.counts["success"] == 4
    assert summary.budget.used_evaluations == 5


def test_garbage_inside_the_journal_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _run(root, 2)
    lines = _journal(root).read_text().splitlines()
    _journal(root).write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    with pytest.raises(StorageError, match=r"journal\.jsonl, line 2"):
        neps.status(root)
    with pytest.raises(StorageError, match=r"journal\.jsonl, line 2:"):  # run() read twice: 4
        _run(root, 3)


def test_a_journal_record_without_its_trial_id_is_named_by_line_and_field(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _run(root, 2)
    lines = _journal(root).read_text().splitlines()
    _journal(root).write_text("\n".join([*lines, json.dumps({"state": "success"})]) + "\n")
    expected = (
        rf"journal\.jsonl, line {len(lines) + 1}: .*damaged: required field missing @ trial\.id"
    )
    with pytest.raises(StorageError, match=expected):
        neps.status(root)


@pytest.mark.parametrize("text", ["", "# emptied\n"])
def test_an_empty_run_info_file_is_named_empty(tmp_path: Path, text: str) -> None:
    root = tmp_path / "run"
    _run(root, 2)
    (root / "run_info.yaml").write_text(text)
    with pytest.raises(StorageError, match=r"run_info\.yaml is empty; it should hold the space"):
        neps.status(root)


def test_a_damaged_run_info_file_is_one_line_naming_it_the_place_and_a_way_out(
    tmp_path: Path,
) -> None:
    root = tmp_path / "run"
    _run(root, 2)
    (root / "run_info.yaml").write_text("space:\n  x: [1, 2\noptimizer: random\n")
    done = subprocess.run(
        [sys.executable, "-m", "neps_core.cli", "status", str(root)],
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    error = done.stderr.splitlines()[0]
    assert error.startswith(f"neps-core: error: {root / 'run_info.yaml'} is damaged")
    assert "line 3, column 10" in error and "overwrite_root_directory=True" in error
    assert "<unicode string>" not in done.stderr


@contextlib.contextmanager
def _small_tmpfs(directory: Path, size: str) -> Iterator[bool]:
    """Mount a tmpfs of ``size`` on ``directory``; yields False where mounting is not allowed."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(directory)], check=False)


def _remount(directory: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(directory)], check=True)


class _FullDisk:
    """Stands in for the journal's file handle on machines where tmpfs cannot be mounted."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))


def test_a_full_disk_stops_the_run_cleanly_and_loses_no_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount_point = tmp_path / "small"
    with _small_tmpfs(mount_point, "160k") as mounted:
        root = mount_point / "run"
        payload = "x" * 4000
        budget = 40  # the disk is full after some 5 trials (about 20 records where simulated)

        def evaluate_pipeline(x: float) -> dict[str, object]:
            return {"objective_to_minimize": x, "extra": {"payload": payload}}

        if not mounted:
            original_append = Journal.append
            calls = {"n": 0}

            def append_until_full(self: Journal, records: list[dict[str, object]]) -> None:
                calls["n"] += 1
                if calls["n"] > 20:
                    self._writer = _FullDisk(self.path)  # type: ignore[assignment]
                original_append(self, records)

            monkeypatch.setattr(Journal, "append", append_until_full)
        with pytest.raises(OSError, match=r"No space left on device") as raised:
            neps.run(
                evaluate_pipeline,
                SPACE,
                root_directory=root,
                evaluations_to_spend=budget,
                heartbeat_interval=0.1,
                stale_after=0.5,
            )
        assert str(root) in str(raised.value)
        reported = neps.status(root).counts["success"]
        assert reported > 0

        monkeypatch.undo()
        if mounted:
            _remount(mount_point, "size=20m")
        else:
            _journal(root).write_bytes(_journal(root).read_bytes())  # nothing to free
        summary = neps.run(
            evaluate_pipeline,
            SPACE,
            root_directory=root,
            evaluations_to_spend=budget,
            heartbeat_interval=0.1,
            stale_after=0.5,
            continue_until_max_evaluation_completed=True,
        )
        assert summary.counts["success"] >= reported
        assert summary.budget.used_evaluations == summary.budget.evaluations_to_spend
        assert summary.counts["evaluating"] == summary.counts["pending"] == 0


def test_a_read_only_file_system_is_a_clear_error(tmp_path: Path) -> None:
    mount_point = tmp_path / "ro"
    with _small_tmpfs(mount_point, "4m") as mounted:
        root = mount_point / "run"
        _run(root, 3)
        if mounted:
            _remount(mount_point, "ro")
        else:
            _journal(root).chmod(0o444)
            _journal(root).with_name("journal.jsonl.lock").chmod(0o444)
        with pytest.raises(OSError, match=r"(Read-only file system|Permission denied)") as raised:
            _run(root, 5)
        assert str(root) in str(raised.value)
        assert neps.status(root).counts["success"] == 3


def test_files_a_killed_writer_left_out_are_written_by_the_next_run(tmp_path: Path) -> None:
    """The journal holds the result; a kill before the views leaves them missing."""
    root = tmp_path / "run"
    _run(root, 3)
    trial = root / "configs" / "config_2"
    expected = {name: (trial / name).read_text() for name in ("metadata.yaml", "report.yaml")}
    for name in expected:  # what a SIGKILL between journal and views leaves behind
        (trial / name).unlink()
    _run(root, 4)
    assert {name: (trial / name).read_text() for name in expected} == expected


def test_files_a_killed_writer_left_out_are_written_by_a_worker_already_running(
    tmp_path: Path,
) -> None:
    """Each process looked once, at its first write: the workers still running never did."""
    root = tmp_path / "run"
    _run(root, 2)
    writer, running = (open_storage(root, None, load_plugins()) for _ in range(2))
    running.transact(lambda history: [])  # its first look: nothing missing then
    third = attrs.evolve(writer.sync()["2"], id="3")
    writer.transact(lambda history: [third])
    folder = root / "configs" / "config_3"
    expected = {name: (folder / name).read_text() for name in ("metadata.yaml", "report.yaml")}
    for name in expected:  # what a SIGKILL of the writer between journal and views leaves
        (folder / name).unlink()
    running.transact(lambda history: [])
    assert {name: (folder / name).read_text() for name in expected} == expected
    writer.close()
    running.close()


def test_a_run_copied_without_its_journal_is_refused(tmp_path: Path) -> None:
    """``cp -r run/* copy/`` leaves ``.neps_core`` out: the copy must not start over."""
    root = tmp_path / "run"
    _run(root, 3)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".neps_core"))
    with pytest.raises(StorageError, match=r"not its journal .*journal\.jsonl.*cp -r run/\."):
        _run(copy, 5)
    with pytest.raises(StorageError, match="not its journal"):
        neps.status(copy)
    assert sorted(p.name for p in (copy / "configs").iterdir()) == [
        "config_1",
        "config_2",
        "config_3",
    ]  # nothing was added among the old files
    assert _run(copy, 2, overwrite_root_directory=True).counts["success"] == 2


def test_a_first_trial_stored_meanwhile_is_not_taken_for_a_lost_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The heartbeat thread opens the storage while the worker stores its first trial: it saw
    # no journal yet, then the trial's new folder, and died of "holds a run but not its
    # journal"; the worker's trials then got no heartbeats. The worker stores the trial (its
    # record, then its folder) right after the storage's first look at either.
    root = tmp_path / "run"
    _run(root, 1)
    record = _journal(root).read_bytes()
    _journal(root).unlink()
    shutil.rmtree(root / "configs")
    stored: list[Path] = []

    def store_the_first_trial(looked_at: Path) -> None:
        if not stored and looked_at in (_journal(root), root):
            stored.append(looked_at)
            _journal(root).write_bytes(record)
            (root / "configs" / "config_1").mkdir(parents=True)

    real_exists, real_glob = Path.exists, Path.glob

    def exists(path: Path) -> bool:
        found = real_exists(path)
        store_the_first_trial(path)
        return found

    def glob(path: Path, pattern: str) -> Any:
        found = list(real_glob(path, pattern))
        if pattern.startswith("configs/"):
            store_the_first_trial(path)
        return iter(found)

    monkeypatch.setattr(Path, "exists", exists)
    monkeypatch.setattr(Path, "glob", glob)
    storage = open_storage(root, None, load_plugins())
    storage.close()
    assert stored  # the storage looked, and the trial was stored meanwhile


def test_a_last_record_without_its_newline_is_kept(tmp_path: Path) -> None:
    """An editor that drops the final newline must not cost the last result."""
    root = tmp_path / "run"
    _run(root, 3)
    journal = _journal(root)
    journal.write_bytes(journal.read_bytes().rstrip(b"\n"))
    summary = _run(root, 4)
    assert summary.counts["success"] == 4 and summary.counts["evaluating"] == 0
    assert not journal.with_suffix(".torn").exists()
    assert journal.read_bytes().endswith(b"\n")


def test_readers_see_a_last_record_without_its_newline_too(tmp_path: Path) -> None:
    """``status`` showed the last trial still evaluating, and ``migrate`` copied it so, while
    the next writer keeps that record: readers only parsed up to the last newline."""
    root = tmp_path / "run"
    _run(root, 3)
    journal = _journal(root)
    journal.write_bytes(journal.read_bytes().rstrip(b"\n"))
    before = journal.read_bytes()
    status = neps.status(root)
    assert status.counts["success"] == 3 and status.counts["evaluating"] == 0
    assert journal.read_bytes() == before  # a reader does not repair


_NEW_RUN = """
import sys
import neps_core as neps
neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
         evaluations_to_spend=2, seed=1)
"""


def test_a_client_of_a_deleted_root_does_not_touch_the_new_run_in_it(tmp_path: Path) -> None:
    # The old client's lock was on the deleted lock file and excluded nobody; its repair of
    # the new journal's torn tail, at its own (larger) offset, cut the file *up* to that
    # offset: 10 kB of NUL bytes in the new run's journal, then "deleted or replaced".
    root = tmp_path / "run"
    client = neps.AskAndTell(SPACE, root, optimizer="random_search", seed=0)
    for _ in range(15):
        asked = client.ask()
        assert asked is not None
        client.tell(asked, asked.config["x"])
    held = client.ask()
    shutil.rmtree(root)
    subprocess.run([sys.executable, "-c", _NEW_RUN, str(root)], check=True, env=child_environment())
    with _journal(root).open("ab") as journal:  # a worker of the new run killed mid-line
        journal.write(b'{"id":"3","conf')
    before = _journal(root).read_bytes()
    with pytest.raises(StorageError) as refused:
        client.tell(held, 0.5)
    assert _journal(root).read_bytes() == before
    assert "deleted or replaced under this process" in str(refused.value)
    assert str(root / ".neps_core" / "journal.jsonl.lock") in str(refused.value)
    assert not _journal(root).with_suffix(".torn").exists()
    client.close()
    assert neps.status(root).counts["success"] == 2


def test_a_journal_repairs_only_the_file_it_read(tmp_path: Path) -> None:
    """A forked child of an old process opens the lock afresh; the journal itself refuses."""
    root = tmp_path / "run"
    _run(root, 6)
    old = Journal(_journal(root))
    assert len(list(old.read_new())) > 0
    shutil.rmtree(root)
    _run(root, 1)
    with _journal(root).open("ab") as journal:
        journal.write(b'{"id":"2","conf')
    before = _journal(root).read_bytes()
    with old.lock.held(), pytest.raises(StorageError, match=r"journal\.jsonl was deleted or"):
        old.repair_torn_tail()
    assert _journal(root).read_bytes() == before
    old.close()


def _fill(directory: Path, leaving_pages: int) -> Path:
    """Fill the file system of ``directory`` but ``leaving_pages`` pages of 4 KiB."""
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(descriptor, b"x" * 4096)
    finally:
        os.close(descriptor)
    os.truncate(filler, max(0, filler.stat().st_size - 4096 * leaving_pages))
    return filler


def test_a_full_disk_when_a_run_starts_is_a_storage_error_naming_the_file(tmp_path: Path) -> None:
    # Writing storage.yaml or run_info.yaml raised a raw OSError, and a storage.yaml written
    # before run_info.yaml failed stayed behind.
    mount_point = tmp_path / "small"
    with _small_tmpfs(mount_point, "64k") as mounted:
        if not mounted:
            pytest.skip("a full disk needs a tmpfs, which only root may mount")
        root = mount_point / "run"
        filler = _fill(mount_point, leaving_pages=0)
        with pytest.raises(StorageError, match=f"No space left on device: {root}/storage.yaml"):
            _run(root, 1)
        _fill(mount_point, leaving_pages=1)  # storage.yaml fits, run_info.yaml does not
        with pytest.raises(StorageError, match=f"No space left on device: {root}/run_info.yaml"):
            _run(root, 1)
        assert not (root / "storage.yaml").exists()
        filler.unlink()
        _remount(mount_point, "size=4m")  # room for SQLite's log too
        assert _run(root, 2, storage="sqlite").counts["success"] == 2  # another storage, too


def test_a_worker_failing_to_create_a_run_leaves_the_storage_yaml_another_wrote(
    tmp_path: Path,
) -> None:
    # *Review*: any failed creation removed storage.yaml while the storage held no run, also
    # the one worker A had just written and was starting the run on: the root came unbound.
    root, plugins = tmp_path / "run", load_plugins()
    info = RunInfo(space={}, optimizer="random_search", optimizer_settings={}, seed=None)
    first = open_storage(root, ComponentSpec("disk"), plugins)  # writes storage.yaml
    other = open_storage(root, ComponentSpec("disk"), plugins)  # finds it

    def cannot_write_here(info: RunInfo) -> RunInfo:  # a read-only mount on its node, say
        raise PermissionError(errno.EACCES, "Permission denied", str(root / ".neps_core"))

    other.initialize = cannot_write_here  # type: ignore[method-assign]
    with pytest.raises(StorageError, match="Permission denied"):
        create_run(other, info)
    assert (root / "storage.yaml").is_file()
    create_run(first, info)
    first.close()
    other.close()
    with pytest.raises(neps.SettingsError, match="was started with storage"):
        neps.run(lambda x: x, {"x": neps.Float(0, 1)}, root_directory=root, storage="sqlite")


class ComparedByRoot(DiskStorage):  # noqa: PLW1641 - unhashable on purpose
    """A storage defining ``__eq__`` without ``__hash__`` (as attrs classes do): unhashable."""

    name = "compared_by_root"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ComparedByRoot) and other.root_directory == self.root_directory


class ComparedByRootPlugin:
    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        return [ComparedByRoot]


def test_an_unhashable_storage_starts_a_run(tmp_path: Path) -> None:
    # *Review*: the set of storages that wrote storage.yaml needed them hashable: TypeError.
    summary = neps.run(
        lambda x: x,
        {"x": neps.Float(0, 1)},
        root_directory=tmp_path / "run",
        evaluations_to_spend=2,
        storage="compared_by_root",
        plugins=[ComparedByRootPlugin()],
    )
    assert summary.counts["success"] == 2
