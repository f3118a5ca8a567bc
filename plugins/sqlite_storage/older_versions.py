"""Databases of runs that older versions of neps_core started.

Before ec24843 ``sqlite:///PATH`` meant the absolute ``/PATH`` (now: relative to the working
directory, as in SQLAlchemy), and ``storage.yaml`` recorded the URL as given: such a root's
database is found where its run records that root (``database_of``). Before ec3a97e a run did
not record its root directory in its database, so a copy of its root (``cp -r``) that names
the same database by URL could not be told from the original: the first write of this
version records the root (``record_root``), and the check of ``neps_core.shared_databases``
works from then on.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from neps_core.errors import StorageError
from neps_core_plugins.sqlite_storage.location import database_path


def database_of(root: Path, url: str | None) -> Path:
    """``database_path(root, url)``, unless ``url`` reads otherwise in versions before
    ec24843 and that database exists: then the one of the two whose run records ``root``, or
    an error naming both readings (neither is taken for a run it may not be)."""
    path = database_path(root, url)
    older = _older_reading(url)
    if older is None or not older.exists() or older == path.absolute():
        return path
    mine = str(Path(root).resolve())
    now = _recorded_root(path) if path.exists() else None
    if now == mine:
        return path
    then = _recorded_root(older)
    if then == mine:
        return older
    raise StorageError(
        f"sqlite storage: {Path(root) / 'storage.yaml'} records the URL {url!r}, which "
        f"neps_core before 2026-12-04 read as the absolute path {older} and reads now as "
        f"{path.absolute()}, relative to the working directory: the latter "
        f"{_whose(now) if path.exists() else 'does not exist'}, the former {_whose(then)}. If "
        f"{older} is this root's database, write 'url: sqlite:///{quote(str(older))}' (four "
        "slashes: absolute) into that storage.yaml; if it is the relative one, write its "
        "absolute path there"
    )


def _whose(recorded: str | None) -> str:
    if recorded:
        return f"holds the run of {recorded}"
    return "records no root for its run (runs started before 2026-12-06 do not)"


def _older_reading(url: str | None) -> Path | None:
    """The absolute path versions before ec24843 read a three-slash relative ``url`` as."""
    if url is None:
        return None
    path = unquote(urlparse(url, allow_fragments=False).path)
    if path.startswith("//") or not path.removeprefix("/") or path.startswith("/~"):
        return None  # absolute already, the root's run.db, or the home directory
    return Path(path)


def _recorded_root(database: Path) -> str | None:
    """The root the run in ``database`` records, read without writing (``None`` if none)."""
    try:
        uri = f"{database.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
            row = connection.execute("SELECT data FROM run_info WHERE id = 1").fetchone()
        root = None if row is None else json.loads(row[0]).get("root_directory")
    except (sqlite3.Error, ValueError, AttributeError):  # not a run's database: not this root's
        return None
    return root if isinstance(root, str) else None


def record_root(connection: sqlite3.Connection, root: Path) -> None:
    """Record ``root`` as the run's root where its info records none (in a write transaction
    of the caller; a run info that cannot be read is left to the reader to report)."""
    row = connection.execute("SELECT data FROM run_info WHERE id = 1").fetchone()
    try:
        data = None if row is None else json.loads(row[0])
    except ValueError:
        return
    if isinstance(data, dict) and data.get("root_directory") is None:
        data["root_directory"] = str(root.resolve())
        connection.execute("UPDATE run_info SET data = ? WHERE id = 1", (json.dumps(data),))
