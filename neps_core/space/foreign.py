"""ConfigSpace objects inside the native space language, recognized by their type's module so
that the core never imports ConfigSpace (an optional extra, read by its space adapter plugin).

A ``ConfigurationSpace`` is a ``Mapping`` of hyperparameters: taken for a dict of parameters,
each became an unsearched constant. ``PipelineSpace(cs)`` and ``PipelineSpace({"cs": cs,
...})`` convert it as ``run()`` does, through the space adapters; a hyperparameter alone, and a
space as a class attribute, are refused (``class_attributes.refuse_mistaken_constant``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neps_core.space.pipeline_space import PipelineSpace


def is_configspace_object(value: Any) -> bool:
    """Whether ``value`` is an object of ConfigSpace (a space, a hyperparameter, a clause...)."""
    return type(value).__module__.split(".")[0] == "ConfigSpace"


def is_configspace_hyperparameter(value: Any) -> bool:
    """Whether ``value`` is a ConfigSpace hyperparameter (not a clause), which a parameter of
    this space can stand for."""
    kinds = type(value).__mro__
    return is_configspace_object(value) and any(k.__name__ == "Hyperparameter" for k in kinds)


def is_configuration_space(value: Any) -> bool:
    """Whether ``value`` is a ``ConfigSpace.ConfigurationSpace``."""
    return is_configspace_object(value) and type(value).__name__ == "ConfigurationSpace"


def holds_configuration_space(parameters: Mapping[Any, Any]) -> bool:
    """Whether ``parameters`` is a ``ConfigurationSpace`` or a mapping with one among its
    values (NePS merged those into the space)."""
    return is_configuration_space(parameters) or any(
        is_configuration_space(value) for value in parameters.values()
    )


def adapted(parameters: Mapping[Any, Any]) -> PipelineSpace:
    """``parameters`` as a native space, converted by the installed space adapters exactly as
    ``run(pipeline_space=parameters)`` converts it."""
    from neps_core.components import resolve_space  # it needs the built spaces
    from neps_core.plugin_manager import load_plugins

    return resolve_space(parameters, load_plugins())
