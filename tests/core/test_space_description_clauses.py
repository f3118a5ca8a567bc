"""Clauses and space-wide keys of NePS's declarative space form (YAML files, dicts)."""

from __future__ import annotations

from pathlib import Path

import yaml

import neps_core as neps


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
