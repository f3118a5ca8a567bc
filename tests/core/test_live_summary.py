"""The summary files while a run goes on: rewritten as trials finish, at a bounded cost."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock
import pytest
import yaml

import neps_core as neps
from neps_core.loading import open_existing
from neps_core.summary_files import (
    REWRITE_COST_SHARE,
    REWRITE_INTERVAL,
    SUMMARY_LOCK,
    LiveSummaryFiles,
)

SPACE = {"x": neps.Float(0.0, 1.0)}


def _seen(root: Path) -> dict[str, Any]:
    """What a user watching ``root`` finds of the summary files now."""
    folder = root / "summary"
    if not (folder / "full.csv").exists():
        return {}
    with (folder / "full.csv").open(encoding="utf-8") as handle:
        states = {row["id"]: row["state"] for row in csv.DictReader(handle)}
    counts = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))["counts"]
    best = (folder / "best_config.txt").read_text(encoding="utf-8")
    return {"states": states, "successes": counts["success"], "best": best}


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_later_trial_finds_the_summary_files_of_the_earlier_ones(
    root: Path, storage: str
) -> None:
    # They were written only when run() ended: a user watching them saw nothing until then.
    seen: list[dict[str, Any]] = []

    def evaluate_pipeline(x: float) -> float:
        seen.append(_seen(root))
        return x

    neps.run(evaluate_pipeline, SPACE, root_directory=root, evaluations_to_spend=3, storage=storage)
    assert seen[0] == {}  # a new root
    # The first trial a worker finishes rewrites them at once; later ones when they are due.
    assert seen[1]["states"] == {"1": "success"}
    assert seen[1]["successes"] == 1
    assert "Config ID: 1\n" in seen[1]["best"]


def test_without_post_run_summary_nothing_is_written_during_the_run(root: Path) -> None:
    seen: list[dict[str, Any]] = []

    def evaluate_pipeline(x: float) -> float:
        seen.append(_seen(root))
        return x

    neps.run(
        evaluate_pipeline,
        SPACE,
        root_directory=root,
        evaluations_to_spend=2,
        post_run_summary=False,
    )
    assert seen == [{}, {}]
    assert not (root / "summary").exists()


class Clock:
    """A monotonic clock the test moves: each call returns the next of ``times``."""

    def __init__(self, *times: float) -> None:
        self._times: Iterator[float] = iter(times)

    def __call__(self) -> float:
        return next(self._times)


@pytest.fixture
def finished_root(root: Path) -> Path:
    """A small finished run whose summary files were never written."""
    neps.run(
        lambda x: x, SPACE, root_directory=root, evaluations_to_spend=2, post_run_summary=False
    )
    return root


def _rewritten(root: Path) -> bool:
    """Whether the files were written since the last call (which removes one to find out)."""
    written = (root / "summary.yaml").exists()
    (root / "summary.yaml").unlink(missing_ok=True)
    return written


def test_a_rewrite_waits_until_the_last_one_is_old_enough(finished_root: Path) -> None:
    slow = 1.0  # seconds the first rewrite takes: the next waits REWRITE_COST_SHARE times that
    due = REWRITE_COST_SHARE * slow
    assert due > REWRITE_INTERVAL
    clock = Clock(
        *(0.0, slow),  # the first finished trial: written at once
        due - 0.1,  # too early: skipped without a look at the clock after
        *(due, due + 0.01),  # written, quickly: the next waits REWRITE_INTERVAL
        due + REWRITE_INTERVAL - 0.1,
        *(due + REWRITE_INTERVAL, due + REWRITE_INTERVAL),
    )
    with open_existing(finished_root) as storage:
        files = LiveSummaryFiles(storage, None, enabled=True, clock=clock)
        outcomes = []
        for _ in range(5):
            files.trial_finished()
            outcomes.append(_rewritten(finished_root))
    assert outcomes == [True, False, True, False, True]


def test_a_worker_that_finds_another_writing_them_goes_on_without_waiting(
    finished_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Waiting would cost the worker the other's rewrite, which holds its trials already.
    clock = Clock(0.0, 0.0, REWRITE_INTERVAL, REWRITE_INTERVAL)
    with open_existing(finished_root) as storage:
        files = LiveSummaryFiles(storage, None, enabled=True, clock=clock)
        with caplog.at_level(logging.WARNING), filelock.FileLock(finished_root / SUMMARY_LOCK):
            files.trial_finished()  # else it waits SUMMARY_LOCK_TIMEOUT, then warns
        assert not _rewritten(finished_root) and not caplog.records
        files.trial_finished()
    assert _rewritten(finished_root)
