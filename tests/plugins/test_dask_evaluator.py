"""The ``dask`` evaluator against a real ``LocalCluster`` with two worker processes."""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import dask.config
import distributed
import pytest
import yaml
from late_evaluations import sleep_then_raise, sleep_then_return
from tblib import pickling_support
from unpicklable import Locked
from worker_processes import raise_a_class_of_the_script

import neps_core as neps
from neps_core.errors import EvaluationTimeoutError
from neps_core.testing import BackgroundEvaluatorContract
from neps_core.testing.evaluator_contract import collect, make_job
from neps_core_plugins.dask_evaluator import DaskEvaluator, DaskSettings, evaluate_remotely
from neps_core_plugins.dask_evaluator.evaluator import NON_DAEMONIC_WORKERS
from neps_core_plugins.dask_evaluator.watch import WorkerWatch

DASK_DEFAULT_DASHBOARD_PORT = 8787


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[distributed.LocalCluster]:
    """One LocalCluster of 2 worker processes (with nannies) for the whole module."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def cluster_address(local_cluster: distributed.LocalCluster) -> str:
    return str(local_cluster.scheduler_address)


@pytest.mark.slow
class TestDaskContract(BackgroundEvaluatorContract):
    evaluator_class = DaskEvaluator
    patience: ClassVar[float] = 180.0

    @pytest.fixture(autouse=True)
    def _use_the_cluster(self, cluster_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(self, "evaluator_options", {"address": cluster_address})


def pid_of_worker(x: float) -> dict[str, Any]:
    return {"objective_to_minimize": x, "extra": {"pid": os.getpid()}}


@pytest.mark.slow
def test_a_run_spreads_its_trials_over_the_cluster(cluster_address: str, root: Path) -> None:
    summary = neps.run(
        pid_of_worker,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=8,
        evaluator={"name": "dask", "address": cluster_address},
    )
    assert summary.counts["success"] == 8
    reports = [yaml.safe_load(p.read_text()) for p in root.glob("configs/*/report.yaml")]
    assert os.getpid() not in {report["extra"]["pid"] for report in reports}
    metadata = [yaml.safe_load(p.read_text()) for p in root.glob("configs/*/metadata.yaml")]
    workers = {record["metadata"]["dask_worker"] for record in metadata}
    assert workers and all(worker.startswith("tcp://") for worker in workers)


@pytest.mark.parametrize("given", ["client", "cluster"])
def test_the_address_may_be_a_client_or_a_cluster(
    local_cluster: distributed.LocalCluster, root: Path, given: str
) -> None:
    # It reached dask as str(client): ValueError unknown address scheme "<Client: 'tcp".
    with distributed.Client(local_cluster) as client:
        address = client if given == "client" else local_cluster
        summary = neps.run(
            pid_of_worker,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=1,
            evaluator={"name": "dask", "address": address, "n_workers": 1},
        )
    assert summary.counts["success"] == 1
    with pytest.raises(neps.SettingsError, match=r"address must be a scheduler address .* got int"):
        neps.run(
            pid_of_worker,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root / "refused",
            evaluations_to_spend=1,
            evaluator={"name": "dask", "address": 8786},
        )


def test_a_run_leaves_no_client_connected(cluster_address: str, root: Path) -> None:
    # Checking an overwriting run's settings connected a client to count the cluster's
    # threads, never closed: closing the cluster later logged ConnectionRefusedError.
    from distributed.client import _global_clients

    for overwrite in (False, True):
        neps.run(
            lambda x: x,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=2,
            evaluator={"name": "dask", "address": cluster_address},
            overwrite_root_directory=overwrite,
        )
        gc.collect()
        assert [c.status for c in _global_clients.values() if c.status == "running"] == []


def test_the_capacity_of_an_address_without_n_workers_is_the_clusters_thread_count(
    cluster_address: str,
) -> None:
    evaluator = DaskEvaluator(DaskEvaluator.Settings(address=cluster_address))
    try:
        evaluator.client.wait_for_workers(2, timeout=120)
        assert evaluator.capacity == 2
    finally:
        evaluator.close()


SCRIPT = """
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
        evaluations_to_spend=2,
        evaluator={"name": "dask", "n_workers": 1},
    )
    print("success", summary.counts["success"])
"""


@pytest.mark.slow
def test_without_an_address_a_local_cluster_is_started_and_shut_down(
    tmp_path: Path, root: Path
) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    with socket.socket() as blocker:  # dask's default dashboard port, taken as by another run
        with contextlib.suppress(OSError):  # already taken: just as good
            blocker.bind(("", DASK_DEFAULT_DASHBOARD_PORT))
            blocker.listen()
        completed = subprocess.run(
            [sys.executable, str(script), str(root)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    assert completed.returncode == 0, completed.stderr
    assert "success 2" in completed.stdout
    assert "already in use" not in completed.stderr  # the cluster took a free port instead


def test_a_script_read_from_stdin_is_refused_naming_why(tmp_path: Path, root: Path) -> None:
    # ``python - < script.py``: the spawned workers ran "<cwd>/<stdin>" again and the run
    # stopped with a bare "RuntimeError: Nanny failed to start."
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    with script.open() as stdin:
        completed = subprocess.run(
            [sys.executable, "-", str(root)],
            stdin=stdin,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    assert completed.returncode != 0
    assert "'<stdin>' is no file" in completed.stderr, completed.stderr
    assert "save the script to a .py file" in completed.stderr
    assert "Nanny failed" not in completed.stderr  # refused before a cluster started
    assert not list(root.glob("configs/*/report.yaml"))  # no trial was spent


def test_importing_neps_core_does_not_import_dask() -> None:
    code = (
        "import sys, neps_core; from neps_core.plugin_manager import load_plugins; "
        "assert 'dask' in load_plugins().evaluators; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def preloading_this_module() -> contextlib.AbstractContextManager[Any]:
    """Dask workers started meanwhile, and restarted by their nannies, import this module
    (and so neps_core) as they start. Else a worker imports them as it takes its first task,
    silent meanwhile, and a silent worker counts as running that task: on a loaded machine
    the import alone outlasted a 5 s timeout, and every trial timed out."""
    return dask.config.set({"distributed.worker.preload": [__name__]})


@pytest.fixture
def distributed_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """``caplog`` that also sees dask's own loggers (they do not propagate to the root)."""
    dask_logger = logging.getLogger("distributed")
    dask_logger.addHandler(caplog.handler)
    yield caplog
    dask_logger.removeHandler(caplog.handler)


def dask_worker_of(root: Path, trial_id: int) -> str:
    path = root / "configs" / f"config_{trial_id}" / "metadata.yaml"
    return str(yaml.safe_load(path.read_text())["metadata"]["dask_worker"])


def end_the_worker_process(x: float) -> float:
    os._exit(1)


@pytest.mark.slow
def test_a_trial_that_ended_its_worker_names_that_worker(root: Path) -> None:
    # dask's KilledWorker failed the trial with empty metadata: no timeout, so no clock of
    # ours had noted where it ran.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # one death ends it
        summary = neps.run(
            end_the_worker_process,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=1,
            ignore_errors=True,
            evaluator={"name": "dask", "n_workers": 1},
        )
    assert summary.counts["failed"] == 1, summary.counts
    report = yaml.safe_load((root / "configs" / "config_1" / "report.yaml").read_text())
    assert report["error"].startswith("KilledWorker")
    worker = dask_worker_of(root, 1)
    assert worker.startswith("tcp://") and worker in report["error"]


def hold_the_gil_for_a_minute(x: float) -> float:
    import ctypes

    ctypes.PyDLL(None).sleep(60)  # a C call under PyDLL keeps the GIL: the worker falls silent
    return x


def hold_the_gil_first_then_start_a_pool(x: float, pipeline_id: str) -> float:
    """Trial 1 holds the GIL for a minute; the others start processes (as a
    DataLoader(num_workers=2) does)."""
    if pipeline_id == "1":
        return hold_the_gil_for_a_minute(x)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return sum(pool.map(abs, [x, -x]))


@pytest.mark.slow
def test_the_timeout_counts_from_when_a_worker_takes_the_trial(
    root: Path, distributed_log: pytest.LogCaptureFixture
) -> None:
    """One run on a started cluster of one worker: trial 1 holds the GIL past its timeout,
    trials 2 and 3 start processes on the worker restarted for it."""
    # After the hung trial's worker was restarted, the next trials' timeouts ran while they
    # waited for it, and each "timed out" the fresh worker again: every trial failed.
    with preloading_this_module():
        summary = neps.run(
            hold_the_gil_first_then_start_a_pool,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=3,
            ignore_errors=True,
            evaluator={"name": "dask", "n_workers": 1, "timeout": 5.0},
        )
    # Asking the worker what it ran needed its event loop, which the evaluation stopped:
    # wait() blocked until the evaluation ended by itself, and only then failed the trial.
    first = yaml.safe_load((root / "configs" / "config_1" / "metadata.yaml").read_text())
    assert first["finished_at"] - first["started_at"] < 40  # its evaluation alone takes 60 s
    # The workers were daemonic: "daemonic processes are not allowed to have children".
    assert (summary.counts["failed"], summary.counts["success"]) == (1, 2), summary.counts
    assert dask.config.get("distributed.worker.daemon") is True  # the user's setting is back
    report = yaml.safe_load((root / "configs" / "config_1" / "report.yaml").read_text())
    assert report["error"].startswith("EvaluationTimeoutError: timeout")
    # Its metadata was empty: the worker was left out of the timeout's outcome, the very
    # trial whose worker's logs one reads.
    worker = dask_worker_of(root, 1)
    assert worker.startswith("tcp://") and f"worker(s) ['{worker}'] killed" in report["error"]
    # Ending the worker is the plan, not a fault: the scheduler (in this process) logs no error.
    errors = [r.getMessage() for r in distributed_log.records if r.levelno >= logging.ERROR]
    assert errors == []


def hold_the_gil_for_a_while(x: float) -> float:
    import ctypes

    ctypes.PyDLL(None).sleep(8)
    return x


def quick(x: float) -> float:
    return x


@pytest.mark.slow
def test_a_trial_queued_behind_a_cancelled_one_that_holds_the_gil_runs(tmp_path: Path) -> None:
    # Without kill_on_timeout the cancelled trial kept the worker silent, and the queued one
    # was taken as running since the worker fell silent: it timed out without having run.
    evaluator = DaskEvaluator(
        DaskSettings(n_workers=1, threads_per_worker=1, timeout=2.0, kill_on_timeout=False)
    )
    try:
        evaluator.submit(make_job("1", hold_the_gil_for_a_while, {"x": 0.1}, tmp_path / "1"))
        evaluator.submit(make_job("2", quick, {"x": 0.5}, tmp_path / "2"))
        outcomes = collect(evaluator, 2, 60)
    finally:
        evaluator.close()
    assert isinstance(outcomes["1"].error, EvaluationTimeoutError)  # judged by its own time
    assert outcomes["2"].error is None and outcomes["2"].result == 0.5


@pytest.mark.slow
def test_another_clients_task_holding_the_gil_neither_times_ours_out_nor_is_killed(
    tmp_path: Path,
) -> None:
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    other = distributed.Client(cluster)
    try:
        first_pid = other.submit(worker_pid, pure=False).result()
        theirs = other.submit(hold_the_gil_for_a_while, 0.7, pure=False)
        time.sleep(1.0)  # it runs, and the worker falls silent
        evaluator = DaskEvaluator(DaskSettings(address=cluster.scheduler_address, timeout=3.0))
        try:
            evaluator.submit(make_job("1", quick, {"x": 0.5}, tmp_path / "1"))
            outcome = collect(evaluator, 1, 60)["1"]
        finally:
            evaluator.close()
        assert outcome.error is None and outcome.result == 0.5
        assert theirs.result(timeout=60) == 0.7
        assert other.submit(worker_pid, pure=False).result() == first_pid  # not killed
    finally:
        other.close()
        cluster.close()


def test_the_users_daemon_setting_returns_when_the_last_local_cluster_closes() -> None:
    # Each evaluator restored what it had found: closing the first of two put True back while
    # the second's cluster ran, and closing the second left False for good.
    user_value = dask.config.get("distributed.worker.daemon", default=True)
    NON_DAEMONIC_WORKERS.hold()  # a first evaluator starts its cluster
    NON_DAEMONIC_WORKERS.hold()  # a second one
    NON_DAEMONIC_WORKERS.release()  # the first closes
    assert dask.config.get("distributed.worker.daemon") is False  # the second still runs
    NON_DAEMONIC_WORKERS.release()
    assert dask.config.get("distributed.worker.daemon", default=True) == user_value


def worker_pid() -> int:
    return os.getpid()


@pytest.mark.slow
def test_closing_ends_a_trial_that_holds_the_gil_on_an_external_cluster(tmp_path: Path) -> None:
    # Closing asked the workers what they ran and waited on the silent one until its
    # evaluation ended by itself: a minute here, with the trial still running on the cluster.
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    try:
        first_pid = client.submit(worker_pid, pure=False).result()
        evaluator = DaskEvaluator(DaskSettings(address=cluster.scheduler_address, timeout=300))
        job = make_job("1", hold_the_gil_for_a_minute, {"x": 0.5}, tmp_path / "trial")
        evaluator.submit(job)
        waiting = time.monotonic()
        while time.monotonic() - waiting < 3.0:  # the worker falls silent meanwhile
            assert evaluator.wait(timeout=0.1) == []
        assert time.monotonic() - waiting < 10  # no wait() waited on the silent worker
        closing = time.monotonic()
        evaluator.close()
        assert time.monotonic() - closing < 10
        assert client.submit(worker_pid, pure=False).result(timeout=60) != first_pid
    finally:
        client.close()
        cluster.close()


@pytest.mark.slow
def test_ending_a_worker_hushes_its_own_question_only(
    distributed_log: pytest.LogCaptureFixture,
) -> None:
    # Every later "broadcast to <address> failed" of the scheduler was hidden for the rest of
    # the process once a worker at that address had been ended here, a new worker's too.
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    watch = WorkerWatch(client, threads=2)
    try:
        client.submit(hold_the_gil_for_a_minute, 0.5, pure=False)
        (address,) = client.nthreads()
        while address not in watch.running([address])[1]:  # asked, and silent
            time.sleep(0.1)
        watch.end_worker_processes([address])  # the question waiting on it fails: hushed
        started = time.monotonic()
        while address in client.nthreads() or not client.nthreads():  # a fresh worker
            assert time.monotonic() - started < 60
            time.sleep(0.1)
        later = f"broadcast to {address} failed: a later failure, not ours"
        logging.getLogger("distributed.scheduler").error(later)
    finally:
        watch.close()
        client.close()
        cluster.close()
    failures = {r.getMessage() for r in distributed_log.records if r.levelno >= logging.ERROR}
    assert {m for m in failures if m.startswith(f"broadcast to {address}")} == {later}


def sleep_two_seconds(x: float) -> float:
    import time

    time.sleep(2.0)
    return x


def run_three_on_a_local_cluster(
    function: Any, root: Path, cluster: dict[str, Any], **evaluator: Any
) -> neps.Summary:
    """Three trials of ``function`` (failures ignored) on a fresh one-worker LocalCluster
    whose workers import this module as they start (``preloading_this_module``)."""
    with preloading_this_module():
        local = distributed.LocalCluster(
            n_workers=1, processes=True, dashboard_address=":0", **cluster
        )
    try:
        return neps.run(
            function,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=3,
            ignore_errors=True,
            evaluator={"name": "dask", "address": local.scheduler_address, **evaluator},
        )
    finally:
        local.close()


@pytest.mark.slow
def test_a_trial_queued_behind_a_busy_thread_does_not_use_up_its_timeout(root: Path) -> None:
    """Three trials on one thread, which the scheduler lists as processing at once (as it
    does without queuing; with dask's default it assigns two at a time).

    Each takes 2 s of its 5 s timeout: a clock started while it queued runs out for the third
    (6 s after the first started), while a clock that starts up to 3 s early (a worker slow to
    answer on a loaded machine counts as silent from when it was asked) still holds.
    """
    with dask.config.set({"distributed.scheduler.worker-saturation": float("inf")}):
        summary = run_three_on_a_local_cluster(
            sleep_two_seconds, root, {"threads_per_worker": 1}, n_workers=3, timeout=5.0
        )
    assert summary.counts["success"] == 3, summary.counts


def hang_first_then_take_three_seconds(x: float, pipeline_id: str) -> float:
    import time

    time.sleep(600 if pipeline_id == "1" else 3.0)
    return x


@pytest.mark.slow
def test_a_trial_rerun_after_its_workers_restart_gets_a_fresh_timeout(root: Path) -> None:
    # Trial 3 shares a worker with the hung trial 1 and is running when that worker is ended
    # at trial 1's timeout; dask runs trial 3 again on the fresh worker. Its clock kept the
    # first start, so it timed out mid-way through the second run, which it would finish.
    summary = run_three_on_a_local_cluster(
        hang_first_then_take_three_seconds,
        root,
        {"threads_per_worker": 2},
        n_workers=2,
        timeout=5.0,
    )
    assert (summary.counts["failed"], summary.counts["success"]) == (1, 2), summary.counts
    report = yaml.safe_load((root / "configs" / "config_1" / "report.yaml").read_text())
    assert report["error"].startswith("EvaluationTimeoutError: timeout")


def sleep_six_seconds(x: float) -> float:
    import time

    time.sleep(6.0)
    return x


@pytest.mark.slow
def test_a_worker_restarted_at_the_same_address_still_times_out_its_trials(root: Path) -> None:
    # A worker with a fixed port (dask worker --worker-port) comes back at its address; the
    # ended addresses were ignored for good, so its trials never started their clocks.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fixed_port = {"threads_per_worker": 1, "host": "127.0.0.1", "worker_port": port}
    summary = run_three_on_a_local_cluster(sleep_six_seconds, root, fixed_port, timeout=1.5)
    assert summary.counts["failed"] == 3, summary.counts


class TwoArgumentError(Exception):
    """Pickles, but cannot be rebuilt: ``Exception`` keeps only the message it was given."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code={code}: {detail}")


def unsendable(x: float, pipeline_id: str) -> Any:

    if pipeline_id == "1":
        return threading.Lock()  # a dict result would travel with the lock as its text
    if pipeline_id == "3":
        return {"objective_to_minimize": x, "lock": threading.Lock()}
    if pipeline_id == "2":
        raise TwoArgumentError(7, "custom")
    return x


@pytest.mark.slow
def test_what_cannot_travel_back_fails_its_trial_only(cluster_address: str, root: Path) -> None:
    # An unpicklable result raised "Could not serialize object" out of run(), trials left
    # evaluating; an exception that cannot be rebuilt would do the same.
    summary = neps.run(
        unsendable,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=4,
        ignore_errors=True,
        evaluator={"name": "dask", "address": cluster_address, "n_workers": 1},
    )
    assert (summary.counts["failed"], summary.counts["success"]) == (2, 2)
    errors = [
        yaml.safe_load((root / "configs" / f"config_{i}" / "report.yaml").read_text())["error"]
        for i in (1, 2)
    ]
    assert "cannot be sent back" in errors[0] and "lock" in errors[0]
    assert "TwoArgumentError: code=7: custom" in errors[1]
    third = yaml.safe_load((root / "configs" / "config_3" / "report.yaml").read_text())
    assert third["objective_to_minimize"] is not None and "lock" in third["extra"]["lock"]


@pytest.mark.slow
@pytest.mark.parametrize("function", [sleep_then_return, sleep_then_raise])
def test_a_reply_that_ended_after_the_timeout_times_out_though_read_late(
    cluster_address: str, tmp_path: Path, function: Any
) -> None:
    # An exception raised after the timeout kept its own type here (process_pool: a timeout).
    evaluator = DaskEvaluator(DaskSettings(address=cluster_address, timeout=1.0))
    try:
        evaluator.submit(make_job("1", function, {"x": 1.0, "seconds": 1.5}, tmp_path / "1"))
        (key,) = evaluator.client.futures  # busy elsewhere: the task ends unwatched
        distributed.wait(distributed.Future(key, evaluator.client), timeout=120)
        outcome = collect(evaluator, 1, 120)["1"]
    finally:
        evaluator.close()
    assert isinstance(outcome.error, EvaluationTimeoutError), outcome
    assert "of its 1 s timeout" in str(outcome.error)
    raised = function is sleep_then_raise
    assert ("raising ValueError: too late to matter" in str(outcome.error)) is raised


def width_of(thing: Locked) -> float:
    return float(thing.width)


@pytest.mark.slow
def test_what_cannot_be_sent_fails_its_trial_naming_it(cluster_address: str, root: Path) -> None:
    # run() raised "Could not serialize object of type LLGExpr", even with ignore_errors.
    space = neps.PipelineSpace({"thing": neps.Operation(Locked, args=(neps.Integer(1, 5),))})
    summary = neps.run(
        width_of,
        space,
        root_directory=root,
        evaluations_to_spend=2,
        ignore_errors=True,
        evaluator={"name": "dask", "address": cluster_address, "n_workers": 1},
    )
    assert summary.counts["failed"] == 2
    report = yaml.safe_load((root / "configs" / "config_1" / "report.yaml").read_text())
    assert "the argument 'thing' of trial 1 cannot be sent to a dask worker" in report["error"]
    evaluator = DaskEvaluator(DaskSettings(address=cluster_address))
    try:
        evaluator.submit(make_job("1", Locked(), {"x": 1.0}, root / "function"))
        error = collect(evaluator, 1, 60)["1"].error
    finally:
        evaluator.close()
    assert isinstance(error, TypeError) and "_thread.lock" in str(error)
    assert str(error).startswith("evaluate_pipeline of trial 1 cannot be sent to a dask worker")


def exit_with_three(x: float) -> float:
    sys.exit(3)


@pytest.mark.slow
def test_sys_exit_in_the_pipeline_keeps_its_code(cluster_address: str, root: Path) -> None:
    """dask's transfer dropped SystemExit's code: a script ended with status 0, not 3."""
    with pytest.raises(SystemExit) as caught:
        neps.run(
            exit_with_three,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=1,
            evaluator={"name": "dask", "address": cluster_address, "n_workers": 1},
        )
    assert caught.value.code == 3


class QuotaError(Exception):
    """An __init__ of its own: rebuilt by tblib's rules, not by Python's default ones."""

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(f"used {used} of {limit}")
        self.used, self.limit = used, limit


def over_quota(x: float) -> float:
    raise QuotaError(3, 2)


def test_an_error_travels_back_whole_by_whichever_rules_rebuild_it() -> None:
    """Pickled by Python's rules only, such an error (registered with tblib, as distributed
    does for the exceptions it handles) failed to load and ended the run."""
    pickling_support.install(QuotaError)
    for function, check in (
        (over_quota, lambda error: (error.used, error.limit) == (3, 2)),
        (exit_with_three, lambda error: error.code == 3),
    ):
        (kind, value, _, _), _ = evaluate_remotely(function, {"x": 0.5})
        assert kind == "error"
        assert check(pickle.loads(value))


@pytest.mark.slow
def test_an_exception_class_of_the_script_comes_back_as_itself(tmp_path: Path, root: Path) -> None:
    # dask sends the script's function by value, with a copy of the class it raises, which
    # pickle refused on the worker: RemoteEvaluationError('MyError: boom') reached the script.
    printed = raise_a_class_of_the_script('{"name": "dask", "n_workers": 1}', tmp_path, root)
    assert "RAISED MyError('boom')" in printed and "STORED MyError: boom" in printed
