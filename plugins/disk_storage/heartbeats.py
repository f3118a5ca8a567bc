"""Heartbeats in the journal as small delta lines instead of whole trial versions.

A worker moves ``last_heartbeat`` of its running trials every ``heartbeat_interval`` seconds.
Written as whole trials (configuration included), these versions made the journal grow with
how long trials ran, not how many there were, and every reader replayed them all: 6,000
trials of 10 minutes at the default interval left 372,000 lines (154 MB) of which 366,000
were heartbeats, and ``neps-core status`` took 12 s and 380 MB (as lines like the one below:
37 MB, 2.5 s and 66 MB; 1.4 s without any beats). A version that only moves
``last_heartbeat`` is now written as::

    {"heartbeat": 1733150000.5, "id": "12", "worker_id": "host-1-ab12", "attempts": 1}

and applied on replay to the trial's last version. Every other change stays a whole record,
and journals with whole records only (written before) read as ever.

A line is appended under the journal's lock after reading to its end, so the version a delta
was computed from is the one it follows. The guards (the trial still ``evaluating``, by the
same worker, in the same attempt) keep it that way for any other order too: a delta read after
a newer version by another process (a result, a re-queue to another worker) is dropped, and
can at most move the heartbeat of the claim it was written for, never bring back its state.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import attrs

from neps_core.history import TrialHistory
from neps_core.models import Trial, TrialState

logger = logging.getLogger(__name__)

#: The key that tells a heartbeat line from a whole trial record (no ``Trial`` field has it).
HEARTBEAT = "heartbeat"


def heartbeat_record(old: Trial | None, new: Trial) -> dict[str, Any] | None:
    """The delta line for ``new`` when it differs from ``old`` only by ``last_heartbeat``."""
    if old is None or new.state is not TrialState.EVALUATING or new.last_heartbeat is None:
        return None
    if attrs.evolve(old, last_heartbeat=new.last_heartbeat) != new:
        return None
    return {
        HEARTBEAT: new.last_heartbeat,
        "id": new.id,
        "worker_id": new.worker_id,
        "attempts": new.attempts,
    }


class PendingHeartbeats:
    """The heartbeats of one read, applied once each at its end.

    A read of a finished run meets dozens of beats per trial; only the last before the trial's
    next whole version can still matter, and the whole version already holds it (its writer
    read the beat first). So a whole record drops the beats pending for its trial, and the
    rest are applied to the history when the read ends: one new version per beating trial.
    """

    def __init__(self) -> None:
        self._last: dict[str, dict[str, Any]] = {}

    def add(self, record: dict[str, Any]) -> None:
        """Keep ``record`` (a heartbeat line) as its trial's latest beat."""
        trial_id = record.get("id")
        if isinstance(trial_id, str):
            self._last[trial_id] = record
        else:
            logger.warning("Ignored a heartbeat line without a trial id: %s", record)

    def superseded(self, trial_id: str) -> None:
        """A whole version of ``trial_id`` follows the beats pending for it."""
        self._last.pop(trial_id, None)

    def apply(self, history: TrialHistory) -> None:
        """Put the new versions the pending beats make of the trials in ``history``."""
        for trial_id, record in self._last.items():
            trial = history.get(trial_id)
            if trial is None or not _applies(trial, record):
                continue  # a result or another claim came first: the beat is out of date
            beat = _time(record)
            if beat is None:
                logger.warning("Ignored a heartbeat line without a valid time: %s", record)
                continue
            history.put(attrs.evolve(trial, last_heartbeat=beat))
        self._last.clear()


def _applies(trial: Trial, record: dict[str, Any]) -> bool:
    """Whether ``record`` was written for the claim ``trial`` is in."""
    return (
        trial.state is TrialState.EVALUATING
        and trial.worker_id == record.get("worker_id")
        and trial.attempts == record.get("attempts")
    )


def _time(record: dict[str, Any]) -> float | None:
    """The finite number of seconds ``record`` beat at, else ``None`` (an edited line)."""
    beat = record.get(HEARTBEAT)
    if isinstance(beat, bool) or not isinstance(beat, int | float) or not math.isfinite(beat):
        return None
    return float(beat)
