"""What the plots draw of unusual values: failed trials' placeholders, and objectives near the
largest float."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import neps_core as neps
from neps_core.inspection import read_run
from neps_core.plot_scale import axis_scale
from neps_core.plotting import NothingToPlotError, plot_learning_curves, plot_pareto_front

HUGE = sys.float_info.max
FIDELITY_SPACE = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}


def _fails_above(limit: float, result: Any) -> Any:
    def evaluate(x: float, epochs: int) -> Any:
        if x > limit:
            raise RuntimeError("diverged")
        return result(x, epochs)

    return evaluate


def test_a_multi_objective_run_gets_no_curves_of_its_failed_trials_placeholders(
    tmp_path: Path,
) -> None:
    """Its learning_curves.png drew only the failed trials' objective_value_on_error."""
    root = tmp_path / "run"
    neps.run(
        _fails_above(0.5, lambda x, epochs: [x + 1 / epochs, 1 - x]),
        FIDELITY_SPACE,
        root_directory=root,
        optimizer="random_search",
        evaluations_to_spend=8,
        objective_value_on_error=1.0,
        ignore_errors=True,
        seed=1,
    )
    assert neps.status(root).counts["failed"] > 0
    with pytest.raises(NothingToPlotError, match="several objectives"):
        plot_learning_curves(root)
    assert [path.name for path in neps.plot(root)] == ["pareto_front.png"]


def test_fidelity_curves_are_of_successful_trials_only(tmp_path: Path) -> None:
    root = tmp_path / "run"
    summary = neps.run(
        _fails_above(0.5, lambda x, epochs: x / epochs),
        FIDELITY_SPACE,
        root_directory=root,
        optimizer="random_search",
        evaluations_to_spend=8,
        objective_value_on_error=7.0,
        ignore_errors=True,
        seed=1,
    )
    succeeded = {t.id for t in summary.trials if t.state is neps.TrialState.SUCCESS}
    assert 0 < len(succeeded) < 8
    lines = plot_learning_curves(root).axes[0].get_lines()
    assert {line.get_label() for line in lines} == {f"trial {i}" for i in succeeded}
    assert all(7.0 not in line.get_ydata() for line in lines)


@pytest.mark.parametrize("optimizer", ["random_search", "mo_asha"])
def test_objectives_near_the_largest_float_are_plotted_on_a_scaled_axis(
    tmp_path: Path, optimizer: str
) -> None:
    """The plot raised "arange: cannot compute length" from inside matplotlib."""
    root = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # mo_asha's ordering overflowed with RuntimeWarnings
        neps.run(
            lambda x, epochs: [(2 * x - 1) * HUGE, (1 - 2 * x) * HUGE],
            FIDELITY_SPACE,
            root_directory=root,
            optimizer=optimizer,
            evaluations_to_spend=8,
            seed=1,
        )
        assert [path.name for path in neps.plot(root)] == ["pareto_front.png"]
    figure = plot_pareto_front(root)
    assert figure.axes[0].get_xlabel() == "objective 0 (units of 1e308)"


def test_single_objectives_near_the_largest_float_are_plotted_on_a_scaled_axis(
    tmp_path: Path,
) -> None:
    root = tmp_path / "run"
    neps.run(
        lambda x, epochs: (2 * x - 1) * HUGE,
        FIDELITY_SPACE,
        root_directory=root,
        optimizer="random_search",
        evaluations_to_spend=6,
        seed=1,
    )
    assert [path.name for path in neps.plot(root)] == ["trajectory.png", "learning_curves.png"]
    label = plot_learning_curves(root).axes[0].get_ylabel()
    assert label == "objective_to_minimize (units of 1e308)"


def test_ordinary_values_are_not_scaled() -> None:
    assert axis_scale([-1e300, 2.0, 1e306]) == (1.0, "")
    assert axis_scale([]) == (1.0, "")
    assert axis_scale([1e307, -HUGE]) == (1e308, " (units of 1e308)")


def test_a_fidelity_run_whose_space_cannot_be_rebuilt_gets_its_curves_by_fidelity(
    tmp_path: Path,
) -> None:
    """A lambda among the choices: no learning_curves.png, and 'the space has no fidelity'."""
    root = tmp_path / "run"
    space = {**FIDELITY_SPACE, "act": neps.Categorical([lambda v: v, lambda v: -v])}
    neps.run(
        lambda x, epochs, act: x + 1 / epochs,
        space,
        root_directory=root,
        optimizer="hyperband",
        evaluations_to_spend=13,
    )
    assert read_run(root).space is None  # what it is about: the space is not rebuilt
    axes = plot_learning_curves(root).axes[0]
    assert axes.get_xlabel() == "epochs"
    assert [line.get_label() for line in axes.get_lines()][:1] == ["trial 1"]
    assert (root / "plots" / "learning_curves.png") in neps.plot(root)
