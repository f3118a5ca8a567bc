"""The ``complex_random_search`` plugin: the contract on flat and structural spaces, and the mix
of uniform draws, prior draws and mutations of the incumbent it promises."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pytest

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.history import TrialHistory
from neps_core.models import BudgetInfo, Trial, TrialState
from neps_core.space import And, Equals, GreaterThan, PipelineSpace
from neps_core.testing import (
    CountingHistory,
    OptimizerContract,
    best_objective,
    history_of,
    make_trial,
    optimize,
    toy_spaces,
)
from neps_core_plugins.complex_random_search import (
    BestTrials,
    ComplexRandomSearch,
    ComplexRandomSearchSettings,
)
from neps_core_plugins.random_search import RandomSearch

pytest_plugins = ["neps_core.testing.fixtures"]


def join(*parts: Any, sep: str = "-", **named: Any) -> str:
    return sep.join([*map(str, parts), *(f"{k}={v}" for k, v in named.items())])


def structural_spaces() -> dict[str, PipelineSpace]:
    """A grammar, an architecture-like space and a conditional space."""
    grammar = PipelineSpace(
        {
            "expr": neps.Categorical(
                choices=(
                    neps.Operation(
                        join, args=(neps.ByName("expr").resample(), neps.ByName("expr").resample())
                    ),
                    neps.ByName("leaf").resample(),
                )
            ),
            "leaf": neps.Integer(0, 99),
        }
    )
    width = neps.Integer(1, 64, log=True)
    architecture = PipelineSpace(
        {
            "_width": width,
            "_cell": neps.Operation(join, args=(width.resample(), neps.Categorical(("a", "b")))),
            "model": neps.Operation(join, args=(neps.ByName("_cell").resample(),) * 3),
            "head": neps.Operation(join, kwargs={"sep": neps.Categorical(("+", "*")), "w": width}),
            "epochs": neps.IntegerFidelity(1, 9),
        }
    )
    conditional = PipelineSpace(
        {
            "optimizer": neps.Categorical(("adam", "sgd")),
            "momentum": neps.Float(0.0, 0.9),
            "lr": neps.Float(1e-4, 1.0, log=True, prior=1e-2),
        },
        conditions={"momentum": Equals("optimizer", "sgd")},
        forbidden=[And(Equals("optimizer", "sgd"), GreaterThan("lr", 0.5))],
    )
    return {"grammar": grammar, "architecture": architecture, "conditional": conditional}


class TestComplexRandomSearchContract(OptimizerContract):
    optimizer_class = ComplexRandomSearch
    spaces: ClassVar[dict[str, PipelineSpace]] = {**toy_spaces(), **structural_spaces()}


class TestMutationOnlyContract(OptimizerContract):
    optimizer_class = ComplexRandomSearch
    optimizer_options: ClassVar[dict[str, Any]] = {"prior_share": 0.0, "mutation_share": 1.0}
    spaces: ClassVar[dict[str, PipelineSpace]] = structural_spaces()


FLOATS = PipelineSpace({name: neps.Float(0.0, 1.0, prior=0.2) for name in "abcd"})


def _history(best: dict[str, float], others: int) -> TrialHistory:
    rng = np.random.default_rng(0)
    trials = [make_trial(1, best, objective=0.0)]
    trials += [make_trial(i + 2, FLOATS.sample(rng), objective=1.0 + i) for i in range(others)]
    return history_of(trials)


def _proposals(settings: ComplexRandomSearchSettings, history: TrialHistory, n: int) -> list:
    optimizer = ComplexRandomSearch(FLOATS, settings, seed=1)
    return [p.config for p in optimizer.ask(history, BudgetInfo(), n)]


def test_the_best_trials_are_read_from_what_changed() -> None:
    """Every ask filtered and sorted the whole run for its best trial (72% of an ask)."""
    history = CountingHistory()
    for i in range(1, 101):
        history.put(make_trial(i, {"x": i / 100}, objective=float(i)))
    best = BestTrials(neps.PipelineSpace({"x": neps.Float(0.0, 1.0)}))
    assert [t.id for t in best.best(history, 2)] == ["1", "2"]
    history.reads = 0
    history.put(make_trial(101, {"x": 0.5}, objective=1.5))
    assert [t.id for t in best.best(history, 2)] == ["1", "101"]
    assert history.reads == 1 + 2  # the new trial, then the two returned


def _best_by_reading_all(trials: Mapping[str, Trial], k: int) -> list[str]:
    scored = [
        t
        for t in trials.values()
        if t.state is TrialState.SUCCESS and isinstance(t.objective, int | float)
    ]
    ranked = sorted(scored, key=lambda t: (math.isnan(t.objective), t.objective))  # type: ignore[arg-type]
    return [t.id for t in ranked[:k]]


def test_kept_best_trials_follow_changed_trials_as_a_full_read_does() -> None:
    """Results withdrawn, improved, tied, NaN (last, not first), several objectives, other
    histories: the kept order is that of a full read, and so are the proposals."""
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    kept, best = ComplexRandomSearch(space, seed=0), BestTrials(space)
    history = history_of([make_trial(1, {"x": 0.1}, objective=math.nan)])
    changes = [
        make_trial(2, {"x": 0.2}, objective=0.5),
        make_trial(3, {"x": 0.3}, "pending"),
        make_trial(3, {"x": 0.3}, objective=0.5),  # tied with 2: run order
        make_trial(2, {"x": 0.2}, "failed"),  # withdrawn
        make_trial(4, {"x": 0.4}, objective=(0.1, 0.2)),
        make_trial(5, {"x": 0.5}, objective=0.2),
        make_trial(5, {"x": 0.5}, objective=0.9),  # a new version, worse
        make_trial(2, {"x": 0.2}, objective=0.1),
    ]
    for trial in changes:
        history.put(trial)
        assert [t.id for t in best.best(history, 3)] == _best_by_reading_all(history, 3), trial
        asked = kept.ask(history, history.budget(), 3)
        assert asked == ComplexRandomSearch(space, seed=0).ask(history, history.budget(), 3)
    assert _best_by_reading_all(history, 5) == ["2", "3", "5", "1"]
    other = history_of([make_trial(7, {"x": 0.7}, objective=0.3)])
    assert [t.id for t in best.best(other, 3)] == ["7"]


def test_a_continued_multi_fidelity_run_is_exploited_at_the_full_fidelity_only(
    tmp_path: Any,
) -> None:
    # Cheap evaluations mislead here (best x 0.8 at fidelity 1, 0.2 at 27): the best trial of
    # hyperband's first bracket, at fidelity 1, stayed the incumbent of every mutation.
    def evaluate(x: float, e: int) -> float:
        return (x - 0.8) ** 2 if e < 27 else (x - 0.2) ** 2 + 0.5

    space = {"x": neps.Float(0.0, 1.0), "e": neps.IntegerFidelity(1, 27)}
    root = tmp_path / "run"
    neps.run(
        evaluate, space, root_directory=root, optimizer="hyperband", evaluations_to_spend=20, seed=0
    )
    exploit = ("complex_random_search", {"mutation_share": 1.0, "prior_share": 0.0})
    neps.run(evaluate, space, root_directory=root, optimizer=exploit, evaluations_to_spend=50)
    xs = [t.config["x"] for t in neps.status(root).trials if int(t.id) > 20]
    assert sum(abs(x - 0.8) < 0.1 for x in xs) <= 5 < sum(abs(x - 0.2) < 0.1 for x in xs), xs


def test_mutations_stay_near_the_incumbent() -> None:
    best = {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.5}
    history = _history(best, 10)
    others = [t.config for t in history.values() if t.config != best]
    settings = ComplexRandomSearchSettings(prior_share=0.0, mutation_share=1.0)
    children = _proposals(settings, history, 200)
    shared = [sum(c[k] == best[k] for k in best) for c in children]
    assert np.mean(np.array(shared) >= 1) > 0.95 and np.mean(shared) > 2  # most stay
    assert not any(c[k] == o[k] for c in children for o in others for k in c)


def test_the_shares_mix_uniform_prior_and_mutation_proposals() -> None:
    best = {"a": 0.9, "b": 0.9, "c": 0.9, "d": 0.9}
    history = _history(best, 5)
    children = _proposals(ComplexRandomSearchSettings(), history, 600)
    mutated = [c for c in children if any(c[k] == 0.9 for k in c)]
    assert 0.25 < len(mutated) / len(children) < 0.42  # mutation_share is a third
    fresh = np.array([[c[k] for k in "abcd"] for c in children if c not in mutated])
    near_prior = np.mean(np.abs(fresh - 0.2) < 0.15)
    assert near_prior > 0.3 + 0.05  # uniform alone gives 0.3; priors pull toward 0.2


def test_without_successes_there_is_nothing_to_mutate() -> None:
    history = history_of([make_trial(1, {"a": 0.1, "b": 0.1, "c": 0.1, "d": 0.1}, "failed")])
    settings = ComplexRandomSearchSettings(prior_share=0.0, mutation_share=1.0)
    children = _proposals(settings, history, 50)
    assert len(children) == 50
    assert not any(c[k] == 0.1 for c in children for k in c)


def test_it_exploits_better_than_random_search_on_a_smooth_problem() -> None:
    space = PipelineSpace({f"x{i}": neps.Float(-1.0, 1.0) for i in range(4)})

    def sphere(config: Mapping[str, float]) -> float:
        return sum(v * v for v in config.values())

    def best_after(optimizer_class: type, seed: int, **options: Any) -> float:
        optimizer = optimizer_class(space, optimizer_class.Settings(**options), seed=seed)
        return best_objective(optimize(optimizer, sphere, 80))

    seeds = range(6)
    exploiting = [best_after(ComplexRandomSearch, s, mutation_share=0.6) for s in seeds]
    uniform = [best_after(RandomSearch, s) for s in seeds]
    assert np.mean(exploiting) < np.mean(uniform)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"prior_share": 0.7, "mutation_share": 0.5}, "at most 1"),
        ({"prior_share": 1.5}, "prior_share"),
        ({"mutation_rate": 0.0}, "mutation_rate"),
        ({"incumbents": 0}, "incumbents"),
    ],
)
def test_invalid_settings_are_refused(options: dict[str, Any], problem: str, root: Any) -> None:
    with pytest.raises(SettingsError, match=problem):
        neps.run(
            lambda a, b, c, d: 0.0,
            FLOATS,
            root_directory=root,
            evaluations_to_spend=1,
            optimizer=("complex_random_search", options),
        )


def test_a_log_integer_whose_logs_are_one_float_is_mutated() -> None:
    # mutating the incumbent divided by log(upper) - log(lower), which rounds to 0.0 here
    narrow = neps.Integer(2**53 + 1, 2**53 + 7, log=True)
    space = PipelineSpace({"n": narrow, "x": neps.Float(0.0, 1.0)})
    settings = ComplexRandomSearchSettings(prior_share=0.0, mutation_share=1.0)
    history = optimize(ComplexRandomSearch(space, settings, seed=0), lambda c: c["x"], 12)
    assert all(narrow.contains(trial.config["n"]) for trial in history.values())
