"""attrs validators for the ``Settings`` classes of plugins, with messages naming the option.

Plugins validate their options in their frozen attrs ``Settings`` class; these validators give
every plugin the same wording ("n_workers must be at least 1, got 0"), which the run-config
errors then prefix with the YAML path of the bad key. ``None`` always passes: an optional
option left unset means "the plugin's default". The number checks and the ``plain_number``
converter serve the run settings too.
"""

from __future__ import annotations

import decimal
import fractions
import math
import numbers
import shutil
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from neps_core.errors import SettingsError
from neps_core.evaluation.child_runner import EXACT_REALS, exact_real_as_float

if TYPE_CHECKING:
    from neps_core.space import PipelineSpace

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def at_least(minimum: float) -> Validator:
    """The value is ``None`` or at least ``minimum``."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


def is_number(value: Any) -> bool:
    """Whether ``value`` is an int or a float; not a bool, which Python counts as an int but
    nobody means as a number of seconds, workers or euros."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a number a float can hold: not NaN or infinite, and no int beyond
    a float's range (where ``math.isfinite`` raises ``OverflowError``)."""
    if not is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def is_index(value: Any) -> bool:
    """Whether ``value`` is an integer to index with: an int or a NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_seconds(value: Any) -> bool:
    """Whether ``value`` is a duration or a time: a finite number >= 0, not a bool."""
    return is_finite_number(value) and value >= 0


def positive(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """The value is ``None`` or greater than zero."""
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def share(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """The value is ``None`` or a probability, between 0 and 1."""
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value}")


def executable(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """The value is ``None``, an executable file, or a program found on ``PATH``.

    Checked when the plugin is built: a wrong interpreter failed every trial instead, each
    error blaming ``evaluate_pipeline``, until the budget was used up.
    """
    if value is not None and shutil.which(value) is None:
        raise ValueError(
            f"{attribute.name}={value!r} is neither an executable file nor a program on PATH"
        )


def one_of(choices: Sequence[Any]) -> Validator:
    """The value is one of ``choices``, of the same type (``1`` is not ``True``)."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not any(value == choice and type(value) is type(choice) for choice in choices):
            raise ValueError(f"{attribute.name} must be one of {list(choices)}, got {value!r}")

    return check


def unset_only(instead: str, default: bool | None = None) -> Validator:
    """The value is NePS's ``default``: a NePS option whose feature neps_core does not have,
    or has under another name (Hyperband's ``use_priors=True`` is ``sampler="prior"``).

    Accepting the default lets NePS scripts that spell out its defaults run unchanged; any
    other value stops the run with ``instead``, what to use in its place.
    """

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not default:
            raise ValueError(f"{attribute.name}={value!r} is not supported: {instead}")

    return check


#: NePS's ``ignore_fidelity`` values. ``"highest fidelity"`` (``"highest_fidelity"`` in its
#: grid search) is NePS's spelling of "keep the fidelity at its maximum", which is what
#: ``True`` means here.
IGNORE_FIDELITY = one_of((True, False, "highest fidelity", "highest_fidelity"))


def refuse_searched_fidelity(optimizer: str, ignore_fidelity: Any, space: PipelineSpace) -> None:
    """``ignore_fidelity=False`` for an optimizer that keeps a fidelity at its maximum: fine
    without a fidelity, refused with one, as NePS does (rather than accepted and ignored)."""
    if ignore_fidelity is False and space.fidelity is not None:
        raise SettingsError(
            f"optimizer {optimizer!r}: ignore_fidelity=False, but the space has the fidelity "
            f"{space.fidelity_name!r}, which {optimizer} does not search (as in NePS); use "
            "ignore_fidelity=True or 'highest fidelity' to evaluate at its maximum, or "
            "random_search with ignore_fidelity=False to vary it like a parameter"
        )


def plain_number(value: Any) -> Any:
    """A NumPy integer or real, a ``Decimal`` or ``Fraction``, as Python's own int (when it
    is a whole number) or float, so that it validates and is saved like one; anything else,
    bools and numbers past a float's range included, is left for the validator to judge."""
    if isinstance(value, bool) or type(value) in (int, float):
        return value
    if isinstance(value, EXACT_REALS):
        number = exact_real_as_float(value)
        return int(value) if _written_whole(value) else value if number is None else number
    if not isinstance(value, numbers.Real):
        return value
    try:
        return int(value) if isinstance(value, numbers.Integral) else float(value)
    except OverflowError:
        return value


def _written_whole(value: decimal.Decimal | fractions.Fraction) -> bool:
    """Whether ``value`` is written as a whole number (``Decimal("3")``, not ``"3.0"``, which
    is refused as ``3.0`` is)."""
    if isinstance(value, fractions.Fraction):
        return value.denominator == 1
    exponent = value.as_tuple().exponent
    return value.is_finite() and isinstance(exponent, int) and exponent >= 0
