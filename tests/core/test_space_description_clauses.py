"""Clauses and space-wide keys of NePS's declarative space form (YAML files, dicts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import neps_core as neps
from neps_core.space import Equals, InvalidParameterError


def test_scientific_text_in_clauses_is_the_number_the_choices_are(tmp_path: Path) -> None:
    # yaml.safe_load leaves 1e-3 as text: the choices were read as numbers but the clause
    # kept the text, so the space was refused ("'1e-3' is not a value of 'lr'").
    text = """
lr: {choices: [1e-4, 1e-3]}
decay: {lower: 1e-5, upper: 1e-1, log: true}
warmup: {lower: 0.0, upper: 1.0, condition: {and: [{eq: [lr, 1e-3]}, {gt: [decay, 1e-3]}]}}
$forbidden: [{and: [{in: [lr, [1e-4]]}, {lt: [decay, 1e-4]}]}]
"""
    received: list[dict[str, float]] = []

    def evaluate(**config: float) -> float:
        received.append(config)
        return config["decay"]

    neps.run(evaluate, yaml.safe_load(text), root_directory=tmp_path, evaluations_to_spend=30)
    assert len(received) == 30
    for config in received:
        assert ("warmup" in config) == (config["lr"] == 1e-3 and config["decay"] > 1e-3)
        assert not (config["lr"] == 1e-4 and config["decay"] < 1e-4)


def test_text_choices_keep_text_clauses() -> None:
    space = neps.PipelineSpace(
        {
            "lr": neps.Categorical(["1e-4", "1e-3"]),
            "x": {"lower": 0.0, "upper": 1.0, "condition": {"eq": ["lr", "1e-3"]}},
        }
    )
    assert space.conditions["x"] == neps.space.Equals("lr", "1e-3")


def test_a_mistyped_space_key_is_refused_naming_it(tmp_path: Path) -> None:
    # `$forbiden:` was a parameter (a categorical of the clause), so the clause never applied.
    space_file = tmp_path / "space.yaml"
    space_file.write_text("a: [1, 10]\nb: [1, 10]\n$forbiden:\n  - {rel: [a, '<', b]}\n")

    def evaluate(a: int, b: int, **others: object) -> float:
        return a - b

    with pytest.raises(InvalidParameterError, match=r"\$forbiden"):
        neps.run(evaluate, str(space_file), root_directory=tmp_path / "run")
    assert not (tmp_path / "run" / "configs").exists()


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("a: [x, y]\n$forbidden: {eq: [a, x]}\n", r"\$forbidden must be a list of clauses"),
        ("a: [x, y]\n$max_depth: ten\n", r"\$max_depth must be a whole number, got 'ten'"),
    ],
)
def test_space_wide_keys_are_checked(text: str, culprit: str) -> None:
    with pytest.raises(InvalidParameterError, match=culprit):
        neps.PipelineSpace(yaml.safe_load(text))


def test_forbidden_clauses_in_another_order_continue_the_run(tmp_path: Path) -> None:
    # The order of $forbidden clauses changes no space, but continuing a run from a file that
    # lists them in another order raised SpaceMismatchError.
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("a: [1, 10]\nc: [x, y]\n$forbidden: [{gt: [a, 8]}, {eq: [c, y]}]\n")
    second.write_text("c: [x, y]\na: [1, 10]\n$forbidden: [{eq: [c, y]}, {gt: [a, 8]}]\n")
    received: list[tuple[int, str]] = []

    def evaluate(a: int, c: str) -> float:
        received.append((a, c))
        return a

    root = tmp_path / "run"
    neps.run(evaluate, str(first), root_directory=root, evaluations_to_spend=2)
    neps.run(evaluate, str(second), root_directory=root, evaluations_to_spend=4)
    assert len(received) == 4 and all(a <= 8 and c == "x" for a, c in received)
    assert neps.load_pipeline_space(root) == neps.PipelineSpace(yaml.safe_load(second.read_text()))


def test_equal_spaces_hash_alike() -> None:
    # Equal spaces whose entries come in another order had different hashes (two in a set).
    first = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 3)})
    second = neps.PipelineSpace({"n": neps.Integer(1, 3), "x": neps.Float(0.0, 1.0)})
    assert first == second and hash(first) == hash(second) and len({first, second}) == 1


def test_a_condition_given_twice_is_refused_naming_the_parameter() -> None:
    # conditions= silently replaced the description's (or a ConfigSpace's) condition.
    description = {
        "optimizer": {"choices": ["sgd", "adam"]},
        "momentum": {"lower": 0.0, "upper": 1.0, "condition": {"eq": ["optimizer", "sgd"]}},
    }
    with pytest.raises(InvalidParameterError, match="Parameter 'momentum': the description"):
        neps.PipelineSpace(description, conditions={"momentum": Equals("optimizer", "adam")})
    assert neps.PipelineSpace(description).conditions["momentum"] == Equals("optimizer", "sgd")
