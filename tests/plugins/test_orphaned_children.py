"""A worker killed with SIGKILL takes its evaluations with it (``evaluation.orphan_guardian``).

Trials run in child processes of their own session; without the guardian they outlived the
worker and evaluated on next to the worker that re-ran the re-queued trial in the same folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from worker_processes import ended_within, kill_mid_evaluation

WORKER = """
import os, sys, time
import neps_core as neps

def evaluate_pipeline(x, pipeline_directory):
    (pipeline_directory / "pid").write_text(str(os.getpid()))
    time.sleep(120)
    return x

if __name__ == "__main__":
    evaluator = sys.argv[1]
    function = evaluate_pipeline
    if evaluator == "command":
        evaluator = "subprocess"
        function = neps.Command(
            ["sh", "-c", "sleep 120 & echo $! > {pipeline_directory}/pid; wait"]
        )
    if evaluator == "slurm":  # a local job leads a session of its own
        evaluator = {"name": "slurm", "cluster": "local"}
    neps.run(
        function, {"x": neps.Float(0.0, 1.0)}, root_directory="run",
        evaluations_to_spend=1, evaluator=evaluator,
    )
"""


@pytest.mark.slow
@pytest.mark.parametrize("evaluator", ["process_pool", "subprocess", "command", "slurm"])
def test_a_sigkilled_workers_evaluation_is_stopped(tmp_path: Path, evaluator: str) -> None:
    root = tmp_path / "run"
    kill_mid_evaluation(WORKER, [evaluator], root, "configs/config_1/pid")
    deadline = time.monotonic() + 30
    pid_file = root / "configs" / "config_1" / "pid"
    while not pid_file.read_text().strip():  # created before its number is written
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    alive = not ended_within(pid, deadline - time.monotonic())
    if alive:
        os.kill(pid, 9)
    assert not alive, f"the evaluation (pid {pid}) outlived its SIGKILLed worker"


FORK_DURING_START = """
import os
from neps_core.evaluation import orphan_guardian

start = orphan_guardian._start_guardian

def start_while_another_thread_forks(reading):
    ends = (reading, orphan_guardian._LINK._pipe)
    child = os.fork()  # as a thread of the worker might, while the guardian starts
    if child == 0:
        still_open = 0
        for end in ends:
            try:
                os.fstat(end)
                still_open += 1
            except OSError:
                pass
        os._exit(still_open)
    _, status = os.waitpid(child, 0)
    print("open in the fork:", os.waitstatus_to_exitcode(status))
    start(reading)

orphan_guardian._start_guardian = start_while_another_thread_forks
orphan_guardian.prepare()
"""


def test_a_fork_while_the_guardian_starts_does_not_hold_its_pipe(tmp_path: Path) -> None:
    """A forked child holding the pipe kept the guardian waiting: 27 s, not 5, after a
    SIGKILL (probe: a thread forking every 3 ms during the first Command)."""
    script = tmp_path / "fork_during_start.py"
    script.write_text(FORK_DURING_START, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert "open in the fork: 0" in done.stdout, done.stdout + done.stderr
