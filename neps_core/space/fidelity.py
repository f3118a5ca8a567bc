"""The fidelity forms of the numeric parameters (NePS's ``Fidelity``, ``IntegerFidelity``,
``FloatFidelity``): a parameter the multi-fidelity optimizers set instead of searching."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from neps_core.space.parameters import Float, Integer, InvalidParameterError

if TYPE_CHECKING:
    from neps_core.space.pipeline_space import PipelineSpace


def Fidelity(
    parameter: Integer | Float | None = None, *, domain: Integer | Float | None = None
) -> Integer | Float:
    """Mark a numeric parameter as the fidelity (e.g. epochs), as ``neps.Fidelity`` does
    (whose keyword is ``domain``)."""
    if (parameter is None) == (domain is None):
        raise TypeError("Fidelity takes one Integer or Float: Fidelity(neps.Integer(1, 10))")
    parameter = parameter if domain is None else domain
    if not isinstance(parameter, Integer | Float):
        raise InvalidParameterError(
            f"Fidelity wraps an Integer or a Float, got {type(parameter).__name__}"
        )
    return attrs.evolve(parameter, is_fidelity=True)


def IntegerFidelity(lower: int, upper: int, *, log: bool = False) -> Integer:
    """Short form of ``Fidelity(Integer(lower, upper))``."""
    return Integer(lower, upper, log=log, is_fidelity=True)


def FloatFidelity(lower: float, upper: float, *, log: bool = False) -> Float:
    """Short form of ``Fidelity(Float(lower, upper))``."""
    return Float(lower, upper, log=log, is_fidelity=True)


def at_full_fidelity(space: PipelineSpace, config: Mapping[str, Any]) -> bool:
    """Whether ``config`` is at the fidelity's maximum (always, for a space without one).

    What optimizers that keep the fidelity at its maximum learn from: a cheaper evaluation of
    a run they continue (a multi-fidelity optimizer's, imported trials) is biased, and its
    objective is not comparable with theirs.
    """
    fidelity, name = space.fidelity, space.fidelity_name
    return fidelity is None or name is None or config.get(name) == fidelity.upper
