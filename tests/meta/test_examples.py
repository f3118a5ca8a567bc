"""Every script in examples/ runs, as a user runs it: a fresh process in an empty directory.

Each top-level ``examples/*.py`` is collected automatically, so a new example is tested the
moment it is added. Examples listed in ``CHECKS`` also get their output checked; add a check
for a new example that makes a promise worth keeping.
"""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from python_process import run_python

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPOSITORY / "examples").glob("*.py"))


def run_example(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one example in ``cwd`` with the quick mode CI uses, failing with its output.

    ResourceWarnings are shown: code users copy must not leak processes or files.
    """
    return run_python(["-W", "default::ResourceWarning", str(path)], cwd, path.name)


def trajectory(root: Path) -> list[dict[str, str]]:
    """The rows of a run's trajectory.csv."""
    with open(root / "trajectory.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def check_basic_usage(cwd: Path, completed: subprocess.CompletedProcess[str]) -> None:
    root = cwd / "results" / "basic_usage"
    rows = trajectory(root)
    assert len(rows) == 25
    assert {row["state"] for row in rows} == {"success"}
    best = yaml.safe_load((root / "best_config.yaml").read_text(encoding="utf-8"))
    assert set(best["config"]) == {"learning_rate", "num_layers", "optimizer", "dropout"}
    assert best["objective_to_minimize"] == min(float(r["objective_to_minimize"]) for r in rows)
    assert "best config:" in completed.stdout
    report = yaml.safe_load((root / "configs" / "config_1" / "report.yaml").read_text())
    assert report["cost"] > 0 and "train_error" in report["extra"]
    # Running the script again continues the run: the budget is spent, nothing new is done.
    run_example(REPOSITORY / "examples" / "basic_usage.py", cwd)
    assert len(trajectory(root)) == 25


def check_legacy_run_pipeline(cwd: Path, completed: subprocess.CompletedProcess[str]) -> None:
    for old, new in [
        ("run_pipeline", "evaluate_pipeline"),
        ("searcher", "optimizer"),
        ("max_cost_total", "cost_to_spend"),
        ("'loss'", "'objective_to_minimize'"),
    ]:
        warned = [
            line
            for line in completed.stderr.splitlines()
            if "DeprecationWarning" in line and old in line and new in line
        ]
        assert warned, f"no DeprecationWarning for {old} -> {new}:\n{completed.stderr}"
    rows = trajectory(cwd / "results" / "legacy_run_pipeline")
    assert len(rows) == 10  # max_cost_total=20 at a cost of 2 per evaluation
    report = yaml.safe_load(
        (
            cwd / "results" / "legacy_run_pipeline" / "configs" / "config_1" / "report.yaml"
        ).read_text(encoding="utf-8")
    )
    assert report["extra"]["reverse_loss"] == -report["objective_to_minimize"]


def check_multiple_workers(cwd: Path, completed: subprocess.CompletedProcess[str]) -> None:
    root = cwd / "results" / "multiple_workers"
    rows = trajectory(root)
    assert len(rows) == 40  # the budget is exact across the four processes
    assert len({row["trial_id"] for row in rows}) == 40
    configs = {
        tuple(sorted(yaml.safe_load(path.read_text(encoding="utf-8")).items()))
        for path in root.glob("configs/config_*/config.yaml")
    }
    assert len(configs) == 40  # no configuration was handed to two workers
    workers = {row["worker_id"] for row in rows}
    assert workers <= {f"worker-{n}" for n in range(4)}
    assert len(workers) >= 2, f"only {workers} did any work"


def check_ask_and_tell(cwd: Path, completed: subprocess.CompletedProcess[str]) -> None:
    rows = trajectory(cwd / "results" / "ask_and_tell_example")
    assert len(rows) == 12 and {row["state"] for row in rows} == {"success"}
    assert "stopped: budget evaluations_to_spend used up" in completed.stdout


CHECKS: dict[str, Callable[[Path, subprocess.CompletedProcess[str]], None]] = {
    "ask_and_tell.py": check_ask_and_tell,
    "basic_usage.py": check_basic_usage,
    "legacy_run_pipeline.py": check_legacy_run_pipeline,
    "multiple_workers.py": check_multiple_workers,
}


def test_the_documented_examples_exist() -> None:
    names = {path.name for path in EXAMPLES}
    assert set(CHECKS) <= names, f"missing examples: {set(CHECKS) - names}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(example: Path, tmp_path: Path) -> None:
    completed = run_example(example, tmp_path)
    assert "ResourceWarning" not in completed.stderr, completed.stderr
    check = CHECKS.get(example.name)
    if check is not None:
        check(tmp_path, completed)
