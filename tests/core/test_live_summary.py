"""The summary files while a run goes on: rewritten as trials finish, at a bounded cost."""

from __future__ import annotations

import contextlib
import csv
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock
import pytest
import yaml

import neps_core as neps
from neps_core.interfaces import Storage
from neps_core.live_summary import (
    REWRITE_COST_SHARE,
    REWRITE_INTERVAL,
    LiveSummaryFiles,
    next_rewrite,
)
from neps_core.loading import open_existing
from neps_core.lock_table import stat_fields
from neps_core.space import PipelineSpace
from neps_core.summary_files import refresh_shared_summary_files
from neps_core.summary_lock import STOPPED_HOLDER_LOCK, SUMMARY_LOCK

SPACE = {"x": neps.Float(0.0, 1.0)}
HANG_GUARD = 60.0  # seconds: a rewrite that never comes fails the test instead of hanging it


def _seen(root: Path) -> dict[str, Any]:
    """What a user watching ``root`` finds of the summary files now."""
    folder = root / "summary"
    try:
        with (folder / "full.csv").open(encoding="utf-8") as handle:
            states = {row["id"]: row["state"] for row in csv.DictReader(handle)}
        summary = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
        best = (folder / "best_config.txt").read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return {"states": states, "successes": summary["counts"]["success"], "best": best}


def _finished_in_each_file(seen: dict[str, Any]) -> int:
    """The trials every file shows finished (each is replaced whole, but one after another)."""
    if not seen:
        return 0
    in_full = list(seen["states"].values()).count("success")
    in_best = int(re.findall(r"^cumulative_evaluations: (\d+)$", seen["best"], re.MULTILINE)[0])
    return min(in_full, seen["successes"], in_best)


def _watch_until(root: Path, finished: int) -> dict[str, Any]:
    """The summary files once they all show ``finished`` trials, as a user polling them."""
    deadline = time.monotonic() + HANG_GUARD
    while _finished_in_each_file(seen := _seen(root)) < finished:
        assert time.monotonic() < deadline, f"no summary files with {finished} trials: {seen}"
        time.sleep(0.05)
    return seen


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_later_trial_finds_the_earlier_ones_in_the_summary_files(
    root: Path, storage: str
) -> None:
    # They were written only when run() ended: a user watching them saw nothing until then.
    seen: dict[str, dict[str, Any]] = {}

    def evaluate_pipeline(x: float, pipeline_id: str) -> float:
        seen[pipeline_id] = _watch_until(root, int(pipeline_id) - 1)
        return 1.0 / int(pipeline_id)  # each trial a new best

    neps.run(evaluate_pipeline, SPACE, root_directory=root, evaluations_to_spend=3, storage=storage)
    assert seen["1"] == {}  # a new root
    # The first trial a worker finishes is written at once; the second finished within
    # REWRITE_INTERVAL of that, and is written while the third runs.
    assert seen["2"]["states"]["1"] == "success"
    assert seen["3"]["states"]["1"] == seen["3"]["states"]["2"] == "success"
    assert "Config ID: 2\n" in seen["3"]["best"] and "Config ID: 1\n" not in seen["3"]["best"]


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


def test_a_rewrite_waits_the_interval_and_twenty_times_as_long_as_the_last_took() -> None:
    assert next_rewrite(100.0, 0.01) == 100.0 + REWRITE_INTERVAL  # a small run
    slow = 2 * REWRITE_INTERVAL / REWRITE_COST_SHARE  # a big run's rewrite
    assert next_rewrite(100.0, slow) == 100.0 + REWRITE_COST_SHARE * slow


def test_a_writer_that_finds_another_writing_them_goes_on_without_waiting(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Waiting would cost a worker the other's rewrite, which holds its trials already.
    neps.run(
        lambda x: x, SPACE, root_directory=root, evaluations_to_spend=2, post_run_summary=False
    )
    with open_existing(root) as storage:
        with caplog.at_level(logging.WARNING), filelock.FileLock(root / SUMMARY_LOCK):
            refresh_shared_summary_files(storage, wait=False)  # else it waits, then warns
        assert not (root / "summary.yaml").exists() and not caplog.records
        refresh_shared_summary_files(storage, wait=False)
    assert (root / "summary.yaml").exists()


HOLD_THE_LOCK = """
import sys, filelock
with filelock.FileLock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes it: another worker rewriting the files
"""


def _hold_summary_lock(root: Path) -> subprocess.Popen[str]:
    (root / SUMMARY_LOCK).parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(root / SUMMARY_LOCK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


class _Said(logging.Handler):
    """Sets ``event`` once a record saying ``words`` is logged (by any thread)."""

    def __init__(self, words: str) -> None:
        super().__init__(logging.DEBUG)
        self.words, self.event = words, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


def test_a_rewrite_that_finds_another_process_writing_them_is_tried_again(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # It was dropped: a trial that finished while another worker rewrote the files (from a
    # read of the run before it) stayed out of them for as long as the next evaluation ran.
    busy = _Said("Another process rewrites the summary files")
    seen: dict[str, Any] = {}
    holders: list[subprocess.Popen[str]] = []

    def evaluate_pipeline(x: float, pipeline_id: str) -> float:
        if pipeline_id == "1":
            holders.append(_hold_summary_lock(root))  # as trial 1 finishes
            return 1.0
        seen["busy"] = busy.event.wait(HANG_GUARD)  # this worker's rewrite found it busy
        holders[0].communicate()  # the other process is done
        seen["files"] = _watch_until(root, 1)  # while trial 2 runs
        return 0.5

    logger = logging.getLogger("neps_core.live_summary")
    logger.addHandler(busy)
    try:
        with caplog.at_level(logging.DEBUG, logger=logger.name):
            neps.run(evaluate_pipeline, SPACE, root_directory=root, evaluations_to_spend=2)
    finally:
        logger.removeHandler(busy)
    assert seen["busy"] and seen["files"]["states"] == {"1": "success", "2": "evaluating"}


def test_the_wait_after_the_first_rewrite_leaves_out_opening_the_run(root: Path) -> None:
    # Opening the storage reads the whole journal; timed with the rewrite, it made a
    # continued big run wait 20 times as long as its opening for the second rewrite.
    neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=1)
    (root / "summary.yaml").unlink()
    now = [0.0]  # a clock the test moves: no wall-clock times
    timed = threading.Event()  # the thread read the clock after writing: it timed the rewrite

    def open_a_big_run() -> Storage:
        now[0] += 100.0  # 100 s to read its journal
        return open_existing(root)

    def clock() -> float:
        if (root / "summary.yaml").exists():
            timed.set()
        return now[0]

    files = LiveSummaryFiles(open_a_big_run, PipelineSpace(SPACE), enabled=True, clock=clock)
    with files:
        files.trial_finished()
        _watch_until(root, 1)
        # Moved before the thread timed its rewrite, the clock made it take 5 s (100 s wait).
        assert timed.wait(HANG_GUARD)
        now[0] += REWRITE_INTERVAL  # the next rewrite is due (it was not for 2,000 s)
        neps.run(
            lambda x: x, SPACE, root_directory=root, evaluations_to_spend=2, post_run_summary=False
        )
        files.trial_finished()
        _watch_until(root, 2)


@contextlib.contextmanager
def _stopped_holder(lock: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds ``lock`` and is then stopped (SIGSTOP), killed at the end."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "held\n"
        holder.send_signal(signal.SIGSTOP)
        yield holder
        assert (stat_fields(str(holder.pid)) or ["?"])[0] in {"T", "t"}  # stopped throughout
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
        holder.stdin.close()


def test_a_writer_that_finds_a_stopped_process_holding_the_lock_writes_them_anyway(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Suspended in a rewrite (a laptop lid, Ctrl-Z), a worker held the lock for good: every
    # other run() waited 60 s at its end and then wrote nothing.
    with _stopped_holder(root / SUMMARY_LOCK) as holder, caplog.at_level(logging.WARNING):
        neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=3)
        neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=5)
        assert yaml.safe_load((root / "summary.yaml").read_text())["counts"]["success"] == 5
    [told] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert f"process {holder.pid} (" in told and "which is stopped" in told


def test_with_both_locks_held_by_stopped_processes_a_writer_gives_up_at_once(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=1)
    (root / "summary.yaml").unlink()
    holders = (_stopped_holder(root / SUMMARY_LOCK), _stopped_holder(root / STOPPED_HOLDER_LOCK))
    caplog.set_level(logging.WARNING)
    with holders[0] as first, holders[1] as second, open_existing(root) as storage:
        refresh_shared_summary_files(storage)  # not SUMMARY_LOCK_TIMEOUT for each lock
    assert not (root / "summary.yaml").exists()
    *paused, gave_up = [r.getMessage() for r in caplog.records]
    assert [f"process {first.pid} (" in told for told in paused] == [True, False]
    assert [f"process {second.pid} (" in told for told in paused] == [False, True]
    assert "Could not write the summary files" in gave_up
