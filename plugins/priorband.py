"""The ``priorband`` optimizer: Hyperband whose new configurations mix prior, incumbent and uniform.

PriorBand (Mallik et al., 2023). Brackets and promotions are Hyperband's (``base`` picks another
bracket schedule); only the draw of a new configuration at rung ``r`` changes:

* uniform with probability ``p_u = 1 / (1 + eta**r)``: exploration where evaluations are cheap,
  trust in the prior where they are expensive;
* otherwise around the prior, or - once the brackets' finished trials used the fidelity of
  one successive halving bracket (each configuration once, at the fidelity it reached, since
  promotions continue) and some configuration finished at the highest fidelity - around the
  incumbent (the best one there), mutated decision by decision with probability
  ``mutation_rate`` by a normal step of ``mutation_std`` in the unit interval. The share
  ``1 - p_u`` is split by how likely the best configurations of the highest rung with ``eta``
  successes are under the prior and under the incumbent's neighbourhood (a rank-weighted
  vote), so a misleading prior loses its weight as evidence comes in; NePS's ``inc_ratio``
  fixes the incumbent's share instead.

The prior configuration itself is evaluated first, at the highest fidelity and outside the
brackets (``sample_prior_first="highest_fidelity"``, the default); after imported trials too.
``True`` starts it in the first bracket, at its lowest rung, as in NePS.

Without priors (``requires_prior`` is False) a prior draw is a uniform draw: PriorBand is then
Hyperband plus local search around the incumbent. ``optimizer="auto"`` picks it only for spaces
with priors.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core.space import Categorical, PipelineSpace
from neps_core.space.parameters import Numerical
from neps_core.space.sampling import NUMERIC_PRIOR_STD, categorical_prior_mass
from neps_core.validators import one_of, share, unset_only
from neps_core_plugins.brackets import (
    SAMPLE_PRIOR_FIRST,
    SCHEDULES,
    BracketOptimizer,
    Member,
    Plan,
    early_stopping_rate_field,
    eta_field,
    halving_shape,
)

logger = logging.getLogger(__name__)


def _in_unit_interval(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{attribute.name} must be in (0, 1], got {value}")


#: Bases that start every bracket at one rung, so that ``early_stopping_rate`` means something.
ONE_BRACKET_BASES = ("successive_halving", "asha")


@attrs.frozen
class PriorBandSettings:
    """``eta``: promotion ratio; ``base``: the bracket schedule (default ``"hyperband"``).

    ``early_stopping_rate`` applies to the ``successive_halving`` and ``asha`` bases;
    ``sample_prior_first`` starts with the prior configuration: ``"highest_fidelity"`` (the
    default, as the PriorBand paper does) at the highest fidelity outside the brackets, ``True``
    at the first bracket's lowest rung as in NePS (at the highest fidelity with older NePS's
    ``sample_prior_at_target=True``); ``mutation_rate`` and ``mutation_std`` shape the draws
    around the incumbent. The step is 0.1 rather than NePS's 0.25, whose mutations mostly
    leave the incumbent's basin (numbers in docs/optimizers/multi_fidelity.md).
    ``inc_ratio`` (NePS's ``neps_priorband``): the incumbent's fixed share of the non-uniform
    draws once local search is due; ``None`` (the default) weighs prior and incumbent by the
    evidence, as the paper does where NePS's 0.9 stands in for it.
    ``bayesian_optimization_kick_in_point`` (NePS's model-based PriorBand) accepts only its
    default, ``None``.
    """

    eta: int = eta_field()
    base: str = attrs.field(default="hyperband", validator=one_of(SCHEDULES))
    early_stopping_rate: int = early_stopping_rate_field()
    sample_prior_first: Any = attrs.field(default="highest_fidelity", validator=SAMPLE_PRIOR_FIRST)
    sample_prior_at_target: bool = False
    mutation_rate: float = attrs.field(default=0.5, validator=_in_unit_interval)
    mutation_std: float = attrs.field(default=0.1, validator=_in_unit_interval)
    inc_ratio: float | None = attrs.field(default=None, validator=share)
    bayesian_optimization_kick_in_point: Any = attrs.field(
        default=None,
        validator=unset_only(
            "PriorBand with a Bayesian-optimization model is not provided; use 'priorband' "
            "without it or, without a fidelity, 'pibo'"
        ),
    )

    def __attrs_post_init__(self) -> None:
        if self.early_stopping_rate and self.base not in ONE_BRACKET_BASES:
            raise ValueError(
                f"early_stopping_rate applies to the bases {list(ONE_BRACKET_BASES)} only, and "
                f"base {self.base!r} spreads its brackets over every rung (got "
                f"early_stopping_rate={self.early_stopping_rate})"
            )


class PriorBand(BracketOptimizer):
    """PriorBand: prior-, incumbent- and uniformly-drawn configurations in Hyperband brackets."""

    name: ClassVar[str] = "priorband"
    #: NePS's name of this optimizer for its PipelineSpace, which is the only kind here.
    aliases: ClassVar[tuple[str, ...]] = ("neps_priorband",)
    Settings: ClassVar[type] = PriorBandSettings

    def schedule_name(self) -> str:
        return str(self.settings.base)

    def check_prior_options(self) -> None:
        """PriorBand draws from the prior by design: without one, warn (as NePS does)."""
        if not self.space.has_priors:
            first = (
                ", and its first configuration is the space's centre"
                if self.prior_options()
                else ""
            )
            logger.warning(
                "priorband: no parameter of the space has a prior, so its prior draws are "
                "uniform%s; give parameters a prior, or use hyperband",
                first,
            )

    def sample_config(self, rung: int, rng: np.random.Generator, plan: Plan) -> dict[str, Any]:
        fidelity = self.rungs.fidelities[rung]
        weights, incumbent = self.mixture(rung, plan)
        pick = int(rng.choice(3, p=weights))
        if pick == 2 and incumbent is not None:
            try:
                return self.space.mutate(
                    incumbent.config,
                    rng,
                    rate=self.settings.mutation_rate,
                    step=self.settings.mutation_std,
                    fidelity=fidelity,
                )
            except ValueError:  # NoAllowedMutationError, or an incumbent of an older space
                pass
        return self.space.sample(rng, use_priors=pick == 1, fidelity=fidelity)

    def mixture(self, rung: int, plan: Plan) -> tuple[np.ndarray, Member | None]:
        """Probabilities of a uniform, a prior and an incumbent draw at ``rung``; the incumbent."""
        uniform = 1.0 / (1.0 + self.settings.eta**rung)
        by_rung = plan.successes_by_rung()
        incumbent = self.incumbent(plan, by_rung)
        if incumbent is None:
            return np.array([uniform, 1.0 - uniform, 0.0]), None
        share = self.settings.inc_ratio
        prior_share = self.prior_share(by_rung, incumbent) if share is None else 1.0 - share
        prior = (1.0 - uniform) * prior_share
        return np.array([uniform, prior, 1.0 - uniform - prior]), incumbent

    def incumbent(self, plan: Plan, by_rung: Mapping[int, list[Member]]) -> Member | None:
        """The best configuration of the top rung, once local search is due.

        That is when some trial finished at the top rung and the brackets' finished trials
        have used the fidelity of one successive halving bracket from the lowest rung.
        """
        at_top = by_rung.get(self.rungs.top, [])
        return (
            self.rank(at_top, 1)[0] if at_top and self._spent(plan) >= self._one_bracket else None
        )

    @functools.cached_property
    def _one_bracket(self) -> float:
        """The fidelity one successive halving bracket from the lowest rung uses."""
        shape = halving_shape(self.rungs.top, self.settings.eta, 0)
        return sum(n * self._step(rung, 0) for rung, n in enumerate(shape.sizes))

    def _spent(self, plan: Plan) -> float:
        """The fidelity the brackets' successful trials used, counted as :attr:`_one_bracket`
        counts it: each configuration once, at the fidelity it reached.

        A promotion continues its trial of the rung below, so it adds the step between the
        two. Counting every trial at its rung's fidelity (1 + 3 + 9 for one that reached 9),
        and the prior evaluated outside the brackets, made local search due when the first
        bracket had used 45 of its 81 (fidelity 1..27, eta 3).
        """
        return sum(
            self._step(rung, bracket.shape.base) * len(plan.standings.successes(bracket, rung))
            for bracket in plan.brackets
            for rung in bracket.rungs
        )

    def _step(self, rung: int, base: int) -> float:
        """The fidelity a trial on ``rung`` of a bracket from ``base`` adds: all of its rung's
        at the base, where configurations start, else the step from the rung below."""
        fidelities = self.rungs.fidelities
        return fidelities[rung] - (fidelities[rung - 1] if rung > base else 0)

    @functools.cached_property
    def _densities(self) -> Densities:
        return Densities(self.space, self.settings.mutation_rate, self.settings.mutation_std)

    def prior_share(self, by_rung: Mapping[int, list[Member]], incumbent: Member) -> float:
        """How much of the non-uniform draws goes to the prior rather than to the incumbent.

        The best ``max(n / eta, eta)`` members of the highest rung with ``eta`` successes
        vote, weighted by rank: their likelihood under the prior against that under the
        incumbent's neighbourhood. Before any rung has ``eta`` successes: ``eta / (1 + eta)``.
        """
        eta = self.settings.eta
        evidence = max((r for r, found in by_rung.items() if len(found) >= eta), default=None)
        if evidence is None:
            return eta / (1.0 + eta)
        members = by_rung[evidence]
        best = self.rank(members, max(len(members) // eta, eta))
        weights = [math.log(len(best) - i) for i in range(len(best))]
        densities = self._densities
        prior = _log_sum([w + densities.prior(m) for w, m in zip(weights, best, strict=True)])
        local = _log_sum(
            [w + densities.local(m, incumbent.config) for w, m in zip(weights, best, strict=True)]
        )
        return 1.0 / (1.0 + math.exp(min(700.0, local - prior)))


class Densities:
    """The log densities of members' configurations under the prior and around the incumbent,
    each computed once per configuration (and incumbent).

    Each reads the configuration's decisions (0.35 ms); the best members of the evidence rung,
    all computed again on every ask, took 18 ms per ask at 5,400 trials. A member is known by
    its trial id and its configuration object: a new version of the trial is computed again.
    """

    def __init__(self, space: PipelineSpace, rate: float, std: float) -> None:
        self.space, self.rate, self.std = space, rate, std
        self._prior: dict[str | None, tuple[Mapping[str, Any], float]] = {}
        self._local: dict[str | None, tuple[Mapping[str, Any], float]] = {}
        self._center: Mapping[str, Any] | None = None

    def prior(self, member: Member) -> float:
        """``prior_log_density`` of ``member``'s configuration."""
        return _once(self._prior, member, lambda c: prior_log_density(self.space, c))

    def local(self, member: Member, center: Mapping[str, Any]) -> float:
        """``local_log_density`` of ``member``'s configuration around ``center``."""
        if center is not self._center:  # another incumbent, or a new version of it
            self._local.clear()
            self._center = center
        return _once(
            self._local,
            member,
            lambda c: local_log_density(self.space, c, center, self.rate, self.std),
        )


def _once(
    known: dict[str | None, tuple[Mapping[str, Any], float]],
    member: Member,
    density: Callable[[Mapping[str, Any]], float],
) -> float:
    """``density`` of ``member``'s configuration, from ``known`` when it holds that object."""
    found = known.get(member.trial_id)
    if found is None or found[0] is not member.config:
        found = known[member.trial_id] = (member.config, density(member.config))
    return found[1]


def prior_log_density(space: PipelineSpace, config: Mapping[str, Any]) -> float:
    """Log density of ``config`` under the priors (unit-interval scale; uniform without one).

    Every decision counts, also those inside operations (``model.kwargs.width``).
    """
    total = 0.0
    for name, parameter in space.mutable_decisions(config).items():
        value = config[name]
        if isinstance(parameter, Numerical) and parameter.prior is not None:
            std = NUMERIC_PRIOR_STD[parameter.prior_confidence]
            center = parameter.to_unit(parameter.prior)
            total += _log_truncated_normal(parameter.to_unit(value), center, std)
        elif isinstance(parameter, Categorical) and len(parameter.choices) > 1:
            count = len(parameter.choices)
            if parameter.prior_index is None:
                total -= math.log(count)
                continue
            mass = categorical_prior_mass(parameter.prior_confidence, count)
            chosen = parameter.index_of(value) == parameter.prior_index
            total += math.log(mass if chosen else (1.0 - mass) / (count - 1))
    return total


def local_log_density(
    space: PipelineSpace,
    config: Mapping[str, Any],
    center: Mapping[str, Any],
    rate: float,
    std: float,
) -> float:
    """Log density of ``config`` in the neighbourhood of ``center`` (the incumbent)."""
    total = 0.0
    for name, parameter in space.mutable_decisions(config).items():
        if name not in center:  # below a choice the incumbent did not make
            continue
        if isinstance(parameter, Numerical):
            mean = parameter.to_unit(center[name])
            total += _log_truncated_normal(parameter.to_unit(config[name]), mean, std)
        elif isinstance(parameter, Categorical) and len(parameter.choices) > 1:
            same = parameter.index_of(config[name]) == parameter.index_of(center[name])
            stay = max(1.0 - rate, 1e-12)
            total += math.log(stay if same else rate / (len(parameter.choices) - 1))
    return total


def _log_truncated_normal(x: float, center: float, std: float) -> float:
    """Log density at ``x`` of a normal truncated to [0, 1]."""
    mass = _normal_cdf((1.0 - center) / std) - _normal_cdf(-center / std)
    z = (x - center) / std
    return -0.5 * z * z - math.log(std * math.sqrt(2.0 * math.pi) * max(mass, 1e-300))


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _log_sum(values: Sequence[float]) -> float:
    peak = max(values)
    return peak + math.log(sum(math.exp(v - peak) for v in values))


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register PriorBand."""
    return [PriorBand]
