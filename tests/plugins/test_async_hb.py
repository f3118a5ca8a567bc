"""The ``async_hb`` plugin: the contract, and real runs (one and several workers)."""

from __future__ import annotations

from typing import Any

import pytest

from neps_core.testing import OptimizerContract
from neps_core_plugins.async_hb import AsyncHB

pytest_plugins = ["neps_core.testing.fixtures"]


class TestAsyncHBContract(OptimizerContract):
    optimizer_class = AsyncHB


def test_all_brackets_start_and_promotions_resume(multi_fidelity_run: Any) -> None:
    run = multi_fidelity_run(optimizer="async_hb", cost_to_spend=300, seed=6)
    run.check_promotions_continue_checkpoints()
    started = {t.fidelity for t in run.trials.values() if t.previous_trial_id is None}
    assert started == {1, 3, 9, 27}
    assert run.summary.budget.used_cost <= 300


@pytest.mark.slow
def test_parallel_workers_never_promote_twice(parallel_multi_fidelity_run: Any) -> None:
    run = parallel_multi_fidelity_run("async_hb", 3, fidelities_to_spend=300)
    run.check_each_trial_promoted_at_most_once()
    assert run.summary.budget.used_fidelities <= 300
