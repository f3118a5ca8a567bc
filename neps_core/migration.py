"""Moving a run from one storage to another, e.g. from ``disk`` to ``sqlite``.

Storage is chosen when a run starts and remembered in its root; to change it, the run is
copied to a new root with the storage wanted, and continued there with ``run()``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from neps_core.budget_file import copy_budgets
from neps_core.config import component_spec
from neps_core.errors import NepsCoreError, StorageInUseError
from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.models import Trial, TrialState
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_existing_run, open_storage


class MigrationError(NepsCoreError):
    """A run cannot be migrated; the message says which root and why."""


def migrate_run(
    source_root: str | Path,
    destination_root: str | Path,
    storage: Any = "sqlite",
    *,
    plugins: Iterable[object] = (),
) -> list[Trial]:
    """Copy the run in ``source_root`` into a new run in ``destination_root`` using ``storage``.

    The run info (space, optimizer, seed), the recorded budgets, every trial in its latest
    version (state, report, timestamps, lineage) and every per-trial folder with the artifacts
    ``evaluate_pipeline`` left there are copied. The source is only read. Afterwards ``run(...,
    root_directory=destination_root)`` continues the run with the same budgets.

    Stop all workers of the source run first: a trial still EVALUATING is copied as PENDING,
    so that a worker of the destination evaluates it again (its ``attempts`` are kept).

    Args:
        source_root: The root directory of an existing run (any storage).
        destination_root: A root directory that does not exist yet or is empty.
        storage: The destination's storage, as in ``run(storage=...)``: ``"sqlite"``,
            ``"sqlite:////abs/path/run.db"``, ``"disk"`` or a mapping with options.
        plugins: Extra plugin objects (e.g. a third-party storage), as in ``run``.

    Returns:
        The trials as stored in the destination.

    Raises:
        FileNotFoundError: ``source_root`` holds no run.
        MigrationError: The destination is not empty, is the source or inside it, or its
            storage already holds a run.
    """
    source, destination = Path(source_root), Path(destination_root)
    if source.resolve() == destination.resolve():
        raise MigrationError(f"Cannot migrate {source} onto itself; choose a new directory")
    if source.resolve() in destination.resolve().parents:  # copying trial folders into itself
        raise MigrationError(
            f"Cannot migrate {source} into {destination}, which lies inside it (the source is "
            "only read); choose a directory outside the run"
        )
    if destination.exists() and any(destination.iterdir()):
        raise MigrationError(
            f"The destination {destination} is not empty; migrate into a new directory"
        )
    loaded = load_plugins(plugins)
    reader = open_existing_run(source, loaded)  # never writes to the source
    existed = destination.exists()
    try:
        writer = open_storage(destination, component_spec(storage, "storage"), loaded)
    except StorageInUseError as error:
        reader.close()
        raise MigrationError(str(error)) from error
    except BaseException:
        reader.close()
        raise
    try:
        copied = _copy(reader, writer)
        copy_budgets(source, destination)
    except BaseException:
        writer.close()
        reader.close()
        _remove_partial(destination, existed)
        raise
    writer.close()
    reader.close()
    return copied


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
            shutil.copytree(folder, writer.trial_directory(trial.id), dirs_exist_ok=True)
    # The copy is a run of its own root: a database given by URL tells it from the source.
    writer.initialize(attrs.evolve(info, root_directory=str(writer.root_directory.resolve())))

    def change(history: TrialHistory) -> list[Trial]:
        if len(history) > 0:
            raise MigrationError(f"Another process wrote to {writer.root_directory} meanwhile")
        return trials

    return writer.transact(change)


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


def _remove_partial(destination: Path, existed: bool) -> None:
    """Undo a failed migration: the destination was absent or empty before."""
    if not existed:
        shutil.rmtree(destination, ignore_errors=True)
        return
    for child in destination.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
