"""The native space language: parameters, structure, conditions, `PipelineSpace`, sampling.

Flat spaces are named parameters (``Float``, ``Integer``, ``Categorical``, ``Constant``, a
fidelity); structural spaces add ``Operation``, ``.resample()`` and ``ByName`` (see
``neps_core.space.structure``); conditions and forbidden clauses come from
``neps_core.space.conditions``; ``neps_core.space.encoding`` turns flat configurations
into arrays for model-based optimizers.
"""

from neps_core.space.conditions import (
    And,
    Clause,
    Equals,
    GreaterThan,
    In,
    LessThan,
    NotEquals,
    Or,
    Relation,
)
from neps_core.space.confidence import ConfidenceLevel
from neps_core.space.description import describe_space, space_from_description
from neps_core.space.fidelity import Fidelity, FloatFidelity, IntegerFidelity
from neps_core.space.legacy import (
    CategoricalParameter,
    ConstantParameter,
    FloatParameter,
    IntegerParameter,
)
from neps_core.space.parameters import (
    Categorical,
    Constant,
    Float,
    Integer,
    InvalidParameterError,
    Parameter,
)
from neps_core.space.pipeline_space import PipelineSpace
from neps_core.space.structure import ByName, Operation, Resampled

__all__ = [
    "And",
    "ByName",
    "Categorical",
    "CategoricalParameter",
    "Clause",
    "ConfidenceLevel",
    "Constant",
    "ConstantParameter",
    "Equals",
    "Fidelity",
    "Float",
    "FloatFidelity",
    "FloatParameter",
    "GreaterThan",
    "In",
    "Integer",
    "IntegerFidelity",
    "IntegerParameter",
    "InvalidParameterError",
    "LessThan",
    "NotEquals",
    "Operation",
    "Or",
    "Parameter",
    "PipelineSpace",
    "Relation",
    "Resampled",
    "describe_space",
    "space_from_description",
]
