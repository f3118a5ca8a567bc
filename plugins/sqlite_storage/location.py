"""Where an ``sqlite`` storage's database lives: the root's ``run.db`` or a URL's path.

URLs read as in SQLAlchemy (and Optuna): ``sqlite:///run.db`` is relative to the working
directory, ``sqlite:////abs/run.db`` absolute; ``sqlite://`` alone is the root's ``run.db``.
A leading ``~`` in the path is a home directory, as in every other path of a run.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from neps_core.errors import SettingsError, StorageError
from neps_core.user_paths import user_path

DEFAULT_DATABASE = "run.db"
#: The paths a connection was opened at (the database, its root), each with its
#: ``(st_dev, st_ino)`` then.
Opened = tuple[tuple[str, Path, tuple[int, int]], ...]


def database_path(root_directory: Path, url: str | None) -> Path:
    """Where the database lives: ``root/run.db``, or the path of a ``sqlite://`` URL.

    As in SQLAlchemy, the path is what follows ``sqlite:///``: relative to the working
    directory unless it starts with another ``/``; ``sqlite:///~/a.db`` is in the home
    directory (not in a folder named ``~``).
    """
    if url is None:
        return Path(root_directory) / DEFAULT_DATABASE
    parsed = urlparse(url, allow_fragments=False)  # "#" is part of a file name
    if parsed.scheme != "sqlite" or parsed.netloc not in ("", "localhost"):
        raise SettingsError(
            f"sqlite storage: expected a URL like 'sqlite:///run.db' (relative) or "
            f"'sqlite:////absolute/path/run.db', got {url!r}"
        )
    path = unquote(parsed.path).removeprefix("/")
    return (
        user_path(path, f"sqlite storage URL {url!r}: path")
        if path
        else Path(root_directory) / DEFAULT_DATABASE
    )


def absolute_url(url: str, base: Path | None = None) -> str:
    """``url`` with its path made absolute (a relative one taken from ``base``, else the
    working directory), as the run records it: the same from anywhere."""
    path = database_path(Path(), url)  # refuses a malformed URL
    if not urlparse(url, allow_fragments=False).path.removeprefix("/"):
        return url  # "sqlite://": the root's run.db, wherever the root is
    return "sqlite:///" + quote(os.path.abspath(path if base is None else base / path))


def create_database_file(path: Path) -> None:
    """Create an empty database file (and its folder) with the permissions the umask leaves.

    SQLite itself creates it 0644 whatever the umask (and its ``-wal``/``-shm`` files copy
    that mode), so a run started under ``umask 002`` could not be continued by the group.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError, PermissionError):  # SQLite then names the file
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def holds_no_run(path: Path, root_directory: Path) -> StorageError:
    """The error for a database file without a run in it, saying what the file is."""
    size = path.stat().st_size
    what = "an empty file" if size == 0 else f"an SQLite database of {size} bytes"
    return StorageError(
        f"{path} is {what} that holds no run: the process creating the run was killed "
        "before it stored the run's settings (or is storing them now). run() on "
        f"{root_directory} sets it up; or delete the file"
    )


def identify(database: Path, root_directory: Path) -> Opened:
    """What the database and the root are now, to tell later that one was deleted or replaced
    (a root directory missing at first is not recorded)."""
    found = (("SQLite database", database), ("root directory", root_directory))
    identified = ((what, path, _identity(path)) for what, path in found)
    return tuple((what, path, identity) for what, path, identity in identified if identity)


def refuse_any_gone(opened: Opened) -> None:
    """Raise if a path is no longer what the connection opened: the root was deleted (or the
    database moved or replaced) under a live worker, whose connection would go on writing
    into an unlinked database (its results lost) and into trial folders of a new run there."""
    for what, path, identity in opened:
        if _identity(path) != identity:
            why = "" if what == "root directory" else " (its root directory removed?)"
            raise StorageError(
                f"The {what} {path} was deleted or replaced while this run used it{why}: "
                "results are not recorded"
            )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino
