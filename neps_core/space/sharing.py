"""A parameter object used in several places of a space without being an entry is refused.

NePS draws a parameter object once and uses its value wherever the object appears:
``hidden = neps.Integer(16, 128)`` given as the ``out_features`` of one layer and the
``in_features`` of the next makes both the same width. Here values are shared through
entries (``b = a``, ``ByName``), and a decision that is no entry is drawn where it sits: such
a space would draw two widths and build layers that do not fit. Rather than build a
different search than the script means, the space is refused, saying how to share the value.
An operation used twice is one decision (both uses are the same built object), so only
single-valued parameters (numbers, categoricals of plain values) are checked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from neps_core.space.parameters import Constant, InvalidParameterError, Numerical, Parameter
from neps_core.space.structure import ByName, Categorical, Operation, Resampled, is_leaf


def refuse_unnamed_sharing(entries: Mapping[str, Any]) -> None:
    """Raise where a number or categorical object is used in two places and is no entry."""
    entry_ids = {id(value) for value in entries.values()}
    entered: set[int] = set()
    first_use: dict[int, str] = {}
    for name, entry in entries.items():
        if id(entry) in entered:  # one object under two keys: its inside is walked once
            continue
        entered.add(id(entry))
        for path, node in _uses(entry, name, entry_ids, entered):
            if id(node) not in first_use:
                first_use[id(node)] = path
                continue
            kind = type(node).__name__
            raise InvalidParameterError(
                f"Parameter {first_use[id(node)]!r}: the same {kind} object is also used at "
                f"{path!r} without being an entry of the space. NePS draws it once for both; "
                f"to share its value, make it an entry (a class attribute such as "
                f"`_width = neps.{kind}(...)`, used in both places); to draw each anew, use "
                f"one object per place or `.resample()`"
            )


def _uses(
    node: Any, path: str, entry_ids: set[int], entered: set[int]
) -> Iterator[tuple[str, Parameter]]:
    """Each use of a single-valued parameter inside ``node`` that is no entry, with its path;
    structures are entered once, references (entries, ``ByName``, resamples) not at all."""
    for step, child in _steps(node):
        if isinstance(child, Resampled | ByName) or id(child) in entry_ids:
            continue
        where = f"{path}{step}"
        if isinstance(child, Parameter) and is_leaf(child):
            if not isinstance(child, Constant) and not _is_fidelity(child):
                yield where, child
            continue
        if isinstance(child, Parameter):
            if id(child) in entered:
                continue
            entered.add(id(child))
        yield from _uses(child, where, entry_ids, entered)


def _steps(node: Any) -> Iterator[tuple[str, Any]]:
    """The values directly inside ``node``, each with the path step that leads to it."""
    if isinstance(node, Operation):
        yield ".operator", node.operator
        yield from ((f".args.{i}", arg) for i, arg in enumerate(node.args))
        yield from ((f".kwargs.{key}", value) for key, value in node.kwargs.items())
    elif isinstance(node, Categorical):
        yield from ((f"[{i}]", choice) for i, choice in enumerate(node.choices))
    elif isinstance(node, list | tuple):
        yield from ((f".{i}", item) for i, item in enumerate(node))
    elif isinstance(node, dict):
        yield from ((f".{key}", value) for key, value in node.items())


def _is_fidelity(node: Parameter) -> bool:
    """A fidelity inside a structure is refused elsewhere, with its own message."""
    return isinstance(node, Numerical) and node.is_fidelity
