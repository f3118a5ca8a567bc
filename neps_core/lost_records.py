"""A run whose record lost part of itself is refused before anything starts among its files.

Trial folders outlive their record when a database is wiped or restored from a backup, or a
journal loses its last lines in a crash without ``fsync``; new trials would then start over
at those ids, inside the old folders and beside their checkpoints.
"""

from __future__ import annotations

from pathlib import Path

from neps_core.errors import StorageError
from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.models import trial_id
from neps_core.neps_results import trial_folders


def refuse_trials_without_their_run(root: Path, storage: Storage) -> None:
    """Trials but no run info (space, optimizer, seed): it was deleted. Going on would start
    a new run among the old trials, with any space, and mix their configurations.

    The run info is stored before the first trial, so this is never a race.
    """
    try:
        if storage.load_info() is not None:
            return
        count = len(storage.sync())
    except BaseException:
        storage.close()
        raise
    if count:
        storage.close()
        raise StorageError(
            f"{root}: its storage {storage.name!r} holds {count} trial(s) but not the record "
            "of the run they belong to (its space, optimizer and seed; the disk storage keeps "
            "it in run_info.yaml, the sqlite storage in its run_info table): it was deleted or "
            "lost. Restore it, or start over with "
            "overwrite_root_directory=True"
        )


def refuse_a_lost_store(root: Path, storage: Storage) -> None:
    """Trial folders but no trials: the store was lost (a wiped scratch database, an emptied
    journal). Going on would start over at trial 1 inside the old folders and their files.

    A trial is stored before its folder is made, so folders without trials are never a race.
    """
    folders = trial_folders(root)
    if not folders:
        return
    try:
        if len(storage.sync()) > 0:
            return
        storage.load_info()  # a storage's own, more specific refusal comes first
    except BaseException:
        storage.close()
        raise
    storage.close()
    at = f" (at {storage.url})" if storage.url else ""
    held = f"{root} holds trial folders ({', '.join(f.name for f in folders[:3])}, ...) but"
    missing = storage.missing_file()
    if missing is not None and storage.url:  # not lost, maybe: moved, or on a disk not mounted
        raise StorageError(
            f"{held} the file its storage {storage.name!r}{at} keeps their record in does not "
            f"exist: there is no {missing}. {root / 'storage.yaml'} records that path: if the "
            "file was moved (say, with a project that gave it by a relative URL), write its "
            "new path there; if it is on a disk not mounted now, mount it; if it was deleted, "
            "restore it"
        )
    raise StorageError(
        f"{held} its storage {storage.name!r}{at} records no trials: their record was lost (a "
        "deleted or emptied database or journal, or one on a disk that is not mounted now). "
        "Restore it, or start over with overwrite_root_directory=True"
    )


def history_refusing_unrecorded_folders(root: Path, storage: Storage) -> TrialHistory:
    """The run's trials; raises if trial folders lie beyond its newest recorded trial.

    Part of the record was lost (a crash without ``fsync``, a database restored from a
    backup): new trials would get those ids and take the old folders, files and checkpoints.
    The folders are listed before the record is read, as each is made after its trial is
    stored: another worker's new trial is never taken for a lost one.
    """
    numbers = [trial_id(f.name) for f in trial_folders(root)]
    folder_ids = sorted(int(n) for n in numbers if n.isdigit())
    history = storage.sync()
    newest = int(history.next_id()) - 1
    beyond = [f"config_{i}" for i in folder_ids if i > newest]
    if beyond and len(history) > 0:  # no trials at all: refuse_a_lost_store says so
        raise StorageError(
            f"{root} holds trial folders the record of its storage {storage.name!r} lacks "
            f"({', '.join(beyond[:3])}{', ...' if len(beyond) > 3 else ''}; its newest trial "
            f"is {newest}): the record of the newest trials was lost (a crash without "
            "fsync, a restored backup), and new trials would take their folders. Restore "
            "it, move those folders away, or start over with overwrite_root_directory=True"
        )
    return history
