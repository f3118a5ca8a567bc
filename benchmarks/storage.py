"""Storage benchmark: framework overhead per trial and multi-worker throughput, per backend.

For each storage backend it prints

* the framework's overhead per trial for runs of 100, 1000 and 5000 trials (random search, an
  objective that returns at once; measured as the time between consecutive
  ``evaluate_pipeline`` calls, so sampling, storage and reporting are all included),
* the baseline for it, timed inside the largest run: the file-system floor, what making a
  trial's folder and files costs on the same disk at the same time (``tasks/per_trial.py``),
* the growth ratio of the largest run: the median gap of its last 100 trials over that of
  its first 100 (flat is 1.0; medians, so that a garbage collection or a busy neighbour on a
  shared machine does not decide it),
* the throughput of 4 separately launched worker processes on a 50 ms objective, as trials
  per second and as a fraction of the ideal 80 trials/s.

Usage: ``python benchmarks/storage.py [--quick] [--backends disk sqlite] [--directory DIR]``.
Not a test.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs
from tasks.arguments import existing_directory
from tasks.per_trial import measure as per_trial

import neps_core as neps
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage

SPACE = {"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 100), "log_lr": neps.Float(-6.0, -1.0)}
WORKERS = 4
SLEEP = 0.05
IDEAL = WORKERS / SLEEP  # trials per second


@attrs.frozen
class Row:
    """One backend's figures."""

    backend: str
    overhead_ms: dict[int, float]
    floor_ms: float
    growth: float
    throughput: float


def throughput(backend: str, trials: int, directory: Path) -> float:
    """Trials per second of 4 worker processes, from the common start to the last report."""
    root = directory / f"{backend}_throughput"
    go = directory / f"{backend}_go"
    command = [sys.executable, __file__, "--worker", backend, str(root), str(go), str(trials)]
    workers = [subprocess.Popen(command) for _ in range(WORKERS)]
    while len(list(directory.glob(f"{go.name}.ready.*"))) < WORKERS:  # all imported
        if any(worker.poll() is not None for worker in workers):
            raise SystemExit(f"a {backend} worker failed to start")
        time.sleep(0.01)
    start = time.time()
    go.touch()
    for worker in workers:
        if worker.wait() != 0:
            raise SystemExit(f"a {backend} worker failed")
    with open_storage(root, None, load_plugins()) as storage:
        history = storage.sync()
    if len(history) != trials:
        raise SystemExit(f"{backend}: {len(history)} trials instead of {trials}")
    end = max(trial.finished_at or 0.0 for trial in history.values())
    return trials / (end - start)


def _sleepy_objective(x: float, n: int, log_lr: float) -> float:
    time.sleep(SLEEP)
    return x * n


def worker(backend: str, root: str, go: str, trials: int) -> None:
    """One worker process: wait for the start signal, then work on the shared run."""
    Path(f"{go}.ready.{os.getpid()}").touch()
    while not Path(go).exists():
        time.sleep(0.001)
    neps.run(
        _sleepy_objective,
        SPACE,
        root_directory=root,
        storage=backend,
        evaluations_to_spend=trials,
        optimizer="random_search",
        post_run_summary=False,
    )


def measure(backend: str, sizes: list[int], parallel_trials: int, parent: Path | None) -> Row:
    """All figures of one backend, each run in a fresh directory."""
    with tempfile.TemporaryDirectory(prefix=f"bench_{backend}_", dir=parent) as temporary:
        directory = Path(temporary)
        means = {}
        for size in sizes:
            timing = per_trial(SPACE, backend, size, directory / f"overhead_{size}")
            means[size] = statistics.fmean(timing.gaps) * 1e3
        rate = throughput(backend, parallel_trials, directory)
    return Row(backend, means, timing.floor_ms(), timing.growth(), rate)


def print_table(rows: list[Row], sizes: list[int], parallel_trials: int) -> None:
    """The results as a Markdown table."""
    header = [
        "backend",
        *(f"ms/trial @{size}" for size in sizes),
        f"file-system floor ms @{sizes[-1]}",
        "growth last/first 100",
        f"4 workers x 50 ms ({parallel_trials} trials)",
        "of ideal 80/s",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        cells = [
            row.backend,
            *(f"{row.overhead_ms[size]:.2f}" for size in sizes),
            f"{row.floor_ms:.2f}",
            f"{row.growth:.2f}x",
            f"{row.throughput:.1f} trials/s",
            f"{row.throughput / IDEAL:.0%}",
        ]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    """Parse the command line and run the benchmark (or one worker of it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    parser.add_argument("--backends", nargs="+", default=["disk", "sqlite"])
    parser.add_argument(
        "--directory", type=existing_directory, help="where the runs go (default: temp dir)"
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if arguments.worker:
        backend, root, go, trials = arguments.worker
        worker(backend, root, go, int(trials))
        return
    sizes = [50, 200, 500] if arguments.quick else [100, 1000, 5000]
    parallel_trials = 80 if arguments.quick else 400
    rows = [
        measure(backend, sizes, parallel_trials, arguments.directory)
        for backend in arguments.backends
    ]
    print_table(rows, sizes, parallel_trials)


if __name__ == "__main__":
    main()
