"""Several real processes calling run() on one root: exact budget, no duplicates, no loss."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.serialization import read_yaml

WORKER = textwrap.dedent(
    """
    import sys, time
    import neps_core as neps

    def evaluate_pipeline(x, y, pipeline_directory):
        time.sleep(0.01)
        (pipeline_directory / "evaluated_by").write_text(sys.argv[2])
        return {"objective_to_minimize": x + y, "cost": 1.0}

    neps.run(
        evaluate_pipeline,
        {"x": neps.Float(0.0, 1.0), "y": neps.Integer(0, 100)},
        root_directory=sys.argv[1],
        evaluations_to_spend=int(sys.argv[3]),
        worker_id=sys.argv[2],
        storage=sys.argv[4],
    )
    """
)


def _launch_workers(tmp_path: Path, root: Path, n: int, budget: int, storage: str) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(root), f"worker-{i}", str(budget), storage],
            stderr=subprocess.PIPE,
        )
        for i in range(n)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()


@pytest.mark.slow
def test_four_processes_share_the_budget_exactly(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _launch_workers(tmp_path, root, n=4, budget=60, storage="disk")

    summary = neps.status(root)
    assert summary.counts["success"] == 60
    assert summary.budget.used_evaluations == 60
    folders = sorted((root / "configs").iterdir())
    assert len(folders) == 60
    configs = [read_yaml(folder / "config.yaml") for folder in folders]
    assert len({(c["x"], c["y"]) for c in configs}) == 60  # nobody evaluated a config twice
    evaluators = {(folder / "evaluated_by").read_text() for folder in folders}
    assert len(evaluators) > 1  # the work really was shared
    for folder in folders:
        report = read_yaml(folder / "report.yaml")
        assert report["objective_to_minimize"] is not None
        assert report["cost"] == 1.0


@pytest.mark.slow
def test_a_later_worker_on_a_finished_root_evaluates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _launch_workers(tmp_path, root, n=2, budget=10, storage="disk")
    _launch_workers(tmp_path, root, n=2, budget=10, storage="disk")
    assert neps.status(root).budget.used_evaluations == 10
