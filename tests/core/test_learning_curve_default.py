"""NePS's default learning curve: a result that reports none gets its objective as one point
(``learning_curve_if_not_provided="objective_to_minimize"`` in NePS's runtime)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

import neps_core as neps

SPACE = {"x": neps.Float(0.0, 1.0)}


def _only_report(root: Path) -> tuple[neps.Summary, Any, dict[str, Any]]:
    summary = neps.status(root)
    (trial,) = summary.trials
    on_disk = yaml.safe_load((root / "configs" / f"config_{trial.id}" / "report.yaml").read_text())
    return summary, trial.report, on_disk


def test_a_number_returned_is_its_own_one_point_curve_wherever_the_report_is_read(
    root: Path,
) -> None:
    # learning_curve was None where NePS stores [objective_to_minimize].
    neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=1)
    summary, report, on_disk = _only_report(root)
    assert report.learning_curve == (report.objective_to_minimize,)
    assert report.reported_learning_curve is None  # nothing more than the objective
    assert on_disk["learning_curve"] == [report.objective_to_minimize]
    full, _ = summary
    assert full["learning_curve"].tolist() == [[report.objective_to_minimize]]


@pytest.mark.parametrize(
    ("result", "objective_on_error", "curve"),
    [
        ({"objective_to_minimize": 0.5, "learning_curve": [0.9, 0.5]}, None, (0.9, 0.5)),
        ({"objective_to_minimize": 0.5, "cost": 2.0}, None, (0.5,)),
        ({"objective_to_minimize": 0.5, "exception": "bad data"}, None, (0.5,)),
        (ValueError("returned"), None, None),
        (ValueError("returned"), 3.0, (3.0,)),  # NePS: the objective stood in, as a curve
        ("F_out_of_memory", 3.0, (3.0,)),
        ({"objective_to_minimize": float("nan")}, 3.0, (3.0,)),
        ((0.5, 0.25), None, None),  # several objectives: no curve of floats holds them
    ],
)
def test_the_default_curve_follows_the_stored_objective_as_in_neps(
    root: Path, result: Any, objective_on_error: float | None, curve: tuple[float, ...] | None
) -> None:
    neps.run(
        lambda x: result,
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
        objective_value_on_error=objective_on_error,
    )
    _, report, _ = _only_report(root)
    assert report.learning_curve == curve


def test_a_raised_error_has_no_curve_as_in_neps(root: Path) -> None:
    def evaluate(x: float) -> float:
        raise RuntimeError("diverged")

    neps.run(
        evaluate,
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
        ignore_errors=True,
        objective_value_on_error=3.0,
    )
    _, report, on_disk = _only_report(root)
    assert report.objective_to_minimize == 3.0
    assert report.learning_curve is None and on_disk["learning_curve"] is None


def test_a_nan_objective_without_a_substitute_is_a_default_curve_too(root: Path) -> None:
    neps.run(lambda x: math.nan, SPACE, root_directory=root, evaluations_to_spend=1)
    _, report, _ = _only_report(root)
    assert math.isnan(report.learning_curve[0]) and report.reported_learning_curve is None


def test_results_told_or_saved_later_get_the_default_curve(root: Path) -> None:
    with neps.AskAndTell(SPACE, root) as session:
        told = session.ask()
        session.tell(told, 0.25)
        saved = session.ask()
    neps.save_pipeline_results(0.75, saved.id, root)
    curves = {t.id: t.report.learning_curve for t in neps.status(root).trials}
    assert curves == {told.id: (0.25,), saved.id: (0.75,)}
