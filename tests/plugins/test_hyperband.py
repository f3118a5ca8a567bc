"""The ``hyperband`` plugin: the contract, and real runs over every bracket."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.space import PipelineSpace
from neps_core.testing import OptimizerContract, toy_spaces
from neps_core_plugins.hyperband import Hyperband

pytest_plugins = ["neps_core.testing.fixtures"]


class TestHyperbandContract(OptimizerContract):
    optimizer_class = Hyperband


class TestHyperbandAroundPriorsContract(OptimizerContract):
    optimizer_class = Hyperband
    optimizer_options: ClassVar[dict[str, Any]] = {"sampler": "prior", "sample_prior_first": True}
    spaces: ClassVar[dict[str, PipelineSpace]] = {"priors": toy_spaces()["fidelity_priors"]}


def test_every_bracket_runs_and_promotions_resume(multi_fidelity_run: Any) -> None:
    run = multi_fidelity_run(optimizer="hyperband", cost_to_spend=450, seed=2)
    run.check_promotions_continue_checkpoints()
    started = {t.fidelity for t in run.trials.values() if t.previous_trial_id is None}
    assert started == {1, 3, 9, 27}  # one full iteration costs 423
    assert run.summary.budget.used_cost <= 450


def test_a_fidelity_budget_is_never_overshot(multi_fidelity_run: Any) -> None:
    run = multi_fidelity_run(optimizer="hyperband", fidelities_to_spend=200, seed=3)
    spent = sum(t.fidelity for t in run.trials.values())
    assert spent == run.summary.budget.used_fidelities <= 200
    assert spent > 200 - 1  # smaller trials fill what a promotion would overshoot


@pytest.mark.slow
def test_parallel_workers_never_promote_twice(parallel_multi_fidelity_run: Any) -> None:
    run = parallel_multi_fidelity_run("hyperband", 3, cost_to_spend=400)
    run.check_each_trial_promoted_at_most_once()
    assert run.summary.budget.used_cost <= 400


def test_several_objectives_stop_the_run_with_a_way_out(tmp_path: Path) -> None:
    def evaluate_pipeline(x: float, epochs: int) -> tuple[float, float]:
        return x + 1 / epochs, 1 - x

    with pytest.raises(
        SettingsError, match=r"'hyperband' minimizes a single objective.*'mo_hyperband'"
    ):
        neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)},
            root_directory=tmp_path / "run",
            optimizer="hyperband",
            evaluations_to_spend=5,
        )


def _fresh_configurations(root: Path) -> list[tuple[Any, ...]]:
    """The configurations (without the fidelity) of the trials not continuing another."""
    return [
        tuple(sorted((k, v) for k, v in trial.config.items() if k != "epochs"))
        for trial in neps.status(root).trials
        if trial.previous_trial_id is None
    ]


@pytest.mark.parametrize("optimizer", ["hyperband", "async_hb", "priorband"])
def test_a_small_space_promotes_instead_of_rerunning_from_scratch(
    tmp_path: Path, optimizer: str
) -> None:
    # Every configuration ran from scratch at every rung: 1:bad@1 2:good@1 3:bad@3 4:good@3 ...
    space = {"kind": neps.Categorical(("good", "bad")), "epochs": neps.IntegerFidelity(1, 9)}
    root = tmp_path / optimizer
    neps.run(
        lambda kind, epochs: (0.2 if kind == "good" else 0.5) + 1 / epochs,
        space,
        root_directory=root,
        evaluations_to_spend=20,
        optimizer=(optimizer, {"eta": 3}),
    )
    fresh = _fresh_configurations(root)
    assert len(fresh) == len(set(fresh)) == 2
    top = [t for t in neps.status(root).trials if t.config["epochs"] == 9]
    assert top  # and something got there


def test_a_bracket_promotes_a_configuration_that_ran_fresh_in_another(tmp_path: Path) -> None:
    # The best of bracket 3 had run at epochs 3 in bracket 1: its promotion was skipped, the
    # rung waited for it forever and the bracket never reached epochs 9.
    space = {"i": neps.Integer(1, 40), "epochs": neps.IntegerFidelity(1, 9)}
    root = tmp_path / "run"
    neps.run(
        lambda i, epochs: i + 1 / epochs,
        space,
        root_directory=root,
        evaluations_to_spend=50,
        optimizer=("hyperband", {"eta": 3}),
        seed=4,
    )
    trials = {t.id: t for t in neps.status(root).trials}
    fresh = _fresh_configurations(root)
    assert len(fresh) == len(set(fresh))  # a configuration starts from scratch once
    base = [t for t in trials.values() if t.previous_trial_id is None and t.config["epochs"] == 1]
    best_of_base = min(t.config["i"] for t in base)
    chain_tops = [t for t in trials.values() if t.config == {"i": best_of_base, "epochs": 9}]
    assert chain_tops and chain_tops[0].previous_trial_id is not None
