"""The converters of parameters' arguments and their errors, which name the parameter.

Converters run before a parameter exists, so an error names it by the name the caller assigns
it to (``lr = Float(...)``), best effort (see ``neps_core.space.naming``).
"""

from __future__ import annotations

import math
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


def to_int(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise conversion_error("Integer", f"bounds and prior must be whole numbers, got {value}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _not_a_number("Integer", value) from None


def to_optional_int(value: Any) -> int | None:
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
