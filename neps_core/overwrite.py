"""Deleting a run for ``overwrite_root_directory=True``: what the run wrote, never the user's files.

A run may share its root with the user's project (``root_directory="."`` next to a run
config and its code): the overwrite deletes the entries runs write and keeps the others.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from neps_core.distributed import CHANNEL_DIRECTORY
from neps_core.errors import SettingsError, UnknownPluginError, add_note
from neps_core.interfaces import Storage
from neps_core.live_workers import refuse_if_alive
from neps_core.neps_results import NEPS_CORE_RECORDS, is_neps_results_directory
from neps_core.plot_defaults import PLOT_FILES
from neps_core.plugin_manager import Plugins
from neps_core.presence import WORKERS_LOCK
from neps_core.run_storage import (
    OVERWRITE_MOVING,
    OVERWRITE_TRASH,
    RUN_FILES,
    STORAGE_POINTER_FILE,
    open_storage,
    refuse_an_unfinished_migration,
)
from neps_core.summary_folder import SUMMARY_FOLDER, SUMMARY_FOLDER_FILES
from neps_core.tblogger import EVENT_FILES, INCUMBENT_DIRECTORY
from neps_core.termination import signals_stop_the_worker

logger = logging.getLogger(__name__)

#: What a run (of a built-in storage) writes into its root: the only entries an overwrite may
#: delete, beside those its storage declares (``Storage.root_entries``). Without
#: ``storage.yaml``, only beside a record of a run (``NEPS_CORE_RECORDS``, or trial folders
#: ``configs/config_*``).
MADE_BY_A_RUN = frozenset(
    {
        *RUN_FILES,
        STORAGE_POINTER_FILE,
        WORKERS_LOCK.parts[0],
        CHANNEL_DIRECTORY,
        "run_info.yaml",
        "plots",
        SUMMARY_FOLDER,
        "tensorboard",
        INCUMBENT_DIRECTORY,
        "run.db",
        "run.db-wal",
        "run.db-shm",
    }
)


def overwrite_run(
    root: Path, plugins: Plugins, stale_after: float, *, erase: bool = True, alone: bool = False
) -> None:
    """Delete the run in ``root``: its storage's data (wherever it lives), then what the run
    wrote into the root. The user's own files there stay (a NePS results directory is all run).

    The presence lock file stays, so workers arriving meanwhile wait for the lock the
    overwrite holds, rather than create a new lock file and delete the run in parallel.
    ``erase=False`` only checks that it may be deleted.

    Raises:
        LiveWorkersError: A worker heartbeated within its own ``stale_after`` (this one's
            where it recorded none); deleting the run under it would lose its result (or
            write it into the deleted run).
    """
    root = Path(root)
    refuse_an_unfinished_migration(root)
    _refuse_to_erase_no_run(root)
    made: frozenset[str] | None = None if is_neps_results_directory(root) else MADE_BY_A_RUN
    if not (root / STORAGE_POINTER_FILE).is_file():
        if erase and root.exists():
            _erase(root, made, lambda: None)
        return
    with _storage_to_delete(root, plugins) as storage:
        present: list[str] | None = [] if alone else None  # alone: no worker here lives
        history = storage.sync()
        refuse_if_alive(history, stale_after, f"overwrite {root}", "stale_after", present)
        declared = type(storage).root_entries
        made = None if declared is None else MADE_BY_A_RUN | declared
        if erase:
            storage.close()  # its files in the root are moved next
            _erase(root, made, storage.erase)


def _erase(root: Path, made: frozenset[str] | None, erase_storage: Callable[[], None]) -> None:
    """Move what runs wrote into ``OVERWRITE_MOVING`` (a rename each), erase the storage's
    data elsewhere, move ``storage.yaml`` last, then rename the folder to ``OVERWRITE_TRASH``
    and delete that.

    Deleting in place, journal first, a SIGTERM half-way (a time limit) left a run without
    its journal, which every later open blamed on a copy. Now a stopped overwrite leaves
    ``OVERWRITE_MOVING``, which makes every open say so; or ``OVERWRITE_TRASH``, no part of
    any run, which the next overwrite or ``neps-core clean`` deletes.
    """
    moving, trash = root / OVERWRITE_MOVING, root / OVERWRITE_TRASH
    with signals_stop_the_worker():  # SIGTERM raises, so the user is told what to do
        try:
            for leftover in (moving, trash):  # of an earlier overwrite stopped half-way
                if leftover.exists():
                    _delete(leftover)
            moving.mkdir()
            _move_what_runs_wrote(root, made, moving)
            erase_storage()
            with contextlib.suppress(FileNotFoundError):
                (root / STORAGE_POINTER_FILE).rename(moving / STORAGE_POINTER_FILE)
            moving.rename(trash)
            _delete(trash)
        except BaseException:
            logger.error(
                "The overwrite of %s was stopped before it finished: run again with "
                "overwrite_root_directory=True to finish it",
                root,
            )
            raise


def _storage_to_delete(root: Path, plugins: Plugins) -> Storage:
    """The run's storage, which alone knows where its data is; without its plugin, the error
    also says how to discard the run by hand (it only said to install the plugin)."""
    try:
        return open_storage(root, None, plugins, lost_ok=True)
    except UnknownPluginError as error:
        add_note(
            error,
            f"(or, to discard the run without that plugin, delete {root} yourself, and the "
            f"storage's data elsewhere if {STORAGE_POINTER_FILE} there names a url)",
        )
        raise


def _refuse_to_erase_no_run(root: Path) -> None:
    """Raise if ``root`` holds files no run made but no run's ``storage.yaml``: the overwrite
    would delete the user's files.

    ``root_directory="."`` next to a run config, or a typo naming a project folder, must not
    cost the code and data there (a ``summary.yaml`` of its own included). A NePS results
    directory is a run, whatever it holds.
    """
    if not root.is_dir() or (root / STORAGE_POINTER_FILE).exists():
        return
    if is_neps_results_directory(root):
        return
    blocking = _not_of_a_run(root)
    if blocking:
        shown = ", ".join(blocking[:5]) + (", ..." if len(blocking) > 5 else "")
        raise SettingsError(
            f"overwrite_root_directory=True refused: {root} holds no run but files of its own "
            f"({shown}), which the overwrite would delete; use a new or empty root_directory"
        )


def _not_of_a_run(root: Path) -> list[str]:
    """The entries of ``root`` no run wrote; all of them where it holds no record of a run
    (names alone prove nothing: a project's own ``plots/`` or ``summary.yaml``)."""
    ignored = (WORKERS_LOCK.parts[0], OVERWRITE_MOVING, OVERWRITE_TRASH)  # the lock; leftovers
    entries = sorted(c.name for c in root.iterdir() if c.name not in ignored)
    configs = root / "configs"
    inside = list(configs.iterdir()) if configs.is_dir() else []
    of_trials = bool(inside) and all(c.is_dir() and c.name.startswith("config_") for c in inside)
    others = [n for n in entries if n not in MADE_BY_A_RUN or (n == "configs" and not of_trials)]
    recorded = of_trials or any((root / record).is_file() for record in NEPS_CORE_RECORDS)
    return others if others or recorded else entries


#: Folders a project may have too, and what a run writes into them: trial folders, the
#: TensorBoard logger's trial folders, ``neps-core plot``'s files, NePS's summary files, the
#: event files of the ``tblogger``'s incumbent curve (folders: ``True``).
SHARED_FOLDERS = {
    "configs": (("config_*", True),),
    "tensorboard": (("trial_*", True),),
    "plots": tuple((name, False) for name in PLOT_FILES),
    SUMMARY_FOLDER: tuple((name, False) for name in SUMMARY_FOLDER_FILES),
    INCUMBENT_DIRECTORY: ((EVENT_FILES, False),),
}


def _move_what_runs_wrote(root: Path, made: frozenset[str] | None, trash: Path) -> None:
    """Move the entries of ``root`` named in ``made`` (all, where ``None``) into ``trash``,
    but the lock file, ``storage.yaml`` and an overwrite's own folders.

    Of a ``SHARED_FOLDERS`` folder, only what a run writes goes (the folder itself where
    nothing else is in it): a project's own configs (Hydra's), plots or TensorBoard logs may
    share it with a run in ``"."``.
    """
    lock = root / WORKERS_LOCK
    for child in root.iterdir():
        if child.name in (OVERWRITE_MOVING, OVERWRITE_TRASH, STORAGE_POINTER_FILE):
            continue
        if child in lock.parents:
            _move_all_but(child, lock, trash / child.name)
        elif made is None:
            _move(child, trash)
        elif child.name in SHARED_FOLDERS and child.is_dir() and not child.is_symlink():
            _move_runs_entries(child, trash)
        elif child.name in made:
            _move(child, trash)


def _move_runs_entries(folder: Path, trash: Path) -> None:
    """Move what a run writes into the ``SHARED_FOLDERS`` ``folder``: the whole folder in one
    rename where it holds nothing else (1500 trial folders), else entry by entry."""
    entries = list(folder.iterdir())
    ours = [
        entry
        for entry in entries
        if any(
            fnmatch.fnmatchcase(entry.name, pattern) and entry.is_dir() == is_folder
            for pattern, is_folder in SHARED_FOLDERS[folder.name]
        )
    ]
    if len(ours) == len(entries):
        _move(folder, trash)
        return
    for entry in ours:
        _move(entry, trash / folder.name)


def _move_all_but(folder: Path, kept: Path, trash: Path) -> None:
    """Move the contents of ``folder`` into ``trash`` but the file ``kept`` and the folders
    above it."""
    for child in folder.iterdir():
        if child == kept:
            continue
        if child in kept.parents:
            _move_all_but(child, kept, trash / child.name)
        else:
            _move(child, trash)


def _move(entry: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    entry.rename(folder / entry.name)


def _delete(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()
