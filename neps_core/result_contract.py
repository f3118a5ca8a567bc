"""The ``evaluate_pipeline`` result contract: what a user may return, turned into a Report.

Allowed: a number (also a NumPy scalar, a 0-d tensor, a ``Decimal`` or a ``Fraction``); a
tuple, list or 1-d array of numbers (multi-objective, as in NePS; one element is one number);
an exception (a failed trial, as in NePS); a dict with ``objective_to_minimize`` (a number,
or a list, array or tensor for multi-objective), ``cost``, ``learning_curve``, ``extra``,
``exception``, ``metadata`` (a dict kept in the trial's metadata, DeepHyper's convention) and
any further keys (kept in the report's ``extra``); a string starting with ``F`` (a failure with that
reason, DeepHyper's convention); ``None`` only for asynchronous evaluation. Anything else is a
``TypeError`` naming the type. ``info_dict``, NePS's current name of ``extra`` (its
``UserResultDict`` key), is taken as ``extra``; seed 001's ``loss`` still works, with a
``DeprecationWarning``. A ``cost`` that is NaN, infinite or negative is a ``ValueError``, as
is an empty ``exception`` string; an ``exception`` neither an exception nor a string is a
``TypeError``; a NaN or infinite objective fails the trial.
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypedDict

import attrs
import numpy as np

from neps_core.evaluation.child_runner import EXACT_REALS, exact_real_as_float
from neps_core.models import Objective, Report, TrialState, default_learning_curve
from neps_core.serialization import exception_text, int_size, key_text, safe_repr, to_plain
from neps_core.warning_origin import warn_at_caller

#: Other names of result keys: seed 001's (deprecated, warned) and NePS's current ones.
_LEGACY_KEYS = {"loss": "objective_to_minimize"}
_OTHER_NAMES = {**_LEGACY_KEYS, "info_dict": "extra"}


class UserResultDict(TypedDict, total=False):
    """The dict ``evaluate_pipeline`` may return, typed (NePS's name); calling it makes a dict.

    Further keys are allowed at run time and kept in the report's ``extra``.
    """

    objective_to_minimize: float | Sequence[float]
    cost: float
    learning_curve: Sequence[float]
    extra: Mapping[str, Any]
    info_dict: Mapping[str, Any]  # NePS's name of ``extra``; both may be given
    exception: BaseException | str
    metadata: Mapping[str, Any]


@attrs.frozen
class ParsedResult:
    """A user's result as a final trial state, the report and the trial metadata to store."""

    state: TrialState
    report: Report
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


#: How errors name a result by default; ``tell()`` and ``save_pipeline_results`` name theirs.
RETURN_VALUE = "evaluate_pipeline's return value"


def parse_result(result: Any, source: str = RETURN_VALUE) -> ParsedResult:
    """Validate and normalize one result (not ``None``); errors call it ``source``.

    A result without a ``learning_curve`` gets NePS's default: its objective as one point.
    """
    parsed = _parse(result, source)
    report = parsed.report
    if report.learning_curve is not None:
        return parsed
    curve = default_learning_curve(report.objective_to_minimize)
    return attrs.evolve(parsed, report=attrs.evolve(report, learning_curve=curve))


def _parse(result: Any, source: str) -> ParsedResult:
    _check_dimensions(result, source)
    result = _from_array(result)
    if isinstance(result, str):
        return _parse_failure_string(result, source)
    if isinstance(result, tuple | list):
        return _success(Report(objective_to_minimize=_objective(result, source)))
    if isinstance(result, BaseException):  # returned rather than raised: no traceback
        return _parse_mapping({"exception": result}, source)
    if isinstance(result, Mapping):
        return _parse_mapping(result, source)
    if is_real_number(result):
        return _success(Report(objective_to_minimize=_as_float(result, source)))
    later = " or None (a result reported later)" if source == RETURN_VALUE else ""
    raise TypeError(
        f"{source} must be a number, a tuple or list of numbers, a dict, an exception{later}, "
        f"got {type(result).__name__}: {_short_repr(result)}{_hint(result)}"
    )


def _hint(result: Any) -> str:
    """What was probably meant by a result of a refused type."""
    if isinstance(result, Coroutine):  # an evaluator plugin that calls the function itself
        result.close()  # no "never awaited" warning on top of this error
        return (
            " (from an async def function, which the evaluator did not await: evaluators "
            "call it with neps_core.interfaces.call_evaluate_pipeline)"
        )
    return ""


def _from_array(value: Any) -> Any:
    """A NumPy array or scalar, or a tensor (``dtype`` and ``tolist``), as Python numbers.

    ``return loss`` with a 0-d tensor is as common as ``return loss.item()``.
    """
    if isinstance(value, np.ndarray | np.generic) or (
        hasattr(value, "tolist") and hasattr(value, "dtype")
    ):
        return value.tolist()
    return value


#: The starts of the note naming the trial on an error raised out of ``run()`` (see
#: ``reporting.judge_outcome``): raised by the function, or the end of its process
#: (``ProcessEndedError``); never part of a stored error message.
RAISED_IN_TRIAL = "neps_core: raised by evaluate_pipeline in trial"
ENDED_IN_TRIAL = "neps_core: not raised by evaluate_pipeline: the process evaluating trial"
TRIAL_NOTES = (RAISED_IN_TRIAL, ENDED_IN_TRIAL)


def failure_report(
    error: BaseException | str,
    traceback: str | None,
    *,
    objective_on_error: float | None = None,
    cost_on_error: float | None = None,
) -> Report:
    """The report of an evaluation that raised (or reported) an error.

    The error's notes (say, which space entry was being built) end its message, which
    ``status`` and the summaries show without the traceback.
    """
    message = error if isinstance(error, str) else exception_text(error)
    notes = [] if isinstance(error, str) else getattr(error, "__notes__", [])
    notes = [note for note in notes if not str(note).startswith(TRIAL_NOTES)]
    if traceback is not None:  # formatted with the note of an earlier raise of this instance
        lines = traceback.splitlines(keepends=True)
        traceback = "".join(line for line in lines if not line.startswith(TRIAL_NOTES))
    if notes:
        message += f" ({'; '.join(map(str, notes))})"
    return Report(
        objective_to_minimize=objective_on_error,
        cost=cost_on_error,
        error=message,
        traceback=traceback,
    )


def _success(report: Report) -> ParsedResult:
    objective = report.objective_to_minimize
    values = objective if isinstance(objective, tuple) else (objective,)
    several = isinstance(objective, tuple)
    for index, value in enumerate(values):
        if value is not None and not math.isfinite(value):
            # An infinite loss is a diverged run, not the best (or worst) result there is.
            where = f"objective_to_minimize[{index}]" if several else "objective_to_minimize"
            error = f"{where} is {'NaN' if math.isnan(value) else value}"
            return ParsedResult(TrialState.FAILED, attrs.evolve(report, error=error))
    return ParsedResult(TrialState.SUCCESS, report)


def _parse_failure_string(result: str, source: str) -> ParsedResult:
    if not result.startswith("F"):
        raise TypeError(
            f"{source} is a str; only strings starting with 'F' (a failure "
            f"reason such as 'F_out_of_memory') are allowed, got {_short_repr(result)}"
        )
    return ParsedResult(TrialState.FAILED, Report(objective_to_minimize=None, error=result))


def _parse_mapping(result: Mapping[str, Any], source: str) -> ParsedResult:
    data = _renamed_legacy_keys(dict(result))
    failure = _failure_message(data.pop("exception", None))
    metadata = data.pop("metadata") if isinstance(data.get("metadata"), Mapping) else {}
    has_objective = data.get("objective_to_minimize") is not None
    if not has_objective and failure is None:
        problem = (
            "'objective_to_minimize' is None"
            if "objective_to_minimize" in data
            else f"it has no 'objective_to_minimize' key (keys: {sorted(result)})"
        )
        deephypers = data.get("objective", None)
        if isinstance(deephypers, str) and deephypers.startswith("F"):  # DeepHyper's failure
            problem += f"; return the failure {deephypers!r} itself, not in a dict"
        elif "objective" in data:  # DeepHyper's key, which DeepHyper maximizes
            problem += "; DeepHyper's 'objective' is maximized, so return its negative as that key"
        raise TypeError(
            f"{source} (a dict) needs an objective to minimize, but "
            f"{problem}; report a failure with 'exception' or by raising"
        )
    report = Report(
        objective_to_minimize=(
            _objective(data.pop("objective_to_minimize"), "objective_to_minimize")
            if has_objective
            else data.pop("objective_to_minimize", None)
        ),
        cost=_cost(data.pop("cost", None)),
        learning_curve=_learning_curve(data.pop("learning_curve", None)),
        extra=_extra(data),
    )
    if failure is not None:
        parsed = ParsedResult(TrialState.FAILED, attrs.evolve(report, error=failure))
    else:
        parsed = _success(report)
    return attrs.evolve(parsed, metadata=_plain_dict(metadata))


def _failure_message(value: Any) -> str | None:
    """The error an ``exception`` key reports: an exception's text or a message string.

    Anything else (``False``, ``0``, ``[]``, the class ``ValueError``) failed the trial
    silently, as did ``""``, a failure with nothing to say: these are refused.
    """
    if value is None:
        return None
    if isinstance(value, BaseException):
        return exception_text(value)
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(
                f"'exception' is an empty string {value!r}; give the failure a message, "
                "or leave the key out (or None) for a successful trial"
            )
        return value
    hint = ""
    if isinstance(value, type) and issubclass(value, BaseException):
        hint = f" (a class; return an instance such as {value.__name__}('why'))"
    raise TypeError(
        "'exception' must be an exception or a message string, got "
        f"{type(value).__name__}: {_short_repr(value)}{hint}"
    )


def _renamed_legacy_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Map seed 001's ``loss`` (with a warning) and NePS's ``info_dict`` onto our keys."""
    for old, new in _OTHER_NAMES.items():
        if old not in data:
            continue
        if old in _LEGACY_KEYS:
            warn_at_caller(
                f"The result key {old!r} is deprecated; return {new!r} instead.",
                DeprecationWarning,
            )
        value, current = data.pop(old), data.get(new)
        if current is None:
            data[new] = value
        elif (
            isinstance(value, Mapping)
            and isinstance(current, Mapping)
            and not (value.keys() & current.keys())
        ):
            data[new] = {**value, **current}
        else:  # both given and they clash: the old one is kept as returned, under its name
            data[old] = value
    return data


def _extra(data: dict[str, Any]) -> dict[str, Any]:
    """The ``extra`` blob merged with the unknown keys, which are kept, never dropped.

    A blob that is not a mapping, or whose keys clash with unknown keys, stays nested under
    ``extra`` as returned, so that neither value overwrites the other.
    """
    blob = data.pop("extra", None)
    if blob is None:
        return _plain_dict(data)
    if isinstance(blob, Mapping) and not (_stored_keys(blob) & _stored_keys(data)):
        return _plain_dict({**blob, **data})
    return _plain_dict({**data, "extra": blob})


def _stored_keys(values: Mapping[Any, Any]) -> set[str]:
    """The keys as stored, as text: ``1`` and ``"1"`` clash."""
    return {key_text(key) for key in values}


def _plain_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    plain = to_plain(dict(values))
    assert isinstance(plain, dict)
    return plain


def is_real_number(value: Any) -> bool:
    """Whether ``value`` is a real number (a ``Decimal`` too, which Python does not register
    as ``numbers.Real`` though it is one); a boolean is not."""
    return isinstance(value, numbers.Real | decimal.Decimal) and not isinstance(value, bool)


def _objective(value: Any, where: str) -> Objective:
    """One number, or a tuple of several (multi-objective); a one-element list is one number."""
    _check_dimensions(value, where)
    value = _numbers(value)
    if is_real_number(value):
        return _as_float(value, where)
    if isinstance(value, list | tuple) and len(value) > 0:
        _check_elements(value, where)
        floats = tuple(_as_float(v, f"{where}[{i}]") for i, v in enumerate(value))
        return floats[0] if len(floats) == 1 else floats
    raise TypeError(
        f"{where} must be a number or a non-empty sequence of numbers (multi-objective), "
        f"got {type(value).__name__}: {_short_repr(value)}"
    )


_OBJECTIVE_FORMS = "a number or a 1-d sequence of numbers (multi-objective)"


def _check_dimensions(
    value: Any, where: str, *, expected: str = _OBJECTIVE_FORMS, dimensions: int = 1
) -> None:
    """An array or tensor of more than ``dimensions`` dimensions (a batch dimension left on)
    is named by its shape: as a list (of lists), it was reported as "got list"."""
    shape = getattr(value, "shape", None)
    if hasattr(value, "dtype") and shape is not None and len(shape) > dimensions:
        fix = "flatten it (e.g. .reshape(-1))" if dimensions else "give one number (e.g. .item())"
        got = f"{type(value).__name__} of shape {tuple(shape)}"
        raise TypeError(f"{where} must be {expected}, got {got}: {fix}")


def _numbers(value: Any) -> Any:
    """``_from_array`` of ``value`` and of each element of a list or tuple (of 0-d tensors)."""
    value = _from_array(value)
    if isinstance(value, list | tuple):
        return [_from_array(item) for item in value]
    return value


def _check_elements(values: Sequence[Any], where: str) -> None:
    """Name the first element that is not a number (the list itself is fine)."""
    for index, item in enumerate(values):
        if not is_real_number(item):
            raise TypeError(
                f"{where}[{index}] must be a number, got {type(item).__name__}: {_short_repr(item)}"
            )


def _cost(value: Any) -> float | None:
    """A cost is what budgets add up: a NaN, infinite or negative one would corrupt them."""
    _check_dimensions(value, "'cost'", expected="a number", dimensions=0)
    value = _from_array(value)
    if value is None:
        return None
    if not is_real_number(value):
        raise TypeError(f"'cost' must be a number, got {type(value).__name__}")
    cost = _as_float(value, "'cost'")
    if not math.isfinite(cost) or cost < 0:
        raise ValueError(f"'cost' must be a finite number >= 0, got {cost}")
    return cost


def _learning_curve(value: Any) -> tuple[float, ...] | None:
    _check_dimensions(value, "'learning_curve'", expected="a 1-d list or array of numbers")
    value = _numbers(value)
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError(
            f"'learning_curve' must be a list or array of numbers, got {type(value).__name__}"
        )
    _check_elements(value, "'learning_curve'")
    return tuple(_as_float(v, f"'learning_curve'[{i}]") for i, v in enumerate(value))


def _as_float(value: Any, where: str) -> float:
    """``float(value)``, naming ``where`` for a number beyond a float's range."""
    try:
        number = exact_real_as_float(value) if isinstance(value, EXACT_REALS) else float(value)
    except OverflowError:
        number = None
    if number is None:
        size = ""  # repr() of an int this long may itself be refused (over 4300 digits)
        if isinstance(value, int):
            size = f" ({int_size(value)})"
        raise ValueError(f"{where} is too large for a float{size}")
    return number


def _short_repr(value: Any) -> str:
    text = safe_repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
