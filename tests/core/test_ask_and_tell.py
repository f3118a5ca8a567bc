"""Ask-and-tell clients: the same sampling, result contract and cooperation as run()'s workers."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
from worker_processes import suspend

import neps_core as neps
from neps_core.client_settings import RUN_ONLY_SETTINGS
from neps_core.config import DEFAULT_STALE_AFTER
from neps_core.errors import (
    MissingCostError,
    ObjectiveCountError,
    TrialAlreadyReportedError,
    TrialNotFoundError,
)
from neps_core.models import Trial, TrialState
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage
from neps_core.sampler import TrialSampler

SPACE = {"x": neps.Float(0.0, 1.0), "depth": neps.Integer(1, 3)}


def test_ask_and_tell_until_the_budget_is_used(root: Path) -> None:
    with neps.AskAndTell(SPACE, root, optimizer="random_search", evaluations_to_spend=4) as client:
        asked = []
        while (trial := client.ask()) is not None:
            assert trial.pipeline_directory == root / "configs" / f"config_{trial.id}"
            assert trial.pipeline_directory.is_dir()
            assert trial.previous_pipeline_directory is None
            assert set(trial.config) == {"x", "depth"}
            stored = client.tell(trial, {"objective_to_minimize": trial.config["x"], "extra": 1})
            assert stored.state is neps.TrialState.SUCCESS
            asked.append(trial)
        assert client.stop_reason == "budget evaluations_to_spend used up"
    assert [t.id for t in asked] == ["1", "2", "3", "4"]
    status = neps.status(root)
    assert status.counts["success"] == 4
    assert status.best_objective == min(t.config["x"] for t in asked)
    for trial in asked:
        assert neps.load_config(root, trial.id) == dict(trial.config)
    assert (root / "summary.yaml").is_file()  # written on close, as run() does


def test_the_same_optimizer_decisions_as_run(tmp_path: Path) -> None:
    run_root, client_root = tmp_path / "run", tmp_path / "client"
    neps.run(
        lambda x, depth: x,
        SPACE,
        root_directory=run_root,
        evaluations_to_spend=5,
        seed=7,
        optimizer="random_search",
    )
    configs = []
    with neps.AskAndTell(
        SPACE, client_root, "random_search", evaluations_to_spend=5, seed=7
    ) as client:
        while (trial := client.ask()) is not None:
            configs.append(dict(trial.config))
            client.tell(trial, trial.config["x"])
    assert configs == [neps.load_config(run_root, i) for i in range(1, 6)]


def test_tell_accepts_ids_in_every_form_and_from_another_client(root: Path) -> None:
    first = neps.AskAndTell(SPACE, root, evaluations_to_spend=3)
    trials = [first.ask() for _ in range(3)]
    assert all(t is not None for t in trials)
    second = neps.AskAndTell(root_directory=root, evaluations_to_spend=3)  # space from the run
    second.tell(trials[0].id, 0.1)  # type: ignore[union-attr]
    second.tell(int(trials[1].id), 0.2)  # type: ignore[union-attr]
    first.tell(f"config_{trials[2].id}", 0.3)  # type: ignore[union-attr]
    assert second.ask() is None
    second.close()
    summary = first.close()
    assert summary.counts["success"] == 3
    assert summary.best_objective == 0.1


def test_a_trial_asked_in_another_run_is_refused(tmp_path: Path) -> None:
    # Root B's trial 1 took the score measured for root A's trial 1, silently.
    with (
        neps.AskAndTell(SPACE, tmp_path / "a", seed=1) as a,
        neps.AskAndTell(SPACE, tmp_path / "b", seed=2) as b,
    ):
        asked_in_a, asked_in_b = a.ask(), b.ask()
        assert asked_in_a is not None and asked_in_b is not None
        for given in (asked_in_a, asked_in_a.trial):
            with pytest.raises(ValueError, match=r"trial '1' was asked in another run"):
                b.tell(given, 0.5)
        assert neps.status(tmp_path / "b").counts["evaluating"] == 1  # nothing was recorded
        b.tell(asked_in_b, 0.25)  # its own trial, as an object, is told as before
        a.tell(asked_in_a.trial, 0.75)
    # With one seed both runs draw the same configuration for trial 1: it was taken as B's.
    with (
        neps.AskAndTell(SPACE, tmp_path / "c", seed=3) as c,
        neps.AskAndTell(SPACE, tmp_path / "d", seed=3) as d,
    ):
        asked_in_c, asked_in_d = c.ask(), d.ask()
        assert asked_in_c is not None and asked_in_d is not None
        assert asked_in_c.config == asked_in_d.config
        with pytest.raises(ValueError, match=r"trial '1' was asked in another run"):
            d.tell(asked_in_c, 0.5)
        d.tell(asked_in_d, 0.25)
        c.tell(asked_in_c, 0.75)


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_changing_what_ask_and_tell_hand_out_changes_nothing_stored(
    root: Path, storage: str
) -> None:
    """``kwargs = asked.trial.config; kwargs.pop("epochs")`` changed the client's history: the
    trial was stored without its fidelity, and hyperband promoted the changed configuration."""
    space = {"epochs": neps.IntegerFidelity(1, 9), "x": neps.Float(0.0, 1.0)}
    with neps.AskAndTell(space, root, optimizer="hyperband", storage=storage, seed=0) as client:
        first_rung = client.ask(n=9)
        asked = {trial.id: dict(trial.config) for trial in first_rung}
        for trial in first_rung:
            kwargs = trial.trial.config
            epochs = kwargs.pop("epochs")  # type: ignore[attr-defined]
            kwargs["x"] = 0.5  # type: ignore[index]
            told = client.tell(trial, kwargs["x"] * epochs)  # still this run's trial
            told.config["x"] = -1.0  # type: ignore[index]
            told.report.extra["seen"] = True  # type: ignore[index, union-attr]
        custom = client.tell_custom(config={"epochs": 1, "x": 0.25}, result=0.9)
        custom.config.pop("epochs")  # type: ignore[attr-defined]
        promoted = client.ask(n=3)
        assert all(trial.trial.previous_trial_id in asked for trial in promoted)
        for trial in promoted:
            earlier = asked[trial.trial.previous_trial_id]  # type: ignore[index]
            assert dict(trial.config) == {**earlier, "epochs": 3}
            client.tell(trial, 0.1)
    stored = {trial.id: trial for trial in neps.status(root).trials}  # as written
    assert {i: dict(stored[i].config) for i in asked} == asked
    assert all(stored[i].report.extra == {} for i in asked)  # type: ignore[union-attr]
    assert dict(stored[custom.id].config) == {"epochs": 1, "x": 0.25}


def test_the_trial_an_objective_count_error_carries_is_the_callers(root: Path) -> None:
    client = neps.AskAndTell(SPACE, root, "random_search")
    client.tell(client.ask(), {"objective_to_minimize": [0.1, 0.2]})  # type: ignore[arg-type]
    one = client.ask()
    assert one is not None
    with pytest.raises(ObjectiveCountError) as refused:
        client.tell(one, 0.3)
    assert refused.value.trial is not None
    refused.value.trial.config.clear()  # type: ignore[attr-defined]
    in_the_client = {trial.id: trial for trial in client.close().trials}  # its own history
    assert dict(in_the_client[one.id].config) == dict(_stored(root, one.id).config) != {}


def test_failures_follow_the_result_contract(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = neps.AskAndTell(SPACE, root, cost_to_spend=100.0)
    raised = client.ask()
    assert raised is not None
    try:
        raise RuntimeError("out of memory")
    except RuntimeError as error:
        stored = client.tell(raised, error)  # the caller reports it; tell does not re-raise
    assert stored.state is neps.TrialState.FAILED
    assert stored.report.error == "RuntimeError: out of memory"
    assert "raise RuntimeError" in stored.report.traceback
    assert (stored.report.err, stored.report.tb) == (stored.report.error, stored.report.traceback)

    wrong_type = client.ask()
    with pytest.raises(TypeError, match=r"tell\(\) must be .* a dict, an exception, got set"):
        client.tell(wrong_type, {1.0, 2.0})
    assert neps.status(root).counts["failed"] == 2

    two = client.ask()
    client.tell(two, {"objective_to_minimize": [0.1, 0.2], "cost": 1.0})
    one = client.ask()
    with pytest.raises(ObjectiveCountError, match="but trial"):
        client.tell(one, {"objective_to_minimize": 0.3, "cost": 1.0})
    assert neps.status(root).counts["failed"] == 3

    no_cost = client.ask()
    with pytest.raises(MissingCostError, match=r"so the result given to tell\(\) must be a dict"):
        client.tell(no_cost, 0.5)
    reason = client.ask()
    assert client.tell(reason, "F_out_of_memory").report.error == "F_out_of_memory"

    with pytest.raises(TrialAlreadyReportedError):
        client.tell(reason, {"objective_to_minimize": 1.0, "cost": 1.0})
    caplog.clear()
    with caplog.at_level("WARNING", logger="neps_core"), pytest.raises(TrialAlreadyReportedError):
        client.tell(reason, RuntimeError("late"))
    assert "failed" not in caplog.text  # refused before the exception was logged as a failure
    with pytest.raises(TrialNotFoundError):
        client.tell("999", 1.0)
    with pytest.raises(TypeError, match=r"tell\(None, \.\.\.\): no trial to tell; ask\(\)"):
        client.tell(None, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="None is not one"):
        client.tell(client.ask(), None)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.ask()


def test_max_evaluations_per_run_bounds_one_client(root: Path) -> None:
    with neps.AskAndTell(SPACE, root, max_evaluations_per_run=2) as client:
        for _ in range(2):
            client.tell(client.ask(), 1.0)
        assert client.ask() is None
        assert client.stop_reason == "max_evaluations_per_run reached"


def test_overwrite_root_directory_starts_a_new_run_as_run_does(root: Path) -> None:
    # It was accepted and ignored: the old run went on (with another space, refused with the
    # advice to pass overwrite_root_directory=True).
    with neps.AskAndTell(SPACE, root, optimizer="random_search", evaluations_to_spend=2) as client:
        while (trial := client.ask()) is not None:
            client.tell(trial, 0.5)
    other = {"y": neps.Float(0.0, 1.0)}
    with pytest.raises(neps.NepsCoreError):  # checked before the old run is deleted
        neps.AskAndTell(other, root, optimizer="no_such_optimizer", overwrite_root_directory=True)
    assert neps.status(root).counts["success"] == 2
    with neps.AskAndTell(other, root, "random_search", overwrite_root_directory=True) as client:
        assert neps.status(root).counts["success"] == 0
        trial = client.ask()
        assert trial is not None and trial.id == "1" and set(trial.config) == {"y"}
        with pytest.raises(neps.LiveWorkersError):  # refused while a client is present
            neps.AskAndTell(other, root, overwrite_root_directory=True)
        client.tell(trial, 0.25)
    assert neps.status(root).counts["success"] == 1


FIDELITY_SPACE = {"x": neps.Float(0.0, 1.0), "epochs": neps.Integer(1, 9, is_fidelity=True)}


def _told_until_none(client: neps.AskAndTell) -> int:
    told = 0
    while (trial := client.ask()) is not None and told < 10:
        client.tell(trial, {"objective_to_minimize": trial.config["x"], "cost": 3.0})
        told += 1
    return told


@pytest.mark.parametrize("limit", [{"max_cost_per_run": 5.0}, {"max_fidelities_per_run": 10.0}])
def test_per_run_cost_and_fidelity_limits_bound_one_client_as_they_bound_run(
    tmp_path: Path, limit: dict[str, float]
) -> None:
    # Both were accepted and ignored: the client went on asking.
    summary = neps.run(
        lambda x, epochs: {"objective_to_minimize": x, "cost": 3.0},
        FIDELITY_SPACE,
        root_directory=tmp_path / "run",
        optimizer="random_search",  # proposes the highest fidelity, 9
        **limit,
    )
    with neps.AskAndTell(FIDELITY_SPACE, tmp_path / "client", "random_search", **limit) as client:
        assert _told_until_none(client) == summary.budget.used_evaluations == 2
        assert client.stop_reason == f"{next(iter(limit))} reached"


def test_under_max_cost_per_run_ask_waits_for_the_first_cost_like_a_worker(root: Path) -> None:
    with neps.AskAndTell(FIDELITY_SPACE, root, "random_search", max_cost_per_run=4.0) as client:
        first = client.ask()
        assert first is not None and client.ask() is None  # its cost decides what else fits
        assert client.stop_reason is not None
        assert client.stop_reason.startswith("waiting for the result of trial(s) 1:")
        collector = neps.AskAndTell(root_directory=root)  # told elsewhere: still this client's
        collector.tell(first.id, {"objective_to_minimize": 0.5, "cost": 1.0})
        collector.close()
        assert len(client.ask(n=5)) == 3  # as many as fit beside each other: 3 x 1.0 more
        assert client.stop_reason is not None and "trial(s) 2, 3, 4:" in client.stop_reason


def test_under_max_cost_per_run_costs_reported_before_the_client_let_trials_start_together(
    root: Path,
) -> None:
    # As the docs say: the run's costs are what a trial's cost is estimated from, not only
    # those of the client's own trials.
    with neps.AskAndTell(SPACE, root, "random_search") as earlier:
        earlier.tell(earlier.ask(), {"objective_to_minimize": 0.5, "cost": 1.0})
    with neps.AskAndTell(root_directory=root, max_cost_per_run=10.0) as client:
        assert client.ask() is not None and client.ask() is not None
        assert client.stop_reason is None


def test_ask_n_passes_max_cost_per_run_by_its_last_trial_only(root: Path) -> None:
    # Once the first trial reported 1, ask(n=100) handed out 39 trials, each taken to cost
    # 1, hyperband's 3 and 9 too (its cost grows with the fidelity): 108 spent against 40.
    with neps.AskAndTell(FIDELITY_SPACE, root, "hyperband", max_cost_per_run=40.0) as client:
        first = client.ask()
        assert first is not None and first.config["epochs"] == 1
        client.tell(first, {"objective_to_minimize": 0.5, "cost": 1.0})
        asked = client.ask(n=100)
        costs = [1.0, *(float(trial.config["epochs"]) for trial in asked)]
        assert sum(costs[:-1]) < 40.0 <= sum(costs), costs
        for trial in asked:
            client.tell(trial, {"objective_to_minimize": 0.5, "cost": trial.config["epochs"]})
        assert client.ask() is None and client.stop_reason == "max_cost_per_run reached"


@pytest.mark.parametrize("setting", [*RUN_ONLY_SETTINGS, "run_pipeline"])
def test_settings_only_run_uses_are_refused_by_name(root: Path, setting: str) -> None:
    # They were accepted and did nothing.
    value = {"evaluate_pipeline": print, "run_pipeline": print, "evaluator": "sync"}.get(setting)
    with pytest.raises(neps.SettingsError, match=f"AskAndTell does not take {setting}= \\("):
        neps.AskAndTell(SPACE, root, **{setting: True if value is None else value})
    assert not root.exists()


def test_a_new_run_needs_a_space_and_the_refusal_writes_nothing(root: Path) -> None:
    with pytest.raises(neps.SettingsError, match="pipeline_space is required"):
        neps.AskAndTell(root_directory=root)
    with pytest.raises(neps.SettingsError, match="pipeline_space is required"):
        neps.AskAndTell(root_directory=root, storage=f"sqlite:///{root.parent / 'x.db'}")
    assert not root.exists() and not (root.parent / "x.db").exists()
    with neps.AskAndTell(SPACE, root, storage="sqlite") as client:  # free to choose storage
        client.tell(client.ask(), 1.0)
    assert neps.status(root).counts["success"] == 1


def test_a_client_dropped_unclosed_keeps_its_trials_while_the_process_lives(root: Path) -> None:
    """A scheduler asks in a function and tells by id later: giving a dropped client's trials
    back at its collection handed trial 1 out three times (a review of a notebook fix), and so
    did leaving them to be re-queued once stale (a review of its release): its heartbeat
    thread beats them on until they are told (``test_client_state``)."""
    timing = {"heartbeat_interval": 0.05, "stale_after": 1.0}

    def submit() -> str:
        client = neps.AskAndTell(SPACE, root, optimizer="random_search", **timing)
        asked = client.ask()
        assert asked is not None
        return asked.id

    submitted = [submit() for _ in range(3)]
    gc.collect()
    assert submitted == ["1", "2", "3"]
    time.sleep(2 * timing["stale_after"])  # stale by then, had nothing beaten them
    collector = neps.AskAndTell(root_directory=root, evaluations_to_spend=4, **timing)
    fourth = collector.ask()
    assert fourth is not None and fourth.id == "4"
    for trial_id in [*submitted, fourth.id]:
        collector.tell(trial_id, 0.5)
    assert collector.close().counts["success"] == 4


def test_an_overwrite_refused_by_an_open_client_of_this_process_says_so(root: Path) -> None:
    with neps.AskAndTell(SPACE, root) as open_client:
        assert open_client.ask() is not None
        with pytest.raises(neps.LiveWorkersError) as refused:
            neps.AskAndTell(SPACE, root, overwrite_root_directory=True)
        assert f"this very process (pid {os.getpid()})" in str(refused.value)
        assert "close() that client" in str(refused.value)


def test_heartbeats_keep_asked_trials_and_a_dead_clients_trials_are_requeued(root: Path) -> None:
    timing = {"heartbeat_interval": 0.1, "stale_after": 1.0}
    holder = neps.AskAndTell(SPACE, root, evaluations_to_spend=3, **timing)
    held = holder.ask()
    assert held is not None
    time.sleep(1.5)  # longer than stale_after: only the heartbeats keep the trial taken
    other = neps.AskAndTell(root_directory=root, evaluations_to_spend=3, **timing)
    second = other.ask()
    assert second is not None and second.id != held.id
    holder.close()  # stops heartbeating without telling: like a client that died
    time.sleep(1.5)
    requeued = other.ask()
    assert requeued is not None and requeued.id == held.id
    assert requeued.trial.attempts == 2
    other.tell(requeued, 0.5)
    other.tell(second, 0.6)
    assert other.ask() is not None  # the third slot of the budget
    other.close()


class Recorder:
    """Observer hooks see an ask-and-tell client like a worker."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @neps.hookimpl
    def neps_run_started(self, run: Any) -> None:
        self.calls.append(("started", run.worker_id))

    @neps.hookimpl
    def neps_trial_sampled(self, run: Any, trial: neps.Trial) -> None:
        self.calls.append(("sampled", trial.id))

    @neps.hookimpl
    def neps_trial_finished(self, run: Any, trial: neps.Trial, report: neps.Report) -> None:
        self.calls.append(("finished", (trial.id, report.objective_to_minimize)))

    @neps.hookimpl
    def neps_run_finished(self, run: Any, summary: neps.Summary) -> None:
        self.calls.append(("stopped", summary.counts["success"]))


def test_observers_see_the_client(root: Path) -> None:
    recorder = Recorder()
    with neps.AskAndTell(
        SPACE, root, evaluations_to_spend=1, plugins=[recorder], worker_id="client-a"
    ) as client:
        client.tell(client.ask(), 0.25)
    assert recorder.calls == [
        ("started", "client-a"),
        ("sampled", "1"),
        ("finished", ("1", 0.25)),
        ("stopped", 1),
    ]


CLIENT = """
import pathlib, sys, time
import neps_core as neps

root, name, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
space = {"x": neps.Float(0.0, 1.0), "depth": neps.Integer(1, 3)}
with neps.AskAndTell(space, root, optimizer="random_search", evaluations_to_spend=budget,
                     worker_id=name) as client:
    pathlib.Path(f"ready_{name}").touch()
    while not pathlib.Path("go").exists():  # all clients start asking together
        time.sleep(0.01)
    while (trial := client.ask()) is not None:
        time.sleep(0.02)  # a little work, so that the clients interleave
        marker = trial.pipeline_directory / "evaluated_by"
        assert not marker.exists(), f"trial {trial.id} handed out twice"
        marker.write_text(name)
        client.tell(trial, {"objective_to_minimize": trial.config["x"], "cost": 1.0})
"""


@pytest.mark.slow
def test_client_processes_cooperate_like_workers(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    (tmp_path / "client.py").write_text(CLIENT, encoding="utf-8")
    clients = [
        subprocess.Popen(
            [sys.executable, "client.py", str(root), f"client-{i}", "30"],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready_*"))) < len(clients):
        assert all(c.poll() is None for c in clients), "a client exited before the start"
        assert time.monotonic() < deadline, "the clients never got ready"
        time.sleep(0.02)
    (tmp_path / "go").touch()
    for client in clients:
        _, errors = client.communicate(timeout=300)
        assert client.returncode == 0, errors
    status = neps.status(root)
    assert status.counts["success"] == 30
    assert status.budget.used_evaluations == 30
    markers = sorted(root.glob("configs/config_*/evaluated_by"))
    assert len(markers) == 30
    assert {int(p.parent.name.removeprefix("config_")) for p in markers} == set(range(1, 31))
    assert len({p.read_text() for p in markers}) == 3  # the clients really shared the work


#: The client forked children use: ``Pool.map`` passes functions by name, not open files.
_FORKED: dict[str, neps.AskAndTell] = {}


def _ask_and_tell_in_a_forked_child(_: int) -> list[str]:
    client, ids = _FORKED["client"], []
    for _ in range(10):
        trial = client.ask()
        assert trial is not None
        client.tell(trial, trial.config["x"])
        ids.append(trial.id)
    return ids


def test_a_client_forked_into_a_process_pool_works_in_every_child(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Children of a ``fork`` pool got one trial id several times and damaged the journal:
    the disk storage used the lock descriptor it had opened in the parent (the client's
    start opens it). Nothing is asked before the fork: the children get no heartbeat thread."""
    with neps.AskAndTell(SPACE, root, optimizer="random_search") as client:
        monkeypatch.setitem(_FORKED, "client", client)
        with multiprocessing.get_context("fork").Pool(4) as pool:
            outputs = pool.map(_ask_and_tell_in_a_forked_child, range(4))
    ids = [trial_id for lines in outputs for trial_id in lines]
    assert len(set(ids)) == len(ids) == 40
    assert neps.status(root).counts["success"] == 40


def _stored(root: Path, trial_id: str) -> Trial:
    return next(trial for trial in neps.status(root).trials if trial.id == trial_id)


def _heartbeaten_in_a_forked_child(_: int) -> tuple[str, bool]:
    client = _FORKED["client"]
    trial = client.ask()  # the parent's limit of 1 was its own: a child starts over
    assert trial is not None
    claimed, deadline = _stored(client.root_directory, trial.id), time.monotonic() + 30
    while _stored(client.root_directory, trial.id).last_heartbeat == claimed.last_heartbeat:
        if time.monotonic() > deadline:
            return trial.id, False
        time.sleep(0.05)
    client.tell(trial, 0.5)
    return trial.id, True


def test_a_client_forked_after_it_asked_beats_for_its_childrens_trials(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The children copied the parent's started heartbeat without its thread: their trials
    got no heartbeat and were re-queued as lost once ``stale_after`` had passed."""
    with neps.AskAndTell(
        SPACE, root, optimizer="random_search", heartbeat_interval=0.1, max_evaluations_per_run=1
    ) as client:
        parents = client.ask()
        assert parents is not None and client.ask() is None  # its own limit
        monkeypatch.setitem(_FORKED, "client", client)
        with multiprocessing.get_context("fork").Pool(2) as pool:
            outputs = pool.map(_heartbeaten_in_a_forked_child, range(2))
        assert [beaten for _, beaten in outputs] == [True, True]
        assert _stored(root, parents.id).state is TrialState.EVALUATING
        client.tell(parents, 0.1)
    assert neps.status(root).counts["success"] == 3


def _leave_the_forked_client_on_an_error() -> None:
    try:
        with _FORKED["client"]:
            raise ValueError("the child's loop failed")
    except ValueError:
        pass


def test_a_forked_child_leaving_its_client_on_an_error_keeps_the_parents_trials(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child gave back the trial its parent had asked, which was then handed out again."""
    with neps.AskAndTell(SPACE, root, optimizer="random_search") as client:
        parents = client.ask()
        assert parents is not None
        monkeypatch.setitem(_FORKED, "client", client)
        child = multiprocessing.get_context("fork").Process(
            target=_leave_the_forked_client_on_an_error
        )
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert _stored(root, parents.id).state is TrialState.EVALUATING
        following = client.ask()
        assert following is not None and following.id != parents.id
        client.tell(parents, 0.1)
        client.tell(following, 0.2)


@pytest.mark.slow
def test_clients_starting_one_run_at_once_never_see_it_half_made(tmp_path: Path) -> None:
    # A client found budget.yaml of a run another thread had just created, and refused the
    # root as one that lost its storage.yaml (2 of 90 starts).
    errors: list[BaseException] = []

    def start(root: Path) -> None:
        try:
            neps.AskAndTell(SPACE, root, evaluations_to_spend=4).close()
        except BaseException as error:  # reported below, with the root
            errors.append(error)

    for attempt in range(25):
        threads = [
            threading.Thread(target=start, args=(tmp_path / f"run_{attempt}",)) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []


def test_stop_reason_is_cleared_once_ask_gives_a_trial_again(root: Path) -> None:
    waiting = neps.AskAndTell(SPACE, root, optimizer="random_search", evaluations_to_spend=1)
    with (
        pytest.raises(RuntimeError, match="gone"),
        neps.AskAndTell(root_directory=root, evaluations_to_spend=1) as holder,
    ):
        assert holder.ask() is not None
        assert waiting.ask() is None
        assert waiting.stop_reason == (
            "budget evaluations_to_spend used up (1 trial(s) still evaluating; one whose "
            "worker dies is re-queued after stale_after and handed out again)"
        )
        raise RuntimeError("gone")  # gives its trial back
    assert waiting.ask() is not None
    assert waiting.stop_reason is None
    waiting.close()


def test_an_empty_answer_while_own_trials_run_is_a_wait_not_an_end(root: Path) -> None:
    """A grid of two points, both asked: no more now, but not "nothing left" for good."""
    space = {"x": neps.Categorical(("a", "b"))}
    with neps.AskAndTell(space, root, optimizer="grid_search", evaluations_to_spend=4) as client:
        first, second = client.ask(), client.ask()
        assert first is not None and second is not None
        assert client.ask() is None
        assert client.stop_reason is not None
        assert client.stop_reason.startswith(f"waiting for the result of trial(s) {first.id}")
        client.tell(first, 0.1)
        client.tell(second, 0.2)
        assert client.ask() is None
        assert client.stop_reason == "the optimizer has nothing left to propose"


def test_a_result_told_by_another_client_has_its_real_duration(root: Path) -> None:
    submitter = neps.AskAndTell(SPACE, root, evaluations_to_spend=2, worker_id="submitter")
    asked = submitter.ask()
    assert asked is not None
    time.sleep(0.5)
    with neps.AskAndTell(root_directory=root, worker_id="collector") as collector:
        stored = collector.tell(asked.id, 0.3)
    assert stored.report is not None and stored.report.evaluation_duration is not None
    assert stored.report.evaluation_duration >= 0.5  # not 0.0 for "unknown"
    submitter.close()


def test_a_result_told_by_another_client_names_that_client(root: Path) -> None:
    """It was stored under the asker, and the asker's own tell was refused as "from worker
    submitter"; the docs say the first result names the client that told it."""
    submitter = neps.AskAndTell(SPACE, root, "random_search", worker_id="submitter")
    asked = submitter.ask()
    assert asked is not None
    with neps.AskAndTell(root_directory=root, worker_id="collector") as collector:
        assert collector.tell(asked.id, 0.25).worker_id == "collector"
    with pytest.raises(TrialAlreadyReportedError, match="from worker collector"):
        submitter.tell(asked, 0.99)
    submitter.close()
    stored = _stored(root, asked.id)
    assert (stored.worker_id, stored.started_at) == ("collector", asked.trial.started_at)


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_neps_keywords_of_tell_are_checked_before_anything_is_stored(
    root: Path, storage: str
) -> None:
    """A duration "3.2s" was stored; the trial then read back as corrupted, its result lost."""
    with neps.AskAndTell(SPACE, root, evaluations_to_spend=3, storage=storage) as client:
        asked = client.ask()
        assert asked is not None
        for keywords, culprit in (
            ({"evaluation_duration": "3.2s"}, "evaluation_duration"),
            ({"evaluation_duration": -7.0}, "evaluation_duration"),
            ({"evaluation_duration": True}, "evaluation_duration"),
            ({"time_end": float("nan")}, "time_end"),
            ({"traceback_str": 123}, "traceback_str"),
        ):
            with pytest.raises(TypeError, match=f"tell\\(\\): {culprit} must be"):
                client.tell(asked, 0.5, **keywords)
        stored = client.tell(asked, 0.5, evaluation_duration=3, time_end=1.0e9)
    assert stored.state.value == "success"
    counts = {state: n for state, n in neps.status(root).counts.items() if n}
    assert counts == {"success": 1}
    assert neps.status(root).trials[0].report.evaluation_duration == 3  # type: ignore[union-attr]


def test_ctrl_c_inside_ask_gives_back_the_trial_it_claimed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The trial was stored as the client's before ask() returned it: it stayed EVALUATING.
    stored_then_interrupted = TrialSampler.sample

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        stored_then_interrupted(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(TrialSampler, "sample", interrupted)
    with (
        pytest.raises(KeyboardInterrupt),
        neps.AskAndTell(SPACE, root, optimizer="random_search", evaluations_to_spend=3) as client,
    ):
        client.ask()
    counts = neps.status(root).counts
    assert (counts["evaluating"], counts["pending"]) == (0, 1)


def test_leaving_on_an_error_gives_the_untold_trials_back(root: Path) -> None:
    # They stayed EVALUATING until stale_after, counted against the budget meanwhile.
    with (
        pytest.raises(RuntimeError, match="the training crashed"),
        neps.AskAndTell(SPACE, root, evaluations_to_spend=3) as client,
    ):
        told, untold = client.ask(), client.ask()
        assert told is not None and untold is not None
        client.tell(told, 0.5)
        raise RuntimeError("the training crashed")
    with open_storage(root, None, load_plugins()) as storage:
        history = storage.sync()
    assert history[told.id].state is neps.TrialState.SUCCESS
    assert history[untold.id].state is neps.TrialState.PENDING
    assert history[untold.id].attempts == 0
    with neps.AskAndTell(root_directory=root, evaluations_to_spend=3) as other:
        again = other.ask()
        assert again is not None and again.id == untold.id  # the next client gets it at once


def _in_threads(work: Any, count: int = 8) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as error:  # reported by the caller
            errors.append(error)

    threads = [threading.Thread(target=guarded) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_one_client_shared_by_threads(root: Path, storage: str) -> None:
    # With disk storage, threads reading the journal at once parsed half lines ("journal
    # damaged", ~7 of 400 tells) and left trials EVALUATING.
    client = neps.AskAndTell(
        SPACE, root, optimizer="random_search", storage=storage, evaluations_to_spend=400
    )
    told: list[str] = []

    def ask_and_tell() -> None:
        for _ in range(50):
            trial = client.ask()
            assert trial is not None
            told.append(client.tell(trial, trial.config["x"]).id)

    assert _in_threads(ask_and_tell) == []
    assert client.ask() is None
    assert sorted(told, key=int) == [str(i) for i in range(1, 401)]
    assert client.close().counts == {**dict.fromkeys(neps.status(root).counts, 0), "success": 400}


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_threads_sharing_a_client_keep_its_own_limits(root: Path, storage: str) -> None:
    """Each ask checked ``max_evaluations_per_run`` before another thread's ask counted."""
    client = neps.AskAndTell(
        SPACE, root, optimizer="random_search", storage=storage, max_evaluations_per_run=20
    )

    def ask_until_none() -> None:
        while (trial := client.ask()) is not None:
            client.tell(trial, trial.config["x"])

    assert _in_threads(ask_until_none) == []
    assert client.stop_reason == "max_evaluations_per_run reached"
    assert client.close().counts["success"] == 20


LATE_CLIENT = """
import sys
from neps_core import presence

presence._boot_id = lambda: "another-machine"  # its liveness is judged by its heartbeat
import neps_core as neps

client = neps.AskAndTell({"x": neps.Float(0.0, 1.0)}, sys.argv[1], optimizer="random_search",
                         evaluations_to_spend=1, heartbeat_interval=0.1, stale_after=1.0,
                         worker_id="client-A")
print(client.ask().id, flush=True)
sys.stdin.readline()  # suspended meanwhile, then told to go on
client.tell("1", 1.0)
client.close()
"""


def test_a_late_client_telling_first_is_named_as_the_trials_worker(tmp_path: Path) -> None:
    # Its result was stored under the client that took the re-queued trial over, which was
    # then told that it had reported the trial itself.
    root = tmp_path / "run"
    script = tmp_path / "late_client.py"
    script.write_text(LATE_CLIENT)
    late = subprocess.Popen(
        [sys.executable, str(script), str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert late.stdout is not None and late.stdout.readline().strip() == b"1"
        suspend(late, root)
        time.sleep(1.5)  # its heartbeat is older than stale_after
        taker = neps.AskAndTell(
            root_directory=root,
            evaluations_to_spend=1,
            heartbeat_interval=0.1,
            stale_after=1.0,
            worker_id="client-B",
        )
        taken = taker.ask()
        assert taken is not None and taken.id == "1"
    finally:
        os.kill(late.pid, signal.SIGCONT)
    _, errors = late.communicate(b"go on\n", timeout=120)
    assert late.returncode == 0, errors.decode()
    assert _stored(root, "1").worker_id == "client-A"
    with pytest.raises(TrialAlreadyReportedError, match="from worker client-A"):
        taker.tell(taken, 2.0)
    taker.close()


SUBMITTER = """
import sys
import neps_core as neps

client = neps.AskAndTell({"x": neps.Float(0.0, 1.0)}, sys.argv[1], optimizer="random_search",
                         storage=sys.argv[2], stale_after=3600, worker_id="submitter")
print(*(trial.id for trial in client.ask(n=2)))
"""  # and it exits, its trials sent to a cluster


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_clients_trials_are_judged_by_its_own_stale_after_after_it_exits(
    tmp_path: Path, storage: str
) -> None:
    """A client with the default stale_after re-queued, 120 s after its last heartbeat, the
    trials of a client that asked them with stale_after=3600 and exited, as the docs advise."""
    root = tmp_path / "run"
    script = tmp_path / "submitter.py"
    script.write_text(SUBMITTER)
    done = subprocess.run(
        [sys.executable, str(script), str(root), storage], capture_output=True, check=True
    )
    assert done.stdout.split() == [b"1", b"2"]
    submitted = open_storage(root, None, load_plugins())

    def silent_for_ten_minutes(history: Any) -> list[Trial]:
        """Trial 1 as a root from before stale_after was recorded holds it."""
        earlier, old = time.time() - 600, history["1"].metadata
        older_root = {key: value for key, value in old.items() if key != "stale_after"}
        return [
            attrs.evolve(history["1"], last_heartbeat=earlier, metadata=older_root),
            attrs.evolve(history["2"], last_heartbeat=earlier),
        ]

    submitted.transact(silent_for_ten_minutes)
    submitted.close()
    with neps.AskAndTell(root_directory=root, worker_id="looker") as looker:  # the defaults
        requeued = looker.ask()
        assert requeued is not None and requeued.id == "1"  # silent for the looker's 120 s
        fresh = looker.ask()
        assert fresh is not None and fresh.id == "3"  # not the submitter's "2"
        kept = _stored(root, "2")
        assert (kept.state, kept.worker_id) == (TrialState.EVALUATING, "submitter")
        assert kept.metadata["stale_after"] == 3600  # recorded where every process reads it
        assert requeued.trial.metadata["stale_after"] == DEFAULT_STALE_AFTER  # now the looker's
        told = looker.tell("2", 0.5)  # the job's result, told from anywhere
    assert "stale_after" not in told.metadata  # true only while it ran


def test_a_client_made_while_a_child_imports_the_script_names_the_guard(tmp_path: Path) -> None:
    """A spawned child imports the script as ``__mp_main__`` (with ``runpy``, as here): a
    client made at module level would start a session in every child."""
    import runpy

    script = tmp_path / "script.py"
    script.write_text(
        "import neps_core as neps\n"
        f"neps.AskAndTell({{'x': neps.Float(0.0, 1.0)}}, root_directory={str(tmp_path)!r})\n"
    )
    with pytest.raises(RuntimeError, match=r"AskAndTell\(\) was called .* at module level"):
        runpy.run_path(str(script), run_name="__mp_main__")
    assert not (tmp_path / "configs").exists()
