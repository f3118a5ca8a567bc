"""Space adapters for the native forms: `PipelineSpace`, dicts, and YAML files or mappings.

For structural spaces, and spaces with categoricals that store an index (tuples,
callables), the plugin also writes ``resolved.yaml`` next to each trial's ``config.yaml``: the
configuration's decision paths and indices are exact but hard to read, so this file shows what
``evaluate_pipeline`` receives, e.g. ``model: Sequential(Conv2d(...), ...)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from neps_core import hookimpl
from neps_core.config_files import read_strict_yaml
from neps_core.interfaces import SpaceAdapter
from neps_core.models import Trial
from neps_core.serialization import dump_yaml, to_plain, write_atomic
from neps_core.space import InvalidParameterError, PipelineSpace, space_from_description
from neps_core.space.description import describes_a_parameter
from neps_core.space.foreign import is_configspace_object, is_configuration_space
from neps_core_plugins.configspace_adapter import from_configspace

if TYPE_CHECKING:
    from neps_core.run_context import RunContext

logger = logging.getLogger(__name__)

#: The readable view of a structural configuration, next to ``config.yaml``.
RESOLVED_FILE = "resolved.yaml"


class NativeSpaceAdapter(SpaceAdapter):
    """``PipelineSpace`` instances or subclasses, and mappings of names to parameters.

    Mapping values may be parameter objects or their declarative form (NePS's YAML keys).
    """

    name: ClassVar[str] = "native"

    @classmethod
    def can_adapt(cls, space: Any) -> bool:
        if isinstance(space, PipelineSpace):
            return True
        if isinstance(space, type) and issubclass(space, PipelineSpace):
            return True
        return isinstance(space, Mapping) and not is_configspace_object(space)  # theirs

    @classmethod
    def adapt(cls, space: Any) -> PipelineSpace:
        if isinstance(space, PipelineSpace):
            return space
        if isinstance(space, type):
            return space()
        embedded = {k: v for k, v in space.items() if is_configuration_space(v)}
        if embedded:
            native = {name: value for name, value in space.items() if name not in embedded}
            return _with_embedded(cls.adapt(native), embedded)
        return PipelineSpace(space)  # parameters or their declarative forms


def _with_embedded(space: PipelineSpace, embedded: Mapping[str, Any]) -> PipelineSpace:
    """``space`` plus the hyperparameters of ConfigSpace spaces given as dict values.

    NePS merged a ``ConfigurationSpace`` found among a dict's parameters into the space; its
    key only names it. Its conditions and forbidden clauses come along.
    """
    parameters = dict(space.parameters)
    conditions = dict(space.conditions)
    forbidden = list(space.forbidden)
    for key, configspace in embedded.items():
        converted = from_configspace(configspace)
        for name in converted.parameters.keys() & parameters.keys():
            raise InvalidParameterError(
                f"Parameter {name!r} of the ConfigurationSpace under {key!r} is also defined "
                "elsewhere in the space; rename one of them"
            )
        parameters.update(converted.parameters)
        conditions.update(converted.conditions)
        forbidden.extend(converted.forbidden)
    return PipelineSpace(parameters, conditions=conditions, forbidden=forbidden)


class YamlSpaceAdapter(SpaceAdapter):
    """A path to a YAML file in NePS's declarative form (optionally under ``pipeline_space``,
    or ``search_space`` as older NePS wrote it)."""

    name: ClassVar[str] = "yaml"

    @classmethod
    def can_adapt(cls, space: Any) -> bool:
        return isinstance(space, str | PathLike) and Path(space).suffix in (".yaml", ".yml")

    @classmethod
    def adapt(cls, space: Any) -> PipelineSpace:
        path = Path(space)
        if not path.is_file():
            raise FileNotFoundError(f"pipeline_space: no such YAML file {path}")
        data = read_strict_yaml(path, InvalidParameterError)
        try:
            return space_from_description(_unwrapped(data))
        except ValueError as error:
            raise type(error)(f"{path}: {error}") from error


#: Keys a YAML space file may put its parameters under: ``pipeline_space`` as in a run
#: config, ``search_space`` as NePS's first YAML spaces did (their loader required it).
WRAPPER_KEYS = ("pipeline_space", "search_space")


def _unwrapped(data: Any) -> Any:
    """The space of a YAML file: under a wrapper key that is the file's only key, or the whole
    file. A wrapper key holding a parameter's own form (``search_space: {lower: 1, upper: 9}``)
    is a parameter so named; one holding parameters beside other keys would drop those keys,
    so it is refused, naming them."""
    if not isinstance(data, Mapping):
        return data
    wrappers = [key for key in WRAPPER_KEYS if _holds_parameters(data.get(key))]
    if not wrappers:
        return data
    if len(data) == 1:
        return data[wrappers[0]]
    others = [str(key) for key in data if key != wrappers[0]]
    raise InvalidParameterError(
        f"the parameters are under {wrappers[0]!r}, but the file has other top-level keys "
        f"too: {others}; move them under {wrappers[0]!r}, or drop the {wrappers[0]!r} level"
    )


def _holds_parameters(value: Any) -> bool:
    """Whether ``value``, under a wrapper key, is a mapping of parameters (not one's form)."""
    return isinstance(value, Mapping) and not describes_a_parameter(value)


@hookimpl(trylast=True)  # after other plugins' adapters: a Mapping subclass may be theirs
def neps_register_space_adapters() -> Sequence[type[SpaceAdapter]]:
    """Register the native adapters."""
    return [NativeSpaceAdapter, YamlSpaceAdapter]


@hookimpl
def neps_trial_sampled(run: RunContext, trial: Trial) -> None:
    """Write the readable view of a configuration into the trial's folder, where it differs."""
    if run.space.reads_as_stored:
        return
    directory = run.storage.trial_directory(trial.id)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        readable = to_plain(run.space.readable(trial.config))  # NumPy choices too
        write_atomic(directory / RESOLVED_FILE, dump_yaml(readable))
    except OSError as error:  # a convenience file; the run goes on without it
        logger.warning("Could not write %s for trial %s: %s", RESOLVED_FILE, trial.id, error)
