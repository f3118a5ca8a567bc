"""`PipelineSpace`: a named collection of parameters, declared as a class or from a dict.

Configurations map decision paths to decisions (``neps_core.space.resolution``); for a flat
space simply ``{name: value}``. ``resolve`` turns one into ``evaluate_pipeline``'s arguments.
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np

from neps_core.errors import NoAllowedConfigurationError, NoAllowedMutationError
from neps_core.space.analysis import DEFAULT_MAX_DEPTH, SpaceStructure
from neps_core.space.class_attributes import checked_entries, unshadow
from neps_core.space.conditions import Clause, in_clause_order
from neps_core.space.init_entries import building, set_in_init, wrap_init
from neps_core.space.materialize import instantiate_entries, readable
from neps_core.space.mutation import MUTATION_REJECTIONS, Moves, mutation_attempts
from neps_core.space.parameters import (
    Categorical,
    Constant,
    Numerical,
    Parameter,
    is_plain_data,
)
from neps_core.space.resolution import DrawPolicy, Resolution, Resolver
from neps_core.space.resolution import NoGeneratorError as _NoGenerator
from neps_core.space.space_methods import SpaceMethods

#: Draws before sampling gives up on forbidden clauses (a second or so): "no layer wider than
#: the one before" over six layers allows one draw in 720, and 1,000 draws failed 1 time in 4.
MAX_FORBIDDEN_REJECTIONS = 20_000


class PipelineSpace(SpaceMethods):
    """The search space: subclass it with parameters as class attributes or set on ``self``
    in ``__init__`` (added when that returns), as in NePS.

    ``PipelineSpace({"lr": Float(1e-4, 1e-1, log=True)})`` builds one from a mapping, whose
    values may also be NePS's declarative forms (``{"lower": 1, "upper": 10}``, a constant).
    ``conditions`` maps a parameter to the clause under which it is active, ``forbidden``
    lists clauses no configuration may satisfy (see ``neps_core.space.conditions``), and
    ``max_depth`` bounds nested ``.resample()`` levels when sampling recursive spaces.
    Spaces are immutable: ``add`` and ``remove`` return new spaces.
    """

    def __init__(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        conditions: Mapping[str, Clause] | None = None,
        forbidden: Sequence[Clause] = (),
        max_depth: int | None = None,
    ) -> None:
        if parameters and not all(isinstance(p, Parameter) for p in parameters.values()):
            from neps_core.space.description import described_arguments  # it builds spaces

            parameters, conditions, forbidden, max_depth = described_arguments(
                parameters, conditions, forbidden, max_depth
            )
        options = {"conditions": conditions, "forbidden": forbidden, "max_depth": max_depth}
        with building(self, PipelineSpace, {"parameters": parameters, **options}):
            merged, fidelity_name = checked_entries(self, PipelineSpace, parameters)
            entries = types.MappingProxyType(merged)
            clauses = types.MappingProxyType(dict(conditions or {}))
            depth = DEFAULT_MAX_DEPTH if max_depth is None else int(max_depth)
            structure = SpaceStructure(  # checks the space before any of its state is set
                entries,
                fidelity_name=fidelity_name,
                conditions=clauses,
                forbidden=tuple(forbidden),
                max_depth=depth,
            )
            self._parameters, self._conditions, self._forbidden = entries, clauses, tuple(forbidden)
            self._fidelity_name, self._max_depth, self._structure = fidelity_name, depth, structure

    def __setattr__(self, name: str, value: Any) -> None:
        if not set_in_init(self, name, value, PipelineSpace):
            super().__setattr__(name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its entries (as NePS does): a class of a script or notebook, or one whose
        ``__init__`` takes arguments, need not be rebuilt where the space is unpickled."""
        return (functools.partial(PipelineSpace, **self._options()), (dict(self._parameters),))

    def _options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this space from its entries."""
        return {
            "conditions": dict(self._conditions),
            "forbidden": self._forbidden,
            "max_depth": self._max_depth,
        }

    # -- structure ---------------------------------------------------------------------------
    @property
    def parameters(self) -> Mapping[str, Parameter]:
        """Every entry by name, in declaration order."""
        return self._parameters

    @property
    def fidelity_name(self) -> str | None:
        """The name of the fidelity parameter, ``None`` when the space has none."""
        return self._fidelity_name

    @property
    def fidelity(self) -> Numerical | None:
        """The fidelity parameter, ``None`` when the space has none."""
        if self._fidelity_name is None:
            return None
        parameter = self._parameters[self._fidelity_name]
        assert isinstance(parameter, Numerical)
        return parameter

    @property
    def searchable(self) -> dict[str, Parameter]:
        """The entries an optimizer chooses: all but constants and the fidelity."""
        return {
            name: p
            for name, p in self._parameters.items()
            if not isinstance(p, Constant) and name != self._fidelity_name
        }

    @property
    def conditions(self) -> Mapping[str, Clause]:
        """The clause under which each conditional parameter is active."""
        return self._conditions

    @property
    def forbidden(self) -> tuple[Clause, ...]:
        """Clauses that no configuration may satisfy."""
        return self._forbidden

    @property
    def max_depth(self) -> int:
        """How many ``.resample()`` levels deep sampling may nest."""
        return self._max_depth

    @property
    def is_flat(self) -> bool:
        """Whether every entry is a single decision of plain values (no structure)."""
        return self._structure.is_flat

    @property
    def reads_as_stored(self) -> bool:
        """Whether stored configurations read as what ``evaluate_pipeline`` receives: not
        with decision paths or categoricals storing an index (``readable`` shows those)."""
        return self.is_flat and not any(
            isinstance(p, Categorical) and p.indexed for p in self._parameters.values()
        )

    @property
    def structure(self) -> SpaceStructure:
        """How the entries connect (references, resample heights, condition order)."""
        return self._structure

    def _with(self, parameters: Mapping[str, Parameter], **changes: Any) -> PipelineSpace:
        return PipelineSpace(parameters, **{**self._options(), **changes})

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__(**options)
        unshadow(cls, PipelineSpace)  # a parameter named max_depth must not hide the property
        wrap_init(cls, PipelineSpace)

    # -- drawing configurations ---------------------------------------------------------------
    @overload
    def sample(
        self, rng: np.random.Generator, *, use_priors: bool = False, fidelity: Any = "max"
    ) -> dict[str, Any]: ...

    @overload
    def sample(
        self, rng: None = None, *, fidelity_values: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]: ...

    @overload
    def sample(self, rng: Mapping[str, Any], /) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def sample(
        self,
        rng: np.random.Generator | Mapping[str, Any] | None = None,
        *,
        use_priors: bool | None = None,
        fidelity: Any = None,
        fidelity_values: Mapping[str, Any] | None = None,
    ) -> Any:
        """A configuration drawn uniformly, or around the priors; fidelity at ``fidelity``.

        ``fidelity`` is ``"max"`` (default), ``"min"`` or a value. Inactive parameters are
        left out and forbidden configurations are drawn again. Without a generator this is
        NePS's ``sample(fidelity_values=None)`` (also with the mapping as its first argument):
        the pair of a configuration drawn from NumPy's global state and the values
        ``evaluate_pipeline`` receives for it, the fidelity drawn too unless given.
        """
        if isinstance(rng, np.random.Generator):
            return self._sample_with(rng, bool(use_priors), fidelity, fidelity_values)
        return self._sample_as_neps(fidelity_values if rng is None else rng, use_priors, fidelity)

    def complete(
        self,
        partial: Mapping[str, Any],
        rng: np.random.Generator,
        *,
        use_priors: bool = False,
        fidelity: Any = "max",
    ) -> dict[str, Any]:
        """A configuration that keeps the valid decisions of ``partial`` and draws the rest.

        Decisions that no longer apply (e.g. below a categorical whose choice changed) are
        dropped; this is how mutations become valid configurations again.
        """
        policy = DrawPolicy(rng=rng, use_priors=use_priors, fidelity=fidelity)
        return self._draw(partial, policy).decisions

    def mutate(
        self,
        config: Mapping[str, Any],
        rng: np.random.Generator,
        *,
        rate: float | None = None,
        step: float = 0.2,
        fidelity: Any = "max",
        count: int | None = None,
        redraw: bool = False,
    ) -> dict[str, Any]:
        """A configuration near ``config``: some of its decisions moved, the rest kept.

        Each decision that reaches ``evaluate_pipeline`` moves with probability ``rate`` (in
        (0, 1], default one over their number; at least one moves), or ``count`` (>= 1, not
        with ``rate``) of them: numbers by a normal step of ``step`` in their unit interval,
        categoricals to another choice, or drawn anew with ``redraw``, as are decisions below a
        changed choice; the fidelity is ``fidelity``. Forbidden moves are chosen again
        (``NoAllowedMutationError`` if all are).
        """
        moves = Moves(rate=rate, count=count, redraw=redraw)
        mutable = list(self.mutable_decisions(config))
        if not mutable:
            return self.sample(rng, fidelity=fidelity)
        base = DrawPolicy(rng=rng, fidelity=fidelity, step=step)
        for kept, policy in mutation_attempts(config, mutable, moves, base, self._fidelity_name):
            with contextlib.suppress(NoAllowedConfigurationError):  # repaired a few times
                return self._draw(kept, policy, MUTATION_REJECTIONS).decisions
        raise NoAllowedMutationError(f"No mutation of {dict(config)} the forbidden clauses allow")

    def prior_config(self, *, fidelity: Any = "max") -> dict[str, Any]:
        """The configuration made of every parameter's prior (its centre where it has none);
        where a forbidden clause excludes it, that clause's parameters drawn near it (seed 0)."""
        return self._draw({}, DrawPolicy(center=True, fidelity=fidelity)).decisions

    def _draw(self, given: Mapping[str, Any], policy: DrawPolicy, limit: int = 0) -> Resolution:
        value = None if self._fidelity_name is None else self.fidelity_value(policy.fidelity)
        for rejections in range(limit or MAX_FORBIDDEN_REJECTIONS):  # a global tests lower
            drawing = policy.after(rejections)
            resolution = self._resolver(given, policy=drawing, fidelity_value=value).run()
            violated = self.violated_clause(resolution.decisions)
            if violated is None:
                return resolution
            if policy.center:  # keep the centre's allowed decisions, draw the rest near it
                given, policy = resolution.decisions, policy.near_center()
            # Kept decisions may be what the clause forbids: draw its parameters anew.
            given = {k: v for k, v in given.items() if k not in violated.names()}
        assert violated is not None  # the loop ran (the limit is positive) and got none
        raise NoAllowedConfigurationError(
            f"No configuration the space's forbidden clauses allow in {rejections + 1} "
            f"draws (the last, {resolution.decisions}, by {violated.describe()})"
        )

    def fidelity_value(self, which: Any) -> Any:
        """Resolve ``"max"``/``"min"`` (or pass a value through) for the fidelity parameter."""
        fidelity = self.fidelity
        if fidelity is None:
            raise ValueError("The space has no fidelity parameter")
        if which == "max":
            return fidelity.upper
        if which == "min":
            return fidelity.lower
        return which

    # -- reading configurations ---------------------------------------------------------------
    def _resolver(self, given: Mapping[str, Any], **options: Any) -> Resolver:
        return Resolver(self._structure, self._conditions, given=given, **options)

    def walk(self, config: Mapping[str, Any]) -> Resolution:
        """Read a configuration strictly: every decision must be present and valid."""
        return self._resolver(config, strict=True).run()

    def resolve(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments ``evaluate_pipeline`` receives for a stored configuration.

        Operations are called (shared ones once); underscore-prefixed (intermediate) entries
        are not passed on.
        """
        return instantiate_entries(self.walk(config).values)

    def readable(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Each passed-on entry as text (operations not called); plain values stay as they are."""
        values = self.walk(config).values
        return {
            k: v if is_plain_data(v) else readable(v)
            for k, v in values.items()
            if not k.startswith("_")
        }

    def mutable_decisions(self, config: Mapping[str, Any]) -> dict[str, Parameter]:
        """The decisions of ``config`` that change what ``evaluate_pipeline`` receives (also
        through a condition); not constants, the fidelity, or what only unused entries read."""
        walked = self.walk(config)
        conditions = set().union(*(clause.names() for clause in self._conditions.values()))
        return {
            path: parameter
            for path, parameter in walked.parameters.items()
            if (path in walked.live or path in conditions)
            and path != self._fidelity_name
            and not isinstance(parameter, Constant)
        }

    def violated_clause(self, config: Mapping[str, Any]) -> Clause | None:
        """The first forbidden clause ``config`` satisfies, ``None`` when it is allowed."""
        for clause in self._forbidden:
            if clause.holds(config, self._parameters):
                return clause
        return None

    def active_part(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` without the decisions that do not apply (e.g. of inactive parameters).

        Every decision that does apply must be given (e.g. a grid point over all parameters).
        """
        try:
            return self._resolver(config).run().decisions
        except _NoGenerator as error:
            raise ValueError(f"The configuration misses decisions: {error}") from None

    def canonical(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        """``active_part`` of ``config``, or ``None`` when a forbidden clause excludes it."""
        decisions = self.active_part(config)
        return None if self.violated_clause(decisions) is not None else decisions

    def validate_config(self, config: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first decision that does not fit the space."""
        if self.is_flat:
            unknown = [key for key in config if key not in self._parameters]
            if unknown:
                raise ValueError(f"Unknown parameter(s) {unknown}; the space has {list(self)}")
        resolver = self._resolver(config, strict=True)
        decisions = resolver.run().decisions
        unused = [k for k in config if k not in decisions and k not in resolver.consumed]
        inactive = [k for k in unused if k in self._conditions]
        if inactive:
            raise ValueError(
                f"Parameter {inactive[0]!r} is inactive (its condition "
                f"{self._conditions[inactive[0]].describe()} does not hold) but is set"
            )
        if unused:
            raise ValueError(
                f"Unknown parameter(s) {unused}: no decision of the space has these paths"
            )
        violated = self.violated_clause(decisions)
        if violated is not None:
            raise ValueError(f"The configuration is forbidden by {violated.describe()}")

    # -- identity -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __contains__(self, name: object) -> bool:
        return name in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PipelineSpace):
            return NotImplemented
        if in_clause_order(self._forbidden) != in_clause_order(other._forbidden):
            return False
        if self.is_flat and other.is_flat:
            parameters = dict(self._parameters) == dict(other._parameters)
            return parameters and dict(self._conditions) == dict(other._conditions)
        from neps_core.space.description import FORBIDDEN_KEY, describe_space

        mine, theirs = ({**describe_space(s), FORBIDDEN_KEY: 0} for s in (self, other))
        return mine == theirs

    def __hash__(self) -> int:  # equal spaces may list their entries in another order
        return hash(frozenset(self._parameters))

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self._parameters.items())
        extras = ""
        if self._conditions:
            extras += f", conditions={dict(self._conditions)!r}"
        if self._forbidden:
            extras += f", forbidden={list(self._forbidden)!r}"
        return f"{type(self).__name__}({body}{extras})"
