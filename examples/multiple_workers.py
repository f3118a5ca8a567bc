"""Several worker processes on one root directory share one run and one budget.

Any process that calls ``neps.run`` with the same ``root_directory`` joins the run: here four
local processes, but they could as well be jobs on several nodes of a cluster that share a
file system. Workers coordinate only through the root directory, so the global budget
(``evaluations_to_spend``) is exact and no configuration is evaluated twice.

    python examples/multiple_workers.py
"""

import collections
import csv
import multiprocessing
import time
from pathlib import Path

import neps_core as neps

ROOT = Path("results/multiple_workers")
WORKERS = 4
EVALUATIONS = 40

pipeline_space = {
    "x": neps.Float(lower=-5.0, upper=5.0),
    "y": neps.Float(lower=-5.0, upper=5.0),
}


def evaluate_pipeline(x: float, y: float) -> float:
    """A slow-ish function, so that the workers really take turns."""
    time.sleep(0.02)
    return (x - 1.0) ** 2 + (y + 2.0) ** 2


def work(worker_number: int) -> None:
    """What each process does: exactly what a single-process script would do."""
    neps.run(
        evaluate_pipeline,
        pipeline_space,
        root_directory=ROOT,
        evaluations_to_spend=EVALUATIONS,
        worker_id=f"worker-{worker_number}",
        optimizer="random_search",
    )


if __name__ == "__main__":
    # "spawn" starts clean interpreters, as separate jobs on a cluster would be.
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=work, args=(n,)) for n in range(WORKERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a worker exited with code {process.exitcode}")

    summary = neps.status(ROOT)
    with open(ROOT / "trajectory.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    per_worker = collections.Counter(row["worker_id"] for row in rows)
    print(f"finished trials: {len(rows)} (budget {EVALUATIONS}), by state {dict(summary.counts)}")
    print(f"trials per worker: {dict(sorted(per_worker.items()))}")
    print(f"best objective {summary.best_objective:.4f} at {dict(summary.best_config or {})}")
    assert len(rows) == EVALUATIONS, "the budget is global to the root directory"
    assert len({row["trial_id"] for row in rows}) == EVALUATIONS, "every trial id is unique"
