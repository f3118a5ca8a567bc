"""A run's records are read-only: observers and optimizers cannot change a run in place."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

import neps_core as neps
from neps_core.models import Report, Trial, TrialState
from neps_core.readonly import ReadOnlyDict
from neps_core.run_context import RunContext
from neps_core.serialization import dump_yaml, load_yaml, make_converter
from neps_core.testing import ask_unchanged, history_of, make_trial
from neps_core_plugins.random_search import RandomSearch

pytest_plugins = ["neps_core.testing.fixtures"]

Run = Callable[..., neps.Summary]
SPACE = {"x": neps.Float(0.0, 1.0), "seed": neps.Integer(0, 1000)}


def _trial() -> Trial:
    report = Report(0.5, extra={"curve": [1, 2]})
    return Trial("1", {"x": 0.25}, TrialState.SUCCESS, 0.0, report=report, metadata={"m": 1})


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("trial.config", lambda t: t.config.__setitem__("x", 1.0)),
        ("trial.config", lambda t: t.config.pop("x")),
        ("trial.config", lambda t: t.config.update(x=1.0)),
        ("trial.metadata", lambda t: t.metadata.clear()),
        ("report.extra", lambda t: t.report.extra.setdefault("y", 1)),
    ],
)
def test_a_records_mapping_refuses_changes_and_says_how_to_copy(
    what: str, change: Callable[[Trial], Any]
) -> None:
    trial = _trial()
    with pytest.raises(TypeError, match=rf"{what} is read-only.*dict\({what}\)"):
        change(trial)
    assert trial == _trial()
    for copied in (dict(trial.config), trial.config.copy(), copy.deepcopy(trial.config)):
        copied["x"] = 1.0  # a copy is the caller's own
    assert trial.config == {"x": 0.25} and type(copy.copy(trial.config)) is dict


def test_a_read_only_config_travels_like_a_dict() -> None:
    """Pickled (process evaluators), deep-copied, written by the converter, JSON and YAML,
    and evolved without a copy: what a run does with its trials keeps working."""
    trial = _trial()
    assert pickle.loads(pickle.dumps(trial)) == trial
    assert type(pickle.loads(pickle.dumps(trial)).config) is ReadOnlyDict
    assert copy.deepcopy(trial) == trial
    converter = make_converter()
    plain = converter.unstructure(trial)
    assert type(plain["config"]) is dict and converter.structure(plain, Trial) == trial
    assert json.loads(json.dumps(trial.config)) == {"x": 0.25}
    assert load_yaml(dump_yaml({"config": trial.config})) == {"config": {"x": 0.25}}
    assert yaml.safe_load(yaml.safe_dump(trial.config)) == {"x": 0.25}  # a user's own dump
    assert yaml.safe_load(yaml.dump(trial.config)) == {"x": 0.25}  # a mapping, no Python tag
    assert attrs.evolve(trial, attempts=2).config is trial.config
    assert isinstance(trial.config, dict) and {**trial.config} == {"x": 0.25}


class _PopSeed:
    """An observer that tidies a log line by editing the trial it is told of."""

    def __init__(self, hook: str) -> None:
        self.hook = hook

    @neps.hookimpl
    def neps_trial_sampled(self, run: RunContext, trial: neps.Trial) -> None:
        if self.hook == "sampled":
            trial.config.pop("seed")  # type: ignore[attr-defined]

    @neps.hookimpl
    def neps_trial_finished(self, run: RunContext, trial: neps.Trial, report: neps.Report) -> None:
        if self.hook == "finished":
            trial.report.extra.pop("seen")  # type: ignore[union-attr]


@pytest.mark.parametrize(("hook", "what"), [("sampled", "config"), ("finished", "extra")])
def test_an_observer_editing_a_trial_stops_the_run_instead_of_changing_it(
    neps_run: Run, neps_root: Path, hook: str, what: str
) -> None:
    """Before, the sampled observer's edit went into evaluate_pipeline and the journal, and a
    grid search evaluated one configuration for its whole budget."""
    received = []

    def evaluate_pipeline(**config: Any) -> dict[str, Any]:
        received.append(config)
        return {"objective_to_minimize": config["x"], "seen": True}

    with pytest.raises(TypeError, match="is read-only") as caught:
        neps_run(
            evaluate_pipeline=evaluate_pipeline, pipeline_space=SPACE, plugins=[_PopSeed(hook)]
        )
    assert what in str(caught.value)
    assert any("_PopSeed" in note for note in caught.value.__notes__)
    stored = neps.status(neps_root).trials
    assert stored and all(set(trial.config) == {"x", "seed"} for trial in stored)
    assert all(set(config) == {"x", "seed"} for config in received)


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


def test_an_optimizer_editing_a_trial_in_place_is_told_so(neps_run: Run, neps_root: Path) -> None:
    """Before, best_config.yaml paired the best objective with a config never evaluated."""
    with pytest.raises(TypeError, match=r"trial\.config is read-only") as caught:
        neps_run(pipeline_space={"x": neps.Float(0.0, 1.0)}, optimizer=_StepRight)
    assert any("step_right" in note for note in caught.value.__notes__)
    [trial] = neps.status(neps_root).trials
    assert trial.state is TrialState.SUCCESS


def test_a_user_function_may_change_its_own_arguments(neps_run: Run, neps_root: Path) -> None:
    def evaluate_pipeline(**config: Any) -> float:
        config["x"] = -1.0  # its own keyword dict, not the trial's
        return float(config["seed"])

    summary = neps_run(evaluate_pipeline=evaluate_pipeline, pipeline_space=SPACE)
    assert all(0.0 <= trial.config["x"] <= 1.0 for trial in summary.trials)
    best = summary.best_config
    assert best is not None and type(best) is dict
    best["x"] = 2.0  # the user's copy
    assert summary.best_trial is not None and summary.best_trial.config["x"] != 2.0


class _Sneaky(RandomSearch):
    """Changes the history behind the read-only mapping's back: the contract must say so."""

    name = "sneaky"

    def ask(self, trials: Any, budget: Any, n: int) -> list[neps.Proposal]:
        for trial in trials.values():
            dict.__setitem__(trial.config, "x", 0.5)
        return list(super().ask(trials, budget, n))


def test_the_optimizer_contract_names_an_ask_that_changes_the_history() -> None:
    """Before, such an optimizer failed the contract as 'the run evaluated a configuration
    twice'."""
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    history = history_of([make_trial("1", {"x": 0.1}, objective=0.1)])
    with pytest.raises(AssertionError, match=r"ask\(\) of optimizer 'sneaky' changed the trial"):
        ask_unchanged(_Sneaky(space), history, history.budget(), 1)
    honest = RandomSearch(space)
    assert len(ask_unchanged(honest, history, history.budget(), 2)) == 2
