"""The ``native_space`` plugin: PipelineSpace classes, dicts and YAML files as search spaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import neps_core as neps
from neps_core.plugin_manager import Plugins
from neps_core.testing import toy_evaluate_pipeline
from neps_core_plugins.native_space import NativeSpaceAdapter, YamlSpaceAdapter

pytest_plugins = ["neps_core.testing.fixtures"]


class Space(neps.PipelineSpace):
    lr = neps.Float(1e-4, 1e-1, log=True, prior=1e-2)
    act = neps.Categorical(choices=("relu", "tanh"))
    epochs = neps.IntegerFidelity(1, 9)


EXPECTED = neps.PipelineSpace(
    {
        "lr": neps.Float(1e-4, 1e-1, log=True, prior=1e-2),
        "act": neps.Categorical(choices=("relu", "tanh")),
        "epochs": neps.IntegerFidelity(1, 9),
    }
)

YAML = """\
pipeline_space:
  lr: {lower: 1.0e-4, upper: 1.0e-1, log: true, prior: 1.0e-2}
  act: {choices: [relu, tanh]}
  epochs: {lower: 1, upper: 9, is_fidelity: true}
"""


def test_both_adapters_are_registered(neps_plugins: Plugins) -> None:
    assert neps_plugins.space_adapters["native"] is NativeSpaceAdapter
    assert neps_plugins.space_adapters["yaml"] is YamlSpaceAdapter
    assert "native_space" in neps_plugins.space_adapters.origin("yaml")


@pytest.mark.parametrize(
    "given",
    [
        Space,
        Space(),
        dict(EXPECTED.parameters),
        {
            "lr": {"lower": 1e-4, "upper": 1e-1, "log": True, "prior": 1e-2},
            "act": {"choices": ["relu", "tanh"]},
            "epochs": {"lower": 1, "upper": 9, "is_fidelity": True},
        },
    ],
    ids=["class", "instance", "dict-of-parameters", "declarative-dict"],
)
def test_native_forms_become_the_same_space(given: Any) -> None:
    assert NativeSpaceAdapter.can_adapt(given)
    assert NativeSpaceAdapter.adapt(given) == EXPECTED


def test_other_objects_are_not_native() -> None:
    assert not NativeSpaceAdapter.can_adapt("space.yaml")
    assert not NativeSpaceAdapter.can_adapt(int)
    assert not NativeSpaceAdapter.can_adapt([neps.Float(0, 1)])


def test_yaml_files_with_or_without_a_pipeline_space_key(tmp_path: Path) -> None:
    nested = tmp_path / "run.yaml"
    nested.write_text(YAML)
    flat = tmp_path / "space.yml"
    flat.write_text("\n".join(line[2:] for line in YAML.splitlines()[1:]))
    for path in (nested, str(flat)):
        assert YamlSpaceAdapter.can_adapt(path)
        assert YamlSpaceAdapter.adapt(path) == EXPECTED
    assert not YamlSpaceAdapter.can_adapt(tmp_path / "space.json")
    assert not YamlSpaceAdapter.can_adapt({"x": neps.Float(0, 1)})


def test_a_yaml_space_under_search_space_is_read_as_older_neps_wrote_it(tmp_path: Path) -> None:
    # NePS's first YAML spaces (defining_search_space/search_space_example.yaml) put the space
    # under `search_space:`, which its loader required; it was read as one parameter so named.
    older = tmp_path / "search_space_example.yaml"
    older.write_text(YAML.replace("pipeline_space:", "search_space:"))
    assert YamlSpaceAdapter.adapt(older) == EXPECTED
    alone = tmp_path / "one.yaml"  # a space whose only parameter is named search_space
    alone.write_text("search_space: {lower: 1, upper: 9}\n")
    assert YamlSpaceAdapter.adapt(alone) == neps.PipelineSpace({"search_space": neps.Integer(1, 9)})


def test_yaml_errors_name_the_file_and_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        YamlSpaceAdapter.adapt(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: {lower: 1.0, upper: 0.1}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*'lr'.*lower"):
        YamlSpaceAdapter.adapt(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("lr: {lower: 1.0, upper: [\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid YAML"):
        YamlSpaceAdapter.adapt(broken)
    twice = tmp_path / "twice.yaml"
    twice.write_text("lr: {lower: 0.1, upper: 1.0}\nlr: {lower: 1, upper: 9}\n")
    with pytest.raises(ValueError, match=r"twice\.yaml: line 2: duplicate key 'lr'"):
        YamlSpaceAdapter.adapt(twice)  # YAML alone would keep the second silently


def test_a_run_takes_a_yaml_path(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(YAML)
    summary = neps.run(
        toy_evaluate_pipeline,
        str(path),
        root_directory=tmp_path / "root",
        evaluations_to_spend=3,
        optimizer="random_search",
    )
    assert summary.counts["success"] == 3
    assert neps.load_pipeline_space(tmp_path / "root") == EXPECTED


def test_numbers_in_exponent_notation_are_numbers_everywhere_in_a_yaml_file(
    tmp_path: Path,
) -> None:
    # YAML 1.1 reads 1e-4 (no dot) as text: the bounds were parsed, but a constant or a choice
    # reached evaluate_pipeline as the string '1e-4', and Adam(lr='1e-4') fails in user code.
    path = tmp_path / "space.yaml"
    path.write_text("weight_decay: 1e-4\nlr: [1e-3, 1e-2, 1E-1]\nname: {choices: [a1e2, 2e]}\n")
    seen: list[tuple[Any, Any, Any]] = []

    def evaluate_pipeline(weight_decay: Any, lr: Any, name: Any) -> float:
        seen.append((weight_decay, lr, name))
        return 0.0

    neps.run(evaluate_pipeline, str(path), root_directory=tmp_path / "root", evaluations_to_spend=6)
    assert {type(w) for w, _, _ in seen} == {float}
    assert {w for w, _, _ in seen} == {1e-4}
    assert {lr for _, lr, _ in seen} <= {1e-3, 1e-2, 1e-1}
    assert {type(lr) for _, lr, _ in seen} == {float}
    assert {n for _, _, n in seen} <= {"a1e2", "2e"}  # text that is no number stays text


def test_a_run_takes_a_class_and_a_dict(neps_run: Any, tmp_path: Path) -> None:
    for index, space in enumerate((Space, {"x": {"lower": 0, "upper": 5}})):
        summary = neps_run(pipeline_space=space, root_directory=tmp_path / str(index))
        assert summary.counts["success"] == 5


def test_a_wrapper_key_with_other_top_level_keys_is_refused_naming_them(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.yaml"  # b and c were dropped: only a was searched
    mixed.write_text("pipeline_space:\n  a: [1, 5]\nb: [1, 5]\nc: {lower: 0.1, upper: 1.0}\n")
    with pytest.raises(ValueError, match=r"mixed\.yaml: .*'pipeline_space'.*\['b', 'c'\]"):
        YamlSpaceAdapter.adapt(mixed)
    both = tmp_path / "both.yaml"
    both.write_text("pipeline_space:\n  a: [1, 5]\nsearch_space:\n  b: [1, 5]\n")
    with pytest.raises(ValueError, match=r"\['search_space'\]"):
        YamlSpaceAdapter.adapt(both)


@pytest.mark.parametrize("key", ["pipeline_space", "search_space"])
def test_a_wrapper_key_holding_a_parameter_form_is_that_parameter(tmp_path: Path, key: str) -> None:
    # was read as the constants lower=1 and upper=5, and lr was dropped
    path = tmp_path / "space.yaml"
    path.write_text(f"{key}: {{lower: 1, upper: 5}}\nlr: {{lower: 0.1, upper: 1.0}}\n")
    expected = {key: neps.Integer(1, 5), "lr": neps.Float(0.1, 1.0)}
    assert YamlSpaceAdapter.adapt(path) == neps.PipelineSpace(expected)
    path.write_text(f"{key}: {{lower: 1, upper: 5}}\n")
    assert YamlSpaceAdapter.adapt(path) == neps.PipelineSpace({key: neps.Integer(1, 5)})


def test_yaml_keys_are_the_names_written(tmp_path: Path) -> None:
    # YAML 1.1 made the parameters 'True', 'None' and '1000.0' of on:, null: and 1e3:
    path = tmp_path / "space.yaml"
    path.write_text("on: [1, 5]\nnull: [0.0, 1.0]\n1e3: [1, 2]\n010: {choices: [a, b]}\n")
    assert list(YamlSpaceAdapter.adapt(path).parameters) == ["on", "null", "1e3", "010"]
    # An alias as a key is its anchor's node: re-tagged in place, the anchored value became text.
    path.write_text("x: &n 5\n*n : [1, 5]\n")
    space = YamlSpaceAdapter.adapt(path)
    assert space.parameters == {"x": neps.Constant(5), "5": neps.Integer(1, 5)}


def test_yaml_numbers_dates_and_times_are_read_as_yaml_1_2_reads_them(tmp_path: Path) -> None:
    # YAML 1.1 read 010 as 8, 0o10 as text, 12:30 as 750 and 2024-01-01 as a date
    path = tmp_path / "space.yaml"
    path.write_text("a: [010, 0o10, 0x10, 12:30, 2024-01-01]\nb: 1_000\n")
    space = YamlSpaceAdapter.adapt(path)
    assert space.parameters["a"] == neps.Categorical([10, 8, 16, "12:30", "2024-01-01"])
    assert space.parameters["b"] == neps.Constant(1000)


def test_a_run_with_date_choices_continues_from_its_folder(tmp_path: Path) -> None:
    # date choices were saved only as text: neps.run without a space could not rebuild them
    path = tmp_path / "space.yaml"
    path.write_text("snapshot: [2024-01-01, 2024-06-01]\nx: [0.0, 1.0]\n")
    seen: list[Any] = []

    def evaluate(snapshot: Any, x: float) -> float:
        seen.append(snapshot)
        return x

    root = tmp_path / "root"
    neps.run(evaluate, str(path), root_directory=root, evaluations_to_spend=2)
    assert neps.run(evaluate, root_directory=root, evaluations_to_spend=3).counts["success"] == 3
    assert set(seen) <= {"2024-01-01", "2024-06-01"}
    assert neps.load_pipeline_space(root) == YamlSpaceAdapter.adapt(path)
