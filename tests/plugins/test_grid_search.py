"""The ``grid_search`` plugin: the optimizer contract, the grid itself, and exhausting it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.history import TrialHistory
from neps_core.models import BudgetInfo, TrialState
from neps_core.testing import (
    CountingHistory,
    OptimizerContract,
    add_proposals,
    history_of,
    make_trial,
    toy_evaluate_pipeline,
)
from neps_core_plugins.grid_search import GridSearch, GridSearchSettings, grid_values

pytest_plugins = ["neps_core.testing.fixtures"]


class TestGridSearchContract(OptimizerContract):
    optimizer_class = GridSearch


class TestSmallGridSearchContract(OptimizerContract):
    optimizer_class = GridSearch
    optimizer_options: ClassVar[dict[str, Any]] = {"size": 3}


def _grid(space: neps.PipelineSpace, size: int = 10, **options: Any) -> list[dict[str, Any]]:
    optimizer = GridSearch(space, GridSearchSettings(size=size, **options))
    return [p.config for p in optimizer.ask(TrialHistory(), BudgetInfo(), 10_000)]


def test_grid_values_of_each_parameter_kind() -> None:
    assert grid_values(neps.Float(0.0, 1.0), 3) == [0.0, 0.5, 1.0]
    log_values = grid_values(neps.Float(1e-4, 1e-0, log=True), 5)
    assert [round(math.log10(v), 9) for v in log_values] == [-4.0, -3.0, -2.0, -1.0, 0.0]
    integers = grid_values(neps.Integer(1, 4), 10)
    assert integers == [1, 2, 3, 4]  # distinct, never more points than values
    assert grid_values(neps.Integer(0, 100), 3) == [0, 50, 100]
    assert grid_values(neps.Categorical(choices=("a", "b", "c")), 2) == ["a", "b", "c"]
    assert grid_values(neps.Constant(5), 4) == [5]
    assert grid_values(neps.Float(2.0, 4.0), 1) == [3.0]


def test_a_log_grid_has_every_integer_a_short_range_has_and_exact_bounds() -> None:
    # size=10 on Integer(1, 10, log=True) gave 7 points (rounding merged 6, 8 and 9), and the
    # bounds of a log grid were off by rounding (1.0000000000000024e-30).
    assert grid_values(neps.Integer(1, 10, log=True), 10) == list(range(1, 11))
    assert grid_values(neps.Integer(1, 10, log=True), 12) == list(range(1, 11))
    wide = grid_values(neps.Float(1e-30, 1e30, log=True), 3)
    assert (wide[0], wide[-1]) == (1e-30, 1e30)
    assert grid_values(neps.Float(1e-6, 1e-2, log=True), 2) == [1e-6, 1e-2]


def test_an_integer_grid_is_evenly_spaced_between_its_exact_bounds() -> None:
    # The steps went through from_unit, whose unit interval reaches half a step beyond each
    # bound: Integer(16, 512, log=True) gave 16, 31, 63, 126, 255, 512.
    assert grid_values(neps.Integer(16, 512, log=True), 6) == [16, 32, 64, 128, 256, 512]
    assert grid_values(neps.Integer(1, 100, log=True), 3) == [1, 10, 100]
    assert grid_values(neps.Integer(1, 1000, log=True), 4) == [1, 10, 100, 1000]
    assert grid_values(neps.Integer(1, 12), 4) == [1, 5, 8, 12]
    huge = grid_values(neps.Integer(10**17, 10**17 + 100), 3)
    assert huge == [10**17, 10**17 + 50, 10**17 + 100]
    tight = grid_values(neps.Integer(2**53 + 1, 2**53 + 71, log=True), 3)
    assert tight == [2**53 + 1, 2**53 + 36, 2**53 + 71]  # logs one float apart


def test_the_grid_is_the_full_product_in_order() -> None:
    space = neps.PipelineSpace(
        {
            "x": neps.Float(0.0, 1.0),
            "act": neps.Categorical(choices=("relu", "tanh")),
            "seed": neps.Constant(3),
            "epochs": neps.IntegerFidelity(1, 9),
        }
    )
    grid = _grid(space, size=3)
    assert grid == [
        {"x": x, "act": act, "seed": 3, "epochs": 9}
        for x in (0.0, 0.5, 1.0)
        for act in ("relu", "tanh")
    ]


def test_without_ignore_fidelity_the_fidelity_is_an_axis_of_the_grid() -> None:
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)})
    grid = _grid(space, size=3, ignore_fidelity=False)
    assert grid == [{"x": x, "epochs": e} for x in (0.0, 0.5, 1.0) for e in (1, 5, 9)]
    assert _grid(space, size=3, ignore_fidelity="highest fidelity") == _grid(space, size=3)


def test_points_in_the_history_are_skipped_whoever_tried_them() -> None:
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    history = history_of(
        [
            make_trial(1, {"x": 0.0}, "success"),
            make_trial(2, {"x": 0.5}, "pending"),
            make_trial(3, {"x": 1.0}, "failed"),
        ]
    )
    proposals = GridSearch(space, GridSearchSettings(size=5)).ask(history, history.budget(), 10)
    assert [p.config["x"] for p in proposals] == [0.25, 0.75]


def test_a_cached_instance_follows_a_different_history() -> None:
    """Correct for any history: a shorter history than last time starts the grid over."""
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    optimizer = GridSearch(space, GridSearchSettings(size=3))
    long = TrialHistory()
    add_proposals(long, space, optimizer.ask(long, long.budget(), 3))
    assert optimizer.ask(long, long.budget(), 3) == []
    assert [p.config["x"] for p in optimizer.ask(TrialHistory(), BudgetInfo(), 3)] == [0, 0.5, 1]


def test_a_kept_instance_reads_the_trials_changed_since_its_last_ask() -> None:
    """Each ask walked the history from its start to the trials not seen yet (240,495 reads
    over 30 asks at 8,000 trials)."""
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    history = CountingHistory()
    for i in range(1, 101):
        history.put(make_trial(i, {"x": i / 1000}))
    optimizer = GridSearch(space, GridSearchSettings(size=5))
    optimizer.ask(history, history.budget(), 1)
    history.reads = 0
    history.put(make_trial(101, {"x": 0.0}))
    assert [p.config["x"] for p in optimizer.ask(history, history.budget(), 1)] == [0.25]
    assert history.reads == 1


def test_a_kept_instance_proposes_what_a_fresh_one_does() -> None:
    """Followed through its changes (new trials, others' trials, new versions, a budget
    that shrinks), a kept instance proposes what an instance reading the history whole does."""
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)})
    settings = GridSearchSettings(size=3, ignore_fidelity=False)
    kept, history = GridSearch(space, settings), TrialHistory()
    history.put(make_trial(1, {"x": 0.5, "epochs": 5}, "pending"))  # another worker's
    for step in range(12):
        budget = BudgetInfo(fidelities_to_spend=60, used_fidelities=history.fidelities_spent)
        proposals = kept.ask(history, budget, 2)
        assert proposals == GridSearch(space, settings).ask(history, budget, 2), step
        if not proposals:
            break
        if step % 3 != 1:  # else the sampler could not fit it: not stored
            add_proposals(history, space, proposals[:1], "pending")
        history.put(attrs.evolve(history[str(len(history))], state=TrialState.SUCCESS))
    assert step > 5


def test_a_point_proposed_but_not_stored_is_proposed_again() -> None:
    # The sampler drops proposals the budget cannot fit yet; the grid had moved past them.
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    optimizer = GridSearch(space, GridSearchSettings(size=3))
    history = TrialHistory()
    assert [p.config["x"] for p in optimizer.ask(history, history.budget(), 1)] == [0]
    assert [p.config["x"] for p in optimizer.ask(history, history.budget(), 2)] == [0, 0.5]
    add_proposals(history, space, optimizer.ask(history, history.budget(), 1))
    assert [p.config["x"] for p in optimizer.ask(history, history.budget(), 3)] == [0.5, 1]


def test_a_cost_budget_that_fits_the_grid_evaluates_all_of_it(tmp_path: Path) -> None:
    root = tmp_path / "run"
    with neps.AskAndTell(
        {"x": neps.Float(0.0, 1.0)}, root, optimizer=("grid_search", {"size": 4}), cost_to_spend=10
    ) as client:
        first = client.ask()
        client.tell(first, {"objective_to_minimize": 1.0, "cost": 4.0})
        second = client.ask()
        assert client.ask() is None  # 4 + 4 estimated for the next two: wait for the second
        client.tell(second, {"objective_to_minimize": 1.0, "cost": 1.0})
        while (trial := client.ask()) is not None:
            client.tell(trial, {"objective_to_minimize": 1.0, "cost": 1.0})
    xs = sorted(round(t.config["x"], 3) for t in neps.status(root).trials)
    assert xs == [0.0, 0.333, 0.667, 1.0]  # 2/3 had been skipped


def test_a_run_ends_when_the_grid_is_exhausted(tmp_path: Path) -> None:
    space = {"x": neps.Float(0.0, 1.0), "act": neps.Categorical(choices=("relu", "tanh"))}
    summary = neps.run(
        toy_evaluate_pipeline,
        space,
        root_directory=tmp_path,
        evaluations_to_spend=50,
        optimizer=("grid_search", {"size": 3}),
    )
    assert summary.counts["success"] == 6
    configs = [neps.load_config(tmp_path, i) for i in range(1, 7)]
    assert {(c["x"], c["act"]) for c in configs} == {
        (x, act) for x in (0.0, 0.5, 1.0) for act in ("relu", "tanh")
    }


def test_points_above_the_fidelity_left_are_skipped_not_the_end_of_the_run(
    tmp_path: Path,
) -> None:
    summary = neps.run(
        toy_evaluate_pipeline,
        {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)},
        root_directory=tmp_path,
        fidelities_to_spend=20,
        optimizer=("grid_search", {"size": 3, "ignore_fidelity": False}),
    )
    points = [neps.load_config(tmp_path, i) for i in range(1, summary.counts["success"] + 1)]
    # 1 + 5 + 9 + 1 leave 4: (0.5, 5) and (0.5, 9) cannot fit, (1.0, 1) still does.
    assert [(p["x"], p["epochs"]) for p in points] == [
        (0.0, 1), (0.0, 5), (0.0, 9), (0.5, 1), (1.0, 1)
    ]  # fmt: skip


def test_a_continued_run_never_repeats_a_point(tmp_path: Path) -> None:
    arguments: dict[str, Any] = {
        "evaluate_pipeline": toy_evaluate_pipeline,
        "pipeline_space": {"x": neps.Integer(1, 8)},
        "root_directory": tmp_path,
        "optimizer": "grid_search",
    }
    neps.run(**arguments, max_evaluations_per_run=3)
    neps.run(**arguments, max_evaluations_per_run=3)
    summary = neps.run(**arguments)
    assert summary.counts["success"] == 8
    assert sorted(neps.load_config(tmp_path, i)["x"] for i in range(1, 9)) == list(range(1, 9))


@pytest.mark.parametrize("size", [0, -2])
def test_a_grid_needs_at_least_one_point_per_parameter(neps_run: Any, size: int) -> None:
    with pytest.raises(SettingsError, match="size must be at least 1"):
        neps_run(optimizer=("grid_search", {"size": size}))
