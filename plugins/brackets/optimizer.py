"""The base class of the multi-fidelity optimizers."""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from neps_core.budget import BudgetGuard
from neps_core.errors import SettingsError
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial
from neps_core.space import PipelineSpace
from neps_core.space.enumeration import (
    MAX_DRAWS,
    ConfigKeys,
    SeenKeys,
    config_key,
    unseen_config,
    untried_prior,
)
from neps_core_plugins.brackets.members import Member, Slot
from neps_core_plugins.brackets.plan import Plan, Schedule
from neps_core_plugins.brackets.rungs import Rungs
from neps_core_plugins.brackets.tracking import PlanTracker

#: What :meth:`BracketOptimizer._next` returns when the space has no new configuration left.
USED_UP = object()


class BracketOptimizer(Optimizer):
    """Base of the multi-fidelity optimizers: brackets from the history, then a new trial.

    Subclasses choose :attr:`schedule_kind` (or override :meth:`schedule_name`), and may
    override :meth:`sample_config` (how new configurations are drawn), :meth:`rank` (which
    trials of a rung are best) and :meth:`check_objectives` (which results are usable).
    Settings need ``eta`` and may have ``early_stopping_rate``, ``sampler``,
    ``sample_prior_first`` (the prior configuration is the first one started, also after
    imported trials; ``"highest_fidelity"``: at the highest fidelity, outside the brackets) and
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
        self.check_prior_options()

    def check_prior_options(self) -> None:
        """Refuse options that draw from the prior when no parameter has one (as NePS does):
        "the prior" would be the space's centre, which no one chose."""
        asked = self.prior_options()
        if asked and not self.space.has_priors:
            raise SettingsError(
                f"{' and '.join(asked)} {'needs' if len(asked) == 1 else 'need'} a prior, and "
                "no parameter of the space has one; "
                "give parameters a prior, or use sampler='uniform' and sample_prior_first=False"
            )

    def prior_options(self) -> list[str]:
        """The settings given that draw from the prior, as written."""
        asked = []
        if getattr(self.settings, "sampler", "uniform") == "prior":
            asked.append("sampler='prior'")
        first = getattr(self.settings, "sample_prior_first", False)
        if first:
            asked.append(f"sample_prior_first={first!r}")
        return asked

    def schedule_name(self) -> str:
        """Which of :data:`SCHEDULES` this optimizer runs."""
        return self.schedule_kind

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        guard = BudgetGuard(trials, budget)
        rng = self.random_generator(trials)
        seen = self._keys.of(trials)
        proposals: list[Proposal] = []
        short_rungs = False  # until a slot that fits the budget finds the space used up
        with self._tracker.plan_for(trials).tentative() as plan:
            while len(proposals) < n:
                proposal = self._next(plan, guard, rng, seen, short_rungs=short_rungs)
                if isinstance(proposal, Proposal):
                    proposals.append(proposal)
                elif proposal is USED_UP and not short_rungs:
                    short_rungs = True
                else:  # nothing fits the budget: rungs still wait for their full size
                    break
        return proposals

    @functools.cached_property
    def _tracker(self) -> PlanTracker:
        """The brackets of the history asked with, kept between asks."""
        custom = type(self).rank is not BracketOptimizer.rank
        top = self.rungs.fidelities[-1]
        return PlanTracker(
            self.schedule,
            self.rungs,
            loose_config=self.space.prior_config(fidelity=top) if self._prior_at_target else None,
            rank=self.rank if custom else None,
        )

    def _next(
        self,
        plan: Plan,
        guard: BudgetGuard,
        rng: np.random.Generator,
        seen: SeenKeys,
        *,
        short_rungs: bool,
    ) -> Proposal | object | None:
        """The first slot that fits the budget and yields a configuration not tried yet;
        :data:`USED_UP` when a slot fitted but the space had no new configuration left."""
        if self._prior_at_target:
            first = self._prior_at_top(plan, guard, seen)
            if first is not None:
                return first
        used_up = False
        for slot in plan.slots(short_rungs=short_rungs):
            fidelity = self.rungs.fidelities[slot.rung]
            continued = slot.source is not None
            if not guard.fits(fidelity, continued):
                continue
            config = self._config_for(slot, fidelity, rng, plan, seen)
            if config is None:
                used_up = True
                continue
            plan.take(slot, config)
            guard.spend(fidelity, continued)
            seen.add(self._without_fidelity(config))
            previous = None if slot.source is None else slot.source.trial_id
            return Proposal(config, previous_trial_id=previous)
        return USED_UP if used_up else None

    def _prior_at_top(self, plan: Plan, guard: BudgetGuard, seen: SeenKeys) -> Proposal | None:
        """The prior configuration at the highest fidelity, outside the brackets (if it fits
        and was not tried yet)."""
        top = self.rungs.fidelities[-1]
        config = untried_prior(self.space, seen, key=self._without_fidelity, fidelity=top)
        if config is None or not guard.fits(top, False):
            return None
        plan.take_loose(config)
        guard.spend(top, False)
        seen.add(self._without_fidelity(config))
        return Proposal(config)

    def _config_for(
        self, slot: Slot, fidelity: float, rng: np.random.Generator, plan: Plan, seen: SeenKeys
    ) -> dict[str, Any] | None:
        """A promotion continues its member whatever ran elsewhere; a new configuration is one
        not tried at any fidelity (``seen``): the prior configuration first if asked (and not
        tried yet), then :meth:`sample_config`'s.

        A configuration drawn again at another fidelity ran from scratch what a promotion
        would continue: on small discrete spaces every configuration ran at every rung, and
        a promotion whose pair had run fresh in another bracket left its rung waiting forever.
        When draws keep missing, a small finite space is listed (``unseen_config``): the run
        stopped with "nothing left to propose" while configurations were left.
        """
        if slot.source is not None:
            assert self.space.fidelity_name is not None
            return {**slot.source.config, self.space.fidelity_name: fidelity}
        if getattr(self.settings, "sample_prior_first", False):
            prior = untried_prior(self.space, seen, key=self._without_fidelity, fidelity=fidelity)
            if prior is not None:
                return prior
        for _ in range(MAX_DRAWS):
            config = self.sample_config(slot.rung, rng, plan)
            if self._without_fidelity(config) not in seen:
                return config
        unseen = unseen_config(self.space, seen, rng, key=self._without_fidelity)
        if unseen is None:  # used up (or too large to list, where draws rarely all miss)
            return None
        assert self.space.fidelity_name is not None
        return {**unseen, self.space.fidelity_name: fidelity}

    @functools.cached_property
    def _keys(self) -> ConfigKeys:
        """Trials' keys whatever their fidelity."""
        return ConfigKeys(self._without_fidelity)

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
        """A new configuration at rung ``rung``, drawn by the ``sampler``."""
        fidelity = self.rungs.fidelities[rung]
        use_priors = getattr(self.settings, "sampler", "uniform") == "prior"
        return self.space.sample(rng, use_priors=use_priors, fidelity=fidelity)

    def rank(self, members: list[Member], limit: int | None = None) -> list[Member]:
        """The best ``limit`` (default: all) successful members, lowest objective first.

        Ties keep trial order; NaN objectives come last. Plans keep this order sorted as
        results arrive; an override (Pareto fronts) is asked again whenever a rung's
        successes change.
        """

        def key(member: Member) -> tuple[bool, Any]:
            return math.isnan(member.objective), member.objective

        # The best few of a rung (PriorBand's incumbent and evidence) without sorting it all.
        return sorted(members, key=key) if limit is None else heapq.nsmallest(limit, members, key)
