"""The ``bayesian_optimization`` plugin: the contract, the model, and that the model matters."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pytest
from scipy.optimize import check_grad

import neps_core as neps
from neps_core.components import build_optimizer
from neps_core.errors import SettingsError
from neps_core.history import TrialHistory
from neps_core.interfaces import Optimizer
from neps_core.models import TrialState
from neps_core.space import Equals
from neps_core.testing import (
    OptimizerContract,
    best_objective,
    history_of,
    make_trial,
    optimize,
)
from neps_core_plugins.bayesian_optimization import BayesianOptimization
from neps_core_plugins.bayesian_optimization import gp as gp_module
from neps_core_plugins.bayesian_optimization.acquisition import (
    log_expected_improvement,
    log_h,
    log_probability_below,
)
from neps_core_plugins.bayesian_optimization.data import collect
from neps_core_plugins.bayesian_optimization.engine import transform_targets
from neps_core_plugins.bayesian_optimization.gp import GaussianProcess, KernelLayout, target_spread
from neps_core_plugins.bayesian_optimization.training_set import (
    FAILURE_SHARE,
    MAX_MODEL_POINTS,
    training_set,
)
from neps_core_plugins.pibo import PiBO
from neps_core_plugins.random_search import RandomSearch

pytest_plugins = ["neps_core.testing.fixtures"]

SQUARE = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "y": neps.Float(0.0, 1.0)})
MIXED = neps.PipelineSpace(
    {
        "lr": neps.Float(1e-5, 1.0, log=True),
        "units": neps.Integer(1, 64),
        "kind": neps.Categorical(choices=("a", "b", "c", "d")),
    }
)


class TestBayesianOptimizationContract(OptimizerContract):
    optimizer_class = BayesianOptimization


class TestBayesianOptimizationModelContract(OptimizerContract):
    """A tiny initial design, so that the contract's short histories reach the model."""

    optimizer_class = BayesianOptimization
    optimizer_options: ClassVar[dict[str, Any]] = {
        "initial_design_size": 2,
        "raw_samples": 64,
        "restarts": 2,
    }


def sphere(config: Mapping[str, Any]) -> float:
    """A bowl with its minimum 0 at (0.3, 0.7)."""
    return (config["x"] - 0.3) ** 2 + (config["y"] - 0.7) ** 2


def mixed_objective(config: Mapping[str, Any]) -> float:
    """Best at lr = 1e-3 (log scale), units = 40 and kind "c"."""
    lr_term = (math.log10(config["lr"]) + 3.0) ** 2 / 25.0
    units_term = ((config["units"] - 40) / 63.0) ** 2
    return lr_term + units_term + (0.0 if config["kind"] == "c" else 0.5)


def bo(space: neps.PipelineSpace, seed: int = 0, **options: Any) -> Optimizer:
    return build_optimizer(BayesianOptimization, options, space, seed)


# -- the model matters ------------------------------------------------------------------------
def test_beats_random_search_on_a_bowl_with_few_evaluations() -> None:
    model_based = best_objective(optimize(bo(SQUARE, initial_design_size=4), sphere, 12))
    random = [best_objective(optimize(RandomSearch(SQUARE, seed=s), sphere, 12)) for s in (0, 1)]
    assert model_based < 1e-3, model_based  # random search's best of 12 is ~1e-2 here
    assert model_based < min(random) / 5


def test_finds_the_categorical_integer_and_log_optimum() -> None:
    history = optimize(bo(MIXED, initial_design_size=6, raw_samples=256), mixed_objective, 20)
    best = min(history.values(), key=lambda t: float(t.objective))  # type: ignore[arg-type]
    assert best.config["kind"] == "c"
    assert isinstance(best.config["units"], int)
    assert 1e-4 < best.config["lr"] < 1e-2
    assert float(best.objective) < 0.05  # type: ignore[arg-type]
    for trial in history.values():
        MIXED.validate_config(trial.config)


def _optimizer_branch(prior: bool, conditional: bool) -> neps.PipelineSpace:
    """``mom`` exists for sgd only (or always); prior (optional) on the better branch."""
    high = {"prior_confidence": "high"}
    return neps.PipelineSpace(
        {
            "opt": neps.Categorical(("adam", "sgd"), **({"prior": 1, **high} if prior else {})),
            "lr": neps.Float(1e-4, 1.0, log=True, **({"prior": 0.01, **high} if prior else {})),
            "mom": neps.Float(0.0, 0.99, **({"prior": 0.9, **high} if prior else {})),
        },
        conditions={"mom": Equals("opt", "sgd")} if conditional else {},
    )


def _adam_worse_by_one(config: Mapping[str, Any]) -> float:
    lr_term = (math.log10(config["lr"]) + 2.0) ** 2
    return lr_term + (1.0 if config["opt"] == "adam" else (config["mom"] - 0.9) ** 2)


def _adam_share(cls: type[Optimizer], space: neps.PipelineSpace) -> float:
    """How often the branch worse by 1 was proposed after the first 6 evaluations."""
    proposals = []
    for seed in (0, 1):
        history = optimize(build_optimizer(cls, {}, space, seed), _adam_worse_by_one, 30)
        proposals += [t.config["opt"] for t in list(history.values())[6:]]
    return proposals.count("adam") / len(proposals)


@pytest.mark.parametrize(("cls", "prior"), [(BayesianOptimization, False), (PiBO, True)])
def test_the_branch_known_worse_is_not_proposed_again_and_again(
    cls: type[Optimizer], prior: bool
) -> None:
    # An adam candidate with mom anywhere but where the model keeps inactive parameters
    # looked unexplored: a quarter of the proposals went to the branch worse by 1 or more,
    # twice as many as without the condition.
    conditional = _adam_share(cls, _optimizer_branch(prior, conditional=True))
    plain = _adam_share(cls, _optimizer_branch(prior, conditional=False))
    assert conditional <= plain + 0.05, (conditional, plain)


def test_the_initial_design_comes_first_and_is_reproducible() -> None:
    first = optimize(bo(SQUARE, seed=3, initial_design_size=4), sphere, 4)
    second = optimize(bo(SQUARE, seed=3, initial_design_size=4), sphere, 4)
    other = optimize(bo(SQUARE, seed=4, initial_design_size=4), sphere, 4)
    configs = [t.config for t in first.values()]
    assert configs == [t.config for t in second.values()]
    assert configs != [t.config for t in other.values()]
    xs = sorted(c["x"] for c in configs)  # Sobol points: one in each quarter of [0, 1]
    assert [math.floor(4 * x) for x in xs] == [0, 1, 2, 3]


def test_an_unseeded_design_is_one_sequence_across_calls_and_workers(tmp_path: Any) -> None:
    # Without a seed each optimizer instance drew its own Sobol seed, so a run continued in a
    # second call (or shared by two worker processes) mixed two sequences: two of its eight
    # points in one eighth of [0, 1] while another eighth stayed empty.
    def evaluate(x: float) -> float:
        return 1.0  # constant: the model never starts, the whole run is the design

    root = tmp_path / "run"
    options = ("bayesian_optimization", {"initial_design_size": 8})
    for calls, global_seed in ((4, 0), (8, 1)):  # each call's optimizer seeded differently
        np.random.seed(global_seed)
        neps.run(
            evaluate,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            optimizer=options,
            evaluations_to_spend=calls,
        )
    xs = [c["x"] for c in (neps.load_config(root, str(i)) for i in range(1, 9))]
    assert sorted(math.floor(8 * x) for x in xs) == list(range(8)), xs


def test_a_run_continued_with_another_seed_draws_its_design_from_it(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The seed the design's trials recorded won silently: a continuation given seed=5
    # repeated the design of seed 3, so the user's seed changed nothing the design drew.
    def evaluate(x: float) -> float:
        return 1.0  # constant: the model never starts, the whole run is the design

    def run(root: Any, seed: int, evaluations: int) -> list[float]:
        neps.run(
            evaluate,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            optimizer=("bayesian_optimization", {"initial_design_size": 8}),
            evaluations_to_spend=evaluations,
            seed=seed,
        )
        return [neps.load_config(root, str(i))["x"] for i in range(1, evaluations + 1)]

    run(tmp_path / "continued", 3, 4)
    with caplog.at_level(logging.WARNING):
        continued = run(tmp_path / "continued", 5, 8)
    assert continued[4:] == run(tmp_path / "seed5", 5, 8)[4:]
    warned = [r.getMessage() for r in caplog.records if "Sobol sequence" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "seed 3" in warned[0] and "seed is 5" in warned[0], warned


def test_a_continued_multi_fidelity_run_gets_its_initial_design() -> None:
    # Its cheaper trials counted toward the design: the model started on the one or two
    # trials at the maximum fidelity.
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "e": neps.IntegerFidelity(1, 27)})
    cheap = [make_trial(i, {"x": i / 40, "e": 1}, objective=i / 40) for i in range(1, 39)]
    full = [make_trial(39, {"x": 0.2, "e": 27}, objective=0.5)]
    full.append(make_trial(40, {"x": 0.7, "e": 27}, objective=0.9))
    history = history_of([*cheap, *full])
    optimizer = bo(space, initial_design_size=6)
    proposals = optimizer.ask(history, history.budget(), 3)
    assert all("bo_design_seed" in p.metadata for p in proposals), proposals


def test_ndim_initial_design_has_one_configuration_per_dimension() -> None:
    assert bo(SQUARE, initial_design_size="ndim").n_initial == 2
    assert bo(MIXED, initial_design_size="ndim").n_initial == len(MIXED.searchable)


def test_the_initial_design_size_is_read_as_other_whole_number_options_are() -> None:
    # 3.0 and "3" (a YAML file, a command line) were refused; eta takes them.
    assert bo(SQUARE, initial_design_size=3.0).n_initial == 3
    assert bo(SQUARE, initial_design_size="3").n_initial == 3
    for wrong in (3.5, "three", 0, True):
        with pytest.raises(neps.SettingsError, match="positive integer or 'ndim'"):
            bo(SQUARE, initial_design_size=wrong)


def test_sample_prior_first_starts_at_the_prior() -> None:
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0, prior=0.125), "k": neps.Integer(1, 5)})
    [proposal] = bo(space, sample_prior_first=True).ask(TrialHistory(), TrialHistory().budget(), 1)
    assert proposal.config == space.prior_config()


# -- settings -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"initial_design_size": 0}, "initial_design_size"),
        ({"initial_design_size": "auto"}, "initial_design_size"),
        ({"initial_design_size": True}, "initial_design_size"),
        ({"cost_aware": "sqrt"}, "cost_aware"),
        ({"initial_design": "latin"}, "initial_design"),
        ({"raw_samples": 1}, "raw_samples"),
        ({"restarts": 0}, "restarts"),
        ({"kernel": "rbf"}, "unknown option"),
    ],
)
def test_invalid_settings_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        bo(SQUARE, **options)


def test_a_hierarchical_space_is_rejected() -> None:
    space = neps.PipelineSpace({"model": neps.Operation(str, args=(neps.Float(0.0, 1.0),))})
    with pytest.raises(SettingsError, match="flat space"):
        bo(space)


# -- other workers, failures, costs -----------------------------------------------------------
def _square_history(points: list[tuple[float, float]]) -> TrialHistory:
    return history_of(
        make_trial(i + 1, {"x": x, "y": y}, objective=sphere({"x": x, "y": y}))
        for i, (x, y) in enumerate(points)
    )


SQUARE_POINTS = [(0.1, 0.1), (0.9, 0.2), (0.5, 0.9), (0.2, 0.6), (0.8, 0.8), (0.35, 0.65)]


def test_pending_trials_are_fantasized_so_workers_spread_out() -> None:
    history = _square_history(SQUARE_POINTS)
    optimizer = bo(SQUARE, initial_design_size=2)
    [alone] = optimizer.ask(history, history.budget(), 1)
    history.put(make_trial(history.next_id(), alone.config, TrialState.EVALUATING))
    [beside] = optimizer.ask(history, history.budget(), 1)
    distance = math.dist(
        (alone.config["x"], alone.config["y"]), (beside.config["x"], beside.config["y"])
    )
    assert distance > 0.02, (alone.config, beside.config)
    batch = optimizer.ask(_square_history(SQUARE_POINTS), history.budget(), 3)
    assert len({(p.config["x"], p.config["y"]) for p in batch}) == 3


def test_one_ask_for_several_spreads_them_where_the_model_expects_better() -> None:
    """Where the model's mean beat the best result, EI stayed positive at a believed point:
    ask(n=4) proposed x = 0.6538519827 four times, 1e-9 apart."""
    line = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    history = history_of(
        [
            make_trial(i + 1, {"x": x}, objective=(x - 0.7) ** 2)
            for i, x in enumerate((0.1, 0.35, 0.5, 0.95))
        ]
    )
    batch = bo(line, initial_design_size=2).ask(history, history.budget(), 4)
    xs = sorted(p.config["x"] for p in batch)
    assert min(b - a for a, b in itertools.pairwise(xs)) > 1e-3, xs


def test_trials_in_flight_on_a_converged_model_are_spread_out(tmp_path: Any) -> None:
    """Nine of ten asked in a row lay within 0.001 of each other, 5.7e-5 apart at the least."""
    plane = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "y": neps.Float(0.0, 1.0)})
    client = neps.AskAndTell(plane, tmp_path / "run", optimizer="bayesian_optimization", seed=0)
    for _ in range(12):
        trial = client.ask()
        client.tell(trial, (trial.config["x"] - 0.3) ** 2 + (trial.config["y"] - 0.6) ** 2)
    in_flight = np.array(
        [[t.config["x"], t.config["y"]] for t in (client.ask() for _ in range(10))]
    )
    closest = min(np.linalg.norm(a - b) for a, b in itertools.combinations(in_flight, 2))
    assert closest > 0.01, in_flight


BRANIN = neps.PipelineSpace({"x1": neps.Float(-5.0, 10.0), "x2": neps.Float(0.0, 15.0)})


def branin(config: Mapping[str, Any]) -> float:
    """Branin; its minimum is 0.397887 (at three points)."""
    x1, x2 = config["x1"], config["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


@pytest.mark.parametrize("seed", [3, 7])
def test_an_observed_point_is_never_proposed_again(seed: int) -> None:
    """A model sure of itself everywhere else found its largest (tiny) EI next to the
    incumbent: these seeds evaluated one point on the box's edge 25 times, 1e-7 apart, and
    ended at regret 1.55."""
    history = optimize(bo(BRANIN, seed=seed), branin, 40)
    points = np.array([[(t.config["x1"] + 5) / 15, t.config["x2"] / 15] for t in history.values()])
    closest = min(np.linalg.norm(a - b) for a, b in itertools.combinations(points, 2))
    assert closest > 1e-4
    assert best_objective(history) - 0.397887 < 0.01


def test_an_unseen_integer_next_to_an_evaluated_one_is_proposed() -> None:
    """Near-repeats were judged on the model's raw points: between two evaluated integers a
    candidate correlated above the threshold with one of them (long lengthscales), so the
    unseen integer it stood for, the optimum (377, 612) among them, was never proposed."""
    grid = neps.PipelineSpace({"i": neps.Integer(0, 1000), "j": neps.Integer(0, 1000)})
    history = optimize(bo(grid), lambda c: ((c["i"] - 377) ** 2 + (c["j"] - 612) ** 2) / 1e4, 30)
    assert best_objective(history) == 0.0


def test_fantasies_collapse_the_variance_but_keep_the_mean() -> None:
    x = np.array([[0.1, 0.1], [0.9, 0.2], [0.5, 0.9], [0.2, 0.6]])
    model = GaussianProcess(x, np.array([1.0, 2.0, 0.5, 0.2]), KernelLayout((0, 1), ()))
    point = np.array([[0.6, 0.4]])
    believer = model.with_fantasies(point)
    assert believer.predict(point)[0] == pytest.approx(model.predict(point)[0], abs=1e-6)
    assert believer.predict(point)[1] < 0.1 * model.predict(point)[1]


def test_a_cluster_of_good_points_does_not_make_the_unexplored_space_look_good() -> None:
    """The prior mean counts a tight cluster about once: far away the model expects the
    typical value of the spread-out points, not the average dragged down by the cluster."""
    rng = np.random.default_rng(0)
    cluster = 0.8 + 0.01 * rng.random((12, 2))
    spread = np.array([[0.1, 0.1], [0.1, 0.5], [0.5, 0.1], [0.4, 0.5], [0.3, 0.3], [0.6, 0.2]])
    x = np.vstack([cluster, spread])
    y = np.concatenate([np.full(12, -3.0), np.zeros(6)])
    layout = KernelLayout((0, 1), ())
    hyper = gp_module.Hyper(np.array([0.1, 0.1]), np.array([]), 1.0, 1e-6)
    model = GaussianProcess(x, y, layout, hyper)
    far_mean = model.predict(np.array([[0.0, 1.0]]))[0][0]
    assert far_mean > -1.0, far_mean  # the plain average of y is -2
    standardized = (y - model.y_mean) / model.y_std
    # Uncorrelated observations: the generalized least-squares mean is the plain average.
    far_apart = gp_module.Hyper(np.array([1e-6, 1e-6]), np.array([]), 1.0, 1e-6)
    plain = GaussianProcess(x, y, layout, far_apart).prior_mean
    assert plain == pytest.approx(float(np.mean(standardized)), abs=1e-6)


def test_leave_one_out_mean_is_the_prediction_without_the_point() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((8, 2))
    y = np.sin(5 * x[:, 0]) + x[:, 1]
    layout = KernelLayout((0, 1), ())
    hyper = gp_module.Hyper(np.array([0.3, 0.4]), np.array([]), 1.0, 1e-3)
    model = GaussianProcess(x, y, layout, hyper)
    loo = model.leave_one_out_mean()
    for i in range(len(x)):
        rest = np.delete(np.arange(len(x)), i)
        without = GaussianProcess(x[rest], y[rest], layout, hyper)
        # the same standardization and prior mean as the full model
        without._condition(x[rest], model.standardized[rest], model.prior_mean)
        mean = without.predict_standardized(x[i : i + 1])[0][0]
        assert loo[i] == pytest.approx(model.y_mean + model.y_std * mean, rel=1e-6)


def test_failures_feed_the_failure_model_unless_they_have_a_substitute_objective() -> None:
    history = history_of(
        [
            make_trial(1, {"x": 0.1, "y": 0.1}, objective=2.0),
            make_trial(2, {"x": 0.2, "y": 0.2}, objective=1.0),
            make_trial(3, {"x": 0.3, "y": 0.3}, TrialState.FAILED),
            make_trial(4, {"x": 0.4, "y": 0.4}, TrialState.CRASHED),
            make_trial(5, {"x": 0.5, "y": 0.5}, TrialState.PENDING),
            make_trial(6, {"x": 0.6, "y": 0.6}, TrialState.FAILED, objective=5.0),
        ]
    )
    observations = collect(history, bo(SQUARE).encoder)
    # objective_value_on_error counts as the worst success: "as bad as it gets"
    assert observations.y.tolist() == [2.0, 1.0, 2.0]
    assert observations.failed.tolist() == [[0.3, 0.3], [0.4, 0.4]]
    assert observations.pending.tolist() == [[0.5, 0.5]]
    assert len(observations.seen) == 6


def test_a_huge_substitute_objective_does_not_flatten_the_landscape() -> None:
    """Failures beyond x + y > 1.2 report ``objective_value_on_error=1e6``.

    Taken literally, the substitute squashed every real difference between successes, and
    the search stalled at the edge of the box (Branin: regret 4.5 after 40 trials, not 0).
    """
    history = TrialHistory()
    optimizer = bo(SQUARE, initial_design_size=5)
    for _ in range(25):
        [proposal] = optimizer.ask(history, history.budget(), 1)
        config = proposal.config
        if config["x"] + config["y"] > 1.2:
            history.put(make_trial(history.next_id(), config, TrialState.FAILED, objective=1e6))
        else:
            history.put(make_trial(history.next_id(), config, objective=sphere(config)))
    assert best_objective(history) < 1e-3


def test_a_substitute_objective_below_the_successes_does_not_lure_the_search() -> None:
    """``objective_value_on_error=0.0`` for an objective that is never negative.

    Taken literally, the failing region (x > 0.5) looked like the best one: 22 of 25 trials
    failed and the best found was 1e4 times worse than with no substitute.
    """
    history = TrialHistory()
    optimizer = bo(SQUARE, initial_design_size=5)
    for _ in range(25):
        [proposal] = optimizer.ask(history, history.budget(), 1)
        config = proposal.config
        if config["x"] > 0.5:
            history.put(make_trial(history.next_id(), config, TrialState.FAILED, objective=0.0))
        else:
            history.put(make_trial(history.next_id(), config, objective=sphere(config)))
    failed = sum(trial.state is TrialState.FAILED for trial in history.values())
    assert failed <= 10
    assert best_objective(history) < 1e-3


def test_targets_far_above_the_rest_are_clipped_and_the_ranking_kept() -> None:
    y = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1e300])
    transformed = transform_targets(y)
    assert np.all(np.isfinite(transformed))
    assert np.all(np.diff(transformed) > 0)  # the ranking is kept, the outlier ranks last
    assert transformed[1] - transformed[0] > 0.1  # the good values are still told apart
    too_many = transform_targets(np.array([0.1, 0.2, 1e300, 1e300, 1e308, 0.3]))
    assert np.all(np.isfinite(too_many))
    assert np.argmin(too_many) == 0 and np.argmax(too_many) == 4


@pytest.mark.parametrize("scale", [2.0**-50, 2.0**-1000])
def test_the_search_is_the_same_whatever_the_scale_of_the_objective(scale: float) -> None:
    """Targets were constant to the model when their spread was below an absolute 1e-12:
    with losses around 1e-13 it stopped learning (best of 30 on a bowl 4e-4, not 1.8e-8), and
    1e-300 values had their squares underflow. Scaling by a power of two is exact, so the
    path is the very same."""

    def path(factor: float) -> list[Mapping[str, Any]]:
        history = optimize(bo(SQUARE, initial_design_size=4), lambda c: factor * (1 + sphere(c)), 9)
        return [trial.config for trial in history.values()]

    assert path(scale) == path(1.0)


def test_targets_apart_only_by_rounding_count_as_constant() -> None:
    eps = float(np.finfo(float).eps)
    assert target_spread(np.full(9, 0.1)) == target_spread(np.array([1e6, 1e6 + 2e6 * eps])) == 0
    assert target_spread(np.array([1.0, 1.0 + 64 * eps])) > 0
    history = optimize(bo(SQUARE, initial_design_size=2), lambda c: 1e6 + 2e6 * eps * c["x"], 5)
    assert len(history) == 5  # the model sees a flat objective and explores


def test_failures_at_random_do_not_derail_the_search() -> None:
    """Every third trial crashes whatever its configuration: the bowl is still found.

    Imputing the worst value at those crashes (what this optimizer did before) put spikes
    into the bowl and left the best result at 0.02; a failure model with the objective's
    near-zero noise prior fenced off the crashes near the optimum (4e-4).
    """
    history = TrialHistory()
    optimizer = bo(SQUARE, initial_design_size=5)
    for _ in range(30):
        [proposal] = optimizer.ask(history, history.budget(), 1)
        trial_id = history.next_id()
        if int(trial_id) % 3 == 0:
            history.put(make_trial(trial_id, proposal.config, TrialState.FAILED))
        else:
            history.put(make_trial(trial_id, proposal.config, objective=sphere(proposal.config)))
    assert best_objective(history) < 1e-5


def test_a_failed_region_is_avoided() -> None:
    """Everything with x > 0.5 fails and the objective improves towards it.

    The search must close in on the boundary from the feasible side without wandering into
    the region (the failure term alone, without treating clustered failures as bad results,
    went to x = 0.95 here).
    """
    history = TrialHistory()
    optimizer = bo(SQUARE, initial_design_size=4, raw_samples=256)
    for _ in range(14):
        [proposal] = optimizer.ask(history, history.budget(), 1)
        failed = proposal.config["x"] > 0.5
        state = TrialState.FAILED if failed else TrialState.SUCCESS
        value = None if failed else -proposal.config["x"]  # better towards the failures
        history.put(make_trial(history.next_id(), proposal.config, state, objective=value))
    late = list(history.values())[4:]
    assert sum(t.state is TrialState.FAILED for t in late) <= len(late) // 2
    assert max(t.config["x"] for t in late) < 0.65
    assert best_objective(history) < -0.45


def test_cost_aware_search_prefers_cheap_configurations() -> None:
    def cost(config: Mapping[str, Any]) -> float:
        return 1.0 + 100.0 * config["x"] ** 2

    def flat_in_x(config: Mapping[str, Any]) -> float:
        return (config["y"] - 0.5) ** 2 + 0.01 * config["x"]

    proposals = {}
    history = optimize(bo(SQUARE, initial_design_size=6), flat_in_x, 6, cost=cost)
    budget = history.budget(cost_to_spend=1000.0)
    for aware in (True, False, "log"):  # "log": NePS's spelling, our cost model is on log cost
        optimizer = bo(SQUARE, initial_design_size=6, cost_aware=aware)
        proposals[aware] = [p.config["x"] for p in optimizer.ask(history, budget, 3)]
    assert max(proposals[True]) < 0.3, proposals
    assert np.mean(proposals[True]) < np.mean(proposals[False])
    assert proposals["log"] == proposals[True]


# -- numerics ---------------------------------------------------------------------------------
def test_log_h_is_finite_smooth_and_matches_its_definition() -> None:
    z = np.array([-1e4, -200.0, -30.0, -5.0, -1.0, -0.5, 0.0, 2.0])
    value, slope = log_h(z)
    assert np.all(np.isfinite(value))
    assert np.all(np.diff(value) > 0)
    moderate = z >= -5
    from scipy import stats

    direct = np.log(stats.norm.pdf(z[moderate]) + z[moderate] * stats.norm.cdf(z[moderate]))
    assert value[moderate] == pytest.approx(direct, rel=1e-9)
    step = 1e-6
    numeric = (log_h(z + step)[0] - log_h(z - step)[0]) / (2 * step)
    assert slope == pytest.approx(numeric, rel=1e-4)


def test_marginal_likelihood_and_acquisition_gradients_are_right() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((15, 3))
    x[:, 2] = rng.integers(3, size=15)
    y = np.sin(6 * x[:, 0]) + x[:, 1] + (x[:, 2] == 1)
    layout = KernelLayout((0, 1), (2,))
    theta = np.array([-1.0, -0.5, 0.2, 0.1, -4.0])
    standardized = (y - y.mean()) / y.std()

    def nll(t: np.ndarray) -> float:
        return gp_module._neg_log_posterior(t, x, standardized, layout)[0]

    def nll_gradient(t: np.ndarray) -> np.ndarray:
        return gp_module._neg_log_posterior(t, x, standardized, layout)[1]

    assert check_grad(nll, nll_gradient, theta) < 1e-4 * np.linalg.norm(nll_gradient(theta))
    model = GaussianProcess(x, y, layout)
    failures = GaussianProcess(x, (x[:, 0] > 0.6).astype(float), layout)
    terms = [
        log_expected_improvement(model, float(np.min(model.standardized))),
        log_probability_below(failures, 0.5),
    ]
    anchor = np.array([0.4, 0.3, 1.0])
    for term in terms:

        def value(v: np.ndarray, term: Any = term) -> float:
            return float(term(np.array([[*v, anchor[2]]]))[0][0])

        def gradient(v: np.ndarray, term: Any = term) -> np.ndarray:
            return term(np.array([[*v, anchor[2]]]))[1][0]

        assert check_grad(value, gradient, anchor[:2]) < 1e-4 * max(
            1.0, float(np.linalg.norm(gradient(anchor[:2])))
        )


@pytest.mark.slow
def test_a_real_run_improves_on_its_initial_design(neps_root: Any) -> None:
    summary = neps.run(
        lambda x, y: sphere({"x": x, "y": y}),
        SQUARE,
        root_directory=neps_root,
        optimizer=("bayesian_optimization", {"initial_design_size": 4}),
        evaluations_to_spend=12,
        seed=1,
        post_run_summary=False,
    )
    assert summary.best_trial is not None
    assert float(summary.best_trial.objective) < 1e-3  # type: ignore[arg-type]


def test_the_model_runs_blas_on_one_thread(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # With a BLAS thread per core, two workers on two cores took 4x as long per proposal.
    from threadpoolctl import threadpool_info, threadpool_limits

    seen: list[int] = []
    build = GaussianProcess.__init__

    def recording_build(*args: Any, **kwargs: Any) -> None:
        seen.extend(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
        build(*args, **kwargs)

    monkeypatch.setattr(GaussianProcess, "__init__", recording_build)
    space = {"x": neps.Float(0.0, 1.0), "y": neps.Float(0.0, 1.0)}
    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine, whatever this is
        neps.run(
            lambda x, y: (x - 0.3) ** 2 + y,
            space,
            root_directory=tmp_path / "run",
            evaluations_to_spend=8,
            optimizer=("bayesian_optimization", {"initial_design_size": 5}),
        )
        after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert seen and set(seen) == {1}
    assert set(after) == {2}  # restored for the user's own code


def test_a_log_integer_whose_logs_are_one_float_is_searched() -> None:
    # Integer(2**53 + 1, 2**53 + 7, log=True): encoding divided by log(upper) - log(lower) = 0.0
    space = neps.PipelineSpace(
        {"n": neps.Integer(2**53 + 1, 2**53 + 7, log=True), "x": neps.Float(0.0, 1.0)}
    )
    history = optimize(bo(space, initial_design_size=3), lambda c: c["x"], 6)
    assert len(history) == 6
    assert all(space.parameters["n"].contains(t.config["n"]) for t in history.values())


# -- the points a model sees at size ----------------------------------------------------------
def _square_observations(n_observed: int, n_failed: int = 0) -> Any:
    rng = np.random.default_rng(0)
    trials = [
        make_trial(i + 1, {"x": x, "y": y}, objective=sphere({"x": x, "y": y}))
        for i, (x, y) in enumerate(rng.uniform(size=(n_observed, 2)))
    ]
    trials += [
        make_trial(n_observed + i + 1, {"x": x, "y": y}, TrialState.FAILED)
        for i, (x, y) in enumerate(rng.uniform(size=(n_failed, 2)))
    ]
    return collect(history_of(trials), bo(SQUARE).encoder)  # type: ignore[attr-defined]


SQUARE_LAYOUT = KernelLayout(numeric=(0, 1), categorical=())


def test_up_to_max_model_points_the_model_sees_every_point() -> None:
    observations = _square_observations(MAX_MODEL_POINTS - 20, 20)
    assert training_set(observations, SQUARE_LAYOUT) is observations


def test_beyond_it_the_model_sees_the_best_half_and_a_spread_of_the_rest() -> None:
    """A BO ask fitted its GP on every trial under the run's lock: 15 s at 1,000 trials, 0.7 s
    now (``O(n^3)`` per fitting step), while other workers waited for the lock."""
    observations = _square_observations(1000, 100)
    kept = training_set(observations, SQUARE_LAYOUT)
    assert len(kept.y) + len(kept.failed) == MAX_MODEL_POINTS
    assert len(kept.failed) == FAILURE_SHARE * MAX_MODEL_POINTS
    assert len(kept.x) == len(kept.y) == len(kept.costs)
    best = np.sort(observations.y)[: len(kept.y) // 2]
    assert set(best) <= set(kept.y)
    # A spread: every point of the run lies near one the model sees.
    gaps = np.linalg.norm(observations.x[:, None, :] - kept.x[None, :, :], axis=2).min(axis=1)
    assert gaps.max() < 0.15, gaps.max()
    assert kept.seen == observations.seen  # all of the run's configurations stay seen


def test_an_ask_on_many_trials_still_finds_where_the_best_is() -> None:
    rng = np.random.default_rng(1)
    history = history_of(
        make_trial(i + 1, {"x": x, "y": y}, objective=sphere({"x": x, "y": y}))
        for i, (x, y) in enumerate(rng.uniform(size=(1000, 2)))
    )
    [proposal] = bo(SQUARE).ask(history, history.budget(), 1)
    assert sphere(proposal.config) < 1e-3, proposal.config
