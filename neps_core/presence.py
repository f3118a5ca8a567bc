"""Processes present in a run's root directory, made visible by a lock file.

A worker between two trials evaluates nothing, so trial heartbeats cannot show that it is
alive, and ``overwrite_root_directory=True`` in another process would delete the run under
it: its next results would land in the new run's folders, or in a deleted database. So each
process working on a run (``run()``, ``AskAndTell``, ``import_trials``) holds a shared
``flock`` on ``.neps_core/workers.lock`` while it works, and an overwrite needs that lock
exclusively: it is refused while anyone is present, and workers arriving meanwhile wait for
it to finish (the overwrite keeps the lock file, so they all lock the same one). The
kernel drops the locks of a killed process, so a dead worker never blocks an overwrite.
Without ``fcntl`` (Windows), or on a file system that refuses ``flock``, presence is not
tracked and only the trial heartbeats protect a run.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import functools
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from neps_core.errors import LiveWorkersError
from neps_core.lock_table import FileLock, locks_on, stat_fields

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

WORKERS_LOCK = Path(".neps_core", "workers.lock")
#: errno values of a file system that refuses ``flock`` (then nothing is tracked).
FLOCK_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


class Overwrite(Protocol):
    """Deletes the run; with ``erase=False`` only raises ``LiveWorkersError`` if it may not.

    ``alone``: no other process of this machine is present (the exclusive lock is held), so
    a trial a worker of this machine left EVALUATING has lost its worker (``kill -9``).
    """

    def __call__(self, *, erase: bool = True, alone: bool = False) -> None: ...


@contextlib.contextmanager
def present_in(root: Path, *, overwrite: Overwrite | None = None) -> Iterator[None]:
    """Be present in ``root`` for the ``with`` block; ``overwrite()`` is called first, alone.

    A block that fails before it wrote anything leaves no lock file behind (a refused new
    run writes nothing).

    Raises:
        LiveWorkersError: ``overwrite`` was given while another process is present; named
            by ``overwrite(erase=False)`` where it can tell which trials are running.
    """
    root = Path(root)
    root_existed = root.exists()
    state_existed = (root / WORKERS_LOCK.parent).exists()
    descriptor = _lock(root, "shared") if overwrite is None else _exclusive(root, overwrite)
    try:
        if overwrite is not None:
            # Alone, then stay in the new run: the exclusive lock becomes shared. The
            # overwrite keeps the lock file, so whoever arrives meanwhile waits for this lock.
            overwrite(alone=descriptor is not None)
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_SH)
        yield
    except BaseException:
        if not state_existed:  # also in a folder of other files (another tool's results)
            _remove_if_alone(root, descriptor, remove_root=not root_existed)
        raise
    finally:
        _unlock(descriptor)


def _exclusive(root: Path, overwrite: Overwrite) -> int | None:
    """The lock for an overwrite; refused, naming the running trials where it can, and this
    process where it is one of those present (the advice to stop them would not help)."""
    try:
        return _lock(root, "exclusive")
    except LiveWorkersError as refused:
        error = _explained(overwrite) or refused
        locks = locks_on(root / WORKERS_LOCK)
        if locks is not None and str(os.getpid()) in _present(locks):
            error = LiveWorkersError(f"{error} {IN_THIS_PROCESS.format(pid=os.getpid())}")
        raise error from None


#: Said of an overwrite refused (also) because of this process.
IN_THIS_PROCESS = (
    "Among those working on it is this very process (pid {pid}): an AskAndTell client not yet "
    "closed (one dropped without close() leaves once collected and its asked trials are told, "
    "but a notebook may still refer to it: in its output history, or in the traceback of the "
    "last error), or run() in another thread. close() that client, or tell its trials by id "
    "from another client, or let that run() end, or restart the kernel (interpreter)."
)


def _explained(overwrite: Overwrite) -> LiveWorkersError | None:
    """``overwrite``'s own refusal, which names the running trials, if it has one."""
    try:
        overwrite(erase=False)
    except LiveWorkersError as refusal:
        return refusal
    except Exception:  # the other process may be deleting the run right now: say less
        return None
    return None


def _lock(root: Path, kind: str) -> int | None:
    """A descriptor of the current lock file, locked; ``None`` where locks are not supported."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    path = root / WORKERS_LOCK
    operation = fcntl.LOCK_SH if kind == "shared" else fcntl.LOCK_EX | fcntl.LOCK_NB
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # an overwrite deleted the folder meanwhile: again
            continue
        except OSError as error:
            if error.errno not in _READ_ONLY:
                raise
            return None  # nobody can overwrite it either; the storage says what it cannot write
        try:
            fcntl.flock(descriptor, operation)
        except BlockingIOError:
            os.close(descriptor)
            raise LiveWorkersError(
                f"Refusing to overwrite {root}: another process is working on the run (a "
                "worker between two trials, an AskAndTell client, ...). Stop it first, or "
                "continue the run without overwrite_root_directory."
            ) from None
        except OSError as error:
            os.close(descriptor)
            if error.errno not in FLOCK_UNSUPPORTED:
                raise
            logger.warning("%s does not support flock: workers' presence is not tracked", path)
            return None
        if is_current(descriptor, path):
            return descriptor
        os.close(descriptor)  # an overwrite replaced the file while we waited: lock the new one


def is_current(descriptor: int, path: Path) -> bool:
    """Whether ``descriptor`` is open on the file now at ``path`` (not a deleted one)."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _unlock(descriptor: int | None) -> None:
    if descriptor is not None:
        os.close(descriptor)  # closing the only descriptor releases its flock


def _remove_if_alone(root: Path, descriptor: int | None, *, remove_root: bool) -> None:
    """Remove the lock file (and the root, if ``remove_root`` and it is then empty) if the
    lock file is all there is of neps_core's state and no one else is present."""
    if descriptor is None or fcntl is None:
        return
    state = root / WORKERS_LOCK.parent
    try:
        if os.listdir(state) != [WORKERS_LOCK.name]:
            return
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(root / WORKERS_LOCK)
        state.rmdir()
        if remove_root and not os.listdir(root):
            root.rmdir()
    except OSError:  # someone else is present or wrote something: it is their run now
        return


#: The run() workers of this process still working, counted: two run() calls given one
#: worker_id (threads) both work until the last ends.
_WORKERS_HERE: collections.Counter[str] = collections.Counter()
_WORKERS_HERE_LOCK = threading.Lock()


@contextlib.contextmanager
def working_here(worker_id: str) -> Iterator[None]:
    """Note ``worker_id`` as a ``run()`` worker of this process while it works.

    A trial this process claimed for a worker that has ended is no one's, though the process
    is present: one whose result and give-back the storage refused (a full disk for a moment)
    stayed EVALUATING until the process ended, and a later ``run()`` here took it for a live
    worker's (``works_here``)."""
    with _WORKERS_HERE_LOCK:
        _WORKERS_HERE[worker_id] += 1
    try:
        yield
    finally:
        with _WORKERS_HERE_LOCK:
            _WORKERS_HERE[worker_id] -= 1
            if not _WORKERS_HERE[worker_id]:
                del _WORKERS_HERE[worker_id]


def works_here(worker_id: str | None, *, besides_the_asker: bool = False) -> bool:
    """Whether ``worker_id`` is a ``run()`` worker of this process still working.

    ``besides_the_asker``: the asker is itself a ``run()`` working under ``worker_id``; is
    another one? (A retry given a failed call's ``worker_id`` makes that id work here again.)
    """
    with _WORKERS_HERE_LOCK:
        return worker_id is not None and _WORKERS_HERE[worker_id] > int(besides_the_asker)


def this_process() -> str | None:
    """This process as ``<machine>/<pid>/<start time>`` (``this_machine``); ``None`` off Linux.

    The start time (clock ticks after boot) tells apart processes that had the same pid: a
    container's main process is pid 1 again after every restart.
    """
    machine = this_machine()
    return f"{machine}/{os.getpid()}/{start_ticks('self')}" if machine else None


def this_machine() -> str | None:
    """The kernel's boot id and this process's pid namespace; ``None`` off Linux.

    Only processes of one pid namespace under one kernel see each other's locks and pids
    (``/proc/locks`` leaves out those of other containers), so only there can a missing pid
    vouch that a worker is gone (``present_with_me``), or a present pid that it is alive.
    """
    boot_id = _boot_id()
    return f"{boot_id}.{_pid_namespace()}" if boot_id else None


@functools.cache
def _pid_namespace() -> str:
    try:  # "pid:[4026531836]"
        return os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]")
    except OSError:
        return ""


def start_ticks(pid: str) -> str:
    """When process ``pid`` (or ``"self"``) started, in clock ticks after boot; ``"?"``
    where this process cannot see it (gone, or of another pid namespace)."""
    fields = stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else "?"  # field 22 of proc(5), starttime


def hidden_but_alive(pid: str) -> bool:
    """Whether process ``pid``, whose start time ``start_ticks`` could not read, exists all
    the same: another user's worker where ``/proc`` is mounted with ``hidepid`` (shared HPC
    nodes). Its lock then shows, its ``/proc`` entry does not; signal 0 tells."""
    try:
        os.kill(int(pid), 0)
    except PermissionError:  # it exists, and belongs to another user
        return True
    except (OSError, ValueError):  # no such process
        return False
    return True


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def present_with_me(root: Path) -> list[str] | None:
    """For a process present in ``root``: the pids of this machine's processes present there,
    trusted only if its own shows (``None`` otherwise: unknown)."""
    locks = locks_on(root / WORKERS_LOCK)
    present = None if locks is None else _present(locks)
    return present if present is not None and str(os.getpid()) in present else None


def processes_present(root: Path) -> list[str] | None:
    """The pids of the processes of this machine present in ``root``; ``None`` if unknown.

    For a process that is not present itself (``neps-core clean``, ``status``, ``migrate``):
    it takes a POSIX lock (``lockf``) for a moment, and the lock table is trusted only if that
    lock shows in it. Presence is an ``flock``, so those looking never count as present,
    however many look at once (two ``migrate`` of one run each refused the other).
    """
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        descriptor = os.open(root / WORKERS_LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        locks = locks_on(root / WORKERS_LOCK)
    except OSError:
        return None
    finally:
        os.close(descriptor)  # releases the lock
    mine = FileLock("POSIX", "READ", str(os.getpid()), waiting=False)
    if locks is None or mine not in locks:
        return None
    if any(lock.kind == "FLOCK" and lock.mode == "WRITE" for lock in locks):
        return None  # held exclusively: a run is being overwritten
    return _present(locks)


def _present(locks: list[FileLock]) -> list[str]:
    """The pids holding or awaiting an ``flock``: the processes present."""
    return [lock.pid for lock in locks if lock.kind == "FLOCK"]
