"""The ``random_search`` plugin: the optimizer contract, uniform draws and draws around priors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.history import TrialHistory
from neps_core.models import BudgetInfo
from neps_core.testing import OptimizerContract, history_of, make_trial, toy_evaluate_pipeline
from neps_core_plugins.random_search import RandomSearch, RandomSearchSettings

pytest_plugins = ["neps_core.testing.fixtures"]


class TestRandomSearchContract(OptimizerContract):
    optimizer_class = RandomSearch


class TestRandomSearchWithPriorsContract(OptimizerContract):
    optimizer_class = RandomSearch
    optimizer_options: ClassVar[dict[str, Any]] = {"use_priors": True}


def _draws(space: neps.PipelineSpace, count: int, **options: Any) -> list[dict[str, Any]]:
    optimizer = RandomSearch(space, RandomSearchSettings(**options), seed=7)
    return [p.config for p in optimizer.ask(TrialHistory(), BudgetInfo(), count)]


def test_uniform_draws_cover_the_whole_space() -> None:
    space = neps.PipelineSpace(
        {
            "x": neps.Float(0.0, 1.0, prior=0.5, prior_confidence="high"),
            "lr": neps.Float(1e-5, 1e-1, log=True),
            "units": neps.Integer(1, 4),
            "act": neps.Categorical(choices=("relu", "tanh", "elu")),
        }
    )
    configs = _draws(space, 400)
    xs = np.array([c["x"] for c in configs])
    assert xs.min() < 0.05 and xs.max() > 0.95  # uniform, the prior is ignored
    assert 0.4 < float(np.mean(xs)) < 0.6
    log_lrs = np.log10([c["lr"] for c in configs])
    assert log_lrs.min() < -4.5 and log_lrs.max() > -1.5  # uniform on the log scale
    assert float(np.median(log_lrs)) < -2.0
    assert {c["units"] for c in configs} == {1, 2, 3, 4}
    assert {c["act"] for c in configs} == {"relu", "tanh", "elu"}


def test_use_priors_draws_around_the_priors() -> None:
    space = neps.PipelineSpace(
        {
            "x": neps.Float(0.0, 1.0, prior=0.2, prior_confidence="high"),
            "act": neps.Categorical(
                choices=("relu", "tanh", "elu"), prior=2, prior_confidence="high"
            ),
        }
    )
    with_priors = _draws(space, 300, use_priors=True)
    uniform = _draws(space, 300)
    distance = [np.mean([abs(c["x"] - 0.2) for c in configs]) for configs in (with_priors, uniform)]
    assert distance[0] < distance[1] / 2
    share = [sum(c["act"] == "elu" for c in configs) / 300 for configs in (with_priors, uniform)]
    assert share[0] > 0.6 > share[1]


def test_the_fidelity_is_at_its_maximum_unless_ignore_fidelity_is_off() -> None:
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)})
    assert {c["epochs"] for c in _draws(space, 20)} == {9}
    assert {c["epochs"] for c in _draws(space, 200, ignore_fidelity=False)} == set(range(1, 10))


def test_a_run_with_the_fidelity_drawn_passes_it_to_the_evaluation(tmp_path: Path) -> None:
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}
    seen: list[int] = []

    def evaluate_pipeline(x: float, epochs: int) -> float:
        seen.append(epochs)
        return x / epochs

    neps.run(
        evaluate_pipeline,
        space,
        root_directory=tmp_path / "run",
        optimizer=("random_search", {"ignore_fidelity": False}),
        evaluations_to_spend=30,
        seed=1,
    )
    assert len(seen) == 30 and len(set(seen)) > 3 and 1 <= min(seen) <= max(seen) <= 9


@pytest.mark.parametrize("workers", [1, 3])
def test_a_searched_fidelity_is_drawn_among_the_values_that_still_fit(
    tmp_path: Path, workers: int
) -> None:
    """A draw that did not fit ended the run with up to half of fidelities_to_spend unused."""
    script = tmp_path / "search.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import neps_core as neps
            space = {{"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 27)}}
            neps.run(lambda x, epochs: x, space, root_directory={str(tmp_path / "run")!r},
                     optimizer=("random_search", {{"ignore_fidelity": False}}),
                     fidelities_to_spend=50, seed=4, sample_batch_size=2)
            """
        )
    )
    processes = [
        subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE)
        for _ in range(workers)
    ]
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors.decode()
    assert neps.status(tmp_path / "run").budget.used_fidelities == 50


@pytest.mark.parametrize("overhead", [0.0, 5.0])
@pytest.mark.parametrize("seed", range(4))
def test_a_searched_fidelity_is_drawn_among_those_whose_cost_still_fits(
    tmp_path: Path, seed: int, overhead: float
) -> None:
    """Under cost_to_spend (a trial's cost known only once it ran, estimated per fidelity), a
    draw whose expected cost did not fit ended the run with a third of the budget unused; with
    a fixed cost per trial, a cost extrapolated per epoch below the fidelities seen overshot."""
    summary = neps.run(
        lambda x, epochs: {"objective_to_minimize": x, "cost": overhead + epochs},
        {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 27)},
        root_directory=tmp_path / "run",
        optimizer=("random_search", {"ignore_fidelity": False}),
        cost_to_spend=100,
        seed=seed,
    )
    # Spent until not even the cheapest trial (overhead + 1 epoch) fits, never beyond.
    assert 100 - (overhead + 1) < summary.budget.used_cost <= 100


def _fidelity_draws(fidelity: Any, left: float) -> list[Any]:
    """One draw of each of 400 seeds with ``left`` of ``fidelities_to_spend`` remaining."""
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "epochs": fidelity})
    budget = BudgetInfo(fidelities_to_spend=1000.0, used_fidelities=1000.0 - left)
    settings = RandomSearchSettings(ignore_fidelity=False)
    return [
        proposal.config["epochs"]
        for seed in range(400)
        for proposal in RandomSearch(space, settings, seed=seed).ask(TrialHistory(), budget, 1)
    ]


@pytest.mark.parametrize(
    ("fidelity", "left", "middle"),
    [(neps.IntegerFidelity(1, 1000), 22.0, 11.5), (neps.FloatFidelity(0.5, 100.0), 2.0, 1.25)],
    ids=["integer", "float"],
)
def test_a_searched_fidelity_is_uniform_among_the_values_that_fit(
    fidelity: Any, left: float, middle: float
) -> None:
    """With little left, draws in the whole range and then the lowest value after 50 misses
    gave the lowest value nearly every time."""
    drawn = np.array(_fidelity_draws(fidelity, left))
    assert fidelity.lower <= drawn.min() and drawn.max() <= left
    assert 0.4 < np.mean(drawn < middle) < 0.6
    if isinstance(fidelity, neps.Integer):
        assert set(drawn) == set(range(1, 23))


def test_no_fidelity_is_drawn_when_not_even_the_lowest_fits() -> None:
    assert _fidelity_draws(neps.IntegerFidelity(1, 1000), 0.5) == []


def test_draws_depend_on_seed_and_history_only() -> None:
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    history = history_of([make_trial(1, {"x": 0.5})])
    budget = history.budget()

    def ask(seed: int) -> list[Any]:
        return list(RandomSearch(space, seed=seed).ask(history, budget, 3))

    assert ask(1) == ask(1)
    assert ask(1) != ask(2)
    longer = history_of([make_trial(1, {"x": 0.5}), make_trial(2, {"x": 0.6})])
    assert list(RandomSearch(space, seed=1).ask(longer, longer.budget(), 3)) != ask(1)


def test_without_a_seed_numpys_global_state_decides() -> None:
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})

    def ask() -> list[Any]:
        return list(RandomSearch(space).ask(TrialHistory(), BudgetInfo(), 2))

    np.random.seed(11)
    first = ask()
    np.random.seed(11)
    assert ask() == first
    assert ask() != first


def test_seeded_runs_repeat_exactly(tmp_path: Path) -> None:
    def configs(root: Path) -> list[Any]:
        neps.run(
            toy_evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0), "k": neps.Integer(1, 100)},
            root_directory=root,
            evaluations_to_spend=4,
            optimizer="random_search",
            seed=5,
        )
        return [neps.load_config(root, i) for i in range(1, 5)]

    assert configs(tmp_path / "a") == configs(tmp_path / "b")


def test_a_batch_proposes_what_asks_one_by_one_propose(tmp_path: Path) -> None:
    """n free slots of a process_pool (or ``sample_batch_size=n``) ask for n proposals at
    once; they must be those of n workers asking one by one, as the docs promise."""

    def configs(root: Path, batch: int) -> list[Any]:
        neps.run(
            toy_evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0), "k": neps.Integer(1, 100)},
            root_directory=root,
            evaluations_to_spend=6,
            optimizer="random_search",
            seed=5,
            sample_batch_size=batch,
        )
        return [neps.load_config(root, i) for i in range(1, 7)]

    assert configs(tmp_path / "batch", 3) == configs(tmp_path / "one_by_one", 1)


def test_options_are_validated(neps_run: Any) -> None:
    with pytest.raises(
        SettingsError,
        match=r"random_search.*unknown option.*did you mean 'use_priors' instead of 'use_prior'",
    ):
        neps_run(optimizer=("random_search", {"use_prior": True}))
    summary = neps_run(optimizer={"name": "random_search", "use_priors": True})
    assert summary.counts["success"] == 5
