"""``ByName`` references, recursion and depth limits: spaces that behave like grammars.

A recursive space must always finish (the depth limit steers sampling toward choices that
end in time), an infinite one must be refused with the entry named, and the configurations
of deep structures must still validate, save and reload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import neps_core as neps
from neps_core.space import describe_space, space_from_description
from neps_core.space.analysis import DEFAULT_MAX_DEPTH, HARD_DEPTH_LIMIT


class SeedGrammar(neps.PipelineSpace):
    """The recursive example of NePS's space documentation, verbatim."""

    self_reference = neps.Categorical(
        choices=(
            (neps.ByName("self_reference").resample(), neps.ByName("self_reference").resample()),
            (neps.ByName("future_param").resample(),),
        )
    )
    future_param = neps.Float(lower=0, upper=5)


def add(left: str, right: str) -> str:
    return f"({left} + {right})"


def negate(term: str) -> str:
    return f"-{term}"


class ExpressionGrammar(neps.PipelineSpace):
    """expr := expr + expr | -expr | var; var := x | y | <integer>."""

    expr = neps.Categorical(
        choices=(
            neps.Operation(
                add, args=(neps.ByName("expr").resample(), neps.ByName("expr").resample())
            ),
            neps.Operation(negate, args=(neps.ByName("expr").resample(),)),
            neps.ByName("_var").resample(),
        )
    )
    _var = neps.Categorical(choices=("x", "y", neps.Operation(str, args=(neps.Integer(0, 9),))))


def _depth(value: Any) -> int:
    """Nesting depth of the tuples the seed grammar produces (a float is depth 0)."""
    return 1 + max(map(_depth, value)) if isinstance(value, tuple) else 0


def _floats(value: Any) -> list[float]:
    return [f for item in value for f in _floats(item)] if isinstance(value, tuple) else [value]


def _samples(space: neps.PipelineSpace, n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def test_seed_grammar_samples_finish_and_validate() -> None:
    space = SeedGrammar()
    depths = []
    for config in _samples(space, 200):
        space.validate_config(config)
        value = space.resolve(config)["self_reference"]
        assert isinstance(value, tuple)
        assert all(0.0 <= f <= 5.0 for f in _floats(value))
        depths.append(_depth(value))
    assert min(depths) == 1 and max(depths) >= 3  # both choices, and real recursion
    assert max(depths) <= DEFAULT_MAX_DEPTH + 1


def test_every_recursion_level_draws_independently() -> None:
    space = SeedGrammar()
    deep = next(c for c in _samples(space, 200) if len(c) > 6)
    leaves = _floats(space.resolve(deep)["self_reference"])
    assert len(set(leaves)) == len(leaves)
    assert deep["future_param"] not in leaves  # the entry itself is drawn separately


def test_paths_name_each_decision_of_a_recursive_structure() -> None:
    space = SeedGrammar()
    config = {
        "self_reference": 0,
        "self_reference[0].0": 1,
        "self_reference[0].0[1].0": 2.5,
        "self_reference[0].1": 1,
        "self_reference[0].1[1].0": 4.0,
        "future_param": 1.0,
    }
    space.validate_config(config)
    assert space.resolve(config)["self_reference"] == ((2.5,), (4.0,))
    assert space.readable(config)["self_reference"] == "((2.5,), (4.0,))"


@pytest.mark.parametrize("max_depth", [1, 2, 4])
def test_max_depth_bounds_every_sample(max_depth: int) -> None:
    space = SeedGrammar(max_depth=max_depth)
    for config in _samples(space, 100):
        assert _depth(space.resolve(config)["self_reference"]) <= max_depth
        space.validate_config(config)


def test_a_grammar_that_needs_more_depth_than_allowed_is_refused() -> None:
    chain = {
        "a": neps.Operation(negate, args=(neps.ByName("b").resample(),)),
        "b": neps.Operation(negate, args=(neps.ByName("c").resample(),)),
        "c": neps.Categorical(choices=("x", "y")),
    }
    assert neps.PipelineSpace(chain, max_depth=2).sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"'a'.*2 nested resamples.*max_depth=1"):
        neps.PipelineSpace(chain, max_depth=1)
    with pytest.raises(ValueError, match="max_depth"):
        neps.PipelineSpace(chain, max_depth=HARD_DEPTH_LIMIT + 1)


@pytest.mark.parametrize(
    "definition",
    [
        lambda: neps.Categorical(
            choices=(
                (neps.ByName("endless").resample(),),
                (neps.ByName("endless").resample(), neps.ByName("endless").resample()),
            )
        ),
        lambda: neps.Operation(negate, args=(neps.ByName("endless").resample(),)),
    ],
    ids=["categorical", "operation"],
)
def test_an_infinite_grammar_is_refused_naming_the_entry(definition: Any) -> None:
    with pytest.raises(ValueError, match=r"'endless'.*infinite grammar"):
        neps.PipelineSpace({"endless": definition()})


def test_mutually_recursive_infinite_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="infinite grammar") as caught:
        neps.PipelineSpace(
            {
                "a": neps.Operation(negate, args=(neps.ByName("b").resample(),)),
                "b": neps.Operation(negate, args=(neps.ByName("a").resample(),)),
            }
        )
    assert "'a'" in str(caught.value) and "'b'" in str(caught.value)


def test_a_shared_cycle_between_entries_is_refused() -> None:
    with pytest.raises(ValueError, match=r"a -> b -> a|b -> a -> b"):
        neps.PipelineSpace(
            {
                "a": neps.Operation(negate, args=(neps.ByName("b"),)),
                "b": neps.Categorical(choices=(neps.ByName("a"), "x")),
            }
        )


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        (lambda: neps.ByName("_blokc").resample(), "resamples '_blokc'"),
        (lambda: neps.Resampled("_blokc"), "resamples '_blokc'"),
        (lambda: neps.ByName("_blokc"), "refers to '_blokc'"),
    ],
    ids=["resample", "Resampled", "shared"],
)
def test_a_typo_in_a_reference_names_the_entry_holding_it(reference: Any, says: str) -> None:
    """The missing target is no parameter: the error names the entry whose definition holds
    the typo, and the entry likely meant."""
    with pytest.raises(ValueError) as caught:
        neps.PipelineSpace(
            {
                "b": neps.Operation(negate, args=(reference(),)),
                "_block": neps.Operation(negate, args=(1,)),
            }
        )
    assert str(caught.value) == (
        f"Parameter 'b': {says}, which is not defined in the space (did you mean '_block'?)"
    )


@pytest.mark.parametrize("alias_first", [False, True])
def test_a_typo_reached_through_an_alias_names_the_alias(alias_first: bool) -> None:
    """Resampling ``a``, a ``ByName`` holding the typo, blamed the entry that resampled it,
    when that entry came first."""
    entries = {
        "b": neps.Operation(negate, args=(neps.Resampled("a"),)),
        "a": neps.ByName("_blokc"),
        "_block": neps.Operation(negate, args=(1,)),
    }
    if alias_first:
        entries = {"a": entries.pop("a"), **entries}
    with pytest.raises(ValueError) as caught:
        neps.PipelineSpace(entries)
    assert str(caught.value) == (
        "Parameter 'a': refers to '_blokc', which is not defined in the space "
        "(did you mean '_block'?)"
    )


def test_resampling_into_a_cycle_of_aliases_names_the_cycle() -> None:
    """It said "Parameter 'b': resamples 'a', whose references form a cycle"; ``b`` is fine."""
    with pytest.raises(ValueError, match=r"^Parameter 'a': refers to itself .*\(a -> c -> a\)"):
        neps.PipelineSpace(
            {
                "b": neps.Operation(negate, args=(neps.Resampled("a"),)),
                "a": neps.ByName("c"),
                "c": neps.ByName("a"),
            }
        )


def test_a_typo_is_not_taken_for_the_entry_holding_it() -> None:
    """``widht`` resampling ``widht_`` was asked "did you mean 'widht'?", itself."""
    with pytest.raises(ValueError, match=r"resamples 'widht_', .* \(did you mean 'width'\?\)$"):
        neps.PipelineSpace(
            {
                "width": neps.Integer(1, 8),
                "widht": neps.Operation(dict, kwargs={"a": neps.Resampled("widht_")}),
            }
        )


def test_forward_references_share_the_later_entry() -> None:
    space = neps.PipelineSpace(
        {
            "first": neps.Operation(add, args=(neps.ByName("later"), neps.ByName("later"))),
            "later": neps.Categorical(choices=("p", "q")),
        }
    )
    for config in _samples(space, 10):
        values = space.resolve(config)
        assert values["first"] == f"({values['later']} + {values['later']})"
        assert set(config) == {"later"}


def test_operations_in_a_grammar_build_expressions() -> None:
    space = ExpressionGrammar()
    texts = [space.resolve(c)["expr"] for c in _samples(space, 60)]
    assert any("+" in t for t in texts) and any(t.startswith("-") for t in texts)
    assert any(t in {"x", "y"} for t in texts) and any(t.isdigit() for t in texts)
    assert all(t.count("(") == t.count(")") for t in texts)


def test_grammar_sampling_is_deterministic_under_a_seed() -> None:
    assert _samples(SeedGrammar(), 20, seed=5) == _samples(SeedGrammar(), 20, seed=5)
    assert _samples(ExpressionGrammar(), 20, seed=5) != _samples(ExpressionGrammar(), 20, seed=6)


def test_grammar_descriptions_round_trip(tmp_path: Path) -> None:
    for space in (SeedGrammar(), ExpressionGrammar(), SeedGrammar(max_depth=3)):
        described = describe_space(space)
        path = tmp_path / "space.yaml"
        path.write_text(yaml.safe_dump(described, sort_keys=False), encoding="utf-8")
        restored = space_from_description(yaml.safe_load(path.read_text(encoding="utf-8")))
        assert describe_space(restored) == described and restored.max_depth == space.max_depth
        for config in _samples(space, 20):
            restored.validate_config(config)
            assert restored.resolve(config) == space.resolve(config)


def test_stored_configurations_deeper_than_the_hard_limit_are_refused() -> None:
    space = SeedGrammar(max_depth=HARD_DEPTH_LIMIT)
    config: dict[str, Any] = {"future_param": 1.0}
    path = "self_reference"
    for _ in range(HARD_DEPTH_LIMIT + 2):
        config[path] = 0
        config[f"{path}[0].1"] = 1
        config[f"{path}[0].1[1].0"] = 1.0
        path = f"{path}[0].0"
    with pytest.raises(ValueError, match="nests more than"):
        space.validate_config(config)


def test_a_grammar_run_reloads_its_configurations(root: Path) -> None:
    received: dict[str, str] = {}

    def evaluate_pipeline(pipeline_id: str, expr: str) -> float:
        received[pipeline_id] = expr
        return float(len(expr))

    neps.run(
        evaluate_pipeline,
        ExpressionGrammar(),
        root_directory=root,
        evaluations_to_spend=8,
        optimizer="complex_random_search",
        seed=2,
    )
    assert len(received) == 8
    for trial_id, expr in received.items():
        assert neps.load_config(root, config_id=trial_id) == {"expr": expr}
