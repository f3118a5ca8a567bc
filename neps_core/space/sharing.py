"""Parameter objects used in several places of a space, without being entries of their own.

NePS samples a parameter object once and uses its value wherever the object appears:
``hidden = neps.Integer(16, 128)`` passed as the ``out_features`` of one layer and the
``in_features`` of the next gives both the same width. Within a space, sharing is by entry
(see ``SpaceStructure.reference``); such an object is therefore made an entry of its own, a
private one (``_encoder_out_features``) named after its first use, which the other uses then
share. Without it each use was an unrelated decision, and the layers did not fit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from neps_core.space.parameters import Parameter
from neps_core.space.structure import ByName, Categorical, Operation, Resampled


def name_shared_objects(entries: Mapping[str, Any]) -> dict[str, Any]:
    """``entries`` plus an entry for every parameter object used twice or more inside them
    that is not an entry already (``.resample()`` and ``ByName`` uses are references)."""
    entry_ids = {id(value) for value in entries.values()}
    met: set[int] = set()
    first_use: dict[int, tuple[str, Parameter]] = {}
    shared: dict[int, None] = {}  # in order of first use
    for name, entry in entries.items():
        for path, node in _nested(entry, name, entry_ids, met):
            if id(node) in first_use:
                shared[id(node)] = None
            else:
                first_use[id(node)] = (path, node)
    result = dict(entries)
    for key in shared:
        path, node = first_use[key]
        result[_free_name(f"_{path}", result)] = node
    return result


def _nested(
    node: Any, path: str, entry_ids: set[int], met: set[int]
) -> Iterator[tuple[str, Parameter]]:
    """Each use of a parameter object inside ``node`` that is no entry, with a readable
    path; an object already ``met`` is reported again but not entered again."""
    for step, child in _steps(node):
        if isinstance(child, Resampled | ByName) or id(child) in entry_ids:
            continue  # references: a resample draws anew, an entry is shared already
        where = f"{path}_{step}"
        if isinstance(child, Parameter):
            yield where, child
            if id(child) in met:
                continue
            met.add(id(child))
        yield from _nested(child, where, entry_ids, met)


def _steps(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Operation):
        yield "operator", node.operator
        yield from ((f"arg{i}", arg) for i, arg in enumerate(node.args))
        yield from node.kwargs.items()
    elif isinstance(node, Categorical):
        yield from ((f"choice{i}", choice) for i, choice in enumerate(node.choices))
    elif isinstance(node, list | tuple):
        yield from ((str(i), item) for i, item in enumerate(node))
    elif isinstance(node, dict):
        yield from ((str(key), value) for key, value in node.items())


def _free_name(wanted: str, taken: Mapping[str, Any]) -> str:
    name, number = wanted, 2
    while name in taken:
        name, number = f"{wanted}_{number}", number + 1
    return name
