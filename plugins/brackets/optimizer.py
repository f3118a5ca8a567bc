"""The base class of the multi-fidelity optimizers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from neps_core.budget import BudgetGuard
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial
from neps_core.space import PipelineSpace
from neps_core.space.enumeration import MAX_DRAWS, config_key, unseen_config
from neps_core_plugins.brackets.plan import Member, Plan, Schedule, Slot
from neps_core_plugins.brackets.rungs import Rungs


class BracketOptimizer(Optimizer):
    """Base of the multi-fidelity optimizers: brackets from the history, then a new trial.

    Subclasses choose :attr:`schedule_kind` (or override :meth:`schedule_name`), and may
    override :meth:`sample_config` (how new configurations are drawn), :meth:`rank` (which
    trials of a rung are best) and :meth:`check_objectives` (which results are usable).
    Settings need ``eta`` and may have ``early_stopping_rate``, ``sampler``,
    ``sample_prior_first`` (the prior configuration is the first one started;
    ``"highest_fidelity"``: at the highest fidelity, outside the brackets) and
    ``sample_prior_at_target`` (``True`` means the same, as PriorBand does).
    """

    supports_fidelity: ClassVar[bool] = True
    requires_fidelity: ClassVar[bool] = True
    supports_multi_objective: ClassVar[bool] = False
    #: One of :data:`SCHEDULES`.
    schedule_kind: ClassVar[str] = "hyperband"

    def __init__(
        self, space: PipelineSpace, settings: Any = None, *, seed: int | None = None
    ) -> None:
        super().__init__(space, settings, seed=seed)
        eta = self.settings.eta
        self.rungs = Rungs.from_space(space, eta)
        rate = getattr(self.settings, "early_stopping_rate", 0)
        self.schedule = Schedule.named(self.schedule_name(), self.rungs, eta, rate)

    def schedule_name(self) -> str:
        """Which of :data:`SCHEDULES` this optimizer runs."""
        return self.schedule_kind

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        plan = self.schedule.plan(trials, self.rungs, first_root_loose=self._prior_at_target)
        guard = BudgetGuard(trials, budget)
        rng = self.random_generator(trials)
        seen = {self._without_fidelity(trial.config) for trial in trials.values()}
        proposals: list[Proposal] = []
        short_rungs = False  # until no slot yields a configuration: the space is used up
        while len(proposals) < n:
            proposal = self._next(plan, guard, rng, seen, short_rungs=short_rungs)
            if proposal is None and not short_rungs:
                short_rungs = True
                continue
            if proposal is None:
                break
            proposals.append(proposal)
        return proposals

    def _next(
        self,
        plan: Plan,
        guard: BudgetGuard,
        rng: np.random.Generator,
        seen: set[str],
        *,
        short_rungs: bool,
    ) -> Proposal | None:
        """The first slot that fits the budget and yields a configuration not tried yet."""
        if self._prior_at_target and plan.roots == 0:
            first = self._prior_at_top(plan, guard, seen)
            if first is not None:
                return first
        for slot in plan.slots(self.rank, short_rungs=short_rungs):
            fidelity = self.rungs.fidelities[slot.rung]
            continued = slot.source is not None
            if not guard.fits(fidelity, continued):
                continue
            config = self._config_for(slot, fidelity, rng, plan, seen)
            if config is None:
                continue
            plan.take(slot, config)
            guard.spend(fidelity, continued)
            seen.add(self._without_fidelity(config))
            previous = None if slot.source is None else slot.source.trial_id
            return Proposal(config, previous_trial_id=previous)
        return None

    def _prior_at_top(self, plan: Plan, guard: BudgetGuard, seen: set[str]) -> Proposal | None:
        """The prior configuration at the highest fidelity, outside the brackets (if it fits)."""
        top = self.rungs.fidelities[-1]
        config = self.space.prior_config(fidelity=top)
        if not guard.fits(top, False) or self._without_fidelity(config) in seen:
            return None
        plan.take_loose(config)
        guard.spend(top, False)
        seen.add(self._without_fidelity(config))
        return Proposal(config)

    def _config_for(
        self, slot: Slot, fidelity: float, rng: np.random.Generator, plan: Plan, seen: set[str]
    ) -> dict[str, Any] | None:
        """A promotion continues its member whatever ran elsewhere; a new configuration is one
        not tried at any fidelity (``seen``).

        A configuration drawn again at another fidelity ran from scratch what a promotion
        would continue: on small discrete spaces every configuration ran at every rung, and
        a promotion whose pair had run fresh in another bracket left its rung waiting forever.
        When draws keep missing, a small finite space is listed (``unseen_config``): the run
        stopped with "nothing left to propose" while configurations were left.
        """
        if slot.source is not None:
            assert self.space.fidelity_name is not None
            return {**slot.source.config, self.space.fidelity_name: fidelity}
        for _ in range(MAX_DRAWS):
            config = self.sample_config(slot.rung, rng, plan)
            if self._without_fidelity(config) not in seen:
                return config
        unseen = unseen_config(self.space, seen, rng, key=self._without_fidelity)
        if unseen is None:  # used up (or too large to list, where draws rarely all miss)
            return None
        assert self.space.fidelity_name is not None
        return {**unseen, self.space.fidelity_name: fidelity}

    def _without_fidelity(self, config: Mapping[str, Any]) -> str:
        """The key of ``config`` whatever its fidelity."""
        fidelity = self.space.fidelity_name
        return config_key({k: v for k, v in config.items() if k != fidelity})

    @property
    def _prior_at_target(self) -> bool:
        first = getattr(self.settings, "sample_prior_first", False)
        at_target = bool(getattr(self.settings, "sample_prior_at_target", False))
        return first == "highest_fidelity" or (bool(first) and at_target)

    def sample_config(self, rung: int, rng: np.random.Generator, plan: Plan) -> dict[str, Any]:
        """A new configuration at rung ``rung``: the prior first if asked, then the sampler."""
        fidelity = self.rungs.fidelities[rung]
        if getattr(self.settings, "sample_prior_first", False) and plan.roots == 0:
            return self.space.prior_config(fidelity=fidelity)
        use_priors = getattr(self.settings, "sampler", "uniform") == "prior"
        return self.space.sample(rng, use_priors=use_priors, fidelity=fidelity)

    def rank(self, members: list[Member], limit: int | None = None) -> list[Member]:
        """The best ``limit`` (default: all) successful members, lowest objective first.

        Ties keep trial order; NaN objectives come last.
        """
        ordered = sorted(members, key=lambda m: (math.isnan(m.objective), m.objective))
        return ordered if limit is None else ordered[:limit]


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
