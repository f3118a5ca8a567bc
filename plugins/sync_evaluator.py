"""The ``sync`` evaluator (the default): evaluate in this process, one trial at a time."""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from typing import ClassVar

from neps_core import hookimpl
from neps_core.interfaces import (
    EvaluationJob,
    EvaluationOutcome,
    Evaluator,
    call_evaluate_pipeline,
)
from neps_core.termination import WorkerStopped, stopping_signal_noticed


class SyncEvaluator(Evaluator):
    """Calls ``evaluate_pipeline`` directly (awaiting an ``async def`` one); what it raises is
    caught and reported, ``sys.exit()`` too (Ctrl-C and stopping signals stop the worker, also
    through a handler the function installed)."""

    name: ClassVar[str] = "sync"
    aliases: ClassVar[tuple[str, ...]] = ("serial",)  # DeepHyper's method name

    def __init__(self, settings: object = None) -> None:
        super().__init__(settings)
        self._finished: list[EvaluationOutcome] = []

    def submit(self, job: EvaluationJob) -> None:
        started = time.perf_counter()
        try:
            result = _call(job)
        except WorkerStopped:
            raise
        except (Exception, SystemExit) as error:  # sys.exit() ends the evaluation, as in a pool
            outcome = EvaluationOutcome(
                trial_id=job.trial.id,
                error=error,
                traceback=traceback.format_exc(),
                duration=time.perf_counter() - started,
            )
        else:
            outcome = EvaluationOutcome(
                trial_id=job.trial.id, result=result, duration=time.perf_counter() - started
            )
        self._finished.append(outcome)

    def wait(self, timeout: float | None = None) -> list[EvaluationOutcome]:
        finished, self._finished = self._finished, []
        return finished


def _call(job: EvaluationJob) -> object:
    """``evaluate_pipeline``'s result; its ``SystemExit`` after a stopping signal (or SIGINT)
    arrived is the worker's stop (``WorkerStopped``), whoever's handler raised it."""
    with stopping_signal_noticed() as stopping:
        try:
            return call_evaluate_pipeline(job.function, job.arguments, job.context)
        except SystemExit as stop:
            if not isinstance(stop, WorkerStopped) and stopping():
                raise WorkerStopped(stop.code) from stop
            raise


@hookimpl
def neps_register_evaluators() -> Sequence[type[Evaluator]]:
    """Register the sync evaluator."""
    return [SyncEvaluator]
