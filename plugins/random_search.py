"""The ``random_search`` optimizer: uniform draws, or draws around the priors."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.budget import most_within
from neps_core.interfaces import Optimizer
from neps_core.models import FIDELITY_SEARCHED, BudgetInfo, Proposal, Trial
from neps_core.space.parameters import Integer, Numerical
from neps_core.space.sampling import sample_uniform
from neps_core.validators import IGNORE_FIDELITY


@attrs.frozen
class RandomSearchSettings:
    """``use_priors``: sample around each parameter's prior instead of uniformly.

    ``ignore_fidelity`` (NePS's option): keep the fidelity at its maximum (the default, also
    NePS's ``"highest fidelity"``); ``False`` draws it uniformly in its range like any other
    parameter, among the values that still fit ``fidelities_to_spend``.
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
        rng = self.random_generator(trials)
        if self.space.fidelity is None or self.settings.ignore_fidelity:
            return [Proposal(self._sample(rng, "max")) for _ in range(n)]
        left = budget.remaining_fidelities
        proposals = []
        for _ in range(n):
            fidelity = self._fitting_fidelity(rng, left)
            if fidelity is None:  # not even the lowest fits: the sampler ends the run
                break
            config = self._sample(rng, fidelity)
            proposals.append(Proposal(config, metadata={FIDELITY_SEARCHED: True}))
            left = None if left is None else left - fidelity
        return proposals

    def _fitting_fidelity(self, rng: np.random.Generator, left: float | None) -> Any:
        """A uniform draw of the fidelity (on the log scale for a log one) among the values
        within ``left`` (``None``: all of them); ``None`` when not even the lowest fits.

        Drawn in the whole range, a draw that did not fit ended the run with up to half of
        ``fidelities_to_spend`` unused.
        """
        parameter = self.space.fidelity
        assert isinstance(parameter, Numerical)
        if left is None:
            return sample_uniform(parameter, rng)
        top = min(parameter.upper, most_within(left))
        if top < parameter.lower:
            return None
        if isinstance(parameter, Integer):  # up to the end of the top integer's share
            top = math.floor(top) + 0.5
        return parameter.from_unit(rng.random() * min(1.0, parameter.to_unit(top)))

    def _sample(self, rng: np.random.Generator, fidelity: Any) -> dict[str, Any]:
        return self.space.sample(rng, use_priors=self.settings.use_priors, fidelity=fidelity)


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register random search."""
    return [RandomSearch]
