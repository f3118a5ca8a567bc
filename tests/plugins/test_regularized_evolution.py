"""The ``regularized_evolution`` plugin: the contract, tournaments, aging, and structures."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.history import TrialHistory
from neps_core.models import BudgetInfo, TrialState
from neps_core.space import Equals, PipelineSpace
from neps_core.testing import (
    OptimizerContract,
    best_objective,
    history_of,
    make_trial,
    optimize,
    toy_spaces,
)
from neps_core_plugins.random_search import RandomSearch
from neps_core_plugins.regularized_evolution import (
    RegularizedEvolution,
    RegularizedEvolutionSettings,
    population,
)

pytest_plugins = ["neps_core.testing.fixtures"]


def chain(*parts: Any) -> tuple[Any, ...]:
    return parts


def structural_spaces() -> dict[str, PipelineSpace]:
    """A recursive space, a cell-based one and a conditional one."""
    tree = PipelineSpace(
        {
            "tree": neps.Categorical(
                choices=(
                    neps.Operation(
                        chain, args=(neps.ByName("tree").resample(), neps.ByName("tree").resample())
                    ),
                    neps.Float(0.0, 1.0),
                )
            )
        },
        max_depth=4,
    )
    cell = neps.Operation(chain, args=(neps.Integer(1, 9), neps.Categorical(("conv", "pool"))))
    cells = PipelineSpace(
        {"net": neps.Operation(chain, args=tuple(cell.resample() for _ in range(4)))}
    )
    conditional = PipelineSpace(
        {"kind": neps.Categorical(("a", "b")), "extra": neps.Float(0.0, 1.0)},
        conditions={"extra": Equals("kind", "b")},
    )
    return {"tree": tree, "cells": cells, "conditional": conditional}


class TestRegularizedEvolutionContract(OptimizerContract):
    optimizer_class = RegularizedEvolution
    optimizer_options: ClassVar[dict[str, Any]] = {"population_size": 4, "sample_size": 2}
    spaces: ClassVar[dict[str, PipelineSpace]] = {**toy_spaces(), **structural_spaces()}


class TestDefaultSettingsContract(OptimizerContract):
    optimizer_class = RegularizedEvolution


FLOATS = PipelineSpace({name: neps.Float(0.0, 1.0) for name in "abcd"})


def _evaluated(configs: list[dict[str, float]], objectives: list[float]) -> TrialHistory:
    return history_of(
        make_trial(i + 1, config, objective=objective)
        for i, (config, objective) in enumerate(zip(configs, objectives, strict=True))
    )


def _children(settings: RegularizedEvolutionSettings, history: TrialHistory, n: int) -> list:
    optimizer = RegularizedEvolution(FLOATS, settings, seed=3)
    return [p.config for p in optimizer.ask(history, BudgetInfo(), n)]


def _parent_of(child: dict[str, float], candidates: list[dict[str, float]]) -> int | None:
    """The candidate the child shares decisions with (mutations keep most of them)."""
    sharing = [i for i, c in enumerate(candidates) if any(child[k] == c[k] for k in child)]
    return sharing[0] if len(sharing) == 1 else None


def test_the_initial_population_is_random() -> None:
    rng = np.random.default_rng(0)
    configs = [FLOATS.sample(rng) for _ in range(3)]
    history = _evaluated(configs, [1.0, 2.0, 3.0])
    children = _children(RegularizedEvolutionSettings(population_size=10), history, 7)
    assert len(children) == 7
    assert all(_parent_of(child, configs) is None for child in children)


def test_the_tournament_winner_is_mutated() -> None:
    rng = np.random.default_rng(1)
    configs = [FLOATS.sample(rng) for _ in range(5)]
    history = _evaluated(configs, [3.0, 0.5, 2.0, 4.0, 1.0])
    settings = RegularizedEvolutionSettings(population_size=5, sample_size=5)
    parents = [_parent_of(child, configs) for child in _children(settings, history, 100)]
    assert parents.count(1) >= 95  # the whole population competes: the best always wins
    small = RegularizedEvolutionSettings(population_size=5, sample_size=2)
    parents = [_parent_of(child, configs) for child in _children(small, history, 300)]
    assert parents.count(3) < 5  # the worst never wins a tournament
    assert {1, 4, 0, 2} <= set(parents)  # smaller tournaments give others a chance


def test_aging_removes_old_members_however_good() -> None:
    rng = np.random.default_rng(2)
    configs = [FLOATS.sample(rng) for _ in range(8)]
    objectives = [0.0, 5.0, 5.0, 5.0, 4.0, 3.0, 2.0, 1.0]  # the best is the oldest
    history = _evaluated(configs, objectives)
    assert [t.id for t in population(history, 4, FLOATS)] == ["5", "6", "7", "8"]
    settings = RegularizedEvolutionSettings(population_size=4, sample_size=4)
    parents = [_parent_of(child, configs) for child in _children(settings, history, 50)]
    assert 0 not in parents and parents.count(7) >= 45


def test_failed_and_pending_trials_are_not_members() -> None:
    rng = np.random.default_rng(3)
    trials = [
        make_trial(1, FLOATS.sample(rng), objective=0.1),
        make_trial(2, FLOATS.sample(rng), "failed", objective=0.0),
        make_trial(3, FLOATS.sample(rng), "pending"),
        make_trial(4, FLOATS.sample(rng), objective=0.2),
    ]
    assert [t.id for t in population(history_of(trials), 10, FLOATS)] == ["1", "4"]


def test_the_population_follows_creation_order_not_the_order_trials_arrived() -> None:
    rng = np.random.default_rng(4)
    trials = [make_trial(i, FLOATS.sample(rng), objective=float(i)) for i in range(1, 21)]
    arrived = [trials[i] for i in rng.permutation(len(trials))]  # other workers' syncs
    assert [t.id for t in population(history_of(arrived), 5, FLOATS)] == [
        "16",
        "17",
        "18",
        "19",
        "20",
    ]


def test_a_continued_multi_fidelity_run_gives_members_at_the_full_fidelity_only() -> None:
    # Cheap evaluations mislead here (best x 0.8 at fidelity 1, 0.2 at 27): the trials of a
    # multi-fidelity run at its lower rungs were members, won the tournaments and fathered
    # the children.
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "e": neps.IntegerFidelity(1, 27)})
    history = history_of(
        [
            make_trial(1, {"x": 0.8, "e": 1}, objective=0.0),
            make_trial(2, {"x": 0.2, "e": 27}, objective=0.5),
            make_trial(3, {"x": 0.75, "e": 3}, objective=0.01),
        ]
    )
    settings = RegularizedEvolutionSettings(population_size=2, sample_size=2)
    children = RegularizedEvolution(space, settings, seed=0).ask(history, history.budget(), 20)
    assert np.median([child.config["x"] for child in children]) < 0.4  # 0.62 before
    assert [t.id for t in population(history, 10, space)] == ["2"]


def test_a_continued_multi_fidelity_run_starts_its_population_with_random_draws() -> None:
    # Its cheaper trials counted toward the random start: with one trial at the maximum, every
    # proposal was a child of that one member (sharing its unmutated values).
    space = neps.PipelineSpace(
        {f"x{i}": neps.Float(0.0, 1.0) for i in range(4)} | {"e": neps.IntegerFidelity(1, 27)}
    )
    cheap = [
        make_trial(i, {f"x{j}": 0.1 * j for j in range(4)} | {"e": 1}, objective=0.0)
        for i in range(1, 31)
    ]
    member = {f"x{j}": 0.5 for j in range(4)} | {"e": 27}
    history = history_of([*cheap, make_trial(31, member, objective=1.0)])
    settings = RegularizedEvolutionSettings(population_size=10, sample_size=2)
    proposals = RegularizedEvolution(space, settings, seed=0).ask(history, history.budget(), 8)
    children = [p for p in proposals if any(p.config[f"x{j}"] == 0.5 for j in range(4))]
    assert children == []


def test_a_kept_population_answers_as_one_read_from_the_whole_history() -> None:
    """The population follows the history's changes between asks: results arriving out of
    order, failures, a member re-run to a better result, or to a failure (it must leave, the
    next youngest success taking its place), answers dropped. Each answer equals a fresh
    optimizer's."""
    rng = np.random.default_rng(5)
    settings = RegularizedEvolutionSettings(population_size=6, sample_size=3)
    kept = RegularizedEvolution(FLOATS, settings, seed=3)
    history = TrialHistory()
    for step in range(120):
        open_ids = history.ids_in(TrialState.PENDING)
        for trial_id in rng.permutation(open_ids)[: rng.integers(0, len(open_ids) + 1)]:
            trial = history[str(trial_id)]
            state = "failed" if rng.uniform() < 0.15 else "success"
            objective = float(rng.uniform()) if state == "success" else None
            history.put(make_trial(trial.id, trial.config, state, objective=objective))
        if step % 5 == 4 and history.ids_in(TrialState.SUCCESS):  # a member re-run
            rerun = history[history.ids_in(TrialState.SUCCESS)[-1]]
            again = {"objective": -1.0} if step % 10 == 4 else {"state": "failed"}
            history.put(make_trial(rerun.id, rerun.config, **again))
        n = int(rng.integers(1, 4))
        answer = kept.ask(history, history.budget(), n)
        assert answer == RegularizedEvolution(FLOATS, settings, seed=3).ask(
            history, history.budget(), n
        ), f"after {len(history)} trials"
        if rng.uniform() < 0.8:
            for proposal in answer:
                history.put(make_trial(history.next_id(), proposal.config, "pending"))


def test_a_member_given_another_creation_time_moves_in_the_population() -> None:
    """A kept member was replaced in place, out of creation order (a record edited by hand)."""
    settings = RegularizedEvolutionSettings(population_size=5, sample_size=5)
    kept = RegularizedEvolution(FLOATS, settings, seed=3)
    rng = np.random.default_rng(0)
    history = history_of(make_trial(i, FLOATS.sample(rng), objective=1.0 / i) for i in range(1, 9))
    kept.ask(history, history.budget(), 1)
    history.put(attrs.evolve(history["5"], created_at=100.0))
    fresh = RegularizedEvolution(FLOATS, settings, seed=3)
    assert kept.ask(history, history.budget(), 2) == fresh.ask(history, history.budget(), 2)
    assert [t.id for t in kept._population.of(history)] == ["4", "6", "7", "8", "5"]


def test_evolution_beats_random_search_on_a_structured_problem() -> None:
    space = structural_spaces()["cells"]

    def objective(config: dict[str, Any]) -> float:
        net = space.resolve(config)["net"]
        return float(sum(abs(width - 7) + (kind == "pool") for width, kind in net))

    def best_after(optimizer: Any) -> float:
        return best_objective(optimize(optimizer, objective, 60))

    settings = RegularizedEvolutionSettings(population_size=10, sample_size=3)
    evolved = [best_after(RegularizedEvolution(space, settings, seed=s)) for s in range(5)]
    random = [best_after(RandomSearch(space, seed=s)) for s in range(5)]
    assert np.mean(evolved) < np.mean(random)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"population_size": 4, "sample_size": 5}, "sample_size"),
        ({"population_size": 1}, "population_size"),
        ({"mutation_rate": 2.0}, "mutation_rate"),
        ({"step": 0.0}, "step"),
    ],
)
def test_invalid_settings_are_refused(options: dict[str, Any], problem: str, root: Path) -> None:
    with pytest.raises(SettingsError, match=problem):
        neps.run(
            lambda a, b, c, d: 0.0,
            FLOATS,
            root_directory=root,
            evaluations_to_spend=1,
            optimizer=("regularized_evolution", options),
        )


def test_a_run_evolves_a_structural_space(root: Path) -> None:
    space = structural_spaces()["tree"]
    seen: list[Any] = []

    def evaluate_pipeline(tree: Any) -> float:
        seen.append(tree)
        return float(len(repr(tree)))

    neps.run(
        evaluate_pipeline,
        space,
        root_directory=root,
        evaluations_to_spend=15,
        optimizer=("regularized_evolution", {"population_size": 5, "sample_size": 2}),
        seed=4,
    )
    assert len(seen) == 15
    for trial_id in range(1, 16):
        assert neps.load_config(root, config_id=trial_id)["tree"] == seen[trial_id - 1]


@pytest.mark.parametrize("seed", range(6))
def test_an_entry_only_resampled_does_not_make_an_architecture_new(seed: int) -> None:
    """Four architectures in four evaluations: a draw of the unused ``_units`` itself made a
    configuration look new while evaluating an architecture again."""

    class Space(neps.PipelineSpace):
        _units = neps.Integer(1, 4)
        layer = neps.Operation(dict, kwargs={"units": _units.resample()})

    history = optimize(RegularizedEvolution(Space(), seed=seed), lambda c: 0.0, 4)
    assert sorted(t.config["layer.kwargs.units"] for t in history.values()) == [1, 2, 3, 4]


class TestNePSOptionsContract(OptimizerContract):
    """Crossovers and forgetting (NePS's options) on flat and structural spaces."""

    optimizer_class = RegularizedEvolution
    optimizer_options: ClassVar[dict[str, Any]] = {
        "population_size": 4,
        "sample_size": 3,
        "mutation_type": 0.5,
        "n_forgets": "half",
    }
    spaces: ClassVar[dict[str, PipelineSpace]] = {**toy_spaces(), **structural_spaces()}


def _moved(child: dict[str, float], parent: dict[str, float]) -> list[str]:
    return [k for k in parent if child[k] != parent[k]]


#: Twelve decisions: crossovers of two parents have 4094 children that are neither.
TWELVE = PipelineSpace({f"x{i}": neps.Float(0.0, 1.0) for i in range(12)})


def _tournament_of_five(space: PipelineSpace = FLOATS) -> tuple[list[dict], TrialHistory]:
    """Five members, all in every tournament: configs[1] always wins, configs[4] is second."""
    rng = np.random.default_rng(1)
    configs = [space.sample(rng) for _ in range(5)]
    return configs, _evaluated(configs, [3.0, 0.5, 2.0, 4.0, 1.0])


def _offspring(settings: RegularizedEvolutionSettings, history: TrialHistory, n: int) -> list:
    optimizer = RegularizedEvolution(TWELVE, settings, seed=3)
    return [p.config for p in optimizer.ask(history, BudgetInfo(), n)]


@pytest.mark.parametrize(
    ("n_mutations", "counts"),
    [(3, {3}), (np.int64(3), {3}), ("half", {2}), ("random", {1, 2})],  # NumPy's were refused
)
def test_n_mutations_moves_that_many_decisions(n_mutations: Any, counts: set[int]) -> None:
    configs, history = _tournament_of_five()
    settings = RegularizedEvolutionSettings(
        population_size=5, sample_size=5, n_mutations=n_mutations, mutation_type=np.int64(1)
    )
    moved = [len(_moved(child, configs[1])) for child in _children(settings, history, 60)]
    assert set(moved) == counts


def test_n_forgets_draws_decisions_anew_where_mutations_step() -> None:
    configs, history = _tournament_of_five()

    def jumps(**options: Any) -> list[float]:
        settings = RegularizedEvolutionSettings(population_size=5, sample_size=5, **options)
        children = _children(settings, history, 200)
        assert all(len(_moved(child, configs[1])) == 1 for child in children)
        return [abs(c[k] - configs[1][k]) for c in children for k in _moved(c, configs[1])]

    assert np.mean(np.array(jumps(n_forgets=1)) > 0.4) > 0.2  # anywhere in the range
    assert np.mean(np.array(jumps(n_mutations=1)) > 0.4) < 0.05  # a step of 0.2


def test_crossover_mixes_the_best_two_of_the_tournament() -> None:
    configs, history = _tournament_of_five(TWELVE)
    best, second = configs[1], configs[4]
    settings = RegularizedEvolutionSettings(
        population_size=5, sample_size=5, mutation_type="crossover_top_2"
    )
    for child in _offspring(settings, history, 50):
        assert all(child[k] in (best[k], second[k]) for k in child)
        assert child not in (best, second)


@pytest.mark.parametrize(("mutation_type", "share"), [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)])
def test_a_number_is_the_probability_of_a_mutation(mutation_type: float, share: float) -> None:
    configs, history = _tournament_of_five(TWELVE)
    settings = RegularizedEvolutionSettings(
        population_size=5, sample_size=5, mutation_type=mutation_type
    )
    children = _offspring(settings, history, 200)
    crossed = [all(c[k] in (configs[1][k], configs[4][k]) for k in c) for c in children]
    assert np.mean(crossed) == pytest.approx(share, abs=0.1)


def test_the_initial_population_follows_the_priors_by_default_as_in_neps() -> None:
    space = PipelineSpace({"x": neps.Float(0.0, 1.0, prior=0.9, prior_confidence="high")})

    def initial(**options: Any) -> list[float]:
        optimizer = RegularizedEvolution(space, RegularizedEvolutionSettings(**options), seed=0)
        return [p.config["x"] for p in optimizer.ask(TrialHistory(), BudgetInfo(), 19)]

    assert np.mean(np.abs(np.array(initial()) - 0.9) < 0.2) > 0.8
    assert np.mean(np.abs(np.array(initial(initial_use_priors=False)) - 0.9) < 0.2) < 0.5


def test_neps_options_run_under_neps_names(root: Path) -> None:
    space = PipelineSpace({**FLOATS.parameters, "epochs": neps.IntegerFidelity(1, 9)})
    seen: list[int] = []

    def evaluate_pipeline(a: float, b: float, c: float, d: float, epochs: int) -> float:
        seen.append(epochs)
        return a + b

    options = {
        "population_size": 3,
        "tournament_size": 2,
        "use_priors": False,
        "mutation_type": 0.5,
        "n_mutations": None,
        "n_forgets": "random",
        "ignore_fidelity": "highest_fidelity",
    }
    neps.run(
        evaluate_pipeline,
        space,
        root_directory=root,
        evaluations_to_spend=8,
        optimizer=("neps_regularized_evolution", options),
    )
    assert seen == [9] * 8


def test_ignore_fidelity_false_is_refused_for_a_space_with_a_fidelity() -> None:
    settings = RegularizedEvolutionSettings(ignore_fidelity=False)
    assert RegularizedEvolution(FLOATS, settings).ask(TrialHistory(), BudgetInfo(), 1)
    space = PipelineSpace({**FLOATS.parameters, "epochs": neps.IntegerFidelity(1, 9)})
    with pytest.raises(SettingsError, match=r"ignore_fidelity=False.*'epochs'.*random_search"):
        RegularizedEvolution(space, settings)


def test_the_refusal_names_the_optimizer_once_through_run(tmp_path: Path) -> None:
    # It read "optimizer 'regularized_evolution': regularized_evolution: ignore_fidelity=...".
    space = {**FLOATS.parameters, "epochs": neps.IntegerFidelity(1, 9)}
    with pytest.raises(SettingsError) as caught:
        neps.run(
            lambda **config: 0.0,
            space,
            root_directory=tmp_path,
            optimizer=("regularized_evolution", {"ignore_fidelity": False}),
            evaluations_to_spend=1,
        )
    assert str(caught.value).startswith(
        "optimizer 'regularized_evolution': ignore_fidelity=False, but the space has the "
        "fidelity 'epochs'"
    )


def test_numeric_strings_are_read_as_numbers_as_yaml_gives_them() -> None:
    settings = RegularizedEvolutionSettings(mutation_type="0.5", n_mutations="2", n_forgets=None)
    assert (settings.mutation_type, settings.n_mutations) == (0.5, 2)
    assert RegularizedEvolutionSettings(n_forgets="3", mutation_type="1").n_forgets == 3
    assert RegularizedEvolutionSettings(n_mutations="half").n_mutations == "half"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"n_mutations": 0}, "n_mutations must be a whole number"),
        ({"n_mutations": "2.5"}, "n_mutations must be a whole number"),
        ({"mutation_type": "1.5"}, "mutation_type must be"),
        ({"n_forgets": "all"}, "n_forgets must be"),
        ({"n_mutations": 1, "n_forgets": 1}, "n_mutations and n_forgets .* give one"),
        ({"mutation_rate": 0.5, "n_mutations": "half"}, "mutation_rate and n_mutations"),
        ({"mutation_type": 1.5}, "mutation_type must be"),
        ({"mutation_type": "crossover"}, "mutation_type must be"),
        ({"ignore_fidelity": "max"}, "ignore_fidelity must be"),
    ],
)
def test_invalid_neps_options_are_refused(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        RegularizedEvolutionSettings(**options)
