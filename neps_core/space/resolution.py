"""Walking a space's structure: every sampling decision, stored under its path.

A configuration is the mapping of *decision paths* to decisions. A top-level parameter's
path is its name (so a flat space's configuration is ``{"lr": 0.01, "optimizer": "adam"}``
as ever); a decision inside a structure is named by where it sits::

    hidden_layer.kwargs.units        a keyword argument of an Operation
    block.args.0                     a positional argument
    cells[1].0                       element 0 of choice 1 of the categorical `cells`

An entry used without ``.resample()`` is drawn once, under its own name, and shared by every
use; a resample draws the definition again under the path of its use. The
``Resolver`` walks the structure either *drawing* decisions (sampling; decisions given
for some paths are kept, which is how mutation and completion work) or *reading* them
strictly (validation and resolution of a stored configuration).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from neps_core.errors import object_of_type
from neps_core.space.analysis import HARD_DEPTH_LIMIT, SpaceStructure
from neps_core.space.choices import python_value
from neps_core.space.conditions import Clause
from neps_core.space.materialize import ResolvedOperation
from neps_core.space.parameters import (
    Categorical,
    Constant,
    Integer,
    Numerical,
    Parameter,
    is_plain_data,
)
from neps_core.space.sampling import (
    NUMERIC_PRIOR_STD,
    categorical_index_with_prior,
    truncated_normal,
)
from neps_core.space.structure import Operation, Resampled

_NOTHING = object()


class NoGeneratorError(ValueError):
    """A decision had to be drawn, but the walk was given no random generator."""


@attrs.define
class Resolution:
    """The outcome of one walk over a space."""

    #: Every decision made or read, by path, in the order of the walk.
    decisions: dict[str, Any] = attrs.field(factory=dict)
    #: The parameter that governs each decision path.
    parameters: dict[str, Parameter] = attrs.field(factory=dict)
    #: Each active top-level entry's value (operations not yet called).
    values: dict[str, Any] = attrs.field(factory=dict)
    #: Decision paths that reach an entry passed to ``evaluate_pipeline`` (no underscore).
    live: set[str] = attrs.field(factory=set)


#: Draws around the priors a forbidden clause rejected, after which the rest are uniform: a
#: confident prior deep inside a forbidden region would otherwise fail every draw.
PRIOR_REJECTIONS = 1_000


@attrs.frozen
class DrawPolicy:
    """How missing decisions are made: uniformly, around priors, or at the prior's centre.

    Paths in ``perturb`` are drawn as a small move away from the decision given there: a
    normal step of ``step`` in the unit interval for numbers, another choice for categoricals.
    """

    rng: np.random.Generator | None = None
    use_priors: bool = False
    center: bool = False
    fidelity: Any = "max"
    perturb: Mapping[str, Any] = attrs.field(factory=dict)
    step: float = 0.2

    def after(self, rejections: int) -> DrawPolicy:
        """This policy, or uniform draws once ``PRIOR_REJECTIONS`` around the priors failed."""
        if self.use_priors and rejections >= PRIOR_REJECTIONS:
            return attrs.evolve(self, use_priors=False)
        return self

    def near_center(self) -> DrawPolicy:
        """Draws around the priors, seeded: for the decisions of a centre a clause forbids."""
        return DrawPolicy(rng=np.random.default_rng(0), use_priors=True, fidelity=self.fidelity)


class Resolver:
    """One walk over ``structure``; ``given`` decisions are used where valid.

    With ``strict`` every decision must be given and valid (a ``ValueError`` names the path);
    otherwise missing or invalid ones are drawn with ``policy``.
    """

    def __init__(
        self,
        structure: SpaceStructure,
        conditions: Mapping[str, Clause],
        *,
        given: Mapping[str, Any] | None = None,
        strict: bool = False,
        policy: DrawPolicy | None = None,
        fidelity_value: Any = None,
    ) -> None:
        self.structure = structure
        self.conditions = conditions
        self.given = {k: python_value(v) for k, v in (given or {}).items()}
        self.strict = strict
        self.policy = policy or DrawPolicy()
        self.fidelity_value = fidelity_value
        self.result = Resolution()
        self._memo: dict[str, tuple[Any, set[str]]] = {}
        self._in_progress: list[str] = []
        self._collecting: list[set[str]] = []
        self.consumed: set[str] = set()
        self._drawing = ""

    def run(self) -> Resolution:
        """Walk every active entry (parents of conditions first) and return the result.

        An intermediate (``_name``) entry is walked where it is used: one only resampled, or
        used by inactive entries, makes no decision of its own, which would change nothing
        ``evaluate_pipeline`` receives yet tell configurations apart.
        """
        entries = self.structure.entries
        for name in self.structure.order:
            clause = self.conditions.get(name)
            if clause is not None and not clause.holds(self.result.decisions, entries):
                continue
            if not name.startswith("_") or name in self.structure.clause_names:
                self.value_of(name)
        for name in entries:  # declaration order
            if name in self._memo:
                value, keys = self._memo[name]
                self.result.values[name] = value
                if not name.startswith("_"):
                    self.result.live |= keys
            elif name.startswith("_") and name not in self.conditions:
                self._consume_unused(name)
        return self.result

    def _consume_unused(self, name: str) -> None:
        """Accept the decisions given under entry ``name`` that this walk did not need (stored
        by a version that walked every intermediate entry)."""
        self.consumed |= {
            path for path in self.given if path == name or path.startswith((f"{name}.", f"{name}["))
        }

    # -- entries ------------------------------------------------------------------------------
    def value_of(self, name: str) -> Any:
        """The (shared) value of entry ``name``, walking it on first use."""
        if name in self._memo:
            value, keys = self._memo[name]
            if self._collecting:
                self._collecting[-1] |= keys
            return value
        if name in self._in_progress:
            raise ValueError(f"Parameter {name!r} needs its own value; use .resample()")
        self._in_progress.append(name)
        self._collecting.append(set())
        value = self.walk(self.structure.entries[name], name, 0, root=True)
        keys = self._collecting.pop()
        self._in_progress.pop()
        self._memo[name] = (value, keys)
        if self._collecting:
            self._collecting[-1] |= keys
        return value

    def walk(self, node: Any, path: str, depth: int, *, root: bool = False) -> Any:
        """The value of ``node`` at ``path``, ``depth`` resamples deep."""
        shared = self.structure.reference(node, root=root)
        if shared is not None:
            return self.value_of(shared)
        if isinstance(node, Parameter):
            return self._parameter(node, path, depth, root=root)
        if type(node) in (tuple, list):
            return type(node)(self.walk(item, f"{path}.{i}", depth) for i, item in enumerate(node))
        if type(node) is dict:
            return {key: self.walk(item, f"{path}.{key}", depth) for key, item in node.items()}
        return node

    def _parameter(self, node: Parameter, path: str, depth: int, *, root: bool) -> Any:
        if isinstance(node, Resampled):
            if depth + 1 > HARD_DEPTH_LIMIT:
                raise ValueError(f"Parameter {path!r} nests more than {HARD_DEPTH_LIMIT} resamples")
            return self.walk(self.structure.resample_target(node)[1], path, depth + 1, root=True)
        if isinstance(node, Operation):
            return self._operation(node, path, depth)
        if isinstance(node, Categorical):
            index = self._categorical(node, path, depth)
            choice = node.choices[index]
            return self.walk(choice, f"{path}[{index}]", depth) if node.indexed else choice
        if isinstance(node, Numerical):
            fidelity = root and path == self.structure.fidelity_name
            return self._number(node, path, is_fidelity=fidelity)
        assert isinstance(node, Constant), f"cannot walk {object_of_type(node)}"
        return self._constant(node, path)

    def _operation(self, node: Operation, path: str, depth: int) -> ResolvedOperation:
        operator = self.walk(node.operator, f"{path}.operator", depth)
        args = tuple(self.walk(a, f"{path}.args.{i}", depth) for i, a in enumerate(node.args))
        kwargs = {k: self.walk(v, f"{path}.kwargs.{k}", depth) for k, v in node.kwargs.items()}
        return ResolvedOperation(operator, args, kwargs)

    # -- decisions ----------------------------------------------------------------------------
    def _record(self, path: str, parameter: Parameter, decision: Any) -> None:
        if path in self.result.decisions:
            raise ValueError(f"Two decisions share the path {path!r}; rename an entry")
        self.result.decisions[path] = decision
        self.result.parameters[path] = parameter
        if self._collecting:
            self._collecting[-1].add(path)

    def _given(self, path: str, parameter: Parameter) -> tuple[bool, Any]:
        """``(True, decision)`` for a valid given decision; strictness raises otherwise."""
        self._drawing = path
        if path in self.given:
            self.consumed.add(path)
            value = self.given[path]
            if parameter.contains(value):  # type: ignore[attr-defined]
                return True, value
            if self.strict:
                raise ValueError(f"Parameter {path!r}: value {value!r} is not in {parameter}")
        elif self.strict:
            raise ValueError(f"Parameter {path!r} is missing from the configuration")
        return False, None

    def _number(self, parameter: Numerical, path: str, *, is_fidelity: bool) -> Any:
        found, value = self._given(path, parameter)
        if not found:
            policy = self.policy
            if is_fidelity:
                value = self.fidelity_value
            elif path in policy.perturb:
                value = self._nudge(parameter, policy.perturb[path])
            elif policy.center:
                value = parameter.prior if parameter.prior is not None else parameter.from_unit(0.5)
            elif policy.use_priors and parameter.prior is not None:
                std = NUMERIC_PRIOR_STD[parameter.prior_confidence]
                unit = truncated_normal(parameter.to_unit(parameter.prior), std, self._rng())
                value = parameter.from_unit(unit)
            else:
                value = parameter.from_unit(float(self._rng().random()))
        self._record(path, parameter, value)
        return value

    def _nudge(self, parameter: Numerical, old: Any) -> Any:
        """A value near ``old`` (in the unit interval, log-aware), different from it if possible."""
        rng = self._rng()
        if not parameter.contains(old):
            return parameter.from_unit(float(rng.random()))
        center = parameter.to_unit(old)
        for _ in range(8):
            moved = float(np.clip(center + rng.normal(0.0, self.policy.step), 0.0, 1.0))
            value = parameter.from_unit(moved)
            if value != old:
                return value
        if isinstance(parameter, Integer):  # a neighbour, for narrow integer ranges
            up = old < parameter.upper and (old == parameter.lower or rng.random() < 0.5)
            return old + 1 if up else max(old - 1, parameter.lower)
        return parameter.from_unit(float(rng.random()))

    def _categorical(self, parameter: Categorical, path: str, depth: int) -> int:
        found, decision = self._given(path, parameter)
        if found:
            index = parameter.index_of(decision)
            assert index is not None
        else:
            avoid = parameter.index_of(self.policy.perturb.get(path, _NOTHING))
            index = self._draw_index(parameter, depth, avoid)
        self._record(path, parameter, parameter.decision_for(index))
        return index

    def _draw_index(self, parameter: Categorical, depth: int, avoid: int | None = None) -> int:
        """A choice that can still finish within ``max_depth`` (all of them in flat spaces).

        ``avoid`` (a mutation's old choice) is left out when another choice is possible.
        """
        budget = self.structure.max_depth - depth
        heights = [self.structure.choice_height(choice) for choice in parameter.choices]
        allowed = [i for i, h in enumerate(heights) if h <= budget]
        if not allowed:
            allowed = [min(range(len(heights)), key=heights.__getitem__)]
        if avoid is not None and len(allowed) > 1 and avoid in allowed:
            allowed.remove(avoid)
            return allowed[int(self._rng().integers(len(allowed)))]
        prior = parameter.prior_index
        if self.policy.center:
            return prior if prior in allowed else allowed[0]
        rng = self._rng()
        if self.policy.use_priors and prior is not None and prior in allowed:
            return categorical_index_with_prior(parameter, rng, allowed)
        return allowed[int(rng.integers(len(allowed)))]

    def _constant(self, parameter: Constant, path: str) -> Any:
        if not is_plain_data(parameter.value):  # nothing a configuration could store
            self.consumed.add(path)
            return parameter.value
        self._given(path, parameter)
        self._record(path, parameter, parameter.value)
        return parameter.value

    def _rng(self) -> np.random.Generator:
        if self.policy.rng is None:
            raise NoGeneratorError(f"{self._drawing!r} is missing or invalid")
        return self.policy.rng
