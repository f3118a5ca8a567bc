"""NePS's trial ids (``config_1_rung_0``) where a run of neps_core is asked for a trial."""

from __future__ import annotations

from pathlib import Path

import pytest

import neps_core as neps

SPACE = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}


@pytest.fixture
def fidelity_run(root: Path) -> neps.Summary:
    return neps.run(
        lambda x, epochs: x / epochs,
        SPACE,
        root_directory=root,
        optimizer="successive_halving",
        evaluations_to_spend=12,
        seed=0,
    )


@pytest.mark.parametrize(
    "given", ["1_rung_0", "config_1_rung_0", "configs/config_2_rung_1/config.yaml"]
)
def test_nepss_multi_fidelity_id_is_an_error_explaining_the_runs_ids(
    root: Path, fidelity_run: neps.Summary, given: str
) -> None:
    # NePS's tutorial id gave "No configuration at .../config_1_rung_0/config.yaml".
    with pytest.raises(FileNotFoundError) as raised:
        if given.startswith("configs/"):
            neps.load_config(root / given)  # a trial file by NePS's folder name
        else:
            neps.load_config(root, given)
    message = str(raised.value)
    assert "NePS's id of configuration" in message
    assert "configs/config_<n>" in message and "previous_trial_id" in message


def test_a_trial_told_with_nepss_id_is_loaded_by_it(root: Path) -> None:
    client = neps.AskAndTell(neps.algorithms.hyperband(SPACE, eta=3), root_directory=root)
    told = client.tell_custom(
        config_id="config_1_rung_2",
        config={"x": 0.25, "epochs": 9},
        result={"objective_to_minimize": 0.05},
    )
    client.close()
    assert told.id == "1"
    for given in ("1_rung_2", "config_1_rung_2"):
        assert neps.load_config(root, given) == {"x": 0.25, "epochs": 9}


def test_our_ids_still_come_first(root: Path, fidelity_run: neps.Summary) -> None:
    second = next(t for t in fidelity_run.trials if t.id == "2")
    assert neps.load_config(root, "config_2") == dict(second.config)
    with pytest.raises(FileNotFoundError, match="No configuration at"):
        neps.load_config(root, "99")  # an unknown id of ours: as before
