"""Budgets before a trial starts: the cost model, the guard, and the core's check of proposals.

Whatever the optimizer, a trial that would not fit what is left of ``fidelities_to_spend``
or (as estimated) of ``cost_to_spend`` is not started.
"""

from __future__ import annotations

import logging
import os
import runpy
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from worker_processes import suspend

import neps_core as neps
from neps_core.budget import (
    FAILURE_STREAK_LIMIT,
    BudgetGuard,
    CallBudget,
    failure_streak_without_cost,
)
from neps_core.cost_model import CostModel
from neps_core.history import TrialHistory
from neps_core.models import Trial
from neps_core.testing import history_of, make_trial


def _trial(
    trial_id: int,
    epochs: int | None,
    cost: float | None,
    state: str = "success",
    previous: int | None = None,
) -> Trial:
    config: dict[str, Any] = {"x": 0.1 * trial_id}
    if epochs is not None:
        config["epochs"] = epochs
    return make_trial(
        trial_id,
        config,
        state,
        objective=0.5 if state == "success" else None,
        cost=cost if state in ("success", "failed") else None,
        fidelity=epochs,
        previous_trial_id=None if previous is None else str(previous),
    )


# -- the cost model ------------------------------------------------------------------------------
def test_the_cost_model_learns_from_finished_trials() -> None:
    assert CostModel(TrialHistory()).estimate(9, False) == 0.0
    model = CostModel(
        history_of([_trial(1, 1, 1.0), _trial(2, 3, 3.0), _trial(3, 3, 2.0, previous=1)])
    )
    assert model.estimate(3, False) == 3.0
    assert model.estimate(3, True) == 2.0
    assert model.estimate(1, True) == 1.0  # the fresh trial's there, above the promotion's
    assert model.estimate(9, False) == 9.0  # fresh trials' cost per fidelity unit (1)


def test_a_history_keeps_its_cost_model_as_trials_finish() -> None:
    # Every sample under a cost budget rebuilt the model from the whole run: O(n) per trial.
    trials = [_trial(1, 1, 1.0), _trial(2, 3, 3.0), _trial(3, 3, 2.0, previous=1)]
    history = history_of([_trial(1, 1, None, "evaluating")])
    assert history.cost_model.estimate(1, False) == 0.0  # nothing finished yet
    for trial in trials:
        history.put(trial)
    rebuilt = CostModel(history)
    for fidelity, continued in [(1, False), (3, False), (3, True), (9, False), (9, True)]:
        assert history.cost_model.estimate(fidelity, continued) == rebuilt.estimate(
            fidelity, continued
        )
    assert [t.id for t in history.unfinished()] == []
    assert history.lowest_fresh_fidelity == 1  # trial 3 continued: not a fresh start


def test_a_fresh_trial_is_not_estimated_from_the_cheaper_promotions_at_its_fidelity() -> None:
    # Promotions that continue from a checkpoint report the extra epochs only (3 - 1 = 2).
    model = CostModel(
        history_of([_trial(1, 1, 1.0), _trial(2, 1, 1.0), _trial(3, 3, 2.0, previous=1)])
    )
    assert model.estimate(3, True) == 2.0
    assert model.estimate(3, False) == 3.0  # 1 per epoch, as the fresh trials cost


def test_the_estimate_errs_high_when_costs_vary() -> None:
    model = CostModel(history_of([_trial(1, 3, 1.0), _trial(2, 3, 4.0), _trial(3, 3, 2.0)]))
    assert model.estimate(3, False) == 4.0  # the largest seen, not the mean
    assert model.estimate(6, False) == pytest.approx(8.0)  # largest cost per epoch (4/3) * 6


def test_between_the_fidelities_seen_the_estimate_bounds_costs_of_either_curvature() -> None:
    # A fixed cost per trial (5) plus one per epoch: extrapolating the largest cost per epoch
    # (6, from epoch 1) expected a trial at 20 epochs (25) to cost 120; no more than at 27.
    overhead = CostModel(history_of([_trial(1, 1, 6.0), _trial(2, 27, 32.0)]))
    assert overhead.estimate(20, False) == pytest.approx(32.0)
    # Above: the cost per epoch at 27 (the old largest, 6 from epoch 1, gave 324 for 59).
    assert overhead.estimate(54, False) == pytest.approx(32.0 * 2)
    # 3 * sqrt(epochs): the line between 1 and 100 gives 9.5 at 25, which costs 15.
    saturating = CostModel(history_of([_trial(1, 1, 3.0), _trial(2, 100, 30.0)]))
    assert saturating.estimate(25, False) == pytest.approx(30.0)
    # epochs ** 2: 3 per epoch as at 3 epochs gives 18 at 6, which costs 36; the line 45.
    growing = CostModel(history_of([_trial(1, 3, 9.0), _trial(2, 9, 81.0)]))
    assert growing.estimate(6, False) == pytest.approx(45.0)


def test_below_the_lowest_fidelity_seen_the_line_continues_within_bounds() -> None:
    # Extrapolated per epoch (14 / 9), a trial at 1 epoch would cost 1.6, not 6.
    model = CostModel(history_of([_trial(1, 27, 32.0), _trial(2, 9, 14.0)]))
    assert model.estimate(1, False) == pytest.approx(6.0)
    assert model.estimate(3, True) == pytest.approx(8.0)  # no promotion seen: every trial's
    # Cost per epoch growing with the epochs: the line would give less than nothing at 1.
    convex = CostModel(history_of([_trial(1, 3, 9.0), _trial(2, 9, 81.0)]))
    assert convex.estimate(1, False) == pytest.approx(3.0)  # 3 per epoch, as at 3 epochs
    # Costs that barely grow: the line above the lowest's cost is cut there.
    noisy = CostModel(history_of([_trial(1, 3, 9.0), _trial(2, 9, 6.0)]))
    assert noisy.estimate(1, False) == pytest.approx(9.0)


def test_a_kind_is_estimated_from_its_own_fidelities_and_never_below_others_at_the_same() -> None:
    fresh = [_trial(1, 1, 1.0), _trial(2, 9, 9.0)]
    model = CostModel(
        history_of([*fresh, _trial(3, 3, 2.0, previous=1), _trial(4, 9, 6.0, previous=3)])
    )
    assert model.estimate(6, True) == pytest.approx(4.0)  # between promotions' 2 and 6
    assert model.estimate(6, False) == pytest.approx(6.0)  # between fresh trials' 1 and 9
    assert model.estimate(3, False) == pytest.approx(3.0)  # above the promotion's 2 there
    assert model.estimate(1, True) == 1.0  # the fresh trial's there, above the promotions' line


def test_a_failed_trials_cost_only_raises_the_estimate_at_its_fidelity() -> None:
    # A failure at 100 epochs with cost_value_on_error=0 drew the line from (1, 1) to
    # (100, 0): a trial at 50 epochs was expected to cost 0.5.
    model = CostModel(history_of([_trial(1, 1, 1.0), _trial(2, 100, 0.0, "failed")]))
    assert model.estimate(50, False) == pytest.approx(50.0)
    assert model.estimate(100, False) == pytest.approx(100.0)  # not the failure's 0
    model = CostModel(history_of([_trial(1, 1, 1.0), _trial(2, 50, 70.0, "failed")]))
    assert model.estimate(50, False) == pytest.approx(70.0)
    alone = CostModel(history_of([_trial(1, 9, 4.0, "failed")]))
    assert alone.estimate(9, False) == 4.0  # nothing else known
    assert alone.estimate(3, False) == pytest.approx(4.0 / 3)


def test_without_a_fidelity_the_estimate_is_the_largest_cost_seen() -> None:
    history = history_of(
        [_trial(1, None, 2.0), _trial(2, None, 5.0), _trial(3, None, None, "evaluating")]
    )
    assert CostModel(history).estimate(None, False) == 5.0
    guard = BudgetGuard(history, history.budget(cost_to_spend=20.0))
    assert guard.cost_left == 8.0  # 20 - 7 spent - 5 expected of the running trial
    assert guard.fits(None, False)
    guard.spend(None, False)
    assert not guard.fits(None, False)


def test_running_trials_count_against_the_cost_budget() -> None:
    finished = [_trial(1, 9, 9.0), _trial(3, 1, 1.0)]
    history = history_of([*finished, _trial(2, 9, None, "evaluating")])
    guard = BudgetGuard(history, history.budget(cost_to_spend=21.0))
    assert guard.cost_left == 2.0  # 21 - 10 spent - 9 expected
    assert guard.fits(1, False)
    assert not guard.fits(3, False)


_TRIAL_2_RUNS_LONG = textwrap.dedent(
    """
    import os, sys, time
    import neps_core as neps

    def evaluate_pipeline(x, pipeline_directory):
        costs = {"config_1": float(os.environ.get("FIRST_COST", 10)),
                 "config_3": float(os.environ.get("THIRD_COST", 1))}
        if pipeline_directory.name == "config_2":  # runs until released, 30 s at most
            release = pipeline_directory.parents[1] / "release"
            deadline = time.monotonic() + 30
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return {"objective_to_minimize": x, "cost": costs.get(pipeline_directory.name, 1.0)}

    if __name__ == "__main__":
        neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
                 optimizer="random_search", cost_to_spend=25.0,
                 max_evaluations_per_run=int(sys.argv[2]))
    """
)


@contextmanager
def _trial_2_running(tmp_path: Path, **environment: str) -> Iterator[Path]:
    """A worker process that runs trials 1 and 2, its root yielded once trial 2 runs; trial 2
    runs until the file ``release`` exists in the root (or 30 s), which leaving creates."""
    script, root = tmp_path / "worker.py", tmp_path / "run"
    script.write_text(_TRIAL_2_RUNS_LONG)
    first = subprocess.Popen(
        [sys.executable, str(script), str(root), "2"], env={**os.environ, **environment}
    )
    try:
        deadline = time.monotonic() + 60
        while not (root / "configs" / "config_2").exists() and time.monotonic() < deadline:
            assert first.poll() is None, "the first worker ended before trial 2"
            time.sleep(0.02)
        yield root
    finally:
        (root / "release").touch()
        assert first.wait(timeout=60) == 0


def _join_as_second_worker(root: Path) -> None:
    """This process joins the run as a worker, with the first worker's function."""
    evaluate_pipeline = runpy.run_path(str(root.parent / "worker.py"))["evaluate_pipeline"]
    neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)}, root_directory=root,
             optimizer="random_search", cost_to_spend=25.0)  # fmt: skip


class _ReleaseWhenWaiting(logging.Handler):
    """Releases trial 2 once the second worker says it waits for it (rather than after a
    fixed time, which a loaded machine could outlast before the second worker started)."""

    def __init__(self, root: Path) -> None:
        super().__init__(logging.INFO)
        self.root, self.released = root, False

    def emit(self, record: logging.LogRecord) -> None:
        if " waits for trial(s) 2:" in record.getMessage():
            (self.root / "release").touch()
            self.released = True


def test_a_worker_waits_for_running_trials_whose_estimated_cost_leaves_no_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With trial 2 running, counted at 10 (the largest cost seen), 5 of 25 were left and a
    second worker stopped at once, though trial 2 cost 1 and left room for five more."""
    release = _ReleaseWhenWaiting(tmp_path / "run")
    logging.getLogger("neps_core").addHandler(release)
    try:
        with caplog.at_level("INFO", logger="neps_core"), _trial_2_running(tmp_path) as root:
            _join_as_second_worker(root)
    finally:
        logging.getLogger("neps_core").removeHandler(release)
    assert release.released, "the second worker did not wait for trial 2"
    status = neps.status(root)
    assert status.counts["success"] == 7  # 10 + 1, then five more at 1 while 10 fit
    assert status.budget.used_cost == 16.0


def test_a_worker_does_not_wait_when_nothing_that_ends_can_make_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial 3 cost 20: with 21 of 25 spent, no trial fits whatever trial 2 costs; the second
    worker waited the whole of trial 2 before stopping as it would have at once."""
    monkeypatch.setenv("THIRD_COST", "20")  # trial 3 is the second worker's
    with _trial_2_running(tmp_path, FIRST_COST="1") as root:
        _join_as_second_worker(root)
        status = neps.status(root)  # trial 2 still runs: the second worker did not wait
        assert (status.counts["evaluating"], status.budget.used_cost) == (1, 21.0)


def test_a_worker_does_not_wait_for_an_ask_and_tell_clients_trial(tmp_path: Path) -> None:
    # An asked trial may stay untold as long as its client likes: run() never returned.
    root, space = tmp_path / "run", {"x": neps.Float(0.0, 1.0)}
    client = neps.AskAndTell(space, root_directory=root, cost_to_spend=25.0)
    first = client.ask()
    assert first is not None
    client.tell(first, {"objective_to_minimize": 0.5, "cost": 10.0})
    assert client.ask() is not None  # counted at 10: 5 of 25 left
    finished: list[neps.Summary] = []
    worker = threading.Thread(
        target=lambda: finished.append(
            neps.run(
                lambda x: {"objective_to_minimize": x, "cost": 1.0},
                space,
                root_directory=root,
                cost_to_spend=25.0,
            )
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=60)
    client.close()
    assert finished, "run() waited for the client's trial"
    assert finished[0].counts["success"] == 1


# -- every optimizer's proposals -----------------------------------------------------------------
@pytest.mark.parametrize(
    "optimizer", ["random_search", "regularized_evolution", ("grid_search", {"size": 100})], ids=str
)
@pytest.mark.parametrize("budget", [20.0, 63.5])
def test_optimizers_without_a_cost_model_of_their_own_never_overshoot_the_cost_budget(
    tmp_path: Path, optimizer: Any, budget: float
) -> None:
    # Before the core checked proposals, random search went on until the budget was used up,
    # so its last trial went past it (63 of 60).
    def evaluate(x: float) -> dict[str, float]:
        return {"objective_to_minimize": x, "cost": 1.0 + 4.0 * x}

    summary = neps.run(
        evaluate,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        optimizer=optimizer,
        cost_to_spend=budget,
        seed=3,
    )
    assert budget - 5.0 < summary.budget.used_cost <= budget  # stopped within one trial's cost


# -- before any cost is known --------------------------------------------------------------------
def _costs_eight(x: float) -> dict[str, float]:
    return {"objective_to_minimize": x, "cost": 8.0}


def test_a_blind_batch_does_not_overshoot_the_cost_budget(tmp_path: Path) -> None:
    # Five proposals at once, none of whose cost is known, went 15 past a budget of 30.
    summary = neps.run(
        _costs_eight,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        cost_to_spend=30.0,
        sample_batch_size=5,
        seed=1,
    )
    assert summary.budget.used_cost == 24.0  # 3 trials of 8; the 4th no longer fits


def test_parallel_evaluations_wait_for_the_first_cost(tmp_path: Path) -> None:
    # Two evaluations at once, cost 8 each, budget 10: both started blind and spent 16.
    summary = neps.run(
        _costs_eight,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        cost_to_spend=10.0,
        evaluator={"name": "process_pool", "n_workers": 2},
    )
    assert summary.budget.used_cost == 8.0
    assert summary.budget.used_evaluations == 1


def _costs_fidelity(x: float, epochs: int) -> dict[str, float]:
    return {"objective_to_minimize": x, "cost": float(epochs)}


@pytest.mark.parametrize(
    ("limit", "trials"),
    [
        # Four slots started four blind trials (cost 9 each) against a limit of 10: cost 45.
        ({"max_cost_per_run": 10.0}, 2),
        # Four slots each started a trial of fidelity 9 before the limit of 10 was looked at.
        ({"max_fidelities_per_run": 10.0}, 2),
    ],
)
def test_parallel_slots_pass_a_per_call_limit_by_one_trial_at_most(
    tmp_path: Path, limit: dict[str, float], trials: int
) -> None:
    summary = neps.run(
        _costs_fidelity,
        {"x": neps.Float(0.0, 1.0), "epochs": neps.Integer(1, 9, is_fidelity=True)},
        root_directory=tmp_path,
        optimizer="random_search",  # proposes the highest fidelity, 9
        evaluator={"name": "process_pool", "n_workers": 4},
        **limit,
    )
    assert summary.budget.used_evaluations == trials  # as with one slot: 9, then 9 more


def _costs_in_start_order(trials: Iterable[Trial]) -> list[float]:
    return [t.cost or 0.0 for t in sorted(trials, key=lambda t: int(t.id))]


def test_many_slots_pass_max_cost_per_run_by_the_last_trial_only(tmp_path: Path) -> None:
    # Once the first trial reported 1, sixteen slots started sixteen trials, each taken to
    # cost 1; hyperband's batch held fidelities 3 and 9 too: 51 spent against 40.
    result = '{{"objective_to_minimize": {x}, "cost": {epochs}}}'
    neps.run(
        neps.Command(["echo", f"NEPS_CORE_RESULT {result}"]),
        {"x": neps.Float(0.0, 1.0), "epochs": neps.Integer(1, 9, is_fidelity=True)},
        root_directory=tmp_path,
        optimizer="hyperband",  # its cost grows with the fidelity (1, 3 or 9 here)
        evaluator={"name": "subprocess", "n_workers": 16},
        max_cost_per_run=40.0,
    )
    costs = _costs_in_start_order(neps.status(tmp_path).trials)
    assert sum(costs[:-1]) < 40.0 <= sum(costs), costs


def test_a_call_starts_trials_while_what_it_spent_and_expects_is_below_its_cost_limit() -> None:
    spent = CallBudget(max_cost=10.0, max_fidelities=None)
    history = history_of([_trial(1, 1, None, "evaluating"), _trial(2, 9, None, "evaluating")])
    assert spent.room([], lambda: history) == 1
    assert spent.room(["1"], lambda: history) == 0  # no cost known: it runs alone
    history.put(_trial(1, 1, 1.0))
    spent.ended(1.0)
    assert spent.room([], lambda: history) == 1
    # Trial 2 is expected to cost 9 (1 per fidelity unit), not 1, the most seen so far.
    assert spent.room(["2"], lambda: history) == 0
    history.put(_trial(2, 9, 9.0))
    spent.ended(9.0)
    assert spent.reached() == "max_cost_per_run"
    assert CallBudget(max_cost=None, max_fidelities=None).room(["1"], TrialHistory) is None


def test_trials_without_a_cost_do_not_keep_a_call_to_one_trial_at_a_time() -> None:
    # Results without a cost (or failures without cost_value_on_error) ran a process pool
    # one trial at a time for the whole call.
    spent = CallBudget(max_cost=100.0, max_fidelities=None)
    history = history_of([_trial(1, None, None), _trial(2, None, None, "evaluating")])
    spent.ended(None)
    assert spent.room(["2"], lambda: history) is None and spent.cost_spent == 0.0


def test_ask_and_tell_gives_one_trial_until_a_cost_is_known(tmp_path: Path) -> None:
    space = {"x": neps.Float(0.0, 1.0)}
    client = neps.AskAndTell(space, root_directory=tmp_path, cost_to_spend=20)
    other = neps.AskAndTell(root_directory=tmp_path, cost_to_spend=20)  # same process: no hang
    first = client.ask()
    assert first is not None
    for asking in (client, other):
        assert asking.ask() is None  # never blocks; says what it waits for
        assert asking.stop_reason is not None and f"trial(s) {first.id}" in asking.stop_reason
    client.tell(first, {"objective_to_minimize": 0.5, "cost": 4.0})
    more = [client.ask(), other.ask()]
    assert all(trial is not None for trial in more)  # 4 + 4 + 4 of 20: the estimate is known
    assert other.stop_reason is None
    client.close()
    other.close()


def test_evaluations_to_spend_counts_trials_once_created_not_once_started(tmp_path: Path) -> None:
    # docs/concepts.md said "trials started"; a batch's waiting trials count too.
    space = {"x": neps.Float(0.0, 1.0)}
    first = neps.run(
        lambda x: x,
        space,
        root_directory=tmp_path / "run",
        evaluations_to_spend=4,
        sample_batch_size=3,
        max_evaluations_per_run=1,
    )
    assert (first.counts["success"], first.counts["pending"]) == (1, 2)
    assert first.budget.used_evaluations == 3  # two never started
    client = neps.AskAndTell(space, tmp_path / "asked", evaluations_to_spend=4)
    assert len(client.ask(n=3)) == 3
    assert len(client.ask(n=3)) == 1  # what is left of the budget
    assert client.ask() is None
    client.close()


def _always_fails(x: float) -> float:
    raise RuntimeError(f"broken at x={x}")


def test_failures_without_a_cost_stop_a_run_only_cost_could_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # They spend nothing: with ignore_errors the run looped forever.
    summary = neps.run(
        _always_fails,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        cost_to_spend=10.0,
        ignore_errors=True,
    )
    assert summary.counts["failed"] == FAILURE_STREAK_LIMIT
    assert caplog.text.count("cost_to_spend cannot end this run") == 1  # logged once
    assert "cost_value_on_error" in caplog.text and "broken at x=" in caplog.text
    # The advice taken, the run continues: the old streak no longer stops it.
    fixed = neps.run(
        lambda x: {"objective_to_minimize": x, "cost": 4.0},
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        cost_to_spend=10.0,
        ignore_errors=True,
    )
    assert (fixed.counts["success"], fixed.budget.used_cost) == (2, 8.0)  # a third overshoots


@pytest.mark.parametrize("budget", ["cost_to_spend", "max_cost_per_run"])
def test_max_evaluations_per_run_ends_a_run_of_failures_without_a_cost_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, budget: str
) -> None:
    # The streak stopped it first, saying the cost budget "cannot end this run", though
    # max_evaluations_per_run would (as evaluations_to_spend, which the streak left alone).
    caplog.set_level(logging.INFO, logger="neps_core.runtime")
    summary = neps.run(
        _always_fails,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        ignore_errors=True,
        max_evaluations_per_run=FAILURE_STREAK_LIMIT + 3,
        **{budget: 10.0},
    )
    assert summary.counts["failed"] == FAILURE_STREAK_LIMIT + 3
    assert "cannot end this run" not in caplog.text
    assert "stopped: max_evaluations_per_run reached" in caplog.text


def test_failures_with_cost_value_on_error_spend_the_budget(tmp_path: Path) -> None:
    summary = neps.run(
        _always_fails,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path,
        cost_to_spend=10.0,
        ignore_errors=True,
        cost_value_on_error=2.5,
    )
    assert summary.counts["failed"] == 4
    assert summary.budget.used_cost == 10.0


def _fails_one_in_five(x: float, epochs: int) -> dict[str, float]:
    if int(x * 1e6) % 5 == 0:
        raise RuntimeError("diverged")
    return {"objective_to_minimize": x, "cost": float(epochs)}


@pytest.mark.parametrize("seed", [1, 2, 9])
def test_failures_costing_nothing_do_not_make_trials_look_cheap(tmp_path: Path, seed: int) -> None:
    # A failure at 90 epochs with cost_value_on_error=0 made the line of costs fall towards
    # it: a trial at 60 epochs was expected to cost little, started, and overshot (228 of 200).
    summary = neps.run(
        _fails_one_in_five,
        {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 100)},
        root_directory=tmp_path,
        optimizer=("random_search", {"ignore_fidelity": False}),
        cost_to_spend=200.0,
        ignore_errors=True,
        cost_value_on_error=0.0,
        seed=seed,
    )
    assert summary.counts["failed"] > 0
    assert summary.budget.used_cost <= 200.0


def test_a_first_trial_at_the_top_fidelity_leaves_the_rest_of_the_budget_usable(
    tmp_path: Path,
) -> None:
    # PriorBand starts with its prior at the top fidelity (cost 105 of 200); expecting every
    # lower fidelity to cost as much ended the run there.
    summary = neps.run(
        lambda x, epochs: {"objective_to_minimize": x, "cost": 5.0 + epochs},
        {"x": neps.Float(0.0, 1.0, prior=0.5), "epochs": neps.IntegerFidelity(1, 100)},
        root_directory=tmp_path,
        optimizer="priorband",
        cost_to_spend=200.0,
    )
    assert 150.0 <= summary.budget.used_cost <= 200.0


def test_a_streak_of_failures_needs_consecutive_failures_without_cost() -> None:
    trials = [_trial(i, None, None, "failed") for i in range(1, 4)]
    assert [t.id for t in failure_streak_without_cost(history_of(trials), 3)] == ["1", "2", "3"]
    assert failure_streak_without_cost(history_of(trials), 4) == []
    interrupted = [*trials[:2], _trial(3, None, 1.0), _trial(4, None, None, "failed")]
    assert failure_streak_without_cost(history_of(interrupted), 3) == []


def test_costs_are_summed_exactly() -> None:
    # Added as floats, ten costs of 0.1 came to 0.9999999999999999 and costs like 10 * (0.7 -
    # 0.3) to 60.000000000000014 of a budget of 60.
    history = history_of([_trial(i, None, 0.1) for i in range(1, 11)])
    assert history.cost_spent == 1.0
    assert history.budget(cost_to_spend=1.0).used_cost == 1.0
    history.put(_trial(10, None, 0.3))  # a replaced version counts once
    assert history.cost_spent == pytest.approx(1.2)


def test_a_continuation_whose_budget_is_spent_already_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A smaller budget than the run used returned at once, silently (an INFO line only).
    root = tmp_path / "run"
    neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=5)
    with caplog.at_level("WARNING", logger="neps_core"):
        summary = neps.run(lambda x: x, root_directory=root, evaluations_to_spend=3)
    assert summary.counts["success"] == 5
    assert "evaluated nothing" in caplog.text
    assert "budget evaluations_to_spend used up (the run in" in caplog.text
    assert "had used 5 of evaluations_to_spend=3); pass a larger budget" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="neps_core"):
        neps.run(lambda x: x, root_directory=root, evaluations_to_spend=6)
    assert "evaluated nothing" not in caplog.text


def test_a_worker_joining_with_other_budgets_is_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each worker stops at its own budget; status showed "30 of 20 evaluations" without a word.
    root = tmp_path / "run"
    space = {"x": neps.Float(0.0, 1.0)}
    client = neps.AskAndTell(space, root_directory=root, evaluations_to_spend=20)
    assert client.ask() is not None  # another worker's trial, still running
    with caplog.at_level("WARNING", logger="neps_core"):
        neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=20)
    assert "joins the run" not in caplog.text
    with caplog.at_level("WARNING", logger="neps_core"):
        neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=22)
    assert "joins the run" in caplog.text
    assert "{'evaluations_to_spend': 22} while its other workers run with " in caplog.text
    # The first worker, budget 20, finishes last: its summary.yaml said "of 20" beside a
    # status (and the latest worker's files) saying "of 22".
    client.close()
    written = yaml.safe_load((root / "summary.yaml").read_text())
    assert written["budget"]["evaluations_to_spend"] == 22
    assert neps.status(root).budget.evaluations_to_spend == 22


def test_a_run_continued_after_its_worker_was_killed_is_not_told_of_other_workers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Continuing with a larger budget warned of "its other workers" (the killed one's
    # heartbeat was recent) and, in the next line, re-queued its trial as gone.
    root = tmp_path / "run"
    script = tmp_path / "worker.py"
    script.write_text(
        "import sys, time\nimport neps_core as neps\n"
        "neps.run(lambda x: time.sleep(60) or x, {'x': neps.Float(0.0, 1.0)},\n"
        "         root_directory=sys.argv[1], evaluations_to_spend=3)\n"
    )
    worker = subprocess.Popen([sys.executable, str(script), str(root)])
    try:
        deadline = time.monotonic() + 60
        while not (root / "configs" / "config_1").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.kill()
        worker.wait(timeout=60)
    with caplog.at_level("INFO", logger="neps_core"):
        neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root,
                 evaluations_to_spend=4)  # fmt: skip
    assert "is gone" in caplog.text  # its trial was re-queued
    assert "joins the run" not in caplog.text
    assert neps.status(root).counts["success"] == 4


def test_a_budget_raised_by_less_than_a_trial_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 9 of 10 spent with trials costing 3: raising the budget to 10.5 ran nothing, silently.
    root = tmp_path / "run"
    costly = {"x": neps.Float(0.0, 1.0)}
    neps.run(lambda x: {"objective_to_minimize": x, "cost": 3.0}, costly, root_directory=root,
             cost_to_spend=10)  # fmt: skip
    with caplog.at_level("WARNING", logger="neps_core"):
        neps.run(lambda x: {"objective_to_minimize": x, "cost": 3.0}, root_directory=root,
                 cost_to_spend=10.5)  # fmt: skip
    assert neps.status(root).budget.used_cost == 9.0
    assert "evaluated nothing: what is left of the budget does not fit the next trial" in (
        caplog.text
    )
    assert "had used 9 of cost_to_spend=10.5" in caplog.text


def test_a_fidelity_budget_below_the_next_trial_names_its_fidelity(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """BO runs at the maximum fidelity: 5 of 10 epochs left evaluated nothing, unexplained."""
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 10)}
    with caplog.at_level("WARNING", logger="neps_core"):
        summary = neps.run(lambda x, epochs: x, space, root_directory=tmp_path / "run",
                           optimizer="random_search", fidelities_to_spend=5)  # fmt: skip
    assert summary.counts["success"] == 0
    assert "does not fit the next trial (at epochs=10)" in caplog.text


@pytest.mark.parametrize("optimizer", ["hyperband", "asha", "priorband"])
def test_a_multi_fidelity_run_ended_by_its_cost_budget_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, optimizer: str
) -> None:
    # These optimizers propose nothing when no trial fits: the run said "the optimizer has
    # nothing left to propose", and a continuation gave no warning.
    root = tmp_path / "run"
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}

    def evaluate(x: float, epochs: int) -> dict[str, float]:
        return {"objective_to_minimize": x + 1 / epochs, "cost": 2.5}

    with caplog.at_level("INFO", logger="neps_core"):
        for _ in range(2):
            neps.run(evaluate, space, root_directory=root, optimizer=optimizer, cost_to_spend=11)
    assert "nothing left to propose" not in caplog.text
    assert "evaluated nothing: what is left of the budget does not fit the next trial" in (
        caplog.text
    )


def test_a_fidelity_budget_below_the_lowest_rung_left_is_the_budgets_doing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # asha's lowest rung here is 100/81 ≈ 1.235, above the space's 1.0: with 1.1 left, the
    # run blamed the optimizer ("nothing left to propose").
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.FloatFidelity(1.0, 100.0)}
    with caplog.at_level("INFO", logger="neps_core"):
        summary = neps.run(
            lambda x, epochs: x,
            space,
            root_directory=tmp_path / "run",
            optimizer="asha",
            fidelities_to_spend=3 * 100 / 81 + 1.1,
        )
    assert summary.budget.used_evaluations == 3
    assert "stopped: what is left of the budget does not fit the next trial" in caplog.text


def test_the_history_keeps_its_first_multi_objective_trial_as_trials_change() -> None:
    """Single-objective optimizers ask for it before every proposal: the history keeps it
    up to date instead of each ask scanning every trial."""
    history = TrialHistory()
    history.put(make_trial(1, {"x": 0.1}, objective=0.5))
    history.put(make_trial(2, {"x": 0.2}, "evaluating"))
    assert history.first_multi_objective() is None
    history.put(make_trial(2, {"x": 0.2}, objective=(0.5, 1.0)))
    history.put(make_trial(3, {"x": 0.3}, objective=(0.1, 2.0)))
    first = history.first_multi_objective()
    assert first is not None and first.id == "2"
    history.put(make_trial(2, {"x": 0.2}, "failed"))  # a replaced version no longer counts
    first = history.first_multi_objective()
    assert first is not None and first.id == "3"
    history.put(make_trial(3, {"x": 0.3}, objective=0.7))
    assert history.first_multi_objective() is None


def test_a_space_used_up_before_the_budget_says_so_as_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 9 of 30 evaluations, and only an INFO record said why: the user saw nothing.
    space = {"a": neps.Categorical(["x", "y", "z"]), "b": neps.Categorical([1, 2, 3])}
    for attempt in range(2):  # the continuation, which evaluates nothing, says it too
        caplog.clear()
        with caplog.at_level("WARNING", logger="neps_core"):
            summary = neps.run(
                lambda a, b: float(b),
                space,
                root_directory=tmp_path / "run",
                evaluations_to_spend=30,
                optimizer="bayesian_optimization",
            )
        assert summary.budget.used_evaluations == 9
        warned = [r for r in caplog.records if r.levelname == "WARNING"]
        assert len(warned) == 1, (attempt, caplog.text)
        assert "stopped with budget left (9 of evaluations_to_spend=30 used)" in warned[0].message
    caplog.clear()
    with caplog.at_level("WARNING", logger="neps_core"):  # no budget: the planned end
        neps.run(lambda a, b: float(b), space, root_directory=tmp_path / "other",
                 optimizer="grid_search")  # fmt: skip
    assert "stopped with budget left" not in caplog.text


def _a_moment(x: float) -> float:
    time.sleep(0.3)
    return x


def test_the_last_words_count_the_trials_running_when_the_worker_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # "budget evaluations_to_spend used up (1 trial(s) still evaluating; one whose worker
    # dies is re-queued ...)": counted when the budget ran out, of the pool's own trials,
    # which the worker then waited for.
    with caplog.at_level("INFO", logger="neps_core"):
        summary = neps.run(
            _a_moment,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path / "run",
            evaluations_to_spend=3,
            evaluator={"name": "process_pool", "n_workers": 2},
        )
    assert summary.counts["evaluating"] == 0
    stopped = [r.message for r in caplog.records if " stopped: " in r.message]
    assert stopped and stopped[-1].endswith("stopped: budget evaluations_to_spend used up")


COST_WORKER = textwrap.dedent(
    """
    import sys
    import neps_core as neps

    calls = 0

    def evaluate_pipeline(x):
        global calls
        calls += 1
        if sys.argv[3] == "hold" and calls == 2:
            print("STARTED", flush=True)
            with open(sys.argv[2]) as release:  # blocks until someone opens it for writing
                release.read()
        return {"objective_to_minimize": x, "cost": 1.0}

    if __name__ == "__main__":
        neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=sys.argv[1],
            optimizer="random_search",
            cost_to_spend=3,
            stale_after=2.0,
            heartbeat_interval=0.5,
        )
    """
)


def test_a_worker_whose_next_trial_does_not_fit_does_not_wait_for_a_suspended_one(
    tmp_path: Path,
) -> None:
    """A suspended job keeps its trial (it is present) but says nothing; a worker whose next
    trial fitted only were that trial to cost less waited for it for good."""
    script, fifo, root = tmp_path / "worker.py", tmp_path / "release", tmp_path / "root"
    script.write_text(COST_WORKER)
    os.mkfifo(fifo)
    held = subprocess.Popen(
        [sys.executable, str(script), str(root), str(fifo), "hold"], stdout=subprocess.PIPE
    )
    try:
        assert held.stdout is not None and held.stdout.readline().strip() == b"STARTED"
        suspend(held, root)  # trial 2 is its, counted at its estimated cost of 1
        other = subprocess.run(
            [sys.executable, str(script), str(root), str(fifo), "free"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        held.kill()
        held.wait()
    assert other.returncode == 0, other.stderr  # it ended (before: waited past the timeout)
    assert "(paused?) and keeps it" in other.stderr
    assert neps.status(root).counts["success"] == 2  # trials 1 and 3; trial 2 stays the held's


def test_a_worker_joining_a_run_without_recorded_budgets_is_not_told_they_had_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Runs of versions before budget.yaml record no budgets: a worker joining one whose
    # killed worker ran with 40 evaluations was told its other workers "run with none".
    root = tmp_path / "run"
    space = {"x": neps.Float(0.0, 1.0)}
    client = neps.AskAndTell(space, root_directory=root, evaluations_to_spend=40)
    assert client.ask() is not None  # another worker's trial, still running
    (root / "budget.yaml").unlink()  # as an older version left the run
    with caplog.at_level("WARNING", logger="neps_core"):
        neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=3)
    client.close()
    assert "joins the run" in caplog.text
    assert "run with none" not in caplog.text
    assert "have budgets that were not recorded (the run was started by an older" in caplog.text
