"""Trials a stopping worker or client gives back at once, for any other to evaluate.

A ``run()`` worker stopped by Ctrl-C or an error, and an ``AskAndTell`` client closed with
trials untold, need not leave them to the heartbeat check (``liveness``): they know they
stopped. The cut-short attempt is not counted.
"""

from __future__ import annotations

import logging

import attrs

from neps_core.heartbeat import held_by
from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.liveness import without_running_marks
from neps_core.models import Trial, TrialState

logger = logging.getLogger(__name__)


def give_back(trial: Trial, reason: str) -> Trial:
    """``trial`` back to PENDING for any worker, its attempt not counted (it was cut short)."""
    logger.warning("Giving back trial %s: %s", trial.id, reason)
    return attrs.evolve(
        trial,
        state=TrialState.PENDING,
        worker_id=None,
        attempts=max(0, trial.attempts - 1),
        metadata={**without_running_marks(trial.metadata), "requeued_because": reason},
    )


def give_back_running(storage: Storage, trial_ids: set[str], worker_id: str, reason: str) -> None:
    """Give back those of ``trial_ids`` that ``worker_id`` still evaluates, at once.

    For a worker or client that stops (Ctrl-C, an error): not after ``stale_after``, and
    without counting the cut-short attempt. A failure here must not hide why it stopped.
    """

    def release(history: TrialHistory) -> list[Trial]:
        mine = (history[i] for i in trial_ids if i in history)
        return [give_back(trial, reason) for trial in held_by(mine, worker_id)]

    if not trial_ids:
        return
    try:
        storage.transact(release)
    except Exception as error:  # the storage may be why it stops
        logger.warning("Could not give back trials %s: %s", sorted(trial_ids), error)
