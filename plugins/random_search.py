"""The ``random_search`` optimizer: uniform draws, or draws around the priors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.budget import within
from neps_core.interfaces import Optimizer
from neps_core.models import FIDELITY_SEARCHED, BudgetInfo, Proposal, Trial
from neps_core.space.enumeration import MAX_DRAWS
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
        """A uniform draw of the fidelity among the values within ``left`` (``None``: any).

        A draw that did not fit ended the run with up to half of ``fidelities_to_spend``
        unused; drawing again samples the range that still fits, and after ``MAX_DRAWS``
        misses (very little left) the lowest fidelity is taken if it fits.
        """
        parameter = self.space.fidelity
        assert parameter is not None
        for _ in range(MAX_DRAWS):
            value = sample_uniform(parameter, rng)
            if left is None or within(value, left):
                return value
        lowest = self.space.fidelity_value("min")
        return lowest if left is None or within(lowest, left) else None

    def _sample(self, rng: np.random.Generator, fidelity: Any) -> dict[str, Any]:
        return self.space.sample(rng, use_priors=self.settings.use_priors, fidelity=fidelity)


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register random search."""
    return [RandomSearch]
