"""The ``subprocess`` evaluator: every trial in a child process of its own.

``evaluate_pipeline`` is either a :class:`neps_core.Command` (a command line with ``{name}``
placeholders) or a module-level Python function, which then runs in a fresh interpreter. The
child gets its configuration through ``neps_config.json`` in the trial's directory and the
``NEPS_CORE_*`` environment variables, and reports through ``NEPS_CORE_RESULT_FILE`` or a
``NEPS_CORE_RESULT {json}`` line on stdout (see :mod:`neps_core.evaluation.processes`). Its
stdout and stderr stay in the trial's directory. Up to ``n_workers`` children run at once;
``timeout`` kills a child's whole process group (SIGTERM, then SIGKILL after ``kill_grace``
seconds).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

import attrs

from neps_core import hookimpl
from neps_core.evaluation.processes import (
    ChildProcess,
    Command,
    function_target,
    launch_for,
    refuse_objects,
    stop_children,
)
from neps_core.interfaces import EvaluationJob, EvaluationOutcome, Evaluator
from neps_core.validators import at_least, executable, positive

POLL_STEP = 0.002


@attrs.frozen
class SubprocessSettings:
    """Options of ``evaluator={"name": "subprocess", ...}``."""

    n_workers: int = attrs.field(default=1, validator=at_least(1))
    timeout: float | None = attrs.field(default=None, validator=positive)
    kill_grace: float = attrs.field(default=5.0, validator=at_least(0))
    python: str | None = attrs.field(default=None, validator=executable)
    env: dict[str, str] = attrs.field(factory=dict)


class SubprocessEvaluator(Evaluator):
    """Runs each trial as a child process and collects what it reports."""

    name: ClassVar[str] = "subprocess"
    Settings: ClassVar[type] = SubprocessSettings

    def __init__(self, settings: SubprocessSettings | None = None) -> None:
        super().__init__(settings)
        self._running: dict[str, ChildProcess] = {}
        self._finished: list[EvaluationOutcome] = []

    @property
    def capacity(self) -> int:
        """``n_workers`` children at once."""
        return int(self.settings.n_workers)

    def submit(self, job: EvaluationJob) -> None:
        """Start the child for ``job``; what keeps it from starting fails the trial.

        A function no child can import (a lambda, one defined in a notebook), or an argument
        no child can receive (an object a ``neps.Operation`` built), stops the run instead, its
        trial given back: it failed every trial alike, spending the budget.
        """
        settings: SubprocessSettings = self.settings
        if not isinstance(job.function, Command):
            function_target(job.function)
            refuse_objects(job.arguments)
        timeout = job.timeout if job.timeout is not None else settings.timeout
        try:
            launch = launch_for(
                job.function,
                job.arguments,
                job.pipeline_directory,
                job.trial.id,
                python=settings.python,
                env=settings.env,
                trial=job.context,
            )
            child = ChildProcess(launch, timeout=timeout, kill_grace=settings.kill_grace)
            child.start()
        except Exception as error:
            self._finished.append(EvaluationOutcome(trial_id=job.trial.id, error=error))
            return
        self._running[job.trial.id] = child

    def wait(self, timeout: float | None = None) -> list[EvaluationOutcome]:
        """Poll the children until at least one has exited or ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for trial_id, child in list(self._running.items()):
                if child.poll():
                    del self._running[trial_id]
                    self._finished.append(self._outcome(trial_id, child))
            if self._finished or not self._running:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(POLL_STEP)
        finished, self._finished = self._finished, []
        return finished

    @staticmethod
    def _outcome(trial_id: str, child: ChildProcess) -> EvaluationOutcome:
        """What the child reported; a function's duration by its own clock (not the start of
        its interpreter and its imports), a command's the time it ran."""
        result, error, trace = child.collect()
        duration = (
            child.duration if child.duration is not None else time.monotonic() - child.started
        )
        return EvaluationOutcome(
            trial_id=trial_id, result=result, error=error, traceback=trace, duration=duration
        )

    def close(self) -> None:
        """Kill every child still running (with its process group)."""
        running, self._running = self._running, {}
        stop_children(list(running.values()), self.settings.kill_grace)


@hookimpl
def neps_register_evaluators() -> Sequence[type[Evaluator]]:
    """Register the subprocess evaluator."""
    return [SubprocessEvaluator]
