"""Overwriting a run while other processes work on it (neps_core.presence).

Trial heartbeats only show workers that are evaluating: a worker between two trials, or an
ask-and-tell client between ``ask`` calls, looked absent, and ``overwrite_root_directory``
deleted the run under it. Real processes hold the run here, and are killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from worker_processes import kill_mid_evaluation

import neps_core as neps
from neps_core import presence
from neps_core.errors import NepsCoreError, UnknownPluginError
from neps_core.overwrite import overwrite_run
from neps_core.plugin_manager import load_plugins
from neps_core.presence import WORKERS_LOCK, present_in, present_with_me, processes_present

SPACE = {"x": neps.Float(0.0, 1.0)}

CLIENT = textwrap.dedent(
    """
    import sys
    import neps_core as neps

    client = neps.AskAndTell({"x": neps.Float(0.0, 1.0)}, sys.argv[1], "random_search")
    client.tell(client.ask(), 0.5)
    print("ready", flush=True)
    sys.stdin.readline()  # idle between two asks, evaluating nothing, until told to go on
    client.tell(client.ask(), 0.25)
    client.close()
    """
)

OVERWRITER = textwrap.dedent(
    """
    import sys
    import neps_core as neps

    try:
        neps.run(
            lambda x: x,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=sys.argv[1],
            overwrite_root_directory=True,
            evaluations_to_spend=5,
            optimizer="random_search",
        )
    except neps.LiveWorkersError:
        sys.exit(3)
    """
)


def _overwrite(root: Path) -> neps.Summary:
    return neps.run(
        lambda x: x,
        SPACE,
        root_directory=root,
        overwrite_root_directory=True,
        evaluations_to_spend=2,
        optimizer="random_search",
    )


def _start_idle_client(root: Path) -> subprocess.Popen[str]:
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None and client.stdout.readline() == "ready\n", client.stderr
    return client


def test_overwrite_is_refused_while_a_client_is_idle_between_two_trials(root: Path) -> None:
    client = _start_idle_client(root)
    try:
        assert neps.status(root).counts["evaluating"] == 0  # no heartbeat shows the client
        with pytest.raises(neps.LiveWorkersError, match="another process is working on the run"):
            _overwrite(root)
        client.communicate("go on\n", timeout=60)
        assert client.returncode == 0, client.stderr
    finally:
        client.kill()
    assert neps.status(root).counts["success"] == 2  # the client's run survived, continued
    assert _overwrite(root).counts["success"] == 2  # the client is gone: overwriting works
    assert {t.objective for t in neps.status(root).trials}.isdisjoint({0.5, 0.25})


def test_a_killed_client_does_not_block_an_overwrite(root: Path) -> None:
    client = _start_idle_client(root)
    os.kill(client.pid, signal.SIGKILL)
    client.wait(timeout=60)
    assert _overwrite(root).counts["success"] == 2


KILLED_WORKER = """
import sys, time
import neps_core as neps

def evaluate(x, pipeline_directory):
    (pipeline_directory / "started").write_text("yes")
    time.sleep(600)

neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1], evaluations_to_spend=3)
"""


def test_a_worker_killed_mid_evaluation_does_not_block_an_overwrite(root: Path) -> None:
    """Its trial's heartbeat was fresh, so the overwrite called it live for stale_after."""
    kill_mid_evaluation(KILLED_WORKER, [str(root)], root, "configs/*/started")
    assert neps.status(root).counts["evaluating"] == 1
    assert _overwrite(root).counts["success"] == 2


@pytest.mark.slow
def test_workers_started_together_with_overwrite_make_one_run_or_are_refused(
    root: Path,
) -> None:
    """A job array whose every task passes overwrite_root_directory=True."""
    _overwrite(root)  # the old run, to be deleted
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", OVERWRITER, str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [(w.wait(timeout=120), w.stderr.read()) for w in workers]  # type: ignore[union-attr]
    assert all(code in (0, 3) for code, _ in outcomes), outcomes  # no raw OSError
    assert any(code == 0 for code, _ in outcomes)
    status = neps.status(root)
    assert status.counts["success"] == 5 and len(status.trials) == 5


def test_a_second_overwrite_is_refused_while_the_first_is_deleting(root: Path) -> None:
    """The lock file outlives the overwrite: a newcomer cannot lock a fresh one meanwhile.

    When the overwrite deleted the lock file with the run, a worker arriving between the
    deletion and the new run created a new lock file, got it exclusively at once, and
    deleted the run in parallel (a raw ``FileNotFoundError`` out of ``shutil.rmtree``).
    """
    _overwrite(root)
    newcomer: list[subprocess.CompletedProcess[str]] = []

    def overwrite_with_a_newcomer(*, erase: bool = True, alone: bool = False) -> None:
        overwrite_run(root, load_plugins(), stale_after=60.0, erase=erase, alone=alone)
        newcomer.append(
            subprocess.run(
                [sys.executable, "-c", OVERWRITER, str(root)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        )

    with present_in(root, overwrite=overwrite_with_a_newcomer):
        pass
    assert newcomer[0].returncode == 3, newcomer[0].stderr  # refused, not run alongside


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads Linux's lock table")
def test_present_with_me_names_every_present_process_and_forgets_the_killed(root: Path) -> None:
    me = str(os.getpid())
    assert present_with_me(root) is None  # not present at all: nothing can be vouched for
    with present_in(root):
        assert present_with_me(root) == [me]
        with present_in(root):  # a second presence in this process
            assert present_with_me(root) == [me, me]
        client = _start_idle_client(root)
        try:
            assert sorted(present_with_me(root) or []) == sorted([me, str(client.pid)])
        finally:
            client.kill()
            client.wait(timeout=60)
        assert present_with_me(root) == [me]  # the killed client's lock went with it


LOOKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from neps_core.presence import processes_present

    print("looking", flush=True)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # as clean, status and migrate look
        assert processes_present(Path(sys.argv[1])) == []
    """
)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads Linux's lock table")
def test_processes_looking_at_a_run_never_see_each_other_as_present(root: Path) -> None:
    # Each looked with a shared flock: two migrate of one run each refused the other.
    neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=1)
    looker = subprocess.Popen(
        [sys.executable, "-c", LOOKER, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert looker.stdout is not None and looker.stdout.readline() == "looking\n"
        seen = {pid for _ in range(300) for pid in processes_present(root) or []}
        assert seen == set()
    finally:
        assert looker.wait(timeout=60) == 0
    with present_in(root):  # a process present is still seen
        assert processes_present(root) == [str(os.getpid())]


def test_a_refused_new_run_leaves_no_lock_file(tmp_path: Path) -> None:
    root = tmp_path / "new"
    with pytest.raises(UnknownPluginError, match="no_such_optimizer"):
        neps.run(lambda x: x, SPACE, root_directory=root, optimizer="no_such_optimizer")
    assert not root.exists()


def test_a_refused_start_in_another_tools_folder_leaves_it_as_it_was(tmp_path: Path) -> None:
    """.neps_core/workers.lock stayed behind among the other tool's files."""
    foreign = tmp_path / "foreign"
    (foreign / "configs").mkdir(parents=True)
    (foreign / "results.csv").write_text("x,y\n", encoding="utf-8")
    with pytest.raises(NepsCoreError, match="pipeline_space is required"):
        neps.run(lambda x: x, root_directory=foreign, evaluations_to_spend=1)
    with pytest.raises(NepsCoreError, match="pipeline_space is required"):
        neps.AskAndTell(root_directory=foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["configs", "results.csv"]


def test_the_lock_file_is_where_the_docs_say(root: Path) -> None:
    neps.run(lambda x: x, SPACE, root_directory=root, evaluations_to_spend=1)
    assert (root / WORKERS_LOCK).is_file()
    assert WORKERS_LOCK.as_posix() == ".neps_core/workers.lock"


def test_a_machine_is_a_kernel_and_a_pid_namespace() -> None:
    # Containers under one kernel share its boot id but not their pids or the locks listed in
    # /proc/locks: a worker in another container was taken for gone at once ("no other
    # process works on the run") while it evaluated, and its trial was evaluated twice.
    namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]")
    machine = presence.this_machine()
    assert machine is not None and machine.endswith(f".{namespace}")
    assert str(presence.this_process()).startswith(f"{machine}/{os.getpid()}/")
