"""NePS's ``neps.tblogger``: a trial's own TensorBoard writer, on across rungs, and the
incumbent's curve, under the evaluators that run the function elsewhere too."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from tensorboard_events import scalars

import neps_core as neps
from neps_core.evaluation.trial_context import TrialContext
from neps_core.interfaces import call_evaluate_pipeline
from neps_core.tblogger import (
    EVENTS_DIRECTORY,
    EVENTS_HOME_FILE,
    INCUMBENT_MARKER,
    INCUMBENT_TAG,
    events_of,
)


def log_epochs(lr: float, epochs: int) -> float:
    """Logs a point per epoch; its folders come from the trial being evaluated."""
    writer = neps.tblogger.ConfigWriter(write_summary_incumbent=True)
    for epoch in range(epochs):
        writer.add_scalar(f"loss_at_{epochs}", lr / (epoch + 1), epoch)
    # left open on purpose: the evaluation's end closes (and so flushes) it
    return lr * epochs  # worse at higher fidelity: the incumbent is the lowest at any fidelity


def run(root: Path, evaluator: Any, top: int, eta: int, evaluations: int) -> neps.Summary:
    return neps.run(
        log_epochs,
        {"lr": neps.Float(0.01, 1.0), "epochs": neps.IntegerFidelity(1, top)},
        root_directory=root,
        optimizer=("hyperband", {"eta": eta}),
        evaluations_to_spend=evaluations,
        evaluator=evaluator,
    )


def check_events(root: Path) -> None:
    """Every first rung has its events; each promotion wrote on into its first rung's."""
    trials = neps.status(root).trials
    by_id = {trial.id: trial for trial in trials}
    promoted = [trial for trial in trials if trial.previous_trial_id is not None]
    assert promoted, "the budget must reach a promotion"
    for trial in trials:
        folder = root / "configs" / f"config_{trial.id}"
        first = trial
        while first.previous_trial_id is not None:
            first = by_id[first.previous_trial_id]
        home = root / "configs" / f"config_{first.id}" / EVENTS_DIRECTORY
        assert events_of(folder) == home.resolve() or events_of(folder) == home
        if trial is not first:
            assert (folder / EVENTS_HOME_FILE).is_file()
            assert not (folder / EVENTS_DIRECTORY).exists()
    for trial in promoted:
        home = events_of(root / "configs" / f"config_{trial.id}")
        assert home is not None
        epochs = int(trial.config["epochs"])
        assert [step for step, _ in scalars(home, f"loss_at_{epochs}")] == list(range(epochs))


def check_incumbent(root: Path) -> None:
    """One point per success, the lowest objective so far at any fidelity (NePS's)."""
    summary = neps.status(root)
    points = sorted(scalars(root / "summary_tb", INCUMBENT_TAG))
    successes = [t for t in summary.trials if t.state is neps.TrialState.SUCCESS]
    assert [step for step, _ in points] == list(range(len(successes)))
    values = [value for _, value in points]
    assert values == sorted(values, reverse=True)
    lowest = min(float(t.objective) for t in successes)  # type: ignore[arg-type]
    assert values[-1] == pytest.approx(lowest)


@pytest.mark.parametrize(
    ("evaluator", "top", "eta", "evaluations"),
    [
        # hyperband's first bracket (eta 3): 13 trials reach two promotions, a chain of rungs
        ("sync", 9, 3, 13),
        # elsewhere one promotion, in the shortest first bracket (eta 2): 2 trials, 1 promoted
        ("process_pool", 2, 2, 3),
        # a fresh interpreter per trial imports tensorboardX, and with it torch: seconds each
        pytest.param("subprocess", 2, 2, 3, marks=pytest.mark.slow),
        pytest.param({"name": "dask", "n_workers": 1}, 2, 2, 3, marks=pytest.mark.slow),
        pytest.param({"name": "slurm", "cluster": "local"}, 2, 2, 3, marks=pytest.mark.slow),
    ],
    ids=["sync", "process_pool", "subprocess", "dask", "slurm"],
)
def test_each_trial_logs_into_its_configurations_events(
    tmp_path: Path, evaluator: Any, top: int, eta: int, evaluations: int
) -> None:
    root = tmp_path / "root"
    run(root, evaluator, top, eta, evaluations)
    check_events(root)
    check_incumbent(root)


def test_outside_a_trial_the_writer_asks_for_the_trials_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="pipeline_directory="):
        neps.tblogger.ConfigWriter()
    with pytest.raises(RuntimeError, match="WriteIncumbent"):
        neps.tblogger.WriteIncumbent()
    writer = neps.tblogger.ConfigWriter(pipeline_directory=tmp_path, write_summary_incumbent=False)
    writer.add_scalar("loss", 0.5, 0)
    writer.close()
    assert scalars(tmp_path / EVENTS_DIRECTORY, "loss") == [(0, 0.5)]


def log_from_a_thread(x: float) -> float:
    """Logs from a thread it starts (a data loader's, say), as NePS's global trial allows."""
    errors: list[BaseException] = []

    def log() -> None:
        try:
            writer = neps.tblogger.ConfigWriter(write_summary_incumbent=False)
            writer.add_scalar("x", x, 0)
            writer.close()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=log)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return x


@pytest.mark.parametrize("evaluator", ["sync", "process_pool"])
def test_a_thread_the_function_starts_finds_the_trial(tmp_path: Path, evaluator: str) -> None:
    root = tmp_path / "root"
    summary = neps.run(
        log_from_a_thread,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=2,
        evaluator=evaluator,
    )
    assert summary.counts["success"] == 2
    for trial in summary.trials:
        events = root / "configs" / f"config_{trial.id}" / EVENTS_DIRECTORY
        assert [value for _, value in scalars(events, "x")] == [pytest.approx(trial.config["x"])]


def test_a_torchrun_follower_rank_writes_nothing(tmp_path: Path) -> None:
    """Rank 0 logs the trial; a follower's writer (same calls, same folder) does nothing."""
    follower = TrialContext("1", tmp_path, lead=False)
    assert call_evaluate_pipeline(log_epochs, {"lr": 0.5, "epochs": 3}, follower) == 1.5
    assert call_evaluate_pipeline(only_the_incumbent, {"x": 0.5}, follower) == 0.5
    explicit = call_evaluate_pipeline(  # NePS's newer form, the folder given
        lambda: neps.tblogger.ConfigWriter(pipeline_directory=tmp_path).add_scalar("x", 1.0),
        {},
        follower,
    )
    assert explicit is None
    assert list(tmp_path.iterdir()) == []


def test_neps_older_log_call_names_the_writer_to_use() -> None:
    with pytest.raises(AttributeError, match=r"ConfigWriter\(\) and its add_scalar"):
        neps.tblogger.log(objective_to_minimize=0.1, current_epoch=0)  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        neps.tblogger.nonsense  # type: ignore[attr-defined] # noqa: B018


def only_the_incumbent(x: float) -> float:
    neps.tblogger.WriteIncumbent()
    return x


def test_write_incumbent_alone_draws_the_curve_without_trial_events(tmp_path: Path) -> None:
    root = tmp_path / "root"
    neps.run(
        only_the_incumbent, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=5
    )
    check_incumbent(root)
    assert not list(root.rglob(EVENTS_DIRECTORY))


def fail_after_asking(x: float, pipeline_id: str) -> float:
    """Asks for the incumbent's point, then every third trial fails."""
    neps.tblogger.WriteIncumbent()
    if int(pipeline_id) % 3 == 0:
        raise ValueError("failed after asking for the incumbent's point")
    return x


def test_a_failed_trial_that_asked_adds_no_point(tmp_path: Path) -> None:
    """A failed trial is no step: its point would write the last success's step again."""
    root = tmp_path / "root"
    summary = neps.run(
        fail_after_asking,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=7,
        ignore_errors=True,
    )
    failed = [trial for trial in summary.trials if trial.state is neps.TrialState.FAILED]
    assert len(failed) == 2
    for trial in failed:
        assert (root / "configs" / f"config_{trial.id}" / INCUMBENT_MARKER).is_file()
    check_incumbent(root)


def test_a_neps_script_importing_tblogger_from_the_package_runs(tmp_path: Path) -> None:
    script = tmp_path / "neps_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import neps_core as neps
            from neps_core import tblogger

            def evaluate_pipeline(lr):
                writer = tblogger.ConfigWriter(write_summary_incumbent=True)
                writer.add_scalar("loss", lr, 0)
                writer.add_hparams({"lr": lr}, {"loss_val": lr})
                writer.close()
                return lr

            if __name__ == "__main__":
                neps.run(evaluate_pipeline, {"lr": neps.Float(0.1, 1.0)},
                         root_directory=sys.argv[1], evaluations_to_spend=3)
            """
        )
    )
    root = tmp_path / "root"
    done = subprocess.run(
        [sys.executable, str(script), str(root)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    for folder in (root / "configs").iterdir():
        assert len(scalars(folder / EVENTS_DIRECTORY, "loss")) == 1
    check_incumbent(root)
