"""Several real processes calling run() on one root: exact budget, no duplicates, no loss."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.serialization import read_yaml

WORKER = textwrap.dedent(
    """
    import sys, time
    import neps_core as neps

    def evaluate_pipeline(x, y, pipeline_directory):
        time.sleep(0.01)
        (pipeline_directory / "evaluated_by").write_text(sys.argv[2])
        return {"objective_to_minimize": x + y, "cost": 1.0}

    neps.run(
        evaluate_pipeline,
        {"x": neps.Float(0.0, 1.0), "y": neps.Integer(0, 100)},
        root_directory=sys.argv[1],
        evaluations_to_spend=int(sys.argv[3]),
        worker_id=sys.argv[2],
        storage=sys.argv[4],
    )
    """
)


def _launch_workers(tmp_path: Path, root: Path, n: int, budget: int, storage: str) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(root), f"worker-{i}", str(budget), storage],
            stderr=subprocess.PIPE,
        )
        for i in range(n)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()


@pytest.mark.slow
def test_four_processes_share_the_budget_exactly(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _launch_workers(tmp_path, root, n=4, budget=60, storage="disk")

    summary = neps.status(root)
    assert summary.counts["success"] == 60
    assert summary.budget.used_evaluations == 60
    folders = sorted((root / "configs").iterdir())
    assert len(folders) == 60
    configs = [read_yaml(folder / "config.yaml") for folder in folders]
    assert len({(c["x"], c["y"]) for c in configs}) == 60  # nobody evaluated a config twice
    evaluators = {(folder / "evaluated_by").read_text() for folder in folders}
    assert len(evaluators) > 1  # the work really was shared
    for folder in folders:
        report = read_yaml(folder / "report.yaml")
        assert report["objective_to_minimize"] is not None
        assert report["cost"] == 1.0

    # A later worker on the finished root evaluates nothing.
    _launch_workers(tmp_path, root, n=1, budget=60, storage="disk")
    assert neps.status(root).budget.used_evaluations == 60
    assert len(list((root / "configs").iterdir())) == 60


STOPPABLE_WORKER = """
import os, sys, time
from pathlib import Path
import neps_core as neps


def evaluate_pipeline(x: float) -> float:
    Path(sys.argv[2], f"{os.getpid()}.pid").touch()
    time.sleep(120)
    return x


if __name__ == "__main__":
    evaluator = sys.argv[3]
    options = {"n_workers": 1} if evaluator != "sync" else {}
    neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
             evaluations_to_spend=1, evaluator={"name": evaluator, **options})
"""


@pytest.mark.slow
# One handler (neps_core.termination) takes both signals, whatever the evaluator: each signal
# once and each evaluator once cover it; the full product started four workers for two paths.
@pytest.mark.parametrize(("evaluator", "stop"), [("process_pool", "SIGTERM"), ("sync", "SIGHUP")])
def test_sigterm_and_sighup_stop_a_worker_like_ctrl_c(
    tmp_path: Path, stop: str, evaluator: str
) -> None:
    # They ended the worker on the spot: its trial stayed "evaluating" until stale_after, and a
    # pool's evaluation (in a session of its own) ran on as an orphan.
    root, pids = tmp_path / "run", tmp_path / "pids"
    pids.mkdir()
    (tmp_path / "worker.py").write_text(STOPPABLE_WORKER)
    worker = subprocess.Popen(
        [sys.executable, "worker.py", str(root), str(pids), evaluator], cwd=tmp_path
    )
    deadline = time.monotonic() + 120
    while not list(pids.iterdir()):
        assert worker.poll() is None and time.monotonic() < deadline, "no evaluation started"
        time.sleep(0.05)
    (evaluating,) = [int(p.stem) for p in pids.iterdir()]
    worker.send_signal(getattr(signal, stop))
    assert worker.wait(timeout=60) == 128 + getattr(signal, stop)
    if evaluating != worker.pid:
        deadline = time.monotonic() + 30
        while _alive(evaluating):
            assert time.monotonic() < deadline, "the evaluation outlived its worker"
            time.sleep(0.1)
    assert neps.status(root).counts["pending"] == 1  # given back at once


STOPPED_AT_A_CHOSEN_POINT = """
import os, signal, sys
import neps_core as neps
import neps_core.runtime
import neps_core.sampler


def stop_after(function):
    def stopped(*args, **kwargs):
        value = function(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # raises SystemExit before the caller sees value
        return value
    return stopped


def stop_before(function):
    def stopped(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return function(*args, **kwargs)
    return stopped


if sys.argv[2] == "claimed_not_yet_launched":
    sampler = neps_core.sampler.TrialSampler
    sampler.sample = stop_after(sampler.sample)
else:  # evaluated, the result not stored yet
    neps_core.runtime.record_result = stop_before(neps_core.runtime.record_result)
neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
         evaluations_to_spend=1, optimizer="random_search", storage=sys.argv[3])
"""


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
@pytest.mark.parametrize("window", ["claimed_not_yet_launched", "evaluated_not_yet_stored"])
def test_a_sigterm_between_the_steps_of_a_trial_gives_the_trial_back(
    tmp_path: Path, window: str, storage: str
) -> None:
    # The worker only gave back the trials it was evaluating: one stored as EVALUATING but
    # not yet handed to it, or evaluated but not yet stored, stayed EVALUATING (and counted
    # against the budget) until stale_after.
    root = tmp_path / "run"
    stopped = subprocess.run(
        [sys.executable, "-c", STOPPED_AT_A_CHOSEN_POINT, str(root), window, storage],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    counts = neps.status(root).counts
    assert (counts["evaluating"], counts["pending"]) == (0, 1), counts
    summary = neps.run(
        lambda x: x,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=1,
        optimizer="random_search",
    )
    assert (summary.counts["success"], len(summary.trials)) == (1, 1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


FORKED_WORKERS = """
import multiprocessing, sys, time
import numpy as np
import neps_core as neps

def evaluate(x):
    time.sleep(0.05)
    return x

def work(root):
    neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=root,
             evaluations_to_spend=12, optimizer=sys.argv[2])

if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    np.random.seed(0)  # each forked worker starts from a copy of this state
    workers = [multiprocessing.Process(target=work, args=(sys.argv[1],)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
"""


def test_forked_workers_without_a_seed_propose_distinct_configurations(tmp_path: Path) -> None:
    # Copies of one NumPy state drew the same configurations: 12 trials, 5 distinct.
    script = tmp_path / "forked.py"
    script.write_text(FORKED_WORKERS, encoding="utf-8")
    root = tmp_path / "run"
    subprocess.run(
        [sys.executable, str(script), str(root), "random_search"], check=True, timeout=120
    )
    trials = neps.status(root).trials
    assert len(trials) == 12
    assert len({trial.config["x"] for trial in trials}) == 12
