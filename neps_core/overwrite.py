"""Deleting a run for ``overwrite_root_directory=True``: what the run wrote, never the user's files.

A run may share its root with the user's project (``root_directory="."`` next to a run
config and its code): the overwrite deletes the entries runs write and keeps the others.
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

from neps_core.distributed import CHANNEL_DIRECTORY
from neps_core.errors import SettingsError, UnknownPluginError, add_note
from neps_core.interfaces import Storage
from neps_core.liveness import refuse_if_alive
from neps_core.neps_results import NEPS_CORE_RECORDS, is_neps_results_directory
from neps_core.plotting import PLOT_FILES
from neps_core.plugin_manager import Plugins
from neps_core.presence import WORKERS_LOCK
from neps_core.run_storage import (
    RUN_FILES,
    STORAGE_POINTER_FILE,
    open_storage,
    refuse_an_unfinished_migration,
)
from neps_core.summary_folder import SUMMARY_FOLDER, SUMMARY_FOLDER_FILES

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
        LiveWorkersError: A worker heartbeated within ``stale_after`` seconds; deleting the
            run under it would lose its result (or write it into the deleted run).
    """
    root = Path(root)
    refuse_an_unfinished_migration(root)
    _refuse_to_erase_no_run(root)
    made: frozenset[str] | None = None if is_neps_results_directory(root) else MADE_BY_A_RUN
    if (root / STORAGE_POINTER_FILE).is_file():
        with _storage_to_delete(root, plugins) as storage:
            present: list[str] | None = [] if alone else None  # alone: no worker here lives
            history = storage.sync()
            refuse_if_alive(history, stale_after, f"overwrite {root}", "stale_after", present)
            declared = type(storage).root_entries
            made = None if declared is None else MADE_BY_A_RUN | declared
            if erase:
                storage.erase()
    if erase and root.exists():
        _delete_what_runs_wrote(root, made)


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
    entries = sorted(c.name for c in root.iterdir() if c.name != WORKERS_LOCK.parts[0])
    configs = root / "configs"
    inside = list(configs.iterdir()) if configs.is_dir() else []
    of_trials = bool(inside) and all(c.is_dir() and c.name.startswith("config_") for c in inside)
    others = [n for n in entries if n not in MADE_BY_A_RUN or (n == "configs" and not of_trials)]
    recorded = of_trials or any((root / record).is_file() for record in NEPS_CORE_RECORDS)
    return others if others or recorded else entries


#: Folders a project may have too, and what a run writes into them: trial folders, the
#: TensorBoard logger's trial folders, ``neps-core plot``'s files, NePS's summary files
#: (folders: ``True``).
SHARED_FOLDERS = {
    "configs": (("config_*", True),),
    "tensorboard": (("trial_*", True),),
    "plots": tuple((name, False) for name in PLOT_FILES),
    SUMMARY_FOLDER: tuple((name, False) for name in SUMMARY_FOLDER_FILES),
}


def _delete_what_runs_wrote(root: Path, made: frozenset[str] | None) -> None:
    """Delete the entries of ``root`` named in ``made`` (all, where ``None``) but the lock file.

    Of a ``SHARED_FOLDERS`` folder, only what a run writes goes, and the folder itself once
    empty: a project's own configs (Hydra's), plots or TensorBoard logs may share it with a
    run in ``"."``.
    """
    lock = root / WORKERS_LOCK
    for child in root.iterdir():
        if child in lock.parents:
            _delete_all_but(child, lock)
        elif made is None:
            _delete(child)
        elif child.name in SHARED_FOLDERS and child.is_dir() and not child.is_symlink():
            for entry in child.iterdir():
                if any(
                    fnmatch.fnmatchcase(entry.name, pattern) and entry.is_dir() == is_folder
                    for pattern, is_folder in SHARED_FOLDERS[child.name]
                ):
                    _delete(entry)
            if not any(child.iterdir()):
                child.rmdir()
        elif child.name in made:
            _delete(child)


def _delete_all_but(folder: Path, kept: Path) -> None:
    """Delete the contents of ``folder`` except the file ``kept`` and the folders above it."""
    for child in folder.iterdir():
        if child == kept:
            continue
        if child in kept.parents:
            _delete_all_but(child, kept)
        else:
            _delete(child)


def _delete(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()
