"""Moving a run from one storage to another, e.g. from ``disk`` to ``sqlite``.

Storage is chosen when a run starts and remembered in its root; to change it, the run is
copied to a new root with the storage wanted, and continued there with ``run()``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from neps_core.budget_file import copy_budgets
from neps_core.code_locations import named_plugins
from neps_core.component_spec import component_spec
from neps_core.errors import LiveWorkersError, MigrationError, StorageError, StorageInUseError
from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.live_workers import refuse_if_working
from neps_core.migration_marker import (
    MIGRATION_MARKER,
    describe_migration,
    lock_for_migration,
    unlock,
    write_source,
)
from neps_core.models import Trial, TrialState
from neps_core.plugin_manager import Plugins, load_plugins
from neps_core.presence import processes_present
from neps_core.run_storage import open_existing_run, open_storage, refuse_an_unfinished_migration
from neps_core.termination import signals_stop_the_worker
from neps_core.user_paths import user_path


def migrate_run(
    source_root: str | Path,
    destination_root: str | Path,
    storage: Any = "sqlite",
    *,
    stale_after: float = 120.0,
    plugins: object | Iterable[object] = (),
) -> list[Trial]:
    """Copy the run in ``source_root`` into a new run in ``destination_root`` using ``storage``.

    The run info (space, optimizer, seed), the recorded budgets, every trial in its latest
    version (state, report, timestamps, lineage) and every per-trial folder with the artifacts
    ``evaluate_pipeline`` left there are copied. The source is only read. Afterwards ``run(...,
    root_directory=destination_root)`` continues the run with the same budgets.

    Stop all workers of the source run first: while one is alive, the migration is refused
    (what it reports later would never reach the copy). A trial left EVALUATING by a worker
    that is gone is copied as PENDING, so that a worker of the destination evaluates it again
    (its ``attempts`` are kept).

    Args:
        source_root: The root directory of an existing run (any storage).
        destination_root: A root directory that does not exist yet or is empty.
        storage: The destination's storage, as in ``run(storage=...)``: ``"sqlite"``,
            ``"sqlite:////abs/path/run.db"``, ``"disk"`` or a mapping with options.
        stale_after: Seconds after which a worker of another machine that stopped
            heartbeating counts as gone (a process of this machine is known alive while it runs).
        plugins: Extra plugin objects (e.g. a third-party storage), as in ``run``.

    Returns:
        The trials as stored in the destination.

    Raises:
        FileNotFoundError: ``source_root`` holds no run.
        LiveWorkersError: A worker of the source is alive (named, with its trial), or one
            started while the source was being copied (named; the copy is removed).
        MigrationError: The destination is not empty (another migration may be writing
            there: it is left alone), is the source or inside it, or its storage already
            holds a run; or a trial's folder could not be copied (a full disk, a named pipe
            in it), naming the trial, the file and why (the copy is removed).
    """
    source = user_path(source_root, "source_root")
    destination = user_path(destination_root, "destination_root")
    if source.resolve() == destination.resolve():
        raise MigrationError(f"Cannot migrate {source} onto itself; choose a new directory")
    if source.resolve() in destination.resolve().parents:  # copying trial folders into itself
        raise MigrationError(
            f"Cannot migrate {source} into {destination}, which lies inside it (the source is "
            "only read); choose a directory outside the run"
        )
    _refuse_a_used_destination(destination)  # before anything is opened or created
    loaded = load_plugins(named_plugins(plugins, "migrate_run()"))
    with open_existing_run(source, loaded) as reader:  # never writes to the source
        present = processes_present(source)
        action = f"migrate {source}"
        history = reader.sync()
        copied_up_to = history.mark
        refuse_if_working(history, stale_after, action, "stale_after", present)
        # SIGTERM and SIGHUP remove the half-made copy, like Ctrl-C.
        with signals_stop_the_worker(), _reserved(destination, source):
            copied = _migrate(reader, source, destination, storage, loaded)
            _refuse_newcomers(reader.sync(), copied_up_to, source)  # the copy goes, if any
            return copied


def _refuse_newcomers(history: TrialHistory, mark: int, source: Path) -> None:
    """Raise ``LiveWorkersError`` if a worker started on ``source`` while it was copied.

    Nothing keeps workers out of the source meanwhile (it may be read-only to this
    process), so its presence (this machine's) and the trials changed since ``mark`` (any
    machine's) are looked at once the copy is made: what it reports would never reach the
    copy, which the caller then removes.
    """
    present = processes_present(source) or []
    changed = history.changed_since(mark)
    if not present and not changed:
        return
    who = [f"process(es) {', '.join(present)} of this machine present"] if present else []
    if changed:
        workers = sorted({w for w in (history[i].worker_id for i in changed) if w is not None})
        by = f" by worker(s) {', '.join(workers)}" if workers else ""
        who.append(f"trial(s) {_ids(changed)} new or changed{by}")
    raise LiveWorkersError(
        f"Refusing to migrate {source}: a worker started on the run while it was being copied "
        f"({'; '.join(who)}), so the copy is removed. Stop it (or let it finish), then "
        "migrate again."
    )


def _ids(trial_ids: list[str]) -> str:
    """``trial_ids`` for a message: the first and last of many."""
    return ", ".join(trial_ids) if len(trial_ids) <= 3 else f"{trial_ids[0]} to {trial_ids[-1]}"


def _migrate(
    reader: Storage, source: Path, destination: Path, storage: Any, loaded: Plugins
) -> list[Trial]:
    try:
        writer = open_storage(
            destination, component_spec(storage, "storage"), loaded, migrating=True
        )
    except StorageInUseError as error:
        raise MigrationError(str(error)) from error
    with writer:
        copied = _copy(reader, writer)
        copy_budgets(source, destination)
    return copied


def _refuse_a_used_destination(destination: Path) -> None:
    """Raise ``MigrationError`` if ``destination`` holds anything (a migration included)."""
    try:
        refuse_an_unfinished_migration(destination)
    except StorageError as error:
        raise MigrationError(str(error)) from None
    if destination.exists() and any(destination.iterdir()):
        raise MigrationError(
            f"The destination {destination} is not empty; migrate into a new directory"
        )


@contextlib.contextmanager
def _reserved(destination: Path, source: Path) -> Iterator[None]:
    """Hold ``destination`` for this migration alone (see ``migration_marker``) while the
    block writes there; if it fails, remove what it wrote. Only the holder may write or
    clean up there.

    Raises:
        MigrationError: Another process holds or used ``destination``; nothing is removed.
    """
    created = _missing_directories(destination)
    destination.mkdir(parents=True, exist_ok=True)
    try:
        lock = lock_for_migration(destination)
    except BlockingIOError:
        raise MigrationError(describe_migration(destination, "running", None)) from None
    try:
        _mark(destination, source, lock)
        try:
            yield
        except BaseException:
            _remove_partial(destination)
            (destination / MIGRATION_MARKER).unlink(missing_ok=True)  # not to hide the error
            with contextlib.suppress(OSError):  # someone else's file arrived meanwhile
                for directory in created:  # the destination first, then the parents made for it
                    directory.rmdir()
            raise
        (destination / MIGRATION_MARKER).unlink()  # last: the copy is complete
    finally:
        if lock is not None:
            os.close(lock)


def _missing_directories(destination: Path) -> list[Path]:
    """``destination`` and its parents that do not exist yet, deepest first: the ones a failed
    migration removes again, so that it leaves no empty directories behind."""
    missing = []
    for directory in (destination, *destination.parents):
        if directory.exists():
            break
        missing.append(directory)
    return missing


def _mark(destination: Path, source: Path, lock: int | None) -> None:
    """Create the marker of a migration from ``source`` in the empty ``destination``.

    Raises:
        MigrationError: Another migration (or its marker) or other files are there; this
            one leaves nothing behind but an empty ``destination``.
    """
    try:
        marker = os.open(destination / MIGRATION_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        unlock(lock)  # held, it would show a migration stopped half-way as running
        _refuse_a_used_destination(destination)
        raise MigrationError(f"Another process migrated into {destination} meanwhile") from None
    try:
        write_source(marker, source)
    finally:
        os.close(marker)
    if [child.name for child in destination.iterdir()] != [MIGRATION_MARKER]:
        (destination / MIGRATION_MARKER).unlink()
        raise MigrationError(
            f"The destination {destination} is not empty; migrate into a new directory"
        )


def _copy(reader: Storage, writer: Storage) -> list[Trial]:
    if writer.exists() or len(writer.sync()) > 0:
        raise MigrationError(
            f"The storage of {writer.root_directory} already holds a run (is a sqlite:/// URL "
            "pointing at an existing database?); migrate into a fresh one"
        )
    info = reader.load_info()
    assert info is not None
    trials = [_continuable(trial) for trial in reader.sync().values()]
    for trial in trials:
        folder = reader.trial_directory(trial.id)
        if folder.is_dir():
            # A link stays a link: one to a data set is not copied in full, a dangling one
            # is no error.
            _copy_folder(trial.id, folder, writer.trial_directory(trial.id))
    # The copy is a run of its own root: a database given by URL tells it from the source.
    writer.initialize(attrs.evolve(info, root_directory=str(writer.root_directory.resolve())))

    def change(history: TrialHistory) -> list[Trial]:
        if len(history) > 0:
            raise MigrationError(f"Another process wrote to {writer.root_directory} meanwhile")
        return trials

    return writer.transact(change)


def _copy_folder(trial_id: str, folder: Path, target: Path) -> None:
    """Copy a trial's folder; a file that cannot be copied (a full disk, a named pipe) is a
    ``MigrationError`` naming the trial, the file and why, not ``shutil``'s list of tuples."""
    try:
        shutil.copytree(folder, target, symlinks=True, dirs_exist_ok=True)
        _let_the_owner_write(target)
    except OSError as error:
        raise MigrationError(
            f"Could not copy the folder {folder} of trial {trial_id}: {_why(error)}; the copy "
            "is removed, the source left as it was"
        ) from error


def _why(error: OSError) -> str:
    """The first failure of a ``copytree`` (which goes on past a failed file, then lists them
    all as ``(source, destination, reason)``), with their number; else ``error`` itself."""
    failures = error.args[0] if isinstance(error, shutil.Error) and error.args else None
    if not isinstance(failures, list) or not failures:
        return str(error)
    source, _, reason = failures[0]
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return f"{source}: {reason}{more}"


def _let_the_owner_write(folder: Path) -> None:
    """Add ``u+w`` to what ``copytree`` copied with its mode: a copy of an archived, read-only
    run must take the config files of its trials and their re-run evaluation's files."""
    for directory, _, files in os.walk(folder):
        for path in (Path(directory), *(Path(directory) / name for name in files)):
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _continuable(trial: Trial) -> Trial:
    """A trial as the destination should see it: an interrupted evaluation is re-queued."""
    if trial.state is not TrialState.EVALUATING:
        return trial
    return attrs.evolve(
        trial,
        state=TrialState.PENDING,
        worker_id=None,
        metadata={**trial.metadata, "requeued_because": "migrated while evaluating"},
    )


def _remove_partial(destination: Path) -> None:
    """Undo a failed migration, which reserved the empty ``destination``: all but its marker,
    which goes last (removed, the directory may be reserved by another migration)."""
    for child in destination.iterdir():
        if child.name == MIGRATION_MARKER:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
