"""A worker's asynchronous trials: ``evaluate_pipeline`` returned ``None``, and the result
comes through ``save_pipeline_results`` from anywhere (seed 000, section 3), not from the
evaluator.

The worker marks such a trial in storage (liveness then leaves it to its job, not to the
worker's heartbeat) and, while it runs, looks for the results that arrived, so that
observers hear of them and its per-call limits count their costs. While they keep it from
starting more trials, it says so: a job that never reports (or an ``evaluate_pipeline`` that
lacks a ``return``) would otherwise leave it waiting without a word.
"""

from __future__ import annotations

import logging
import math
import time

import attrs

from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.liveness import ASYNC_MARK
from neps_core.models import Trial, id_order

ASYNC_NOTICE_INTERVAL = 1.0  # seconds between looks for asynchronous results
HOLD_BACK_REMINDER = 60.0  # seconds between reminders that a worker still waits for them

logger = logging.getLogger(__name__)


class AwaitedResults:
    """The trials of one worker that wait for a result from elsewhere."""

    def __init__(self, storage: Storage, *, every_look: bool) -> None:
        """``every_look``: look in storage at each ``arrived`` call, not once a second, where
        the worker's next decision depends on them (an evaluator bounding them, or
        ``max_cost_per_run``)."""
        self._storage = storage
        self._every_look = every_look
        self._ids: set[str] = set()
        self._look = Cadence(ASYNC_NOTICE_INTERVAL)
        self._said_at = -math.inf  # when the worker last said it waits for them
        self._warned = False  # whether that was said aloud (once a worker)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> frozenset[str]:
        """The trials still waiting, as far as the last look saw."""
        return frozenset(self._ids)

    def mark(self, trial_id: str) -> None:
        """Record that the trial waits for ``save_pipeline_results``, not for this worker."""

        def mark(history: TrialHistory) -> list[Trial]:
            trial = history[trial_id]
            if trial.state.is_final:  # the result arrived already
                return []
            return [attrs.evolve(trial, metadata={**trial.metadata, ASYNC_MARK: True})]

        self._storage.transact(mark)
        self._ids.add(trial_id)

    def arrived(self, *, now: bool = False) -> list[Trial]:
        """The awaited trials that turned final since the last look, in id order, which this
        then forgets; looked for every ``ASYNC_NOTICE_INTERVAL`` seconds, or ``now``."""
        if not self._ids or not (now or self._every_look or self._look.due()):
            return []
        history = self._storage.sync()
        final = [history[i] for i in sorted(self._ids, key=id_order)]
        final = [trial for trial in final if trial.state.is_final]
        self._ids.difference_update(trial.id for trial in final)
        if final:  # a wait for those that are left is a new one: said at once
            self._said_at = -math.inf
        return final

    def say_they_hold_back(self, max_cost: float) -> None:
        """Say that these trials keep the worker from starting more under ``max_cost_per_run``:
        at once (aloud the first time), then every ``HOLD_BACK_REMINDER`` seconds."""
        if not self._ids or time.monotonic() - self._said_at < HOLD_BACK_REMINDER:
            return
        self._said_at = time.monotonic()
        logger.log(
            logging.INFO if self._warned else logging.WARNING,
            "Waiting for trial(s) %s: under max_cost_per_run=%g this call starts no other trial"
            " until their results, due through save_pipeline_results, tell what they cost. A"
            " job that never reports keeps it waiting (report failures too: a result with an"
            " 'exception'), as does an evaluate_pipeline that lacks a `return`",
            ", ".join(sorted(self._ids, key=id_order)),
            max_cost,
        )
        self._warned = True


class Cadence:
    """Whether a look repeated at most once per ``interval`` seconds is due now (the first at
    once); a due answer counts as the look."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -math.inf  # monotonic seconds

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True
