"""The lock the writers of the summary files take turns under, and what they do when a stopped
process holds it.

A worker suspended in the middle of a rewrite (SIGSTOP, Ctrl-Z, a laptop lid) keeps the lock
until it is resumed or killed, maybe for hours. Waiting for it would freeze the files of every
other worker and stall each ``run()`` end for the whole timeout. The lock only keeps an older
snapshot from overwriting a newer one (each file is written atomically, by rename), so while
its holder is stopped the others take turns under a second lock instead and keep the files up
to date. When the stopped one resumes, it finishes its rewrite, which may put an older summary
back until the next rewrite (its own, at the latest, when its ``run()`` ends).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from neps_core.lock_table import holders, locks_on, stat_fields

if TYPE_CHECKING:
    import filelock

logger = logging.getLogger(__name__)
SUMMARY_LOCK = Path(".neps_core", "summary.lock")
#: Taken instead of ``SUMMARY_LOCK`` while a stopped process holds that.
STOPPED_HOLDER_LOCK = Path(".neps_core", "summary.stopped-holder.lock")
#: How often a waiting writer looks whether the holder was stopped meanwhile.
STOPPED_CHECK_SECONDS = 0.5
_told: set[str] = set()  # the holders warned about: a worker rewrites every few seconds


@contextlib.contextmanager
def summary_lock(root: Path, timeout: float) -> Iterator[None]:
    """Hold the summary lock of ``root`` (or, while a stopped process holds it, the second
    lock) for the ``with`` block; raise :class:`filelock.Timeout` after ``timeout`` seconds
    of waiting for a live holder, or at once if a stopped process holds both."""
    (root / SUMMARY_LOCK).parent.mkdir(exist_ok=True)
    lock = _acquire(root, time.monotonic() + timeout)
    try:
        yield
    finally:
        lock.release()


def _acquire(root: Path, deadline: float) -> filelock.BaseFileLock:
    """The first lock whose holder is not stopped, acquired; a stopped holder is looked for
    at once, then every ``STOPPED_CHECK_SECONDS`` (a worker may be suspended meanwhile)."""
    import filelock  # here: readers of a run (``neps-core status``) never lock

    for path in (root / SUMMARY_LOCK, root / STOPPED_HOLDER_LOCK):
        lock, wait = filelock.FileLock(path), 0.0
        while True:
            left = max(deadline - time.monotonic(), 0)
            try:
                lock.acquire(timeout=min(left, wait))
                return lock
            except filelock.Timeout:
                if _held_by_stopped(path):
                    break  # to the next lock
                if left <= wait:
                    raise
                wait = STOPPED_CHECK_SECONDS
    raise filelock.Timeout(str(root / STOPPED_HOLDER_LOCK))


def _held_by_stopped(path: Path) -> bool:
    """Whether a stopped process holds the lock on ``path``; warns once per such process."""
    pids = {lock.pid for lock in locks_on(path) or [] if not lock.waiting}
    stopped = sorted(pid for pid in pids if (stat_fields(pid) or ["?"])[0] in {"T", "t"})
    if stopped and not _told.issuperset(stopped):
        _told.update(stopped)
        logger.warning(
            "A rewrite of the summary files of %s is paused; their lock is held by %s. The other "
            "workers write them without waiting for it; when it resumes, its rewrite may put an "
            "older summary back until the next one",
            path.parent.parent,
            holders(path),
        )
    return bool(stopped)
