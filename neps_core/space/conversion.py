"""The converters of parameters' arguments and their errors, which name the parameter.

Converters run before a parameter exists, so an error names it by the name the caller assigns
it to (``lr = Float(...)``), best effort (see ``neps_core.space.naming``).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from neps_core.errors import InvalidParameterError
from neps_core.space.choices import python_value
from neps_core.space.naming import assigned_name


def label(kind: str, name: str | None) -> str:
    """How an error names a parameter: by its name once it has one, else by its kind."""
    return f"Parameter {name!r} ({kind})" if name else kind


def conversion_error(kind: str, problem: str) -> InvalidParameterError:
    """An error of an attrs converter, which runs before the parameter is built."""
    return InvalidParameterError(f"{label(kind, assigned_name())}: {problem}")


def _not_a_number(kind: str, value: Any) -> InvalidParameterError:
    return conversion_error(kind, f"bounds and prior must be numbers, got {value!r}")


def to_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond 1.8e308: refused by the finiteness check
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        raise _not_a_number("Float", value) from None


def to_optional_float(value: Any) -> float | None:
    return None if value is None else to_float(value)


def _is_fraction(value: Any) -> bool:
    """Whether ``value`` is a real number that is not whole (also NaN and infinities; also a
    NumPy ``float32``, which is no ``float``)."""
    is_real = isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
    return is_real and not float(value).is_integer()


def to_int(value: Any) -> int:
    if _is_fraction(value):
        raise conversion_error("Integer", f"bounds must be whole numbers, got {value}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _not_a_number("Integer", value) from None


def to_integer_prior(value: Any) -> int | None:
    """An ``Integer``'s prior; a finite fraction is truncated towards zero (4.7 becomes 4),
    as NePS's ``Integer.prior`` does, with a warning, since the value changes."""
    if _is_fraction(value) and math.isfinite(value):
        whole = int(value)
        warnings.warn(
            f"{label('Integer', assigned_name())}: prior {value} is not a whole number; "
            f"it is truncated to {whole}, as NePS does",
            UserWarning,
            stacklevel=3,  # this converter, the parameter's __init__, the user's line
        )
        return whole
    if _is_fraction(value):
        raise conversion_error("Integer", f"the prior must be a finite number, got {value}")
    return None if value is None else to_int(value)


def to_choices(values: Iterable[Any]) -> tuple[Any, ...]:
    """The choices as a tuple of Python values; a string or mapping is refused, not taken apart.

    ``choices="adam"`` would otherwise search the letters ``a``, ``d``, ``a``, ``m``.
    """
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise conversion_error(
            "Categorical",
            f"choices must be a list or tuple of choices, got {type(values).__name__} {values!r}",
        )
    return tuple(python_value(value) for value in values)
