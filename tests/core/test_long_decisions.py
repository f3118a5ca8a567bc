"""A long decision (a model fit on many trials) holds the run's lock: what it must not break."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import attrs

import neps_core as neps
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage

#: A client whose second ask holds the run's lock past its trials' ``stale_after``, as a
#: Bayesian optimization fit on a thousand trials does (minutes against the default 120 s).
SLOW_CLIENT = """
import pathlib, sys, time
import neps_core as neps
from neps_core.interfaces import Optimizer

STALE_AFTER = 1.0

class SlowAsk(Optimizer):
    name = "test_slow_ask"

    def ask(self, trials, budget, n):
        if trials:  # the first trial is in flight: its heartbeat waits for this decision
            pathlib.Path("asking").touch()
            beat = trials["1"].last_heartbeat
            while time.time() - beat < 1.5 * STALE_AFTER or not pathlib.Path("go_on").exists():
                time.sleep(0.0005)
        return [neps.Proposal({"x": len(trials) / 10})]

class Plugin:
    @neps.hookimpl
    def neps_register_optimizers(self):
        return [SlowAsk]

client = neps.AskAndTell({"x": neps.Float(0.0, 1.0)}, sys.argv[1], optimizer="test_slow_ask",
                         plugins=[Plugin()], worker_id="A", heartbeat_interval=0.1,
                         stale_after=STALE_AFTER)
held = client.ask()
second = client.ask()
while not pathlib.Path("other_asked").exists():  # both in flight meanwhile
    time.sleep(0.01)
client.tell(held, 0.5)  # refused had the trial been re-queued and told by another
client.tell(second, 0.6)
client.close()
"""


def test_a_clients_long_ask_does_not_make_its_trials_in_flight_look_dead(tmp_path: Path) -> None:
    """Its heartbeat thread waited for the lock its own ask held; the next client to take the
    lock found the trial silent, re-queued and evaluated it again (TrialAlreadyReportedError)."""
    root = tmp_path / "run"
    (tmp_path / "slow_client.py").write_text(SLOW_CLIENT, encoding="utf-8")
    other = neps.AskAndTell(  # made first: making it takes the lock
        {"x": neps.Float(0.0, 1.0)},
        root,
        optimizer="random_search",
        worker_id="B",
        heartbeat_interval=0.1,
        stale_after=1.0,
    )
    slow = subprocess.Popen(
        [sys.executable, "slow_client.py", str(root)], cwd=tmp_path, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "asking").exists():  # the slow ask holds the lock now
            assert slow.poll() is None, slow.communicate()[1].decode()
            assert time.monotonic() < deadline, "the slow client never asked twice"
            time.sleep(0.01)
        asked: list[neps.AskedTrial | None] = []
        waiting = threading.Thread(target=lambda: asked.append(other.ask()))
        waiting.start()  # waits for the lock, competing with the slow client's heartbeat
        (tmp_path / "go_on").touch()
        waiting.join(timeout=120)
        assert asked and asked[0] is not None
        assert asked[0].id == "3"  # not "1" nor "2", which A still evaluates
        other.tell(asked[0], 0.7)
    finally:
        (tmp_path / "go_on").touch()
        (tmp_path / "other_asked").touch()
        _, errors = slow.communicate(timeout=120)
        other.close()
    assert slow.returncode == 0, errors.decode()
    assert neps.status(root).counts["success"] == 3


def test_a_clients_own_silent_trial_is_not_requeued_by_its_next_ask(tmp_path: Path) -> None:
    """Another client's long ask starved this one's heartbeat thread; this client's next ask
    took the lock first, re-queued its own live trial and handed it to itself again."""
    root = tmp_path / "run"
    with neps.AskAndTell(
        {"x": neps.Float(0.0, 1.0)}, root, optimizer="random_search", heartbeat_interval=50
    ) as client:
        held = client.ask()
        assert held is not None
        storage = open_storage(root, None, load_plugins())
        starved = time.time() - 600  # as silent as a heartbeat that waited for a long ask
        storage.transact(lambda history: [attrs.evolve(history["1"], last_heartbeat=starved)])
        storage.close()
        again = client.ask()
        assert again is not None and again.id == "2"
        client.tell(held, 0.5)  # still its own: not re-queued


def _first_outlives_a_starved_heartbeat(x: float, pipeline_id: str, root_directory: str) -> float:
    """Trial 2 makes trial 1 look silent; trial 1 runs on until the worker sampled again."""
    root = Path(root_directory)
    if pipeline_id == "2":
        storage = open_storage(root, None, load_plugins())
        starved = time.time() - 600
        storage.transact(lambda history: [attrs.evolve(history["1"], last_heartbeat=starved)])
        storage.close()
        (root / "aged").touch()
    while pipeline_id == "1":
        trials = {trial.id: trial for trial in neps.status(root).trials}
        if (root / "aged").exists() and ("3" in trials or trials["1"].attempts > 1):
            break
        time.sleep(0.01)
    return x


def test_a_run_workers_own_silent_trial_in_flight_is_not_requeued(tmp_path: Path) -> None:
    """A run() worker re-queued its own trial in flight, silent as a heartbeat starved by
    another's long ask, at its next sample (recover_stale_trials takes this process's trials
    for an ended run()'s) and evaluated it twice at once."""
    root = tmp_path / "run"
    neps.run(
        _first_outlives_a_starved_heartbeat,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=3,
        heartbeat_interval=50,
        evaluator={"name": "process_pool", "n_workers": 2, "start_method": "fork"},
    )
    trials = {trial.id: trial for trial in neps.status(root).trials}
    assert trials["1"].attempts == 1
    assert sorted(trials) == ["1", "2", "3"]


def test_a_silent_trial_of_another_run_call_of_this_process_still_working_is_kept(
    tmp_path: Path,
) -> None:
    """Two run() calls of one process (threads): the second took the first's trial, silent as
    a heartbeat starved by a long decision, for an ended run()'s, re-queued it and evaluated
    it again while the first still evaluated it."""
    root, space = tmp_path / "run", {"x": neps.Float(0.0, 1.0)}
    started, release = threading.Event(), threading.Event()
    calls: list[tuple[str, str]] = []

    def evaluate(x: float, pipeline_id: str) -> float:
        calls.append((threading.current_thread().name, pipeline_id))
        if (threading.current_thread().name, pipeline_id) == ("first", "1"):
            started.set()
            release.wait(60)
        return x

    settings = {"root_directory": root, "evaluations_to_spend": 2, "heartbeat_interval": 50}
    first = threading.Thread(
        name="first", target=lambda: neps.run(evaluate, space, worker_id="a", **settings)
    )
    first.start()
    try:
        assert started.wait(60)
        storage = open_storage(root, None, load_plugins())
        starved = time.time() - 600
        storage.transact(lambda history: [attrs.evolve(history["1"], last_heartbeat=starved)])
        storage.close()
        neps.run(evaluate, space, worker_id="b", **settings)
    finally:
        release.set()
        first.join(60)
    assert ("MainThread", "1") not in calls
    assert {t.id: t.attempts for t in neps.status(root).trials} == {"1": 1, "2": 1}
