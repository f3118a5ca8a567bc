"""Per-trial overhead of a run, with the file-system floor as a baseline timed inside it.

Overhead is the time between consecutive ``evaluate_pipeline`` calls of one in-process run
(random search, or another optimizer, on an objective that returns at once): sampling,
storage and reporting.

Both storages give each trial NePS's folder (``configs/config_N/``) with a few small files for
people to read. On a virtual disk making them can cost more than the framework's own work,
and that cost changes from minute to minute (1 to 4 ms per trial on one shared disk within
ten minutes). So every evaluation also makes a folder with as many files, in the same
directory, and times it outside the gaps: the floor is measured under the very conditions the
run met, and what is beyond it is the framework's share.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

import neps_core as neps
from neps_core.serialization import write_atomic

_TEXT = "".join(f"key_{index}: {index / 7}\n" for index in range(8))  # a small YAML file


@attrs.frozen
class PerTrial:
    """Seconds per trial: the framework's gaps and, beside each, the file-system floor."""

    gaps: list[float]
    floors: list[float]

    def median_ms(self, window: slice = slice(None)) -> float:
        return 1000 * statistics.median(self.gaps[window])

    def floor_ms(self) -> float:
        return 1000 * statistics.median(self.floors)

    def growth(self) -> float:
        """Median gap of the last 100 trials over that of the first 100 (flat is 1.0).

        Medians: one slow gap (a shared machine's hiccup) moved a mean of 100 gaps by 50%.
        """
        window = min(100, len(self.gaps) // 2)
        return self.median_ms(slice(-window, None)) / self.median_ms(slice(window))


def measure(
    space: Mapping[str, Any],
    storage: str,
    trials: int,
    directory: Path,
    *,
    cost_budget: bool = False,
    optimizer: str = "random_search",
) -> PerTrial:
    """Run ``trials`` trials of ``optimizer`` in ``directory`` and time each one's overhead;
    ``cost_budget``: under a ``cost_to_spend`` too (never reached), whose checks run per trial."""
    files = _files_per_trial(space, storage, directory / "probe")
    floor_directory = directory / "file_floor"
    calls: list[tuple[float, float]] = []
    floors: list[float] = []

    def evaluate_pipeline(**_: object) -> dict[str, float]:
        start = time.perf_counter()
        floors.append(_make_trial_files(floor_directory / f"config_{len(floors)}", files))
        calls.append((start, time.perf_counter()))
        return {"objective_to_minimize": float(len(calls)), "cost": 1.0}

    budget = {"cost_to_spend": 10.0 * trials} if cost_budget else {}
    _run(
        evaluate_pipeline, space, storage, trials, directory / "run", optimizer=optimizer, **budget
    )
    gaps = [started - ended for (_, ended), (started, _) in itertools.pairwise(calls)]
    return PerTrial(gaps, floors)


def _run(
    function: Any,
    space: Mapping[str, Any],
    storage: str,
    trials: int,
    root: Path,
    *,
    optimizer: str = "random_search",
    **budgets: float,
) -> None:
    neps.run(
        function,
        space,
        root_directory=root,
        storage=storage,
        evaluations_to_spend=trials,
        optimizer=optimizer,
        seed=0,
        **budgets,
    )


def _files_per_trial(space: Mapping[str, Any], storage: str, root: Path) -> int:
    """How many files the storage writes into a finished trial's folder."""
    _run(lambda **_: 0.0, space, storage, 2, root)
    folder = min((root / "configs").glob("config_*"))
    return sum(1 for path in folder.iterdir() if path.is_file())


def _make_trial_files(folder: Path, files: int) -> float:
    """Seconds to make ``folder`` (in an existing parent) and write ``files`` files atomically."""
    start = time.perf_counter()
    folder.mkdir(parents=True)
    for number in range(files):
        write_atomic(folder / f"file_{number}.yaml", _TEXT)
    return time.perf_counter() - start
