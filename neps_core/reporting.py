"""Turning what an evaluation produced into a stored, final trial.

Shared by the worker loop, ``save_pipeline_results`` and ask-and-tell clients, so that every
path applies the same result contract and error settings.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import attrs

from neps_core.config import RunSettings
from neps_core.errors import (
    MissingCostError,
    ObjectiveCountError,
    ProcessEndedError,
    TrialAlreadyReportedError,
    TrialNotFoundError,
    add_note,
    object_of_type,
)
from neps_core.history import TrialHistory
from neps_core.interfaces import EvaluationOutcome, Storage
from neps_core.liveness import without_running_marks
from neps_core.models import Objective, Report, Trial, TrialState, default_learning_curve
from neps_core.result_contract import (
    ENDED_IN_TRIAL,
    RAISED_IN_TRIAL,
    RETURN_VALUE,
    TRIAL_NOTES,
    ParsedResult,
    failure_report,
    parse_result,
)
from neps_core.serialization import exception_text, shortened
from neps_core.validators import is_seconds

logger = logging.getLogger(__name__)
LOGGED_ERROR_WIDTH = 1000  # characters of a failed trial's error a warning shows


def reportable_trial(history: TrialHistory, trial_id: str, root: Path) -> Trial:
    """The trial ``trial_id``, which must exist and have no result yet.

    Raises:
        TrialNotFoundError: No such trial in the run in ``root``.
        TrialAlreadyReportedError: It has a result.
    """
    if trial_id not in history:
        raise TrialNotFoundError(f"No trial with id {trial_id!r} in {root}")
    trial = history[trial_id]
    if trial.state.is_final:
        by = f", from worker {trial.worker_id}" if trial.worker_id else ""
        raise TrialAlreadyReportedError(
            f"Trial {trial_id!r} already has a result (state {trial.state.value}{by})"
        )
    return trial


def record_result(
    storage: Storage, trial_id: str, parsed: ParsedResult, evaluated: Trial | None = None
) -> Trial:
    """Store a final result for ``trial_id``, refusing a second result for the same trial.

    ``evaluated`` is the trial as the worker or client reporting it names it, where another
    worker holds it: one handed to another worker meanwhile (this one was silent for longer
    than ``stale_after``) names this worker and its start, not those of the evaluation whose
    result will be dropped; one an ask-and-tell client tells for another names the teller.

    Raises:
        ObjectiveCountError: After storing the trial as FAILED, when its result has another
            number of objectives than the run's earlier results (a Pareto front or a
            promotion cannot compare them).
    """
    mismatch: list[str] = []

    def change(history: TrialHistory) -> list[Trial]:
        trial = reportable_trial(history, trial_id, storage.root_directory)
        result = parsed
        message = _objective_count_mismatch(history, trial_id, parsed)
        mismatch[:] = [message] if message is not None else []  # a retried transaction resets
        if message is not None:
            result = attrs.evolve(
                parsed, state=TrialState.FAILED, report=attrs.evolve(parsed.report, error=message)
            )
        evaluator = trial if evaluated is None else evaluated
        return [
            attrs.evolve(
                trial,
                state=result.state,
                report=result.report,
                worker_id=evaluator.worker_id,
                started_at=evaluator.started_at,
                finished_at=time.time(),
                metadata=_final_metadata(trial, result),
            )
        ]

    try:
        stored = storage.transact(change)[0]
    except Exception as error:  # a full disk; a plugin storage's own error, of any type
        if not isinstance(error, TrialNotFoundError | TrialAlreadyReportedError):  # `change`'s
            add_note(error, _not_stored(trial_id, parsed, storage))
        raise
    if mismatch:
        raise ObjectiveCountError(mismatch[0], stored)
    return stored


def _not_stored(trial_id: str, parsed: ParsedResult, storage: Storage) -> str:
    """What a refused write lost, and where: an evaluated result is not gone without a trace."""
    report, backend = parsed.report, type(storage)
    cost = "" if report.cost is None else f", cost {report.cost!r}"
    return (
        f"The result of trial {trial_id} ({parsed.state.value}, objective_to_minimize "
        f"{report.objective_to_minimize!r}{cost}) was not stored by storage {storage.name!r} "
        f"({backend.__module__}.{backend.__qualname__}): the trial stays unfinished, to be "
        "told again, or evaluated again by a later run()"
    )


def _final_metadata(trial: Trial, result: ParsedResult) -> dict[str, object]:
    """The trial's metadata with the result's, without the marks true only while it ran."""
    return {**without_running_marks(trial.metadata), **result.metadata}


def objective_count(objective: Objective) -> int:
    """How many objectives ``objective`` holds (a tuple is multi-objective)."""
    return len(objective) if isinstance(objective, tuple) else 1


def _objective_count_mismatch(
    history: TrialHistory, trial_id: str, parsed: ParsedResult
) -> str | None:
    """Why ``parsed`` cannot join the run's successful results, if its objective count differs.

    Checked against one earlier success only: every success passed this check when stored.
    """
    objective = parsed.report.objective_to_minimize
    if parsed.state is not TrialState.SUCCESS or objective is None:
        return None
    count = objective_count(objective)
    for other in history.values():
        if other.id == trial_id or other.state is not TrialState.SUCCESS:
            continue
        if other.objective is None:
            continue
        expected = objective_count(other.objective)
        if expected == count:
            return None
        return (
            f"Trial {trial_id}: objective_to_minimize has {count} value(s), but trial "
            f"{other.id} reported {expected}; every result of a run needs the same number "
            "of objectives"
        )
    return None


def judge_outcome(
    outcome: EvaluationOutcome, settings: RunSettings, source: str = RETURN_VALUE
) -> tuple[ParsedResult, BaseException | None]:
    """The result to store for ``outcome``, and the error to raise once it is stored (if any).

    A raised exception is stored as FAILED and re-raised unless ``ignore_errors``; a return
    value breaking the contract, or a missing cost under a cost budget, is stored as FAILED
    and always raised: those are bugs in the caller's code, not failed evaluations.
    """
    if outcome.error is not None:
        report = failure_report(
            outcome.error,
            outcome.traceback,
            objective_on_error=settings.objective_value_on_error,
            cost_on_error=settings.cost_value_on_error,
        )
        logger.warning(
            "Trial %s failed: %s",
            outcome.trial_id,
            _logged_error(report.error, settings.root_directory),
        )
        error = None if settings.ignore_errors else outcome.error
        if error is not None and source == RETURN_VALUE:  # raised out of run(), not tell()
            _name_the_trial(error, outcome.trial_id)
        return _timed(ParsedResult(TrialState.FAILED, report), outcome), error
    try:
        parsed = parse_result(outcome.result, source)
    except Exception as error:
        contract_error = _contract_error(error, outcome.trial_id, source)
        report = failure_report(contract_error, None)
        refused = ParsedResult(TrialState.FAILED, report)
        kept = _kept_without_cost(outcome.result)
        if kept is not None:  # the objective, extras and metadata of a costly evaluation stay
            kept_report = attrs.evolve(kept.report, error=report.error)
            refused = attrs.evolve(kept, state=TrialState.FAILED, report=kept_report)
        return _timed(refused, outcome), contract_error
    parsed = _timed(parsed, outcome)
    if parsed.state is TrialState.FAILED:  # returned: an exception, an "F..." string, NaN
        logger.warning(
            "Trial %s failed: %s",
            outcome.trial_id,
            _logged_error(parsed.report.error, settings.root_directory),
        )
        parsed = attrs.evolve(parsed, report=with_error_values(parsed.report, settings))
    return refused_without_cost(parsed, outcome.trial_id, settings.cost_budget, source)


def refused_without_cost(
    parsed: ParsedResult, trial_id: str, cost_budget: str | None, source: str
) -> tuple[ParsedResult, MissingCostError | None]:
    """``parsed`` failed, and the error to raise, if it is a success without a cost under
    ``cost_budget`` (the name of the one set): no cost budget is ever reached without costs."""
    if not cost_budget or parsed.report.cost is not None or parsed.state is not TrialState.SUCCESS:
        return parsed, None
    error = f"Trial {trial_id}: {cost_budget} is set, so {source} must be a dict with a 'cost' key"
    failed = attrs.evolve(parsed, report=attrs.evolve(parsed.report, error=error))
    return attrs.evolve(failed, state=TrialState.FAILED), MissingCostError(error)


def _logged_error(error: str | None, root_directory: Path) -> str | None:
    """``error`` as a warning shows it: a long one (a whole input echoed in its message) cut,
    saying where the whole text is, which the trial's report keeps."""
    if error is None or len(error) <= LOGGED_ERROR_WIDTH:
        return error
    return (
        f"{shortened(error, LOGGED_ERROR_WIDTH)} [{len(error)} characters in all; the whole "
        f"message is in the trial's report: neps.status({str(root_directory)!r}) or "
        f"neps-core status {root_directory} --json]"
    )


def _kept_without_cost(result: Any) -> ParsedResult | None:
    """A result refused for its ``cost`` alone (negative, NaN), read without it."""
    if not isinstance(result, Mapping) or "cost" not in result:
        return None
    try:
        with warnings.catch_warnings():  # the first reading warned already (legacy keys)
            warnings.simplefilter("ignore", DeprecationWarning)
            return parse_result({k: v for k, v in result.items() if k != "cost"})
    except Exception:  # refused for more than its cost
        return None


def _contract_error(error: Exception, trial_id: str, source: str) -> Exception:
    """The error to store and raise for a result ``parse_result`` refused (or broke on)."""
    if isinstance(error, TypeError | ValueError):  # the contract's own refusals
        return type(error)(f"Trial {trial_id}: {error}")
    # A value that breaks on reading: a sparse tensor, a dict that contains itself, ...
    return TypeError(f"Trial {trial_id}: {source} cannot be read: {exception_text(error)}")


def _name_the_trial(error: BaseException, trial_id: str) -> None:
    """Note on ``error`` (its own type and message) which trial raised it; an instance raised
    again (a cached failure, a retried ``run()``) names only its latest trial. The end of the
    process evaluating it (a SIGTERM from outside) is not said to be raised by the function."""
    notes = getattr(error, "__notes__", None)
    if notes:
        notes[:] = [note for note in notes if not str(note).startswith(TRIAL_NOTES)]
    how = f"{RAISED_IN_TRIAL} {trial_id}"
    if isinstance(error, ProcessEndedError):
        how = (
            f"{ENDED_IN_TRIAL} {trial_id} ended this way (killed from outside neps_core, or "
            "a crash)"
        )
    add_note(error, f"{how}, stored as failed (ignore_errors=True goes on after such errors)")


def with_error_values(report: Report, settings: RunSettings) -> Report:
    """A returned failure with ``objective_value_on_error`` and ``cost_value_on_error``
    where it has no (finite) objective or no cost, as a raised one gets them, and, without a
    reported curve, that objective as its one-point learning curve (NePS's default for a
    returned failure; a raised one has no curve there either)."""
    objective, on_error = report.objective_to_minimize, settings.objective_value_on_error
    values = objective if isinstance(objective, tuple) else (objective,)
    usable = all(v is not None and math.isfinite(v) for v in values)
    cost = settings.cost_value_on_error if report.cost is None else report.cost
    objective = objective if usable or on_error is None else on_error
    reported = report.reported_learning_curve
    curve = default_learning_curve(objective) if reported is None else reported
    return attrs.evolve(report, objective_to_minimize=objective, cost=cost, learning_curve=curve)


def _timed(parsed: ParsedResult, outcome: EvaluationOutcome) -> ParsedResult:
    """``parsed`` with the evaluation's duration and what the evaluator knows of it (job ids)."""
    return attrs.evolve(
        parsed,
        report=attrs.evolve(parsed.report, evaluation_duration=outcome.duration),
        metadata={**parsed.metadata, **outcome.metadata},
    )


def told_outcome(
    trial_id: str,
    result: Any,
    duration: float,
    traceback_text: str | None = None,
    time_end: float | None = None,
) -> EvaluationOutcome:
    """The outcome of a result the user hands in (``AskAndTell.tell``): a value or an exception.

    NePS's ``time_end``, and a traceback given with a value, go to the trial's metadata.
    Those keywords are checked first: a duration of the wrong type was stored, and the trial
    then read back as corrupted, its result lost.
    """
    _check_told_keywords(duration, traceback_text, time_end)
    metadata: dict[str, Any] = {} if time_end is None else {"time_end": time_end}
    if isinstance(result, BaseException):
        formatted = traceback_text or "".join(
            traceback.format_exception(type(result), result, result.__traceback__)
        )
        return EvaluationOutcome(
            trial_id, error=result, traceback=formatted, duration=duration, metadata=metadata
        )
    if traceback_text is not None:
        metadata["traceback"] = traceback_text
    return EvaluationOutcome(trial_id, result=result, duration=duration, metadata=metadata)


def _check_told_keywords(duration: Any, traceback_text: Any, time_end: Any) -> None:
    if not is_seconds(duration):
        raise TypeError(
            f"tell(): evaluation_duration must be a number of seconds >= 0, got {duration!r}"
        )
    if time_end is not None and not is_seconds(time_end):
        raise TypeError(f"tell(): time_end must be a time in seconds (a number), got {time_end!r}")
    if traceback_text is not None and not isinstance(traceback_text, str):
        raise TypeError(f"tell(): traceback_str must be a str, got {traceback_text!r}")


def well_formed_outcomes(
    outcomes: list[Any], in_flight: Mapping[str, Trial]
) -> tuple[list[EvaluationOutcome], Exception | None]:
    """The outcomes the worker can store, and the error refusing the first it cannot: not an
    outcome, a trial id that is no str, an unknown or repeated trial, an ``error`` that is
    no exception, or a duration, traceback or metadata its record cannot hold (it is raised
    once stored). The others were evaluated: they are kept, not evaluated again."""
    kept: dict[str, EvaluationOutcome] = {}
    refusal: Exception | None = None
    for outcome in outcomes:
        problem = _outcome_problem(outcome, in_flight, kept)
        if problem is None:
            kept[outcome.trial_id] = outcome
        elif refusal is None:
            refusal = problem
    return list(kept.values()), refusal


def _outcome_problem(
    outcome: Any, in_flight: Mapping[str, Trial], seen: Collection[str]
) -> Exception | None:
    if not isinstance(outcome, EvaluationOutcome):
        return TypeError(
            f"wait() returned {object_of_type(outcome)}; it must return a list of EvaluationOutcome"
        )
    trial_id = outcome.trial_id
    if not isinstance(trial_id, str):
        return TypeError(
            f"wait() returned an outcome whose trial_id is {trial_id!r}, of type "
            f"{type(trial_id).__name__}; trial ids are str: pass the job's, "
            "EvaluationOutcome(job.trial.id, ...)"
        )
    if trial_id in seen:
        return ValueError(f"wait() returned two outcomes for trial {trial_id!r}")
    if trial_id not in in_flight:
        return ValueError(
            f"wait() returned an outcome for trial {trial_id!r}, which is not in "
            f"flight (any more): in flight were {sorted(in_flight)}"
        )
    if outcome.error is not None and not isinstance(outcome.error, BaseException):
        return TypeError(
            f"wait() returned an outcome of trial {trial_id!r} whose error is a "
            f"{type(outcome.error).__name__}; it must be the exception raised"
        )
    return _record_problem(outcome)


def _record_problem(outcome: EvaluationOutcome) -> Exception | None:
    """What of ``outcome`` the trial's record cannot hold: a ``duration`` of another type (a
    ``timedelta``) was stored, and the trial read back as corrupted, its result lost."""
    where = f"wait() returned an outcome of trial {outcome.trial_id!r} whose"
    if outcome.duration is not None and not is_seconds(outcome.duration):
        return TypeError(
            f"{where} duration is {outcome.duration!r}; it must be a number of seconds >= 0 "
            "(or None)"
        )
    if outcome.traceback is not None and not isinstance(outcome.traceback, str):
        return TypeError(
            f"{where} traceback is {object_of_type(outcome.traceback)}; it must be a str"
        )
    if not isinstance(outcome.metadata, Mapping):
        return TypeError(
            f"{where} metadata is {object_of_type(outcome.metadata)}; it must be a dict"
        )
    return None
