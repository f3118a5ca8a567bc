"""NePS's resolution records (``SAMPLING__``/``ENVIRONMENT__`` keys) import as the space's
names and values, from a NePS results directory and from NePS's ``import_trials`` scripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import neps_core as neps


class Space(neps.PipelineSpace):
    x = neps.Float(0.0, 1.0)
    c = neps.Categorical(["a", "b"])
    epochs = neps.IntegerFidelity(1, 9)


#: A configuration as newest NePS stores it for ``Space`` (NepsCompatConverter.to_neps_config).
RECORD = {
    "ENVIRONMENT__epochs": 9,
    "SAMPLING__Resolvable.x::float__0.0_1.0_False": 0.5,
    "SAMPLING__Resolvable.c::categorical__2": 1,
}
STRUCTURAL = "SAMPLING__Resolvable.c.sampled_value.args.sequence[0]::float__0.0_1.0_False"


def _neps_root(tmp_path: Path, *configs: dict[str, object]) -> Path:
    """A results directory as NePS writes one: a finished trial per configuration."""
    root = tmp_path / "neps_results"
    root.mkdir()
    (root / "optimizer_info.yaml").write_text("name: neps_priorband\ninfo: {}\n")
    report = {"objective_to_minimize": 0.5, "learning_curve": [0.5], "reported_as": "success"}
    for number, config in enumerate(configs, start=1):
        folder = root / "configs" / f"config_{number}"
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        (folder / "report.yaml").write_text(yaml.safe_dump(report))
    return root


def test_a_neps_space_run_of_neps_carries_over(tmp_path: Path, root: Path) -> None:
    """They were refused: "Unknown parameter(s) ['ENVIRONMENT__epochs', ...]"."""
    neps_root = _neps_root(tmp_path, RECORD)
    assert neps.read_neps_results(neps_root)[0][0] == RECORD  # as stored, without a space
    expected = {"x": 0.5, "c": "b", "epochs": 9}  # the categorical's index 1 is "b"
    assert neps.read_neps_results(neps_root, Space())[0][0] == expected
    (trial,) = neps.import_trials(neps.read_neps_results(neps_root), root, Space())
    assert trial.config == expected
    assert neps.load_config(root, config_id=trial.id) == expected


def test_nepss_import_example_configuration_is_imported(root: Path) -> None:
    """NePS's convenience/import_trials.py passes such keys for neps_hyperband/neps_priorband."""

    class ExampleSpace(neps.PipelineSpace):
        float1 = neps.Float(lower=0, upper=1)
        float2 = neps.Fidelity(neps.Float(lower=1, upper=10))
        categorical = neps.Categorical(choices=[0, 1])
        integer2 = neps.Integer(lower=1, upper=1000, log=True)

    record = {
        "ENVIRONMENT__float2": 1,
        "SAMPLING__Resolvable.categorical::categorical__2": 0,
        "SAMPLING__Resolvable.float1::float__0_1_False": 0.5,
        "SAMPLING__Resolvable.integer2::integer__1_1000_True": 5,
        "float1_note": "ignored",
    }
    with pytest.raises(ValueError, match=r"evaluated_trials\[0\].*Unknown parameter.*float1_note"):
        neps.import_trials([(record, -1.0)], root, ExampleSpace(), optimizer="neps_priorband")
    del record["float1_note"]
    (trial,) = neps.import_trials(
        [(record, neps.UserResultDict(objective_to_minimize=-1.0))],
        root_directory=root,
        pipeline_space=ExampleSpace(),
        optimizer="neps_priorband",
    )
    assert trial.config == {"float1": 0.5, "float2": 1, "categorical": 0, "integer2": 5}


def test_a_numpy_integer_index_picks_its_choice(root: Path) -> None:
    """Pairs from a pandas frame hold ``np.int64`` indices, which were refused."""
    config = {**RECORD, "SAMPLING__Resolvable.c::categorical__2": np.int64(0)}
    [trial] = neps.import_trials([(config, 0.5)], root, Space())
    assert trial.config == {"x": 0.5, "c": "a", "epochs": 9}
    refused = {**RECORD, "SAMPLING__Resolvable.c::categorical__2": np.bool_(True)}
    with pytest.raises(ValueError, match="not the index of one of 2 choices"):
        neps.import_trials([(refused, 0.5)], root, Space())


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        (
            STRUCTURAL,
            0.3,
            r"records a value drawn inside 'c' \(an operation's arg.*cannot be imported",
        ),
        ("SAMPLING__Resolvable.depth::integer__1_8_False", 3, r"names no parameter.*'x', 'c'"),
        ("SAMPLING__Resolvable.c::categorical__3", 1, r"picks among 3 choices.*categorical has 2"),
        ("SAMPLING__Resolvable.c::categorical__2", 2, r"holds 2, not the index of one of 2"),
        (
            "SAMPLING__Resolvable.x::integer__0_1_False",
            1,
            r"holds a value of kind 'integer', but 'x' is of kind 'float'",
        ),
        ("ENVIRONMENT__steps", 3, r"sets 'steps', which is not the space's fidelity"),
        ("x", 0.2, r"gives 'x' a second value"),
    ],
)
def test_a_key_without_a_parameter_is_named_with_its_trial(
    tmp_path: Path, root: Path, key: str, value: object, says: str
) -> None:
    config = {**RECORD, key: value}
    neps_root = _neps_root(tmp_path, RECORD, config)
    quoted = key.replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(ValueError, match=rf"^configs/config_2: NePS key '{quoted}' {says}"):
        neps.read_neps_results(neps_root, Space())
    with pytest.raises(ValueError, match=rf"^evaluated_trials\[1\]: NePS key '{quoted}' {says}"):
        neps.import_trials(neps.read_neps_results(neps_root), root, Space())
    assert not root.exists()  # nothing was written
