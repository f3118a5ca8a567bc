"""The ``tblogger_incumbent`` observer: the incumbent's curve NePS's ``tblogger`` asks for.

A trial whose ``evaluate_pipeline`` called ``neps.tblogger.ConfigWriter(
write_summary_incumbent=True)`` or ``neps.tblogger.WriteIncumbent()`` leaves a marker in its
folder; when such a trial's result is recorded, this worker adds the run's best objective so
far (as ``neps.status`` ranks it) to ``<root>/summary_tb``, tag ``Summary/Incumbent_graph``,
at step "successful trials - 1". The worker, not the evaluation, writes it: only it knows the
trial's recorded result, whichever evaluator ran it. Each worker keeps one event file there,
flushed per point. A run with several objectives has no single incumbent: nothing is drawn.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from neps_core import hookimpl
from neps_core.models import Summary, Trial, TrialState
from neps_core.summary import RunningBest
from neps_core.tblogger import (
    INCUMBENT_DIRECTORY,
    INCUMBENT_MARKER,
    INCUMBENT_TAG,
    new_writer,
)

if TYPE_CHECKING:
    from neps_core.run_context import RunContext

logger = logging.getLogger(__name__)

_writers: dict[int, Any] = {}  # one per run of this process, by id(run)
_writers_lock = threading.Lock()


@hookimpl
def neps_trial_finished(run: RunContext, trial: Trial) -> None:
    """Add the incumbent's point if ``trial`` asked for it."""
    if not (run.storage.trial_directory(trial.id) / INCUMBENT_MARKER).exists():
        return
    best, successes = RunningBest(), 0
    for each in run.storage.sync().values():
        if each.state is TrialState.SUCCESS:
            successes += 1
            best.add(each)
    if best.best is None:  # no success yet, or several objectives
        return
    try:
        writer = _writer(run)
        writer.add_scalar(INCUMBENT_TAG, best.best, successes - 1)
        writer.flush()
    except Exception:  # the trial's result stands; its curve is a view of it
        logger.warning("tblogger: the incumbent's curve could not be written", exc_info=True)


@hookimpl
def neps_run_finished(run: RunContext, summary: Summary) -> None:
    """Close this run's writer."""
    del summary
    with _writers_lock:
        writer = _writers.pop(id(run), None)
    if writer is not None:
        writer.close()


def _writer(run: RunContext) -> Any:
    with _writers_lock:
        if id(run) not in _writers:
            directory = run.settings.root_directory / INCUMBENT_DIRECTORY
            _writers[id(run)] = new_writer(directory)
        return _writers[id(run)]
