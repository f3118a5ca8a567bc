"""The ``sync`` evaluator plugin: the evaluator contract, in-process evaluation, errors captured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.interfaces import EvaluationJob
from neps_core.plugin_manager import Plugins
from neps_core.termination import WorkerStopped, signals_stop_the_worker
from neps_core.testing import EvaluatorContract, make_trial
from neps_core_plugins.process_pool_evaluator import ProcessPoolEvaluator
from neps_core_plugins.sync_evaluator import SyncEvaluator

pytest_plugins = ["neps_core.testing.fixtures"]


class TestSyncEvaluatorContract(EvaluatorContract):
    evaluator_class = SyncEvaluator


class EvaluationBroke(Exception):
    """Raised by an evaluation on purpose."""


def _job(function: Any, trial_id: int = 1, **arguments: Any) -> EvaluationJob:
    return EvaluationJob(
        trial=make_trial(trial_id, arguments, "evaluating"),
        function=function,
        arguments=arguments,
        pipeline_directory=Path("unused"),
    )


def test_is_registered_as_sync(neps_plugins: Plugins) -> None:
    assert neps_plugins.evaluators["sync"] is SyncEvaluator
    assert "sync_evaluator" in neps_plugins.evaluators.origin("sync")


class _SiteEvaluator(SyncEvaluator):
    """A site's evaluator built on ``sync``: it must not claim ``sync``'s alias too."""

    name = "site_evaluator"


def test_a_subclass_answers_to_its_own_name_only(tmp_path: Path) -> None:
    summary = neps.run(
        lambda x: x,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        evaluations_to_spend=1,
        evaluator="site_evaluator",
        plugins=[_SiteRegistration()],
    )
    assert summary.counts["success"] == 1  # "serial" claimed twice raised DuplicatePluginError


class _SiteRegistration:
    @neps.hookimpl
    def neps_register_evaluators(self) -> list[type]:
        return [_SiteEvaluator]


def test_deephypers_method_names_pick_the_evaluator_or_say_what_to_use(
    neps_plugins: Plugins, tmp_path: Path
) -> None:
    assert neps_plugins.evaluators["serial"] is SyncEvaluator
    assert neps_plugins.evaluators["process"] is ProcessPoolEvaluator
    assert neps_plugins.evaluators["async"] is not SyncEvaluator  # a subclass, not an alias
    summary = neps.run(
        lambda x: x,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path / "serial",
        evaluations_to_spend=2,
        evaluator="serial",
    )
    assert summary.counts["success"] == 2
    advice_by_method = [
        ("thread", "process_pool"),
        ("ray", "dask"),
        ("mpicomm", "MPI rank"),
        ("mpipool", "MPI rank"),
        ("loky", "process_pool"),
    ]
    for method, advice in advice_by_method:
        with pytest.raises(neps.UnknownPluginError, match=rf"DeepHyper's '{method}' .*{advice}"):
            neps.run(
                lambda x: x,
                {"x": neps.Float(0.0, 1.0)},
                root_directory=tmp_path / method,
                evaluations_to_spend=1,
                evaluator=method,
            )


def test_evaluates_in_this_process_one_job_at_a_time() -> None:
    calls: list[dict[str, Any]] = []

    def evaluate(**config: Any) -> Any:
        calls.append(config)
        return {"objective_to_minimize": config["x"], "extra": "kept verbatim"}

    evaluator = SyncEvaluator()
    assert evaluator.capacity == 1
    evaluator.submit(_job(evaluate, 1, x=0.5))
    assert calls == [{"x": 0.5}]  # already done when submit returns
    [outcome] = evaluator.wait(timeout=0)
    assert outcome.trial_id == "1"
    assert outcome.result == {"objective_to_minimize": 0.5, "extra": "kept verbatim"}
    assert outcome.error is None
    assert outcome.duration >= 0.0
    assert evaluator.wait(timeout=0) == []  # each outcome is handed out once


def test_returns_none_untouched_for_asynchronous_evaluation() -> None:
    evaluator = SyncEvaluator()
    evaluator.submit(_job(lambda **config: None, 3))
    [outcome] = evaluator.wait()
    assert outcome.result is None
    assert outcome.error is None


def test_captures_an_exception_with_its_traceback() -> None:
    def evaluate(**config: Any) -> float:
        raise EvaluationBroke("diverged")

    evaluator = SyncEvaluator()
    evaluator.submit(_job(evaluate, 2, x=1.0))
    [outcome] = evaluator.wait()
    assert isinstance(outcome.error, EvaluationBroke)
    assert outcome.result is None
    assert outcome.traceback is not None
    assert "EvaluationBroke: diverged" in outcome.traceback
    assert "in evaluate" in outcome.traceback


def test_runs_evaluate_pipeline_in_the_calling_process(neps_run: Any) -> None:
    seen: list[int] = []

    def evaluate(**config: Any) -> float:
        seen.append(os.getpid())
        return 1.0

    summary = neps_run(evaluate_pipeline=evaluate, evaluator="sync", evaluations_to_spend=3)
    assert summary.counts["success"] == 3
    assert seen == [os.getpid()] * 3


def test_failures_are_reported_through_the_run(neps_run: Any, neps_root: Path) -> None:
    def evaluate(**config: Any) -> float:
        raise EvaluationBroke("always")

    summary = neps_run(evaluate_pipeline=evaluate, ignore_errors=True, evaluations_to_spend=2)
    assert summary.counts["failed"] == 2
    report = neps_root / "configs" / "config_1" / "report.yaml"
    assert "EvaluationBroke" in report.read_text()


def test_sys_exit_in_the_pipeline_fails_its_trial_as_under_a_pool(
    neps_run: Any, neps_root: Path
) -> None:
    # The trial was given back as pending, uncounted: every run() evaluated it again, and
    # exited again, while process_pool stored it as failed.
    calls: list[int] = []

    def evaluate(**config: Any) -> float:
        calls.append(1)
        sys.exit(2)

    for _ in range(2):
        with pytest.raises(SystemExit) as exited:
            neps_run(evaluate_pipeline=evaluate, evaluations_to_spend=2)
        assert exited.value.code == 2
    assert len(calls) == 2
    assert neps.status(neps_root).counts["failed"] == 2
    report = neps_root / "configs" / "config_1" / "report.yaml"
    assert "SystemExit: 2" in report.read_text()
    summary = neps_run(evaluate_pipeline=evaluate, ignore_errors=True, evaluations_to_spend=4)
    assert summary.counts["failed"] == 4


def test_an_applications_own_stop_handler_still_stops_the_worker(
    neps_run: Any, neps_root: Path
) -> None:
    # A batch job's SIGTERM handler calling sys.exit(): the SystemExit failed the trial and,
    # with ignore_errors, the worker went on with the next one.
    def evaluate(**config: Any) -> float:
        os.kill(os.getpid(), signal.SIGTERM)
        return 1.0

    def exit_on_term(signum: int, frame: Any) -> None:
        sys.exit(143)

    previous = signal.signal(signal.SIGTERM, exit_on_term)
    try:
        with pytest.raises(SystemExit) as stopped:
            neps_run(evaluate_pipeline=evaluate, ignore_errors=True, evaluations_to_spend=3)
        assert signal.getsignal(signal.SIGTERM) is exit_on_term  # the application's again
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.code == 143
    counts = neps.status(neps_root).counts
    assert (counts["pending"], counts["failed"]) == (1, 0)  # given back, not failed


def test_a_stopping_signal_still_stops_the_worker() -> None:
    def evaluate(**config: Any) -> float:
        os.kill(os.getpid(), signal.SIGTERM)
        return 1.0

    evaluator = SyncEvaluator()
    with signals_stop_the_worker(), pytest.raises(WorkerStopped):
        evaluator.submit(_job(evaluate, x=1.0))
    assert evaluator.wait() == []


def test_takes_no_options(neps_run: Any) -> None:
    with pytest.raises(SettingsError, match=r"evaluator 'sync'.*unknown option.*workers"):
        neps_run(evaluator={"name": "sync", "workers": 2})
    with pytest.raises(SettingsError, match=r"timeout.*needs an evaluator .*'process_pool'"):
        neps_run(evaluator={"name": "serial", "timeout": 3})  # DeepHyper's spelling
    with pytest.raises(SettingsError, match=r"callbacks are observer plugins here"):
        neps_run(evaluator={"name": "process", "callbacks": []})


OWN_HANDLER = textwrap.dedent(
    """
    import signal, sys, time
    import neps_core as neps

    def evaluate_pipeline(x: float) -> float:
        def checkpoint_then_exit(signum, frame):
            print("checkpointed", flush=True)
            sys.exit(128 + signum)

        for name in ("SIGTERM", "SIGHUP", "SIGINT"):
            signal.signal(getattr(signal, name), checkpoint_then_exit)
        print("evaluating", flush=True)
        time.sleep(600)
        return x

    if __name__ == "__main__":
        neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
                 evaluations_to_spend=2, ignore_errors=True)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_handler_installed_by_the_pipeline_still_stops_the_worker(
    tmp_path: Path, signum: int
) -> None:
    # The SLURM pattern (checkpoint, then sys.exit(128 + signum)) set up inside the function:
    # its SystemExit failed the trial for good ("SystemExit: 143") and, with ignore_errors,
    # the worker went on with the next trial.
    (tmp_path / "script.py").write_text(OWN_HANDLER, encoding="utf-8")
    root = tmp_path / "root"
    worker = subprocess.Popen(
        [sys.executable, "script.py", str(root)], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None
    try:
        assert worker.stdout.readline() == "evaluating\n"
        worker.send_signal(signum)
        assert worker.stdout.readline() == "checkpointed\n"
        assert worker.stdout.readline() == ""  # it stopped: no next trial is evaluating
        assert worker.wait(timeout=120) == 128 + signum
    finally:
        worker.kill()
        worker.wait()
    counts = neps.status(root).counts
    assert (counts["pending"], counts["failed"], counts["evaluating"]) == (1, 0, 0)
