"""The ``process_pool`` evaluator: N local processes from one run(), real kills."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import pytest
import yaml
from late_evaluations import sleep_then_raise, sleep_then_return
from unpicklable import Locked
from worker_processes import running, unguarded_script

import neps_core as neps
from neps_core.evaluation.main_script import unimportable_script_hidden
from neps_core.termination import signals_stop_the_worker
from neps_core.testing import BackgroundEvaluatorContract
from neps_core.testing.evaluator_contract import collect, make_job
from neps_core_plugins.process_pool_evaluator import (
    PoolClosedError,
    PoolWorkerDiedError,
    ProcessPoolEvaluator,
    ProcessPoolSettings,
)


class TestProcessPoolContract(BackgroundEvaluatorContract):
    evaluator_class = ProcessPoolEvaluator
    evaluator_options = {"kill_grace": 1.0}
    timeout_seconds = 1.0


# Functions the pool processes import by name.
def die_hard(x: float) -> float:
    os.kill(os.getpid(), signal.SIGKILL)
    return x


def unpicklable_result(x: float) -> object:
    return threading.Lock()


def result_with_an_unpicklable_extra(x: float) -> dict[str, object]:
    return {"objective_to_minimize": x, "handle": threading.Lock()}


def default_start_method(x: float) -> dict[str, object]:
    method = multiprocessing.get_context().get_start_method()
    return {"objective_to_minimize": x, "extra": {"start_method": method}}


def start_grandchild(pid_file: str) -> float:
    child = subprocess.Popen(["sleep", "300"])
    Path(pid_file).write_text(str(child.pid))
    time.sleep(300)
    return 0.0


def mark_then_sleep(marker: str) -> float:
    Path(marker).write_text(str(os.getpid()))
    time.sleep(300)
    return 0.0


def whoami(x: float) -> dict:
    return {"objective_to_minimize": x, "extra": {"pid": os.getpid()}}


class TwoArgumentError(Exception):
    """Pickles, but cannot be rebuilt: ``Exception`` keeps only the message it was given."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code={code}: {detail}")


def raise_two_argument_error(x: float) -> float:
    raise TwoArgumentError(7, "custom")


def fail_first_then_sleep(x: float, pipeline_id: str) -> float:
    if pipeline_id == "1":
        time.sleep(0.3)
        raise ValueError("boom")
    time.sleep(60)
    return x


def sleep_noting_what_interrupts_it(note: str) -> float:
    try:
        time.sleep(300)
    except BaseException as interruption:
        Path(note).write_text(repr(interruption))
        raise
    return 0.0


def two_seconds_for_the_first(x: float, pipeline_id: str) -> float:
    time.sleep(2.0 if pipeline_id == "1" else 1.0)
    return x


def a_pool_of_its_own(x: float) -> float:
    """What a DataLoader(num_workers=2) does: processes started by the evaluation."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return sum(pool.map(abs, [x, -x]))


class SlowObserver:
    """An observer doing slow I/O (uploading a checkpoint) when trial 2 finishes."""

    @neps.hookimpl
    def neps_trial_finished(self, run: object, trial: neps.Trial, report: object) -> None:
        if trial.id == "2":
            time.sleep(3.0)


WORKER = textwrap.dedent(
    """
    import os, sys, time
    import neps_core as neps

    def evaluate_pipeline(x, n, pipeline_directory):
        time.sleep(0.02)
        (pipeline_directory / "pid").write_text(str(os.getpid()))
        return {"objective_to_minimize": x * n, "cost": float(n)}

    if __name__ == "__main__":
        evaluator = "sync" if sys.argv[3] == "sync" else {
            "name": "process_pool", "n_workers": int(sys.argv[3])}
        neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 4)},
            root_directory=sys.argv[1],
            evaluations_to_spend=int(sys.argv[2]),
            optimizer=("grid_search", {"size": 5}),
            evaluator=evaluator,
        )
    """
)


def _results(root: Path) -> dict[tuple, tuple]:
    found = {}
    for folder in (root / "configs").iterdir():
        config = yaml.safe_load((folder / "config.yaml").read_text())
        report = yaml.safe_load((folder / "report.yaml").read_text())
        found[tuple(sorted(config.items()))] = (report["objective_to_minimize"], report["cost"])
    return found


@pytest.mark.slow
def test_results_equal_those_of_separately_launched_scripts(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    pooled, separate = tmp_path / "pooled", tmp_path / "separate"
    completed = subprocess.run(
        [sys.executable, str(script), str(pooled), "14", "4"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    workers = [  # two scripts sharing the root, as a cluster's separate jobs would
        subprocess.Popen([sys.executable, str(script), str(separate), "14", "sync"])
        for _ in range(2)
    ]
    assert all(worker.wait(timeout=300) == 0 for worker in workers)

    assert len(_results(pooled)) == 14
    assert _results(pooled) == _results(separate)
    assert neps.status(pooled).budget.used_evaluations == 14
    pids = {(folder / "pid").read_text() for folder in (pooled / "configs").iterdir()}
    assert len(pids) > 1  # the pool really spread the trials over its processes
    assert str(os.getpid()) not in pids


def test_a_run_uses_n_processes_none_of_them_the_caller(root: Path) -> None:
    summary = neps.run(
        whoami,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=6,
        evaluator={"name": "process_pool", "n_workers": 2, "start_method": "forkserver"},
    )
    assert summary.counts["success"] == 6
    reports = [yaml.safe_load(p.read_text()) for p in root.glob("configs/*/report.yaml")]
    pids = {report["extra"]["pid"] for report in reports}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_a_process_that_dies_fails_its_trial_and_is_replaced(tmp_path: Path) -> None:
    evaluator = ProcessPoolEvaluator(ProcessPoolSettings(n_workers=1, kill_grace=1.0))
    try:
        evaluator.submit(make_job("1", die_hard, {"x": 1.0}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 120)["1"]
        assert isinstance(outcome.error, PoolWorkerDiedError)
        assert "was killed by signal 9 (SIGKILL)" in str(outcome.error)
        assert "unguarded" not in str(outcome.error)  # it died evaluating, not importing
        evaluator.submit(make_job("2", whoami, {"x": 2.0}, tmp_path / "2"))
        assert collect(evaluator, 1, 120)["2"].result["objective_to_minimize"] == 2.0
    finally:
        evaluator.close()


def test_a_result_that_cannot_be_sent_back_is_an_error_naming_it(tmp_path: Path) -> None:
    evaluator = ProcessPoolEvaluator()
    try:
        evaluator.submit(make_job("1", unpicklable_result, {"x": 1.0}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 120)["1"]
        assert "cannot be sent back" in str(outcome.error) and "lock" in str(outcome.error)
    finally:
        evaluator.close()


def test_a_dict_result_keeps_its_objective_and_sends_what_cannot_travel_as_text(
    tmp_path: Path,
) -> None:
    """As sync stores it: the objective was lost for a lock among the extra values."""
    evaluator = ProcessPoolEvaluator()
    try:
        job = make_job("1", result_with_an_unpicklable_extra, {"x": 0.25}, tmp_path / "1")
        evaluator.submit(job)
        outcome = collect(evaluator, 1, 120)["1"]
        assert outcome.error is None
        assert outcome.result["objective_to_minimize"] == 0.25
        assert "lock" in outcome.result["handle"]
    finally:
        evaluator.close()


def test_an_argument_that_cannot_be_sent_is_named(tmp_path: Path) -> None:
    evaluator = ProcessPoolEvaluator()
    data = (i for i in range(3))  # an operation that built a generator, say
    try:
        evaluator.submit(make_job("1", whoami, {"x": 1.0, "data": data}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 60)["1"]
        assert isinstance(outcome.error, TypeError)
        assert "the argument 'data' of trial 1 cannot be sent" in str(outcome.error)
    finally:
        evaluator.close()


def test_without_cloudpickle_the_part_that_cannot_be_sent_is_named_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bare install (cloudpickle comes with the dask extra) said "use module-level code, or
    # install cloudpickle" of a module-level object holding a lock, which neither fixes.
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # ``import cloudpickle`` fails
    evaluator = ProcessPoolEvaluator()
    try:
        evaluator.submit(make_job("1", whoami, {"x": 1.0, "model": Locked()}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 60)["1"]
        assert isinstance(outcome.error, TypeError)
        assert "the argument 'model' of trial 1 cannot be sent" in str(outcome.error)
        assert "_thread.lock" in str(outcome.error)
    finally:
        evaluator.close()


def test_an_evaluate_pipeline_that_cannot_be_sent_is_named(tmp_path: Path) -> None:
    # Every trial failed with a bare "cannot pickle '_thread.lock' object".
    evaluator = ProcessPoolEvaluator()
    try:
        evaluator.submit(make_job("1", Locked(), {"x": 1.0}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 60)["1"]
    finally:
        evaluator.close()
    assert isinstance(outcome.error, TypeError)
    assert str(outcome.error).startswith("evaluate_pipeline of trial 1 cannot be sent to a pool")
    assert "_thread.lock" in str(outcome.error)


def test_an_exception_that_cannot_be_rebuilt_fails_its_trial_only(tmp_path: Path) -> None:
    # Unpickling it in the parent raised a TypeError that ended the run, trials left evaluating.
    summary = neps.run(
        raise_two_argument_error,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path / "run",
        evaluations_to_spend=3,
        ignore_errors=True,
        evaluator={"name": "process_pool", "n_workers": 2},
    )
    assert summary.counts["failed"] == 3 and summary.counts["evaluating"] == 0
    report = yaml.safe_load((tmp_path / "run" / "configs" / "config_1" / "report.yaml").read_text())
    assert "TwoArgumentError" in report["error"] and "code=7: custom" in report["error"]


def test_an_exception_whose_init_takes_other_arguments_arrives_as_itself(tmp_path: Path) -> None:
    # It arrived as a RemoteEvaluationError ("cannot be sent back"); sync and dask raise it.
    with pytest.raises(TwoArgumentError, match="code=7: custom"):
        neps.run(
            raise_two_argument_error,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path / "run",
            evaluations_to_spend=1,
            evaluator={"name": "process_pool", "n_workers": 1},
        )
    report = yaml.safe_load((tmp_path / "run" / "configs" / "config_1" / "report.yaml").read_text())
    assert report["error"] == "TwoArgumentError: code=7: custom"


def test_a_run_stopped_by_an_error_gives_back_the_other_running_trials(tmp_path: Path) -> None:
    # They stayed EVALUATING, counted against the budget, until stale_after ran out.
    root = tmp_path / "run"
    with pytest.raises(ValueError, match="boom"):
        neps.run(
            fail_first_then_sleep,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=4,
            evaluator={"name": "process_pool", "n_workers": 2},
        )
    counts = neps.status(root).counts
    assert (counts["failed"], counts["pending"], counts["evaluating"]) == (1, 1, 0)


GUARDED = textwrap.dedent(
    """
    import sys
    import neps_core as neps

    def at_module_level(x):
        return x

    def lambda_free_width(block):
        return float(block.width)

    if __name__ == "__main__":
        def under_the_guard(x):  # a spawned pool process re-runs the script without this
            return x

        class CallableUnderTheGuard:
            def __call__(self, x):
                return x

        for index, function in enumerate(
            [at_module_level, under_the_guard, CallableUnderTheGuard()]
        ):
            summary = neps.run(
                function,
                {"x": neps.Float(0.0, 1.0)},
                optimizer="random_search",  # quick to load: the evaluator is what matters here
                root_directory=f"{sys.argv[1]}/run_{index}",
                evaluations_to_spend=2,
                evaluator={"name": "process_pool", "n_workers": 1},
            )
            print(summary.counts["success"])

        class BlockUnderTheGuard:  # an operation of the space: its objects are the arguments
            def __init__(self, width):
                self.width = width

        class Space(neps.PipelineSpace):
            block = neps.Operation(BlockUnderTheGuard, kwargs={"width": neps.Integer(2, 8)})

        summary = neps.run(
            lambda_free_width,
            Space(),
            optimizer="random_search",  # quick to load: the evaluator is what matters here
            root_directory=f"{sys.argv[1]}/run_operation",
            evaluations_to_spend=2,
            evaluator={"name": "process_pool", "n_workers": 1},
        )
        print(summary.counts["success"])
    """
)


def _script_output(tmp_path: Path, text: str, root: Path) -> list[str]:
    """The words a script printed, run as ``python script.py <root>``; it must succeed."""
    script = tmp_path / "script.py"
    script.write_text(text)
    done = subprocess.run(
        [sys.executable, str(script), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_functions_defined_under_the_main_guard_reach_the_pool(tmp_path: Path) -> None:
    # "Can't get attribute 'under_the_guard' on <module '__mp_main__'>" failed every trial,
    # and so did an operation whose class is defined under the guard.
    assert _script_output(tmp_path, GUARDED, tmp_path) == ["2", "2", "2", "2"]


FROM_STDIN = textwrap.dedent(
    """
    import sys
    import neps_core as neps

    def evaluate_pipeline(x):
        return x

    if __name__ == "__main__":
        summary = neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            optimizer="random_search",  # quick to load: the evaluator is what matters here
            root_directory=sys.argv[1],
            evaluations_to_spend=3,
            ignore_errors=True,
            evaluator={"name": "process_pool", "n_workers": 2, "start_method": sys.argv[2]},
        )
        print(summary.counts["success"], [t.report.error for t in summary.trials])
    """
)


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_a_script_read_from_stdin_runs_its_trials(tmp_path: Path, start_method: str) -> None:
    # ``python - < script.py``: every pool process re-ran "<cwd>/<stdin>", died of a
    # FileNotFoundError, and each trial failed with a hint to guard the (guarded) script.
    script = tmp_path / "script.py"
    script.write_text(FROM_STDIN)
    with script.open() as stdin:
        done = subprocess.run(
            [sys.executable, "-", str(tmp_path / "root"), start_method],
            stdin=stdin,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "[None,", "None,", "None]"], done.stderr


def test_the_stdin_script_stays_hidden_while_any_thread_starts_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Runs in two threads of one stdin script: the first to finish put ``__file__`` back while
    # the other's processes were starting, or the second ``del`` raised AttributeError.
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "__file__", "<stdin>", raising=False)
    monkeypatch.setattr(main, "__spec__", None)  # not ``python -m pytest``'s
    first_inside, first_done = threading.Event(), threading.Event()
    seen_by_second: list[bool] = []

    def first() -> None:
        with unimportable_script_hidden():
            first_inside.set()
            first_done.wait(10)

    def second() -> None:
        first_inside.wait(10)
        with unimportable_script_hidden():
            first_done.set()
            one.join(10)  # the first has left: the script must still be hidden
            seen_by_second.append(hasattr(main, "__file__"))

    one, two = threading.Thread(target=first), threading.Thread(target=second)
    one.start()
    two.start()
    two.join(30)
    assert seen_by_second == [False]
    assert main.__file__ == "<stdin>"  # put back once both are done


MODULE_LEVEL = textwrap.dedent(
    """
    import sys
    import threading
    import neps_core as neps

    LOCK = threading.Lock()  # what a module-level function uses is never pickled


    class DivergedError(Exception):
        pass


    def evaluate_pipeline(x):
        with LOCK:
            if x > 0.5:
                raise DivergedError(f"diverged at {x}")
            return x


    if __name__ == "__main__":
        summary = neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            optimizer="random_search",  # quick to load: the evaluator is what matters here
            root_directory=sys.argv[1],
            evaluations_to_spend=6,
            ignore_errors=True,
            evaluator={"name": "process_pool", "n_workers": 1},
        )
        errors = {t.report.error.split(":")[0] for t in summary.trials if t.report.error}
        print(summary.counts["success"] + summary.counts["failed"], sorted(errors))
        try:
            neps.run(evaluate_pipeline, root_directory=sys.argv[1], evaluations_to_spend=20)
        except DivergedError:
            print("caught")
    """
)


def test_a_module_level_function_goes_by_name_even_with_cloudpickle(tmp_path: Path) -> None:
    # With cloudpickle installed it went by value: "cannot pickle '_thread.lock' object", and
    # a raised DivergedError came back as another class, which `except` did not catch.
    pytest.importorskip("cloudpickle")  # the [ci] extras install it: the case at stake
    assert _script_output(tmp_path, MODULE_LEVEL, tmp_path / "run") in (
        ["6", "[]", "caught"],
        ["6", "['DivergedError']", "caught"],
    )


GUARD_GLOBAL = textwrap.dedent(
    """
    import argparse
    import neps_core as neps


    def evaluate_pipeline(x):
        return x * args.scale  # `args` is set under the guard, as argparse scripts do


    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("root")
        parser.add_argument("--scale", type=float, default=2.0)
        args = parser.parse_args()
        summary = neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            optimizer="random_search",  # quick to load: the evaluator is what matters here
            root_directory=args.root,
            evaluations_to_spend=2,
            evaluator={"name": "process_pool", "n_workers": 1},
        )
        print(summary.counts["success"])
    """
)


def test_a_module_level_function_using_a_global_the_guard_sets_goes_by_value(
    tmp_path: Path,
) -> None:
    # Sent by name, the pool process imported the script without `args`: NameError.
    pytest.importorskip("cloudpickle")
    assert _script_output(tmp_path, GUARD_GLOBAL, tmp_path / "run") == ["2"]


RUN_TIME_GLOBALS = textwrap.dedent(
    """
    import argparse
    import threading
    import neps_core as neps

    LOCK = threading.Lock()  # must not travel: unpicklable


    def scale_of():
        return args.scale


    def through_a_helper(x):
        return x * scale_of()


    @neps.profile(memory=False)
    def decorated(x):
        return x * args.scale


    def locked(x, pipeline_directory):  # `.name` is an attribute, not the guard's `name`
        with LOCK:
            return x + 0 * len(pipeline_directory.name)


    def main():
        global args
        parser = argparse.ArgumentParser()
        parser.add_argument("root")
        parser.add_argument("--scale", type=float, default=2.0)
        args = parser.parse_args()


    if __name__ == "__main__":
        main()
        for name in ("through_a_helper", "decorated", "locked"):
            summary = neps.run(
                globals()[name],
                {"x": neps.Float(0.0, 1.0)},
                optimizer="random_search",  # quick to load: the evaluator is what matters here
                root_directory=f"{args.root}/{name}",
                evaluations_to_spend=1,
                evaluator={"name": "process_pool", "n_workers": 1},
            )
            print(name, summary.counts["success"])
    """
)


def test_globals_set_at_run_time_are_found_through_helpers_decorators_and_main(
    tmp_path: Path,
) -> None:
    # A helper reading `args`, a decorated function, `global args` in main(): each went by
    # name and failed with a NameError; an attribute `.name` sent a function using a lock
    # by value, which failed to pickle the lock.
    pytest.importorskip("cloudpickle")
    printed = _script_output(tmp_path, RUN_TIME_GLOBALS, tmp_path)
    assert " ".join(printed) == "through_a_helper 1 decorated 1 locked 1"


def test_the_timeout_counts_from_the_evaluation_not_the_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh pool process and a slow import (torch at module level) used up a tight timeout
    # before the evaluation began: the first trial failed, later ones in that process passed.
    (tmp_path / "slow_to_import.py").write_text(
        "import time\ntime.sleep(2.0)\n\ndef objective(x):\n    time.sleep(0.2)\n    return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned processes get the same sys.path
    import slow_to_import  # type: ignore[import-not-found]

    evaluator = ProcessPoolEvaluator(ProcessPoolSettings(timeout=1.5, kill_grace=1.0))
    try:
        evaluator.submit(make_job("1", slow_to_import.objective, {"x": 1.0}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 120)["1"]
        assert outcome.error is None, outcome.error
        assert outcome.result == 1.0
        assert outcome.duration < 1.5  # the evaluation's own time
    finally:
        evaluator.close()


def test_a_timeout_kills_what_the_evaluation_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    evaluator = ProcessPoolEvaluator(ProcessPoolSettings(timeout=3.0, kill_grace=1.0))
    try:
        evaluator.submit(
            make_job("1", start_grandchild, {"pid_file": str(pid_file)}, tmp_path / "1")
        )
        outcome = collect(evaluator, 1, 120)["1"]
        assert isinstance(outcome.error, TimeoutError)
    finally:
        evaluator.close()
    if pid_file.exists():  # it had started its grandchild before the timeout
        status = Path(f"/proc/{pid_file.read_text()}/status")
        assert not status.exists() or "State:\tZ" in status.read_text()


def test_a_forked_pool_process_dies_of_the_timeouts_sigterm(tmp_path: Path) -> None:
    # Forked, it kept the worker's SIGTERM handler: the evaluation got WorkerStopped(143),
    # the process served on, and only the SIGKILL after kill_grace ended it.
    note = tmp_path / "interrupted_by"
    settings = ProcessPoolSettings(timeout=1.0, kill_grace=60.0, start_method="fork")
    with signals_stop_the_worker():  # as during run()
        evaluator = ProcessPoolEvaluator(settings)
        try:
            evaluator.submit(
                make_job("1", sleep_noting_what_interrupts_it, {"note": str(note)}, tmp_path)
            )
            outcome = collect(evaluator, 1, 120)["1"]
            assert isinstance(outcome.error, TimeoutError)
            stopping = time.monotonic()
        finally:
            evaluator.close()
    assert time.monotonic() - stopping < 30  # it did not wait for the SIGKILL
    assert not note.exists(), note.read_text()


def test_a_function_the_pool_cannot_import_fails_its_trial_only(tmp_path: Path) -> None:
    module = types.ModuleType("exists_only_in_the_parent")
    exec("def objective(x):\n    return x\n", module.__dict__)
    sys.modules[module.__name__] = module
    evaluator = ProcessPoolEvaluator()
    try:
        evaluator.submit(make_job("1", module.objective, {"x": 1.0}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 120)["1"]
        assert isinstance(outcome.error, ModuleNotFoundError)
        evaluator.submit(make_job("2", whoami, {"x": 2.0}, tmp_path / "2"))
        assert collect(evaluator, 1, 120)["2"].error is None  # the same process goes on
    finally:
        evaluator.close()
        del sys.modules[module.__name__]


def test_closures_travel_with_cloudpickle(tmp_path: Path) -> None:
    offset = 10.0
    evaluator = ProcessPoolEvaluator()
    try:
        evaluator.submit(make_job("1", lambda x: x + offset, {"x": 1.0}, tmp_path / "1"))
        assert collect(evaluator, 1, 120)["1"].result == 11.0
    finally:
        evaluator.close()


def test_options_are_validated(root: Path) -> None:
    with pytest.raises(neps.SettingsError, match="start_method"):
        neps.run(
            whoami,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluator={"name": "process_pool", "start_method": "teleport"},
        )


def test_a_result_sent_in_time_survives_a_slow_observer(root: Path) -> None:
    # Trial 1 returned after 2 s of its 3; the parent, in trial 2's observer until past the
    # deadline, declared trial 1 timed out before reading its result and killed its process.
    summary = neps.run(
        two_seconds_for_the_first,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=2,
        evaluator={"name": "process_pool", "n_workers": 2, "timeout": 3.0},
        plugins=[SlowObserver()],
    )
    assert summary.counts["success"] == 2, neps.status(root).trials


@pytest.mark.parametrize("function", [sleep_then_return, sleep_then_raise])
def test_a_reply_sent_after_the_timeout_times_out_though_read_late(
    tmp_path: Path, function: types.FunctionType
) -> None:
    """Judged by when it was sent: the same outcome as for a parent that looked in time, be
    it a result or an exception (which the timeout names), as with every evaluator."""
    evaluator = ProcessPoolEvaluator(ProcessPoolSettings(timeout=1.0, kill_grace=1.0))
    try:
        job = make_job("1", function, {"x": 1.0, "seconds": 1.5}, tmp_path / "1")
        evaluator.submit(job)
        time.sleep(5.0)  # busy elsewhere; the reply is in the pipe
        outcome = collect(evaluator, 1, 120)["1"]
        assert isinstance(outcome.error, neps.EvaluationTimeoutError), outcome
        assert "of its 1 s timeout" in str(outcome.error)
        raised = function is sleep_then_raise
        assert ("raising ValueError: too late to matter" in str(outcome.error)) is raised
    finally:
        evaluator.close()


def test_an_evaluation_may_start_processes_of_its_own(tmp_path: Path) -> None:
    # Pool processes were daemonic: "daemonic processes are not allowed to have children".
    evaluator = ProcessPoolEvaluator()
    try:
        evaluator.submit(make_job("1", a_pool_of_its_own, {"x": 2.0}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 120)["1"]
        assert outcome.error is None, outcome.traceback
        assert outcome.result == 4.0
    finally:
        evaluator.close()


UNCLOSED = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from neps_core.evaluation import orphan_guardian
    if sys.argv[2] == "guardian first":  # its exit handler then runs after multiprocessing's
        orphan_guardian.prepare()
    from neps_core.testing.evaluator_contract import collect, make_job
    from neps_core_plugins.process_pool_evaluator import ProcessPoolEvaluator, ProcessPoolSettings

    def nap(x):
        time.sleep(x)
        return x

    if __name__ == "__main__":
        evaluator = ProcessPoolEvaluator(ProcessPoolSettings(n_workers=2))
        evaluator.submit(make_job("1", nap, {"x": 0.1}, Path(sys.argv[1]) / "1"))
        evaluator.submit(make_job("2", nap, {"x": 300.0}, Path(sys.argv[1]) / "2"))
        collect(evaluator, 1, 60)  # one process idle, one busy: neither may hold up the exit
    """
)


@pytest.mark.parametrize("order", ["pool first", "guardian first"])
def test_a_script_that_never_closes_the_pool_still_exits(tmp_path: Path, order: str) -> None:
    """multiprocessing joins non-daemonic processes at exit: the pool must be closed first
    (with the orphan guardian started before multiprocessing's handler, the exit hung)."""
    script = tmp_path / "unclosed.py"
    script.write_text(UNCLOSED, encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), order],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30


UNGUARDED = unguarded_script(
    '{"name": "process_pool", "n_workers": 2, "start_method": sys.argv[2]}'
)


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_an_unguarded_script_is_told_to_guard_its_run(tmp_path: Path, start_method: str) -> None:
    # Each pool process re-ran the script's run() while importing it: with cost_to_spend that
    # nested run waited for trial 1's cost while the parent waited for it (a silent hang);
    # with evaluations_to_spend it ran a whole second run.
    script = tmp_path / "script.py"
    script.write_text(UNGUARDED)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "root"), start_method],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0 and "DONE" not in done.stdout
    assert "the script calls neps_core.run() at module level" in done.stderr
    assert "PoolWorkerDiedError" in done.stderr and "re-ran an unguarded script" in done.stderr


SIGTERMED = textwrap.dedent(
    """
    import os, signal, sys, time
    import neps_core as neps

    def evaluate_pipeline(x):
        if os.environ.get("STUBBORN"):  # close() waits kill_grace for it
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("PID", os.getpid(), flush=True)
        time.sleep(600)
        return x

    def own(signum, frame):
        print("OWN HANDLER", signum, flush=True)
        sys.exit(99)

    if __name__ == "__main__":
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
        if os.environ.get("OWN_HANDLER"):
            signal.signal(signal.SIGTERM, own)
        before = signal.getsignal(signal.SIGTERM)
        try:
            neps.run(
                evaluate_pipeline,
                {"x": neps.Float(0.0, 1.0)},
                optimizer="random_search",  # quick to load: the evaluator is what matters here
                root_directory=sys.argv[1],
                evaluations_to_spend=4,
                evaluator={"name": "process_pool", "n_workers": 2, "kill_grace": 10.0},
            )
        finally:
            print("RESTORED", signal.getsignal(signal.SIGTERM) is before, flush=True)
    """
)


def test_a_sigtermed_worker_leaves_no_pool_process(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SIGTERMED)
    worker = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "root")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert worker.stdout is not None
    pids = [int(next(worker.stdout).split()[1]) for _ in range(2)]  # both are evaluating
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=300) == 128 + signal.SIGTERM
    for pid in pids:
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "State:\tZ" in status.read_text(), pid


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "handler", "status"),
    [
        (signal.SIGTERM, "", 128 + signal.SIGTERM),
        (signal.SIGINT, "", -signal.SIGINT),  # Python's exit on a KeyboardInterrupt
        (signal.SIGTERM, "own", 99),
    ],
)
def test_a_second_stop_while_the_pool_closes_waits_for_it(
    tmp_path: Path, signum: int, handler: str, status: int
) -> None:
    # The second SIGTERM ended the worker at once (the default action: no word, the pool
    # processes left to the orphan guardian); a second Ctrl-C raised into close() (a second
    # traceback). Now it is said once, and the run ends as after the first.
    script, root = tmp_path / "script.py", tmp_path / "root"
    script.write_text(SIGTERMED)
    worker = subprocess.Popen(
        [sys.executable, str(script), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "STUBBORN": "1", "OWN_HANDLER": handler},
    )
    assert worker.stdout is not None and worker.stderr is not None
    pids = [int(next(worker.stdout).split()[1]) for _ in range(2)]  # both are evaluating
    worker.send_signal(signum)
    given_back = 0
    while given_back < 2:  # the run stops: both trials given back, then the pool is closed
        given_back += "Giving back trial" in next(worker.stderr)
    time.sleep(0.5)
    worker.send_signal(signum)
    stdout, stderr = worker.communicate(timeout=300)
    assert worker.returncode == status
    name = signal.Signals(signum).name
    assert stderr.count(f"{name} while the run stops") == 1, stderr
    assert stderr.count("Traceback") == (1 if signum == signal.SIGINT else 0), stderr
    assert "RESTORED True" in stdout
    assert stdout.count("OWN HANDLER") == (2 if handler == "own" else 0)  # also run deferred
    assert not [pid for pid in pids if running(pid)]
    assert [t.state for t in neps.status(root).trials] == [neps.TrialState.PENDING] * 2


def test_an_evaluation_sees_the_workers_default_start_method(root: Path) -> None:
    # It saw the pool's spawn: a DataLoader's workers were fresh interpreters importing torch
    # and the script again (an epoch 17.9 s instead of 0.23 s under sync).
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(
        default_start_method,
        space,
        root_directory=root,
        evaluations_to_spend=1,
        evaluator="process_pool",
    )
    (trial,) = neps.status(root).trials
    assert trial.report.extra["start_method"] == multiprocessing.get_context().get_start_method()


def test_closing_under_a_waiting_thread_tells_it_so_and_twice_at_once_is_harmless(
    tmp_path: Path,
) -> None:
    # run() in a thread, Ctrl-C: the exit's close() ran while the worker thread waited, which
    # then raised ValueError('list.remove(x): x not in list') (or, closed before it waited,
    # found nothing busy and waited for its trial forever).
    evaluator = ProcessPoolEvaluator(ProcessPoolSettings(kill_grace=1.0))
    marker = tmp_path / "evaluating"
    evaluator.submit(make_job("1", mark_then_sleep, {"marker": str(marker)}, tmp_path / "1"))
    while not marker.exists() or not marker.read_text():  # the pool process evaluates
        assert evaluator.wait(timeout=0.1) == []
    heard: list[object] = []

    def wait() -> None:
        try:
            heard.append(evaluator.wait(timeout=120))
        except Exception as error:
            heard.append(error)

    waiting = threading.Thread(target=wait)
    closing = threading.Thread(target=evaluator.close)
    waiting.start()
    closing.start()
    evaluator.close()
    closing.join()
    waiting.join()
    evaluator.close()
    [told] = heard
    assert isinstance(told, PoolClosedError), told
    assert "closed while trial(s) 1 were evaluating" in str(told)
    assert not running(int(marker.read_text()))  # killed and reaped


GUARD_GLOBAL_SCRIPT = """
import sys

sys.modules["cloudpickle"] = None  # a bare install: ``import cloudpickle`` fails

import neps_core as neps

SCALE = 1.0  # a placeholder: the main guard sets the real value


def evaluate_pipeline(x):
    return SCALE * x


if __name__ == "__main__":
    SCALE = 2.0
    try:
        neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            optimizer="random_search",  # quick to load: the evaluator is what matters here
            root_directory=sys.argv[1],
            evaluations_to_spend=1,
            evaluator="process_pool",
        )
    except TypeError as error:
        print("REFUSED", error)
    else:
        trial = neps.status(sys.argv[1]).best_trial
        print("RATIO", trial.objective / trial.config["x"])
"""


def test_without_cloudpickle_a_global_only_the_guard_sets_is_refused(tmp_path: Path) -> None:
    # A bare install sent the function by name: the pool saw SCALE's placeholder (1.0, not
    # the 2.0 the guard set) and the run reported wrong objectives without any error.
    script = tmp_path / "train.py"
    script.write_text(GUARD_GLOBAL_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    assert "REFUSED" in done.stdout, done.stdout + done.stderr
    assert "install cloudpickle" in done.stdout and "evaluate_pipeline" in done.stdout
