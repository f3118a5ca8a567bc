"""Budgets before a trial starts: the cost model, the guard, and the core's check of proposals.

Whatever the optimizer, a trial that would not fit what is left of ``fidelities_to_spend``
or (as estimated) of ``cost_to_spend`` is not started.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import neps_core as neps
from neps_core.budget import BudgetGuard, CostModel
from neps_core.history import TrialHistory
from neps_core.models import Trial
from neps_core.testing import history_of, make_trial


def _trial(
    trial_id: int,
    epochs: int | None,
    cost: float | None,
    state: str = "success",
    previous: int | None = None,
) -> Trial:
    config: dict[str, Any] = {"x": 0.1 * trial_id}
    if epochs is not None:
        config["epochs"] = epochs
    return make_trial(
        trial_id,
        config,
        state,
        objective=0.5 if state == "success" else None,
        cost=cost if state in ("success", "failed") else None,
        fidelity=epochs,
        previous_trial_id=None if previous is None else str(previous),
    )


# -- the cost model ------------------------------------------------------------------------------
def test_the_cost_model_learns_from_finished_trials() -> None:
    assert CostModel(TrialHistory()).estimate(9, False) == 0.0
    model = CostModel(
        history_of([_trial(1, 1, 1.0), _trial(2, 3, 3.0), _trial(3, 3, 2.0, previous=1)])
    )
    assert model.estimate(3, False) == 3.0
    assert model.estimate(3, True) == 2.0
    assert model.estimate(1, True) == 1.0  # by fidelity when no promotion was seen there
    assert model.estimate(9, False) == 9.0  # fresh trials' cost per fidelity unit (1)


def test_a_fresh_trial_is_not_estimated_from_the_cheaper_promotions_at_its_fidelity() -> None:
    # Promotions that continue from a checkpoint report the extra epochs only (3 - 1 = 2).
    model = CostModel(
        history_of([_trial(1, 1, 1.0), _trial(2, 1, 1.0), _trial(3, 3, 2.0, previous=1)])
    )
    assert model.estimate(3, True) == 2.0
    assert model.estimate(3, False) == 3.0  # 1 per epoch, as the fresh trials cost


def test_the_estimate_errs_high_when_costs_vary() -> None:
    model = CostModel(history_of([_trial(1, 3, 1.0), _trial(2, 3, 4.0), _trial(3, 3, 2.0)]))
    assert model.estimate(3, False) == 4.0  # the largest seen, not the mean
    assert model.estimate(6, False) == pytest.approx(8.0)  # largest cost per epoch (4/3) * 6


def test_without_a_fidelity_the_estimate_is_the_largest_cost_seen() -> None:
    history = history_of(
        [_trial(1, None, 2.0), _trial(2, None, 5.0), _trial(3, None, None, "evaluating")]
    )
    assert CostModel(history).estimate(None, False) == 5.0
    guard = BudgetGuard(history, history.budget(cost_to_spend=20.0))
    assert guard.cost_left == 8.0  # 20 - 7 spent - 5 expected of the running trial
    assert guard.fits(None, False)
    guard.spend(None, False)
    assert not guard.fits(None, False)


def test_running_trials_count_against_the_cost_budget() -> None:
    history = history_of([_trial(1, 9, 9.0), _trial(2, 9, None, "evaluating")])
    guard = BudgetGuard(history, history.budget(cost_to_spend=20.0))
    assert guard.cost_left == 2.0  # 20 - 9 spent - 9 expected
    assert guard.fits(1, False)
    assert not guard.fits(3, False)


# -- every optimizer's proposals -----------------------------------------------------------------
@pytest.mark.parametrize(
    "optimizer", ["random_search", "regularized_evolution", ("grid_search", {"size": 100})], ids=str
)
@pytest.mark.parametrize("budget", [20.0, 63.5])
def test_optimizers_without_a_cost_model_of_their_own_never_overshoot_the_cost_budget(
    tmp_path: Path, optimizer: Any, budget: float
) -> None:
    # Before the core checked proposals, random search went on until the budget was used up,
    # so its last trial went past it (63 of 60).
    def evaluate(x: float) -> dict[str, float]:
        return {"objective_to_minimize": x, "cost": 1.0 + 4.0 * x}

    summary = neps.run(
        evaluate,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        optimizer=optimizer,
        cost_to_spend=budget,
        seed=3,
    )
    assert budget - 5.0 < summary.budget.used_cost <= budget  # stopped within one trial's cost
