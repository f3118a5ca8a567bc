"""The ``pibo`` plugin: the contract, the prior first, and a prior pull that fades."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pytest

import neps_core as neps
from neps_core.components import build_optimizer
from neps_core.errors import SettingsError
from neps_core.history import TrialHistory
from neps_core.testing import (
    OptimizerContract,
    best_objective,
    history_of,
    make_trial,
    optimize,
)
from neps_core_plugins.bayesian_optimization import BayesianOptimization
from neps_core_plugins.bayesian_optimization.data import collect
from neps_core_plugins.bayesian_optimization.engine import _acquisition, prior_density
from neps_core_plugins.bayesian_optimization.gp import GaussianProcess
from neps_core_plugins.pibo import PiBO

pytest_plugins = ["neps_core.testing.fixtures"]


def square(prior: tuple[float, float], confidence: str = "high") -> neps.PipelineSpace:
    return neps.PipelineSpace(
        {
            "x": neps.Float(0.0, 1.0, prior=prior[0], prior_confidence=confidence),
            "y": neps.Float(0.0, 1.0, prior=prior[1], prior_confidence=confidence),
        }
    )


def bowl(config: Mapping[str, Any]) -> float:
    """Minimum 0 at (0.8, 0.2)."""
    return (config["x"] - 0.8) ** 2 + (config["y"] - 0.2) ** 2


def pibo(space: neps.PipelineSpace, seed: int = 0, **options: Any) -> PiBO:
    optimizer = build_optimizer(PiBO, options, space, seed)
    assert isinstance(optimizer, PiBO)
    return optimizer


class TestPiBOContract(OptimizerContract):
    optimizer_class = PiBO


class TestPiBOModelContract(OptimizerContract):
    """A tiny initial design, so that the contract's short histories reach the prior term."""

    optimizer_class = PiBO
    optimizer_options: ClassVar[dict[str, Any]] = {
        "initial_design_size": 2,
        "raw_samples": 64,
        "restarts": 2,
    }


def test_requires_priors() -> None:
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    with pytest.raises(SettingsError):
        pibo(space)


def test_the_initial_design_is_drawn_around_the_priors_as_in_neps() -> None:
    # It was a Sobol design, the same points as plain BO's: the prior showed only from the
    # first model proposal on (in 7 dimensions, from the 21st evaluation).
    history = optimize(pibo(square((0.15, 0.15))), bowl, 6)
    design = [t.config for t in list(history.values())[1:]]  # after the prior configuration
    distances = [math.dist((c["x"], c["y"]), (0.15, 0.15)) for c in design]
    assert len(design) == 5 and max(distances) < 0.25, distances


def test_rejects_a_negative_prior_weight() -> None:
    with pytest.raises(SettingsError, match="prior_weight"):
        pibo(square((0.5, 0.5)), prior_weight=-1.0)


def test_the_first_proposal_is_the_prior() -> None:
    space = square((0.8, 0.2))
    [first] = pibo(space).ask(TrialHistory(), TrialHistory().budget(), 1)
    assert first.config == {"x": 0.8, "y": 0.2}
    [other] = pibo(space, sample_prior_first=False).ask(TrialHistory(), TrialHistory().budget(), 1)
    assert other.config != first.config


@pytest.mark.parametrize("imported", [1, 8])
def test_the_prior_goes_first_after_imported_trials(imported: int) -> None:
    """Trials already in the run (imported, or another optimizer's) made the prior's turn,
    "the first proposal", never come: it was never evaluated, and once the run held the
    initial design (6 here) the model took over."""
    space = square((0.8, 0.2))
    history = _history(space, imported)
    optimizer = pibo(space)
    first, second = optimizer.ask(history, history.budget(), 2)
    assert first.config == {"x": 0.8, "y": 0.2} != second.config
    history.put(make_trial(history.next_id(), first.config, objective=bowl(first.config)))
    [after] = optimizer.ask(history, history.budget(), 1)
    assert after.config != first.config


def _history(space: neps.PipelineSpace, n: int, seed: int = 0) -> TrialHistory:
    rng = np.random.default_rng(seed)
    history = TrialHistory()
    for _ in range(n):
        config = {"x": float(rng.random()), "y": float(rng.random())}
        history.put(make_trial(history.next_id(), config, objective=bowl(config)))
    return history


def test_the_prior_term_weighs_beta_over_n_and_fades() -> None:
    """log acq(pibo) - log acq(bo) = beta / n * log pi(x), so the gap shrinks as 1 / n."""
    space = square((0.1, 0.9))
    optimizer = pibo(space, prior_weight=8.0)
    plain = build_optimizer(BayesianOptimization, {}, space, 0)
    assert isinstance(plain, BayesianOptimization)
    near, far = np.array([[0.1, 0.9]]), np.array([[0.9, 0.1]])
    density = prior_density(optimizer)
    log_ratio = float(density.log_density(near)[0][0] - density.log_density(far)[0][0])
    gaps = []
    for n in (5, 20):
        observations = collect(_history(space, n), optimizer.encoder)
        model = GaussianProcess(observations.x, observations.y, optimizer_layout(optimizer))
        with_prior = _acquisition(optimizer, model, len(observations.y), None, None)
        without = _acquisition(plain, model, len(observations.y), None, None)
        gap = [float(with_prior(p)[0][0] - without(p)[0][0]) for p in (near, far)]
        assert gap[0] - gap[1] == pytest.approx(8.0 / n * log_ratio, rel=1e-9)
        gaps.append(gap[0] - gap[1])
    assert gaps[0] == pytest.approx(4 * gaps[1])


def optimizer_layout(optimizer: PiBO) -> Any:
    from neps_core_plugins.bayesian_optimization.engine import _layout

    return _layout(optimizer)


def test_a_good_prior_gets_there_sooner_than_plain_bo() -> None:
    space = square((0.8, 0.2), confidence="medium")

    options = {"initial_design_size": 3, "sample_prior_first": False, "raw_samples": 256}
    guided = best_objective(optimize(pibo(space, **options), bowl, 6))
    plain_bo = build_optimizer(BayesianOptimization, options, space, 0)
    plain = best_objective(optimize(plain_bo, bowl, 6))
    assert guided < plain
    assert guided < 1e-2


def test_a_misleading_prior_is_overcome_by_evidence() -> None:
    """The prior says (0.1, 0.9); the data say (0.8, 0.2); proposals follow the data."""
    space = square((0.1, 0.9), confidence="medium")
    history = history_of(
        make_trial(i + 1, c, objective=bowl(c))
        for i, c in enumerate(
            {"x": x, "y": y}
            for x, y in [
                *[(0.1, 0.9), (0.5, 0.5), (0.9, 0.1), (0.7, 0.3), (0.2, 0.2), (0.8, 0.8)],
                *[(0.75, 0.25), (0.85, 0.15), (0.3, 0.6), (0.6, 0.1), (0.95, 0.3), (0.4, 0.9)],
            ]
        )
    )
    [proposal] = pibo(space, raw_samples=256).ask(history, history.budget(), 1)
    assert math.dist((proposal.config["x"], proposal.config["y"]), (0.8, 0.2)) < 0.15


def test_categorical_priors_enter_the_density() -> None:
    space = neps.PipelineSpace(
        {
            "x": neps.Float(0.0, 1.0),
            "kind": neps.Categorical(choices=("a", "b", "c"), prior=2, prior_confidence="high"),
        }
    )
    density = prior_density(pibo(space))
    kinds = density.log_density(np.array([[0.5, 2.0], [0.5, 0.0], [0.5, 1.0]]))[0]
    assert kinds[0] > kinds[1] == kinds[2]


def test_a_two_choice_categorical_prior_at_low_confidence_counts() -> None:
    """Its mass (0.5) made the prior choice as likely as the other one: no pull at all."""
    space = neps.PipelineSpace({"act": neps.Categorical(choices=("relu", "tanh"), prior=0)})
    density = prior_density(pibo(space))
    prior, other = density.log_density(np.array([[0.0], [1.0]]))[0]
    assert prior - other == pytest.approx(math.log(2.0))  # odds 2:1
