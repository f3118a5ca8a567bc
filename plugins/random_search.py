"""The ``random_search`` optimizer: uniform draws, or draws around the priors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial


@attrs.frozen
class RandomSearchSettings:
    """``use_priors``: sample around each parameter's prior instead of uniformly."""

    use_priors: bool = False


class RandomSearch(Optimizer):
    """Independent samples of the space; the fidelity, if any, at its maximum."""

    name: ClassVar[str] = "random_search"
    Settings: ClassVar[type] = RandomSearchSettings
    supports_fidelity: ClassVar[bool] = True

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        rng = self.random_generator(trials)
        return [
            Proposal(self.space.sample(rng, use_priors=self.settings.use_priors)) for _ in range(n)
        ]


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register random search."""
    return [RandomSearch]
