"""Per-trial framework overhead of neps_core: random search on an instant objective.

The overhead of a trial is the time between two consecutive calls of ``evaluate_pipeline``
(sampling, storage writes and reporting; the objective itself takes no time). Growth is the
mean of the last 100 trials over the mean of the first 100: flat per-trial cost means ~1.0.

    python benchmarks/overhead.py            # 100, 500 and 2000 trials, disk storage
    python benchmarks/overhead.py --storage sqlite --sizes 100 1000
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import neps_core as neps

SPACE = {
    "learning_rate": neps.Float(1e-5, 1e-1, log=True),
    "dropout": neps.Float(0.0, 0.9),
    "layers": neps.Integer(1, 8),
    "optimizer": neps.Categorical(["adam", "sgd", "rmsprop"]),
}


def measure(n_trials: int, storage: str, root: Path) -> list[float]:
    """Seconds between consecutive evaluations over one run of ``n_trials``."""
    calls: list[float] = []

    def evaluate_pipeline(learning_rate: float, **_: object) -> float:
        calls.append(time.perf_counter())
        return learning_rate

    neps.run(
        evaluate_pipeline,
        SPACE,
        root_directory=root,
        evaluations_to_spend=n_trials,
        optimizer="random_search",
        storage=storage,
        seed=0,
    )
    return [later - earlier for earlier, later in itertools.pairwise(calls)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--storage", default="disk")
    arguments = parser.parse_args()
    print(f"storage: {arguments.storage}")
    growth_label = "growth, median last/first 100"
    print(f"{'trials':>8} {'mean ms/trial':>14} {'median ms':>10} {growth_label:>31}")
    for size in arguments.sizes:
        with tempfile.TemporaryDirectory() as directory:
            gaps = measure(size, arguments.storage, Path(directory) / "run")
        window = min(100, len(gaps) // 2)
        # Medians: one slow gap (a shared machine's hiccup) moved a mean of 100 gaps by 50%.
        growth = statistics.median(gaps[-window:]) / statistics.median(gaps[:window])
        print(
            f"{size:>8} {1000 * statistics.mean(gaps):>14.3f} "
            f"{1000 * statistics.median(gaps):>10.3f} {growth:>31.2f}"
        )


if __name__ == "__main__":
    main()
