"""The declarative (YAML/JSON) form of structural entries: operations, references, resamples.

Every nested value is written with an explicit ``type`` so nothing is ambiguous::

    hidden_layer:
      type: operation
      operator: {type: callable, path: "torch.nn.modules.linear:Linear"}
      args: [64]
      kwargs: {out_features: {type: ref, name: _units}}
    cells:
      type: categorical
      indexed: true                      # the configuration stores the index
      choices:
        - {type: tuple, items: [{type: resample, source: {type: ref, name: cells}}]}
        - {type: resample, source: {type: ref, name: cell}}

Callables are stored by import path (``module:qualname``). A lambda or a function defined
inside another function has no importable path: its description can be written, but a space
can only be rebuilt from it by passing the space itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from neps_core.space.analysis import SpaceStructure
from neps_core.space.parameters import (
    Categorical,
    Constant,
    InvalidParameterError,
    Numerical,
    Parameter,
    is_plain_data,
)
from neps_core.space.structure import ByName, Operation, Resampled

#: Entry types that only exist in the structural form.
STRUCTURAL_TYPES = {"operation", "ref", "resample", "tuple", "list", "dict", "callable", "object"}


def needs_node_form(parameter: Parameter) -> bool:
    """Whether a top-level entry must be written in the structural form."""
    if isinstance(parameter, Categorical):
        return parameter.indexed
    if isinstance(parameter, Constant):
        return not is_plain_data(parameter.value)
    return not isinstance(parameter, Numerical)


def describe_node(
    node: Any,
    structure: SpaceStructure,
    describe_parameter: Callable[[Parameter], dict[str, Any]],
    *,
    root: bool = False,
) -> Any:
    """The plain form of ``node``; references to entries are written as references."""

    def inner(value: Any) -> Any:
        return describe_node(value, structure, describe_parameter)

    shared = structure.reference(node, root=root)
    if shared is not None:
        return {"type": "ref", "name": shared}
    if isinstance(node, Parameter):
        return _describe_parameter_node(node, inner, describe_parameter)
    return _describe_value(node, inner)


def _describe_parameter_node(
    node: Parameter,
    inner: Callable[[Any], Any],
    describe_parameter: Callable[[Parameter], dict[str, Any]],
) -> dict[str, Any]:
    if isinstance(node, Resampled):
        return {"type": "resample", "source": inner(node.source)}
    if isinstance(node, Operation):
        return {
            "type": "operation",
            "operator": inner(node.operator),
            "args": [inner(a) for a in node.args],
            "kwargs": {k: inner(v) for k, v in node.kwargs.items()},
        }
    if isinstance(node, Categorical) and node.indexed:
        entry: dict[str, Any] = {"type": "categorical", "indexed": True}
        entry["choices"] = [inner(choice) for choice in node.choices]
        if node.prior_index is not None:
            entry.update(prior=node.prior_index, prior_confidence=node.prior_confidence)
        return entry
    if isinstance(node, Constant) and not is_plain_data(node.value):
        return {"type": "constant", "node": inner(node.value)}
    return describe_parameter(node)


def _describe_value(value: Any, inner: Callable[[Any], Any]) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        item = getattr(value, "item", None)  # NumPy scalars
        return value if item is None else item()
    if type(value) in (tuple, list):
        return {"type": type(value).__name__, "items": [inner(item) for item in value]}
    if type(value) is dict and all(isinstance(k, str) for k in value):
        return {"type": "dict", "items": {k: inner(v) for k, v in value.items()}}
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if callable(value) and isinstance(module, str) and isinstance(qualname, str):
        return {"type": "callable", "path": f"{module}:{_importable_name(value, module, qualname)}"}
    path = _path_of_bound_builtin(value)
    return {"type": "callable", "path": path} if path else {"type": "object", "repr": repr(value)}


def _path_of_bound_builtin(method: Any) -> str | None:
    """The import path of a builtin bound method a module publishes (``random.random`` has no
    module of its own, and its text holds an address that changes per process); ``None`` for
    one that imports back as nothing or something else (``{}.get``)."""
    instance = getattr(method, "__self__", None)
    module, name = getattr(type(instance), "__module__", None), getattr(method, "__name__", None)
    if instance is None or isinstance(instance, type | ModuleType) or not callable(method):
        return None
    if not isinstance(module, str) or not isinstance(name, str):
        return None
    try:
        found = import_path(f"{module}:{name}", "")
    except InvalidParameterError:
        return None
    return f"{module}:{name}" if found is method else None


def _importable_name(value: Any, module: str, qualname: str) -> str:
    """The name under which ``value`` imports back from ``module``: its qualified name, or
    else its plain name (``torch.sqrt``'s qualified name is ``_VariableFunctionsClass.sqrt``,
    which ``torch`` has no attribute for); the qualified name where neither does."""
    for name in (qualname, getattr(value, "__name__", None)):
        try:
            if isinstance(name, str) and import_path(f"{module}:{name}", "") is value:
                return name
        except InvalidParameterError:
            continue
    return qualname


def same_description(saved: Any, given: Any) -> bool:
    """Whether two space descriptions are equal, reading ``__main__`` as any module.

    A class defined in the script that started the run is saved as ``__main__:Cell``; the
    same class imported from that file by a later script is ``train:Cell``. Both are the
    class the user means, so a continuation with either is not a different space.
    """
    if isinstance(saved, Mapping) and isinstance(given, Mapping):
        if saved.get("type") == given.get("type") == "callable":
            return _same_callable(str(saved.get("path")), str(given.get("path")))
        return saved.keys() == given.keys() and all(
            same_description(saved[key], given[key]) for key in saved
        )
    if isinstance(saved, list | tuple) and isinstance(given, list | tuple):
        return len(saved) == len(given) and all(map(same_description, saved, given))
    return bool(saved == given)


def _same_callable(saved: str, given: str) -> bool:
    """The same path, or the same name with one in ``__main__``, or two paths to one object
    (``random:Random.uniform`` as saved before paths had to import back, ``random:uniform``,
    whose bound method is that function)."""
    saved_module, _, saved_name = saved.partition(":")
    given_module, _, given_name = given.partition(":")
    if saved == given or (saved_name == given_name and "__main__" in (saved_module, given_module)):
        return True
    try:
        one, other = import_path(saved, ""), import_path(given, "")
    except InvalidParameterError:
        return False
    return bool(getattr(one, "__func__", one) is getattr(other, "__func__", other))


def is_node_form(entry: Any) -> bool:
    """Whether a description entry uses the structural form."""
    if not isinstance(entry, Mapping):
        return False
    kind = str(entry.get("type", "")).lower()
    if kind in STRUCTURAL_TYPES:
        return True
    return (kind == "categorical" and bool(entry.get("indexed"))) or (
        kind == "constant" and "node" in entry
    )


def node_from_description(
    entry: Any, name: str, parameter_from_description: Callable[[str, Any], Parameter]
) -> Any:
    """Rebuild a nested value; ``name`` (the entry being read) appears in every error."""

    def inner(value: Any) -> Any:
        return node_from_description(value, name, parameter_from_description)

    if isinstance(entry, list):
        return [inner(item) for item in entry]
    if not isinstance(entry, Mapping):
        return entry
    kind = str(entry.get("type", "")).lower()
    readers: dict[str, Callable[[], Any]] = {
        "ref": lambda: ByName(str(_field(entry, "name", name))),
        "resample": lambda: Resampled(inner(_field(entry, "source", name))),
        "operation": lambda: Operation(
            inner(_field(entry, "operator", name)),
            args=[inner(a) for a in entry.get("args", [])],
            kwargs={str(k): inner(v) for k, v in dict(entry.get("kwargs", {})).items()},
        ),
        "tuple": lambda: tuple(inner(item) for item in _field(entry, "items", name)),
        "list": lambda: [inner(item) for item in _field(entry, "items", name)],
        "dict": lambda: {str(k): inner(v) for k, v in dict(_field(entry, "items", name)).items()},
        "callable": lambda: import_path(str(_field(entry, "path", name)), name),
    }
    if kind in readers:
        return readers[kind]()
    if kind == "object":
        raise InvalidParameterError(
            f"Parameter {name!r}: the value {entry.get('repr')!r} was saved only as text and "
            "cannot be rebuilt; pass the space itself (pipeline_space=...)"
        )
    if kind == "categorical" and entry.get("indexed"):
        return Categorical(
            [inner(choice) for choice in _field(entry, "choices", name)],
            prior=entry.get("prior"),
            prior_confidence=entry.get("prior_confidence", "low"),
        )
    if kind == "constant" and "node" in entry:
        return Constant(inner(entry["node"]))
    return parameter_from_description(name, entry)


def _field(entry: Mapping[str, Any], key: str, name: str) -> Any:
    if key not in entry:
        raise InvalidParameterError(
            f"Parameter {name!r}: a {entry.get('type')!r} entry needs {key!r}, got {dict(entry)}"
        )
    return entry[key]


def import_path(path: str, name: str) -> Any:
    """The object at ``module:qualname``; a clear error when it cannot be imported."""
    module_name, _, qualname = path.partition(":")
    advice = "pass the space itself (pipeline_space=...) to load it"
    if not module_name or not qualname or "<" in qualname:
        raise InvalidParameterError(
            f"Parameter {name!r}: the callable {path!r} cannot be imported (a lambda or a "
            f"function defined inside another function); {advice}"
        )
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise InvalidParameterError(
            f"Parameter {name!r}: cannot import the callable {path!r} ({error}); {advice}"
        ) from error
    return found
