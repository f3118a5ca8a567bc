"""From a walked configuration to what ``evaluate_pipeline`` receives, and a readable view.

Walking a configuration yields plain values and ``ResolvedOperation`` records; only the
entries passed to ``evaluate_pipeline`` are then *instantiated*: each operation is called with
its (instantiated) arguments. An operation shared by several uses is called once, so every
use receives the same object (the meaning of a value drawn once); a resampled one is a
separate record and a separate object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from neps_core.errors import add_note


@attrs.frozen(eq=False)
class ResolvedOperation:
    """An operation whose arguments are decided but which has not been called yet."""

    operator: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __repr__(self) -> str:
        return readable(self)


def instantiate_entries(values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` passed on (not ``_``-prefixed) with every operation called,
    shared ones once; an error notes which entry was being built."""
    made: dict[int, Any] = {}
    entries = {}
    for name, value in values.items():
        if name.startswith("_"):
            continue
        try:
            entries[name] = instantiate(value, made)
        except Exception as error:
            add_note(error, f"neps_core: while building the space entry {name!r}")
            raise
    return entries


def instantiate(value: Any, made: dict[int, Any] | None = None) -> Any:
    """``value`` with every operation called; ``made`` keeps shared operations shared."""
    made = {} if made is None else made
    if isinstance(value, ResolvedOperation):
        if id(value) not in made and isinstance(value.operator, str):
            made[id(value)] = readable(value)  # a named operator: the operation as text
        if id(value) not in made:
            operator = instantiate(value.operator, made)
            args = [instantiate(a, made) for a in value.args]
            kwargs = {k: instantiate(v, made) for k, v in value.kwargs.items()}
            try:
                made[id(value)] = operator(*args, **kwargs)
            except Exception as error:
                add_note(error, f"neps_core: while calling the operation {readable(value)}")
                raise
        return made[id(value)]
    if type(value) in (tuple, list):
        return type(value)(instantiate(item, made) for item in value)
    if type(value) is dict:
        return {key: instantiate(item, made) for key, item in value.items()}
    return value


def _name_of(operator: Any) -> str:
    if isinstance(operator, str):
        return operator
    name = getattr(operator, "__qualname__", None) or getattr(operator, "__name__", None)
    return str(name) if name else readable(operator)


def readable(value: Any) -> str:
    """A short, Python-like text of a walked value: ``Sequential(Conv2d(kernel_size=5), ...)``."""
    if isinstance(value, ResolvedOperation):
        parts = [readable(a) for a in value.args]
        parts += [f"{key}={readable(item)}" for key, item in value.kwargs.items()]
        return f"{_name_of(value.operator)}({', '.join(parts)})"
    if type(value) is tuple:
        inner = ", ".join(readable(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if type(value) is list:
        return "[" + ", ".join(readable(item) for item in value) + "]"
    if type(value) is dict:
        return "{" + ", ".join(f"{k!r}: {readable(v)}" for k, v in value.items()) + "}"
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return _name_of(value)
    return repr(value)
