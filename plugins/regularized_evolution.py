"""The ``regularized_evolution`` optimizer: aging evolution (Real et al., 2019).

The population is the ``population_size`` most recently created successful trials (creation
order, not the order results arrive from other workers); the oldest drop out as new ones
succeed ("aging", which regularizes against lucky evaluations).
Each proposal mutates the best of ``sample_size`` randomly picked members (a tournament).
Until the run has started ``population_size`` trials, proposals are random draws. Mutations
work on decision paths (see ``neps_core.space.PipelineSpace.mutate``), so structural
spaces evolve as naturally as flat ones. Everything derives from the history: any worker,
with any history, makes the same decision under a seed.
"""

from __future__ import annotations

import bisect
import functools
import heapq
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.history import ChangeFeed
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial, TrialState
from neps_core.space.enumeration import ConfigKeys, unique_proposals
from neps_core.validators import at_least


@attrs.frozen
class RegularizedEvolutionSettings:
    """``population_size``: trials in the population; ``sample_size``: the tournament size.

    ``initial_use_priors`` draws the initial population around the priors; ``mutation_rate``
    and ``step`` shape mutations as in ``mutate``.
    """

    population_size: int = attrs.field(default=20, validator=at_least(2))
    sample_size: int = attrs.field(default=5, validator=at_least(1))
    initial_use_priors: bool = False
    mutation_rate: float | None = None
    step: float = 0.2
    #: NePS's names of the same options.
    option_aliases: ClassVar[dict[str, str]] = {
        "tournament_size": "sample_size",
        "use_priors": "initial_use_priors",
    }

    def __attrs_post_init__(self) -> None:
        if self.sample_size > self.population_size:
            raise ValueError(
                f"sample_size ({self.sample_size}) must not exceed population_size "
                f"({self.population_size})"
            )
        if self.mutation_rate is not None and not 0.0 < self.mutation_rate <= 1.0:
            raise ValueError(f"mutation_rate must be in (0, 1], got {self.mutation_rate}")
        if self.step <= 0:
            raise ValueError(f"step must be positive, got {self.step}")


def _order(trial: Trial) -> tuple[float, int, str]:
    return (trial.created_at, int(trial.id) if trial.id.isdigit() else -1, trial.id)


def _alive(trial: Trial) -> bool:
    return trial.state is TrialState.SUCCESS and isinstance(trial.objective, int | float)


def population(trials: Mapping[str, Trial], size: int) -> list[Trial]:
    """The ``size`` most recently created successful trials with a scalar objective, oldest
    first (picked without sorting the whole history)."""
    return sorted(heapq.nlargest(size, filter(_alive, trials.values()), key=_order), key=_order)


class Population:
    """The population of the history asked with, kept between asks from its changes.

    A proposal reads what changed since the last one, not the whole run. A
    :class:`TrialHistory` asked again says which trials changed; a member that stops being
    a success (or any other mapping, or another history) makes it read the whole run.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._members: list[Trial] = []  # oldest first
        self._changes = ChangeFeed()

    def of(self, trials: Mapping[str, Trial]) -> list[Trial]:
        """The population of ``trials``, oldest first."""
        changed = self._changes.since_last(trials)
        if changed is None or not self._follow(trials, changed):
            self._members = population(trials, self.size)
        return list(self._members)

    def _follow(self, trials: Mapping[str, Trial], changed: list[str]) -> bool:
        """Apply the trials ``changed`` since the last read; ``False`` when only a full read
        can."""
        for trial_id in changed:
            trial = trials[trial_id]
            at = next((i for i, m in enumerate(self._members) if m.id == trial_id), None)
            if at is not None:
                if not _alive(trial) or _order(trial) != _order(self._members[at]):
                    return False  # a member left or moved: a full read finds the population
                self._members[at] = trial
            elif _alive(trial):
                bisect.insort(self._members, trial, key=_order)
                del self._members[: -self.size]
        return True


class RegularizedEvolution(Optimizer):
    """Aging evolution with tournament selection; the fidelity, if any, at its maximum."""

    name: ClassVar[str] = "regularized_evolution"
    #: NePS's name of this optimizer for its PipelineSpace, which is the only kind here.
    aliases: ClassVar[tuple[str, ...]] = ("neps_regularized_evolution",)
    Settings: ClassVar[type] = RegularizedEvolutionSettings
    supports_fidelity: ClassVar[bool] = True
    supports_multi_objective: ClassVar[bool] = False

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        rng = self.random_generator(trials)
        members = self._population.of(trials)

        def draw(index: int) -> Mapping[str, Any]:
            initial = len(trials) + index < self.settings.population_size or not members
            return self._random(rng) if initial else self._child(rng, members)

        return unique_proposals(self.space, trials, n, draw, rng, keys=self._keys)

    @functools.cached_property
    def _keys(self) -> ConfigKeys:
        return ConfigKeys()

    @functools.cached_property
    def _population(self) -> Population:
        return Population(self.settings.population_size)

    def _random(self, rng: np.random.Generator) -> Mapping[str, Any]:
        return self.space.sample(rng, use_priors=self.settings.initial_use_priors)

    def _child(self, rng: np.random.Generator, members: list[Trial]) -> Mapping[str, Any]:
        """Mutate the winner of a tournament among ``sample_size`` random members."""
        size = min(self.settings.sample_size, len(members))
        picked = rng.choice(len(members), size=size, replace=False)
        parent = min((members[int(i)] for i in picked), key=lambda t: float(t.objective))  # type: ignore[arg-type]
        try:
            return self.space.mutate(
                parent.config, rng, rate=self.settings.mutation_rate, step=self.settings.step
            )
        except ValueError:  # NoAllowedMutationError, or another space version's: draw instead
            return self._random(rng)


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register regularized evolution."""
    return [RegularizedEvolution]
