"""Waiting, rather than stopping, while the next trial does not fit ``cost_to_spend`` only
because the trials still running are counted at their estimated cost; and asking again, while
the optimizer proposes nothing, only once a trial it waits for ended.

The estimate errs high, so the running trials may leave room when they end. A worker waits
for them instead of stopping: the budget they leave is still spent if the worker running
them dies, or leaves, with its trial unfinished.
"""

from __future__ import annotations

import logging
import time

from neps_core.budget import within
from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.liveness import evaluated_by_a_worker
from neps_core.models import TrialState
from neps_core.sampler import TrialSampler
from neps_core.stop_reasons import BUDGET_DOES_NOT_FIT

logger = logging.getLogger(__name__)

#: Seconds between asks while waiting: what ended may have cost less than expected, and
#: sampling re-queues a dead worker's trial.
ASK_INTERVAL = 1.0


class CostEstimateWait:
    """Whether a worker that ``sampler`` stopped by the cost budget waits for running trials,
    and when to ask again."""

    def __init__(self, sampler: TrialSampler, worker_id: str) -> None:
        self._sampler = sampler
        self._worker_id = worker_id
        self._asked_at = time.monotonic()
        self._told = False
        self._saw_running = False  # since the last ask

    def may_apply(self) -> bool:
        """Whether the sampler stopped because the next trial did not fit cost_to_spend
        (without reading the run)."""
        stop_reason = self._sampler.stop_reason or ""
        by_cost = self._sampler.settings.cost_to_spend is not None
        return by_cost and stop_reason.startswith(BUDGET_DOES_NOT_FIT)

    def applies(self, history: TrialHistory) -> bool:
        """Whether, the stop being the budget's (``may_apply``), the cheapest new trial would
        fit were the running trials to cost nothing, and some run; or some ended since the
        last ask (ask once more)."""
        if not self._could_fit(history):
            return False  # what finished leaves no room: nothing that ends can make some
        stale_after = self._sampler.settings.stale_after
        running = [t.id for t in history.unfinished() if evaluated_by_a_worker(t, stale_after)]
        if not running:
            return self._saw_running
        self._saw_running = True
        if not self._told:
            logger.info(
                "Worker %s waits for trial(s) %s: %s while they are counted at their "
                "estimated cost, which they may not reach",
                self._worker_id,
                ", ".join(running[:10]),
                self._sampler.stop_reason,
            )
            self._told = True
        return True

    def ask_again(self) -> bool:
        """Whether it is time to sample again (once per ``ASK_INTERVAL``)."""
        now = time.monotonic()
        if now - self._asked_at < ASK_INTERVAL:
            return False
        self._asked_at, self._saw_running = now, False
        return True

    def _could_fit(self, history: TrialHistory) -> bool:
        left = self._sampler.budget(history).remaining_cost
        lowest = history.lowest_new_fidelity(self._sampler.space)
        return left is not None and within(history.cost_model.estimate(lowest, False), left)


class ResultsWait:
    """When a worker whose sampler waits for running trials (``waiting_for``: other workers'
    trials whose results may bring promotions, a first cost) samples again: once one of them
    ended, and once per ``ASK_INTERVAL`` (sampling re-queues a dead worker's trial), rather
    than asking the optimizer at every poll."""

    def __init__(self, sampler: TrialSampler, storage: Storage) -> None:
        self._sampler = sampler
        self._storage = storage
        self._asked_at = time.monotonic()

    def ask_again(self) -> bool:
        """Whether to sample now."""
        waiting, now = self._sampler.waiting_for, time.monotonic()
        recent = waiting and now - self._asked_at < ASK_INTERVAL
        if recent and set(self._storage.sync().ids_in(TrialState.EVALUATING)).issuperset(waiting):
            return False  # none ended
        self._asked_at = now
        return True
