"""Plots of a run: the incumbent trajectory, the Pareto front and learning curves.

Needs the ``plot`` extra (``pip install 'neps-core[plot]'``, i.e. matplotlib), imported only
when a plot is made. Every function reads the run in ``root_directory`` (also while workers
are still writing) and returns a ``matplotlib.figure.Figure`` built without pyplot, so
nothing global changes and no display is needed; save it with ``figure.savefig("x.png")``.
A notebook shows it inline (``neps_core.figures``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neps_core.config import run_directory
from neps_core.inspection import RunSnapshot, read_run
from neps_core.models import Trial, TrialState
from neps_core.plot_defaults import FIRST_TWO_OBJECTIVES, MAX_CURVES, PLOT_FILES
from neps_core.plot_scale import axis_scale
from neps_core.summary import at_top_fidelity, best_first, trajectory_rows
from neps_core.user_paths import user_path
from neps_core.validators import is_index

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOT_EXTRA_HINT = "plotting needs matplotlib: pip install 'neps-core[plot]'"


class NothingToPlotError(ValueError):
    """The run has no data of the kind a plot needs (yet)."""


class NoCostToPlotError(NothingToPlotError):
    """A plot by cost was asked for a run whose trials report no cost: a wrong request, not
    a plot that does not fit the run yet."""


def _figure(title: str) -> tuple[Figure, Axes]:
    try:
        from neps_core.figures import RunFigure
    except ImportError as error:
        raise ImportError(PLOT_EXTRA_HINT) from error
    figure = RunFigure(figsize=(7.0, 4.5), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    return figure, axes


def write_plots(
    root_directory: str | Path,
    *,
    output_dir: str | Path | None = None,
    x_axis: str = "evaluations",
    max_curves: int = MAX_CURVES,
) -> list[Path]:
    """Save every plot that fits the run as PNG (default: ``<root_directory>/plots``).

    The trajectory (single objective), the Pareto front (several) and the learning curves
    (when trials reported them, the ``max_curves`` best); returns the files written, none
    while no trial has finished yet.

    Raises:
        NoCostToPlotError: ``x_axis="cost"`` for a run whose trials reported no cost.
        NothingToPlotError: Trials finished, but none with an objective to draw (all failed,
            say); this returned no files as a run in progress does.
    """
    root = run_directory(root_directory)
    output = user_path(output_dir, "output_dir") if output_dir is not None else root / "plots"
    _check_x_axis(x_axis)
    _check_max_curves(max_curves)
    run = read_run(root)  # once for all plots: reading a long run is most of their cost
    plots = (
        lambda: _trajectory(run, x_axis),
        lambda: _pareto_front(run, FIRST_TWO_OBJECTIVES),
        lambda: _learning_curves(run, max_curves),
    )
    makers = dict(zip(PLOT_FILES, plots, strict=True))
    written = []
    for name, make in makers.items():
        try:
            figure = make()
        except NoCostToPlotError:
            raise
        except NothingToPlotError:
            continue
        output.mkdir(parents=True, exist_ok=True)
        figure.savefig(output / name)
        written.append(output / name)
    if not written:
        _refuse_finished_run(run)
    return written


def _refuse_finished_run(run: RunSnapshot) -> None:
    """Raise for a run with finished trials of which none drew a plot; a run in progress
    (nothing finished yet) has nothing to plot yet, which is no error. Judged on the snapshot
    the plots were drawn from: a trial finishing since must not make the refusal contradict
    itself."""
    finished = Counter(t.state.value for t in run.history.values() if t.state.is_final)
    if finished:
        states = ", ".join(f"{count} {state}" for state, count in sorted(finished.items()))
        raise NothingToPlotError(
            f"Nothing to plot: no trial of {run.root_directory} finished with an objective "
            f"({states})"
        )


def plot_trajectory(root_directory: str | Path, *, x_axis: str = "evaluations") -> Figure:
    """Each finished trial's objective and the best objective so far, a dot at each of its
    improvements (the best at the highest fidelity reached, as in the summary).

    Args:
        root_directory: The run's root directory.
        x_axis: ``"evaluations"`` (finished trials, in finishing order) or ``"cost"``
            (cumulative reported cost).

    Raises:
        NothingToPlotError: No trial succeeded with a single objective yet, or, for
            ``x_axis="cost"``, none reported a cost.
    """
    _check_x_axis(x_axis)
    return _trajectory(read_run(root_directory), x_axis)


def _check_x_axis(x_axis: str) -> None:
    if x_axis not in ("evaluations", "cost"):
        raise ValueError(f"x_axis must be 'evaluations' or 'cost', got {x_axis!r}")


def _check_max_curves(max_curves: int) -> None:
    if isinstance(max_curves, bool) or not isinstance(max_curves, int) or max_curves < 1:
        raise ValueError(f"max_curves must be a whole number of at least 1, got {max_curves!r}")


def _trajectory(run: RunSnapshot, x_axis: str) -> Figure:
    root_directory = run.root_directory
    xs: list[float] = []
    objectives: list[float] = []
    best: list[tuple[float, float]] = []
    for index, row in enumerate(trajectory_rows(run.history.values()), start=1):
        objective, so_far = row["objective_to_minimize"], row["best_objective_so_far"]
        if row["state"] != TrialState.SUCCESS.value or not isinstance(objective, float):
            continue
        cost = row["cumulative_cost"]
        xs.append(float(cost) if x_axis == "cost" and isinstance(cost, float) else index)
        objectives.append(objective)
        if isinstance(so_far, float):  # blank before the first trial at the top fidelity
            best.append((xs[-1], so_far))
    if not xs:
        raise NothingToPlotError(f"No successful single-objective trial in {root_directory}")
    reported = [t.report for t in run.history.values() if t.report is not None]
    if x_axis == "cost" and all(report.cost is None for report in reported):
        raise NoCostToPlotError(
            f"No trial in {root_directory} reported a cost: plot with x_axis='evaluations' "
            "(--x-axis evaluations on the command line)"
        )
    scale, note = axis_scale(objectives)
    objectives = [objective / scale for objective in objectives]
    best = [(x, so_far / scale) for x, so_far in best]
    figure, axes = _figure(f"Incumbent trajectory ({run.root_directory.name})")
    axes.scatter(xs, objectives, s=14, alpha=0.5, label="trial objective")
    improved = [i for i, point in enumerate(best) if i == 0 or point[1] < best[i - 1][1]]
    axes.step(  # a marker at each improvement: a line of one point draws nothing without it
        *zip(*best, strict=True),
        where="post",
        linewidth=2,
        marker="o",
        markevery=improved,
        label="best so far",
    )
    axes.set_xlabel("cumulative cost" if x_axis == "cost" else "finished trials")
    if x_axis == "evaluations":
        from matplotlib.ticker import MaxNLocator

        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(f"objective_to_minimize{note}")
    axes.legend()
    return figure


def plot_pareto_front(
    root_directory: str | Path, *, objectives: Sequence[int] = FIRST_TWO_OBJECTIVES
) -> Figure:
    """All multi-objective results of a run, its Pareto front highlighted.

    The front, as the summary's, is that of the trials at the highest fidelity reached.

    Args:
        root_directory: The run's root directory.
        objectives: The two objective indices to draw against each other.

    Raises:
        ValueError: ``objectives`` is not two different int indices.
        NothingToPlotError: No trial succeeded with (enough) objectives.
    """
    return _pareto_front(read_run(root_directory), _objective_pair(objectives))


def _objective_pair(objectives: Any) -> tuple[int, int]:
    pair = list(objectives) if isinstance(objectives, Iterable) else []
    if len(pair) != 2 or not all(map(is_index, pair)) or pair[0] == pair[1]:
        raise ValueError(f"objectives={objectives!r}: give two different int indices, e.g. (0, 1)")
    return int(pair[0]), int(pair[1])


def _pareto_front(run: RunSnapshot, objectives: Sequence[int]) -> Figure:
    first, second = objectives
    root_directory = run.root_directory
    trials = [
        trial
        for trial in (run.history[i] for i in run.history.ids_in(TrialState.SUCCESS))
        if isinstance(trial.objective, tuple)
    ]
    if not trials:
        raise NothingToPlotError(f"No successful multi-objective trial in {root_directory}")
    count = min(len(t.objective) for t in trials if isinstance(t.objective, tuple))
    if not 0 <= min(first, second) <= max(first, second) < count:
        raise NothingToPlotError(
            f"objectives={tuple(objectives)}: the results in {root_directory} have {count} "
            f"objectives, so the indices run from 0 to {count - 1}"
        )
    points = [_pair(t, first, second) for t in trials]
    front = front_of_pair([_pair(t, first, second) for t in at_top_fidelity(trials)])
    (x_scale, x_note), (y_scale, y_note) = (axis_scale(axis) for axis in zip(*points, strict=True))
    points = [(x / x_scale, y / y_scale) for x, y in points]
    front = [(x / x_scale, y / y_scale) for x, y in front]
    figure, axes = _figure(f"Pareto front ({run.root_directory.name})")
    axes.scatter([p[0] for p in points], [p[1] for p in points], s=14, alpha=0.5, label="trials")
    axes.step(
        [p[0] for p in front],
        [p[1] for p in front],
        where="post",
        marker="o",
        linewidth=2,
        label="Pareto front",
    )
    axes.set_xlabel(f"objective {first}{x_note}")
    axes.set_ylabel(f"objective {second}{y_note}")
    axes.legend()
    return figure


def front_of_pair(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats in both coordinates, left to right.

    Computed on the drawn pair itself: the front of three or more objectives, seen from two of
    them, holds points that the pair alone dominates, and drew a zigzag.
    """
    front: list[tuple[float, float]] = []
    for point in sorted(set(points)):
        if not front or point[1] < front[-1][1]:
            front.append(point)
    return front


def _pair(trial: Trial, first: int, second: int) -> tuple[float, float]:
    objective = trial.objective
    assert isinstance(objective, tuple)
    return objective[first], objective[second]


def plot_learning_curves(root_directory: str | Path, *, max_curves: int = MAX_CURVES) -> Figure:
    """Learning curves: the ``learning_curve`` each trial reported, else objective by fidelity.

    Without reported curves, a fidelity run is drawn as the objective of each configuration
    at every fidelity it reached (promotions are linked through ``previous_trial_id``).

    Args:
        root_directory: The run's root directory.
        max_curves: With more curves than this, only the best are drawn (the title says how
            many of how many): those the summary's best is chosen from first (trials at the
            highest fidelity reached), by their trial's ``objective_to_minimize`` (several
            objectives: by Pareto front, the front first).

    Raises:
        NothingToPlotError: No trial reported a curve, and the run has no fidelity or
            several objectives.
    """
    _check_max_curves(max_curves)
    return _learning_curves(read_run(root_directory), max_curves)


def _learning_curves(run: RunSnapshot, max_curves: int) -> Figure:
    root_directory = run.root_directory
    reported_curves = _reported_curves(run)
    curves = reported_curves or _fidelity_curves(run)
    if not curves:
        raise NothingToPlotError(
            f"No learning curves in {root_directory}: {_why_no_reported_curves(run)} and "
            f"{_why_no_fidelity_curves(run)}"
        )
    drawn = _best_curves(run, curves, max_curves)
    shown = "" if len(drawn) == len(curves) else f": the {len(drawn)} best of {len(curves)}"
    scale, note = axis_scale(y for _, _, ys, _ in drawn for y in ys)
    figure, axes = _figure(f"Learning curves ({run.root_directory.name}){shown}")
    for label, xs, ys, _ in drawn:
        axes.plot(xs, [y / scale for y in ys], marker=".", linewidth=1, alpha=0.8, label=label)
    reported = bool(reported_curves)
    fidelity = run.fidelity_name
    axes.set_xlabel("step" if reported else (fidelity or "fidelity"))
    axes.set_ylabel(("learning curve" if reported else "objective_to_minimize") + note)
    if len(drawn) <= 10:
        axes.legend(fontsize="small")
    return figure


#: A curve's label, its points, and the trial whose objective ranks it.
Curve = tuple[str, list[float], list[float], Trial]


def _best_curves(run: RunSnapshot, curves: list[Curve], count: int) -> list[Curve]:
    """The ``count`` best of ``curves`` in their order, as ``best_first`` ranks their trials
    (those that did not succeed last): the first ``count`` by trial id left out the best
    trial of a long run, without a word, and still did with several objectives."""
    if len(curves) <= count:
        return curves
    places = best_first(run.history.values())

    def rank(index: int) -> int:
        return places.get(curves[index][3].id, len(places))

    return [curves[i] for i in sorted(sorted(range(len(curves)), key=rank)[:count])]


def _why_no_reported_curves(run: RunSnapshot) -> str:
    if any(t.report is not None and t.report.reported_learning_curve for t in run.history.values()):
        return "the learning curves reported hold no finite number"
    return "no trial reported 'learning_curve'"


def _why_no_fidelity_curves(run: RunSnapshot) -> str:
    if run.fidelity_name is None:
        return "the space has no fidelity"
    if _multi_objective(run):
        return "its trials have several objectives (the Pareto front is pareto_front.png)"
    return "no trial has succeeded yet"


def _reported_curves(run: RunSnapshot) -> list[Curve]:
    """The curves with a finite number to draw (all NaN or inf drew an empty figure)."""
    curves = []
    for trial in _by_id(run.history.values()):
        curve = None if trial.report is None else trial.report.reported_learning_curve
        if curve:  # not the default one-point curve: drawn by fidelity instead, if any
            values = list(curve)
            if not any(map(math.isfinite, values)):
                continue
            steps = [float(i) for i in range(1, len(values) + 1)]
            curves.append((f"trial {trial.id}", steps, values, trial))
    return curves


def _multi_objective(run: RunSnapshot) -> bool:
    return any(isinstance(t.objective, tuple) for t in run.history.values())


def _fidelity_curves(run: RunSnapshot) -> list[Curve]:
    """Objective by fidelity of the successful trials of a single-objective run: a failed
    trial's ``objective_value_on_error`` is a placeholder, no point of a curve."""
    if run.fidelity_name is None or _multi_objective(run):
        return []
    done = {
        t.id: t
        for t in _by_id(run.history.values())
        if t.state is TrialState.SUCCESS and isinstance(t.objective, float)
    }
    continued = {t.previous_trial_id for t in done.values() if t.previous_trial_id is not None}
    curves = []
    for last in (t for t in done.values() if t.id not in continued):
        chain = _lineage(last, done)
        xs = [float(t.fidelity or 0.0) for t in chain]
        ys = [t.objective for t in chain if isinstance(t.objective, float)]
        curves.append((f"trial {chain[0].id}", xs, ys, last))
    return curves


def _lineage(trial: Trial, done: dict[str, Trial]) -> list[Trial]:
    """``trial`` and the finished lower-fidelity trials it continues, lowest fidelity first."""
    chain = [trial]
    previous = trial.previous_trial_id
    while previous is not None and previous in done and len(chain) <= len(done):
        chain.append(done[previous])
        previous = done[previous].previous_trial_id
    return chain[::-1]


def _by_id(trials: Any) -> list[Trial]:
    return sorted(trials, key=lambda t: (len(t.id), t.id))
