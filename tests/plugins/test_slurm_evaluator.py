"""The ``slurm`` evaluator: submitit's local executor, and a real one-node SLURM.

The real cluster (Debian's ``slurm-wlm``: munged, slurmctld, slurmd on free local ports) is
started by the ``slurm_cluster`` fixture when those programs are installed.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from unpicklable import Locked
from worker_processes import ended_within, kill_mid_evaluation, raise_a_class_of_the_script

import neps_core as neps
from neps_core.run_config import load_run_config
from neps_core.testing import BackgroundEvaluatorContract
from neps_core.testing.evaluator_contract import (
    beat_forever,
    beats_stop,
    collect,
    make_job,
    wait_for_beats,
)
from neps_core_plugins.slurm_evaluator import (
    LOCAL_DEFAULT_TIMEOUT_MIN,
    SlurmEvaluator,
    SlurmJobLostError,
    SlurmSettings,
)
from neps_core_plugins.slurm_evaluator import evaluator as slurm_evaluator
from neps_core_plugins.slurm_evaluator.jobs import ACTIVE_STATES, queue_states
from neps_core_plugins.slurm_evaluator.local_groups import stop_local_job

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol")


# -- functions the jobs run -----------------------------------------------------------------------
def kill_myself(x: float) -> float:
    os.kill(os.getpid(), signal.SIGKILL)
    return x


def sleep_and_tell(job_file: str) -> float:
    Path(job_file).write_text(os.environ.get("SLURM_JOB_ID", "local"))
    time.sleep(300)
    return 0.0


def square(x: float) -> float:
    return x * x


def _run_slurm(root: Path, *, function: Any = square, **settings: Any) -> neps.Summary:
    """``function`` run over one float ``x`` in ``root``, with the settings given."""
    return neps.run(function, {"x": neps.Float(0.0, 1.0)}, root_directory=root, **settings)


class _QueuedJob:
    """A SLURM job as submitit shows it, without a result yet."""

    job_id = "42"
    state = "PENDING"
    cancelled = False

    class paths:  # submitit's attribute name
        result_pickle = Path("/nonexistent/result.pkl")
        stdout = Path("/nonexistent/stdout")

    def done(self) -> bool:
        return False

    def cancel(self, check: bool = False) -> None:
        self.cancelled = True

    def stderr(self) -> str:
        return ""


def test_the_timeout_starts_only_when_squeue_shows_the_job_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One failed squeue call took the queued job for running: it was cancelled as a timeout."""
    answers = iter([{"42": "PENDING"}, None] + [{"42": "PENDING"}] * 40 + [{"42": "RUNNING"}] * 99)
    monkeypatch.setattr(slurm_evaluator, "queue_states", lambda job_ids: next(answers))
    evaluator = SlurmEvaluator(SlurmSettings(timeout=0.3, queue_poll_interval=0.02))
    job = _QueuedJob()
    evaluator._jobs["1"] = slurm_evaluator._Submitted(job, "slurm", time.monotonic(), 0.3)
    assert evaluator.wait(timeout=0.6) == [] and not job.cancelled  # queued: no timeout
    outcome = collect(evaluator, 1, 30)["1"]  # running for longer than 0.3 s
    assert isinstance(outcome.error, TimeoutError) and job.cancelled
    # Where neither squeue nor sacct ever says anything, the timeout runs from submission.
    monkeypatch.setattr(slurm_evaluator, "queue_states", lambda job_ids: None)
    job = _QueuedJob()
    job.state = "UNKNOWN"
    evaluator._jobs["2"] = slurm_evaluator._Submitted(job, "slurm", time.monotonic(), 0.3)
    outcome = collect(evaluator, 1, 30)["2"]
    assert isinstance(outcome.error, TimeoutError) and job.cancelled


# -- submitit's local executor ------------------------------------------------------------------
class TestSlurmLocalContract(BackgroundEvaluatorContract):
    evaluator_class = SlurmEvaluator
    # Four jobs at once: each local job starts two interpreters, so batches save time.
    evaluator_options: ClassVar[dict[str, Any]] = {
        "cluster": "local",
        "lost_after": 2.0,
        "n_workers": 4,
    }


@pytest.mark.parametrize("timeout", [3.0, 20.0, 60.0, 90.0, 3600.0])
def test_slurms_time_limit_never_signals_before_the_timeout(timeout: float) -> None:
    """submitit's SIGUSR2 (90 s before the limit, up to 60 s earlier) gave up jobs early."""
    limit = SlurmSettings(timeout=timeout).submitit_parameters()["timeout_min"] * 60
    assert limit - 90 - 60 > timeout


def test_options_become_submitit_parameters() -> None:
    settings = SlurmSettings(
        timeout=90.0,
        mem_gb=4.0,
        slurm_partition="gpu",
        parameters={"slurm_exclude": "node7"},
    )
    assert settings.submitit_parameters() == {
        "timeout_min": 5,  # SLURM's backstop: (90 s + 210 s) / 60, see the next test
        "mem_gb": 4.0,
        "slurm_partition": "gpu",
        "slurm_exclude": "node7",
    }
    assert SlurmSettings(cluster="local").submitit_parameters() == {
        "timeout_min": LOCAL_DEFAULT_TIMEOUT_MIN
    }
    assert SlurmSettings(timeout_min=60, timeout=600.0).submitit_parameters() == {"timeout_min": 60}


@pytest.mark.parametrize(
    "options", [{"timeout_min": 13}, {"parameters": {"timeout_min": 13}}], ids=["own", "parameters"]
)
def test_a_time_limit_too_short_for_the_timeout_is_refused(root: Path, options: dict) -> None:
    # It replaced the derived limit: submitit gave trials up 90 s before it, with
    # "UncompletedJobError: Job not requeued because: timed-out and not checkpointable".
    evaluator = {"name": "slurm", "cluster": "local", "timeout": 600.0, **options}
    with pytest.raises(neps.SettingsError, match=r"timeout_min=13 .* at least 14"):
        _run_slurm(
            root,
            evaluations_to_spend=1,
            evaluator=evaluator,
        )
    assert SlurmSettings(timeout=600.0, timeout_min=14).submitit_parameters()["timeout_min"] == 14


def test_a_run_records_the_job_ids_in_the_trials_metadata(root: Path) -> None:
    summary = _run_slurm(
        root,
        evaluations_to_spend=3,
        evaluator={"name": "slurm", "cluster": "local", "n_workers": 2},
    )
    assert summary.counts["success"] == 3
    job_ids = set()
    for folder in (root / "configs").iterdir():
        metadata = yaml.safe_load((folder / "metadata.yaml").read_text())["metadata"]
        job_ids.add(metadata["slurm_job_id"])
        assert Path(metadata["slurm_stdout"]).is_relative_to(folder)
    assert len(job_ids) == 3


def leave_work_behind(folder: str) -> float:
    """Return at once, leaving a process and a non-daemon thread (which ends by itself after
    60 s unless the job is ended first, and then says so in ``thread_ended``)."""
    child = subprocess.Popen(["sleep", "300"])
    Path(folder, "child").write_text(str(child.pid))

    def linger() -> None:
        time.sleep(60)
        Path(folder, "thread_ended").touch()

    threading.Thread(target=linger).start()
    return 1.0


def test_what_a_local_job_leaves_running_neither_holds_the_loop_nor_outlives_it(
    tmp_path: Path,
) -> None:
    # submitit's job.result() waited for the local job's process, which the thread kept
    # alive: the whole loop stood still (no other trial's timeout fired) until it ended,
    # and the evaluation's own processes outlived the run.
    evaluator = SlurmEvaluator(SlurmSettings(cluster="local"))
    try:
        evaluator.submit(make_job("1", leave_work_behind, {"folder": str(tmp_path)}, tmp_path))
        outcome = collect(evaluator, 1, 120)["1"]
    finally:
        evaluator.close()
    assert outcome.error is None and outcome.result == 1.0
    assert ended_within(int((tmp_path / "child").read_text()), 30)
    assert not (tmp_path / "thread_ended").exists()  # the job was ended, not waited for


def exit_slowly(folder: str) -> float:
    """Return at once, leaving an at-exit handler that takes a moment (a tracker's last sync)."""

    def sync() -> None:
        time.sleep(0.5)
        Path(folder, "synced").touch()

    atexit.register(sync)
    return 1.0


def test_a_local_job_ends_by_itself_after_its_result(tmp_path: Path) -> None:
    # Its process group was SIGKILLed the moment its result was read: no at-exit handler ran.
    evaluator = SlurmEvaluator(SlurmSettings(cluster="local"))
    try:
        evaluator.submit(make_job("1", exit_slowly, {"folder": str(tmp_path)}, tmp_path))
        outcome = collect(evaluator, 1, 120)["1"]
    finally:
        evaluator.close()  # waits for the job to end
    assert outcome.error is None and outcome.result == 1.0
    assert (tmp_path / "synced").exists()


class _EndedJob:
    """A local job as submitit shows it once its process ended, in ``folder``."""

    job_id = "4242"

    def __init__(self, folder: Path) -> None:
        self.paths = type("paths", (), {"folder": folder})

    def done(self) -> bool:
        return True


@pytest.mark.parametrize("noted", ["{pid} 1", "{pid}"], ids=["other-start-time", "no-start-time"])
def test_a_stale_group_file_never_kills_another_process(tmp_path: Path, noted: str) -> None:
    # A file left by a hard-killed worker named a pid (and group) since reused: SIGKILLed.
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)  # leads its own group
    try:
        (tmp_path / "4242_0_group").write_text(noted.format(pid=other.pid))
        stop_local_job(_EndedJob(tmp_path))
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def segfault(x: float) -> float:
    os.kill(os.getpid(), signal.SIGSEGV)
    return x


def test_a_local_job_that_crashes_is_lost_at_once_naming_the_signal(tmp_path: Path) -> None:
    # Reported only after lost_after (15 s per attempt), with an empty stderr tail. A local
    # job's result file is in place before its process ends: there is nothing to wait for.
    evaluator = SlurmEvaluator(SlurmSettings(cluster="local", lost_after=3600))
    try:
        evaluator.submit(make_job("1", segfault, {"x": 1.0}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 120)["1"]
    finally:
        evaluator.close()
    assert isinstance(outcome.error, SlurmJobLostError)
    assert "Fatal Python error: Segmentation fault" in str(outcome.error)


def exit_abruptly(x: float) -> float:
    os._exit(3)


def test_a_local_job_that_exits_abruptly_says_how_it_may_have_ended(tmp_path: Path) -> None:
    # The error said "ended in state FINISHED ... stderr tail:" and nothing more.
    evaluator = SlurmEvaluator(SlurmSettings(cluster="local"))
    try:
        evaluator.submit(make_job("1", exit_abruptly, {"x": 1.0}, tmp_path / "1"))
        outcome = collect(evaluator, 1, 120)["1"]
    finally:
        evaluator.close()
    assert isinstance(outcome.error, SlurmJobLostError)
    assert "by os._exit or a signal such as SIGKILL" in str(outcome.error)


def sleep_then_raise(seconds: float) -> float:
    time.sleep(seconds)
    raise ValueError("too late to matter")


def test_a_job_that_ended_after_the_timeout_times_out_though_read_late(tmp_path: Path) -> None:
    # Its result file was read as the job's own error: nobody looked before it ended.
    evaluator = SlurmEvaluator(SlurmSettings(cluster="local", timeout=1.0))
    try:
        evaluator.submit(make_job("1", sleep_then_raise, {"seconds": 1.5}, tmp_path / "1"))
        while not list((tmp_path / "1").rglob("*_result.pkl")):  # busy elsewhere meanwhile
            time.sleep(0.1)
        outcome = collect(evaluator, 1, 120)["1"]
    finally:
        evaluator.close()
    assert isinstance(outcome.error, neps.EvaluationTimeoutError), outcome
    assert "of its 1 s timeout, raising ValueError: too late to matter" in str(outcome.error)


def test_what_cannot_be_sent_fails_its_trial_naming_it(tmp_path: Path) -> None:
    # submit() raised "cannot pickle '_thread.lock' object" out of run(), naming nothing.
    evaluator = SlurmEvaluator(SlurmSettings(cluster="local"))
    try:
        evaluator.submit(make_job("1", square, {"x": Locked()}, tmp_path / "1"))
        evaluator.submit(make_job("2", Locked(), {"x": 1.0}, tmp_path / "2"))
        outcomes = collect(evaluator, 2, 60)
    finally:
        evaluator.close()
    errors = {trial_id: str(outcome.error) for trial_id, outcome in outcomes.items()}
    assert errors["1"].startswith("the argument 'x' of trial 1 cannot be sent to a SLURM job")
    assert errors["2"].startswith("evaluate_pipeline of trial 2 cannot be sent to a SLURM job")
    assert all("_thread.lock" in error for error in errors.values())


class FinishedTrials:
    """A plugin recording what ``neps_trial_finished`` is told."""

    def __init__(self) -> None:
        self.states: list[tuple[str, str]] = []

    @neps.hookimpl
    def neps_trial_finished(self, run: Any, trial: neps.Trial, report: neps.Report) -> None:
        self.states.append((trial.id, trial.state.value))


def test_a_lost_job_is_handled_like_a_dead_worker(root: Path) -> None:
    # Re-queued and submitted again, then CRASHED after max_trial_attempts; no error raised.
    finished = FinishedTrials()
    summary = _run_slurm(
        root,
        evaluations_to_spend=1,
        max_trial_attempts=2,
        evaluator={"name": "slurm", "cluster": "local", "lost_after": 0.5},
        plugins=[finished],
        function=kill_myself,
    )
    assert summary.counts["crashed"] == 1
    assert finished.states == [("1", "crashed")]  # observers heard of nothing before
    folder = root / "configs" / "config_1"
    report = yaml.safe_load((folder / "report.yaml").read_text())
    assert report["error"].startswith("crashed: SLURM job") and "attempt 2 of 2" in report["error"]
    metadata = yaml.safe_load((folder / "metadata.yaml").read_text())
    assert "attempt 1 of 2" in metadata["metadata"]["requeued_because"]
    assert metadata["metadata"]["slurm_job_id"] in report["error"]  # the second job's id


def test_a_job_that_dies_before_its_timeout_is_lost_not_timed_out(root: Path) -> None:
    # The timeout was checked first: a job killed at once was "ran longer than 1 s". The job
    # must be dead by its deadline, which on a loaded machine takes seconds (its Python
    # starts and imports this module; over 5 s seen), and a grace of lost_after after its
    # death would end past it (a local job has none: it is lost when seen dead).
    summary = _run_slurm(
        root,
        evaluations_to_spend=1,
        max_trial_attempts=1,
        evaluator={"name": "slurm", "cluster": "local", "timeout": 20.0, "lost_after": 30.0},
        function=kill_myself,
    )
    assert summary.counts["crashed"] == 1
    report = yaml.safe_load((root / "configs" / "config_1" / "report.yaml").read_text())
    assert "without a result" in report["error"] and "timeout" not in report["error"]
    metadata = yaml.safe_load((root / "configs" / "config_1" / "metadata.yaml").read_text())
    assert metadata["metadata"]["slurm_job_id"] in report["error"]  # the lost job is named


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("n_workers", 0),
        ("lost_after", -5),
        ("queue_poll_interval", 0),
        ("timeout_min", 0),
        ("kill_grace", -1),
    ],
)
def test_options_are_validated(root: Path, option: str, value: float) -> None:
    # lost_after=-5 and queue_poll_interval=0 ran without a word.
    with pytest.raises(neps.SettingsError, match=f"{option} must be"):
        _run_slurm(
            root,
            evaluations_to_spend=1,
            evaluator={"name": "slurm", "cluster": "local", option: value},
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("cluster: slurmm", r"evaluator\.cluster: must be one of \[None, 'slurm', 'local'"),
        ("cluster: local, parameters: {bogus_opt: 1}", r"evaluator\.parameters: .*'bogus_opt'"),
        ("cluster: local, parameters: {slurm_bogus: 1}", r"evaluator\.parameters: .*'slurm_bogus'"),
    ],
    ids=["cluster", "parameter", "slurm-parameter"],
)
def test_a_wrong_cluster_or_parameter_stops_the_loading_of_the_file(
    tmp_path: Path, options: str, message: str
) -> None:
    # Both loaded, and the first trial failed with submitit's ValueError or NameError.
    module = f"{tmp_path.name}.py"  # one module name per case: loaded names stay imported
    (tmp_path / module).write_text("def square(x):\n    return x * x\n")
    (tmp_path / "run.yaml").write_text(
        f"evaluate_pipeline: {module}:square\npipeline_space: {{x: {{lower: -1, upper: 1}}}}\n"
        f"root_directory: results\nevaluations_to_spend: 1\nevaluator: {{name: slurm, {options}}}\n"
    )
    with pytest.raises(neps.SettingsError, match=message):
        load_run_config(tmp_path / "run.yaml")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "function", ["evaluate_pipeline", "functools.partial(evaluate_pipeline)", "Trainer()"]
)
def test_an_exception_class_of_the_script_comes_back_as_itself(
    tmp_path: Path, root: Path, function: str
) -> None:
    # Inside a job __main__ is submitit's runner, where the class could not be found by name:
    # RemoteEvaluationError('MyError: boom') reached the script; for a partial or a callable
    # instance (the class looked up only in a plain function's globals) it still did.
    evaluator = '{"name": "slurm", "cluster": "local"}'
    printed = raise_a_class_of_the_script(evaluator, tmp_path, root, function)
    assert "RAISED MyError('boom')" in printed and "STORED MyError: boom" in printed


class TwoArgumentError(Exception):
    """Its ``__init__`` takes other arguments than the one message it gives ``Exception``."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code={code}: {detail}")
        self.code = code


def raise_two_arguments(x: float) -> float:
    raise TwoArgumentError(7, "custom")


def test_an_exception_whose_init_takes_other_arguments_comes_back_as_itself(root: Path) -> None:
    # submitit's pickle could not rebuild it: RemoteEvaluationError('TwoArgumentError: ...')
    # reached the user and the trial's record instead (process_pool and dask rebuilt it).
    with pytest.raises(TwoArgumentError) as caught:
        _run_slurm(
            root,
            function=raise_two_arguments,
            evaluations_to_spend=1,
            evaluator={"name": "slurm", "cluster": "local"},
        )
    assert (str(caught.value), caught.value.code) == ("code=7: custom", 7)
    report = yaml.safe_load((root / "configs" / "config_1" / "report.yaml").read_text())
    assert report["error"] == "TwoArgumentError: code=7: custom"
    assert 'raise TwoArgumentError(7, "custom")' in report["traceback"]


SUBMITIT_PLUGIN = """
from submitit.local.debug import DebugExecutor

class MyclusterExecutor(DebugExecutor):  # submitit names it "mycluster"
    pass
"""


def test_an_executor_a_submitit_plugin_registers_is_a_valid_cluster(tmp_path: Path) -> None:
    # Only None, "slurm", "local" and "debug" were accepted.
    (tmp_path / "mycluster_plugin.py").write_text(SUBMITIT_PLUGIN)
    dist_info = tmp_path / "mycluster_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: mycluster-plugin\n")
    (dist_info / "entry_points.txt").write_text(
        "[submitit]\nexecutor = mycluster_plugin:MyclusterExecutor\n"
    )
    code = (
        "from neps_core_plugins.slurm_evaluator import SlurmSettings\n"
        "print(SlurmSettings(cluster='mycluster').cluster)\n"
        "try:\n    SlurmSettings(cluster='myclustr')\n"
        "except ValueError as error:\n    print(error)\n"
    )
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    shown = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert shown[0] == "mycluster"
    assert shown[1].startswith("cluster must be one of [None, ") and "'mycluster'" in shown[1]


# -- a real one-node SLURM ------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_config(directory: Path, node: str) -> Path:
    host = socket.gethostname()
    for sub in ("state", "spool", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    config = directory / "slurm.conf"
    config.write_text(
        "\n".join(
            [
                f"ClusterName={node}",
                f"SlurmctldHost={host}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                f"AuthInfo=socket={directory / 'munge.sock'}",
                f"StateSaveLocation={directory / 'state'}",
                f"SlurmdSpoolDir={directory / 'spool'}",
                f"SlurmctldPidFile={directory / 'slurmctld.pid'}",
                f"SlurmdPidFile={directory / 'slurmd.pid'}",
                f"SlurmctldLogFile={directory / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={directory / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "KillWait=1",  # how long a job may ignore SIGTERM (scancel)
                f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs=2 "
                "RealMemory=2000 State=UNKNOWN",
                "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    return config


def _wait_until_idle(environment: dict[str, str], patience: float = 60.0) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["sinfo", "-h", "-o", "%t"],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
        ).stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    raise RuntimeError("the test SLURM cluster did not become idle")


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running one-node SLURM of our own (SLURM_CONF points at it while the module runs)."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing or os.geteuid() != 0:
        pytest.skip(f"a real SLURM needs root and Debian's slurm-wlm; missing: {missing}")
    directory = tmp_path_factory.mktemp("slurm")
    directory.chmod(0o700)
    node = f"neps{os.getpid()}"
    config = _write_config(directory, node)
    key = directory / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    environment = {**os.environ, "SLURM_CONF": str(config)}
    started = [
        subprocess.Popen(
            ["munged", "--foreground", "--force", f"--socket={directory / 'munge.sock'}",
             f"--key-file={key}", f"--log-file={directory / 'log' / 'munged.log'}",
             f"--pid-file={directory / 'munged.pid'}", f"--seed-file={directory / 'seed'}"]
        )
    ]  # fmt: skip
    time.sleep(0.5)
    started.append(subprocess.Popen(["slurmctld", "-D", "-c", "-f", str(config)], env=environment))
    started.append(
        subprocess.Popen(["slurmd", "-D", "-f", str(config), "-N", node], env=environment)
    )
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(config)
    try:
        _wait_until_idle(environment)
        yield config
    finally:
        subprocess.run(["scancel", "--full", "--user=root"], env=environment, check=False)
        for process in reversed(started):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous


ON_THE_CLUSTER: dict[str, Any] = {"cluster": "slurm", "lost_after": 2.0, "queue_poll_interval": 0.5}


@pytest.mark.slow
def test_a_timeout_cancels_the_job_and_is_recorded(slurm_cluster: Path, tmp_path: Path) -> None:
    # The full contract runs on submitit's local executor above; on the real cluster what
    # differs is how jobs are stopped, so these two contract checks run here too.
    evaluator = SlurmEvaluator(SlurmSettings(timeout=3.0, **ON_THE_CLUSTER))
    directory = tmp_path / "stuck"
    directory.mkdir()
    try:
        evaluator.submit(make_job("1", beat_forever, {"directory": str(directory)}, directory))
        outcome = collect(evaluator, 1, 180)["1"]
    finally:
        evaluator.close()
    assert isinstance(outcome.error, TimeoutError) and "timeout" in str(outcome.error)
    assert outcome.metadata["slurm_job_id"].isdigit()
    if (directory / "beats").exists():
        assert beats_stop(directory, 180), "the job survived its timeout"


@pytest.mark.slow
def test_the_timeout_does_not_run_while_the_job_waits_in_the_queue(
    slurm_cluster: Path, tmp_path: Path
) -> None:
    """A job queued behind a full node was cancelled as a timeout before it ever started."""
    blocker = subprocess.run(
        ["sbatch", "--parsable", "-c", "2", "-o", str(tmp_path / "blocker.out"),
         "--wrap", "sleep 300"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    deadline = time.monotonic() + 120
    while (queue_states([blocker]) or {}).get(blocker) != "RUNNING":  # it holds the node
        assert time.monotonic() < deadline, "the blocker never started"
        time.sleep(0.2)
    evaluator = SlurmEvaluator(SlurmSettings(timeout=4.0, **ON_THE_CLUSTER))
    try:
        evaluator.submit(make_job("1", square, {"x": 3.0}, tmp_path / "1"))
        queued = time.monotonic()
        while time.monotonic() - queued < 6.0:  # longer than its timeout, behind the blocker
            assert evaluator.wait(timeout=0.5) == []
        subprocess.run(["scancel", blocker], check=False)  # the node is free: the job runs
        outcome = collect(evaluator, 1, 180)["1"]
    finally:
        evaluator.close()
        subprocess.run(["scancel", blocker], check=False)
    assert outcome.error is None, outcome.error
    assert outcome.result == 9.0


@pytest.mark.slow
def test_close_cancels_running_jobs(slurm_cluster: Path, tmp_path: Path) -> None:
    evaluator = SlurmEvaluator(SlurmSettings(**ON_THE_CLUSTER))
    directory = tmp_path / "stuck"
    evaluator.submit(make_job("1", beat_forever, {"directory": str(directory)}, directory))
    wait_for_beats(directory, 180)
    evaluator.close()
    assert beats_stop(directory, 180), "the job survived close()"


@pytest.mark.slow
def test_a_job_left_running_by_a_thread_is_cancelled_after_its_result(
    slurm_cluster: Path, tmp_path: Path
) -> None:
    # A non-daemon thread kept the job's Python, and its allocation, running after its result
    # was read, until the thread ended (or the time limit), close() included.
    evaluator = SlurmEvaluator(SlurmSettings(kill_grace=1.0, **ON_THE_CLUSTER))
    try:
        evaluator.submit(make_job("1", leave_work_behind, {"folder": str(tmp_path)}, tmp_path))
        outcome = collect(evaluator, 1, 180)["1"]
    finally:
        evaluator.close()
    assert outcome.error is None and outcome.result == 1.0
    job_id = outcome.metadata["slurm_job_id"]
    deadline = time.monotonic() + 45  # SLURM's KillWait (30 s) at the most; the thread: 60 s
    while (states := queue_states([job_id])) and time.monotonic() < deadline:
        if states.get(job_id) not in (*ACTIVE_STATES, "COMPLETING"):
            break
        time.sleep(0.5)
    assert states in ({}, {job_id: "CANCELLED"}), f"the job outlived close(): {states}"
    assert not (tmp_path / "thread_ended").exists()


@pytest.mark.slow
def test_options_reach_sbatch_and_a_cancelled_job_is_detected_as_lost(
    slurm_cluster: Path, tmp_path: Path
) -> None:
    evaluator = SlurmEvaluator(
        SlurmSettings(
            cluster="slurm",
            lost_after=2.0,
            queue_poll_interval=0.5,
            timeout_min=7,
            mem_gb=1.0,
            slurm_partition="debug",
            slurm_additional_parameters={"comment": "neps-core-test"},
        )
    )
    job_file = tmp_path / "job_id"
    try:
        evaluator.submit(make_job("1", sleep_and_tell, {"job_file": str(job_file)}, tmp_path / "1"))
        deadline = time.monotonic() + 120
        while not job_file.exists():
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        shown = subprocess.run(
            ["scontrol", "show", "job", job_file.read_text()],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        subprocess.run(["scancel", job_file.read_text()], check=True)
        outcome = collect(evaluator, 1, 180)["1"]
    finally:
        evaluator.close()
    assert "TimeLimit=00:07:00" in shown
    assert "Partition=debug" in shown
    assert "MinMemoryNode=1G" in shown
    assert "Comment=neps-core-test" in shown
    assert "JobName=neps-trial-1" in shown
    assert isinstance(outcome.error, SlurmJobLostError)
    # Seen while SLURM still escalates its kill (COMPLETING), or after it (CANCELLED, gone).
    assert any(state in str(outcome.error) for state in ("COMPLETING", "CANCELLED", "VANISHED"))
    assert outcome.metadata["slurm_job_id"] == job_file.read_text()


@pytest.mark.slow
def test_a_run_on_the_cluster(slurm_cluster: Path, root: Path) -> None:
    summary = _run_slurm(
        root,
        evaluations_to_spend=2,
        evaluator={"name": "slurm", "cluster": "slurm", "n_workers": 2},
    )
    assert summary.counts["success"] == 2
    records = [yaml.safe_load(p.read_text()) for p in root.glob("configs/*/metadata.yaml")]
    job_ids = {record["metadata"]["slurm_job_id"] for record in records}
    assert len(records) == 2 and len(job_ids) == 2 and all(j.isdigit() for j in job_ids)


WAITS_FOR_GO = """
import ast
import os
import sys
import time
from pathlib import Path

import neps_core as neps

SIGNALS = Path(sys.argv[2])


def evaluate_pipeline(x: float) -> float:
    with open(SIGNALS / "started", "a") as log:
        log.write(os.environ["SLURM_JOB_ID"] + "\\n")
    while not (SIGNALS / "go").exists():
        time.sleep(0.2)
    return x


if __name__ == "__main__":
    neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
             **ast.literal_eval(sys.argv[3]))
"""


@pytest.mark.slow
def test_the_job_of_a_dead_worker_is_adopted_not_submitted_again(
    slurm_cluster: Path, root: Path, tmp_path: Path
) -> None:
    # A worker killed on a login node leaves its job running; before, the next worker re-queued
    # the trial and trained the same configuration in a second job while the first ran on.
    signals = tmp_path / "signals"
    signals.mkdir()
    options = {
        "evaluations_to_spend": 1,
        "heartbeat_interval": 0.5,
        "stale_after": 2.0,
        "evaluator": {"name": "slurm", **ON_THE_CLUSTER},
    }
    arguments = [str(root), str(signals), repr(options)]
    kill_mid_evaluation(WAITS_FOR_GO, arguments, root, "configs/*/slurm_job.yaml")
    deadline = time.monotonic() + 120
    while not (signals / "started").exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    job_ids = (signals / "started").read_text().split()
    (signals / "go").touch()
    # Past stale_after since the dead worker's last heartbeat, its trial is re-queued.
    (trial,) = neps.status(root).trials
    stale_at = (trial.last_heartbeat or trial.started_at) + options["stale_after"] + 0.5
    time.sleep(max(0.0, stale_at - time.time()))
    takeover = subprocess.run(
        [sys.executable, "worker.py", *arguments],
        cwd=root.parent,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    assert (signals / "started").read_text().split() == job_ids, "the trial ran in a second job"
    assert f"waiting for SLURM job {job_ids[0]}" in takeover.stderr
    assert neps.status(root).counts["success"] == 1
    metadata = yaml.safe_load((root / "configs" / "config_1" / "metadata.yaml").read_text())
    assert metadata["metadata"]["slurm_job_id"] == job_ids[0]
