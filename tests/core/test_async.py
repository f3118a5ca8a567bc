"""Asynchronous evaluation (seed 000, section 3): ``evaluate_pipeline`` returns ``None`` and the
result arrives later through ``save_pipeline_results``, typically from another process.

The separate processes here are real ``python -c`` interpreters, as a SLURM job would be.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import neps_core as neps

TrialFileReader = Callable[..., Any]
HANG_GUARD = 60.0  # seconds: a message that never comes fails the test instead of hanging it
SPACE = {"x": neps.Float(0.0, 1.0), "opt": neps.Categorical(("adam", "sgd"))}

REPORT_SCRIPT = """
import sys
import neps_core as neps
neps.save_pipeline_results(
    user_result={"objective_to_minimize": float(sys.argv[3]), "cost": 3, "extra": {"node": "n1"}},
    pipeline_id=sys.argv[1],
    root_directory=sys.argv[2],
)
"""


def _report_from_another_process(
    root: Path, pipeline_id: str, objective: float = 0.25
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", REPORT_SCRIPT, pipeline_id, str(root), str(objective)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _submit(x: float, opt: str) -> None:
    return None


def _counts(root: Path) -> dict[str, int]:
    return {state: n for state, n in neps.status(root).counts.items() if n}


def _start(root: Path, n: int = 3) -> None:
    neps.run(_submit, SPACE, root_directory=root, evaluations_to_spend=n)


def test_returning_none_leaves_trials_evaluating(root: Path) -> None:
    summary = neps.run(_submit, SPACE, root_directory=root, evaluations_to_spend=3)
    assert summary.counts["evaluating"] == 3
    assert _counts(root) == {"evaluating": 3}
    assert not (root / "configs" / "config_1" / "report.yaml").exists()


def test_the_first_none_is_a_warning_since_a_forgotten_return_looks_the_same(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Only an INFO line said why every trial of a function without `return` stayed EVALUATING.
    with caplog.at_level(logging.INFO, logger="neps_core"):
        neps.run(_submit, SPACE, root_directory=root, evaluations_to_spend=3)
    said = [r for r in caplog.records if "returned None" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING, logging.INFO, logging.INFO]
    assert "lacks a `return`" in said[0].getMessage() and "Trial 1" in said[0].getMessage()


def test_max_evaluations_per_run_bounds_an_asynchronous_worker(root: Path) -> None:
    neps.run(_submit, SPACE, root_directory=root, max_evaluations_per_run=2)
    assert _counts(root) == {"evaluating": 2}


def test_result_from_a_separate_process_completes_the_trial(
    root: Path, trial_file: TrialFileReader
) -> None:
    _start(root)
    completed = _report_from_another_process(root, "2")
    assert completed.returncode == 0, completed.stderr
    assert _counts(root) == {"success": 1, "evaluating": 2}
    report = trial_file(root, 2, "report")
    assert report["objective_to_minimize"] == 0.25 and report["cost"] == 3.0
    assert report["extra"]["node"] == "n1"
    metadata = trial_file(root, 2, "metadata")
    assert metadata["state"] == "success"
    assert "awaiting_result" not in metadata["metadata"]  # marked while it waited only
    summary = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
    assert summary["counts"]["success"] == 1  # post_run_summary defaults to True
    assert neps.status(root).best_trial.id == "2"  # type: ignore[union-attr]
    # A second result for the trial, here from this process, is refused: the first stands.
    with pytest.raises(neps.TrialAlreadyReportedError, match="'2'"):
        neps.save_pipeline_results({"objective_to_minimize": 0.1}, "2", root)
    assert neps.status(root).best_objective == 0.25


def test_unknown_trial_id_is_named(root: Path) -> None:
    _start(root)
    for unknown in ("99", "config_42"):
        with pytest.raises(neps.TrialNotFoundError, match=unknown.removeprefix("config_")):
            neps.save_pipeline_results({"objective_to_minimize": 0.1}, unknown, root)
    assert _counts(root) == {"evaluating": 3}


@pytest.mark.parametrize("pipeline_id", ["3", "config_3", 3])
def test_pipeline_id_with_or_without_prefix(root: Path, pipeline_id: Any) -> None:
    _start(root)
    neps.save_pipeline_results({"objective_to_minimize": 0.7}, pipeline_id, root)
    assert _counts(root) == {"success": 1, "evaluating": 2}
    assert neps.status(root).best_trial.id == "3"  # type: ignore[union-attr]


def test_reported_exception_fails_the_trial(root: Path, trial_file: TrialFileReader) -> None:
    _start(root, n=1)
    result = {"objective_to_minimize": None, "exception": MemoryError("out of GPU memory")}
    neps.save_pipeline_results(result, "1", root)
    assert _counts(root) == {"failed": 1}
    assert "out of GPU memory" in trial_file(root, 1, "report")["error"]


def test_bad_result_is_a_type_error_and_the_trial_stays_open(root: Path) -> None:
    _start(root, n=1)
    with pytest.raises(TypeError, match="set"):
        neps.save_pipeline_results({0.1, 0.2}, "1", root)
    assert _counts(root) == {"evaluating": 1}
    neps.save_pipeline_results(0.3, "1", root)  # the corrected result is still accepted
    assert _counts(root) == {"success": 1}


def test_a_result_without_a_cost_is_refused_under_cost_to_spend(root: Path) -> None:
    # Accepted, it spent nothing: the worker launched and awaited trials forever.
    neps.run(_submit, SPACE, root_directory=root, cost_to_spend=5.0, evaluations_to_spend=1)
    with pytest.raises(neps.MissingCostError, match="cost_to_spend is set"):
        neps.save_pipeline_results({"objective_to_minimize": 0.1}, "1", root)
    assert _counts(root) == {"evaluating": 1}
    neps.save_pipeline_results({"objective_to_minimize": 0.1, "cost": 2.0}, "1", root)
    assert _counts(root) == {"success": 1}


def test_post_run_summary_false_writes_no_summary(root: Path) -> None:
    _start(root, n=1)
    before = (root / "summary.yaml").read_text(encoding="utf-8")
    neps.save_pipeline_results(0.3, "1", root, post_run_summary=False)
    assert (root / "summary.yaml").read_text(encoding="utf-8") == before
    assert _counts(root) == {"success": 1}


def test_save_pipeline_results_outside_a_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        neps.save_pipeline_results(0.1, "1", tmp_path / "nowhere")


def test_seed_000_walkthrough_with_real_jobs(root: Path) -> None:
    """evaluate_pipeline writes a job script, launches it, and returns None (seed 000, 3.2)."""
    jobs: list[subprocess.Popen[bytes]] = []

    def evaluate_pipeline(
        pipeline_directory: Path, pipeline_id: str, root_directory: Path, x: float, opt: str
    ) -> None:
        script = pipeline_directory / "job.py"
        script.write_text(
            "import neps_core as neps\n"
            f"neps.save_pipeline_results(user_result={{'objective_to_minimize': {x!r}}}, "
            f"pipeline_id={pipeline_id!r}, root_directory={str(root_directory)!r})\n",
            encoding="utf-8",
        )
        jobs.append(subprocess.Popen([sys.executable, str(script)]))

    neps.run(evaluate_pipeline, SPACE, root_directory=root, evaluations_to_spend=2)
    assert [job.wait(timeout=120) for job in jobs] == [0, 0]
    status = neps.status(root)
    assert status.counts["success"] == 2
    configs = [neps.load_config(root, config_id=i) for i in ("1", "2")]
    assert status.best_objective == min(c["x"] for c in configs)


def test_a_worker_waiting_for_a_first_cost_says_so(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # With cost_to_spend one trial runs until a cost is known; an asynchronous worker waited
    # for its job's result without a word, which looked like a hang.
    def submit_a_job(x: float, opt: str, pipeline_id: str) -> None:
        report = threading.Timer(0.5, _report_from_another_process, (root, pipeline_id))
        report.start()
        jobs.append(report)

    jobs: list[threading.Timer] = []
    with caplog.at_level(logging.INFO, logger="neps_core.runtime"):
        summary = neps.run(submit_a_job, SPACE, root_directory=root, cost_to_spend=3)
    for job in jobs:
        job.join()
    assert summary.counts["success"] >= 1
    waiting = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Waiting for")]
    assert waiting[0] == (
        "Waiting for trial(s) 1: no trial has reported a cost yet, so cost_to_spend lets one run "
        "at a time"
    )


def test_observers_hear_of_results_that_arrive_while_the_worker_runs(root: Path) -> None:
    """neps_trial_finished never fired for them: TensorBoard logged no asynchronous trial."""
    finished: list[tuple[str, float | None]] = []

    class Observer:
        @neps.hookimpl
        def neps_trial_finished(self, trial: Any, report: Any) -> None:
            finished.append((trial.id, report.objective_to_minimize))

    jobs: list[subprocess.Popen[bytes]] = []

    def submit(x: float, opt: str, pipeline_id: str) -> None:
        jobs.append(
            subprocess.Popen([sys.executable, "-c", REPORT_SCRIPT, pipeline_id, str(root), "0.5"])
        )

    neps.run(
        submit,
        SPACE,
        root_directory=root,
        evaluations_to_spend=2,
        continue_until_max_evaluation_completed=True,  # the worker waits for every result
        plugins=[Observer()],
    )
    assert [job.wait(timeout=120) for job in jobs] == [0, 0]
    assert sorted(finished) == [("1", 0.5), ("2", 0.5)]


@pytest.mark.parametrize("evaluator", ["sync", "async"])
@pytest.mark.parametrize(
    ("limit", "trials"),
    [
        # Awaited trials were neither expected to cost nor spent when their results arrived:
        # a limit of 6 at cost 3 (REPORT_SCRIPT's) ran every trial evaluations_to_spend allows.
        ({"max_cost_per_run": 6.0}, 2),
        ({"max_fidelities_per_run": 10.0}, 2),  # 9, then 9 more (counted when started)
        ({"max_evaluations_per_run": 2}, 2),
    ],
)
def test_per_call_limits_bound_a_worker_whose_results_come_from_other_processes(
    root: Path, evaluator: str, limit: dict[str, float], trials: int
) -> None:
    jobs: list[subprocess.Popen[bytes]] = []

    def submit(x: float, opt: str, epochs: int, pipeline_id: str) -> None:
        jobs.append(
            subprocess.Popen([sys.executable, "-c", REPORT_SCRIPT, pipeline_id, str(root), "0.5"])
        )

    neps.run(
        submit,
        {**SPACE, "epochs": neps.Integer(1, 9, is_fidelity=True)},
        root_directory=root,
        optimizer="random_search",  # proposes the highest fidelity, 9
        evaluator=evaluator,
        evaluations_to_spend=12,  # a safety net only
        **limit,
    )
    assert [job.wait(timeout=120) for job in jobs] == [0] * trials
    assert _counts(root) == {"success": trials}


def test_a_worker_held_back_by_max_cost_per_run_names_the_trials_it_waits_for(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Its awaited trial counted as running with no cost known: the worker waited for its
    # result without a word (forever, were it a forgotten `return`).
    said = threading.Event()

    class Said(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Waiting for trial(s) 1: under max_cost_per_run"):
                said.set()

    def report_once_said() -> None:
        said.wait(HANG_GUARD)  # the job reports in any case, so that a failure ends the run
        _report_from_another_process(root, "1")

    job = threading.Thread(target=report_once_said)
    handler = Said()
    logging.getLogger("neps_core").addHandler(handler)
    try:
        job.start()
        with caplog.at_level(logging.INFO, logger="neps_core"):
            neps.run(
                _submit, SPACE, root_directory=root, evaluations_to_spend=2, max_cost_per_run=9
            )
    finally:
        logging.getLogger("neps_core").removeHandler(handler)
        job.join()
    assert said.is_set()
    levels = [r.levelname for r in caplog.records if "max_cost_per_run=9" in r.getMessage()]
    assert levels[0] == "WARNING"  # aloud: it may be a forgotten `return`


def test_a_call_whose_run_budget_is_spent_does_not_wait_for_a_first_cost(root: Path) -> None:
    # Nothing more could start, yet under max_cost_per_run the call waited for the awaited
    # trial's cost: forever for a job that never reports. Without the limit it returned.
    script = (
        "import sys, neps_core as neps\n"
        "neps.run(lambda x: None, {'x': neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],"
        " evaluations_to_spend=1, max_cost_per_run=9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(root)],
        capture_output=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _counts(root) == {"evaluating": 1}
