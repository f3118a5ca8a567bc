"""The warning of a worker that stops while other workers' trials still run: about those that
may be gone, never about live workers of this machine (the README's four workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from worker_processes import kill, start_worker

import neps_core as neps
from neps_core import presence
from neps_core.history import TrialHistory
from neps_core.liveness import STALE_AFTER, WORKER_PROCESS, mention_silent_workers
from neps_core.models import Trial, TrialState

BUSY_WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import neps_core as neps
    from neps_core import presence

    if "BOOT_ID" in os.environ:  # a worker of another machine sharing the file system
        presence._boot_id = lambda: os.environ["BOOT_ID"]

    def evaluate_pipeline(x, pipeline_directory):
        (Path(pipeline_directory) / "started").touch()
        time.sleep(600)
        return x

    neps.run(
        evaluate_pipeline,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=sys.argv[1],
        evaluations_to_spend=1,
    )
    """
)
WARNED = "of other workers"


def _join_while_busy(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings of a run() joining a root whose only evaluation a live worker holds."""
    root = tmp_path / "run"
    busy = start_worker(BUSY_WORKER, [str(root)], root, "configs/config_1/started")
    try:
        with caplog.at_level("WARNING", logger="neps_core"):
            summary = neps.run(lambda x: x, root_directory=root, evaluations_to_spend=1)
    finally:
        kill(busy)
    assert (summary.counts["evaluating"], len(summary.trials)) == (1, 1)  # it evaluated nothing
    return [record.getMessage() for record in caplog.records]


@pytest.mark.slow
def test_a_worker_joining_live_workers_of_this_machine_does_not_say_they_may_be_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    warnings = _join_while_busy(tmp_path, caplog)
    assert not [w for w in warnings if "still evaluating" in w], warnings


@pytest.mark.slow
def test_a_worker_joining_a_worker_of_another_machine_says_when_its_trial_is_re_queued(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOT_ID", "another-machine")  # read by the busy worker only
    warnings = _join_while_busy(tmp_path, caplog)
    (warned,) = [w for w in warnings if WARNED in w]
    assert warned.startswith("Trial(s) 1 of other workers (of other machines")
    assert "once they are 120 s silent (stale_after)" in warned


def test_a_gone_worker_of_this_machine_is_said_to_be_re_queued_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Dead after the stopping worker's last look for gone workers: no stale_after to wait."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    process = f"{presence.this_machine()}/{dead.pid}/1"
    trial = Trial(
        id="1",
        config={"x": 0.5},
        state=TrialState.EVALUATING,
        created_at=time.time(),  # heard of just now: not silent for stale_after
        worker_id="dead",
        metadata={WORKER_PROCESS: process, STALE_AFTER: 120.0},
    )
    history = TrialHistory()
    history.put(trial)
    with caplog.at_level("WARNING", logger="neps_core"):
        mention_silent_workers(
            history,
            "me",
            idle=True,
            heartbeat_interval=10.0,
            stale_after=120.0,
            present=lambda: [str(os.getpid())],
        )
    (warned,) = [record.getMessage() for record in caplog.records]
    assert warned == (
        "Trial(s) 1 are still evaluating, but their workers, of this machine, are gone: "
        "the next run() re-queues them at once"
    )
