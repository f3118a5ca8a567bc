"""Worker liveness with real processes: SIGKILL a worker mid-evaluation and finish its run."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
from worker_processes import suspend

import neps_core as neps
from neps_core import live_workers, liveness, presence
from neps_core.cli.clean import clean_run
from neps_core.heartbeat import Heartbeat
from neps_core.history import TrialHistory
from neps_core.liveness import ASYNC_MARK, evaluated_by_a_worker, recover_stale_trials
from neps_core.models import Trial, TrialState
from neps_core.plugin_manager import load_plugins
from neps_core.presence import present_with_me
from neps_core.run_storage import open_storage
from neps_core.serialization import read_yaml

WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import neps_core as neps
    from neps_core import presence

    if "BOOT_ID" in os.environ:  # a worker of another machine sharing the file system
        presence._boot_id = lambda: os.environ["BOOT_ID"]

    def evaluate_pipeline(x, pipeline_directory):
        (Path(pipeline_directory) / "started").write_text(str(os.getpid()))
        if os.environ.get("SLOW") == "1":
            time.sleep(float(os.environ.get("SLEEP", "600")))
        return x

    neps.run(
        evaluate_pipeline,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=sys.argv[1],
        evaluations_to_spend=3,
        heartbeat_interval=0.2,
        stale_after=float(os.environ.get("STALE_AFTER", "1.5")),
        max_trial_attempts=int(os.environ.get("ATTEMPTS", "3")),
        continue_until_max_evaluation_completed=True,
    )
    """
)


def _run_like_a_worker(evaluate: Any, root: Path, **settings: Any) -> neps.Summary:
    """Another worker of ``root`` in this process, beating and judging as the WORKER script."""
    return neps.run(
        evaluate,
        root_directory=root,
        evaluations_to_spend=3,
        heartbeat_interval=0.2,
        stale_after=1.5,
        continue_until_max_evaluation_completed=True,
        **settings,
    )


def _start_worker(tmp_path: Path, root: Path, **env: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return subprocess.Popen(
        [sys.executable, str(script), str(root)],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
    )


def _wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose worker was SIGKILLed mid-evaluation of trial 1, made once for the module.

    Its recorded stale_after is long (600 s): only the dead process, never a silent
    heartbeat, can explain a re-queue of its trial, unless a test silences it on purpose."""
    tmp_path = tmp_path_factory.mktemp("killed")
    root = tmp_path / "run"
    worker = _start_worker(tmp_path, root, SLOW="1", STALE_AFTER="600")
    _wait_for(root / CONFIG_1 / "started", worker)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    return root


@pytest.mark.slow
def test_killed_worker_trial_crashes_after_its_last_attempt(
    tmp_path: Path, killed_run: Path
) -> None:
    root = tmp_path / "run"
    shutil.copytree(killed_run, root)

    neps.run(lambda x: x, root_directory=root, evaluations_to_spend=3, max_trial_attempts=1)

    summary = neps.status(root)
    assert summary.counts == {**summary.counts, "crashed": 1, "success": 2, "evaluating": 0}
    report = (root / "configs" / "config_1" / "report.yaml").read_text()
    assert "is gone (it ran on this machine" in report


@pytest.mark.slow
def test_a_slow_but_alive_worker_keeps_its_trial(tmp_path: Path) -> None:
    root = tmp_path / "run"
    slow = _start_worker(tmp_path, root, SLOW="1", SLEEP="3")  # twice its stale_after
    _wait_for(root / "configs" / "config_1" / "started", slow)
    # Waits for trial 1, looking at it
    _run_like_a_worker(lambda x: x, root)
    assert slow.wait(timeout=120) == 0
    metadata = (root / "configs" / "config_1" / "metadata.yaml").read_text()
    assert "attempts: 1" in metadata
    assert neps.status(root).counts["success"] == 3


#: The boot id a test worker pretends to have: a machine other than the one it runs on.
ANOTHER_MACHINE = "another-machine-sharing-the-file-system"


@pytest.mark.slow
def test_a_paused_worker_of_this_machine_keeps_its_trial(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Paused past stale_after (SIGSTOP, a laptop lid, or blocked while another worker held
    # the storage lock), its live trial was re-queued and evaluated twice; with one attempt
    # it was marked crashed and its result dropped. Its process is present: it is alive.
    root = tmp_path / "run"
    paused = _start_worker(tmp_path, root, SLOW="1", SLEEP="2", ATTEMPTS="1")
    _wait_for(root / CONFIG_1 / "started", paused)
    suspend(paused, root)
    while_paused: list[int] = []

    def resume_once_the_other_waited_past_stale_after() -> None:
        try:
            deadline = time.monotonic() + 60
            while neps.status(root).counts["success"] < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2.0)  # more than stale_after with trial 1's heartbeat silent
            while_paused.append(neps.status(root).counts["evaluating"])
        finally:
            os.kill(paused.pid, signal.SIGCONT)

    resumer = threading.Thread(target=resume_once_the_other_waited_past_stale_after)
    resumer.start()
    try:
        with caplog.at_level("WARNING", logger="neps_core"):
            # The other worker: waits for trial 1 until the paused one reports it
            _run_like_a_worker(lambda x: x, root, max_trial_attempts=1)
    finally:
        resumer.join()
    assert paused.wait(timeout=120) == 0
    assert while_paused == [1]  # trial 1, still the paused one's
    assert "a live process of this machine, is silent" in caplog.text
    assert neps.status(root).counts["success"] == 3
    assert (root / CONFIG_1 / "started").read_text() == str(paused.pid)  # evaluated once
    assert "attempts: 1" in (root / CONFIG_1 / "metadata.yaml").read_text()


@pytest.mark.slow
def test_a_worker_silent_past_stale_after_drops_its_late_result(tmp_path: Path) -> None:
    """Its trial went to another worker, which reported first: a warning, not a crash."""
    root = tmp_path / "run"
    paused = _start_worker(tmp_path, root, SLOW="1", SLEEP="2", BOOT_ID=ANOTHER_MACHINE)
    _wait_for(root / "configs" / "config_1" / "started", paused)
    suspend(paused, root)  # a suspended job, an overloaded node
    try:
        # Re-queues trial 1 once it is silent past stale_after, and finishes it
        _run_like_a_worker(lambda x: x, root)
        time.sleep(max(0.0, 2.5 - 1.5))  # the paused evaluation's sleep is over by now
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    _, stderr = paused.communicate(timeout=120)
    assert paused.returncode == 0, stderr.decode()
    assert "so this worker's result is dropped: this worker was silent" in stderr.decode()
    assert neps.status(root).counts["success"] == 3
    assert "attempts: 2" in (root / "configs" / "config_1" / "metadata.yaml").read_text()


@pytest.mark.slow
def test_a_silent_worker_reporting_first_is_named_as_the_trials_worker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The stored trial named the worker whose later result was dropped, and its start time.
    root = tmp_path / "run"
    paused = _start_worker(tmp_path, root, SLOW="1", SLEEP="2", BOOT_ID=ANOTHER_MACHINE)
    _wait_for(root / CONFIG_1 / "started", paused)
    paused_since = time.time()
    suspend(paused, root)
    paused_errors = b""

    def the_paused_reports_first(x: float, pipeline_id: str) -> float:
        nonlocal paused_errors
        if pipeline_id == "1":  # re-queued and evaluated again here
            os.kill(paused.pid, signal.SIGCONT)  # its evaluation is over: it reports first
            _, paused_errors = paused.communicate(timeout=120)
        return x

    try:
        with caplog.at_level("WARNING", logger="neps_core"):
            # The other worker
            _run_like_a_worker(the_paused_reports_first, root)
    finally:
        if paused.returncode is None:  # not reaped by the evaluation above
            os.kill(paused.pid, signal.SIGCONT)
    assert paused.wait(timeout=120) == 0, paused_errors.decode()
    stored = next(t for t in neps.status(root).trials if t.id == "1")
    assert stored.worker_id is not None and f"-{paused.pid}-" in stored.worker_id
    assert stored.started_at is not None and stored.started_at < paused_since
    dropped = f"Trial '1' already has a result (state success, from worker {stored.worker_id})"
    assert dropped in caplog.text


@pytest.mark.slow
def test_a_continuation_right_after_a_crash_re_queues_the_dead_workers_trial_at_once(
    tmp_path: Path, killed_run: Path
) -> None:
    """No other process holds the run and the dead worker ran here: no stale_after to wait
    (the dead worker recorded 600 s); the re-queued trial is evaluated and the run finished."""
    root = tmp_path / "run"
    shutil.copytree(killed_run, root)
    assert neps.status(root).counts["evaluating"] == 1
    (claimed,) = neps.status(root).trials
    boot_id, pid, started = claimed.metadata["worker_process"].split("/")
    assert pid == (root / CONFIG_1 / "started").read_text() and boot_id and started.isdigit()
    summary = neps.run(lambda x: x, root_directory=root, evaluations_to_spend=3)  # defaults
    assert (summary.counts["success"], summary.counts["evaluating"]) == (3, 0)
    assert summary.counts["pending"] == 0
    metadata = read_yaml(root / CONFIG_1 / "metadata.yaml")
    assert metadata["attempts"] == 2 and "is gone" in metadata["metadata"]["requeued_because"]
    assert "worker_process" not in metadata["metadata"]  # true only while it runs


@pytest.mark.slow
def test_a_dead_worker_recorded_in_the_form_of_older_versions_is_known_gone_at_once(
    tmp_path: Path, killed_run: Path
) -> None:
    # Versions 0d72b3b to f37ef83 recorded "<boot id>/<pid>/<start>", without the pid
    # namespace: taken for another machine's, the dead worker's trial read "evaluating now",
    # clean refused it as live, and a continuation left it evaluating for stale_after.
    root = tmp_path / "run"
    shutil.copytree(killed_run, root)  # its stale_after of 600 s: no heartbeat check
    machine = str(presence.this_machine())
    boot_id = machine.partition(".")[0]
    journal = root / ".neps_core" / "journal.jsonl"
    journal.write_text(journal.read_text().replace(f"{machine}/", f"{boot_id}/"))
    _silence(journal, 60.0)  # an old-form worker is gone once silent for two heartbeats too
    (claimed,) = neps.status(root).trials
    assert claimed.metadata["worker_process"].count(".") == 0  # the old form
    assert [gone.trial_id for gone in clean_run(root, stale_after=60.0, dry_run=True).removed] == [
        "1"
    ]
    summary = neps.run(lambda x: x, root_directory=root, evaluations_to_spend=3)  # defaults
    assert (summary.counts["success"], summary.counts["evaluating"]) == (3, 0)
    assert "is gone" in read_yaml(root / CONFIG_1 / "metadata.yaml")["metadata"]["requeued_because"]


def _silence(journal: Path, seconds: float) -> None:
    """Make the trials in ``journal`` heard of last ``seconds`` earlier than they were."""

    def earlier(record: Any) -> Any:
        if isinstance(record, dict):
            return {
                key: value - seconds
                if key in ("heartbeat", "last_heartbeat", "started_at") and value
                else earlier(value)
                for key, value in record.items()
            }
        return record

    lines = journal.read_text().splitlines()
    journal.write_text("".join(json.dumps(earlier(json.loads(line))) + "\n" for line in lines))


@pytest.mark.slow
def test_a_dead_workers_trial_both_stale_and_gone_is_re_queued_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, killed_run: Path
) -> None:
    # Two warnings, "stopped heartbeating" and "is gone", for one re-queue.
    root = tmp_path / "run"
    shutil.copytree(killed_run, root)
    _silence(root / ".neps_core" / "journal.jsonl", 700.0)  # past its stale_after too
    with caplog.at_level("WARNING", logger="neps_core"):
        _run_like_a_worker(lambda x: x, root)
    requeues = [r.getMessage() for r in caplog.records if "Re-queueing trial 1" in r.getMessage()]
    assert len(requeues) == 1 and "is gone" in requeues[0]
    assert read_yaml(root / CONFIG_1 / "metadata.yaml")["attempts"] == 2


@pytest.mark.slow
def test_the_last_sample_re_queues_a_trial_whose_worker_died_meanwhile(tmp_path: Path) -> None:
    # The check for dead workers ran at most every 2 s; a worker whose budget was used up
    # stopped at once, so a dead worker's trial stayed EVALUATING after every worker left.
    root = tmp_path / "run"
    other = _start_worker(tmp_path, root, SLOW="1")
    try:
        _wait_for(root / CONFIG_1 / "started", other)

        def kill_the_other_worker_first(x: float, pipeline_id: str) -> float:
            if pipeline_id == "2":  # after this worker's first check, which saw it alive
                other.kill()
                other.wait()
            return x

        summary = neps.run(kill_the_other_worker_first, root_directory=root, evaluations_to_spend=3)
    finally:
        other.kill()
        other.wait()
    assert (summary.counts["success"], summary.counts["evaluating"]) == (3, 0)


@pytest.mark.slow
def test_a_worker_about_to_stop_looks_for_gone_workers_however_recent_its_last_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The look was skipped within 2 s of the last one but at the first sample that found the
    # budget used up: a worker dying just after that look (the other survivor of a job array
    # still present, say) left its trial EVALUATING after the last worker stopped.
    root = tmp_path / "run"
    other = _start_worker(tmp_path, root, SLOW="1")
    looks: list[int] = []

    def the_other_dies_right_after_the_second_look(*args: Any, **kwargs: Any) -> list[Trial]:
        recovered = liveness.recover_gone_workers(*args, **kwargs)
        looks.append(len(recovered))
        if len(looks) == 2:  # at the sample that found the budget used up: it is alive
            other.kill()
            other.wait()
        return recovered

    try:
        _wait_for(root / CONFIG_1 / "started", other)
        monkeypatch.setattr(
            "neps_core.sampler.recover_gone_workers", the_other_dies_right_after_the_second_look
        )
        summary = neps.run(lambda x: x, root_directory=root, evaluations_to_spend=2)
    finally:
        other.kill()
        other.wait()
    assert looks[:3] == [0, 0, 1]  # the third: a last look before stopping
    assert (summary.counts["success"], summary.counts["evaluating"]) == (2, 0)


@pytest.mark.slow
def test_with_another_process_present_a_dead_workers_trial_is_re_queued_at_once(
    tmp_path: Path, killed_run: Path
) -> None:
    # Only a worker alone in the run re-queued a dead one's trial: the survivors of a job
    # array, each beside the other, stopped and left it EVALUATING for stale_after (120 s).
    root = tmp_path / "run"
    shutil.copytree(killed_run, root)
    client = subprocess.Popen(
        [sys.executable, "-c", IDLE_CLIENT, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout is not None and client.stdout.readline() == "present\n"
        summary = neps.run(lambda x: x, root_directory=root, evaluations_to_spend=1)
    finally:
        client.communicate("", timeout=60)
    assert (summary.counts["success"], summary.counts["evaluating"]) == (1, 0)
    assert "is gone" in read_yaml(root / CONFIG_1 / "metadata.yaml")["metadata"]["requeued_because"]


def test_a_worker_beside_a_live_one_reads_the_lock_table_once_not_at_every_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading /proc/locks holds up every file lock of the machine (10% of 4 workers'
    throughput when done at each sample): a worker checks at its first sample, then seldom."""
    root = tmp_path / "run"
    # Its own stale_after judges its trial: 1.5 s, and a heartbeat late under load would
    # make each sample ask the lock table whether it is paused, which is not the point here.
    other = _start_worker(tmp_path, root, SLOW="1", STALE_AFTER="120")
    checks: list[Path] = []

    def counted_present_with_me(root_directory: Path) -> list[str] | None:
        checks.append(root_directory)
        return present_with_me(root_directory)

    try:
        _wait_for(root / CONFIG_1 / "started", other)
        monkeypatch.setattr("neps_core.sampler.present_with_me", counted_present_with_me)
        started = time.monotonic()
        summary = neps.run(lambda x: x, root_directory=root, evaluations_to_spend=25)
        elapsed = time.monotonic() - started
    finally:
        other.kill()
        other.wait()
    assert summary.counts["success"] == 24  # the other worker's trial is left to it
    # Each of the 24 samples saw the other worker's trial; a check at each took 24. The
    # first sample checks, then one per interval at most, besides the looks when the budget
    # is used up and right before stopping (24 instant trials take about 3 s on a quiet
    # machine, 10 s on a loaded one).
    assert 1 <= len(checks) <= 3 + elapsed / liveness.GONE_CHECK_INTERVAL, (elapsed, checks)


CONFIG_1 = Path("configs", "config_1")
IDLE_CLIENT = textwrap.dedent(
    """
    import sys
    import neps_core as neps

    with neps.AskAndTell(root_directory=sys.argv[1]):
        print("present", flush=True)
        sys.stdin.read()
    """
)


def _history(*trials: Trial) -> TrialHistory:
    history = TrialHistory()
    for trial in trials:
        history.put(trial)
    return history


def _running(trial_id: str, heartbeat: float, **changes: object) -> Trial:
    trial = Trial(
        id=trial_id,
        config={"x": 0.5},
        state=TrialState.EVALUATING,
        created_at=0.0,
        worker_id="w",
        started_at=0.0,
        attempts=1,
        last_heartbeat=heartbeat,
    )
    return attrs.evolve(trial, **changes)  # type: ignore[arg-type]


def test_recovery_leaves_fresh_and_asynchronous_trials_alone() -> None:
    history = _history(
        _running("1", heartbeat=95.0),
        _running("2", heartbeat=10.0, metadata={ASYNC_MARK: True}),
        _running("3", heartbeat=10.0),
    )
    recovered = recover_stale_trials(history, now=100.0, stale_after=30.0, max_attempts=3)
    assert [(t.id, t.state, t.worker_id) for t in recovered] == [("3", TrialState.PENDING, None)]


def test_a_sub_second_silence_is_told_in_tenths_not_as_0_s() -> None:
    """With a stale_after below a second, re-queue reasons said "stopped heartbeating 0 s ago"."""
    history = _history(_running("1", heartbeat=99.6))
    (recovered,) = recover_stale_trials(history, now=100.0, stale_after=0.4, max_attempts=3)
    assert "stopped heartbeating 0.4 s ago" in recovered.metadata["requeued_because"]


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads Linux's lock table")
def test_a_dead_worker_that_had_this_processs_pid_is_told_apart_by_its_start(
    tmp_path: Path,
) -> None:
    """A container's main process is pid 1 after every restart: the pid alone would take the
    dead worker's trial for this process's own and leave it to stale_after."""
    me = presence.this_process()
    assert me is not None
    boot_id, pid, started = me.split("/")
    earlier_self = f"{boot_id}/{pid}/{int(started) - 1}"
    history = _history(
        _running("1", heartbeat=99.0, metadata={liveness.WORKER_PROCESS: earlier_self}),
        _running("2", heartbeat=99.0, metadata={liveness.WORKER_PROCESS: me}),
    )
    with presence.present_in(tmp_path), presence.working_here("w"):  # trial 2's worker
        alive = functools.partial(present_with_me, tmp_path)
        recovered = liveness.recover_gone_workers(history, alive, now=100.0, max_attempts=3)
    assert [(t.id, t.state) for t in recovered] == [("1", TrialState.PENDING)]
    # Once that worker has ended (its give-back refused, say), its trial is no one's either.
    with presence.present_in(tmp_path):
        alive = functools.partial(present_with_me, tmp_path)
        recovered = liveness.recover_gone_workers(history, alive, now=100.0, max_attempts=3)
    assert [t.id for t in recovered] == ["1", "2"]


def test_a_late_heartbeat_of_a_present_process_is_not_death_but_a_reused_pid_is_no_proof() -> None:
    # The pid alone took a dead worker's trial for a live one's where the pid was reused (a
    # container's pid 1 again) or belonged to another pid namespace under the same kernel.
    # This process's own trial is an ended run()'s (a full disk stopped it): a later run() in
    # the same process waited for it for good.
    me = presence.this_process()
    machine = presence.this_machine()
    assert me is not None and machine is not None
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        pid, started = str(live.pid), presence.start_ticks(str(live.pid))
        history = _history(
            *(
                _running(trial_id, heartbeat=0.0, metadata={liveness.WORKER_PROCESS: process})
                for trial_id, process in (
                    ("1", f"{machine}/{pid}/{started}"),  # alive: left to it
                    ("2", f"{machine}/{pid}/1"),  # the pid, reused
                    ("3", f"another-machine/{pid}/{started}"),
                    ("4", f"{presence._boot_id()}.1/{pid}/{started}"),  # another container
                    ("5", me),
                )
            )
        )
        alive = [pid, str(os.getpid())]
        recovered = recover_stale_trials(
            history, now=100.0, stale_after=10.0, max_attempts=3, present=lambda: alive
        )
    finally:
        live.kill()
        live.wait()
    assert [t.id for t in recovered] == ["2", "3", "4", "5"]


def test_a_present_worker_whose_proc_entry_cannot_be_read_keeps_its_trial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With /proc mounted hidepid (shared HPC nodes) another user's worker shows in the lock
    table but not its start time: it was taken for gone and its live trial run twice."""
    machine = presence.this_machine()
    assert machine is not None
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid names no process
    try:
        started = presence.start_ticks(str(live.pid))
        history = _history(
            _running(
                "1",
                heartbeat=0.0,
                metadata={liveness.WORKER_PROCESS: f"{machine}/{live.pid}/{started}"},
            ),
            _running(
                "2",
                heartbeat=0.0,
                metadata={liveness.WORKER_PROCESS: f"{machine}/{gone.pid}/{started}"},
            ),
        )
        monkeypatch.setattr(presence, "start_ticks", lambda pid: "?")  # what hidepid shows
        monkeypatch.setattr(liveness, "start_ticks", presence.start_ticks)
        present = [str(live.pid), str(gone.pid)]
        recovered = recover_stale_trials(
            history, now=100.0, stale_after=10.0, max_attempts=3, present=lambda: present
        )
    finally:
        live.kill()
        live.wait()
    assert [t.id for t in recovered] == ["2"]


@pytest.mark.skipif(presence.this_machine() is None, reason="names processes by Linux's boot id")
def test_a_worker_recorded_in_the_older_form_is_gone_only_once_silent_for_two_heartbeats(
    tmp_path: Path,
) -> None:
    # Versions 0d72b3b to f37ef83 recorded "<boot id>/<pid>/<start>": judged this machine's
    # by the boot id alone, a live worker of another container under this kernel (its pid
    # and lock do not show here) was taken for gone while it heartbeated: its trial re-queued.
    boot_id = str(presence.this_machine()).partition(".")[0]
    old_form = {liveness.WORKER_PROCESS: f"{boot_id}/1/12345"}  # another container's pid 1
    now = time.time()
    heard = _running("1", heartbeat=now - 1.0, metadata=old_form)  # 2 heartbeats: 20 s
    silent = _running("2", heartbeat=now - 30.0, metadata=old_form)
    history, present = _history(heard, silent), [str(os.getpid())]
    assert [t.id for t in liveness.live_trials(history, now, 120.0, present)] == ["1"]
    assert [liveness.process_gone(t, present) for t in (heard, silent)] == [False, True]
    with presence.present_in(tmp_path):
        alive = functools.partial(present_with_me, tmp_path)
        for interval, gone in ((10.0, ["2"]), (0.2, ["1", "2"])):
            recovered = liveness.recover_gone_workers(
                history, alive, now=now, max_attempts=3, heartbeat_interval=interval
            )
            assert [t.id for t in recovered] == gone


def test_the_wait_advice_names_the_setting_of_the_longest_wait() -> None:
    """A recorded stale_after shorter than the looker's: the looker's own decides the wait."""
    now = time.time()
    recorded = _running("1", heartbeat=now - 5, metadata={"stale_after": 60.0})
    older_root = _running("2", heartbeat=now - 5)  # records none: the looker's 120 s decide
    with pytest.raises(neps.LiveWorkersError, match=r"older than --stale-after \(120 s\)"):
        live_workers.refuse_if_alive(
            _history(recorded, older_root), 120.0, "clean it", "--stale-after"
        )


@pytest.mark.skipif(presence.this_process() is None, reason="names processes by Linux's boot id")
def test_a_refusal_suggests_waiting_only_for_workers_known_by_their_heartbeat() -> None:
    here = str(presence.this_process())
    local = _running("1", heartbeat=time.time(), metadata={liveness.WORKER_PROCESS: here})
    present = [here.split("/")[1]]
    with presence.working_here("w"), pytest.raises(neps.LiveWorkersError) as refused:
        live_workers.refuse_if_alive(_history(local), 30.0, "clean it", "--stale-after", present)
    assert "still run on this machine" in str(refused.value)
    assert "wait until" not in str(refused.value)
    remote = _running("2", heartbeat=time.time())  # no process recorded: another machine's
    with pytest.raises(neps.LiveWorkersError, match=r"or wait until their heartbeat is older"):
        live_workers.refuse_if_alive(_history(remote), 30.0, "clean it", "--stale-after", present)


def test_trials_are_judged_by_the_stale_after_their_holder_recorded() -> None:
    """A looker's shorter stale_after took long-silent holders for dead: for clean, migrate,
    an overwrite and a worker waiting for results, as for recovery."""
    now, recorded = time.time(), {"stale_after": 3600.0}
    remote = _running("1", heartbeat=now - 600, metadata=recorded)  # another machine's client
    older_root = _running("2", heartbeat=now - 600)  # records none: the looker's 30 s decide
    recovered = recover_stale_trials(
        _history(remote, older_root), now=now, stale_after=30.0, max_attempts=3
    )
    assert [t.id for t in recovered] == ["2"]
    with pytest.raises(neps.LiveWorkersError, match=r"their workers' stale_after \(3600 s\)"):
        live_workers.refuse_if_alive(_history(remote), 30.0, "clean it", "--stale-after")
    run_worker = attrs.evolve(remote, metadata={**recorded, liveness.WORKER_PROCESS: "elsewhere"})
    assert evaluated_by_a_worker(run_worker, stale_after=30.0)  # its result is waited for


def test_recovery_crashes_a_trial_out_of_attempts() -> None:
    history = _history(_running("1", heartbeat=0.0, attempts=3))
    (crashed,) = recover_stale_trials(history, now=100.0, stale_after=30.0, max_attempts=3)
    assert crashed.state is TrialState.CRASHED
    assert crashed.report is not None and "attempt 3 of 3" in (crashed.report.error or "")


def test_stale_after_must_exceed_the_heartbeat_interval(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stale_after"):
        neps.run(
            lambda x: x,
            {"x": neps.Float(0, 1)},
            root_directory=tmp_path / "run",
            heartbeat_interval=5,
            stale_after=1,
        )


@pytest.mark.slow
def test_an_interrupted_worker_gives_its_trial_back_at_once(tmp_path: Path) -> None:
    # Ctrl-C left the trial EVALUATING until stale_after ran out.
    root = tmp_path / "run"
    worker = _start_worker(tmp_path, root, SLOW="1")
    _wait_for(root / "configs" / "config_1" / "started", worker)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=60) != 0  # the KeyboardInterrupt still reaches the user
    assert b"KeyboardInterrupt" in worker.stderr.read()  # type: ignore[union-attr]
    with open_storage(root, None, load_plugins()) as storage:
        trial = storage.sync()["1"]
    assert trial.state is TrialState.PENDING and trial.worker_id is None
    assert trial.attempts == 0  # an interrupted attempt is not the trial's fault
    assert "KeyboardInterrupt" in trial.metadata["requeued_because"]

    neps.run(lambda x: x, root_directory=root, evaluations_to_spend=3)
    assert neps.status(root).counts["success"] == 3
    assert "attempts: 1" in (root / "configs" / "config_1" / "metadata.yaml").read_text()


class _StopWithBrokenRepr(BaseException):
    def __repr__(self) -> str:
        raise RuntimeError("repr boom")


def test_a_stopping_exception_whose_repr_raises_still_reaches_the_user(tmp_path: Path) -> None:
    # Naming the exception in the give-back reason raised the RuntimeError of its __repr__,
    # which replaced the user's exception and left the trial EVALUATING until stale_after.
    def evaluate(x: float) -> float:
        raise _StopWithBrokenRepr

    root = tmp_path / "run"
    with pytest.raises(_StopWithBrokenRepr):
        neps.run(evaluate, {"x": neps.Float(0, 1)}, root_directory=root, evaluations_to_spend=2)
    [trial] = neps.status(root).trials
    assert trial.state is TrialState.PENDING
    assert "_StopWithBrokenRepr object whose repr() fails" in trial.metadata["requeued_because"]


@pytest.mark.slow
@pytest.mark.skipif(presence.this_process() is None, reason="names processes by Linux's boot id")
def test_overwrite_refuses_a_run_with_live_workers(tmp_path: Path) -> None:
    # Deleting the run under a live worker lost its result (disk) or wrote it into the
    # deleted database (sqlite).
    root = tmp_path / "run"

    def overwrite() -> neps.Summary:
        return neps.run(
            lambda x: x,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            overwrite_root_directory=True,
            evaluations_to_spend=1,
        )

    # Its own stale_after judges its heartbeat: generous, as a loaded machine delays it.
    worker = _start_worker(tmp_path, root, SLOW="1", STALE_AFTER="60")
    try:
        _wait_for(root / "configs" / "config_1" / "started", worker)
        with pytest.raises(neps.LiveWorkersError, match=r"Refusing to overwrite .*trial 1"):
            overwrite()
        assert (root / "configs" / "config_1" / "started").exists()  # nothing was deleted
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=60)
    summary = overwrite()  # a killed worker of this machine is gone at once, whatever its beat
    assert summary.budget.used_evaluations == 1
    assert not (root / "configs" / "config_1" / "started").exists()


def test_a_heartbeat_that_cannot_open_the_storage_tries_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A failed first open ended the heartbeat thread: the worker's trials got no heartbeat
    # and were re-queued by other workers as if it had died.
    root = tmp_path / "run"
    neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=1)
    storage = open_storage(root, None, load_plugins())
    storage.transact(lambda history: [_running("1", 0.0)])
    opened: list[int] = []

    def open_after_a_failure() -> object:
        opened.append(1)
        if len(opened) == 1:
            raise OSError("the file system hiccups")
        return open_storage(root, None, load_plugins())

    heartbeat = Heartbeat(open_after_a_failure, root, "w", 0.05, running=lambda: {"1"})
    with caplog.at_level("ERROR", logger="neps_core"), heartbeat:
        deadline = time.monotonic() + 30
        while storage.sync()["1"].last_heartbeat == 0.0:
            assert time.monotonic() < deadline, "no heartbeat after the failed open"
            time.sleep(0.05)
    storage.close()
    assert "could not open the storage" in caplog.text


def test_a_worker_id_two_run_calls_share_works_until_both_end() -> None:
    """Two run() calls of one process (threads) given the same worker_id: the first to end
    must not make the other's trials look abandoned (and so re-queued while it evaluates)."""
    with presence.working_here("shared"):
        with presence.working_here("shared"):
            assert presence.works_here("shared")
        assert presence.works_here("shared")
    assert not presence.works_here("shared")
    assert not presence.works_here(None)


def test_a_retry_under_its_worker_id_takes_back_the_ended_calls_trial_but_not_a_threads() -> None:
    """A run() given the worker_id of an ended call of this process: a trial of that id it
    does not hold is the ended call's, at once; while another thread's run() works under
    the same id, either may hold it, so it is kept (its heartbeat decides)."""
    me = presence.this_process()
    if me is None:
        pytest.skip("a process is told by /proc")
    history = _history(
        _running("1", heartbeat=99.0, metadata={liveness.WORKER_PROCESS: me}),
        _running("2", heartbeat=99.0, metadata={liveness.WORKER_PROCESS: me}),
    )

    def recovered(**asker: Any) -> list[str]:
        found = liveness.recover_gone_workers(history, list, now=100.0, max_attempts=3, **asker)
        return [trial.id for trial in found]

    with presence.working_here("w"):  # the retry itself, holding trial 2
        assert recovered(looker="w", held={"2"}) == ["1"]
        assert recovered() == []  # asked by no run() under that id (an AskAndTell client)
        with presence.working_here("w"):  # another thread's run(), under the same id
            assert recovered(looker="w", held={"2"}) == []
