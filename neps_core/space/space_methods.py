"""The methods NePS's ``PipelineSpace`` offers by name: ``get_attrs``, ``fidelity_attrs``,
``has_priors()``, ``add``, ``remove``, ``add_prior`` and the sampling of a whole
configuration with ``evaluate_pipeline``'s values, as ``sample()`` returns them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from neps_core.errors import UnknownParameterError
from neps_core.randomness import global_generator
from neps_core.space.naming import described_as
from neps_core.space.parameters import Categorical, Constant, Numerical, Parameter
from neps_core.space.structure import carries_prior

if TYPE_CHECKING:
    import numpy as np

    from neps_core.space.conditions import Clause
    from neps_core.space.pipeline_space import PipelineSpace


class Flag:
    """A yes or no that is also callable: ``space.has_priors`` reads as a bool (neps_core's
    property, which plugins use) and ``space.has_priors()`` returns it (NePS's method)."""

    __slots__ = ("_value",)

    def __init__(self, value: bool) -> None:
        self._value = value

    def __bool__(self) -> bool:
        return self._value

    def __call__(self) -> bool:
        return self._value

    def __eq__(self, other: object) -> bool:
        return self._value == (other._value if isinstance(other, Flag) else other)

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return repr(self._value)


class SpaceMethods:
    """NePS's ``PipelineSpace`` methods, mixed into neps_core's `PipelineSpace`."""

    if TYPE_CHECKING:
        _parameters: Mapping[str, Parameter]
        _fidelity_name: str | None
        _conditions: Mapping[str, Clause]
        _forbidden: tuple[Clause, ...]
        _with: Callable[..., PipelineSpace]
        complete: Callable[..., dict[str, Any]]
        resolve: Callable[[Mapping[str, Any]], dict[str, Any]]

    def get_attrs(self) -> dict[str, Any]:
        """Every entry by name, constants as their values (NePS keeps them as plain values)."""
        return {
            name: p.value if isinstance(p, Constant) else p for name, p in self._parameters.items()
        }

    @property
    def fidelity_attrs(self) -> dict[str, Numerical]:
        """The fidelity by name; empty when the space has none."""
        return {
            name: parameter
            for name, parameter in self._parameters.items()
            if name == self._fidelity_name and isinstance(parameter, Numerical)
        }

    @property
    def has_priors(self) -> Flag:
        """Whether any parameter carries a user prior, also one inside an operation; true or
        false as it is, and callable as NePS's ``has_priors()``."""
        return Flag(carries_prior(self._parameters.values()))

    def _parameter(self, name: str) -> Parameter:
        if name not in self._parameters:
            raise UnknownParameterError(
                f"No parameter named {name!r} in the space; it has {list(self._parameters)}"
            )
        return self._parameters[name]

    def add(self, new_param: Parameter | SpaceMethods, name: str | None = None) -> PipelineSpace:
        """A new space with ``new_param`` added under ``name`` (default ``param_<n + 1>`` for
        ``n`` entries, as NePS). Adding an entry equal to the one of that name changes nothing.

        A space is merged as NePS merges it, each entry added under its own name; its
        conditions and forbidden clauses come along."""
        if isinstance(new_param, SpaceMethods):
            return self._merged(new_param, name)
        name = name or f"param_{len(self._parameters) + 1}"
        existing = self._parameters.get(name)
        if existing is not None and existing != new_param:
            raise ValueError(
                f"A different parameter named {name!r} is in the space already: {existing!r}, "
                f"not {new_param!r}"
            )
        return self._with({**self._parameters, name: new_param})

    def _merged(self, other: SpaceMethods, name: str | None) -> PipelineSpace:
        if name is not None:
            raise ValueError(f"add() of a space keeps its entries' names; got name={name!r}")
        merged = self._with(self._parameters)
        for entry, parameter in other._parameters.items():
            merged = merged.add(parameter, entry)  # equal entries once, different refused
        clashing = [n for n, c in other._conditions.items() if self._conditions.get(n, c) != c]
        if clashing:
            raise ValueError(f"Both spaces have different conditions on {clashing}")
        return merged._with(
            merged._parameters,
            conditions={**self._conditions, **other._conditions},
            forbidden=(*self._forbidden, *other._forbidden),
        )

    def remove(self, name: str) -> PipelineSpace:
        """A new space without the parameter ``name`` (and without its condition)."""
        self._parameter(name)
        users: list[Any] = [c for c, clause in self._conditions.items() if name in clause.names()]
        users += [clause.describe() for clause in self._forbidden if name in clause.names()]
        if users:
            raise ValueError(f"Parameter {name!r} is used by conditions or clauses: {users}")
        return self._with(
            {k: v for k, v in self._parameters.items() if k != name},
            conditions={k: v for k, v in self._conditions.items() if k != name},
        )

    def add_prior(self, parameter_name: str, prior: Any, prior_confidence: Any) -> PipelineSpace:
        """A new space in which ``parameter_name`` (a ``Float``, ``Integer`` or ``Categorical``
        without a prior) has ``prior`` at ``prior_confidence``, as NePS's ``add_prior``."""
        parameter = self._parameter(parameter_name)
        is_fidelity = parameter_name == self._fidelity_name
        if is_fidelity or not isinstance(parameter, Numerical | Categorical):
            kind = "a fidelity" if is_fidelity else f"a {type(parameter).__name__}"
            raise ValueError(f"Parameter {parameter_name!r} is {kind}, which takes no prior")
        if parameter.has_prior:
            raise ValueError(f"Parameter {parameter_name!r} has a prior already: {parameter!r}")
        with described_as(parameter_name):  # its checks name it
            changed = attrs.evolve(parameter, prior=prior, prior_confidence=prior_confidence)
        return self._with({**self._parameters, parameter_name: changed})

    def _sample_with(
        self,
        rng: np.random.Generator,
        use_priors: bool,
        fidelity: Any,
        fidelity_values: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """neps_core's ``sample(rng, ...)``. NePS's ``fidelity_values`` beside a generator is
        refused, as NePS's form refuses neps_core's keywords: the draw ignored it silently
        (the fidelity at its maximum)."""
        if fidelity_values is not None:
            raise TypeError(
                f"sample(rng, fidelity_values={dict(fidelity_values)!r}): with a generator the "
                "fidelity is set by fidelity= (a value, 'max' or 'min'); fidelity_values is "
                "NePS's sample(), which takes no generator and returns (config, values)"
            )
        at = "max" if fidelity is None else fidelity
        return self.complete({}, rng, use_priors=use_priors, fidelity=at)

    def _sample_as_neps(
        self, fidelity_values: Mapping[str, Any] | None, use_priors: bool | None, fidelity: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """NePS's ``sample()``: a configuration drawn uniformly from NumPy's global state, and
        the values ``evaluate_pipeline`` receives for it; the fidelity at its value in
        ``fidelity_values``, else drawn uniformly (as NePS).

        ``use_priors`` and ``fidelity`` are neps_core's keywords, which this form would
        silently ignore (a uniform draw for ``use_priors=True``): given a fidelity, or
        ``use_priors=True``, it asks for a generator; ``use_priors=False`` is its uniform draw."""
        ours = {"use_priors": use_priors or None, "fidelity": fidelity}
        given = [f"{name}={value!r}" for name, value in ours.items() if value is not None]
        if given:
            raise TypeError(
                f"sample({', '.join(given)}) draws with a generator: pass one first, "
                "space.sample(np.random.default_rng(seed), ...); without one, sample() is "
                "NePS's, which takes only fidelity_values"
            )
        rng = global_generator()
        values = dict(fidelity_values or {})
        unknown = [name for name in values if name != self._fidelity_name]
        if unknown:
            raise ValueError(
                f"fidelity_values names {unknown}, not the space's fidelity "
                f"({self._fidelity_name!r})"
            )
        at: Any = "max"
        if self._fidelity_name is not None:
            default = self.fidelity_attrs[self._fidelity_name].sample(rng)
            at = values.get(self._fidelity_name, default)
        config = self.complete({}, rng, fidelity=at)
        return config, self.resolve(config)
