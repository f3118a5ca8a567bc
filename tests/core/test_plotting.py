"""Plots of a run as figures and as PNG files (the ``plot`` extra: matplotlib)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image

import neps_core as neps
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial, TrialState
from neps_core.plotting import (
    NothingToPlotError,
    plot_learning_curves,
    plot_pareto_front,
    plot_trajectory,
)

OBJECTIVES = [0.8, 0.5, 0.9, 0.3, 0.4]


def _saved_png(figure: Any, path: Path) -> tuple[int, int]:
    figure.savefig(path)
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


@pytest.fixture
def single_run(tmp_path: Path) -> Path:
    """Five trials with known objectives, in order, and a cost of 2 each."""
    values = iter(OBJECTIVES)
    root = tmp_path / "single"
    neps.run(
        lambda x: {"objective_to_minimize": next(values), "cost": 2.0},
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=len(OBJECTIVES),
    )
    return root


def test_neps_plot_saves_every_plot_that_fits(single_run: Path, tmp_path: Path) -> None:
    # NePS scripts end with neps.plot(root); it was an AttributeError.
    written = neps.plot(single_run)
    assert written == [single_run / "plots" / "trajectory.png"]
    with Image.open(written[0]) as image:
        assert image.format == "PNG"
    assert neps.plot(single_run, output_dir=tmp_path / "pngs") == [
        tmp_path / "pngs" / "trajectory.png"
    ]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        neps.plot(tmp_path / "nowhere")


#: Counts the opens of the run's journal while ``write_plots`` runs, in a process of its own
#: (an audit hook cannot be removed again).
COUNT_READS = """
import sys
from neps_core.plotting import NothingToPlotError, write_plots
opened = []
sys.addaudithook(
    lambda event, args: opened.append(args[0])
    if event == "open" and str(args[0]).endswith("journal.jsonl") else None
)
try:
    write_plots(sys.argv[1])
except NothingToPlotError:
    pass
print(len(opened))
"""


def test_write_plots_reads_the_run_once(single_run: Path) -> None:
    """Each plot read the whole run again: three replays of the journal for ``neps-core plot``
    (9.2 s instead of 5.4 for 6,000 trials with 60 heartbeats each)."""
    completed = subprocess.run(
        [sys.executable, "-c", COUNT_READS, str(single_run)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.split() == ["1"]


def test_neps_plot_keywords_work_at_their_defaults_and_say_what_to_use_otherwise(
    single_run: Path,
) -> None:
    """They were a bare TypeError ("unexpected keyword argument 'scientific_mode'")."""
    written = neps.plot(
        single_run,
        scientific_mode=False,
        key_to_extract=None,
        filename="incumbent_trajectory",
        n_workers=4,
        log_y=True,
        dpi=100,
    )
    assert written == [single_run / "plots" / "trajectory.png"]
    refused = {
        "scientific_mode": (True, "on its own"),
        "key_to_extract": ("cost", "x_axis='cost'"),
        "filename": ("mine", r"savefig\(path, dpi=...\)"),
        "log_y": (False, r"set_yscale"),
    }
    for name, (value, instead) in refused.items():
        with pytest.raises(TypeError, match=rf"plot\({name}={value!r}\) is NePS's.*{instead}"):
            neps.plot(single_run, **{name: value})
    with pytest.raises(TypeError, match="unexpected keyword argument 'scientific'"):
        neps.plot(single_run, scientific=True)


def test_a_notebook_shows_the_figures_inline(single_run: Path) -> None:
    # Built without pyplot, a figure had no renderer in a notebook: the last expression of a
    # cell showed "<Figure size 700x450 with 1 Axes>". IPython shows ``_repr_png_`` as an image.
    png = plot_trajectory(single_run)._repr_png_()
    assert png.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(png)).size == (700, 450)


def test_trajectory_figure_and_png(single_run: Path, tmp_path: Path) -> None:
    figure = plot_trajectory(single_run)
    axes = figure.axes[0]
    (best_line,) = axes.get_lines()
    assert list(best_line.get_ydata()) == [0.8, 0.5, 0.5, 0.3, 0.3]
    assert list(best_line.get_xdata()) == [1, 2, 3, 4, 5]
    scatter = axes.collections[0]
    assert [float(y) for _, y in scatter.get_offsets()] == OBJECTIVES
    assert _saved_png(figure, tmp_path / "trajectory.png") == (700, 450)
    by_cost = plot_trajectory(single_run, x_axis="cost")
    assert list(by_cost.axes[0].get_lines()[0].get_xdata()) == [2.0, 4.0, 6.0, 8.0, 10.0]
    with pytest.raises(ValueError, match="x_axis"):
        plot_trajectory(single_run, x_axis="time")


def test_a_trajectory_by_cost_of_a_run_without_costs_says_so(tmp_path: Path) -> None:
    # Every point was drawn at a cost of 0.
    root = tmp_path / "costless"
    neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=3)
    with pytest.raises(
        NothingToPlotError,
        match=r"reported a cost: plot with x_axis='evaluations' \(--x-axis evaluations",
    ):
        plot_trajectory(root, x_axis="cost")
    # Asked of every plot at once, it was skipped: no file, no word (or a wrong reason).
    with pytest.raises(
        NothingToPlotError,
        match=r"reported a cost: plot with x_axis='evaluations' \(--x-axis evaluations",
    ):
        neps.plot(root, x_axis="cost")
    # But no trajectory to draw is no error, whatever its axis: a multi-objective run still
    # gets its Pareto front (it had been stopped by the cost axis it does not use).
    several = tmp_path / "several"
    neps.run(lambda x: (x, 1.0 - x), {"x": neps.Float(0.0, 1.0)}, root_directory=several,
             evaluations_to_spend=3)  # fmt: skip
    assert [p.name for p in neps.plot(several, x_axis="cost")] == ["pareto_front.png"]


def test_pareto_front_of_a_multi_objective_run(tmp_path: Path) -> None:
    points = iter([(1.0, 5.0), (2.0, 2.0), (3.0, 3.0), (5.0, 1.0), (4.0, 4.0)])
    root = tmp_path / "multi"
    neps.run(
        lambda x: next(points),
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=5,
    )
    figure = plot_pareto_front(root)
    (front,) = figure.axes[0].get_lines()
    assert list(zip(front.get_xdata(), front.get_ydata(), strict=True)) == [
        (1.0, 5.0),
        (2.0, 2.0),
        (5.0, 1.0),
    ]
    assert len(figure.axes[0].collections[0].get_offsets()) == 5
    assert _saved_png(figure, tmp_path / "pareto.png") == (700, 450)
    with pytest.raises(NothingToPlotError, match="single-objective"):
        plot_trajectory(root)


def test_the_front_of_three_objectives_is_drawn_for_the_chosen_pair(tmp_path: Path) -> None:
    # All four are non-dominated in three objectives; seen from the first two, (3, 3) and
    # (2, 4) are beaten by (2, 2) and the old line zigzagged through them.
    points = iter([(1.0, 5.0, 9.0), (2.0, 2.0, 9.0), (2.0, 4.0, 1.0), (3.0, 3.0, 0.0)])
    root = tmp_path / "three"
    neps.run(lambda x: next(points), {"x": neps.Float(0.0, 1.0)}, root_directory=root,
             evaluations_to_spend=4)  # fmt: skip
    (front,) = plot_pareto_front(root).axes[0].get_lines()
    assert list(zip(front.get_xdata(), front.get_ydata(), strict=True)) == [(1.0, 5.0), (2.0, 2.0)]
    (front,) = plot_pareto_front(root, objectives=(2, 0)).axes[0].get_lines()
    assert list(zip(front.get_xdata(), front.get_ydata(), strict=True)) == [
        (0.0, 3.0),
        (1.0, 2.0),
        (9.0, 1.0),
    ]
    numpy_pair = plot_pareto_front(root, objectives=np.array([2, 0])).axes[0].get_lines()[0]
    assert list(numpy_pair.get_xdata()) == [0.0, 1.0, 9.0]
    with pytest.raises(NothingToPlotError, match=r"3 objectives, so the indices run from 0 to 2"):
        plot_pareto_front(root, objectives=(0, 5))
    # a diagonal, a wrong length, and no int indices (a float, a string: a bare TypeError before)
    for pair in [(1, 1), (0,), (0, 1, 2), (0, 1.0), "01", (True, False), None]:
        with pytest.raises(ValueError, match=rf"objectives={re.escape(repr(pair))}: give two"):
            plot_pareto_front(root, objectives=pair)  # type: ignore[arg-type]


def test_a_multi_objective_fidelity_run_says_why_it_has_no_curves(tmp_path: Path) -> None:
    root = tmp_path / "multi_fidelity"
    neps.run(
        lambda x, epochs: (x, float(epochs)),
        {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)},
        root_directory=root,
        evaluations_to_spend=6,
    )
    with pytest.raises(NothingToPlotError, match="several objectives"):
        plot_learning_curves(root)


def test_a_fidelity_run_whose_trials_all_failed_says_so(tmp_path: Path) -> None:
    def fails(x: float, epochs: int) -> float:
        raise RuntimeError("diverged")

    root = tmp_path / "all_failed"
    neps.run(
        fails,
        {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)},
        root_directory=root,
        evaluations_to_spend=3,
        ignore_errors=True,
    )
    with pytest.raises(NothingToPlotError, match="no trial has succeeded yet"):
        plot_learning_curves(root)
    # neps.plot returned [] here without a word, while `neps-core plot` failed.
    with pytest.raises(NothingToPlotError, match=r"finished with an objective \(3 failed\)"):
        neps.plot(root)
    assert not (root / "plots").exists()
    # The refusal read the run again: a trial finishing in between made it say "nothing to
    # plot ... (1 success)" of a run it had just read anew.
    completed = subprocess.run(
        [sys.executable, "-c", COUNT_READS, str(root)], capture_output=True, text=True, check=True
    )
    assert completed.stdout.split() == ["1"]


def test_single_objective_run_has_no_pareto_front(single_run: Path) -> None:
    with pytest.raises(NothingToPlotError, match="multi-objective"):
        plot_pareto_front(single_run)


def test_reported_learning_curves(tmp_path: Path) -> None:
    root = tmp_path / "curves"

    def evaluate(x: float) -> dict[str, Any]:
        return {"objective_to_minimize": x, "learning_curve": [1.0, 0.6, 0.4, x]}

    neps.run(evaluate, {"x": neps.Float(0.0, 0.3)}, root_directory=root, evaluations_to_spend=3)
    figure = plot_learning_curves(root)
    lines = figure.axes[0].get_lines()
    assert len(lines) == 3
    assert all(list(line.get_xdata()) == [1.0, 2.0, 3.0, 4.0] for line in lines)
    assert all(list(line.get_ydata())[:3] == [1.0, 0.6, 0.4] for line in lines)
    assert _saved_png(figure, tmp_path / "curves.png") == (700, 450)
    with pytest.raises(NothingToPlotError, match="learning_curve"):
        plot_learning_curves(_plain_run(tmp_path))


def test_of_many_learning_curves_the_best_are_drawn_and_the_title_says_so(
    tmp_path: Path,
) -> None:
    # max_curves kept the first curves by trial id: the best trial of a long run was missing.
    root = tmp_path / "many"
    summary = neps.run(
        lambda x: {"objective_to_minimize": x, "learning_curve": [1.0, x]},
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=12,
        optimizer="random_search",
    )
    ranked = sorted(summary.trials, key=lambda trial: trial.objective)  # type: ignore[arg-type, return-value]
    best = sorted((t for t in ranked[:5]), key=lambda trial: int(trial.id))
    axes = plot_learning_curves(root, max_curves=5).axes[0]
    assert [line.get_label() for line in axes.get_lines()] == [f"trial {t.id}" for t in best]
    assert axes.get_title().endswith(": the 5 best of 12")
    assert len(plot_learning_curves(root).axes[0].get_lines()) == 12
    assert plot_learning_curves(root).axes[0].get_title() == "Learning curves (many)"
    for wrong in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"at least 1, got {wrong!r}"):
            plot_learning_curves(root, max_curves=wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"at least 1, got 2\.5"):  # before any file is written
        neps.plot(root, max_curves=2.5)  # type: ignore[arg-type]
    assert not (root / "plots").exists()


def test_of_many_curves_of_a_multi_objective_run_the_pareto_front_is_drawn(
    tmp_path: Path,
) -> None:
    """ "The 5 best" were the first five trials by id: the front was left out without a word."""
    root = tmp_path / "many"
    summary = neps.run(
        lambda x: {"objective_to_minimize": [x, x], "learning_curve": [1.0, x]},
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=12,
        optimizer="random_search",
        seed=3,
    )
    ranked = sorted(summary.trials, key=lambda trial: trial.objective)  # type: ignore[arg-type, return-value]
    best = sorted(ranked[:5], key=lambda trial: int(trial.id))
    axes = plot_learning_curves(root, max_curves=5).axes[0]
    assert [line.get_label() for line in axes.get_lines()] == [f"trial {t.id}" for t in best]
    assert f"trial {summary.pareto_front[0].id}" in [line.get_label() for line in axes.get_lines()]


def _plain_run(tmp_path: Path) -> Path:
    root = tmp_path / "plain"
    neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=1)
    return root


class PromotingOptimizer(Optimizer):
    """Successive promotion: continue the newest finished trial one fidelity step higher."""

    name: ClassVar[str] = "test_promoting"
    supports_fidelity: ClassVar[bool] = True

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        rng = np.random.default_rng(len(trials))
        continued = {t.previous_trial_id for t in trials.values()}
        for trial in sorted(trials.values(), key=lambda t: -int(t.id)):
            epochs = trial.config["epochs"]
            if trial.state is TrialState.SUCCESS and trial.id not in continued and epochs < 3:
                return [Proposal({**trial.config, "epochs": epochs + 1}, trial.id)]
        return [Proposal({"x": float(rng.uniform()), "epochs": 1})]


class PromotingPlugin:
    @neps.hookimpl
    def neps_register_optimizers(self) -> list[type[Optimizer]]:
        return [PromotingOptimizer]


def test_learning_curves_of_a_fidelity_run_follow_promotions(tmp_path: Path) -> None:
    root = tmp_path / "fidelity"
    neps.run(
        lambda x, epochs: x / epochs,
        {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 3)},
        root_directory=root,
        evaluations_to_spend=6,
        optimizer="test_promoting",
        plugins=[PromotingPlugin()],
    )
    figure = plot_learning_curves(root)
    axes = figure.axes[0]
    assert [list(line.get_xdata()) for line in axes.get_lines()] == [[1.0, 2.0, 3.0]] * 2
    for line in axes.get_lines():
        x = line.get_ydata()[0]
        assert list(line.get_ydata()) == pytest.approx([x, x / 2, x / 3])
    assert axes.get_xlabel() == "epochs"
    assert _saved_png(figure, tmp_path / "fidelity.png") == (700, 450)


def test_each_improvement_of_the_best_line_is_marked(single_run: Path, tmp_path: Path) -> None:
    (best_line,) = plot_trajectory(single_run).axes[0].get_lines()
    assert best_line.get_marker() == "o" and best_line.get_markevery() == [0, 1, 3]
    # Only the last trial reached the top fidelity: its best line of one point drew nothing.
    root = tmp_path / "one_at_the_top"
    neps.run(
        lambda x, epochs: x / epochs,
        {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 3)},
        root_directory=root,
        evaluations_to_spend=3,
        optimizer="test_promoting",
        plugins=[PromotingPlugin()],
    )
    (best_line,) = plot_trajectory(root).axes[0].get_lines()
    assert list(best_line.get_xdata()) == [3]
    assert best_line.get_marker() == "o" and best_line.get_markevery() == [0]


def test_a_directory_without_a_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No neps_core run"):
        plot_trajectory(tmp_path)


def test_the_best_line_of_a_fidelity_run_counts_the_highest_fidelity_only(
    root: Path, optimistic_fidelity_run: neps.Summary
) -> None:
    """It ended at an optimistic cheap evaluation that the summary never calls the best."""
    summary = optimistic_fidelity_run
    axes = plot_trajectory(root).axes[0]
    (best_line,) = axes.get_lines()
    assert len(axes.collections[0].get_offsets()) == 12
    assert min(best_line.get_ydata()) == summary.best_objective
    assert list(best_line.get_xdata())[-1] == 12


def test_learning_curves_without_a_finite_number_are_not_drawn(tmp_path: Path) -> None:
    # A run whose curves were all NaN (diverged training) drew an empty figure.
    root = tmp_path / "diverged"

    def evaluate(x: float) -> dict[str, Any]:
        curve = [float("nan")] * 3 if x < 0.5 else [1.0, float("nan"), x]
        return {"objective_to_minimize": x, "learning_curve": curve}

    neps.run(evaluate, {"x": neps.Categorical([0.1, 0.9])}, root_directory=root,
             evaluations_to_spend=2, optimizer="grid_search")  # fmt: skip
    lines = plot_learning_curves(root).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["trial 2"]
    only_nan = tmp_path / "only_nan"
    neps.run(
        lambda x: {"objective_to_minimize": x, "learning_curve": [float("nan")]},
        {"x": neps.Float(0.0, 1.0)},
        root_directory=only_nan,
        evaluations_to_spend=2,
    )
    with pytest.raises(NothingToPlotError, match="hold no finite number"):
        plot_learning_curves(only_nan)
