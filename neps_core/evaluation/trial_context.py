"""Which trial the running ``evaluate_pipeline`` call evaluates, for helpers it calls.

NePS's ``tblogger.ConfigWriter()`` finds the trial's folder without the function naming
``pipeline_directory``; this is where it looks. Evaluators that call the function in a
process of theirs set it around the call (``call_evaluate_pipeline(..., context=...)``), per
thread and coroutine; a thread the function starts finds it too while it is the only trial
evaluated in the process. A ``subprocess`` child learns it from the environment its
evaluator gives it (``NEPS_CORE_PIPELINE_DIRECTORY`` and the rest).

What a helper opens for the trial (a writer) it closes with ``at_end``: when the call
returns, or, in a child without a scope (the environment's trial), when the child exits.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from neps_core.evaluation.child_runner import (
    PIPELINE_DIRECTORY_ENV,
    PIPELINE_ID_ENV,
    PREVIOUS_PIPELINE_DIRECTORY_ENV,
    ROOT_DIRECTORY_ENV,
    TRIAL_SEED_ENV,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialContext:
    """The trial being evaluated: its id and folders (``None``: not known, or no earlier rung),
    and the seed of its evaluation (``None``: the run has no seed), which
    ``call_evaluate_pipeline`` seeds the global generators with."""

    trial_id: str
    pipeline_directory: Path
    previous_pipeline_directory: Path | None = None
    root_directory: Path | None = None
    #: ``False`` on a torchrun rank that follows rank 0's call: helpers write nothing there.
    lead: bool = True
    seed: int | None = None


@dataclass
class _Evaluation:
    context: TrialContext
    endings: list[Callable[[], None]] = field(default_factory=list)


_CURRENT: ContextVar[_Evaluation | None] = ContextVar("neps_core_trial", default=None)
#: Every evaluation going on in this process, for threads its function started.
_ACTIVE: dict[int, _Evaluation] = {}
_ACTIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def evaluating(context: TrialContext) -> Iterator[None]:
    """``context`` is the current trial inside; what ``at_end`` registered runs on leaving."""
    evaluation = _Evaluation(context)
    token = _CURRENT.set(evaluation)
    with _ACTIVE_LOCK:
        _ACTIVE[id(evaluation)] = evaluation
    try:
        yield
    finally:
        with _ACTIVE_LOCK:
            del _ACTIVE[id(evaluation)]
        _CURRENT.reset(token)
        _run(evaluation.endings)


def current() -> TrialContext | None:
    """The trial being evaluated here, or ``None`` outside an evaluation."""
    evaluation = _this_evaluation()
    if evaluation is not None:
        return evaluation.context
    return _from_environment()


def _this_evaluation() -> _Evaluation | None:
    """This thread's evaluation, else the process's only one (a thread the function started)."""
    evaluation = _CURRENT.get()
    if evaluation is not None:
        return evaluation
    with _ACTIVE_LOCK:
        return next(iter(_ACTIVE.values())) if len(_ACTIVE) == 1 else None


def at_end(ending: Callable[[], None]) -> None:
    """Call ``ending`` when the current evaluation ends (an error in it is logged, not raised:
    the trial's result stands). Outside an evaluation scope: when this process exits."""
    evaluation = _this_evaluation()
    if evaluation is not None:
        evaluation.endings.append(ending)
    else:
        atexit.register(_run, [ending])


def _from_environment() -> TrialContext | None:
    directory = os.environ.get(PIPELINE_DIRECTORY_ENV)
    if not directory:
        return None
    previous = os.environ.get(PREVIOUS_PIPELINE_DIRECTORY_ENV)
    root, seed = os.environ.get(ROOT_DIRECTORY_ENV), os.environ.get(TRIAL_SEED_ENV)
    return TrialContext(
        trial_id=os.environ.get(PIPELINE_ID_ENV, ""),
        pipeline_directory=Path(directory),
        previous_pipeline_directory=Path(previous) if previous else None,
        root_directory=Path(root) if root else None,
        seed=int(seed) if seed else None,
    )


def _run(endings: list[Callable[[], None]]) -> None:
    for ending in endings:
        try:
            ending()
        except Exception:
            logger.warning("neps_core: closing what the trial opened failed", exc_info=True)
