"""The ``asha`` plugin: the contract, and real runs (one and several workers)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import neps_core as neps
from neps_core.testing import OptimizerContract
from neps_core_plugins.asha import ASHA

pytest_plugins = ["neps_core.testing.fixtures"]


class TestASHAContract(OptimizerContract):
    optimizer_class = ASHA


class TestASHAWithEta2Contract(OptimizerContract):
    optimizer_class = ASHA
    optimizer_options: ClassVar[dict[str, Any]] = {"eta": 2, "early_stopping_rate": 1}


def test_promotions_resume_checkpoints_within_the_cost_budget(multi_fidelity_run: Any) -> None:
    run = multi_fidelity_run(optimizer="asha", cost_to_spend=200, seed=4)
    run.check_promotions_continue_checkpoints()
    assert run.summary.budget.used_cost == 200
    assert max(t.fidelity for t in run.promotions) == 27


def test_evaluations_budget(multi_fidelity_run: Any) -> None:
    run = multi_fidelity_run(optimizer="asha", evaluations_to_spend=20, seed=5)
    assert len(run.trials) == 20
    run.check_promotions_continue_checkpoints()


@pytest.mark.slow
def test_parallel_workers_never_promote_twice(parallel_multi_fidelity_run: Any) -> None:
    run = parallel_multi_fidelity_run("asha", 4, cost_to_spend=400)
    run.check_each_trial_promoted_at_most_once()
    assert run.summary.budget.used_cost <= 400


def test_an_eta_that_leaves_one_rung_says_so(
    neps_run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="neps_core_plugins"):
        summary = neps_run(
            optimizer=("asha", {"eta": 100}),
            pipeline_space={"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 27)},
            evaluations_to_spend=3,
        )
    assert "eta=100 leaves a single rung for the fidelity 'epochs' (1 to 27)" in caplog.text
    assert summary.best_trial is not None and summary.best_trial.fidelity == 27


@pytest.mark.parametrize("overwrite", [False, True])
def test_the_one_rung_warning_is_logged_once(
    neps_run: Any, caplog: pytest.LogCaptureFixture, overwrite: bool
) -> None:
    """``overwrite_root_directory`` checks the new run before deleting the old one; the
    optimizer it builds for that check is the one the run uses, not built (and heard) twice."""
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 27)}
    neps_run(optimizer=("asha", {"eta": 100}), pipeline_space=space, evaluations_to_spend=1)
    caplog.clear()
    with caplog.at_level("WARNING", logger="neps_core_plugins"):
        neps_run(
            optimizer=("asha", {"eta": 100}),
            pipeline_space=space,
            evaluations_to_spend=2,
            overwrite_root_directory=overwrite,
        )
    assert caplog.text.count("eta=100 leaves a single rung") == 1
