"""The ``random_search`` optimizer: uniform draws, or draws around the priors."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.budget import BudgetGuard
from neps_core.interfaces import Optimizer
from neps_core.models import FIDELITY_SEARCHED, BudgetInfo, Proposal, Trial
from neps_core.space.parameters import Integer, Numerical
from neps_core.validators import IGNORE_FIDELITY


@attrs.frozen
class RandomSearchSettings:
    """``use_priors``: sample around each parameter's prior instead of uniformly.

    ``ignore_fidelity`` (NePS's option): keep the fidelity at its maximum (the default, also
    NePS's ``"highest fidelity"``); ``False`` draws it uniformly in its range like any other
    parameter, among the values that still fit ``fidelities_to_spend`` and ``cost_to_spend``.
    """

    use_priors: bool = False
    ignore_fidelity: Any = attrs.field(default=True, validator=IGNORE_FIDELITY)


class RandomSearch(Optimizer):
    """Independent samples of the space; the fidelity, if any, at its maximum unless asked."""

    name: ClassVar[str] = "random_search"
    #: NePS's name of this optimizer for its PipelineSpace, which is the only kind here.
    aliases: ClassVar[tuple[str, ...]] = ("neps_random_search",)
    Settings: ClassVar[type] = RandomSearchSettings
    supports_fidelity: ClassVar[bool] = True

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        if self.space.fidelity is None or self.settings.ignore_fidelity:
            return [
                Proposal(self._sample(self.random_generator(trials, i), "max")) for i in range(n)
            ]
        guard = BudgetGuard(trials, budget)
        proposals = []
        for i in range(n):
            rng = self.random_generator(trials, i)
            fidelity = self._fitting_fidelity(rng, guard)
            if fidelity is None:  # not even the lowest fits: the sampler ends the run
                break
            config = self._sample(rng, fidelity)
            proposals.append(Proposal(config, metadata={FIDELITY_SEARCHED: True}))
            guard.spend(fidelity, continued=False)
        return proposals

    def _fitting_fidelity(self, rng: np.random.Generator, guard: BudgetGuard) -> Any:
        """A uniform draw of the fidelity (on the log scale for a log one) among the values
        whose trial still fits the budgets; ``None`` when not even the lowest fits.

        Drawn in the whole range, a draw that did not fit ended the run with up to half of
        ``fidelities_to_spend``, or a third of ``cost_to_spend``, unused.
        """
        parameter = self.space.fidelity
        assert isinstance(parameter, Numerical)
        highest = _highest_fitting(parameter, guard)
        if highest is None:
            return None
        top = math.floor(highest) + 0.5 if isinstance(parameter, Integer) else highest
        drawn = parameter.from_unit(rng.random() * min(1.0, parameter.to_unit(top)))
        return drawn if guard.fits(drawn, continued=False) else highest

    def _sample(self, rng: np.random.Generator, fidelity: Any) -> dict[str, Any]:
        return self.space.sample(rng, use_priors=self.settings.use_priors, fidelity=fidelity)


def _highest_fitting(parameter: Numerical, guard: BudgetGuard) -> Any:
    """The highest value of the fidelity whose trial still fits, by bisection on its unit
    scale (a trial's expected cost grows with its fidelity); ``None`` if the lowest does not."""
    if not guard.fits(parameter.lower, continued=False):
        return None
    if guard.fits(parameter.upper, continued=False):
        return parameter.upper
    fits, does_not = 0.0, 1.0
    for _ in range(60):
        middle = (fits + does_not) / 2
        if guard.fits(parameter.from_unit(middle), continued=False):
            fits = middle
        else:
            does_not = middle
    return parameter.from_unit(fits)


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register random search."""
    return [RandomSearch]
