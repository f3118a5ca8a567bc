"""``max_cost_per_run`` (NePS's ``worker_cost_to_spend``) alone must be able to end a call.

It adds up the costs the call's trials report, so results without one would never reach it:
the call sampled forever. A success without a cost is refused as under ``cost_to_spend``, and
a streak of failures without a cost stops the call.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import neps_core as neps
from neps_core.budget import FAILURE_STREAK_LIMIT


def _no_cost(x: float) -> float:
    return x


def _always_fails(x: float) -> float:
    raise RuntimeError(f"broken at x={x}")


def test_a_success_without_a_cost_is_refused_under_max_cost_per_run(tmp_path: Path) -> None:
    with pytest.raises(neps.MissingCostError, match="max_cost_per_run is set"):
        neps.run(
            _no_cost,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path,
            max_cost_per_run=3.0,
            evaluations_to_spend=5,  # a safety net: without the check, five successes
        )
    assert neps.status(tmp_path).counts["failed"] == 1


def test_ask_and_tell_refuses_a_result_without_a_cost_under_max_cost_per_run(
    tmp_path: Path,
) -> None:
    client = neps.AskAndTell(
        {"x": neps.Float(0.0, 1.0)}, root_directory=tmp_path, max_cost_per_run=2.0
    )
    trial = client.ask()
    assert trial is not None
    with pytest.raises(neps.MissingCostError, match="max_cost_per_run is set"):
        client.tell(trial, {"objective_to_minimize": 0.5})


def test_failures_without_a_cost_stop_a_call_only_its_cost_limit_could_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    summary = neps.run(
        _always_fails,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        max_cost_per_run=3.0,  # max_evaluations_per_run would end it (test_budget.py)
        ignore_errors=True,
    )
    assert summary.counts["failed"] == FAILURE_STREAK_LIMIT
    assert "max_cost_per_run cannot end this run" in caplog.text
    assert "cost_value_on_error" in caplog.text
