"""The optimizer benchmark still runs and prints its table (one seed of a few cheap rows).

Its numbers are not asserted here (they belong in the benchmark's own output); what breaks
silently without this test is the script itself: a renamed setting, a problem whose space
no longer builds, a row whose cost column is wrong.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from python_process import run_python

REPOSITORY = Path(__file__).resolve().parents[2]
ROW = re.compile(
    r"^\| (\S+) \| (.+?) \| (\d+\.\d{4}) \| (\d+\.\d{4}) to (\d+\.\d{4})"
    r" \| (\d+\.\d{2}) \| (.+?) \|$"
)


def test_optimizer_benchmark_prints_a_row_per_problem_and_optimizer(tmp_path: Path) -> None:
    completed = run_python(
        [
            str(REPOSITORY / "benchmarks" / "optimizers.py"),
            "--seeds",
            "1",
            "--problems",
            "branin",
            "mf_hartmann6",
            "branin_crashes",
            "--rows",
            "random_search",
            "bayesian_optimization",
            "hyperband",
        ],
        tmp_path,
        "benchmarks/optimizers.py",
    )
    rows = [m.groups() for line in completed.stdout.splitlines() if (m := ROW.match(line))]
    assert [(problem, label) for problem, label, *_ in rows] == [
        ("mf_hartmann6", "random_search"),
        ("mf_hartmann6", "hyperband"),
        ("branin", "random_search"),
        ("branin", "bayesian_optimization"),
        ("branin_crashes", "random_search"),
        ("branin_crashes", "bayesian_optimization"),
    ]
    spent = {(problem, label): used for problem, label, *_, used in rows}
    assert spent[("mf_hartmann6", "hyperband")].endswith("/ 810")
    assert spent[("branin", "random_search")] == "-"
    for problem, label, median, lower, upper, *_ in rows:
        # One seed: its regret is the median and both quartiles.
        assert float(lower) == float(median) == float(upper), (problem, label)
    regrets = {(problem, label): float(median) for problem, label, median, *_ in rows}
    # Branin's regret is a distance above its minimum: never negative.
    assert regrets[("branin", "random_search")] >= 0
    assert regrets[("branin", "bayesian_optimization")] >= 0
    # Crashed evaluations are tolerated and leave successful ones to measure.
    assert regrets[("branin_crashes", "bayesian_optimization")] >= 0
    assert "cost budget overshot by: none" in completed.stdout


def test_overhead_benchmark_separates_the_file_system_floor_from_the_framework(
    tmp_path: Path,
) -> None:
    completed = run_python(
        [
            str(REPOSITORY / "benchmarks" / "overhead.py"),
            *("--sizes", "30", "--storage", "sqlite", "--startup-repeats", "1"),
        ],
        tmp_path,
        "benchmarks/overhead.py",
    )
    lines = completed.stdout.splitlines()
    (row,) = [line for line in lines if line.startswith("| 30 |")]
    _, mean, median, floor, beyond, growth = row.strip("| ").split(" | ")
    assert float(median) == pytest.approx(float(floor) + float(beyond), abs=0.002)
    # SQLite writes one file per trial (config.yaml) in a new folder: the floor is not zero.
    assert float(floor) > 0 and float(mean) > 0 and float(growth) > 0
    assert not list(tmp_path.iterdir())  # runs in a temporary directory, left clean
    # The start-up table: each command ran (status read the run) and is timed.
    startup = {cells[0]: cells[1:] for line in lines if (cells := line.strip("| ").split(" | "))}
    for label in (
        "python -c pass",
        "import neps_core",
        "neps-core --help",
        "neps-core status ROOT",
    ):
        assert float(startup[label][0]) > 0, label
    assert float(startup["python -c pass"][1]) == 0


def test_storage_benchmark_prints_overhead_floor_and_throughput(tmp_path: Path) -> None:
    completed = run_python(
        [str(REPOSITORY / "benchmarks" / "storage.py"), "--quick", "--directory", str(tmp_path)],
        tmp_path,
        "benchmarks/storage.py",
    )
    rows = [line.strip("| ").split(" | ") for line in completed.stdout.splitlines()]
    by_backend = {row[0]: row for row in rows if row[0] in {"disk", "sqlite"}}
    assert set(by_backend) == {"disk", "sqlite"}
    for backend, *overheads, floor, growth, rate, share in by_backend.values():
        assert len(overheads) == 3 and all(float(ms) > 0 for ms in overheads), backend
        assert float(floor) > 0 and growth.endswith("x")
        assert rate.endswith(" trials/s") and 0 < float(rate.split()[0]) <= 80
        assert share.endswith("%")
    assert not [path for path in tmp_path.iterdir() if path.name.startswith("bench_")]


@pytest.mark.parametrize("script", ["overhead.py", "storage.py"])
def test_a_missing_directory_is_a_usage_error_naming_it(script: str, tmp_path: Path) -> None:
    # It printed the table's header, then a FileNotFoundError traceback from tempfile.
    missing = tmp_path / "nowhere"
    completed = subprocess.run(
        [sys.executable, str(REPOSITORY / "benchmarks" / script), "--directory", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert f"argument --directory: no directory {missing}" in completed.stderr
    assert not completed.stdout and "Traceback" not in completed.stderr
