"""The ``grid_search`` optimizer: every point of a grid over the space, in order, once."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.budget import within
from neps_core.errors import SettingsError
from neps_core.history import ChangeFeed
from neps_core.interfaces import Optimizer
from neps_core.models import FIDELITY_SEARCHED, BudgetInfo, Proposal, Trial
from neps_core.space.parameters import (
    Categorical,
    Constant,
    Integer,
    Numerical,
    Parameter,
)
from neps_core.space.pipeline_space import PipelineSpace
from neps_core.space.scales import scales_agree
from neps_core.space.structure import first_structural
from neps_core.validators import IGNORE_FIDELITY, at_least


@attrs.frozen
class GridSearchSettings:
    """``size``: points per numeric parameter (evenly spaced, on the log scale where set).

    ``ignore_fidelity`` (NePS's option): keep the fidelity at its maximum (the default, also
    NePS's ``"highest fidelity"``); ``False`` makes it one more axis of the grid, with ``size``
    points like the others.
    """

    size: int = attrs.field(default=10, validator=at_least(1))
    ignore_fidelity: Any = attrs.field(default=True, validator=IGNORE_FIDELITY)
    option_aliases: ClassVar[dict[str, str]] = {"size_per_numerical_dimension": "size"}


def grid_values(parameter: Parameter, size: int) -> list[Any]:
    """The values of one parameter on the grid."""
    if isinstance(parameter, Categorical):
        return [parameter.decision_for(index) for index in range(len(parameter.choices))]
    if isinstance(parameter, Constant):
        return [parameter.value]
    assert isinstance(parameter, Numerical)
    if isinstance(parameter, Integer) and size > 1:
        return _integer_grid(parameter, size)
    units = np.linspace(0.0, 1.0, size) if size > 1 else np.array([0.5])
    return [parameter.from_unit(float(u)) for u in units]


def _integer_grid(parameter: Integer, size: int) -> list[int]:
    """``size`` integers evenly spaced between the bounds themselves, rounded, distinct.

    Not through ``from_unit``: its unit interval reaches half a step beyond each bound (so a
    uniform draw gives every integer an equal share), which skewed grid steps
    (``Integer(16, 512, log=True)`` gave 31, 63, ... instead of 32, 64, ...).
    """
    lower, upper = parameter.lower, parameter.upper
    if upper - lower < size:
        return list(range(lower, upper + 1))  # rounding would merge steps
    # Where log and linear scales agree, the exact integer steps: logs of 2**53 + 1 and
    # 2**53 + 70 are one float apart.
    if parameter.log and not scales_agree(lower, upper):
        logs = np.linspace(math.log(lower), math.log(upper), size)[1:-1]
        inner = [min(max(round(math.exp(float(v))), lower), upper) for v in logs]
    else:  # in integers: near 1e17 neighbouring floats are 16 apart
        steps = size - 1
        inner = [lower + (2 * i * (upper - lower) + steps) // (2 * steps) for i in range(1, steps)]
    return list(dict.fromkeys([lower, *inner, upper]))  # distinct, in order


class GridSearch(Optimizer):
    """Proposes grid points not yet in the history; the fidelity, if any, at its maximum.

    Unless ``ignore_fidelity`` is off: then each grid point comes at every fidelity value
    that still fits ``fidelities_to_spend``.

    When every point has been tried it proposes nothing and the run ends.
    """

    name: ClassVar[str] = "grid_search"
    #: NePS's name of this optimizer for its PipelineSpace, which is the only kind here.
    aliases: ClassVar[tuple[str, ...]] = ("neps_grid_search",)
    Settings: ClassVar[type] = GridSearchSettings
    supports_fidelity: ClassVar[bool] = True

    def __init__(self, space: PipelineSpace, settings: Any = None, *, seed: int | None = None):
        super().__init__(space, settings, seed=seed)
        if not space.is_flat:
            raise SettingsError(
                f"Parameter {first_structural(space.parameters)!r}: grid_search needs a flat "
                "space (no operations, resampling or references); use random_search, "
                "complex_random_search or regularized_evolution"
            )
        self._names = list(space.parameters)
        self._changes = ChangeFeed()
        self._start_over()

    def _start_over(self) -> None:
        self._seen: set[tuple[Any, ...]] = set()
        self._cursor = self._points()
        self._offered: dict[tuple[Any, ...], dict[str, Any]] = {}  # in grid order

    def _points(self) -> Iterator[dict[str, Any]]:
        axes = [
            [self.space.fidelity_value("max")]
            if name == self.space.fidelity_name and self.settings.ignore_fidelity
            else grid_values(parameter, self.settings.size)
            for name, parameter in self.space.parameters.items()
        ]
        for values in itertools.product(*axes):
            # Inactive parameters (conditions) drop out; forbidden points are skipped.
            point = self.space.canonical(dict(zip(self._names, values, strict=True)))
            if point is not None:
                yield point

    def _fidelity_check(self, budget: BudgetInfo) -> Callable[[Mapping[str, Any]], bool]:
        """Whether a point's fidelity fits what is left of ``fidelities_to_spend``.

        A point that does not is skipped for good (what is left only shrinks), so that the
        grid goes on with points at lower fidelities instead of ending the run.
        """
        left, name = budget.remaining_fidelities, self.space.fidelity_name
        if left is None or name is None:
            return lambda config: True
        return lambda config: within(config[name], left)

    def _key(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(repr(config.get(name)) for name in self._names)

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        # The trials changed since the last ask; all of them (from the grid's start) for
        # another history. Skipping the trials seen before walked them all again (5 ms at 20k).
        changed = self._changes.since_last(trials)
        if changed is None:
            self._start_over()
        for trial_id in trials if changed is None else changed:
            self._seen.add(self._key(trials[trial_id].config))
        searched = self.space.fidelity is not None and not self.settings.ignore_fidelity
        fits = self._fidelity_check(budget) if searched else lambda config: True
        # Points proposed earlier but not stored (the budget could not fit them then) come
        # first again: the cursor has passed them.
        offered = {key: c for key, c in self._offered.items() if key not in self._seen and fits(c)}
        while len(offered) < n:
            config = next(self._cursor, None)
            if config is None:
                break
            key = self._key(config)  # points a condition made equal come once
            if key not in self._seen and fits(config):
                offered.setdefault(key, config)
        self._offered = offered
        metadata = {FIDELITY_SEARCHED: True} if searched else {}
        return [Proposal(config, metadata=metadata) for config in list(offered.values())[:n]]


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register grid search."""
    return [GridSearch]
