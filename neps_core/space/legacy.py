"""NePS's older parameter spellings, so scripts written for them keep working.

NePS first named its parameters ``FloatParameter``, ``IntegerParameter``,
``CategoricalParameter`` and ``ConstantParameter``, and their prior ``default`` and
``default_confidence``. These factories take those spellings and return today's parameters,
with a ``DeprecationWarning`` naming the current one; the YAML form accepts the old keys too.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from neps_core.space.choices import position, prior_indices_meant
from neps_core.space.parameters import (
    LEGACY_KEYS,
    Categorical,
    Constant,
    Float,
    Integer,
    InvalidParameterError,
    Parameter,
)


def current_keys(fields: Mapping[str, Any], label: str) -> dict[str, Any]:
    """``fields`` with NePS's old key names renamed, warning once per old name."""
    renamed = dict(fields)
    for old, new in LEGACY_KEYS.items():
        if old not in renamed:
            continue
        if new in renamed:
            raise InvalidParameterError(f"{label}: give {new!r} or its old name {old!r}, not both")
        renamed[new] = renamed.pop(old)
        warnings.warn(
            f"{label}: {old!r} is NePS's old name of {new!r}", DeprecationWarning, stacklevel=3
        )
    return renamed


def _legacy(kind: type[Parameter], *args: Any, **given: Any) -> Any:
    """``kind(*args, **given)`` with the old keys renamed, warning about the old name."""
    renames = " (and default=/default_confidence= of prior=/prior_confidence=)" if given else ""
    warnings.warn(
        f"{kind.__name__}Parameter is NePS's old name of {kind.__name__}{renames}",
        DeprecationWarning,
        stacklevel=3,
    )
    renamed = {LEGACY_KEYS.get(key, key): value for key, value in given.items()}
    if renamed.get("prior") is None:
        renamed.pop("prior_confidence", None)  # a confidence without a prior means nothing
    return kind(*args, **renamed)


def FloatParameter(
    lower: float,
    upper: float,
    *,
    log: bool = False,
    is_fidelity: bool = False,
    default: float | None = None,
    default_confidence: str = "low",
) -> Float:
    """NePS's old name of ``Float``."""
    arguments = {"log": log, "is_fidelity": is_fidelity, "default": default}
    return _legacy(Float, lower, upper, **arguments, default_confidence=default_confidence)


def IntegerParameter(
    lower: int,
    upper: int,
    *,
    log: bool = False,
    is_fidelity: bool = False,
    default: int | None = None,
    default_confidence: str = "low",
) -> Integer:
    """NePS's old name of ``Integer``."""
    arguments = {"log": log, "is_fidelity": is_fidelity, "default": default}
    return _legacy(Integer, lower, upper, **arguments, default_confidence=default_confidence)


def CategoricalParameter(
    choices: Iterable[Any], *, default: Any = None, default_confidence: str = "low"
) -> Categorical:
    """NePS's old name of ``Categorical``; ``default`` is a choice (see ``prior_of_default``)."""
    choices = tuple(choices)
    with prior_indices_meant():
        return _legacy(
            Categorical,
            choices,
            default=prior_of_default(choices, default),
            default_confidence=default_confidence,
        )


def prior_of_default(choices: Iterable[Any], default: Any) -> Any:
    """The prior index of NePS's old categorical ``default``, which named a choice.

    Today's ``prior`` is an index, so ``default=2`` among the choices ``(1, 2, 4)`` meant 2,
    not 4. A default that is none of the choices is passed on as it is (an index, or an error).
    """
    index = None if default is None else position(tuple(choices), default)
    return default if index is None else index


def ConstantParameter(value: Any) -> Constant:
    """NePS's old name of ``Constant``."""
    return _legacy(Constant, value)
