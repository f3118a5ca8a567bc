"""The heartbeat of a worker's running trials: proof, readable by every process, that it lives.

A background thread with its own storage handle refreshes ``last_heartbeat`` every
``heartbeat_interval`` seconds, so the evaluation itself is never interrupted; other
processes judge the trials by it (``liveness.recover_stale_trials``). It ends once the run's
root has lost its storage pointer (deleted under it): failing there, it would log an error at
every beat for the process's life, and reopening would start a new run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.models import Trial, TrialState
from neps_core.storage_pointer import STORAGE_POINTER_FILE

logger = logging.getLogger(__name__)


class Heartbeat:
    """A daemon thread refreshing ``last_heartbeat`` of this worker's running trials."""

    def __init__(
        self,
        open_storage: Callable[[], Storage],
        root: Path,
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
        self._pointer = Path(root, STORAGE_POINTER_FILE)  # there while the run is
        self._worker_id = worker_id
        self._interval = interval
        self._running = running
        self._gone = gone
        self._ended = ended
        self._changed = threading.Condition()  # guards the state below
        self._stopping = False
        self._wanted = 0  # beats asked for by check_now(), counted as _begun counts them
        self._begun = 0
        self._done = 0
        self._over = False
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
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def check_now(self) -> None:
        """Beat at once, and return once that beat is done or the thread has ended: a tell
        in this process may leave a dropped client nothing to beat, and its presence must
        be gone when the tell returns (an overwrite may follow at once)."""
        with self._changed:
            if not self._thread.is_alive():
                return
            wanted = self._wanted = self._begun + 1
            self._changed.notify_all()
            self._changed.wait_for(
                lambda: self._over or (self._done >= wanted and not self._stopping)
            )

    def _loop(self) -> None:
        with contextlib.ExitStack() as finish:  # last in, first out, however each ends
            finish.callback(self._finished)
            finish.callback(self._ended)
            storage: Storage | None = None  # opened at the first beat, once the run is under way
            while self._next_beat():
                if storage is None and not self._run_is_gone():  # else it would start a run
                    storage = self._opened()
                    if storage is not None:
                        finish.callback(storage.close)
                beaten = storage is not None and self._beat(storage)
                if not beaten and self._run_is_gone():
                    logger.warning(
                        "Heartbeat of worker %s ends: its run in %s is gone",
                        self._worker_id,
                        self._pointer.parent,
                    )
                    return
                with self._changed:
                    self._done = self._begun
                    self._changed.notify_all()

    def _next_beat(self) -> bool:
        """Wait an interval, or less if ``check_now`` asks; ``False`` once ended."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._stopping or self._wanted > self._begun, self._interval
            )
            self._begun += 1
            return not self._stopping

    def _run_is_gone(self) -> bool:
        """Whether the run's storage pointer is missing (failing to look says nothing)."""
        try:
            return not self._pointer.exists()
        except OSError:
            return False

    def _finished(self) -> None:
        with self._changed:
            self._over = True
            self._changed.notify_all()

    def _opened(self) -> Storage | None:
        try:
            return self._open_storage()
        except Exception:  # tried again at the next beat: missed beats must not end beating
            logger.exception("Heartbeat of worker %s could not open the storage", self._worker_id)
            return None

    def _beat(self, storage: Storage) -> bool:
        """Whether the beat was written (or nothing was left to beat)."""
        running = self._running()
        if not running:
            return True

        held: set[str] = set()

        def refresh(history: TrialHistory) -> list[Trial]:
            nonlocal held
            trials = held_by([history[i] for i in running if i in history], self._worker_id)
            held = {trial.id for trial in trials}
            return beats(trials, self._worker_id)

        try:
            storage.transact(refresh)
        except Exception:  # a missed beat must not kill the worker; the next one retries
            if not self._run_is_gone():  # else the loop ends, logging that once
                logger.exception("Heartbeat of worker %s failed", self._worker_id)
            return False
        if running - held:
            self._gone(running - held)
        return True


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
