"""An exclusive inter-process lock on a file descriptor that stays open.

``filelock`` opens and closes its lock file on every acquisition, which costs ~70 us here and
is paid twice per trial; holding the descriptor open and calling ``flock`` costs ~1 us. On
systems without ``fcntl`` (Windows) the ``filelock`` package is used instead.

``flock`` locks belong to the open file description, which a forked child shares with its
parent: through the inherited descriptor both would hold the lock at once. A lock used in
another process than the one that opened it therefore opens its own descriptor first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import filelock

from neps_core.errors import StorageError
from neps_core.lock_table import STOPPED, holders
from neps_core.presence import FLOCK_UNSUPPORTED, is_current

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

_FIRST_RETRY_SECONDS = 0.0002
_LAST_RETRY_SECONDS = 0.005
#: A transaction holds the lock for milliseconds; a wait this long is worth telling about.
ANNOUNCE_WAIT_SECONDS = 5.0
UNKNOWN_HOLDER = "another process (a stopped or suspended worker?)"


class ExclusiveLock:
    """A blocking, non-reentrant lock shared by all processes that open ``path``."""

    def __init__(self, path: Path, *, guards: Path, timeout: float = 300.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.guards = guards  # the file the lock protects, named in errors
        self._descriptor: int | None = None
        self._closer: weakref.finalize | None = None  # closes _descriptor, also if dropped
        self._pid = os.getpid()  # the process that opened _descriptor
        self._threads = threading.Lock()  # flock does not exclude threads sharing a descriptor
        self._fallback = None if fcntl is not None else filelock.FileLock(str(path))

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the duration of the ``with`` block."""
        with self.among_threads():
            if self._fallback is not None:  # pragma: no cover - Windows
                with self._fallback.acquire(timeout=self.timeout):
                    yield
                return
            descriptor = self._open()
            self._acquire(descriptor)
            try:
                self._refuse_a_lock_file_gone(descriptor)
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def among_threads(self) -> Iterator[None]:
        """Exclude only the other threads of this process (``held`` does too): for the state
        they share in memory, which a reader updates without taking the file lock."""
        if self._pid != os.getpid():
            self._forget_the_parents()
        with self._threads:
            yield

    def _refuse_a_lock_file_gone(self, descriptor: int) -> None:
        """Raise if the lock file was deleted or replaced since this process opened it.

        The root was removed (and maybe a new run started in it) under a process that kept its
        descriptor: the lock it holds on the old file excludes none of the workers using the
        new one, so nothing may be read, repaired or written under it.
        """
        if not is_current(descriptor, self.path):
            raise StorageError(
                f"The files of this run were deleted or replaced under this process (its root "
                f"directory removed or overwritten?): the lock file {self.path} is no longer the "
                f"one it holds, so it writes nothing more to {self.guards}; results are not "
                "recorded"
            )

    def _forget_the_parents(self) -> None:
        """In a forked child: drop the parent's descriptor and thread lock (held, maybe, by a
        parent thread at the fork). Closing the child's copy leaves the parent's lock held."""
        self.close()
        self._threads = threading.Lock()
        self._pid = os.getpid()

    def _open(self) -> int:
        if self._descriptor is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # less umask
                self._closer = _closer(self, self._descriptor)
            except OSError as error:  # a read-only run: writing needs the lock file
                raise StorageError(
                    f"Could not open the lock file {self.path} to write to the run: "
                    f"{error.strerror or error}"
                ) from error
        return self._descriptor

    def _acquire(self, descriptor: int) -> None:
        start = time.monotonic()
        deadline, pause = start + self.timeout, _FIRST_RETRY_SECONDS
        announced = False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                if now > deadline:
                    holder = self._holder()  # once: the advice must be for the one named
                    raise StorageError(
                        f"Could not lock {self.path} within {self.timeout:.0f} s: "
                        f"{holder} holds it. {_advice(holder)}; the "
                        "lock_timeout storage option sets how long a worker waits"
                    ) from None
                if not announced and now - start >= ANNOUNCE_WAIT_SECONDS:
                    announced = True
                    logger.warning(
                        "Waiting for the lock of %s for %.0f s now: %s holds it; giving up "
                        "after %.0f s",
                        self.guards,
                        now - start,
                        self._holder(),
                        self.timeout,
                    )
                time.sleep(pause)
                pause = min(pause * 2, _LAST_RETRY_SECONDS)
            except OSError as error:
                raise self._refusal(error) from error

    def _holder(self) -> str:
        """Who holds the lock, for a message: the process if the lock table shows it."""
        return holders(self.path) or UNKNOWN_HOLDER

    def _refusal(self, error: OSError) -> StorageError:
        """Why ``flock`` failed other than by waiting: mostly a file system without locks (an
        NFS mount without its lock service, Lustre without ``flock``). The root already
        records the disk storage, so the advice is a new root or an overwrite: another
        storage given for this root would be refused."""
        what = f"{self.guards} (its lock file {self.path.name})"
        reason = error.strerror or str(error)
        if error.errno not in FLOCK_UNSUPPORTED:
            return StorageError(f"Could not lock {what}: {reason}")
        return StorageError(
            f"Could not lock {what}: the file system of {self.path.parent} does not support "
            f"file locking ({reason}), which the disk storage needs so that workers never write "
            "at once. Start the run in a new root directory on another file system, or use the "
            "sqlite storage with its database on a local disk "
            "(storage='sqlite:////local/path/run.db') with a new root directory or "
            "overwrite_root_directory=True: this root already records the disk storage."
        )

    def close(self) -> None:
        """Close the descriptor (the lock is free whenever it is not held)."""
        if self._closer is not None:
            self._closer()
            self._descriptor = self._closer = None


def _closer(lock: ExclusiveLock, descriptor: int) -> weakref.finalize:
    """What closes ``descriptor``: ``lock.close()``, or the collection of a lock (of a storage)
    dropped unclosed, as an open file is closed; not at exit, under threads still using it."""
    finalizer = weakref.finalize(lock, os.close, descriptor)
    finalizer.atexit = False
    return finalizer


def _advice(holder: str) -> str:
    """What to do about ``holder`` (``ExclusiveLock._holder``): a stopped process holds the
    lock until resumed or ended; a running one may be busy deciding under it; one the lock
    table does not show (not Linux) may be either."""
    busy = (
        "may be busy: an optimizer decides under this lock (a custom optimizer's model fit "
        "on many trials may take minutes); end it only if it hangs"
    )
    if STOPPED in holder:
        return "Resume or end it"
    if holder == UNKNOWN_HOLDER:
        return f"If it is stopped, resume or end it; if it runs, it {busy}"
    return f"It runs, so it {busy}"
