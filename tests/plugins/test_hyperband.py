"""The ``hyperband`` plugin: the contract, and real runs over every bracket."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.testing import OptimizerContract
from neps_core_plugins.hyperband import Hyperband

pytest_plugins = ["neps_core.testing.fixtures"]


class TestHyperbandContract(OptimizerContract):
    optimizer_class = Hyperband


class TestHyperbandAroundPriorsContract(OptimizerContract):
    optimizer_class = Hyperband
    optimizer_options: ClassVar[dict[str, Any]] = {"sampler": "prior", "sample_prior_first": True}


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

    with pytest.raises(SettingsError, match=r"'hyperband' minimizes a single objective.*mo_asha"):
        neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)},
            root_directory=tmp_path / "run",
            optimizer="hyperband",
            evaluations_to_spend=5,
        )
