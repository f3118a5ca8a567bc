"""The ``complex_random_search`` optimizer: uniform draws, prior draws and incumbent mutations.

Random search that also exploits: each proposal is, by the configured shares, a uniform draw
of the space, a draw around the user's priors, or a mutation of one of the best configurations
found so far (see ``neps_core.space.PipelineSpace.mutate``). It works on every space,
structural ones (operations, resampling, grammars) included, and never proposes a
configuration the run has already seen.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial, TrialState
from neps_core.space import PipelineSpace
from neps_core.space.enumeration import ConfigKeys, unique_proposals
from neps_core.validators import IGNORE_FIDELITY, positive, refuse_searched_fidelity, share


@attrs.frozen
class ComplexRandomSearchSettings:
    """Shares of the three kinds of proposals (uniform draws take what is left).

    ``prior_share``: draws around the priors (uniform for parameters without one);
    ``mutation_share``: mutations of one of the ``incumbents`` best configurations, each
    decision moving with probability ``mutation_rate`` (default one over their number), numbers
    by a normal ``step`` in their unit interval. ``ignore_fidelity`` (NePS's option): the
    fidelity stays at its maximum; ``False`` is refused for a space with one, as NePS does.
    """

    prior_share: float = attrs.field(default=1 / 3, validator=share)
    mutation_share: float = attrs.field(default=1 / 3, validator=share)
    incumbents: int = attrs.field(default=1, validator=positive)
    mutation_rate: float | None = None
    step: float = attrs.field(default=0.2, validator=positive)
    ignore_fidelity: Any = attrs.field(default=True, validator=IGNORE_FIDELITY)

    def __attrs_post_init__(self) -> None:
        if self.prior_share + self.mutation_share > 1.0 + 1e-9:
            raise ValueError(
                f"prior_share + mutation_share must be at most 1, got "
                f"{self.prior_share} + {self.mutation_share}"
            )
        if self.mutation_rate is not None and not 0.0 < self.mutation_rate <= 1.0:
            raise ValueError(f"mutation_rate must be in (0, 1], got {self.mutation_rate}")


def best_trials(trials: Mapping[str, Trial], k: int) -> list[Trial]:
    """The ``k`` successful trials with the lowest (scalar) objective."""
    scored = [
        t
        for t in trials.values()
        if t.state is TrialState.SUCCESS and isinstance(t.objective, int | float)
    ]
    return sorted(scored, key=lambda t: float(t.objective))[:k]  # type: ignore[arg-type]


class ComplexRandomSearch(Optimizer):
    """Uniform, prior and mutation proposals; the fidelity, if any, at its maximum."""

    name: ClassVar[str] = "complex_random_search"
    Settings: ClassVar[type] = ComplexRandomSearchSettings
    supports_fidelity: ClassVar[bool] = True
    supports_multi_objective: ClassVar[bool] = False

    def __init__(
        self, space: PipelineSpace, settings: Any = None, *, seed: int | None = None
    ) -> None:
        super().__init__(space, settings, seed=seed)
        refuse_searched_fidelity(self.name, self.settings.ignore_fidelity, space)

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        rng = self.random_generator(trials)
        parents = best_trials(trials, self.settings.incumbents)
        return unique_proposals(
            self.space, trials, n, lambda _: self._draw(rng, parents), rng, keys=self._keys
        )

    @functools.cached_property
    def _keys(self) -> ConfigKeys:
        return ConfigKeys()

    def _draw(self, rng: np.random.Generator, parents: list[Trial]) -> Mapping[str, Any]:
        settings = self.settings
        roll = float(rng.random())
        if parents and roll < settings.mutation_share:
            parent = parents[int(rng.integers(len(parents)))]
            try:
                return self.space.mutate(
                    parent.config, rng, rate=settings.mutation_rate, step=settings.step
                )
            except ValueError:  # NoAllowedMutationError, or another space version's: draw
                return self.space.sample(rng)
        use_priors = roll < settings.mutation_share + settings.prior_share
        return self.space.sample(rng, use_priors=use_priors)


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register complex random search."""
    return [ComplexRandomSearch]
