"""The ``successive_halving`` plugin: the contract, and real runs that promote and resume."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest
from worker_processes import suspend

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.testing import OptimizerContract
from neps_core_plugins.successive_halving import SuccessiveHalving

pytest_plugins = ["neps_core.testing.fixtures"]


class TestSuccessiveHalvingContract(OptimizerContract):
    optimizer_class = SuccessiveHalving


class TestSuccessiveHalvingFromTheSecondRungContract(OptimizerContract):
    optimizer_class = SuccessiveHalving
    optimizer_options: ClassVar[dict[str, Any]] = {"early_stopping_rate": 1, "eta": 2}


def test_promotions_resume_checkpoints_and_the_cost_budget_holds(multi_fidelity_run: Any) -> None:
    run = multi_fidelity_run(optimizer="successive_halving", cost_to_spend=150, seed=1)
    run.check_promotions_continue_checkpoints()
    assert run.summary.budget.used_cost == 150  # rung 0 costs 1: the budget is used exactly
    assert {t.fidelity for t in run.promotions} == {3, 9, 27}


def test_early_stopping_rate_starts_higher(multi_fidelity_run: Any) -> None:
    run = multi_fidelity_run(
        optimizer=("successive_halving", {"early_stopping_rate": 2}), fidelities_to_spend=120
    )
    assert {t.fidelity for t in run.trials.values()} == {9, 27}
    assert run.summary.budget.used_fidelities <= 120
    run.check_promotions_continue_checkpoints()


def test_a_space_without_fidelity_is_refused(neps_run: Any) -> None:
    with pytest.raises(SettingsError, match="'successive_halving' needs a fidelity"):
        neps_run(optimizer="successive_halving")


@pytest.mark.slow
def test_parallel_workers_share_brackets(parallel_multi_fidelity_run: Any) -> None:
    run = parallel_multi_fidelity_run("successive_halving", 3, fidelities_to_spend=300)
    run.check_each_trial_promoted_at_most_once()
    assert run.summary.budget.used_fidelities <= 300


def small_space_objective(a: str, b: int, epochs: int) -> dict[str, Any]:
    return {"objective_to_minimize": {"p": 0, "q": 1, "r": 2}[a] + b + 1.0 / epochs}


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["successive_halving", "asha"])
def test_a_process_pool_waits_for_its_trials_before_it_stops(neps_run: Any, optimizer: str) -> None:
    """An empty answer while this worker's trials run is no end: their results promote.

    The pool stopped at the first empty answer, and the best configuration of a small space
    stayed below the top rung (in 3 of 4 runs).
    """
    space = {
        "a": neps.Categorical(["p", "q", "r"]),
        "b": neps.Integer(0, 2),
        "epochs": neps.IntegerFidelity(1, 9),
    }
    summary = neps_run(
        evaluate_pipeline=small_space_objective,
        pipeline_space=space,
        optimizer=optimizer,
        evaluator={"name": "process_pool", "n_workers": 2},
        evaluations_to_spend=60,
        seed=0,
    )
    assert summary.best_trial is not None
    assert dict(summary.best_trial.config) == {"a": "p", "b": 0, "epochs": 9}


@pytest.mark.parametrize("value", [1, 0, 1.0, "yes"])
def test_sample_prior_first_takes_only_its_own_values(neps_run: Any, value: Any) -> None:
    """``1 == True`` in Python; a setting documented as a flag must not take it."""
    with pytest.raises(SettingsError, match="sample_prior_first must be one of"):
        neps_run(
            optimizer=("successive_halving", {"sample_prior_first": value}),
            pipeline_space={"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)},
        )


HELD_WORKER = textwrap.dedent(
    """
    import sys
    import neps_core as neps

    SPACE = {
        "a": neps.Categorical([1, 2]),
        "b": neps.Categorical([1, 2]),
        "epochs": neps.IntegerFidelity(1, 27),
    }

    def evaluate_pipeline(a, b, epochs):
        print("STARTED", flush=True)
        with open(sys.argv[2]) as release:  # blocks until the test opens it for writing
            release.read()
        return a * b / epochs

    if __name__ == "__main__":
        neps.run(
            evaluate_pipeline,
            SPACE,
            root_directory=sys.argv[1],
            optimizer="successive_halving",
            fidelities_to_spend=300,
            max_evaluations_per_run=1,
        )
    """
)


class _Release(logging.Handler):
    """Opens the held worker's FIFO (ending its trial) once this worker says it waits."""

    def __init__(self, fifo: Path) -> None:
        super().__init__()
        self.fifo, self.waited_for = fifo, ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Waiting for trial(s)") and not self.waited_for:
            self.waited_for = record.getMessage()
            self.fifo.write_text("go")


def test_a_worker_with_nothing_to_propose_waits_for_another_workers_trial(
    tmp_path: Path,
) -> None:
    # It stopped ("nothing left to propose") while another worker's trial ran whose result
    # brought the promotions; those then waited for a worker that was no longer there.
    script, fifo, root = tmp_path / "held.py", tmp_path / "release", tmp_path / "root"
    script.write_text(HELD_WORKER)
    os.mkfifo(fifo)
    held = subprocess.Popen(
        [sys.executable, str(script), str(root), str(fifo)], stdout=subprocess.PIPE, text=True
    )
    release = _Release(fifo)
    runtime = logging.getLogger("neps_core.runtime")
    runtime.addHandler(release)
    level = runtime.level
    runtime.setLevel(logging.INFO)
    try:
        assert held.stdout is not None and next(held.stdout).strip() == "STARTED"  # trial 1
        namespace: dict[str, Any] = {}
        exec(HELD_WORKER.split("def evaluate_pipeline")[0], namespace)
        summary = neps.run(
            lambda a, b, epochs: a * b / epochs,
            namespace["SPACE"],
            root_directory=root,
            optimizer="successive_halving",
            fidelities_to_spend=300,
        )
    finally:
        runtime.removeHandler(release)
        runtime.setLevel(level)
        if not release.waited_for:
            fifo.write_text("go")
        held.wait(timeout=300)
    assert release.waited_for.startswith("Waiting for trial(s) 1: the optimizer has nothing")
    assert summary.counts["success"] == 7 and summary.counts["evaluating"] == 0
    held_by = {t.worker_id for t in summary.trials if t.id == "1"}
    promotions = [t for t in summary.trials if t.previous_trial_id is not None]
    assert {t.fidelity for t in promotions} == {3, 9, 27}
    assert not held_by & {t.worker_id for t in promotions}  # this worker ran them all


PAUSABLE_WORKER = textwrap.dedent(
    """
    import sys
    import neps_core as neps

    def evaluate_pipeline(a, epochs):
        print("STARTED", flush=True)
        with open(sys.argv[2]) as release:  # blocks until the test opens it for writing
            release.read()
        return a / epochs

    if __name__ == "__main__":
        neps.run(
            evaluate_pipeline,
            {"a": neps.Categorical([1, 2]), "epochs": neps.IntegerFidelity(1, 3)},
            root_directory=sys.argv[1],
            optimizer=("successive_halving", {"eta": 3}),
            fidelities_to_spend=300,
            max_evaluations_per_run=int(sys.argv[3]),
            stale_after=2.0,
            heartbeat_interval=0.5,
        )
    """
)


def test_a_worker_with_nothing_to_propose_does_not_wait_for_a_suspended_one(
    tmp_path: Path,
) -> None:
    """Waiting for another worker's trial must end: a worker its scheduler suspended keeps
    its trial (it is present) but says nothing, and the others waited for it for good."""
    script, fifo, root = tmp_path / "worker.py", tmp_path / "release", tmp_path / "root"
    script.write_text(PAUSABLE_WORKER)
    os.mkfifo(fifo)
    paused = subprocess.Popen(
        [sys.executable, str(script), str(root), str(fifo), "1"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert paused.stdout is not None and next(paused.stdout).strip() == "STARTED"
        suspend(paused, root)  # holding trial 1; a second worker takes trial 2
        other = subprocess.Popen(
            [sys.executable, str(script), str(root), str(fifo), "5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert other.stdout is not None and next(other.stdout).strip() == "STARTED"
        fifo.write_text("go")  # ends trial 2: then nothing is left but trial 1's promotion
        _, log = other.communicate(timeout=120)
    finally:
        paused.kill()
        paused.wait()
    assert other.returncode == 0, log
    assert "nothing left to propose" in log
