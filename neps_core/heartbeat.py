"""The heartbeat of a worker's running trials: proof, readable by every process, that it lives.

A background thread with its own storage handle refreshes ``last_heartbeat`` every
``heartbeat_interval`` seconds, so the evaluation itself is never interrupted; other
processes judge the trials by it (``liveness.recover_stale_trials``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import attrs

from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.models import Trial, TrialState

logger = logging.getLogger(__name__)


class Heartbeat:
    """A daemon thread refreshing ``last_heartbeat`` of this worker's running trials."""

    def __init__(
        self,
        open_storage: Callable[[], Storage],
        worker_id: str,
        interval: float,
        running: Callable[[], set[str]],
        *,
        gone: Callable[[set[str]], None] = lambda _: None,
        ended: Callable[[], None] = lambda: None,
    ) -> None:
        """``gone`` hears, after each beat, which of ``running`` the storage no longer shows
        as this worker's (told, or given back); ``ended`` is called last in the thread."""
        self._open_storage = open_storage
        self._worker_id = worker_id
        self._interval = interval
        self._running = running
        self._gone = gone
        self._ended = ended
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="neps-core-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.end()
        self._thread.join()

    def is_alive(self) -> bool:
        """Whether the thread still runs (also ``False`` in a forked child)."""
        return self._thread.is_alive()

    def end(self) -> None:
        """Stop beating without waiting: the thread ends when it wakes, closing its storage
        (for a finalizer, which may run in this very thread)."""
        self._stop.set()

    def _loop(self) -> None:
        storage: Storage | None = None  # opened at the first beat, once the run is under way
        try:
            while not self._stop.wait(self._interval):
                if storage is None:
                    storage = self._opened()
                if storage is not None:
                    self._beat(storage)
        finally:
            try:
                if storage is not None:
                    storage.close()
            finally:
                self._ended()

    def _opened(self) -> Storage | None:
        try:
            return self._open_storage()
        except Exception:  # tried again at the next beat: missed beats must not end beating
            logger.exception("Heartbeat of worker %s could not open the storage", self._worker_id)
            return None

    def _beat(self, storage: Storage) -> None:
        running = self._running()
        if not running:
            return

        held: set[str] = set()

        def refresh(history: TrialHistory) -> list[Trial]:
            nonlocal held
            trials = held_by([history[i] for i in running if i in history], self._worker_id)
            held = {trial.id for trial in trials}
            return beats(trials, self._worker_id)

        try:
            storage.transact(refresh)
        except Exception:  # a missed beat must not kill the worker; the next one retries
            logger.exception("Heartbeat of worker %s failed", self._worker_id)
            return
        if running - held:
            self._gone(running - held)


def held_by(trials: Iterable[Trial], worker_id: str) -> list[Trial]:
    """The ``trials`` that ``worker_id`` still evaluates."""
    return [
        trial
        for trial in trials
        if trial.state is TrialState.EVALUATING and trial.worker_id == worker_id
    ]


def beats(trials: Iterable[Trial], worker_id: str, *, older_than: float = 0.0) -> list[Trial]:
    """The ``trials`` that ``worker_id`` still evaluates, beating now: those whose last beat
    is more than ``older_than`` seconds old.

    Written in a transaction, under the run's lock: the heartbeat thread's, and a sampler's
    at the end of its decision, which may have kept that thread from beating for longer than
    the trials' ``stale_after`` (a Bayesian optimization ask on a thousand trials).
    """
    now = time.time()
    return [
        attrs.evolve(trial, last_heartbeat=now)
        for trial in held_by(trials, worker_id)
        if now - (trial.last_heartbeat or 0.0) > older_than
    ]
