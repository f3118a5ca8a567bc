"""The ``sqlite`` storage's schema: its tables, its version, and WAL mode for a new database.

Version :data:`SCHEMA_VERSION`::

    schema_version(version)          one row; an unknown version is refused with a clear error
    run_info(id = 1, data)           the RunInfo as JSON
    trials(id, seq, state, data)     the current version of every trial as JSON; ``seq`` is a
                                     run-wide counter, raised on every write, so a reader asks
                                     only for ``seq > <last seq it saw>``
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from neps_core.errors import StorageError

SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE run_info (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL)",
    "CREATE TABLE trials (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, "
    "state TEXT NOT NULL, data TEXT NOT NULL)",
)


def schema_version(connection: sqlite3.Connection, path: Path) -> int | None:
    """The schema version of the database at ``path``; ``None`` for an empty one."""
    tables = {
        row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if "schema_version" not in tables:
        if tables:
            raise StorageError(
                f"{path} is an SQLite database but not one written by neps_core "
                f"(it has the tables {sorted(tables)} and no schema_version table)"
            )
        return None
    row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def create_schema(connection: sqlite3.Connection) -> int:
    """Create the tables (in a write transaction of the caller); the version created."""
    for statement in _SCHEMA:
        connection.execute(statement)
    connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    return SCHEMA_VERSION


def enable_wal(connection: sqlite3.Connection) -> None:
    """Switch the database to WAL mode, so that readers never block the writer."""
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"could not switch to WAL mode (still {mode})")


def refuse_an_unknown_version(version: int, path: Path) -> None:
    """Raise if ``version`` is not the one this neps_core reads and writes."""
    if version != SCHEMA_VERSION:
        raise StorageError(
            f"The SQLite database {path} has schema version {version}, but this "
            f"version of neps_core only knows schema version {SCHEMA_VERSION}; open it with "
            "the neps_core version that wrote it (or migrate the run with that version)."
        )
