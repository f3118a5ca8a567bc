"""The interface every evaluator plugin implements: where a trial's evaluation runs.

Call sequence: the worker loop calls ``Evaluator.submit`` while fewer than ``capacity``
jobs are in flight, and ``Evaluator.wait`` to collect the outcomes that finished. An
evaluator reports what the user's function returned (or raised) verbatim; turning that into a
``Report`` is the core's job, so every evaluator honours the same
result contract.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from neps_core.evaluation.trial_context import TrialContext
from neps_core.interfaces.optimizer import NoSettings
from neps_core.models import Trial


@attrs.frozen
class EvaluationJob:
    """One trial to evaluate: the function and the exact keyword arguments to call it with.

    ``context``: the trial, its folders and, in a seeded run, its seed, for
    ``call_evaluate_pipeline(..., context=...)``: it seeds the global generators with it, and
    helpers the function calls (NePS's ``tblogger``) find the trial there.
    """

    trial: Trial
    function: Callable[..., Any]
    arguments: Mapping[str, Any]
    pipeline_directory: Path
    timeout: float | None = None
    context: TrialContext | None = None


@attrs.frozen
class EvaluationOutcome:
    """What happened to a job: the raw return value, or the error and its traceback."""

    trial_id: str
    result: Any = None
    error: BaseException | None = None
    traceback: str | None = None
    duration: float = 0.0
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


class Evaluator(abc.ABC):
    """Base class of evaluators; ``Settings`` holds the options of the ``evaluator=`` mapping."""

    name: ClassVar[str]
    Settings: ClassVar[type] = NoSettings

    def __init__(self, settings: Any = None) -> None:
        self.settings = self.Settings() if settings is None else settings

    @property
    def capacity(self) -> int:
        """How many jobs may be in flight at once."""
        return 1

    @property
    def max_outstanding(self) -> int | None:
        """At most this many trials of one worker may lack a result, async ones included.

        ``None`` means no bound beyond ``capacity``; evaluators that hand work to a scheduler
        set it so that one worker cannot flood the queue.
        """
        return None

    @abc.abstractmethod
    def submit(self, job: EvaluationJob) -> None:
        """Start evaluating ``job``."""

    @abc.abstractmethod
    def wait(self, timeout: float | None = None) -> list[EvaluationOutcome]:
        """Outcomes finished since the last call; block up to ``timeout`` s for at least one."""

    def close(self) -> None:  # noqa: B027 - most evaluators hold nothing open
        """Stop whatever is still running and release resources."""
