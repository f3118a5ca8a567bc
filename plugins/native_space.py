"""Space adapters for the native forms: `PipelineSpace`, dicts, and YAML files or mappings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

from neps_core import hookimpl
from neps_core.interfaces import SpaceAdapter
from neps_core.serialization import read_yaml
from neps_core.space import Parameter, PipelineSpace, space_from_description


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
        return isinstance(space, Mapping)

    @classmethod
    def adapt(cls, space: Any) -> PipelineSpace:
        if isinstance(space, PipelineSpace):
            return space
        if isinstance(space, type):
            return space()
        if all(isinstance(value, Parameter) for value in space.values()):
            return PipelineSpace(space)
        return space_from_description(space)


class YamlSpaceAdapter(SpaceAdapter):
    """A path to a YAML file in NePS's declarative form (optionally under ``pipeline_space``)."""

    name: ClassVar[str] = "yaml"

    @classmethod
    def can_adapt(cls, space: Any) -> bool:
        return isinstance(space, str | PathLike) and Path(space).suffix in (".yaml", ".yml")

    @classmethod
    def adapt(cls, space: Any) -> PipelineSpace:
        path = Path(space)
        if not path.is_file():
            raise FileNotFoundError(f"pipeline_space: no such YAML file {path}")
        data = read_yaml(path)
        if isinstance(data, Mapping) and isinstance(data.get("pipeline_space"), Mapping):
            data = data["pipeline_space"]
        try:
            return space_from_description(data)
        except ValueError as error:
            raise type(error)(f"{path}: {error}") from error


@hookimpl
def neps_register_space_adapters() -> Sequence[type[SpaceAdapter]]:
    """Register the native adapters."""
    return [NativeSpaceAdapter, YamlSpaceAdapter]
