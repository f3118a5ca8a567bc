"""The ``sqlite`` storage plugin: one SQLite database per run, for many processes on one machine.

Select it with ``storage="sqlite"`` (the database is ``<root_directory>/run.db``) or with
``storage="sqlite:///absolute/path/run.db"``. Per-trial folders (``pipeline_directory``) stay
in ``<root_directory>/configs/config_<id>/``, each with a ``config.yaml``.

Schema (version :data:`SCHEMA_VERSION`)::

    schema_version(version)          one row; an unknown version is refused with a clear error
    run_info(id = 1, data)           the RunInfo as JSON
    trials(id, seq, state, data)     the current version of every trial as JSON; ``seq`` is a
                                     run-wide counter, raised on every write, so a reader asks
                                     only for ``seq > <last seq it saw>``

Concurrency: the database runs in WAL mode, so readers never block the writer. Every
:meth:`SQLiteStorage.transact` is one ``BEGIN IMMEDIATE`` transaction that reads what others
wrote, lets the caller decide and writes the result, which makes sampling atomic. A writer
that finds the database locked waits (SQLite's busy timeout) and retries with jittered
back-off until ``lock_timeout`` seconds have passed; only then is it a
:class:`~neps_core.errors.StorageError` that names the database file.

Durability: with the default ``synchronous=NORMAL`` a committed transaction survives the
death of any process; ``fsync=True`` (``synchronous=FULL``) also survives power loss.
Records are plain JSON from the converter, never pickle. A row that cannot be read back (say,
edited by hand) becomes a CORRUPTED trial whose error names the database; the run goes on.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote, urlparse

import cattrs

from neps_core import hookimpl
from neps_core.errors import StorageError
from neps_core.history import TrialHistory
from neps_core.interfaces import Change, Storage, damaged_trial
from neps_core.models import RunInfo, Trial
from neps_core.serialization import dump_yaml, to_plain, write_atomic

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_DATABASE = "run.db"
_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
_MAX_BUSY_WAIT = 2.0  # seconds SQLite itself waits before we back off and retry
_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE run_info (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL)",
    "CREATE TABLE trials (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, "
    "state TEXT NOT NULL, data TEXT NOT NULL)",
)
_UPSERT = (
    "INSERT INTO trials (id, seq, state, data) VALUES (?, ?, ?, ?) ON CONFLICT(id) "
    "DO UPDATE SET seq = excluded.seq, state = excluded.state, data = excluded.data"
)
T = TypeVar("T")


def database_path(root_directory: Path, url: str | None) -> Path:
    """Where the database lives: ``root/run.db``, or the absolute path of a ``sqlite://`` URL."""
    if url is None:
        return Path(root_directory) / DEFAULT_DATABASE
    parsed = urlparse(url)
    if parsed.scheme != "sqlite" or parsed.netloc not in ("", "localhost"):
        raise ValueError(
            f"sqlite storage: expected a URL like 'sqlite:///absolute/path/run.db', got {url!r}"
        )
    path = unquote(parsed.path).lstrip("/")
    return Path("/" + path) if path else Path(root_directory) / DEFAULT_DATABASE


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    message = str(error).lower()  # Python 3.10 has no error codes on exceptions
    return "locked" in message or "busy" in message


class SQLiteStorage(Storage):
    """A run in one SQLite database; safe for many processes on one machine.

    Options: ``lock_timeout`` (seconds a writer waits for the database, default 300) and
    ``fsync`` (flush every commit to the device, default ``False``).
    """

    name: ClassVar[str] = "sqlite"
    schemes: ClassVar[tuple[str, ...]] = ("sqlite",)
    known_options: ClassVar[frozenset[str]] = frozenset({"fsync", "lock_timeout"})

    def __init__(
        self,
        root_directory: Path,
        *,
        url: str | None = None,
        converter: cattrs.Converter | None = None,
        **options: Any,
    ):
        super().__init__(root_directory, url=url, converter=converter, **options)
        self.path = database_path(self.root_directory, url)
        self.fsync = self.flag_option("fsync", False)
        self.lock_timeout = self.seconds_option("lock_timeout", 300.0)
        #: Trial rows read from the database so far (incremental sync keeps this small).
        self.rows_read = 0
        self._history = TrialHistory()
        self._last_seq = 0
        self._connection: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._lock = threading.RLock()

    # -- run info ---------------------------------------------------------------------------
    def initialize(self, info: RunInfo) -> RunInfo:
        with self._lock:
            connection = self._connect(create=True)
            assert connection is not None
            with self._write_transaction(connection):
                stored = self._read_info(connection)
                if stored is not None:
                    return stored
                plain = to_plain(self.converter.unstructure(info))
                connection.execute(
                    "INSERT INTO run_info (id, data) VALUES (1, ?)", (json.dumps(plain),)
                )
            return info

    def load_info(self) -> RunInfo | None:
        with self._lock:
            connection = self._connect(create=False)
            if connection is None:
                return None
            return self._retrying(lambda: self._read_info(connection), "read the run info")

    # -- trials -----------------------------------------------------------------------------
    def sync(self) -> TrialHistory:
        with self._lock:
            connection = self._connect(create=False)
            if connection is not None:
                self._retrying(lambda: self._read_new(connection), "read trials")
            return self._history

    def transact(self, change: Change) -> list[Trial]:
        with self._lock:
            connection = self._connect(create=True)
            assert connection is not None
            with self._write_transaction(connection):
                history = self._read_new(connection)
                trials = list(change(history))
                new = [trial for trial in trials if trial.id not in history]
                connection.executemany(_UPSERT, self._rows(trials))
            # Committed: only now may the in-memory view move on.
            self._last_seq += len(trials)
            for trial in trials:
                history.put(trial)
        self._write_configs(new)
        return trials

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def erase(self) -> None:
        """Delete the database and its WAL files (they may live outside the root)."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    # -- connection and schema --------------------------------------------------------------
    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        """The open connection (one per process), or ``None`` for a database not yet created."""
        if self._pid != os.getpid():  # forked: the parent's connection must not be used
            self._connection, self._pid = None, os.getpid()
        if self._connection is not None:
            return self._connection
        if not create and not self.path.exists():
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=min(self.lock_timeout, _MAX_BUSY_WAIT),
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise StorageError(
                f"Could not open the SQLite database {self.path}: {error}"
            ) from error
        try:
            self._prepare(connection)
        except BaseException as error:
            connection.close()
            if isinstance(error, sqlite3.Error):
                raise self.error("open the run", error) from error
            raise
        self._connection = connection
        return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        """Check the schema version, creating the schema (in WAL mode) for a new database."""
        connection.execute(f"PRAGMA synchronous = {'FULL' if self.fsync else 'NORMAL'}")
        version = self._retrying(lambda: self._schema_version(connection), "read the schema")
        if version is None:
            self._retrying(lambda: self._enable_wal(connection), "enable WAL mode")
            with self._write_transaction(connection):
                version = self._schema_version(connection)
                if version is None:
                    for statement in _SCHEMA:
                        connection.execute(statement)
                    connection.execute(
                        "INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,)
                    )
                    version = SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            raise StorageError(
                f"The SQLite database {self.path} has schema version {version}, but this "
                f"version of neps_core only knows schema version {SCHEMA_VERSION}; open it with "
                "the neps_core version that wrote it (or migrate the run with that version)."
            )

    def _schema_version(self, connection: sqlite3.Connection) -> int | None:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "schema_version" not in tables:
            if tables:
                raise StorageError(
                    f"{self.path} is an SQLite database but not one written by neps_core "
                    f"(it has the tables {sorted(tables)} and no schema_version table)"
                )
            return None
        row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @staticmethod
    def _enable_wal(connection: sqlite3.Connection) -> None:
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch to WAL mode (still {mode})")

    # -- transactions and retries -----------------------------------------------------------
    def _write_transaction(self, connection: sqlite3.Connection) -> _Transaction:
        return _Transaction(self, connection)

    def _retrying(self, action: Callable[[], T], what: str) -> T:
        """Run ``action``, retrying while the database is busy, up to ``lock_timeout``."""
        started = time.monotonic()
        delay = 0.002
        while True:
            try:
                return action()
            except sqlite3.Error as error:
                waited = time.monotonic() - started
                if not _is_busy(error):
                    raise self.error(what, error) from error
                if waited >= self.lock_timeout:
                    raise StorageError(
                        f"Could not {what}: the SQLite database {self.path} stayed locked for "
                        f"{waited:.1f} s (lock_timeout={self.lock_timeout:g}); is another "
                        f"process holding a long write transaction? ({error})"
                    ) from error
                time.sleep(random.uniform(0.5, 1.0) * delay)
                delay = min(delay * 2, 0.1)

    def error(self, what: str, error: BaseException) -> StorageError:
        """A StorageError for a failed database operation, naming the file."""
        message = str(error)
        if "readonly" in message.replace(" ", "").lower():
            message += " (the database file or its directory is not writable)"
        return StorageError(f"Could not {what} in the SQLite database {self.path}: {message}")

    # -- rows -------------------------------------------------------------------------------
    def _read_info(self, connection: sqlite3.Connection) -> RunInfo | None:
        row = connection.execute("SELECT data FROM run_info WHERE id = 1").fetchone()
        if row is None:
            return None
        try:
            return self.converter.structure(json.loads(row[0]), RunInfo)
        except Exception as error:
            raise StorageError(f"{self.path}: the stored run info is invalid: {error}") from error

    def _read_new(self, connection: sqlite3.Connection) -> TrialHistory:
        rows = connection.execute(
            "SELECT seq, id, data FROM trials WHERE seq > ? ORDER BY seq", (self._last_seq,)
        ).fetchall()
        for seq, trial_id, data in rows:
            self._history.put(self._structure(trial_id, data))
            self._last_seq = seq
        self.rows_read += len(rows)
        return self._history

    def _structure(self, trial_id: str, data: str) -> Trial:
        """A trial from its row; a damaged row (e.g. edited by hand) is a CORRUPTED trial."""
        record: Any = None
        try:
            record = json.loads(data)
            return self.converter.structure(record, Trial)
        except Exception as error:
            return damaged_trial(
                trial_id, record, f"the row of trial {trial_id} in {self.path}", error
            )

    def _rows(self, trials: Sequence[Trial]) -> list[tuple[str, int, str, str]]:
        rows = []
        for offset, trial in enumerate(trials, start=1):
            plain = to_plain(self.converter.unstructure(trial))
            data = json.dumps(plain, separators=(",", ":"))
            rows.append((trial.id, self._last_seq + offset, trial.state.value, data))
        return rows

    def _write_configs(self, trials: Sequence[Trial]) -> None:
        """Give every new trial its folder with a readable ``config.yaml`` (as ``disk`` does)."""
        for trial in trials:
            directory = self.trial_directory(trial.id)
            try:
                directory.mkdir(parents=True, exist_ok=True)
                write_atomic(directory / "config.yaml", dump_yaml(to_plain(trial.config)))
            except OSError as error:
                # The database already holds the trial; the file is a convenience.
                logger.warning("Could not write %s/config.yaml: %s", directory, error)


class _Transaction:
    """``BEGIN IMMEDIATE`` (retried while busy) ... ``COMMIT``, or ``ROLLBACK`` on any error."""

    def __init__(self, storage: SQLiteStorage, connection: sqlite3.Connection) -> None:
        self.storage = storage
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.storage._retrying(
            lambda: self.connection.execute("BEGIN IMMEDIATE"), "start a write transaction"
        )
        return self.connection

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, _: Any
    ) -> None:
        if kind is None:
            try:
                self.connection.execute("COMMIT")
                return
            except sqlite3.Error as error:
                self._rollback()
                raise self.storage.error("commit a transaction", error) from error
        self._rollback()
        if isinstance(value, sqlite3.Error):
            raise self.storage.error("write", value) from value

    def _rollback(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")


@hookimpl
def neps_register_storages() -> Sequence[type[Storage]]:
    """Register the SQLite storage."""
    return [SQLiteStorage]
