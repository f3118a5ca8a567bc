"""The native space language: parameters, `PipelineSpace`, sampling and the declarative form."""

from neps_core.space.description import describe_space, space_from_description
from neps_core.space.parameters import (
    Categorical,
    Constant,
    Fidelity,
    Float,
    FloatFidelity,
    Integer,
    IntegerFidelity,
    InvalidParameterError,
    Parameter,
)
from neps_core.space.pipeline_space import PipelineSpace

__all__ = [
    "Categorical",
    "Constant",
    "Fidelity",
    "Float",
    "FloatFidelity",
    "Integer",
    "IntegerFidelity",
    "InvalidParameterError",
    "Parameter",
    "PipelineSpace",
    "describe_space",
    "space_from_description",
]
