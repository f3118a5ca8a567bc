"""The ``sqlite`` storage plugin: one SQLite database per run, for many processes on one machine.

Select it with ``storage="sqlite"`` (the database is ``<root_directory>/run.db``) or with a URL
in SQLAlchemy's (and Optuna's) form: ``"sqlite:///run.db"`` is relative to the working
directory, ``"sqlite:////absolute/path/run.db"`` absolute. Per-trial folders
(``pipeline_directory``) stay in ``<root_directory>/configs/config_<id>/``, each with a
``config.yaml``, written after the commit; one a killed worker left out is written by the
next worker started on the run (at its first write), or by the next to write that trial (see
``TrialFiles``).

The schema is in ``.schema``.

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

import contextlib
import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import cattrs

from neps_core.errors import StorageError
from neps_core.history import TrialHistory
from neps_core.interfaces import LOCKING_OPTIONS, Change, Storage, TrialFiles, damaged_trial
from neps_core.models import RunInfo, Trial
from neps_core.serialization import structure_error_text, to_plain
from neps_core_plugins.sqlite_storage.location import (
    Opened,
    absolute_url,
    create_database_file,
    holds_no_run,
    identify,
    refuse_any_gone,
)
from neps_core_plugins.sqlite_storage.older_versions import database_of, record_root
from neps_core_plugins.sqlite_storage.schema import (
    create_schema,
    enable_wal,
    refuse_an_unknown_version,
    schema_version,
)

logger = logging.getLogger(__name__)

_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
_UNWRITABLE_CODES = (8, 14)  # SQLITE_READONLY, SQLITE_CANTOPEN
_MAX_BUSY_WAIT = 2.0  # seconds SQLite itself waits before we back off and retry
_UPSERT = (
    "INSERT INTO trials (id, seq, state, data) VALUES (?, ?, ?, ?) ON CONFLICT(id) "
    "DO UPDATE SET seq = excluded.seq, state = excluded.state, data = excluded.data"
)
T = TypeVar("T")


def _has_code(error: BaseException | None, codes: tuple[int, ...], *words: str) -> bool:
    """Whether ``error`` is an SQLite error with one of the primary result ``codes``."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None or not isinstance(error, sqlite3.Error):
        return code is not None and code & 0xFF in codes
    return any(word in str(error).lower() for word in words)  # Python 3.10 has no codes


class SQLiteStorage(Storage):
    """A run in one SQLite database; safe for many processes on one machine.

    Options: ``lock_timeout`` (seconds a writer waits for the database, default 300) and
    ``fsync`` (flush every commit to the device, default ``False``).
    """

    name: ClassVar[str] = "sqlite"
    schemes: ClassVar[tuple[str, ...]] = ("sqlite",)
    option_defaults: ClassVar[Mapping[str, Any]] = LOCKING_OPTIONS
    known_options: ClassVar[frozenset[str]] = frozenset(option_defaults)
    root_entries: ClassVar[frozenset[str]] = frozenset({"run.db", "run.db-wal", "run.db-shm"})

    @classmethod
    def canonical_url(cls, url: str, base: Path | None = None) -> str:
        return absolute_url(url, base)

    @classmethod
    def database_file(cls, root_directory: Path, url: str) -> Path | None:
        return database_of(root_directory, url)

    def __init__(
        self,
        root_directory: Path,
        *,
        url: str | None = None,
        converter: cattrs.Converter | None = None,
        **options: Any,
    ):
        super().__init__(root_directory, url=url, converter=converter, **options)
        self.path = database_of(self.root_directory, url)
        self.fsync = self.flag_option("fsync")
        self.lock_timeout = self.seconds_option("lock_timeout")
        #: Trial rows read from the database so far (incremental sync keeps this small).
        self.rows_read = 0
        self._history = TrialHistory()
        self._last_seq = 0
        self._files = TrialFiles(self.root_directory)
        self._connection: sqlite3.Connection | None = None
        self._writable = False  # whether _connection may write (see _connect)
        self._opened: Opened = ()  # what a write checks is still there (see _open)
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._root_recorded = False  # see _record_root

    # -- run info ---------------------------------------------------------------------------
    def initialize(self, info: RunInfo) -> RunInfo:
        with self._lock:
            connection = self._connect(create=True)
            assert connection is not None
            with self._write_transaction(connection):
                self._record_root(connection)
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

    def _record_root(self, connection: sqlite3.Connection) -> None:
        """On the first write, record the root in a run of an older version that has none: the
        database given by URL (outside the root) then tells its root from a copy of it."""
        if self.url is not None and not self._root_recorded:
            record_root(connection, self.root_directory)
            self._root_recorded = True

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
                self._record_root(connection)
                history = self._read_new(connection)
                trials = list(change(history))
                connection.executemany(_UPSERT, self._rows(trials))
            # Committed: only now may the in-memory view move on.
            self._last_seq += len(trials)
            for trial in trials:
                history.put(trial)
            # Those that may lack one in the first write; no others' after: a config.yaml
            # missing since its writer died after the commit is written by the next process
            # to write the trial.
            looked_at = self._files.lacking_config(history)
        self._write_configs([*trials, *looked_at])
        return trials

    def exists(self) -> bool:
        """Whether the run was started; an error for a database file that holds none, which
        only a creator killed before storing the run's settings (or storing them now) leaves."""
        if super().exists():
            return True
        if not self.path.is_file():
            return False
        raise holds_no_run(self.path, self.root_directory)

    def missing_file(self) -> Path | None:
        return None if self.path.exists() else self.path

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def erase(self) -> None:
        """Delete the database and its WAL files (they may live outside the root); one whose
        path leads through a file was never created."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                Path(f"{self.path}{suffix}").unlink()

    # -- connection and schema --------------------------------------------------------------
    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        """The open connection (one per process), or ``None`` for a database not yet created.

        Reading works read-only where writing cannot (say, a read-only file system); a write
        then opens read-write again, to fail with SQLite's own error naming the file."""
        if self._pid != os.getpid():  # forked: the parent's connection must not be used
            self._connection, self._pid = None, os.getpid()
        if self._connection is not None and (self._writable or not create):
            return self._connection
        if not create and not self.path.exists():
            return None
        if create:
            create_database_file(self.path)
        try:
            opened, writable = self._open(str(self.path), create=create), True
        except StorageError as error:
            if create or not _has_code(error.__cause__, _UNWRITABLE_CODES, "unable to open"):
                raise
            opened, writable = self._open_read_only(), False
        if opened is None:  # a database without the schema is read as holding no run
            return None
        self.close()  # an earlier read-only connection, replaced by a writable one
        self._connection, self._writable = opened, writable
        return opened

    def _open_read_only(self) -> sqlite3.Connection | None:
        """SQLite opens a read-only WAL database only if its ``-shm`` exists or can be created
        (https://www.sqlite.org/wal.html); else ``immutable=1``, which ignores the WAL, so only
        while no WAL holds changes the database file lacks."""
        uri = self.path.resolve().as_uri()
        try:
            return self._open(f"{uri}?mode=ro", uri=True, create=False)
        except StorageError as error:
            wal = Path(f"{self.path}-wal")
            if not _has_code(error.__cause__, _UNWRITABLE_CODES, "unable to open"):
                raise
            if wal.exists() and wal.stat().st_size > 0:
                raise StorageError(
                    f"{error}; {wal} holds changes that SQLite reads only with write access to "
                    f"{self.path.parent}: copy the run to a writable place and read it there"
                ) from error
        return self._open(f"{uri}?mode=ro&immutable=1", uri=True, create=False)

    def _open(self, target: str, *, create: bool, uri: bool = False) -> sqlite3.Connection | None:
        """A new connection to ``target`` with the schema checked; a missing schema is created
        for a write (``create``), and is ``None`` for a read, which must change nothing."""
        try:
            connection = sqlite3.connect(
                target,
                timeout=min(self.lock_timeout, _MAX_BUSY_WAIT),
                isolation_level=None,
                check_same_thread=False,
                uri=uri,
            )
        except sqlite3.Error as error:
            raise StorageError(
                f"Could not open the SQLite database {self.path}: {error}"
            ) from error
        self._opened = identify(self.path, self.root_directory)
        try:
            prepared = self._prepare(connection, create=create)
        except BaseException as error:
            connection.close()
            if isinstance(error, sqlite3.Error):
                raise self.error("open the run", error) from error
            raise
        if not prepared:
            connection.close()
            return None
        return connection

    def _prepare(self, connection: sqlite3.Connection, *, create: bool) -> bool:
        """Check the schema version, creating the schema (in WAL mode) for a new database if
        ``create``; whether the database has the schema now."""
        synchronous = f"PRAGMA synchronous = {'FULL' if self.fsync else 'NORMAL'}"
        self._retrying(lambda: connection.execute(synchronous), "set the sync mode")
        version = self._retrying(lambda: schema_version(connection, self.path), "read the schema")
        if version is None:
            if not create:
                return False
            self._retrying(lambda: enable_wal(connection), "enable WAL mode")
            with self._write_transaction(connection):
                version = schema_version(connection, self.path)
                if version is None:  # another process may have created it meanwhile
                    version = create_schema(connection)
        refuse_an_unknown_version(version, self.path)
        return True

    # -- transactions and retries -----------------------------------------------------------
    @contextlib.contextmanager
    def _write_transaction(self, connection: sqlite3.Connection) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` (retried while busy) ... ``COMMIT``, or ``ROLLBACK`` on any error."""
        self._retrying(lambda: connection.execute("BEGIN IMMEDIATE"), "start a write transaction")
        what = "write"
        try:
            refuse_any_gone(self._opened)  # the run's own database, not an unlinked one
            yield
            what = "commit a transaction"
            connection.execute("COMMIT")
        except BaseException as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            self._root_recorded = False  # the rollback may have undone _record_root's write
            if isinstance(error, sqlite3.Error):
                raise self.error(what, error) from error
            raise

    def _retrying(self, action: Callable[[], T], what: str) -> T:
        """Run ``action``, retrying while the database is busy, up to ``lock_timeout``."""
        started = time.monotonic()
        delay = 0.002
        while True:
            try:
                return action()
            except sqlite3.Error as error:
                waited = time.monotonic() - started
                if not _has_code(error, _BUSY_CODES, "locked", "busy"):
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
        elif "unable to open" in message and not os.access(self.path.parent, os.W_OK):
            message += f" (its directory {self.path.parent} is not writable)"
        return StorageError(f"Could not {what} in the SQLite database {self.path}: {message}")

    # -- rows -------------------------------------------------------------------------------
    def _read_info(self, connection: sqlite3.Connection) -> RunInfo | None:
        row = connection.execute("SELECT data FROM run_info WHERE id = 1").fetchone()
        if row is None:
            return None
        try:
            return self.converter.structure(json.loads(row[0]), RunInfo)
        except Exception as error:
            details = structure_error_text(error, "run_info")
            raise StorageError(f"{self.path}: the stored run info is invalid: {details}") from error

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
        """Give every trial written or looked at its folder with a readable ``config.yaml``
        (as ``disk`` does), where a killed worker left it out too."""
        for trial in trials:
            try:
                self._files.write_config(trial)
            except OSError as error:
                # The database already holds the trial; the file is a convenience.
                logger.warning(
                    "Could not write %s/config.yaml: %s", self.trial_directory(trial.id), error
                )
