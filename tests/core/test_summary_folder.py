"""NePS's ``summary/`` folder: written when a run ends, from the data ``status()`` shows."""

from __future__ import annotations

import ast
import csv
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import neps_core as neps
from neps_core.summary import finishing_order
from neps_core.summary_files import write_summary_files
from neps_core.summary_folder import SUMMARY_FOLDER_FILES, Totals

pd = pytest.importorskip("pandas")


def _ids_and_objectives(path: Path) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8")
    return re.findall(r"^Config ID: (\S+)\nObjective to minimize: (.+)$", text, re.MULTILINE)


def _cumulative(path: Path) -> dict[str, str]:
    ending = path.read_text(encoding="utf-8").split("Final cumulative metrics")[1]
    return dict(re.findall(r"^(cumulative_\w+): (.+)$", ending, re.MULTILINE))


def test_a_run_writes_nepss_summary_folder_with_what_status_shows(root: Path) -> None:
    # NePS's tutorials read root/summary/full.csv and short.csv after a run: FileNotFoundError.
    summary = neps.run(
        lambda x: {"objective_to_minimize": x**2, "cost": 2.0, "extra": {"note": "a"}},
        {"x": neps.Float(-1.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=6,
        optimizer="random_search",
        seed=4,
    )
    folder = root / "summary"
    assert sorted(p.name for p in folder.iterdir()) == sorted(SUMMARY_FOLDER_FILES)
    full, short = neps.status(root)
    on_disk = pd.read_csv(folder / "full.csv", index_col="id")
    assert list(on_disk.columns) == list(full.columns)
    assert [str(i) for i in on_disk.index] == list(full.index)
    assert on_disk["objective_to_minimize"].tolist() == pytest.approx(
        full["objective_to_minimize"].tolist()
    )
    assert on_disk["extra.note"].tolist() == ["a"] * 6
    short_on_disk = pd.read_csv(folder / "short.csv", index_col="summary", dtype=str)["value"]
    assert list(short_on_disk.index) == list(short.index)
    assert short_on_disk["best_config_id"] == short["best_config_id"]
    assert float(short_on_disk["x"]) == pytest.approx(short["x"])
    trajectory = _ids_and_objectives(folder / "best_config_trajectory.txt")
    objectives = [float(objective) for _, objective in trajectory]
    assert objectives == sorted(objectives, reverse=True) and len(set(objectives)) == len(
        trajectory
    )
    assert summary.best_trial is not None and trajectory[-1][0] == summary.best_trial.id
    best = folder / "best_config.txt"
    assert [i for i, _ in _ids_and_objectives(best)] == [summary.best_trial.id]
    assert _cumulative(best)["cumulative_evaluations"] == "6"
    assert float(_cumulative(best)["cumulative_cost"]) == pytest.approx(12.0)


@pytest.mark.parametrize("optimistic_fidelity_run", ["disk", "sqlite"], indirect=True)
def test_with_a_fidelity_the_files_name_the_best_at_the_highest_fidelity(
    root: Path, optimistic_fidelity_run: neps.Summary
) -> None:
    summary = optimistic_fidelity_run  # cheap evaluations look better
    assert summary.best_trial is not None and summary.best_trial.fidelity == 4
    folder = root / "summary"
    trajectory = _ids_and_objectives(folder / "best_config_trajectory.txt")
    fidelities = {trial.id: trial.fidelity for trial in summary.trials}
    assert all(fidelities[i] == 4 for i, _ in trajectory)
    assert trajectory[-1][0] == summary.best_trial.id
    assert [i for i, _ in _ids_and_objectives(folder / "best_config.txt")] == [
        summary.best_trial.id
    ]
    short = dict(csv.reader((folder / "short.csv").open(encoding="utf-8")))
    assert short["best_config_id"] == summary.best_trial.id
    expected = sum(trial.fidelity or 0 for trial in summary.trials)
    assert float(_cumulative(folder / "best_config.txt")["cumulative_fidelities"]) == expected


def test_several_objectives_list_the_pareto_front_and_no_trajectory(root: Path) -> None:
    def evaluate(x: float) -> dict[str, Any]:
        return {"objective_to_minimize": [x, 1.0 - x]}

    summary = neps.run(
        evaluate,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=5,
        optimizer="random_search",
        seed=0,
    )
    folder = root / "summary"
    assert not (folder / "best_config_trajectory.txt").exists()  # as NePS: one objective only
    front = _ids_and_objectives(folder / "best_config.txt")
    assert [i for i, _ in front] == [t.id for t in summary.pareto_front] and len(front) == 5
    on_disk = pd.read_csv(folder / "full.csv", index_col="id")
    assert [ast.literal_eval(text) for text in on_disk["objective_to_minimize"]] == [
        list(t.objective) for t in summary.trials
    ]


def test_the_csv_files_are_written_without_pandas(root: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["pandas"] = None  # not installed: pandas is the optional analysis extra
        import neps_core as neps
        neps.run(lambda x: x, {{"x": neps.Float(0.0, 1.0)}}, root_directory={str(root)!r},
                 evaluations_to_spend=2)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    rows = list(csv.DictReader((root / "summary" / "full.csv").open(encoding="utf-8")))
    assert [row["id"] for row in rows] == ["1", "2"]
    assert all(row["state"] == "success" and row["config.x"] for row in rows)


def test_an_overwrite_deletes_the_summary_files_of_the_old_run_not_the_users(root: Path) -> None:
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=2)
    (root / "summary" / "notes.md").write_text("the project's own\n", encoding="utf-8")
    neps.run(
        lambda x: x,
        space,
        root_directory=root,
        evaluations_to_spend=1,
        overwrite_root_directory=True,
        post_run_summary=False,
    )
    assert [p.name for p in (root / "summary").iterdir()] == ["notes.md"]  # none of the old run


def test_a_value_without_utf8_is_escaped_in_the_csv_files_not_a_crash(root: Path) -> None:
    # A choice with a lone surrogate (no UTF-8 form) made writing full.csv raise at the end
    # of the run: the run's own outcome was an error although every trial had succeeded.
    summary = neps.run(
        lambda s, x: x,
        {"s": neps.Categorical(("\ud800",)), "x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=2,
        optimizer="random_search",
    )
    assert summary.counts["success"] == 2
    full = (root / "summary" / "full.csv").read_text(encoding="utf-8")
    assert full.count("\\ud800") == 2


def test_a_choice_stored_as_its_index_shows_as_its_value_everywhere(root: Path) -> None:
    # A categorical of tuples stores the index of its choice: every table and file showed
    # betas 0 or 1 (a mixed categorical's "a" as 0), where NePS's show the value.
    space = {
        "betas": neps.Categorical([(0.9, 0.999), (0.5, 0.9)]),
        "mixed": neps.Categorical(["a", (1, 2)]),
    }
    neps.run(
        lambda betas, mixed: 0.0 if betas == (0.5, 0.9) else 1.0,
        space,
        root_directory=root,
        evaluations_to_spend=8,
        optimizer="grid_search",  # every pair: the best (0.5, 0.9) is certain to be found
    )
    full, short = neps.status(root)
    assert set(full["config.betas"]) == {"(0.9, 0.999)", "(0.5, 0.9)"}
    assert set(full["config.mixed"]) == {"a", "(1, 2)"}
    assert short["betas"] == "(0.5, 0.9)" and short["mixed"] in {"a", "(1, 2)"}
    assert neps.status(root).to_dataframe().equals(full)
    folder = root / "summary"
    on_disk = pd.read_csv(folder / "full.csv", index_col="id", dtype=str)
    assert on_disk["config.betas"].tolist() == full["config.betas"].tolist()
    short_on_disk = pd.read_csv(folder / "short.csv", index_col="summary", dtype=str)["value"]
    assert short_on_disk["betas"] == "(0.5, 0.9)"
    for name in ("best_config.txt", "best_config_trajectory.txt"):
        configs = re.findall(r"^Config: (.+)$", (folder / name).read_text(), re.MULTILINE)
        assert ast.literal_eval(configs[-1])["betas"] == "(0.5, 0.9)"


def _calls_of(function: Any, action: Any) -> int:
    """How often ``function`` runs during ``action()`` (counted by the profiler hook)."""
    calls = 0

    def count(frame: Any, event: str, _: Any) -> None:
        nonlocal calls
        calls += event == "call" and frame.f_code is function.__code__

    sys.setprofile(count)
    try:
        action()
    finally:
        sys.setprofile(None)
    return calls


def test_writing_the_summary_files_sorts_the_finished_trials_once(root: Path) -> None:
    # The trials were sorted into finishing order (and totalled) five times per write: at
    # 20,000 trials a third of the summary folder's cost, paid by every finishing worker.
    summary = neps.run(
        lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=3
    )
    assert _calls_of(finishing_order, lambda: write_summary_files(root, summary)) == 1
    assert _calls_of(Totals.plus, lambda: write_summary_files(root, summary)) == 3
