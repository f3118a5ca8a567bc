"""Optimizers that must not repeat a configuration use the whole of a small finite space."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neps_core as neps
from neps_core.space import Equals
from neps_core.space.enumeration import MAX_LISTED, ConfigKeys, config_key, unseen_config
from neps_core.testing import history_of, make_trial

GRID = neps.PipelineSpace(
    {
        **{f"c{i}": neps.Categorical(("a", "b", "c")) for i in range(4)},  # 81 configurations
        "epochs": neps.IntegerFidelity(1, 9),
        "dataset": neps.Constant("mnist"),
    }
)


#: BO with a lighter acquisition search (half a run's time otherwise): it finds new
#: configurations less often, so more of the last ones come from the listing tested here.
LIGHT_BO = {"name": "bayesian_optimization", "raw_samples": 64, "restarts": 2}


def test_the_one_configuration_left_is_found() -> None:
    rng = np.random.default_rng(0)
    seen: set[str] = set()
    for _ in range(80):
        config = unseen_config(GRID, seen, rng)
        assert config is not None and config["epochs"] == 9 and config["dataset"] == "mnist"
        seen.add(config_key(config))
    last = unseen_config(GRID, seen, rng)
    assert last is not None and config_key(last) not in seen
    assert unseen_config(GRID, {*seen, config_key(last)}, rng) is None


def test_spaces_that_cannot_be_listed_are_drawn() -> None:
    rng = np.random.default_rng(0)
    floats = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    assert unseen_config(floats, set(), rng) is not None
    huge = neps.PipelineSpace({"n": neps.Integer(0, MAX_LISTED)})  # one more than listed
    assert unseen_config(huge, set(), rng) is not None


#: 2 + 40 * 2 = 82 configurations: ``b`` only where ``a`` is "hi".
CONDITIONAL = neps.PipelineSpace(
    {
        "a": neps.Categorical(("lo", "hi")),
        "b": neps.Categorical(tuple(range(40))),
        "c": neps.Categorical(("p", "q")),
    },
    conditions={"b": Equals("a", "hi")},
)


class Structural(neps.PipelineSpace):
    """2 * 40 = 80 configurations, a choice between operations: a space that is not listed."""

    act = neps.Categorical(choices=(neps.Operation("ReLU"), neps.Operation("GELU")))
    width = neps.Categorical(choices=tuple(range(40)))


def test_a_conditional_space_is_listed_to_its_last_configuration() -> None:
    """A space with conditions was not listed: "nothing left" after 50 missed draws."""
    rng = np.random.default_rng(0)
    seen: set[str] = set()
    while (config := unseen_config(CONDITIONAL, seen, rng)) is not None:
        assert ("b" in config) == (config["a"] == "hi")
        seen.add(config_key(config))
    assert len(seen) == 82


@pytest.mark.parametrize("space", [CONDITIONAL, Structural()], ids=["conditional", "structural"])
@pytest.mark.parametrize("optimizer", ["complex_random_search", "regularized_evolution"])
def test_conditional_and_structural_spaces_are_used_up(
    tmp_path: Path, optimizer: str, space: neps.PipelineSpace
) -> None:
    """They stopped with "nothing left to propose" at 67 to 79 of 80 or 82 configurations."""
    size = 82 if space is CONDITIONAL else 80
    summary = neps.run(
        lambda **config: float(len(repr(sorted(config.items())))),
        space,
        root_directory=tmp_path,
        evaluations_to_spend=200,
        optimizer=optimizer,
        seed=0,
    )
    configs = {config_key(trial.config) for trial in summary.trials}
    assert summary.budget.used_evaluations == len(configs) == size


def test_bayesian_optimization_uses_up_a_conditional_space(tmp_path: Path) -> None:
    """It stopped with "nothing left to propose" at 61 to 70 of 70 configurations."""
    summary = neps.run(
        lambda **config: float(len(repr(sorted(config.items())))),
        CONDITIONAL,
        root_directory=tmp_path,
        evaluations_to_spend=200,
        optimizer=LIGHT_BO,
        seed=0,
    )
    configs = {config_key(trial.config) for trial in summary.trials}
    assert summary.budget.used_evaluations == len(configs) == 82


@pytest.mark.parametrize(
    "optimizer",
    [LIGHT_BO, "regularized_evolution", "complex_random_search"],
    ids=["bayesian_optimization", "regularized_evolution", "complex_random_search"],
)
def test_a_small_discrete_space_is_used_up_before_nothing_is_left(
    tmp_path: Path, optimizer: str | dict[str, Any]
) -> None:
    """They stopped with 'nothing left to propose' at 74 to 79 of 81 configurations."""
    summary = neps.run(
        lambda c0, c1, c2, c3, epochs, dataset: float(f"{c0}{c1}{c2}{c3}".count("a")),
        GRID,
        root_directory=tmp_path,
        evaluations_to_spend=81,
        optimizer=optimizer,
        seed=1,
    )
    configs = {config_key(trial.config) for trial in summary.trials}
    assert summary.budget.used_evaluations == len(configs) == 81


def test_config_keys_are_computed_once_per_configuration() -> None:
    """Every ask rebuilt every trial's key (0.2 s per ask at 1,000 trials of 200 parameters)."""
    computed: list[dict[str, float]] = []

    def key(config: dict[str, float]) -> str:
        computed.append(config)
        return config_key(config)

    keys = ConfigKeys(key)
    history = history_of([make_trial(i, {"x": 0.1 * i}) for i in range(1, 4)])
    assert keys.of(history) == {config_key({"x": 0.1 * i}) for i in range(1, 4)}
    assert keys.of(history) == keys.of(history) and len(computed) == 3
    other = history_of([make_trial(1, {"x": 0.9})])  # another history, the same trial id
    assert keys.of(other) == {config_key({"x": 0.9})} and len(computed) == 4


def test_config_keys_follow_a_growing_history_through_its_changes() -> None:
    """A followed history is read from its changes only, and the keys stay those of a full
    read: new trials, new versions, two trials with one configuration, another history."""
    keys = ConfigKeys()
    history = history_of([make_trial(i, {"x": 0.1 * i}, "pending") for i in range(1, 4)])
    assert keys.of(history) == {config_key({"x": 0.1 * i}) for i in range(1, 4)}
    history.put(make_trial(2, {"x": 0.2}, "success"))
    history.put(make_trial(4, {"x": 0.1}, "success"))  # trial 1's configuration again
    history.put(make_trial(5, {"x": 0.5}, "pending"))
    expected = {config_key(trial.config) for trial in history.values()}
    assert keys.of(history) == expected == ConfigKeys().of(history)
    history.put(make_trial(4, {"x": 0.7}, "success"))  # edited by hand: 0.1 is trial 1's alone
    assert keys.of(history) == {config_key(trial.config) for trial in history.values()}
    other = history_of([make_trial(9, {"x": 0.9})])
    assert keys.of(other) == {config_key({"x": 0.9})}
    other.put(make_trial(4, {"x": 0.4}))  # an id known from the first history: counted afresh
    assert keys.of(other) == {config_key({"x": 0.9}), config_key({"x": 0.4})}


def test_config_keys_of_a_followed_history_are_not_copied_per_ask() -> None:
    """Each ask copied every key into a new set (1 to 6 ms per ask at 10,000 to 20,000
    trials); the keys an ask proposes stay its own."""
    keys = ConfigKeys()
    history = history_of([make_trial(i, {"x": i / 10_000}) for i in range(1, 10_001)])
    keys.of(history)
    tracemalloc.start()
    seen = keys.of(history)
    allocated = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert allocated < 10_000  # a copy of 10,000 keys takes over 500 kB
    assert len(seen) == 10_000 and config_key({"x": 0.5}) in seen
    seen.add("proposed in this ask")
    assert "proposed in this ask" in seen and len(seen) == 10_001
    assert "proposed in this ask" not in keys.of(history)
    assert keys.of(history) == {config_key(t.config) for t in history.values()}
