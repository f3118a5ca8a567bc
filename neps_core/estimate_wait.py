"""Waiting, rather than stopping, while the next trial does not fit ``cost_to_spend`` only
because the trials still running are counted at their estimated cost.

The estimate errs high, so the running trials may leave room when they end: a worker that
stopped at once left the rest of the budget to the others (one of two stopped at 24 of 60
while the other's long trial ran), and when that other died, the whole run stopped short
with its trial left evaluating.
"""

from __future__ import annotations

import logging
import time

from neps_core.history import TrialHistory
from neps_core.liveness import awaits_result
from neps_core.sampler import BUDGET_DOES_NOT_FIT

logger = logging.getLogger(__name__)

#: Seconds between asks while waiting: what ended may have cost less than expected, and
#: sampling re-queues a dead worker's trial.
ASK_INTERVAL = 1.0


class CostEstimateWait:
    """Whether a worker stopped by the cost budget waits for running trials, and when to ask
    again. Trials awaiting ``save_pipeline_results`` are not waited for: their results may
    come after every worker has stopped, as the asynchronous pattern intends."""

    def __init__(self, worker_id: str) -> None:
        self._worker_id = worker_id
        self._asked_at = time.monotonic()
        self._told = False
        self._saw_running = False  # since the last ask

    def applies(self, history: TrialHistory, stop_reason: str | None) -> bool:
        """Whether the sampler's ``stop_reason`` is the budget's and trials run that may
        leave room once they end, or ended since the last ask (ask once more)."""
        if stop_reason is None or not stop_reason.startswith(BUDGET_DOES_NOT_FIT):
            return False
        running = [t.id for t in history.unfinished() if not awaits_result(t)]
        if not running:
            return self._saw_running
        self._saw_running = True
        if not self._told:
            logger.info(
                "Worker %s waits for trial(s) %s: %s while they are counted at their "
                "estimated cost, which they may not reach",
                self._worker_id,
                ", ".join(running[:10]),
                stop_reason,
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
