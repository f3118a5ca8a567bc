"""A process that ``evaluate_pipeline`` forks ends where it leaves the call: it never reports,
stores, or goes on as a second worker, under every evaluator that calls the function in a
long-lived process. Real scripts in fresh interpreters: a copy of pytest that ran on would run
the rest of the session twice. A pool process forked from a worker stores through a storage
of its own, not its copy of the worker's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.worker_storages import evaluating_worker_storage

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import neps_core as neps

    def evaluate_pipeline(x: float) -> float:
        helper = os.fork()
        if helper == 0:  # a helper (a checkpoint upload) that forgot os._exit
            if sys.argv[2] == "exits":
                sys.exit(0)
            if sys.argv[2] == "raises":
                raise RuntimeError("the helper broke")
            return 100.0 + x
        _, status = os.waitpid(helper, 0)
        print("helper exit status", os.waitstatus_to_exitcode(status), flush=True)
        return x

    if __name__ == "__main__":
        neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            root_directory="root",
            evaluations_to_spend=2,
            evaluator=sys.argv[1],
        )
        print("script done in", os.getpid(), flush=True)
    """
)


@pytest.mark.parametrize("evaluator", ["sync", "process_pool"])
@pytest.mark.parametrize(("helper", "status"), [("exits", 0), ("returns", 0), ("raises", 1)])
def test_a_forked_copy_of_the_evaluation_ends_and_the_real_result_is_stored(
    tmp_path: Path, evaluator: str, helper: str, status: int
) -> None:
    # sync: both trials were stored as failed "SystemExit: 0" (or with the copy's value), the
    # real results dropped, and the copy ran on as a second worker and the rest of the script;
    # process_pool: the copy's reply was stored, then a BrokenPipeError.
    (tmp_path / "script.py").write_text(SCRIPT, encoding="utf-8")
    ran = subprocess.run(
        [sys.executable, "script.py", evaluator, helper],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines.count(f"helper exit status {status}") == 2, ran.stdout
    assert [line for line in lines if line.startswith("script done")] == [lines[-1]]
    trials = neps.status(tmp_path / "root").trials
    assert [trial.state.value for trial in trials] == ["success", "success"]
    assert all(trial.report.objective_to_minimize == trial.config["x"] for trial in trials)
    if helper == "raises":  # its traceback is shown, as an uncaught exception's would be
        assert "RuntimeError: the helper broke" in ran.stderr


def save_from_the_pool(x: float, pipeline_id: str, root_directory: Path) -> None:
    """Saves its result itself, saying whether it found a worker's storage to record it."""
    inherited = evaluating_worker_storage(Path(root_directory)) is not None
    result = {"objective_to_minimize": x, "extra": {"inherited": inherited, "pid": os.getpid()}}
    neps.save_pipeline_results(result, pipeline_id, root_directory)


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_forked_pool_process_saves_its_results_through_a_storage_of_its_own(
    tmp_path: Path, storage: str
) -> None:
    # The process forked from the worker's thread kept its thread id and the registry of
    # open storages, so it wrote through the parent's handle (its lock, connection, offset).
    root = tmp_path / "root"
    summary = neps.run(
        save_from_the_pool,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=2,
        storage=storage,
        evaluator={"name": "process_pool", "n_workers": 1, "start_method": "fork"},
    )
    assert summary.counts["success"] == 2
    extras = [trial.report.extra for trial in neps.status(root).trials]
    assert [extra["inherited"] for extra in extras] == [False, False]
    assert os.getpid() not in {extra["pid"] for extra in extras}
