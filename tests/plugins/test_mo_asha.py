"""``mo_asha`` and ``mo_hyperband``: Pareto-based promotions, the contract, multi-objective runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.testing import CountingHistory, OptimizerContract, history_of, make_trial
from neps_core_plugins.mo_asha import (
    MOASHA,
    FrontOrders,
    MOHalvingSettings,
    MOHyperband,
    crowding_distance_order,
    epsilon_net_order,
)

pytest_plugins = ["neps_core.testing.fixtures"]

SPACE = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)})


class TestMOASHAContract(OptimizerContract):
    optimizer_class = MOASHA


class TestMOASHAWithNSGA2Contract(OptimizerContract):
    optimizer_class = MOASHA
    optimizer_options: ClassVar[dict[str, Any]] = {"mo_selector": "nsga2"}


class TestMOHyperbandContract(OptimizerContract):
    optimizer_class = MOHyperband


def test_the_epsilon_net_spreads_along_the_front() -> None:
    front = np.array([[0.0, 1.0], [0.1, 0.9], [0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])
    order = epsilon_net_order(front)
    assert order[:3] == [0, 4, 2]  # both ends first, then the middle
    assert sorted(order) == [0, 1, 2, 3, 4]
    assert epsilon_net_order(front, 2) == [0, 4]


def test_crowding_distance_puts_the_ends_first_then_the_loneliest() -> None:
    front = np.array([[0.0, 1.0], [0.1, 0.9], [0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])
    # Inner distances: point 1 (0.5 + 0.5), 2 (0.8 + 0.8), 3 (0.5 + 0.5).
    assert crowding_distance_order(front) == [0, 4, 2, 1, 3]
    assert crowding_distance_order(front, 3) == [0, 4, 2]
    assert crowding_distance_order(np.array([[1.0, 2.0]])) == [0]
    with_inf = np.array([[0.0, np.inf], [0.5, 0.5], [1.0, 0.0], [0.7, 0.2]])
    assert crowding_distance_order(with_inf)[:3] == [0, 2, 1]


@pytest.mark.parametrize("order", [epsilon_net_order, crowding_distance_order])
def test_objectives_near_the_largest_float_are_ordered_without_overflow(order: Any) -> None:
    """``high - low`` overflowed to infinity: NaN distances and RuntimeWarnings."""
    huge = np.finfo(float).max
    front = np.array([[-huge, huge], [-0.5 * huge, 0.1 * huge], [huge, -huge], [0.9 * huge, 0]])
    with np.errstate(all="raise"):
        assert order(front) == order(front / huge)


def test_tiny_values_beside_huge_ones_keep_their_order() -> None:
    """Scaling by the power of two above 1e300 made 1e-300, 2e-300 and 3e-300 all 0: the
    smallest, an end of the front with an infinite crowding distance, was then the first 0."""
    front = np.array([[1e300, 0.0], [3e-300, 1.0], [1e-300, 2.0], [2e-300, 3.0]])
    with np.errstate(over="raise", invalid="raise"):  # tiny gaps over 1e300 underflow, rightly
        assert crowding_distance_order(front) == [0, 2, 3, 1]


def test_front_orders_are_remembered_by_their_points_up_to_a_capacity() -> None:
    ordered: list[tuple[int, int | None]] = []

    def order(points: np.ndarray, limit: int | None) -> list[int]:
        ordered.append((len(points), limit))
        return epsilon_net_order(points, limit)

    orders = FrontOrders(order)
    orders.CAPACITY = 6
    fronts = [np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]) + shift for shift in (0, 1, 2)]
    assert orders.first(fronts[0], 1) == [0]
    assert orders.first(fronts[0], 3) == epsilon_net_order(fronts[0])  # longer: ordered again
    assert orders.first(fronts[0].copy(), 2) == [0, 2]  # the same points: remembered
    orders.first(fronts[1], 3)
    assert orders.first(fronts[0], 3) == [0, 2, 1]  # six points: both remembered
    orders.first(fronts[2], 3)  # nine: the least recently used front (1) is forgotten
    assert orders.first(fronts[0], 3) == [0, 2, 1]
    orders.first(fronts[1], 3)
    assert orders.first(np.array([[5.0, 5.0]]), 1) == [0]  # one point: nothing to order
    assert ordered == [(3, 1), (3, 3), (3, 3), (3, 3), (3, 3)]


def _rung_zero(objectives: list[tuple[float, float]]) -> Any:
    return history_of(
        make_trial(i + 1, {"x": i / 10, "epochs": 1}, objective=o, fidelity=1)
        for i, o in enumerate(objectives)
    )


def test_promotions_take_the_pareto_front_spread_out() -> None:
    # Nine finished trials: three move up, all from the front (trials 1, 2, 5, 9), its ends first.
    objectives = [(0.0, 1.0), (0.2, 0.8), (0.5, 0.9), (0.6, 0.6), (0.5, 0.5), (0.9, 0.9)]
    objectives += [(1.0, 1.0), (0.8, 0.7), (1.0, 0.0)]
    history = _rung_zero(objectives)
    proposals = list(MOASHA(SPACE, seed=0).ask(history, history.budget(), 4))
    assert [p.previous_trial_id for p in proposals] == ["1", "9", "5", None]
    assert proposals[0].config == {"x": 0.0, "epochs": 3}


@pytest.mark.parametrize(("selector", "third"), [("epsnet", "3"), ("nsga2", "4")])
def test_mo_selector_decides_the_order_inside_the_front(selector: str, third: str) -> None:
    # The front is trials 1 to 5 on a bent curve. Both selectors take its ends (1, 5) first;
    # then the epsilon-net takes the point farthest from them (3), NSGA-II the one with the
    # largest crowding distance (4: 0.8 + 0.4, against 0.4 + 0.4 for 3).
    objectives = [(0.0, 1.0), (0.1, 0.5), (0.2, 0.4), (0.5, 0.1), (1.0, 0.0)]
    objectives += [(0.9, 0.9), (1.0, 1.0), (0.8, 0.7), (0.6, 0.6)]
    history = _rung_zero(objectives)
    optimizer = MOASHA(SPACE, MOHalvingSettings(mo_selector=selector), seed=0)
    proposals = list(optimizer.ask(history, history.budget(), 3))
    assert [p.previous_trial_id for p in proposals] == ["1", "5", third]


def test_an_unknown_mo_selector_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="mo_selector must be one of"):
        neps.run(
            lambda x, epochs: [x, 1 - x],
            SPACE,
            root_directory=tmp_path / "run",
            optimizer=("mo_asha", {"mo_selector": "nsga3"}),
            evaluations_to_spend=2,
        )


def test_one_objective_is_plain_asha() -> None:
    history = history_of(
        make_trial(i + 1, {"x": i / 10, "epochs": 1}, objective=v, fidelity=1)
        for i, v in enumerate([0.5, 0.1, 0.9])
    )
    [proposal] = MOASHA(SPACE, seed=0).ask(history, history.budget(), 1)
    assert proposal.previous_trial_id == "2"


def test_one_objective_ranks_numbers_beside_one_element_lists() -> None:
    history = history_of(
        make_trial(i + 1, {"x": i / 10, "epochs": 1}, objective=v, fidelity=1)
        for i, v in enumerate([0.5, [0.1], (0.9,), 0.3, 0.7, [0.2]])
    )
    proposals = MOASHA(SPACE, seed=0).ask(history, history.budget(), 2)
    assert [p.previous_trial_id for p in proposals] == ["2", "6"]


def test_inconsistent_objectives_are_refused() -> None:
    mixed = _rung_zero([(0.1, 0.2)])
    mixed.put(make_trial(2, {"x": 0.5, "epochs": 1}, objective=(0.1, 0.2, 0.3), fidelity=1))
    with pytest.raises(SettingsError, match=r"different numbers of objectives: 2 \(trial 1\)"):
        MOASHA(SPACE, seed=0).check_objectives(mixed)


def test_objective_checks_read_the_trials_changed_since_the_last_ask() -> None:
    """Every ask read every trial's objective (53 ms at 8,000 trials, under the storage lock)."""
    history = CountingHistory()
    for i in range(1, 101):
        history.put(make_trial(i, {"x": i / 100, "epochs": 1}, objective=(i, -i), fidelity=1))
    optimizer = MOASHA(SPACE, seed=0)
    optimizer.check_objectives(history)
    history.reads = 0
    history.put(make_trial(101, {"x": 0.5, "epochs": 1}, objective=(0.5, 0.5), fidelity=1))
    optimizer.check_objectives(history)
    assert history.reads == 1


def _refusal(optimizer: MOASHA, history: Any) -> str | None:
    try:
        optimizer.check_objectives(history)
    except SettingsError as error:
        return str(error)
    return None


def test_objective_checks_follow_trials_that_change_as_a_fresh_check_does() -> None:
    """A kept optimizer's counts follow new versions of trials (a result withdrawn, fixed)."""
    kept = MOASHA(SPACE, seed=0)
    history = _rung_zero([(0.1, 0.2), (0.3, 0.1)])
    at = {"x": 0.5, "epochs": 1}
    steps = [
        (make_trial(3, at, "evaluating", fidelity=1), None),
        (make_trial(3, at, objective=(0.1, 0.2, 0.3), fidelity=1), "2 (trial 1), 3 (trial 3)"),
        (make_trial(3, at, "failed", fidelity=1), None),
        (make_trial(4, at, objective=("low", 0.1), fidelity=1), "trial 4 reported ('low', 0.1)"),
        (make_trial(4, at, objective=(0.2, 0.2), fidelity=1), None),
        (make_trial(1, {"x": 0.0, "epochs": 1}, objective=0.4, fidelity=1), "1 (trial 1), 2"),
    ]
    assert _refusal(kept, history) is None
    for trial, refused in steps:
        history.put(trial)
        found = _refusal(kept, history)
        assert found == _refusal(MOASHA(SPACE, seed=0), history)
        assert (found is None) if refused is None else (refused in str(found)), (trial, found)


@pytest.mark.parametrize(
    "name",
    ["mo_asha", "moasha", "mo_hyperband"],  # "moasha": NePS's spelling of "mo_asha"
)
def test_a_multi_objective_run_promotes_and_reports_the_front(tmp_path: Path, name: str) -> None:
    seen: dict[str, Any] = {}

    def evaluate_pipeline(
        pipeline_directory: Path, previous_pipeline_directory: Path | None, x: float, epochs: int
    ) -> dict[str, Any]:
        if previous_pipeline_directory is not None:
            seen[str(pipeline_directory)] = (previous_pipeline_directory / "ckpt").read_text()
        (pipeline_directory / "ckpt").write_text(str(epochs))
        error = x**2 + 1.0 / epochs
        return {"objective_to_minimize": [error, (1.0 - x) ** 2], "cost": float(epochs)}

    summary = neps.run(
        evaluate_pipeline,
        SPACE,
        root_directory=tmp_path / "run",
        optimizer=name,
        cost_to_spend=120,
        seed=3,
    )
    assert seen, "no promotion happened"
    assert set(seen.values()) <= {"1", "3"}
    assert summary.budget.used_cost <= 120
    assert len(summary.pareto_front) >= 3
    assert all(isinstance(t.objective, tuple) for t in summary.pareto_front)
