"""A worker's asynchronous trials: ``evaluate_pipeline`` returned ``None``, and the result
comes through ``save_pipeline_results`` from anywhere (seed 000, section 3), not from the
evaluator.

The worker marks such a trial in storage (liveness then leaves it to its job, not to the
worker's heartbeat) and, while it runs, looks for the results that arrived, so that
observers hear of them and its per-call limits count their costs.
"""

from __future__ import annotations

import time

import attrs

from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.liveness import ASYNC_MARK
from neps_core.models import Trial

ASYNC_NOTICE_INTERVAL = 1.0  # seconds between looks for asynchronous results


class AwaitedResults:
    """The trials of one worker that wait for a result from elsewhere."""

    def __init__(self, storage: Storage, *, every_look: bool) -> None:
        """``every_look``: look in storage at each ``arrived`` call, not once a second, where
        the worker's next decision depends on them (an evaluator bounding them, or
        ``max_cost_per_run``)."""
        self._storage = storage
        self._every_look = every_look
        self._ids: set[str] = set()
        self._looked_at = 0.0  # monotonic seconds

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
        if not self._ids or not (now or self._every_look or self._due()):
            return []
        history = self._storage.sync()
        final = [history[i] for i in sorted(self._ids, key=lambda i: (len(i), i))]
        final = [trial for trial in final if trial.state.is_final]
        self._ids.difference_update(trial.id for trial in final)
        return final

    def _due(self) -> bool:
        due = time.monotonic() - self._looked_at >= ASYNC_NOTICE_INTERVAL
        if due:
            self._looked_at = time.monotonic()
        return due
