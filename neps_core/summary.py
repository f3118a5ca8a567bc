"""Run summaries: the best trial, counts by state, the Pareto front and the trajectory.

``status()`` computes the summary from the live history; :mod:`neps_core.summary_files`
writes it into the root directory when a run ends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neps_core.budget_file import recorded_budgets
from neps_core.config import RunSettings
from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.models import FIDELITY_SEARCHED, BudgetInfo, Summary, Trial, TrialState
from neps_core.pareto import first_front, nondominated_fronts
from neps_core.run_info import rebuildable_space
from neps_core.serialization import to_plain
from neps_core.shown_configs import ConfigReader
from neps_core.space import PipelineSpace


def summarize(
    root: Path, history: TrialHistory, budget: BudgetInfo, space: PipelineSpace | None = None
) -> Summary:
    """The summary of everything in ``history``; with ``space``, the best pipeline readable."""
    successes = [history[i] for i in history.ids_in(TrialState.SUCCESS)]
    single = [t for t in successes if isinstance(t.objective, float)]
    multi = [t for t in successes if isinstance(t.objective, tuple)]
    best = min(at_top_fidelity(single), key=lambda t: t.objective, default=None)  # type: ignore[arg-type, return-value]
    front = tuple(pareto_front(at_top_fidelity(multi)))
    return Summary(
        root_directory=str(root),
        counts=history.state_counts,
        best_trial=best,
        budget=budget,
        pareto_front=front,
        best_pipeline=None if best is None or space is None else as_passed(space, best.config),
        pareto_pipelines=() if space is None else tuple(as_passed(space, t.config) for t in front),
        trials=tuple(history.values()),
        space=space,
    )


def as_passed(space: ConfigReader, config: Mapping[str, Any]) -> dict[str, Any] | None:
    """``config`` as ``evaluate_pipeline`` received it, where that reads differently."""
    if space.reads_as_stored:
        return None
    try:
        return space.readable(config)
    except ValueError:  # a configuration the space cannot read is shown as stored
        return None


def shown_config(space: ConfigReader | None, config: Mapping[str, Any]) -> Mapping[str, Any]:
    """``config`` as every table and summary file shows it: as ``evaluate_pipeline`` received
    it (a categorical of tuples stores the index of its choice), else as stored."""
    passed = None if space is None else as_passed(space, config)
    return config if passed is None else passed


def at_top_fidelity(trials: list[Trial]) -> list[Trial]:
    """Trials at the highest fidelity reached: a cheap, biased evaluation never is the best.

    The best trial and the Pareto front are both taken from these. Where every fidelity was
    searched like any other parameter (``FIDELITY_SEARCHED``: random or grid search with
    ``ignore_fidelity=False``), all trials compete; one scheduled fidelity (a run continued
    with a multi-fidelity optimizer) ranks them all by fidelity again.
    """
    with_fidelity = [t for t in trials if t.fidelity is not None]
    if all(t.metadata.get(FIDELITY_SEARCHED) for t in with_fidelity):
        return trials
    top = max(t.fidelity for t in with_fidelity)  # type: ignore[type-var]
    return [t for t in trials if t.fidelity in (None, top)]


class RunningBest:
    """The best single objective as ``at_top_fidelity`` ranks trials, kept up to date one
    successful trial at a time (a progress line redrawn per trial must not rescan the run)."""

    def __init__(self) -> None:
        self._by_level: dict[float | None, float] = {}  # the best at each fidelity
        self._overall: float | None = None
        self._top: float | None = None  # the highest fidelity reached
        self._all_searched = True  # every fidelity searched like a parameter: all compete

    def add(self, trial: Trial) -> None:
        """Count ``trial`` (a success; several objectives are not ranked here)."""
        objective = trial.objective
        if not isinstance(objective, float):
            return
        level = trial.fidelity
        if level is not None:
            self._all_searched &= bool(trial.metadata.get(FIDELITY_SEARCHED))
            self._top = level if self._top is None else max(self._top, level)
        self._by_level[level] = min(objective, self._by_level.get(level, objective))
        self._overall = min(objective, self._overall if self._overall is not None else objective)

    @property
    def best(self) -> float | None:
        """The best objective so far; ``None`` before the first success."""
        if self._all_searched:
            return self._overall
        contenders = [self._by_level.get(level) for level in (None, self._top)]
        return min((c for c in contenders if c is not None), default=None)


def pareto_front(trials: Sequence[Trial]) -> list[Trial]:
    """The trials no other trial dominates (all objectives minimized)."""
    return [trials[i] for i in first_front(_objective_points(trials))]


def _objective_points(trials: Sequence[Trial]) -> np.ndarray:
    """The objective vectors of ``trials`` as rows. A vector shorter than the others (only in
    a hand-edited report: runs refuse mixed counts) is padded with ``inf``: it is worst on
    the objectives it lacks."""
    vectors = [tuple(t.objective) for t in trials]  # type: ignore[arg-type]
    width = max(map(len, vectors), default=0)
    return np.array([v + (math.inf,) * (width - len(v)) for v in vectors], dtype=float)


def best_first(trials: Iterable[Trial]) -> dict[str, int]:
    """Each successful trial's place, the best first, as the summary ranks them: those at the
    highest fidelity reached (``at_top_fidelity``) before the rest; one objective by its
    value, several by Pareto front (the front, then the front of the rest, ...)."""
    successes = [t for t in trials if t.state is TrialState.SUCCESS]
    ranked: list[Trial] = []
    for kind in (float, tuple):
        group = [t for t in successes if isinstance(t.objective, kind)]
        top = at_top_fidelity(group)
        chosen = {t.id for t in top}
        for part in (top, [t for t in group if t.id not in chosen]):
            ranked += _in_order(part)
    return {trial.id: place for place, trial in enumerate(ranked)}


def _in_order(trials: list[Trial]) -> list[Trial]:
    """``trials`` (all with one objective, or all with several) the best first."""
    if not trials or isinstance(trials[0].objective, float):
        return sorted(trials, key=lambda t: t.objective)  # type: ignore[arg-type, return-value]
    fronts = nondominated_fronts(_objective_points(trials))
    return [trials[i] for front in fronts for i in front]


def trajectory_rows(trials: Iterable[Trial]) -> list[dict[str, object]]:
    """Finished trials in finishing order with the running best objective and total cost.

    The best so far counts the trials the summary's best is chosen from (those at the
    highest fidelity reached), so the trajectory ends at the summary's best and is blank
    until the first of them finishes.
    """
    return improvement_rows(finishing_order(trials))


def improvement_rows(finished: Sequence[Trial]) -> list[dict[str, object]]:
    """``trajectory_rows`` of trials already in finishing order."""
    contenders = best_contenders(finished)
    rows, best, total = [], None, 0.0
    for trial in finished:
        objective = trial.objective
        if trial.id in contenders and isinstance(objective, float):
            best = objective if best is None else min(best, objective)
        total += trial.cost or 0.0
        rows.append(
            {
                "trial_id": trial.id,
                "state": trial.state.value,
                "objective_to_minimize": _cell(objective),
                "cost": _cell(trial.cost),
                "best_objective_so_far": _cell(best),
                "cumulative_cost": total,
                "worker_id": trial.worker_id or "",
                "finished_at": trial.finished_at or "",
            }
        )
    return rows


def finishing_order(trials: Iterable[Trial]) -> list[Trial]:
    """The finished trials in the order they finished (ties by id)."""
    return sorted(
        (t for t in trials if t.state.is_final),
        key=lambda t: (t.finished_at or 0.0, int(t.id) if t.id.isdigit() else 0),
    )


def best_contenders(trials: Iterable[Trial]) -> set[str]:
    """The ids of the single-objective successes the best is chosen from (``at_top_fidelity``)."""
    single = [t for t in trials if t.state is TrialState.SUCCESS and isinstance(t.objective, float)]
    return {t.id for t in at_top_fidelity(single)}


def _cell(value: object) -> object:
    if isinstance(value, tuple):
        return ";".join(map(str, value))
    return "" if value is None else value


def summary_of(
    storage: Storage, settings: RunSettings | None = None, space: PipelineSpace | None = None
) -> Summary:
    """The run's summary, with the budgets of ``settings`` or else the recorded ones.

    ``space`` (else the stored one, where it can be rebuilt) makes the best pipeline readable.
    """
    history = storage.sync()
    if settings is None:
        budget = history.budget(**recorded_budgets(storage.root_directory))
    else:
        budget = history.budget(
            evaluations_to_spend=settings.evaluations_to_spend,
            cost_to_spend=settings.cost_to_spend,
            fidelities_to_spend=settings.fidelities_to_spend,
        )
    if space is None:
        space = rebuildable_space(storage)
    return summarize(storage.root_directory, history, budget, space)


def _pipeline_entry(pipeline: Mapping[str, Any] | None) -> dict[str, Any]:
    """``pipeline:`` beside ``config:`` where the stored decisions are indices."""
    return {} if pipeline is None else {"pipeline": pipeline}


def _front_pipelines(summary: Summary) -> Sequence[Mapping[str, Any] | None]:
    """``summary.pareto_pipelines``, or none where they do not match the front."""
    pipelines = summary.pareto_pipelines
    front = summary.pareto_front
    return pipelines if len(pipelines) == len(front) else [None] * len(front)


def summary_as_dict(summary: Summary) -> dict[str, object]:
    """Plain data for YAML output and the CLI."""
    best = summary.best_trial
    budget = summary.budget
    data = {
        "root_directory": summary.root_directory,
        "counts": dict(summary.counts),
        "budget": {
            "evaluations_used": budget.used_evaluations,
            "evaluations_to_spend": budget.evaluations_to_spend,
            "cost_used": budget.used_cost,
            "cost_to_spend": budget.cost_to_spend,
            "fidelities_used": budget.used_fidelities,
            "fidelities_to_spend": budget.fidelities_to_spend,
        },
        "best": None
        if best is None
        else {
            "trial_id": best.id,
            "objective_to_minimize": best.objective,
            "config": best.config,
            **_pipeline_entry(summary.best_pipeline),
        },
        "pareto_front": [
            {
                "trial_id": trial.id,
                "objective_to_minimize": trial.objective,
                "config": trial.config,
                **_pipeline_entry(pipeline),
            }
            for trial, pipeline in zip(summary.pareto_front, _front_pipelines(summary), strict=True)
        ],
    }
    plain = to_plain(data)
    assert isinstance(plain, dict)
    return plain
