"""The ``random_search`` optimizer: uniform draws, or draws around the priors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core.models import FIDELITY_SEARCHED, BudgetInfo, Proposal, Trial
from neps_core.space.sampling import sample_uniform
from neps_core.validators import IGNORE_FIDELITY


@attrs.frozen
class RandomSearchSettings:
    """``use_priors``: sample around each parameter's prior instead of uniformly.

    ``ignore_fidelity`` (NePS's option): keep the fidelity at its maximum (the default, also
    NePS's ``"highest fidelity"``); ``False`` draws it uniformly in its range like any other
    parameter.
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
        searched = self.space.fidelity is not None and not self.settings.ignore_fidelity
        metadata = {FIDELITY_SEARCHED: True} if searched else {}
        return [Proposal(self._sample(rng), metadata=metadata) for _ in range(n)]

    def _sample(self, rng: np.random.Generator) -> dict[str, Any]:
        fidelity: Any = "max"
        if self.space.fidelity is not None and not self.settings.ignore_fidelity:
            fidelity = sample_uniform(self.space.fidelity, rng)
        return self.space.sample(rng, use_priors=self.settings.use_priors, fidelity=fidelity)


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register random search."""
    return [RandomSearch]
