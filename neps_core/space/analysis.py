"""Static checks of a space's structure, done once when the space is built.

A structural space is a small grammar: entries refer to each other (shared, or resampled),
possibly recursively. Here every reference is checked to exist, references that would need a
value before it exists (a cycle without ``.resample()``) are refused, and the minimum number
of nested resamples each entry needs to finish (its *height*) is computed. An entry whose
height is infinite is an infinite grammar and an error; the heights also let sampling steer
clear of the depth limit (a categorical only picks choices that can still finish in time).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from neps_core.space.conditions import Clause
from neps_core.space.parameters import Constant, InvalidParameterError, Numerical, Parameter
from neps_core.space.structure import ByName, Categorical, Operation, Resampled, children, is_leaf

#: Nested ``.resample()`` levels a sampled configuration may use (``PipelineSpace(max_depth=)``).
DEFAULT_MAX_DEPTH = 10
#: Nesting beyond which a stored configuration is refused (guards the interpreter's stack).
HARD_DEPTH_LIMIT = 100
_RESERVED = (".", "[", "]")


def _fail(name: str, message: str) -> InvalidParameterError:
    return InvalidParameterError(f"Parameter {name!r}: {message}")


def _undefined(name: str, entries: Mapping[str, Parameter], holder: str | None) -> str:
    """``name``, which is not an entry, and the entry it is likely a typo of: not ``holder``,
    the entry whose definition holds ``name`` (``widht`` resampling ``widht_`` meant another)."""
    close = difflib.get_close_matches(name, [e for e in entries if e != holder], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{name!r}, which is not defined in the space{hint}"


def _self_reference(cycle: list[str]) -> InvalidParameterError:
    """The error for entries whose values need each other (``cycle`` ends where it starts)."""
    return _fail(
        cycle[0],
        f"refers to itself without .resample() ({' -> '.join(cycle)}), so its value would "
        "need itself; use ByName(...).resample() for recursion",
    )


class SpaceStructure:
    """What sampling and validation need to know about how a space's entries connect."""

    def __init__(
        self,
        entries: Mapping[str, Parameter],
        *,
        fidelity_name: str | None,
        conditions: Mapping[str, Clause],
        forbidden: Sequence[Clause],
        max_depth: int,
    ) -> None:
        self.entries = entries
        self.fidelity_name = fidelity_name
        self.max_depth = max_depth
        self.names_by_id: dict[int, str] = {}
        for name, node in entries.items():
            self.names_by_id.setdefault(id(node), name)
        self.is_flat = all(is_leaf(node) for node in entries.values())
        self._heights: dict[str, float] = dict.fromkeys(entries, 0.0)
        self._height_memo: dict[int, float] = {}
        referenced: set[str] = set()
        if not self.is_flat:
            if not 1 <= max_depth <= HARD_DEPTH_LIMIT:
                raise InvalidParameterError(
                    f"max_depth must be between 1 and {HARD_DEPTH_LIMIT}, got {max_depth}"
                )
            referenced = self._check_references()
            self._check_shared_cycles()
            self._solve_heights()
        self.order = self._check_conditions(conditions, forbidden, referenced)
        clauses = [*conditions.values(), *forbidden]
        #: Entries a condition or forbidden clause reads: their decisions are always made.
        self.clause_names: set[str] = set().union(*(c.names() for c in clauses))
        self._check_intermediates_used(referenced | self.clause_names)

    # -- references ---------------------------------------------------------------------------
    def reference(self, node: Any, *, root: bool = False) -> str | None:
        """The entry ``node`` shares (a ``ByName``, or an entry's own object used elsewhere)."""
        if isinstance(node, ByName):
            return node.name
        if not root and isinstance(node, Parameter):
            return self.names_by_id.get(id(node))
        return None

    def resample_target(
        self, node: Resampled, owner: str | None = None
    ) -> tuple[str | None, Parameter]:
        """The entry name (if any) and the definition that ``node`` draws anew, following
        entries that are a ``ByName``. A missing name is no parameter to blame: the error names
        the entry holding it, ``owner`` (which holds ``node``) or the ``ByName`` entry that
        led there; a cycle of ``ByName`` entries is theirs, whichever entry resamples one."""
        name = self.reference(node.source)
        definition: Parameter = node.source
        chain: list[str] = []
        while name is not None:
            if name not in self.entries:
                if not chain:
                    raise _fail(owner or name, f"resamples {_undefined(name, self.entries, owner)}")
                raise _fail(chain[-1], f"refers to {_undefined(name, self.entries, chain[-1])}")
            if name in chain:
                raise _self_reference([*chain[chain.index(name) :], name])
            chain.append(name)
            definition = self.entries[name]
            if not isinstance(definition, ByName):
                break
            name = definition.name
        return name, definition

    def _scan(self, node: Any, *, root: bool) -> Iterator[tuple[str, Any]]:
        """Shared references, resamples and nodes in one definition (not entering either)."""
        name = self.reference(node, root=root)
        if name is not None:
            yield "shared", name
            return
        if isinstance(node, Resampled):
            yield "resample", node
            return
        if isinstance(node, Parameter):
            yield "node", node
        for child in children(node):
            yield from self._scan(child, root=False)

    def _check_references(self) -> set[str]:
        referenced: set[str] = set()
        for owner, entry in self.entries.items():
            if any(mark in owner for mark in _RESERVED):
                raise _fail(owner, f"names in structural spaces may not contain {_RESERVED}")
            pending: list[tuple[Any, bool]] = [(entry, True)]
            while pending:
                node, root = pending.pop()
                for kind, item in self._scan(node, root=root):
                    self._check_item(owner, kind, item, node if root else None)
                    if kind == "shared":
                        referenced.add(item)
                    elif kind == "resample":
                        target, definition = self.resample_target(item, owner)
                        if target is None:
                            pending.append((definition, True))
                        else:
                            referenced.add(target)
        return referenced

    def _check_item(self, owner: str, kind: str, item: Any, root: Any) -> None:
        if kind == "shared" and item not in self.entries:
            raise _fail(owner, f"refers to {_undefined(item, self.entries, owner)}")
        if kind == "resample":
            target, definition = self.resample_target(item, owner)
            if isinstance(definition, Numerical) and definition.is_fidelity:
                raise _fail(owner, f"resamples the fidelity {target!r}, which is drawn once")
        if kind == "node" and isinstance(item, Numerical) and item.is_fidelity and item is not root:
            raise _fail(owner, "a fidelity parameter must be an entry of the space itself")

    def _shared_dependencies(self, name: str) -> set[str]:
        """Entries whose value ``name`` needs, including through the definitions it resamples."""
        found: set[str] = set()
        pending: list[Any] = [self.entries[name]]
        visited: set[int] = set()
        while pending:
            definition = pending.pop()
            if id(definition) in visited:
                continue
            visited.add(id(definition))
            for kind, item in self._scan(definition, root=True):
                if kind == "shared":
                    found.add(item)
                elif kind == "resample":
                    pending.append(self.resample_target(item)[1])
        return found

    def _check_shared_cycles(self) -> None:
        graph = {name: self._shared_dependencies(name) for name in self.entries}
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise _self_reference([*path[path.index(name) :], name])
            state[name] = 1
            for dependency in sorted(graph[name]):
                visit(dependency, [*path, name])
            state[name] = 2

        for name in self.entries:
            visit(name, [])

    def _check_intermediates_used(self, used: set[str]) -> None:
        """Refuse an intermediate (``_name``) entry that nothing uses: it is searched for nothing.

        ``evaluate_pipeline`` never receives intermediates; a NePS user who writes ``_lr`` in a
        flat space expects to, and would otherwise lose the dimension without a word.
        """
        for name, entry in self.entries.items():
            if name.startswith("_") and name not in used and not isinstance(entry, Constant):
                raise _fail(
                    name,
                    "a name starting with '_' marks an intermediate entry, which "
                    "evaluate_pipeline never receives, and no other entry, condition or "
                    "forbidden clause uses this one, so it would be searched for nothing; "
                    "rename it without the leading '_' to receive it",
                )

    # -- heights ------------------------------------------------------------------------------
    def height(self, node: Any, *, root: bool = False) -> float:
        """Nested resamples ``node`` needs at least to finish (``inf``: it never does)."""
        if self.reference(node, root=root) is not None:
            return 0.0
        if isinstance(node, Resampled):
            target, definition = self.resample_target(node)
            inner = self._heights[target] if target else self.height(definition, root=True)
            return 1.0 + inner
        if isinstance(node, Categorical):
            return min((self.height(choice) for choice in node.choices), default=0.0)
        return max((self.height(child) for child in children(node)), default=0.0)

    def choice_height(self, choice: Any) -> float:
        """``height`` of a categorical's choice, cached (choices live as long as the space)."""
        key = id(choice)
        if key not in self._height_memo:
            self._height_memo[key] = self.height(choice)
        return self._height_memo[key]

    def _solve_heights(self) -> None:
        self._heights = dict.fromkeys(self.entries, math.inf)
        while True:
            new = {name: self.height(node, root=True) for name, node in self.entries.items()}
            if new == self._heights:
                break
            self._heights = new
        endless = [name for name, h in self._heights.items() if math.isinf(h)]
        if endless:
            raise _fail(
                endless[0],
                "is an infinite grammar: every choice resamples it again, so no configuration "
                f"can ever be finished (entries affected: {endless}); give it a choice that ends",
            )
        deepest = max(self._heights, key=lambda name: self._heights[name])
        if self._heights[deepest] > self.max_depth:
            raise _fail(
                deepest,
                f"needs at least {int(self._heights[deepest])} nested resamples, more than "
                f"max_depth={self.max_depth}",
            )

    # -- conditions ---------------------------------------------------------------------------
    def _check_conditions(
        self, conditions: Mapping[str, Clause], forbidden: Sequence[Clause], referenced: set[str]
    ) -> list[str]:
        """Check conditions and forbidden clauses; return the entries parents-first."""
        for child, clause in conditions.items():
            self._check_clause(clause, f"Condition of {child!r}")
            if child not in self.entries:
                raise InvalidParameterError(f"Condition of {child!r}: no such parameter")
            if child == self.fidelity_name or child in referenced:
                raise _fail(child, "a fidelity or a referenced entry cannot have a condition")
        for clause in forbidden:
            self._check_clause(clause, "Forbidden clause")
        parents = {child: clause.names() for child, clause in conditions.items()}
        order: list[str] = []
        remaining = list(self.entries)
        while remaining:
            ready = [n for n in remaining if parents.get(n, set()) <= set(order)]
            if not ready:
                raise InvalidParameterError(f"Conditions form a cycle among {remaining}")
            order.extend(ready)
            remaining = [n for n in remaining if n not in ready]
        return order

    def _check_clause(self, clause: Any, label: str) -> None:
        if not isinstance(clause, Clause):
            raise InvalidParameterError(f"{label}: expected a clause, got {clause!r}")
        problems = clause.problems(self.entries)
        if self.fidelity_name in clause.names():  # a promotion would change what it decides
            problems.append(
                f"it reads the fidelity {self.fidelity_name!r}, which the optimizer changes "
                "between a trial and its promotions"
            )
        for name in sorted(clause.names() & set(self.entries)):
            node = self.entries[name]
            if not is_leaf(node) or isinstance(node, Operation):
                problems.append(f"{name!r} is not a plain parameter")
            elif isinstance(node, Categorical) and node.indexed:
                problems.append(f"{name!r} has choices that are not plain values")
        if problems:
            raise InvalidParameterError(f"{label} {clause.describe()}: {'; '.join(problems)}")
