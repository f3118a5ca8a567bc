"""One call of ``ask``: initial design, or model, acquisition and its maximizer, per proposal.

Everything is a function of the history and the generator that
`neps_core.interfaces.Optimizer.random_generator` derives from the seed and the history's
size, so any worker (or a fresh instance) makes the same decision on the same history.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
from scipy import stats
from threadpoolctl import ThreadpoolController

from neps_core.models import BudgetInfo, Proposal, Trial
from neps_core.space.enumeration import MAX_DRAWS, unseen_config, untried_prior
from neps_core.space.fidelity import at_full_fidelity
from neps_core.space.parameters import Categorical, Float, Numerical
from neps_core.space.sampling import NUMERIC_PRIOR_STD, categorical_prior_mass
from neps_core_plugins.bayesian_optimization.acquisition import (
    PriorDensity,
    Term,
    combine,
    cost_term,
    log_expected_improvement,
    log_probability_below,
    prior_term,
)
from neps_core_plugins.bayesian_optimization.conditional import on_configurations
from neps_core_plugins.bayesian_optimization.data import (
    Observations,
    collect,
    config_key,
    fill_inactive,
)
from neps_core_plugins.bayesian_optimization.design import design_config, design_seed, shape_of
from neps_core_plugins.bayesian_optimization.gp import (
    GaussianProcess,
    KernelLayout,
    kernel,
    target_spread,
)
from neps_core_plugins.bayesian_optimization.optimizer import BayesianOptimization
from neps_core_plugins.bayesian_optimization.search import maximize
from neps_core_plugins.bayesian_optimization.training_set import training_set

#: Best observed points around which candidates are perturbed.
N_ANCHORS = 5
#: Reported costs needed before the cost model is used.
MIN_COSTS = 3
#: The failure rate above which the failure model steers the search away.
TOLERATED_FAILURE_RATE = 0.5
#: How far above the upper quartile (in interquartile ranges) a target is clipped.
OUTLIER_IQRS = 10.0
#: Prior (mean, std) of the failure model's log noise: 0/1 outcomes are noisy, and with the
#: objective's near-zero noise prior random crashes were fitted as tiny failure regions
#: (lengthscale 0.02) that then kept the search away from the optimum.
FAILURE_NOISE_PRIOR = (math.log(0.1), 1.0)
#: A candidate correlated more than this with a trial in flight (within about a tenth of a
#: lengthscale) is covered by it. Believed at the model's mean, trials in flight only shrink
#: the variance around them: once the model had converged, nine of ten asked in a row lay
#: within 0.001 of each other, each a step further down the mean.
COVERED_CORRELATION = 0.99
#: A candidate correlated more than this with an observed point (within about a thousandth
#: of a lengthscale) would repeat it. A model sure of itself everywhere else found its
#: largest (tiny) EI next to the incumbent: on Branin two seeds of 40 evaluated one point on
#: the box's edge about 30 times, 1e-4 apart, and ended at regret 1.55.
REPEAT_CORRELATION = 0.999999


class _Batch:
    """The proposals of one call so far, and everything they must differ from."""

    def __init__(self, optimizer: BayesianOptimization, observations: Observations) -> None:
        self.optimizer = optimizer
        self.encoder = optimizer.encoder
        self.seen = set(observations.seen)
        self.proposals: list[Proposal] = []
        self.points: list[np.ndarray] = []

    def accept(self, config: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> bool:
        """Add ``config`` (with its trial ``metadata``) unless the run has it or the space
        forbids it."""
        key = config_key(config)
        if key in self.seen or self.optimizer.space.violated_clause(config) is not None:
            return False
        self.seen.add(key)
        self.proposals.append(Proposal(dict(config), metadata=dict(metadata or {})))
        self.points.append(fill_inactive(self.encoder.encode(config), self.encoder)[0])
        return True

    def accept_first(self, candidates: np.ndarray) -> bool:
        """Accept the first candidate that decodes to a new, allowed configuration."""
        return any(self.accept(config) for config in self.encoder.decode(candidates))

    def accept_random(self, rng: np.random.Generator, *, use_priors: bool = False) -> bool:
        """Accept a random draw of the space that is new (a few tries, then the configurations
        not tried yet of a small finite space)."""
        space = self.optimizer.space
        if any(self.accept(space.sample(rng, use_priors=use_priors)) for _ in range(MAX_DRAWS)):
            return True
        config = unseen_config(space, self.seen, rng)
        return config is not None and self.accept(config)


def prior_density(optimizer: BayesianOptimization) -> PriorDensity:
    """The space's priors as a density over encoded points."""
    encoder = optimizer.encoder
    parameters = [encoder.space.parameters[name] for name in encoder.names]
    numeric_dims = list(encoder.numerical_dims)
    columns, centers, stds, positions, categorical = [], [], [], [], []
    for column, parameter in enumerate(parameters):
        if isinstance(parameter, Numerical) and parameter.prior is not None:
            columns.append(column)
            centers.append(parameter.to_unit(parameter.prior))
            stds.append(NUMERIC_PRIOR_STD[parameter.prior_confidence])
            positions.append(numeric_dims.index(column))
        elif isinstance(parameter, Categorical) and parameter.prior_index is not None:
            size = len(parameter.choices)
            mass = categorical_prior_mass(parameter.prior_confidence, size)
            rest = (1.0 - mass) / (size - 1) if size > 1 else 1.0
            categorical.append((column, parameter.prior_index, math.log(mass), math.log(rest)))
    return PriorDensity(
        numeric_columns=tuple(columns),
        centers=np.array(centers),
        stds=np.array(stds),
        gradient_columns=tuple(positions),
        categorical=tuple(categorical),
        n_numeric_dims=len(numeric_dims),
    )


def _cost_model(
    optimizer: BayesianOptimization, observations: Observations, budget: BudgetInfo
) -> tuple[GaussianProcess, float] | None:
    """A GP on log cost and the cost exponent (cost cooling), when cost-aware search applies."""
    total = budget.cost_to_spend
    if not optimizer.settings.cost_aware or total is None or total <= 0:
        return None
    known = np.isfinite(observations.costs) & (observations.costs > 0)
    if known.sum() < MIN_COSTS:
        return None
    log_costs = np.log(observations.costs[known])
    model = GaussianProcess(observations.x[known], log_costs, _layout(optimizer))
    remaining = budget.remaining_cost if budget.remaining_cost is not None else total
    return model, float(np.clip(remaining / total, 0.0, 1.0))


def _failure_model(
    optimizer: BayesianOptimization, observations: Observations
) -> GaussianProcess | None:
    """A GP on the failure indicator, when something failed.

    1 for a failure without a result, 0 for an observation (a failure with a substitute
    objective is an observation: the user said what it is worth).
    """
    if len(observations.failed) == 0:
        return None
    x = np.vstack([observations.x, observations.failed])
    indicator = np.repeat([0.0, 1.0], [len(observations.x), len(observations.failed)])
    return GaussianProcess(x, indicator, _layout(optimizer), noise_prior=FAILURE_NOISE_PRIOR)


def _with_failed_regions(
    observations: Observations, failures: GaussianProcess | None
) -> Observations:
    """Failures that their neighbours predict count as the worst result: the region is bad.

    A failure the other trials do not predict (leave-one-out failure rate at most
    `TOLERATED_FAILURE_RATE`) stays out of the objective model, since the worst value at a
    random crash would put a spike into a smooth objective.
    """
    if failures is None:
        return observations
    predicted = failures.leave_one_out_mean()[len(observations.x) :]
    in_region = observations.failed[predicted > TOLERATED_FAILURE_RATE]
    return attrs.evolve(
        observations,
        x=np.vstack([observations.x, in_region]),
        y=np.concatenate([observations.y, np.full(len(in_region), np.max(observations.y))]),
        costs=np.concatenate([observations.costs, np.full(len(in_region), np.nan)]),
    )


def _layout(optimizer: BayesianOptimization) -> KernelLayout:
    encoder = optimizer.encoder
    return KernelLayout(tuple(encoder.numerical_dims), tuple(sorted(encoder.categorical_dims)))


def _acquisition(
    optimizer: BayesianOptimization,
    model: GaussianProcess,  # with the pending points believed at its mean
    n_observed: int,
    cost: tuple[GaussianProcess, float] | None,
    failures: GaussianProcess | None,
) -> Term:
    # The believed values count for the incumbent too: else, where the model's mean beats the
    # best result, EI stayed positive at a pending point and one ask(n) proposed it n times.
    best = float(np.min(model.standardized))
    terms = [log_expected_improvement(model, best)]
    prior = None
    if optimizer.prior_weight > 0 and optimizer.space.has_priors:
        prior = prior_density(optimizer), optimizer.prior_weight / max(1, n_observed)
    conditional = bool(optimizer.space.conditions)
    if prior is not None and not conditional:
        terms.append(prior_term(*prior))
    if cost is not None:
        terms.append(cost_term(*cost))
    if failures is not None:
        terms.append(log_probability_below(failures, TOLERATED_FAILURE_RATE))
    if conditional:  # judged at the configurations the points stand for
        return on_configurations(combine(terms), prior, optimizer.encoder)
    return combine(terms)


def transform_targets(y: np.ndarray) -> np.ndarray:
    """Standardize ``y`` and Yeo-Johnson-transform it towards a normal distribution.

    Objectives with a few very good values among many mediocre ones (Hartmann6, most
    validation errors) otherwise fit a GP with long lengthscales that sees a flat landscape;
    the monotone transform keeps the ranking and the incumbent, so EI stays meaningful.
    """
    if len(y) < 3:
        return y
    y = _clip_outliers(y)
    with np.errstate(all="ignore"):
        if not math.isfinite(float(np.std(y))):  # values near the float limit: keep the ranking
            y = stats.rankdata(y)
        spread = target_spread(y)
        if spread == 0.0:
            return y
        transformed = np.asarray(stats.yeojohnson((y - np.mean(y)) / spread)[0], dtype=float)
    return transformed if np.all(np.isfinite(transformed)) else y


def _clip_outliers(y: np.ndarray) -> np.ndarray:
    """``y`` with values far above the bulk (beyond ``OUTLIER_IQRS`` IQRs) lowered to that bound.

    A few enormous objectives (a diverged run returning 1e300) would otherwise squash every
    other value together after standardizing; for a minimizer they only need to rank last.
    """
    low, high = np.percentile(y, [25.0, 75.0])
    bound = high + OUTLIER_IQRS * (high - low)
    return np.minimum(y, bound) if high > low and math.isfinite(bound) else y


def _model_proposals(
    batch: _Batch,
    observations: Observations,
    budget: BudgetInfo,
    rng: np.random.Generator,
    count: int,
) -> None:
    optimizer = batch.optimizer
    settings = optimizer.settings
    observed = observations.x  # all of them, not only those the model sees
    observations = training_set(observations, _layout(optimizer))
    left_out = len(observed) - len(observations.x)
    failures = _failure_model(optimizer, observations)
    observations = _with_failed_regions(observations, failures)
    n_observed = len(observations.y) + left_out
    observations = attrs.evolve(observations, y=transform_targets(observations.y))
    model = GaussianProcess(observations.x, observations.y, _layout(optimizer))
    cost = _cost_model(optimizer, observations, budget)
    anchors = observations.x[np.argsort(observations.y, kind="stable")[:N_ANCHORS]]
    shape = shape_of(optimizer)
    for _ in range(count):
        in_flight = [observations.pending, *[p[None, :] for p in batch.points]]
        believer = model.with_fantasies(np.vstack(in_flight))
        acquisition = _acquisition(optimizer, believer, n_observed, cost, failures)
        candidates = maximize(
            acquisition,
            shape,
            anchors,
            rng,
            raw_samples=settings.raw_samples,
            restarts=settings.restarts,
        )
        candidates = _not_covered(candidates, np.vstack(in_flight), model)
        repeated = _repeats(candidates, np.vstack([observations.x, observed]), model, optimizer)
        candidates = candidates[~repeated]
        if not batch.accept_first(candidates) and not batch.accept_random(rng):
            return


def _repeats(
    candidates: np.ndarray,
    observed: np.ndarray,
    model: GaussianProcess,
    optimizer: BayesianOptimization,
) -> np.ndarray:
    """Which candidates, taken to the values a configuration has, would repeat an observed
    point: the same integers and choices, and floats within ``REPEAT_CORRELATION``.

    Only the floats are compared by correlation: with a long lengthscale two neighbouring
    integers correlate above it, and the model's best unseen integer was passed over.
    """
    if len(observed) == 0 or len(candidates) == 0:
        return np.zeros(len(candidates), dtype=bool)
    encoder = optimizer.encoder
    valued = fill_inactive(encoder.encode(encoder.decode(candidates)), encoder)
    parameters = encoder.space.parameters
    exact = [i for i, n in enumerate(encoder.names) if not isinstance(parameters[n], Float)]
    same = np.all(valued[:, None, exact] == observed[None, :, exact], axis=2)
    correlation = kernel(valued, observed, model.layout, model.hyper) / model.hyper.outputscale
    return np.any(same & (correlation > REPEAT_CORRELATION), axis=1)


def _not_covered(
    candidates: np.ndarray, in_flight: np.ndarray, model: GaussianProcess
) -> np.ndarray:
    """The candidates no trial in flight covers (``COVERED_CORRELATION``); with none left,
    a random draw is proposed instead."""
    if len(in_flight) == 0 or len(candidates) == 0:
        return candidates
    correlation = kernel(candidates, in_flight, model.layout, model.hyper) / model.hyper.outputscale
    return candidates[correlation.max(axis=1) <= COVERED_CORRELATION]


def propose(
    optimizer: BayesianOptimization, trials: Mapping[str, Trial], budget: BudgetInfo, n: int
) -> list[Proposal]:
    """Up to ``n`` new configurations (fewer only when the space seems exhausted).

    BLAS runs on one thread meanwhile: the model's matrices are tens to hundreds wide, and
    with OpenBLAS's thread per core two workers on a 2-core machine took 4 times as long per
    proposal (a median of 200 ms against 50 ms), their threads waiting for each other.
    """
    with _blas_threads().limit(limits=1, user_api="blas"):
        return _propose(optimizer, trials, budget, n)


@functools.cache
def _blas_threads() -> ThreadpoolController:
    return ThreadpoolController()  # finds the BLAS libraries loaded (numpy's, scipy's) once


def _propose(
    optimizer: BayesianOptimization, trials: Mapping[str, Trial], budget: BudgetInfo, n: int
) -> list[Proposal]:
    rng = optimizer.random_generator(trials)
    observations = collect(trials, optimizer.encoder)
    batch = _Batch(optimizer, observations)
    first = optimizer.settings.sample_prior_first and n > 0
    prior = untried_prior(optimizer.space, batch.seen) if first else None
    if prior is not None:  # also after imported trials, and before a model that could start
        batch.accept(prior)
    use_model = observations.n_distinct_targets >= 2
    seed: int | None = None  # the design's, looked up in the history only when it is used
    # The design counts trials at the model's fidelity only: a continued multi-fidelity run's
    # cheaper trials ended it at once (the model started on its one or two full evaluations).
    started = sum(at_full_fidelity(optimizer.space, trial.config) for trial in trials.values())
    for index in range(started + len(batch.proposals), started + n):
        if use_model and index >= optimizer.n_initial:
            _model_proposals(batch, observations, budget, rng, n - len(batch.proposals))
            break
        seed = design_seed(optimizer, trials) if seed is None else seed
        accepted = batch.accept(*design_config(optimizer, index, rng, seed)) or batch.accept_random(
            rng, use_priors=optimizer.settings.initial_design == "prior"
        )
        if not accepted:
            break
    return batch.proposals
