"""`PipelineSpace`: a named collection of parameters, declared as a class or from a dict."""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from neps_core.space.parameters import (
    Constant,
    InvalidParameterError,
    Numerical,
    Parameter,
)
from neps_core.space.sampling import prior_value, sample_from_prior, sample_uniform


def _class_parameters(cls: type) -> dict[str, Parameter]:
    found: dict[str, Parameter] = {}
    for klass in reversed(cls.__mro__):
        found.update({k: v for k, v in vars(klass).items() if isinstance(v, Parameter)})
    return found


class PipelineSpace:
    """The search space: subclass it with parameters as class attributes, as in NePS.

    ``PipelineSpace({"lr": Float(1e-4, 1e-1, log=True)})`` builds one from a mapping.
    Spaces are immutable: :meth:`add` and :meth:`remove` return new spaces.
    """

    def __init__(self, parameters: Mapping[str, Parameter] | None = None) -> None:
        merged = _class_parameters(type(self))
        merged.update(parameters or {})
        for name, parameter in merged.items():
            if not isinstance(parameter, Parameter):
                raise InvalidParameterError(
                    f"Parameter {name!r}: expected a space parameter (Float, Integer, "
                    f"Categorical, ...), got {type(parameter).__name__}"
                )
            parameter.checked(name)
        fidelities = [name for name, p in merged.items() if _is_fidelity(p)]
        if len(fidelities) > 1:
            raise InvalidParameterError(
                f"A space may have one fidelity parameter, found {len(fidelities)}: {fidelities}"
            )
        self._parameters = types.MappingProxyType(merged)
        self._fidelity_name = fidelities[0] if fidelities else None

    # -- structure ---------------------------------------------------------------------------
    @property
    def parameters(self) -> Mapping[str, Parameter]:
        """Every parameter by name, in declaration order."""
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
        """The parameters an optimizer chooses: all but constants and the fidelity."""
        return {
            name: p
            for name, p in self._parameters.items()
            if not isinstance(p, Constant) and name != self._fidelity_name
        }

    @property
    def has_priors(self) -> bool:
        """Whether any parameter carries a user prior."""
        return any(getattr(p, "prior", None) is not None for p in self._parameters.values())

    def add(self, new_param: Parameter, name: str | None = None) -> PipelineSpace:
        """A new space with ``new_param`` added under ``name`` (default ``param_<n>``)."""
        name = name or f"param_{len(self._parameters)}"
        if name in self._parameters:
            raise ValueError(f"Parameter {name!r} already exists in the space")
        return PipelineSpace({**self._parameters, name: new_param})

    def remove(self, name: str) -> PipelineSpace:
        """A new space without the parameter ``name``."""
        if name not in self._parameters:
            raise KeyError(f"Parameter {name!r} is not in the space: {list(self._parameters)}")
        return PipelineSpace({k: v for k, v in self._parameters.items() if k != name})

    # -- configurations -----------------------------------------------------------------------
    def sample(
        self, rng: np.random.Generator, *, use_priors: bool = False, fidelity: Any = "max"
    ) -> dict[str, Any]:
        """A configuration: searchable parameters drawn, constants set, fidelity at ``fidelity``.

        ``fidelity`` is ``"max"``, ``"min"`` or a value.
        """
        draw = sample_from_prior if use_priors else sample_uniform
        config = {}
        for name, parameter in self._parameters.items():
            if name == self._fidelity_name:
                config[name] = self.fidelity_value(fidelity)
            else:
                config[name] = draw(parameter, rng)
        return config

    def prior_config(self, *, fidelity: Any = "max") -> dict[str, Any]:
        """The configuration made of every parameter's prior (its centre where it has none)."""
        return {
            name: self.fidelity_value(fidelity) if name == self._fidelity_name else prior_value(p)
            for name, p in self._parameters.items()
        }

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

    def resolve(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments ``evaluate_pipeline`` receives for a stored configuration.

        Underscore-prefixed (intermediate) parameters are not passed on.
        """
        return {k: v for k, v in config.items() if not k.startswith("_")}

    def validate_config(self, config: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first key that does not fit the space."""
        unknown = [key for key in config if key not in self._parameters]
        if unknown:
            raise ValueError(f"Unknown parameter(s) {unknown}; the space has {list(self)}")
        for name, parameter in self._parameters.items():
            if name not in config:
                raise ValueError(f"Parameter {name!r} is missing from the configuration")
            if not parameter.contains(config[name]):  # type: ignore[attr-defined]
                raise ValueError(
                    f"Parameter {name!r}: value {config[name]!r} is not in {parameter}"
                )

    # -- identity -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __len__(self) -> int:
        return len(self._parameters)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PipelineSpace):
            return NotImplemented
        return dict(self._parameters) == dict(other._parameters)

    def __hash__(self) -> int:
        return hash(tuple(self._parameters))

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self._parameters.items())
        return f"{type(self).__name__}({body})"


def _is_fidelity(parameter: Parameter) -> bool:
    return isinstance(parameter, Numerical) and parameter.is_fidelity
