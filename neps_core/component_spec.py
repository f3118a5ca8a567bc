"""A plugin choice as given to ``run()``: a name or class, and its options.

``optimizer=``, ``evaluator=`` and ``storage=`` take the same forms (a name, a ``(name,
options)`` pair, a mapping with ``name``, a class); ``optimizer=`` also NePS's
``neps.algorithms`` objects and its preset names (``hyperband_prior``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from neps_core.errors import SettingsError
from neps_core.optimizer_choice import COMPONENT_FORMS, Algorithm, ConfiguredOptimizer
from neps_core.optimizer_presets import expand_preset


@attrs.frozen
class ComponentSpec:
    """A plugin choice: a registered name (or a class) plus its options."""

    name: str | type
    options: Mapping[str, Any] = attrs.field(factory=dict)
    #: Where a run config gave it (``run.yaml: searcher``), for an error about its options
    #: found only once the run starts: those ``"auto"`` passes to the optimizer it chose.
    source: str | None = attrs.field(default=None, eq=False, kw_only=True)

    @property
    def label(self) -> str:
        """The name as users wrote it (a class shows as its ``name`` or qualified name)."""
        if isinstance(self.name, str):
            return self.name
        return getattr(self.name, "name", self.name.__qualname__)


def component_spec(value: Any, setting: str) -> ComponentSpec:
    """Normalize ``"name"``, ``("name", {...})``, ``{"name": ..., **options}`` or a class.

    NePS's ``neps.algorithms.<name>``, called with a space and options or not, is the class.
    """
    if isinstance(value, ComponentSpec):
        return value
    if isinstance(value, Algorithm | ConfiguredOptimizer):
        return ComponentSpec(value.optimizer, dict(value.options))
    if isinstance(value, str | type):
        return ComponentSpec(value)
    if isinstance(value, Mapping):
        options = dict(value)
        if "name" not in options:
            renamed = [key for key in ("strategy", "algorithm") if key in options]
            hint = f" (NePS's {renamed[0]!r} is 'name' here)" if renamed else ""
            raise SettingsError(
                f"{setting}: a mapping needs a 'name' key{hint}, got {sorted(options)}"
            )
        return ComponentSpec(options.pop("name"), options)
    if isinstance(value, Sequence) and len(value) == 2:
        if not isinstance(value[1], Mapping):
            raise SettingsError(
                f"{setting}: in a (name, options) pair the options are a mapping such as "
                f"{{'eta': 3}}, got {type(value[1]).__name__} {value[1]!r}"
            )
        first = component_spec(value[0], setting)
        return ComponentSpec(first.name, {**first.options, **value[1]})
    raise SettingsError(f"{setting}: expected {COMPONENT_FORMS}, got {type(value).__name__}")


def optimizer_spec(value: Any) -> ComponentSpec:
    """``component_spec`` of ``optimizer=``, NePS's preset names (``hyperband_prior``) expanded."""
    spec = component_spec(value, "optimizer")
    name, options = expand_preset(spec.name, spec.options)
    return attrs.evolve(spec, name=name, options=options)
