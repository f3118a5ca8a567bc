"""The summary files kept up to date while a worker runs, at a bounded cost.

NePS rewrites them after every finished trial, but a rewrite reads the whole run (0.4 s at
20,000 trials). Here a thread of the worker rewrites them once a trial finished and the last
rewrite is older than ``max(REWRITE_INTERVAL, REWRITE_COST_SHARE x how long it took)``: the
first finished trial at once, then at most every few seconds and never more than 1/20 of the
worker's time (opening the storage, which reads the whole run once, is not timed). A trial
finished in between is in the next rewrite even while the worker is busy with a long
evaluation, which is why a thread writes them (with its own storage handle, as the
heartbeat's), not the worker's loop. A thread that finds another process writing them does
not wait for it, but tries again ``BUSY_RETRY`` seconds later: the other may have read the
run before this worker's trial finished. The end of ``run()`` rewrites them in any case.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from neps_core.interfaces import Storage
from neps_core.space import PipelineSpace
from neps_core.summary_files import refresh_shared_summary_files

if TYPE_CHECKING:
    from neps_core.run_context import RunContext

logger = logging.getLogger(__name__)
REWRITE_INTERVAL = 5.0  # seconds: the least time between two rewrites while a worker runs
REWRITE_COST_SHARE = 20  # a rewrite waits this many times as long as the last one took
BUSY_RETRY = 1.0  # seconds: when a rewrite that found another process writing is tried again


def next_rewrite(started: float, took: float) -> float:
    """When the rewrite after one that ``started`` then (monotonic seconds) and ``took`` s is
    due: never within ``REWRITE_INTERVAL``, and 20 times later than it took on a big run."""
    return started + max(REWRITE_INTERVAL, REWRITE_COST_SHARE * took)


class LiveSummaryFiles:
    """A worker's thread rewriting the run's summary files as its trials finish (see above).

    Used as a context manager around the worker's loop; does nothing unless ``enabled``.
    """

    def __init__(
        self,
        open_storage: Callable[[], Storage],
        space: PipelineSpace,
        *,
        enabled: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_storage = open_storage
        self._space = space
        self._enabled = enabled
        self._clock = clock  # seconds, for when the next rewrite is due
        # A trial finished since the last rewrite began, or that found another writing them.
        self._finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="neps-core-summary", daemon=True)

    @classmethod
    def for_run(cls, run: RunContext) -> LiveSummaryFiles:
        """The files of ``run``, kept up to date unless its ``post_run_summary`` is off."""
        return cls(run.open_storage, run.space, enabled=run.settings.post_run_summary)

    def __enter__(self) -> LiveSummaryFiles:
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._finished.set()  # wakes the thread, which then sees the stop
        if self._thread.is_alive():
            self._thread.join()  # a rewrite under way ends first: the run's own follows it

    def trial_finished(self) -> None:
        """Have the files rewritten as soon as the last rewrite is old enough."""
        self._finished.set()

    def _loop(self) -> None:
        storage: Storage | None = None  # opened at the first rewrite, once a trial finished
        due_at = -math.inf
        try:
            while self._finished.wait() and not self._stop.wait(max(0.0, due_at - self._clock())):
                self._finished.clear()
                try:
                    if storage is None:
                        storage = self._open_storage()
                    due_at = self._rewrite(storage)
                except Exception:  # the next finished trial tries again: they are a convenience
                    logger.exception("Could not rewrite the summary files")
                    due_at = self._clock() + REWRITE_INTERVAL
        finally:
            if storage is not None:
                storage.close()

    def _rewrite(self, storage: Storage) -> float:
        """Rewrite the files, or have them tried again if another process writes them; when
        the next rewrite is due."""
        started = self._clock()
        if not refresh_shared_summary_files(storage, self._space, wait=False):
            self._finished.set()  # the other's files may lack this worker's last trial
            logger.debug("Another process rewrites the summary files; trying again shortly")
            return started + BUSY_RETRY
        return next_rewrite(started, self._clock() - started)
