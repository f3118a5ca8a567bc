"""A numeric encoding of flat spaces, for model-based optimizers (Bayesian optimization, ...).

Each searchable parameter is one column of a float array:

* ``Float``/``Integer``: its position in the unit interval, ``Numerical.to_unit`` (on the log
  scale for ``log=True``; an integer ``k`` sits in the middle of its own equal share of
  [0, 1], so rounding in ``from_unit`` maps any point back to the nearest integer);
* ``Categorical``: the index of the choice, ``0 .. n-1`` (see ``categorical_dims`` to
  one-hot it or to use a categorical kernel); choices may be any values, tuples included;
* a parameter absent from a configuration (inactive by a condition): ``NaN``.

Constants are left out (they never vary) and so is the fidelity, unless
``include_fidelity=True`` (for models over configuration *and* fidelity). ``decode``
rounds and clips any array back to valid configurations, so an optimizer may propose points
anywhere in ``bounds``::

    encoder = ConfigEncoder.from_space(space)
    x = encoder.encode(configs)          # shape (len(configs), encoder.n_dims)
    configs_again = encoder.decode(x)    # list of configurations (dicts)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from neps_core.space.parameters import Categorical, Constant, Numerical, Parameter
from neps_core.space.pipeline_space import PipelineSpace
from neps_core.space.structure import first_structural


@attrs.frozen
class ConfigEncoder:
    """Encodes configurations of a flat space as rows of a float array, and back."""

    space: PipelineSpace
    #: The parameter of each column, in column order.
    names: tuple[str, ...]

    @classmethod
    def from_space(cls, space: PipelineSpace, *, include_fidelity: bool = False) -> ConfigEncoder:
        """The encoder of ``space``; a ``ValueError`` names the first non-flat entry."""
        if not space.is_flat:
            structural = first_structural(space.parameters)
            raise ValueError(
                f"Parameter {structural!r}: only flat spaces can be encoded as arrays; this "
                "entry is an operation, a resample, a reference or a categorical over them"
            )
        names = tuple(
            name
            for name, parameter in space.parameters.items()
            if not isinstance(parameter, Constant)
            and (include_fidelity or name != space.fidelity_name)
        )
        return cls(space, names)

    @property
    def n_dims(self) -> int:
        """The number of columns."""
        return len(self.names)

    @property
    def categorical_dims(self) -> dict[int, int]:
        """Column index -> number of choices, for every categorical column."""
        return {
            column: len(parameter.choices)
            for column, parameter in enumerate(self._parameters())
            if isinstance(parameter, Categorical)
        }

    @property
    def numerical_dims(self) -> list[int]:
        """The columns of ``Float`` and ``Integer`` parameters (values in [0, 1])."""
        return [i for i, p in enumerate(self._parameters()) if isinstance(p, Numerical)]

    @property
    def bounds(self) -> np.ndarray:
        """Shape ``(2, n_dims)``: lower bounds (all 0) and upper bounds (1, or choices - 1)."""
        upper = [
            len(p.choices) - 1 if isinstance(p, Categorical) else 1.0 for p in self._parameters()
        ]
        return np.array([np.zeros(self.n_dims), np.array(upper, dtype=float)])

    def encode(self, configs: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Shape ``(n, n_dims)`` (a single configuration gives one row)."""
        rows = [configs] if isinstance(configs, Mapping) else list(configs)
        encoded = np.full((len(rows), self.n_dims), np.nan)
        for row, config in enumerate(rows):
            columns = zip(self.names, self._parameters(), strict=True)
            for column, (name, parameter) in enumerate(columns):
                if name in config:
                    encoded[row, column] = _encode_value(name, parameter, config[name])
        return encoded

    def decode(self, array: np.ndarray, *, fidelity: Any = "max") -> list[dict[str, Any]]:
        """Valid configurations for the rows of ``array`` (one row may be a 1-d array).

        Values are clipped to ``bounds`` and categoricals rounded; constants are added,
        the fidelity is set to ``fidelity`` unless it is a column, and parameters that the
        decoded values make inactive are dropped. A ``NaN`` of a parameter that turns out to
        be active decodes to its prior (or centre).
        """
        matrix = np.atleast_2d(np.asarray(array, dtype=float))
        if matrix.shape[1] != self.n_dims:
            raise ValueError(f"expected {self.n_dims} columns, got an array of {matrix.shape}")
        return [self._decode_row(row, fidelity) for row in matrix]

    def _decode_row(self, row: np.ndarray, fidelity: Any) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for name, parameter in self.space.parameters.items():
            if name in self.names:
                value = row[self.names.index(name)]
                config[name] = (
                    _decode_value(parameter, float(value))
                    if np.isfinite(value)
                    else _center(parameter)
                )
            elif name == self.space.fidelity_name:
                config[name] = self.space.fidelity_value(fidelity)
            elif isinstance(parameter, Constant):
                config[name] = parameter.value
        return self.space.active_part(config)

    def _parameters(self) -> list[Parameter]:
        return [self.space.parameters[name] for name in self.names]


def _encode_value(name: str, parameter: Parameter, value: Any) -> float:
    if isinstance(parameter, Numerical):
        return float(parameter.to_unit(value))
    assert isinstance(parameter, Categorical)
    index = parameter.index_of(value)
    if index is None:
        raise ValueError(f"Parameter {name!r}: {value!r} is not one of {list(parameter.choices)}")
    return float(index)


def _decode_value(parameter: Parameter, value: float) -> Any:
    if isinstance(parameter, Numerical):
        return parameter.from_unit(value)
    assert isinstance(parameter, Categorical)
    index = int(np.clip(np.rint(value), 0, len(parameter.choices) - 1))
    return parameter.decision_for(index)


def _center(parameter: Parameter) -> Any:
    """The prior, or the middle of a numeric range / the first choice."""
    if isinstance(parameter, Numerical):
        return parameter.prior if parameter.prior is not None else parameter.from_unit(0.5)
    assert isinstance(parameter, Categorical)
    return parameter.decision_for(parameter.prior_index or 0)
