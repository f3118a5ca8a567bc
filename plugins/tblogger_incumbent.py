"""The ``tblogger_incumbent`` observer: the incumbent's curve NePS's ``tblogger`` asks for.

A trial whose ``evaluate_pipeline`` called ``neps.tblogger.ConfigWriter(
write_summary_incumbent=True)`` or ``neps.tblogger.WriteIncumbent()`` leaves a marker in its
folder; when such a trial succeeds, this worker adds the lowest objective of the run's
successful trials so far (NePS's incumbent: at any fidelity, so the curve never rises) to
``<root>/summary_tb``, tag ``Summary/Incumbent_graph``, at step "successful trials - 1". A
marked trial that failed adds nothing: it is no step, and its point would repeat the last.
The worker, not the evaluation, writes it: only it knows the trial's recorded result,
whichever evaluator ran it. Each worker keeps one event file there, flushed per point, and
reads only the trials changed since its last point. A run with several objectives has no
single incumbent: nothing is drawn.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING

from neps_core import hookimpl
from neps_core.history import TrialHistory
from neps_core.models import Summary, Trial, TrialState
from neps_core.tblogger import INCUMBENT_DIRECTORY, INCUMBENT_MARKER, INCUMBENT_TAG, new_writer

if TYPE_CHECKING:
    from neps_core.run_context import RunContext

logger = logging.getLogger(__name__)


class _Curve:
    """One run's incumbent curve in this process: its writer and the lowest objective seen."""

    def __init__(self, run: RunContext) -> None:
        self.writer = new_writer(run.settings.root_directory / INCUMBENT_DIRECTORY)
        self.lowest: float | None = None
        self._read: tuple[int, int] | None = None  # (id of the history, its mark) read up to

    def point(self, history: TrialHistory) -> tuple[int, float] | None:
        """The step and value of the curve now, or ``None`` before a single-objective success."""
        seen = self._read[1] if self._read and self._read[0] == id(history) else None
        changed = history.changed_since(seen) if seen is not None else list(history)
        self._read = (id(history), history.mark)
        for trial_id in changed:
            trial = history[trial_id]
            objective = trial.objective
            if trial.state is TrialState.SUCCESS and isinstance(objective, float):
                self.lowest = objective if self.lowest is None else min(self.lowest, objective)
        if self.lowest is None:
            return None
        return history.count(TrialState.SUCCESS) - 1, self.lowest


_curves: dict[int, _Curve] = {}  # by id(run), dropped when the run ends or is collected
_curves_lock = threading.Lock()


@hookimpl
def neps_trial_finished(run: RunContext, trial: Trial) -> None:
    """Add the incumbent's point if ``trial`` succeeded and asked for it."""
    if trial.state is not TrialState.SUCCESS:
        return  # one step per success: a failed trial's point would repeat the last step
    if not (run.storage.trial_directory(trial.id) / INCUMBENT_MARKER).exists():
        return
    try:
        curve = _curve(run)
        point = curve.point(run.storage.sync())
        if point is not None:
            curve.writer.add_scalar(INCUMBENT_TAG, point[1], point[0])
            curve.writer.flush()
    except Exception:  # the trial's result stands; its curve is a view of it
        logger.warning("tblogger: the incumbent's curve could not be written", exc_info=True)


@hookimpl
def neps_run_finished(run: RunContext, summary: Summary) -> None:
    """Close this run's writer."""
    del summary
    _close(id(run))


def _curve(run: RunContext) -> _Curve:
    with _curves_lock:
        if id(run) not in _curves:
            _curves[id(run)] = _Curve(run)
            # A run never finished (an AskAndTell not closed) must not leave its writer to
            # a later run that gets the same id.
            weakref.finalize(run, _close, id(run))
        return _curves[id(run)]


def _close(key: int) -> None:
    with _curves_lock:
        curve = _curves.pop(key, None)
    if curve is not None:
        curve.writer.close()
