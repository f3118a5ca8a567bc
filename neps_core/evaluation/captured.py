"""Calling ``evaluate_pipeline`` where a scheduler runs it (a dask task, a SLURM job, a pool
process), and the outcome the worker records for what came back.
"""

from __future__ import annotations

import pickle
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from neps_core.errors import EvaluationTimeoutError, object_of_type
from neps_core.evaluation.child_runner import (
    RemoteEvaluationError,
    call_evaluate_pipeline,
    exception_text,
)
from neps_core.evaluation.main_script import sendable_error, with_plain_values
from neps_core.evaluation.trial_context import TrialContext
from neps_core.interfaces import EvaluationOutcome

#: What one call of ``evaluate_pipeline`` on a remote worker produced, in a picklable form:
#: ``("result", value, None, seconds)`` or ``("error", exception, traceback, seconds)``.
Captured = tuple[str, Any, "str | None", float]


def call_capturing(
    function: Callable[..., Any], arguments: Mapping[str, Any], context: TrialContext | None = None
) -> Captured:
    """Call ``function(**arguments)`` where a scheduler runs it (a dask task, a SLURM job).

    Exceptions are returned, not raised, so they reach the core with their own type and
    traceback instead of as the scheduler's wrapper error (send them with ``sendable_error``,
    which rebuilds one whose ``__init__`` takes other arguments without calling it, and read
    them with :func:`loaded_error`); one that cannot be pickled back at all is replaced by a
    :class:`RemoteEvaluationError` carrying its type and message. A result that cannot be
    pickled fails the trial the same way instead of the scheduler's transfer. ``context``: as
    for :func:`~neps_core.evaluation.child_runner.call_evaluate_pipeline`.
    """
    started = time.perf_counter()
    try:
        value = call_evaluate_pipeline(function, arguments, context)
    except BaseException as error:
        trace = traceback.format_exc()
        try:
            sendable_error(error)
        except Exception:
            error = RemoteEvaluationError(exception_text(error))
        return "error", error, trace, time.perf_counter() - started
    try:
        pickle.dumps(value)
    except Exception as problem:
        try:
            value = with_plain_values(value)
        except Exception:
            unsendable = RemoteEvaluationError(
                f"the result {type(value).__name__}: {value!r:.200} cannot be sent back ({problem})"
            )
            return "error", unsendable, None, time.perf_counter() - started
    return "result", value, None, time.perf_counter() - started


def loaded_error(pickled: bytes) -> BaseException:
    """The exception ``sendable_error`` pickled where ``evaluate_pipeline`` ran; one this
    process cannot load (its class is not importable here) becomes an error saying so."""
    try:
        error = pickle.loads(pickled)
    except Exception as problem:
        return RemoteEvaluationError(f"the evaluation's error cannot be read: {problem}")
    if not isinstance(error, BaseException):
        return RemoteEvaluationError(f"the evaluation's error is {object_of_type(error)}")
    return error


def outcome_of(
    trial_id: str,
    captured: Captured,
    metadata: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
) -> EvaluationOutcome:
    """The outcome the worker records for what :func:`call_capturing` returned (or a reply of
    the same parts), a timeout if it was :func:`overdue`."""
    kind, value, trace, duration = captured
    raised = value if kind == "error" else None
    late = overdue(timeout, duration, raised)
    error = raised if late is None else late
    return EvaluationOutcome(
        trial_id=trial_id,
        result=value if error is None else None,
        error=error,
        traceback=trace,
        duration=duration,
        metadata={} if metadata is None else metadata,
    )


def overdue(
    timeout: float | None, duration: float, raised: BaseException | None = None
) -> EvaluationTimeoutError | None:
    """The timeout of an evaluation that ended after ``timeout`` seconds by its own clock,
    having returned or raised ``raised``: its evaluator read its end late (busy elsewhere, or
    not told when it started), but a timely look would have found it running and ended it."""
    if timeout is None or duration <= timeout:
        return None
    text = None if raised is None else exception_text(raised)
    return EvaluationTimeoutError.came_late(timeout, duration, text)
