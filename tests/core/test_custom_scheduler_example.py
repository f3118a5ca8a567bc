"""examples/custom_scheduler.py: a site's evaluator from a local file, via run(plugins=[...])."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "examples" / "custom_scheduler.py"


def test_the_custom_scheduler_runs_every_trial_as_a_submitted_job_script(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )
    assert completed.returncode == 0, completed.stderr
    assert "best x:" in completed.stdout
    folders = sorted((tmp_path / "results" / "custom_scheduler" / "configs").iterdir())
    assert len(folders) == 8
    for folder in folders:
        script = (folder / "job.sh").read_text()
        assert script.startswith("cd ") and "> out.txt" in script  # the job script it submitted
        x = yaml.safe_load((folder / "config.yaml").read_text())["x"]
        report = yaml.safe_load((folder / "report.yaml").read_text())
        assert report["objective_to_minimize"] == pytest.approx((x - 0.3) ** 2)


def test_the_evaluator_is_short() -> None:
    lines = EXAMPLE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("class "))
    end = next(i for i, line in enumerate(lines) if line.startswith("TRAIN"))
    assert end - start < 40  # the scheduler class and its registration hook


def test_the_docs_show_the_example_as_it_is() -> None:
    page = (REPOSITORY / "docs" / "evaluators" / "backends.md").read_text()
    assert EXAMPLE.read_text().strip() in page
