"""NePS's table view of a run: ``full, short = neps.status(root)`` and ``to_dataframe()``."""

from __future__ import annotations

import copy
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pandas
import pytest

import neps_core as neps

SPACE = {"x": neps.Float(-1.0, 1.0), "act": neps.Categorical(("relu", "tanh"))}


def _objective(x: float, act: str, pipeline_id: str) -> dict[str, object]:
    if pipeline_id == "2":
        raise RuntimeError("diverged")
    return {"objective_to_minimize": x**2, "cost": 1.5, "extra": {"params": 7}}


def test_full_and_short_unpack_as_in_neps(root: Path) -> None:
    neps.run(_objective, SPACE, root_directory=root, evaluations_to_spend=4, ignore_errors=True)
    full, short = neps.status(root)
    assert list(full.index) == ["1", "2", "3", "4"] and full.index.name == "id"
    assert full.loc["1", "config.x"] ** 2 == pytest.approx(full.loc["1", "objective_to_minimize"])
    assert full.loc["2", "state"] == "failed" and "diverged" in full.loc["2", "error"]
    assert full.loc["3", "extra.params"] == 7 and full.loc["3", "cost"] == 1.5
    assert {"config.act", "time_sampled", "time_end", "worker_id"} <= set(full.columns)
    summary = neps.status(root)
    assert short["num_success"] == 3 and short["num_failed"] == 1
    assert short["best_config_id"] == summary.best_trial.id  # type: ignore[union-attr]
    assert short["best_objective_to_minimize"] == summary.best_objective
    assert short["x"] == summary.best_config["x"]  # type: ignore[index]
    assert neps.status(root).to_dataframe().equals(full)
    # No fidelity in this space: the documented column is there, empty (it was dropped).
    assert full["fidelity"].isna().all()
    # No curve reported: NePS's default, the objective as one point; none for a raised error.
    assert full.loc["3", "learning_curve"] == [full.loc["3", "objective_to_minimize"]]
    assert full.loc["2", "learning_curve"] is None


def test_a_nested_extra_dict_is_spread_into_columns_as_json_normalize_names_them(
    root: Path,
) -> None:
    # NePS's full table has extra.nested.a; ours had one extra.nested column holding a dict.
    extra = {"nested": {"a": 1, "deeper": {"b": "x"}}, "empty": {}, "flat": [1, 2]}
    neps.run(
        lambda x, act: {"objective_to_minimize": x, "info_dict": extra},
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
    )
    full, _ = neps.status(root)
    expected = pandas.json_normalize({"extra": extra}).iloc[0].to_dict()
    assert {c: full.loc["1", c] for c in full.columns if c.startswith("extra.")} == expected
    assert set(expected) == {"extra.nested.a", "extra.nested.deeper.b", "extra.flat"}
    on_disk = pandas.read_csv(root / "summary" / "full.csv", index_col="id")
    assert [c for c in on_disk.columns if c.startswith("extra.")] == list(expected)


def test_a_parameter_named_like_an_entry_of_short_does_not_replace_it(root: Path) -> None:
    space = {
        "num_success": neps.Integer(100, 200),
        "num_failed": neps.Integer(100, 200),  # an entry only once a trial failed
        "best_config_id": neps.Categorical(("zz",)),
    }

    def objective(pipeline_id: str, **config: object) -> float:
        return float(pipeline_id)

    neps.run(objective, space, root_directory=root, evaluations_to_spend=3)
    summary = neps.status(root)
    _, short = summary
    assert short["num_success"] == 3 and short["best_config_id"] == "1"
    assert short["best_objective_to_minimize"] == 1.0
    assert short["config.num_success"] == summary.best_config["num_success"]  # type: ignore[index]
    assert short["config.best_config_id"] == "zz" and "num_failed" not in short


def test_a_multi_objective_run_has_no_best_in_short(root: Path) -> None:
    neps.run(
        lambda x, act: {"objective_to_minimize": [x, -x]},
        SPACE,
        root_directory=root,
        evaluations_to_spend=3,
        optimizer="random_search",
    )
    full, short = neps.status(root)
    assert all(len(value) == 2 for value in full["objective_to_minimize"])
    assert dict(short) == {"num_success": 3}


def test_a_run_without_trials_gives_empty_tables(root: Path) -> None:
    with neps.AskAndTell(SPACE, root):
        pass
    full, short = neps.status(root)
    assert full.empty and short.empty
    assert {"objective_to_minimize", "cost", "state", "fidelity"} <= set(full.columns)


def test_trials_still_running_have_the_report_columns(root: Path) -> None:
    """With no report yet, full["objective_to_minimize"] was a KeyError."""
    with neps.AskAndTell(SPACE, root) as session:
        session.ask()
        full, _ = neps.status(root)
    assert full.loc["1", "state"] == "evaluating"
    for column in ("objective_to_minimize", "cost", "learning_curve", "error"):
        assert full[column].isna().all()


def test_without_pandas_the_error_says_what_to_install(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = neps.run(lambda x, act: x, SPACE, root_directory=root, evaluations_to_spend=1)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"neps-core\[analysis\]"):
        iter(summary)


def test_a_summary_pickles_with_an_operation_in_its_space_and_shows_the_same_tables(
    root: Path,
) -> None:
    # It carries the space to show choices by value, and the space held a lambda: pickling
    # a summary (returned from a multiprocessing, Dask or submitit job) raised PicklingError.
    betas = ((0.5, 0.9), (0.9, 0.99))
    space = {
        "x": neps.Float(0.0, 1.0),
        "betas": neps.Categorical(betas),  # stored as the index of the choice
        "net": neps.Operation(lambda width: [width], kwargs={"width": neps.Integer(1, 4)}),
    }
    summary = neps.run(lambda x, betas, net: x, space, root_directory=root, evaluations_to_spend=3)
    copy = pickle.loads(pickle.dumps(summary))
    assert copy.space is None and copy.best_pipeline == summary.best_pipeline
    (full, short), (full_before, short_before) = copy, summary
    pandas.testing.assert_frame_equal(full, full_before)
    pandas.testing.assert_series_equal(short, short_before)
    assert set(full["config.betas"]) <= {str(choice) for choice in betas}  # not 0 or 1


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy])
def test_a_copied_summary_keeps_its_space(root: Path, duplicate: Callable[[Any], Any]) -> None:
    # copy.copy and copy.deepcopy went through the pickling state: the copy lost its space.
    summary = neps.run(lambda x, act: x, SPACE, root_directory=root, evaluations_to_spend=2)
    assert duplicate(summary).space is not None


def test_an_evolved_unpickled_summary_still_shows_choices_by_value(root: Path) -> None:
    # attrs.evolve dropped shown_configs (not an argument): its tables showed stored indices.
    betas = ((0.5, 0.9), (0.9, 0.99))
    space = {"x": neps.Float(0.0, 1.0), "betas": neps.Categorical(betas)}
    summary = neps.run(lambda x, betas: x, space, root_directory=root, evaluations_to_spend=3)
    evolved = attrs.evolve(pickle.loads(pickle.dumps(summary)), best_pipeline=None)
    full, _ = evolved
    assert set(full["config.betas"]) <= {str(choice) for choice in betas}  # not 0 or 1
