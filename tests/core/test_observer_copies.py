"""Observers get copies of their own; an optimizer that edits its history is named by the
contract; a user's evaluate_pipeline keeps plain dicts."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import neps_core as neps
from neps_core.models import TrialState
from neps_core.run_context import RunContext
from neps_core.testing import ask_unchanged, history_of, make_trial
from neps_core_plugins.random_search import RandomSearch

pytest_plugins = ["neps_core.testing.fixtures"]

Run = Callable[..., neps.Summary]
SPACE = {"x": neps.Float(0.0, 1.0), "seed": neps.Integer(0, 1000)}


class _Tidy:
    """An observer that tidies a log line by editing the trial it is told of."""

    @neps.hookimpl
    def neps_trial_sampled(self, run: RunContext, trial: neps.Trial) -> None:
        trial.config.pop("seed")  # type: ignore[attr-defined]
        trial.metadata.clear()  # type: ignore[attr-defined]

    @neps.hookimpl
    def neps_trial_finished(self, run: RunContext, trial: neps.Trial, report: neps.Report) -> None:
        report.extra.pop("seen")  # type: ignore[attr-defined]
        trial.config["x"] = -1.0  # type: ignore[index]


def test_an_observer_editing_a_trial_changes_nothing_the_run_evaluates_or_stores(
    neps_run: Run, neps_root: Path
) -> None:
    """Before, the sampled observer's edit reached evaluate_pipeline and the journal."""
    received = []

    def evaluate_pipeline(**config: Any) -> dict[str, Any]:
        received.append(config)
        return {"objective_to_minimize": config["x"], "seen": True}

    neps_run(evaluate_pipeline=evaluate_pipeline, pipeline_space=SPACE, plugins=[_Tidy()])
    assert received and all(set(config) == {"x", "seed"} for config in received)
    stored = neps.status(neps_root).trials
    assert all(set(t.config) == {"x", "seed"} and t.config["x"] >= 0.0 for t in stored)
    assert all(t.report is not None and t.report.extra == {"seen": True} for t in stored)


def test_a_grid_keeps_its_grid_when_an_observer_edits_finished_trials(
    neps_root: Path,
) -> None:
    """Before, popping a key of each finished trial made grid_search evaluate one
    configuration for its whole budget (30 distinct -> 1)."""

    class _PopSeed:
        @neps.hookimpl
        def neps_trial_finished(self, run: RunContext, trial: neps.Trial, report: Any) -> None:
            trial.config.pop("seed")  # type: ignore[attr-defined]

    summary = neps.run(
        lambda lr, seed: lr + seed,
        {"lr": neps.Float(0.0, 1.0), "seed": neps.Integer(0, 2)},
        root_directory=neps_root,
        optimizer=("grid_search", {"size": 4}),
        evaluations_to_spend=12,
        plugins=[_PopSeed()],
    )
    assert len({tuple(sorted(t.config.items())) for t in summary.trials}) == 12


def test_a_user_function_and_the_user_keep_plain_dicts(neps_run: Run, neps_root: Path) -> None:
    def evaluate_pipeline(**config: Any) -> float:
        config["x"] = -1.0  # its own keyword dict, not the trial's
        return float(config["seed"])

    summary = neps_run(evaluate_pipeline=evaluate_pipeline, pipeline_space=SPACE)
    assert all(0.0 <= trial.config["x"] <= 1.0 for trial in summary.trials)
    best = summary.best_trial
    assert best is not None and type(best.config) is dict
    assert yaml.safe_load(yaml.safe_dump(best.config)) == best.config


class _StepRight(RandomSearch):
    """A third-party optimizer's slip: it changes the best trial's config to make a child."""

    name = "step_right"

    def ask(self, trials: Any, budget: Any, n: int) -> list[neps.Proposal]:
        done = [t for t in trials.values() if t.state is TrialState.SUCCESS]
        if not done:
            return list(super().ask(trials, budget, n))
        config = min(done, key=lambda t: t.objective).config
        config["x"] = min(1.0, config["x"] + 0.3)
        return [neps.Proposal(dict(config))]


def test_the_optimizer_contract_names_an_ask_that_changes_the_history() -> None:
    """Before, such an optimizer failed the contract as 'the run evaluated a configuration
    twice'."""
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    history = history_of([make_trial("1", {"x": 0.1}, objective=0.1)])
    with pytest.raises(AssertionError, match=r"ask\(\) of optimizer 'step_right' changed"):
        ask_unchanged(_StepRight(space), history, history.budget(), 1)
    honest = RandomSearch(space)
    assert len(ask_unchanged(honest, history, history.budget(), 2)) == 2


def test_a_users_prints_stay_on_stdout_while_another_thread_reads_the_run(
    neps_run: Run, neps_root: Path
) -> None:
    """Loading the plugins (status() does, in a monitoring thread) swapped sys.stdout for
    the whole process: 690 of a run's 1000 printed lines went to stderr."""
    neps_run(pipeline_space=SPACE)
    looked = threading.Semaphore(0)
    stop = threading.Event()

    def monitor() -> None:
        while not stop.is_set():
            neps.status(neps_root)
            looked.release()

    watcher = threading.Thread(target=monitor)
    printed, count = io.StringIO(), 0
    with contextlib.redirect_stdout(printed):
        watcher.start()
        try:
            for _ in range(5):  # print all along five looks of the monitor
                while not looked.acquire(blocking=False):
                    print(count)
                    count += 1
        finally:
            stop.set()
            watcher.join()
    assert printed.getvalue().split() == [str(line) for line in range(count)]
