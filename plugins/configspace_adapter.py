"""The ``configspace`` space adapter: a ``ConfigSpace.ConfigurationSpace`` as a native space.

Install with ``pip install neps-core[configspace]``; ConfigSpace is imported only when a
``ConfigurationSpace`` is actually adapted. How each part maps:

=================================  ===========================================================
ConfigSpace                        native
=================================  ===========================================================
Uniform/Normal/Beta Float          ``Float(lower, upper, log, prior=default_value)``
Uniform/Normal/Beta Integer        ``Integer(lower, upper, log, prior=default_value)``
Categorical                        ``Categorical(choices, prior=<index of the default>)``
Ordinal                            ``Categorical(sequence, ...)``; order kept for ``<``/``>``
Constant, UnParametrized           ``Constant(value)``
Equals/NotEquals/In/GreaterThan/   ``Equals``/``NotEquals``/``In``/``GreaterThan``/``LessThan``
LessThan conditions, And/Or        ``And``/``Or`` (the child is active only when it holds)
Forbidden clauses and relations    forbidden clauses of the native space
=================================  ===========================================================

An integer or float with ``meta={"is_fidelity": True}`` becomes the fidelity (its default is
not a prior then). Defaults become priors (with ``prior_confidence`` from a normal's
``sigma``, else ``"medium"``), so prior-aware optimizers use them; uniform samplers ignore
them, and categorical ``weights`` are not carried over.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from neps_core import hookimpl
from neps_core.interfaces import SpaceAdapter
from neps_core.space import (
    And,
    Categorical,
    Clause,
    Constant,
    Equals,
    Float,
    GreaterThan,
    In,
    Integer,
    LessThan,
    NotEquals,
    Or,
    Parameter,
    PipelineSpace,
    Relation,
)
from neps_core.space.choices import prior_indices_meant, python_value
from neps_core.space.foreign import is_configuration_space

#: The ``meta`` key that marks an integer or float hyperparameter as the fidelity (epochs),
#: as NePS's ``is_fidelity=True`` does; ConfigSpace itself has no notion of one.
FIDELITY_MARK = "is_fidelity"

#: Draws that measure the spread of a log-scale normal hyperparameter.
SPREAD_DRAWS = 4096

#: ``prior_confidence`` for defaults that do not say how sure they are.
DEFAULT_CONFIDENCE = "medium"


def _confidence(parameter: Any) -> str:
    """How sure a normal (or beta) hyperparameter's default is: its spread on the unit scale."""
    sigma = getattr(parameter, "sigma", None)
    if sigma is None:
        return DEFAULT_CONFIDENCE
    lower, upper = float(parameter.lower), float(parameter.upper)
    if parameter.log:
        # ConfigSpace maps sigma onto its log-scaled unit interval in a way of its own (sigma
        # 1e-3 around 1e-3 spans 1e-5..1e-1): measure the spread it samples, on that scale.
        drawn = parameter.sample_value(size=SPREAD_DRAWS, seed=np.random.RandomState(0))
        unit = (np.log(np.asarray(drawn, dtype=float)) - math.log(lower)) / math.log(upper / lower)
        relative = float(np.std(unit))
    else:
        relative = float(sigma) / (upper - lower) if upper > lower else 0.0
    return "high" if relative <= 0.08 else "medium" if relative <= 0.18 else "low"


def convert_parameter(parameter: Any) -> Parameter:
    """One ConfigSpace hyperparameter as a native parameter."""
    kind = type(parameter).__name__
    numeric = kind.endswith("FloatHyperparameter") or kind.endswith("IntegerHyperparameter")
    number = Integer if kind.endswith("IntegerHyperparameter") else Float
    mark = (getattr(parameter, "meta", None) or {}).get(FIDELITY_MARK, False)
    if mark not in (True, False):  # "no" is truthy, and made a fidelity (1 and numpy's True pass)
        raise TypeError(
            f"ConfigSpace hyperparameter {parameter.name!r}: meta {FIDELITY_MARK!r} must be True "
            f"or False, got {mark!r}"
        )
    if mark:
        if not numeric:
            raise TypeError(
                f"ConfigSpace hyperparameter {parameter.name!r}: only an integer or float can "
                f"be the fidelity (meta {FIDELITY_MARK!r}), not a {kind}"
            )
        return number(
            python_value(parameter.lower),
            python_value(parameter.upper),
            log=bool(parameter.log),
            is_fidelity=True,
        )
    if kind in ("Constant", "UnParametrizedHyperparameter"):
        return Constant(parameter.value)  # which makes a NumPy scalar a Python value
    if kind in ("CategoricalHyperparameter", "OrdinalHyperparameter"):
        values = getattr(parameter, "choices", None) or parameter.sequence
        choices = [python_value(choice) for choice in values]
        default = python_value(parameter.default_value)
        with prior_indices_meant():
            return Categorical(
                choices, prior=choices.index(default), prior_confidence=DEFAULT_CONFIDENCE
            )
    if numeric:
        return number(
            python_value(parameter.lower),
            python_value(parameter.upper),
            log=bool(parameter.log),
            prior=python_value(parameter.default_value),
            prior_confidence=_confidence(parameter),
        )
    raise TypeError(f"ConfigSpace hyperparameter {parameter.name!r}: {kind} is not supported")


_CONDITIONS: dict[str, Callable[[str, Any], Clause]] = {
    "EqualsCondition": Equals,
    "NotEqualsCondition": NotEquals,
    "GreaterThanCondition": GreaterThan,
    "LessThanCondition": LessThan,
}


def convert_condition(condition: Any) -> Clause:
    """A ConfigSpace condition (or conjunction) as the clause under which its child is active."""
    kind = type(condition).__name__
    if kind in ("AndConjunction", "OrConjunction"):
        parts = [convert_condition(c) for c in condition.components]
        return And(*parts) if kind == "AndConjunction" else Or(*parts)
    parent = condition.parent.name
    if kind == "InCondition":
        return In(parent, [python_value(v) for v in condition.values])
    if kind in _CONDITIONS:
        return _CONDITIONS[kind](parent, python_value(condition.value))
    raise TypeError(f"ConfigSpace condition {condition}: {kind} is not supported")


_RELATIONS = {
    "ForbiddenEqualsRelation": ["=="],
    "ForbiddenLessThanRelation": ["<"],
    "ForbiddenGreaterThanRelation": [">"],
    "ForbiddenLessThanEqualsRelation": ["<", "=="],
    "ForbiddenGreaterThanEqualsRelation": [">", "=="],
}
_FORBIDDEN_ATOMS: dict[str, list[Callable[[str, Any], Clause]]] = {
    "ForbiddenEqualsClause": [Equals],
    "ForbiddenGreaterThanClause": [GreaterThan],
    "ForbiddenLessThanClause": [LessThan],
    "ForbiddenGreaterThanEqualsClause": [GreaterThan, Equals],
    "ForbiddenLessThanEqualsClause": [LessThan, Equals],
}


def _either(clauses: Sequence[Clause]) -> Clause:
    return clauses[0] if len(clauses) == 1 else Or(*clauses)


def convert_forbidden(clause: Any) -> Clause:
    """A ConfigSpace forbidden clause as a native one (true for excluded configurations)."""
    kind = type(clause).__name__
    if kind in ("ForbiddenAndConjunction", "ForbiddenOrConjunction"):
        parts = [convert_forbidden(c) for c in clause.components]
        return And(*parts) if kind == "ForbiddenAndConjunction" else Or(*parts)
    if kind in _RELATIONS:
        left, right = clause.left.name, clause.right.name
        return _either([Relation(left, op, right) for op in _RELATIONS[kind]])
    name = clause.hyperparameter.name
    if kind == "ForbiddenInClause":
        return In(name, [python_value(v) for v in clause.values])
    if kind in _FORBIDDEN_ATOMS:
        value = python_value(clause.value)
        return _either([atom(name, value) for atom in _FORBIDDEN_ATOMS[kind]])
    raise TypeError(f"ConfigSpace forbidden clause {clause}: {kind} is not supported")


def from_configspace(configspace: Any) -> PipelineSpace:
    """The native space equivalent to ``configspace`` (conditions and forbiddens included).

    Only the objects' public attributes are read, so nothing of ConfigSpace is imported here.
    """
    parameters = {str(name): convert_parameter(hp) for name, hp in configspace.items()}
    conditions = {str(c.child.name): convert_condition(c) for c in configspace.conditions}
    forbidden = [convert_forbidden(f) for f in configspace.forbidden_clauses]
    return PipelineSpace(parameters, conditions=conditions, forbidden=forbidden)


class ConfigSpaceAdapter(SpaceAdapter):
    """``ConfigSpace.ConfigurationSpace`` objects (ConfigSpace >= 1.0)."""

    name: ClassVar[str] = "configspace"

    @classmethod
    def can_adapt(cls, space: Any) -> bool:
        return is_configuration_space(space)

    @classmethod
    def adapt(cls, space: Any) -> PipelineSpace:
        return from_configspace(space)


@hookimpl(trylast=True)  # after other plugins' adapters: a Mapping subclass may be theirs
def neps_register_space_adapters() -> Sequence[type[SpaceAdapter]]:
    """Register the ConfigSpace adapter."""
    return [ConfigSpaceAdapter]
