"""A results directory NePS itself wrote: recognized, never offered for deletion, imported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.errors import StorageError

SPACE = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}
NEPS_FILES = {
    "optimizer_info.yaml": "name: random_search\ninfo: {}\n",
    "configs/config_1/config.yaml": "x: 0.5\nepochs: 9\n",
    "configs/config_1/report.yaml": (
        "objective_to_minimize: 0.25\ncost: 9.0\nlearning_curve: [0.5, 0.25]\n"
        "extra: {acc: 0.9}\nerr: null\ntb: null\nreported_as: success\n"
    ),
    "configs/config_2/config.yaml": "x: 0.9\nepochs: 3\n",
    "configs/config_2/report.yaml": (
        "objective_to_minimize: null\ncost: 1.0\nlearning_curve: null\nextra: {}\n"
        "err: 'ValueError: diverged'\ntb: 'Traceback ...'\nreported_as: failed\n"
    ),
    "configs/config_3/config.yaml": "x: 0.1\n",  # still running in NePS: no report
    "configs/config_10/config.yaml": "x: 0.2\n",  # NePS before 0.12: result.yaml with loss
    "configs/config_10/result.yaml": "loss: 0.04\ncost: 2.0\n",
}


@pytest.fixture
def neps_root(tmp_path: Path) -> Path:
    root = tmp_path / "neps_results"
    for name, text in NEPS_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_its_finished_trials_read_as_config_result_pairs(neps_root: Path) -> None:
    assert neps.read_neps_results(neps_root) == [
        (
            {"x": 0.5, "epochs": 9},
            {
                "objective_to_minimize": 0.25,
                "cost": 9.0,
                "learning_curve": [0.5, 0.25],
                "extra": {"acc": 0.9},
            },
        ),
        ({"x": 0.9, "epochs": 3}, {"cost": 1.0, "extra": {}, "exception": "ValueError: diverged"}),
        ({"x": 0.2}, {"cost": 2.0, "objective_to_minimize": 0.04}),
    ]


def test_they_warm_start_a_new_run(neps_root: Path, tmp_path: Path) -> None:
    new = tmp_path / "new"
    trials = neps.import_trials(neps.read_neps_results(neps_root), new, SPACE)
    assert [t.state.value for t in trials] == ["success", "failed", "success"]
    assert trials[2].config == {"x": 0.2, "epochs": 9}  # evaluated at the fidelity's maximum
    summary = neps.run(
        lambda x, epochs: x, SPACE, root_directory=new, evaluations_to_spend=5, seed=0
    )
    assert summary.budget.used_evaluations == 5
    assert summary.counts["failed"] == 1


def test_the_directory_is_named_as_neps_and_never_offered_for_deletion(neps_root: Path) -> None:
    """It was called a damaged neps_core run whose record was lost, to delete or restore."""
    with pytest.raises(FileNotFoundError) as caught:
        neps.status(neps_root)
    with pytest.raises(StorageError) as refused:
        neps.run(lambda x, epochs: x, SPACE, root_directory=neps_root, evaluations_to_spend=1)
    for message in (str(caught.value), str(refused.value)):
        assert "holds a run of NePS itself" in message
        assert "neps.import_trials(neps.read_neps_results(" in message
        assert "overwrite" not in message and "lost" not in message
    assert (neps_root / "configs" / "config_1" / "report.yaml").is_file()


def test_a_folder_without_neps_trials_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No NePS trial folders"):
        neps.read_neps_results(tmp_path)
    (tmp_path / "configs" / "config_1").mkdir(parents=True)
    (tmp_path / "configs" / "config_1" / "config.yaml").write_text("- 1\n", encoding="utf-8")
    (tmp_path / "configs" / "config_1" / "report.yaml").write_text("{}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"config_1/config.yaml: expected a YAML mapping"):
        neps.read_neps_results(tmp_path)


def test_a_neps_core_run_is_read_from_its_storage_not_its_report_files(tmp_path: Path) -> None:
    # A storage need not write report.yaml (a plugin's may not): such a run read as no trials.
    def evaluate_pipeline(x: float, epochs: int) -> dict[str, object]:
        if x > 0.7:
            raise ValueError("diverged")
        return {"objective_to_minimize": x, "cost": float(epochs), "extra": {"acc": 1 - x}}

    root = tmp_path / "run"
    neps.run(
        evaluate_pipeline,
        SPACE,
        root_directory=root,
        evaluations_to_spend=8,
        ignore_errors=True,
        seed=3,
    )
    from_the_views = neps.read_neps_results(root)
    for report in root.glob("configs/config_*/report.yaml"):
        report.unlink()
    pairs = neps.read_neps_results(root)
    assert pairs == from_the_views
    assert len(pairs) == 8 and any("exception" in result for _, result in pairs)
    successes = [(c, r) for c, r in pairs if "exception" not in r]
    assert successes and all(r["cost"] == c["epochs"] for c, r in successes)


def test_a_neps_core_run_whose_storage_cannot_be_opened_is_read_from_its_report_files(
    tmp_path: Path,
) -> None:
    # *Review*: a copy made with `cp -r run/*` (no .neps_core/) raised a StorageError.
    root = tmp_path / "run"
    neps.run(lambda x, epochs: x, SPACE, root_directory=root, evaluations_to_spend=3, seed=1)
    expected = neps.read_neps_results(root)
    shutil.rmtree(root / ".neps_core")
    assert neps.read_neps_results(root) == expected


def test_a_multi_objective_run_imports_with_its_curves_of_objective_vectors(
    tmp_path: Path,
) -> None:
    """NePS stores ``[[o1, o2]]`` as the curve of every multi-objective result without one:
    a curve of lists, which failed the whole import with a TypeError."""
    root = tmp_path / "neps_mo"
    report = "objective_to_minimize: [{o}]\ncost: null\nlearning_curve: {c}\nextra: {{}}\n"
    reports = {
        "1": report.format(o="0.3, 0.7", c="[[0.3, 0.7]]"),  # NePS's default curve
        "2": report.format(o="0.6, 0.4", c="[[0.9, 0.8], [0.6, 0.4]]"),  # reported
    }
    (root / "optimizer_info.yaml").parent.mkdir(parents=True)
    (root / "optimizer_info.yaml").write_text("name: random_search\ninfo: {}\n")
    for trial_id, text in reports.items():
        folder = root / "configs" / f"config_{trial_id}"
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text(f"x: 0.{trial_id}\n")
        (folder / "report.yaml").write_text(text + "err: null\nreported_as: success\n")
    trials = neps.import_trials(
        neps.read_neps_results(root), tmp_path / "new", {"x": neps.Float(0.0, 1.0)}
    )
    assert [t.objective for t in trials] == [(0.3, 0.7), (0.6, 0.4)]
    assert [t.report.extra for t in trials if t.report is not None] == [
        {},
        {"learning_curve": [[0.9, 0.8], [0.6, 0.4]]},
    ]
    assert len(neps.status(tmp_path / "new").pareto_front) == 2
