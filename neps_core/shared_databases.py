"""One database holds one run: a root never shares, or erases, another root's database.

A storage given by URL keeps its data outside the root, and its run records the root it was
started in (``RunInfo.root_directory``). A root whose ``storage.yaml`` names a database that
another root's run is in (a ``cp -r`` copy, or a URL an older neps_core read otherwise) would
add to that run's trials, and overwriting it would erase them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from neps_core.errors import SettingsError, StorageError, StorageInUseError
from neps_core.interfaces import Storage
from neps_core.models import RunInfo
from neps_core.storage_pointer import STORAGE_POINTER_FILE, read_pointer


def refuse_a_database_of_another_run(
    root: Path, chosen: dict[str, Any], storage: Storage, info: RunInfo | None
) -> None:
    """A database given by URL that holds a run ``root``'s ``storage.yaml`` does not name
    holds another root's run, or one this root no longer has: never share or erase it."""
    if info is None or chosen["url"] is None:
        return
    stored = read_pointer(root / STORAGE_POINTER_FILE)
    if stored is not None and names_the_stored_storage(root, stored, chosen, type(storage)):
        return
    owner = owner_of(info)
    if owner == root.resolve():  # the root was moved, deleted or started over
        raise StorageInUseError(
            f"storage: {chosen['url']} holds a run started in {root} that its storage.yaml "
            "does not name (the root was moved, deleted or started again): continue that run "
            "where its root is now, or delete the database to start afresh"
        )
    raise StorageInUseError(
        f"storage: {chosen['url']} already holds the run of another root directory"
        f"{'' if owner is None else f' ({owner})'}, and one database holds one run: give "
        f"{root} a database of its own, or continue that run in its own root directory"
    )


def refuse_a_root_sharing_the_database(
    root: Path, chosen: dict[str, Any], storage: Storage
) -> None:
    """Refuse ``root`` if its database holds the run of another root whose ``storage.yaml``
    names the same database (however written: URLs that lead its storage to one file, a
    relative and an absolute one or one an older version read otherwise, are one database).
    A root that was moved (its original gone, or holding another run now) is its run's root
    still. ``storage`` is closed if refused."""
    try:
        owner = owner_of(storage.load_info())
        if owner is not None and owner != root.resolve() and _names(owner, root, chosen, storage):
            raise StorageInUseError(
                f"storage: {root} names the database {chosen['url']} (in its "
                f"{STORAGE_POINTER_FILE}), which holds the run of {owner}, whose "
                f"{STORAGE_POINTER_FILE} names it too, and one database holds one run: nothing "
                f"was read or changed. If {root} is a copy of that root, copy the run with "
                f"`neps-core migrate {owner} NEW_ROOT` instead, which gives the copy a database "
                f"of its own; if {root} has a database of its own, write its URL into "
                f"{root / STORAGE_POINTER_FILE}"
            )
    except BaseException:
        storage.close()
        raise


def owner_of(info: RunInfo | None) -> Path | None:
    """The root a run was started in, where its info records it."""
    return None if info is None or info.root_directory is None else Path(info.root_directory)


def _names(owner: Path, root: Path, chosen: dict[str, Any], storage: Storage) -> bool:
    """Whether ``owner``'s ``storage.yaml`` names the database ``root``'s names."""
    try:
        theirs = read_pointer(owner / STORAGE_POINTER_FILE)
    except SettingsError:  # damaged: not the owner's run then
        return False
    if theirs is None or theirs.get("name") != chosen["name"] or theirs.get("url") is None:
        return False
    return _same_database(type(storage), root, str(chosen["url"]), owner, str(theirs["url"]))


def names_the_stored_storage(
    root: Path, stored: dict[str, Any], given: dict[str, Any], cls: type[Storage]
) -> bool:
    """Whether ``given`` (a run's storage as a call names it) names the storage ``stored``
    (``root``'s ``storage.yaml``) does, options aside: the same backend and URL, or URLs that
    lead ``cls`` to one database. A ``storage.yaml`` of a version before ec24843 records a URL
    as given, which this version may read otherwise: its four-slash form, as the errors
    advise, names the same run."""
    if given["name"] != stored.get("name"):
        return False
    if given.get("url") == stored.get("url"):
        return True
    if given.get("url") is None or stored.get("url") is None:
        return False
    return _same_database(cls, root, str(given["url"]), root, str(stored["url"]))


def _same_database(cls: type[Storage], root: Path, url: str, other_root: Path, other: str) -> bool:
    """Whether ``url`` read for ``root`` and ``other`` for ``other_root`` lead ``cls`` to one
    database: the same file as it finds it (``Storage.database_file``, which reads a URL as
    an older version wrote it too), else the same URL once made absolute."""
    try:
        their_file, my_file = cls.database_file(other_root, other), cls.database_file(root, url)
        if their_file is None or my_file is None:
            return bool(cls.canonical_url(other) == cls.canonical_url(url))
    except (SettingsError, StorageError):  # no file of it is that root's run
        return False
    with contextlib.suppress(OSError):  # one missing: not the file this root's run is in
        return os.path.samefile(their_file, my_file)
    return False
