"""The ``regularized_evolution`` optimizer: aging evolution (Real et al., 2019).

The population is the ``population_size`` most recently created successful trials (creation
order, not the order results arrive from other workers; at the fidelity's maximum, where its
children are: a continued multi-fidelity run's cheaper trials are not comparable); the oldest
drop out as new ones succeed ("aging", which regularizes against lucky evaluations).
Each proposal mutates the best of ``sample_size`` randomly picked members (a tournament), or
with NePS's ``mutation_type`` crosses the best two over. Until the run has started
``population_size`` trials (at the fidelity's maximum), proposals are random draws.
Mutations and crossovers work on decision paths (see ``neps_core.space.PipelineSpace.mutate``),
so structural spaces evolve as naturally as flat ones. Everything derives from the history:
any worker, with any history, makes the same decision under a seed.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import heapq
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.history import ChangeFeed
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial, TrialState
from neps_core.serialization import whole_number
from neps_core.space import PipelineSpace
from neps_core.space.enumeration import ConfigKeys, unique_proposals
from neps_core.space.fidelity import at_full_fidelity
from neps_core.validators import (
    IGNORE_FIDELITY,
    at_least,
    plain_number,
    refuse_searched_fidelity,
)

#: NePS's words for ``n_mutations`` and ``n_forgets``: a count drawn from 1 to half the
#: decisions for each child, or half of them.
COUNT_WORDS = ("random", "half")
MUTATION_TYPES = ("mutate_best", "crossover_top_2")


def _number_unless(value: Any, words: Sequence[str], parse: Callable[[str], Any]) -> Any:
    """A numeric string that is not one of ``words`` read as ``parse`` does (YAML gives
    ``mutation_type: "0.5"``, as it does every option), a NumPy number as Python's own; the
    validator judges the rest."""
    if isinstance(value, str) and value not in words:
        with contextlib.suppress(ValueError):
            return parse(value)
    return value if isinstance(value, str) else plain_number(value)


def _mutation_type_value(value: Any) -> Any:
    return _number_unless(value, MUTATION_TYPES, float)


def _count_value(value: Any) -> Any:
    return _number_unless(value, COUNT_WORDS, whole_number)


def _count(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None or (isinstance(value, str) and value in COUNT_WORDS):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{attribute.name} must be a whole number >= 1, one of {list(COUNT_WORDS)} or None, "
            f"got {value!r}"
        )


def _mutation_type(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, str) and value in MUTATION_TYPES:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(
            f"{attribute.name} must be one of {list(MUTATION_TYPES)} or the probability of a "
            f"mutation rather than a crossover (between 0 and 1), got {value!r}"
        )


@attrs.frozen
class RegularizedEvolutionSettings:
    """``population_size``: trials in the population; ``sample_size``: the tournament size.

    ``initial_use_priors`` draws the initial population around the priors (as NePS, by
    default). ``mutation_type``: ``"mutate_best"`` mutates the tournament's winner,
    ``"crossover_top_2"`` crosses its best two over, a number is the probability of a
    mutation. A mutation moves each decision with probability ``mutation_rate`` by a step of
    ``step``, or exactly ``n_mutations`` of them; ``n_forgets`` draws that many anew instead.
    ``ignore_fidelity``: the fidelity stays at its maximum; ``False`` is refused for a space
    with one, as NePS does.
    """

    population_size: int = attrs.field(default=20, validator=at_least(2))
    sample_size: int = attrs.field(default=5, validator=at_least(1))
    initial_use_priors: bool = True
    mutation_rate: float | None = None
    step: float = 0.2
    mutation_type: Any = attrs.field(
        default="mutate_best",
        converter=_mutation_type_value,
        validator=_mutation_type,
    )
    n_mutations: Any = attrs.field(default=None, converter=_count_value, validator=_count)
    n_forgets: Any = attrs.field(default=None, converter=_count_value, validator=_count)
    ignore_fidelity: Any = attrs.field(default=True, validator=IGNORE_FIDELITY)
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
        given = [
            name for name in ("mutation_rate", "n_mutations", "n_forgets") if getattr(self, name)
        ]
        if len(given) > 1:
            raise ValueError(
                f"{' and '.join(given)} each say which decisions a mutation moves; give one "
                "(n_forgets draws them anew, the others step from their value)"
            )


def _order(trial: Trial) -> tuple[float, int, str]:
    return (trial.created_at, int(trial.id) if trial.id.isdigit() else -1, trial.id)


def _alive(trial: Trial, space: PipelineSpace) -> bool:
    """A success with a scalar objective at the fidelity's maximum, where this optimizer's
    children are: a continued multi-fidelity run's cheaper trials are not comparable."""
    return (
        trial.state is TrialState.SUCCESS
        and isinstance(trial.objective, int | float)
        and at_full_fidelity(space, trial.config)
    )


def population(trials: Mapping[str, Trial], size: int, space: PipelineSpace) -> list[Trial]:
    """The ``size`` most recently created members (see `_alive`) of ``space``'s run, oldest
    first (picked without sorting the whole history)."""
    members = (trial for trial in trials.values() if _alive(trial, space))
    return sorted(heapq.nlargest(size, members, key=_order), key=_order)


class Population:
    """The population of the history asked with, kept between asks from its changes.

    A proposal reads what changed since the last one, not the whole run. A
    :class:`TrialHistory` asked again says which trials changed; a member that stops being
    a success (or any other mapping, or another history) makes it read the whole run.
    """

    def __init__(self, size: int, space: PipelineSpace) -> None:
        self.size, self.space = size, space
        self._members: list[Trial] = []  # oldest first
        self._changes = ChangeFeed()

    def of(self, trials: Mapping[str, Trial]) -> list[Trial]:
        """The population of ``trials``, oldest first."""
        changed = self._changes.since_last(trials)
        if changed is None or not self._follow(trials, changed):
            self._members = population(trials, self.size, self.space)
        return list(self._members)

    def _follow(self, trials: Mapping[str, Trial], changed: list[str]) -> bool:
        """Apply the trials ``changed`` since the last read; ``False`` when only a full read
        can."""
        for trial_id in changed:
            trial = trials[trial_id]
            at = next((i for i, m in enumerate(self._members) if m.id == trial_id), None)
            if at is not None:
                if not _alive(trial, self.space) or _order(trial) != _order(self._members[at]):
                    return False  # a member left or moved: a full read finds the population
                self._members[at] = trial
            elif _alive(trial, self.space):
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

    def __init__(
        self, space: PipelineSpace, settings: Any = None, *, seed: int | None = None
    ) -> None:
        super().__init__(space, settings, seed=seed)
        refuse_searched_fidelity(self.name, self.settings.ignore_fidelity, space)

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        rng = self.random_generator(trials)
        members = self._population.of(trials)
        started = self._started(trials, members)

        def draw(index: int) -> Mapping[str, Any]:
            initial = started + index < self.settings.population_size or not members
            return self._random(rng) if initial else self._child(rng, members)

        return unique_proposals(self.space, trials, n, draw, rng, keys=self._keys)

    def _started(self, trials: Mapping[str, Trial], members: list[Trial]) -> int:
        """The trials that count toward the random start: those at the fidelity's maximum,
        where the population lives (a continued multi-fidelity run's cheaper trials ended it
        at once, every proposal a child of its one or two members). Counted only while the
        population is not full, so that an ask stays flat in the run's length."""
        if self.space.fidelity is None or len(members) >= self.settings.population_size:
            return len(trials)
        return sum(at_full_fidelity(self.space, trial.config) for trial in trials.values())

    @functools.cached_property
    def _keys(self) -> ConfigKeys:
        return ConfigKeys()

    @functools.cached_property
    def _population(self) -> Population:
        return Population(self.settings.population_size, self.space)

    def _random(self, rng: np.random.Generator) -> Mapping[str, Any]:
        return self.space.sample(rng, use_priors=self.settings.initial_use_priors)

    def _child(self, rng: np.random.Generator, members: list[Trial]) -> Mapping[str, Any]:
        """A child of the best of ``sample_size`` random members: their best two crossed
        over (when ``mutation_type`` says so and they can be), else the best mutated."""
        size = min(self.settings.sample_size, len(members))
        picked = [members[int(i)] for i in rng.choice(len(members), size=size, replace=False)]
        ranked = sorted(picked, key=lambda t: float(t.objective))  # type: ignore[arg-type]
        kind = self.settings.mutation_type
        crossing = kind == "crossover_top_2" or (not isinstance(kind, str) and rng.random() >= kind)
        try:
            child = crossover(self.space, ranked, rng) if crossing else None
            return child if child is not None else self._mutant(ranked[0].config, rng)
        except ValueError:  # NoAllowedMutationError, or another space version's: draw instead
            return self._random(rng)

    def _mutant(self, parent: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        settings = self.settings
        count = settings.n_mutations or settings.n_forgets
        if isinstance(count, str):  # NePS's "random" or "half" of the decisions
            half = max(1, len(self.space.mutable_decisions(parent)) // 2)
            count = half if count == "half" else int(rng.integers(1, half + 1))
        return self.space.mutate(
            parent,
            rng,
            rate=settings.mutation_rate,
            step=settings.step,
            count=count,
            redraw=settings.n_forgets is not None,
        )


def crossover(
    space: PipelineSpace, ranked: Sequence[Trial], rng: np.random.Generator
) -> dict[str, Any] | None:
    """A child taking each decision from one of two parents, the best pair first (ranks
    ``(0, 1)``, ``(0, 2)``, ...); ``None`` when no pair mixes into a configuration other than
    its parents. Decisions that no longer apply are dropped, missing ones drawn."""

    def decisions(config: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k != space.fidelity_name}

    for first, second in sorted(itertools.combinations(range(len(ranked)), 2), key=sum):
        one, other = decisions(ranked[first].config), decisions(ranked[second].config)
        mixed = {**other, **one}
        for key in sorted(one.keys() & other.keys()):
            if rng.random() < 0.5:
                mixed[key] = other[key]
        child = space.complete(mixed, rng)
        if decisions(child) not in (one, other):
            return child
    return None


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register regularized evolution."""
    return [RegularizedEvolution]
