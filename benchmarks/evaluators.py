"""Evaluator benchmark: 4-way throughput on a 50 ms objective, and overhead per trial.

It prints two tables.

* Throughput of four-way parallelism on an objective that sleeps 50 ms, as trials per second
  and as a fraction of the ideal 80 trials/s, for ``process_pool`` (``n_workers=4``), ``dask``
  (a ``LocalCluster`` of 4 worker processes, started beforehand) and 4 separately launched
  worker scripts (already imported, waiting for a start signal). "end to end" runs from the
  start to the last report (for ``process_pool`` this includes starting its 4 interpreters);
  "steady" leaves out the first round of 4 trials, i.e. start-up.
* Overhead per trial of every built-in evaluator on an objective that returns at once, one
  trial at a time: the run's wall time divided by its trials (sampling, storage and reporting
  included), and its ratio to ``sync``. ``async`` counts the launch only; ``subprocess`` is
  shown for both kinds of ``evaluate_pipeline`` (a ``neps.Command`` and a Python function in
  a fresh interpreter); ``slurm`` uses submitit's local executor (two interpreters per job);
  a bare ``python -c pass`` start is shown for scale.

Usage: ``python benchmarks/evaluators.py [--quick]`` (needs the extras ``dask`` and
``slurm``). Not a test.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import neps_core as neps
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage

SPACE = {"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 100)}
WORKERS = 4
SLEEP = 0.05
IDEAL = WORKERS / SLEEP  # trials per second


def sleepy(x: float, n: int) -> float:
    """The 50 ms objective."""
    time.sleep(SLEEP)
    return x * n


def instant(x: float, n: int) -> float:
    """The objective that returns at once."""
    return x * n


def rates(root: Path, start: float) -> tuple[float, float]:
    """(end-to-end, steady) trials per second of the finished run in ``root``."""
    with open_storage(root, None, load_plugins()) as storage:
        history = storage.sync()
    finished = sorted(trial.finished_at or 0.0 for trial in history.values())
    end_to_end = len(finished) / (finished[-1] - start)
    steady = (len(finished) - WORKERS) / (finished[-1] - finished[WORKERS - 1])
    return end_to_end, steady


def random_search_run(
    function: Callable[..., Any], root: Path, trials: int, evaluator: Any = "sync"
) -> None:
    """``trials`` evaluations of ``function`` by random search on the benchmark's space."""
    neps.run(
        function,
        SPACE,
        root_directory=root,
        evaluations_to_spend=trials,
        optimizer="random_search",
        evaluator=evaluator,
        post_run_summary=False,
    )


def run_with(evaluator: Any, root: Path, trials: int) -> tuple[float, float]:
    """Rates of one in-process ``run()`` with ``evaluator`` on the 50 ms objective."""
    start = time.time()
    random_search_run(sleepy, root, trials, evaluator)
    return rates(root, start)


def dask_rates(address: str, root: Path, trials: int) -> tuple[float, float]:
    """Rates of ``dask`` on a LocalCluster of 4 processes started beforehand."""
    return run_with({"name": "dask", "address": address, "n_workers": WORKERS}, root, trials)


def separate_rates(directory: Path, trials: int) -> tuple[float, float]:
    """Rates of 4 separately launched worker scripts on one root."""
    root, go = directory / "separate", directory / "go"
    command = [sys.executable, __file__, "--worker", str(root), str(go), str(trials)]
    workers = [subprocess.Popen(command) for _ in range(WORKERS)]
    while len(list(directory.glob("go.ready.*"))) < WORKERS:
        if any(worker.poll() is not None for worker in workers):
            raise SystemExit("a worker failed to start")
        time.sleep(0.01)
    start = time.time()
    go.touch()
    if any(worker.wait() != 0 for worker in workers):
        raise SystemExit("a worker failed")
    return rates(root, start)


def worker(root: str, go: str, trials: int) -> None:
    """One separately launched worker: wait for the start signal, then join the run."""
    Path(f"{go}.ready.{os.getpid()}").touch()
    while not Path(go).exists():
        time.sleep(0.001)
    random_search_run(sleepy, Path(root), trials)


def overhead_ms(function: Callable[..., Any], evaluator: Any, root: Path, trials: int) -> float:
    """Milliseconds of wall time per trial of a one-at-a-time run."""
    start = time.perf_counter()
    random_search_run(function, root, trials, evaluator)
    return (time.perf_counter() - start) / trials * 1e3


def python_start_ms(times: int = 10) -> float:
    """Milliseconds to start and end a bare ``python -c pass``."""
    start = time.perf_counter()
    for _ in range(times):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - start) / times * 1e3


def overheads(address: str, directory: Path, quick: bool) -> dict[str, float]:
    """Milliseconds per trial of every evaluator, one trial at a time (capacity 1)."""
    command = neps.Command([sys.executable, "-c", "print('NEPS_CORE_RESULT 1.0')"])
    cases: list[tuple[str, Callable[..., Any], Any, int]] = [
        ("sync", instant, "sync", 1000),
        ("async (launch only)", launch_only, "async", 1000),
        ("subprocess, neps.Command", command, "subprocess", 100),
        ("subprocess, Python function", instant, "subprocess", 100),
        ("process_pool (n_workers=1)", instant, {"name": "process_pool"}, 200),
        (
            "dask (running cluster)",
            instant,
            {"name": "dask", "address": address, "n_workers": 1},
            200,
        ),
        ("slurm (submitit local executor)", instant, {"name": "slurm", "cluster": "local"}, 10),
    ]
    found = {}
    for index, (name, function, evaluator, full) in enumerate(cases):
        trials = max(3, full // 5) if quick else full
        found[name] = overhead_ms(function, evaluator, directory / f"overhead{index}", trials)
    found["(for scale: python -c pass)"] = python_start_ms()
    return found


def launch_only(x: float, n: int) -> None:
    """An asynchronous launch that hands the trial to nobody (the launch cost alone)."""


def main() -> None:
    """Parse the command line and run the benchmark (or one worker of it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if arguments.worker:
        root, go, trials = arguments.worker
        worker(root, go, int(trials))
        return
    import distributed

    parallel = 80 if arguments.quick else 400
    with (
        tempfile.TemporaryDirectory(prefix="bench_evaluators_") as temporary,
        distributed.LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        directory = Path(temporary)
        address = cluster.scheduler_address
        throughput = {
            "process_pool (n_workers=4)": run_with(
                {"name": "process_pool", "n_workers": WORKERS}, directory / "pool", parallel
            ),
            "dask (LocalCluster, 4 processes)": dask_rates(address, directory / "dask", parallel),
            "4 separately launched workers": separate_rates(directory, parallel),
        }
        overhead = overheads(address, directory, arguments.quick)
    print_tables(parallel, throughput, overhead)


def print_tables(
    parallel: int, throughput: dict[str, tuple[float, float]], overhead: dict[str, float]
) -> None:
    """Print both tables as Markdown."""
    print(f"Throughput, {WORKERS} x {SLEEP * 1e3:.0f} ms objective, {parallel} trials")
    print(f"| setup | end to end | of ideal {IDEAL:.0f}/s | steady | of ideal |")
    print("|---|---|---|---|---|")
    for name, (end_to_end, steady) in throughput.items():
        print(
            f"| {name} | {end_to_end:.1f}/s | {end_to_end / IDEAL:.0%} "
            f"| {steady:.1f}/s | {steady / IDEAL:.0%} |"
        )
    print("\nOverhead per trial, one trial at a time (the objective returns at once)")
    print("| evaluator | ms/trial | vs sync |")
    print("|---|---|---|")
    baseline = overhead["sync"]
    for name, milliseconds in overhead.items():
        print(f"| {name} | {milliseconds:.1f} | {milliseconds / baseline:.1f}x |")


if __name__ == "__main__":
    main()
