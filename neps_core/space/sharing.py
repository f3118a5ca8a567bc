"""A decision object used in several places of a space without being an entry is refused.

NePS draws a parameter object once and uses its value wherever the object appears:
``hidden = neps.Integer(16, 128)`` given as the ``out_features`` of one layer and the
``in_features`` of the next makes both the same width. Here values are shared through
entries (``b = a``, ``ByName``), and a decision that is no entry is drawn at each place it
sits: such a space would draw two widths and build layers that do not fit. Rather than search
something else than the script means, the space is refused, saying how to share the value.
The places are found as sampling finds them, by path: an operation used twice is two places
for every decision inside it; each resampled copy draws its inside anew, on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from neps_core.space.parameters import InvalidParameterError, Numerical, Parameter
from neps_core.space.structure import ByName, Categorical, Operation, Resampled, is_leaf

#: Where a use sits: its resampled copy (each draws its inside anew) and the choice it is in
#: of every categorical above it (two choices of one categorical are never drawn together).
Place = tuple[str, tuple[tuple[str, int], ...]]


def refuse_unnamed_sharing(entries: Mapping[str, Any]) -> None:
    """Raise where a number or categorical object that is no entry is drawn at two places."""
    entry_ids = {id(value) for value in entries.values()}
    walked: set[int] = set()
    uses: dict[int, list[tuple[Place, str]]] = {}
    for name, entry in entries.items():
        if id(entry) in walked:  # one object under two keys: each key its own parameter
            continue
        walked.add(id(entry))
        for place, path, node in _uses(entry, name, entry_ids, place=("", ())):
            earlier = next((p for q, p in uses.get(id(node), []) if _together(q, place)), None)
            if earlier is not None:
                raise _shared_unnamed(node, earlier, path)
            uses.setdefault(id(node), []).append((place, path))


def _together(one: Place, other: Place) -> bool:
    """Whether two places can be drawn in one configuration: the same resampled copy, and
    no categorical above both with each in another choice."""
    choices = dict(one[1])
    return one[0] == other[0] and all(choices.get(at, index) == index for at, index in other[1])


def _shared_unnamed(node: Parameter, first: str, second: str) -> InvalidParameterError:
    kind = type(node).__name__
    return InvalidParameterError(
        f"Parameter {first!r}: the same {kind} object is also used at {second!r} without "
        f"being an entry of the space. NePS draws it once for both; to share its value, make "
        f"it an entry (a class attribute such as `_width = neps.{kind}(...)`, used in both "
        f"places); to draw each anew, use one object per place or `.resample()`"
    )


def _uses(
    node: Any, path: str, entry_ids: set[int], *, place: Place
) -> Iterator[tuple[Place, str, Parameter]]:
    """Each place inside ``node`` where a decision object that is no entry is drawn, with
    its path. References (entries, ``ByName``, resamples of them or of a single value) are
    none."""
    for index, (step, child) in enumerate(_steps(node)):
        if isinstance(child, ByName) or id(child) in entry_ids:
            continue
        where = f"{path}{step}"
        inner = place
        if isinstance(node, Categorical):  # this child is choice `index` of `node`
            inner = (place[0], (*place[1], (path, index)))
        if isinstance(child, Resampled):
            source = child.source
            if not (isinstance(source, ByName) or id(source) in entry_ids or is_leaf(source)):
                yield from _uses(source, where, entry_ids, place=(where, inner[1]))
            continue
        if _is_decision(child):
            yield inner, where, child
        if not is_leaf(child):
            yield from _uses(child, where, entry_ids, place=inner)


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


def _is_decision(node: Any) -> bool:
    """A number or categorical, drawn where it sits (a fidelity inside a structure is refused
    elsewhere, with its own message)."""
    if isinstance(node, Numerical):
        return not node.is_fidelity
    return isinstance(node, Categorical)
