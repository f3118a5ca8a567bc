"""Budgets and continuing runs: the ``*_to_spend`` budgets belong to the root directory,
``max_evaluations_per_run`` bounds one call, and ``run()`` on an existing root continues it.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
import yaml
from tensorboard_events import scalars

import neps_core as neps
from neps_core.errors import SettingsError, StorageError, UnknownPluginError
from neps_core.inspection import read_run
from neps_core.models import Trial, TrialState
from neps_core.serialization import make_converter, to_plain
from neps_core.tblogger import INCUMBENT_TAG
from neps_core_plugins.random_search import RandomSearch
from neps_core_plugins.sync_evaluator import SyncEvaluator

SPACE = {"x": neps.Float(0.0, 1.0), "depth": neps.Integer(1, 3)}


class Recorder:
    """An objective that remembers every configuration it was called with."""

    def __init__(self, cost: float | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.cost = cost

    def __call__(self, x: float, depth: int) -> Any:
        self.calls.append({"x": x, "depth": depth})
        if self.cost is None:
            return x
        return {"objective_to_minimize": x, "cost": self.cost}


def _counts(root: Path) -> dict[str, int]:
    return {state: n for state, n in neps.status(root).counts.items() if n}


# -- budgets -------------------------------------------------------------------------------------
def test_evaluations_to_spend_is_global_to_the_root(root: Path) -> None:
    objective = Recorder()
    neps.run(objective, SPACE, root_directory=root, evaluations_to_spend=3)
    assert len(objective.calls) == 3
    summary = neps.run(objective, SPACE, root_directory=root, evaluations_to_spend=3)
    assert len(objective.calls) == 3  # the budget is already spent
    assert summary.counts["success"] == 3
    summary = neps.run(objective, SPACE, root_directory=root, evaluations_to_spend=5)
    assert len(objective.calls) == 5  # exactly the difference
    assert summary.budget.used_evaluations == 5


def test_max_evaluations_per_run_bounds_one_call(root: Path) -> None:
    objective = Recorder()
    per_call = []
    for _ in range(4):
        before = len(objective.calls)
        neps.run(
            objective, SPACE, root_directory=root, evaluations_to_spend=5, max_evaluations_per_run=2
        )
        per_call.append(len(objective.calls) - before)
    assert per_call == [2, 2, 1, 0]


def test_max_evaluations_per_run_without_a_global_budget(root: Path) -> None:
    objective = Recorder()
    neps.run(objective, SPACE, root_directory=root, max_evaluations_per_run=2)
    neps.run(objective, SPACE, root_directory=root, max_evaluations_per_run=2)
    assert len(objective.calls) == 4
    assert _counts(root) == {"success": 4}


def test_cost_to_spend_stops_at_the_budget(root: Path) -> None:
    objective = Recorder(cost=1.5)
    summary = neps.run(objective, SPACE, root_directory=root, cost_to_spend=4.5)
    assert len(objective.calls) == 3
    assert summary.budget.used_cost == pytest.approx(4.5)
    neps.run(objective, SPACE, root_directory=root, cost_to_spend=4.5)
    assert len(objective.calls) == 3


def test_cost_budget_without_cost_in_the_result_names_the_trial(
    root: Path, trial_file: Any
) -> None:
    with pytest.raises(ValueError, match=r"(?s)(Trial 1|trial 1|'1').*cost"):
        neps.run(Recorder(), SPACE, root_directory=root, cost_to_spend=10)
    assert _counts(root) == {"failed": 1}
    assert "cost" in trial_file(root, 1, "report")["error"]


def test_fidelities_to_spend_counts_the_fidelity_of_every_trial_and_is_never_overshot(
    root: Path,
) -> None:
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 4)}
    seen: list[int] = []

    def evaluate(x: float, epochs: int) -> float:
        seen.append(epochs)
        return x

    summary = neps.run(
        evaluate, space, root_directory=root, fidelities_to_spend=10, optimizer="random_search"
    )
    assert seen == [4, 4]  # random search evaluates at the maximum fidelity; a third won't fit
    assert summary.budget.used_fidelities == 8


@pytest.mark.parametrize("optimizer", ["random_search", "hyperband", "priorband", "async_hb"])
def test_float_fidelities_are_summed_exactly_so_rounding_never_overshoots(
    root: Path, optimizer: str
) -> None:
    # Rungs of 10/81, 10/27, ... are not exact in binary: summed naively, priorband's 50 came
    # to 50.000000000000014.
    space = {
        "x": neps.Float(0.0, 1.0, prior=0.3),
        "epochs": neps.FloatFidelity(0.1, 10.0),
    }
    summary = neps.run(
        lambda x, epochs: x / epochs,
        space,
        root_directory=root,
        fidelities_to_spend=50,
        optimizer=optimizer,
        seed=1,
    )
    assert 45 <= summary.budget.used_fidelities <= 50


@pytest.mark.parametrize(
    ("optimizer", "upper", "budget", "trials"),
    [("random_search", 0.1, 0.3, 3), ("successive_halving", 0.9, 0.7, 7)],
)
def test_fidelities_that_add_up_to_the_budget_as_written_fill_it(
    root: Path, optimizer: str, upper: float, budget: float, trials: int
) -> None:
    # Every trial here runs at fidelity 0.1 (the maximum, or the lowest rung). Summed as the
    # floats they are (0.1 is 0.1000000000000000055...), three came to more than 0.3 and
    # seven to more than 0.7, so the last trial was refused with a tenth of the budget left.
    space = {"x": neps.Float(0.0, 1.0), "fraction": neps.FloatFidelity(0.1 * upper, upper)}
    summary = neps.run(
        lambda x, fraction: x,
        space,
        root_directory=root,
        fidelities_to_spend=budget,
        optimizer=optimizer,
        seed=1,
    )
    assert summary.budget.used_evaluations == trials
    assert summary.budget.used_fidelities == budget


def test_fidelities_to_spend_without_a_fidelity_parameter_is_refused(root: Path) -> None:
    with pytest.raises(SettingsError, match="fidelities_to_spend needs a fidelity parameter"):
        neps.run(Recorder(), SPACE, root_directory=root, fidelities_to_spend=10)
    with pytest.raises(SettingsError, match="fidelities_to_spend needs a fidelity parameter"):
        neps.AskAndTell(SPACE, root, fidelities_to_spend=10)
    assert not root.exists()  # refused before anything was written


@pytest.mark.parametrize("lower", [-5, 0])
def test_fidelities_to_spend_with_a_fidelity_reaching_zero_is_refused(
    root: Path, lower: int
) -> None:
    # A trial at fidelity -5 gave 5 back: 54 trials ran on fidelities_to_spend=10.
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(lower, 5)}
    with pytest.raises(SettingsError, match=rf"'epochs'.*lower bound must be > 0, got {lower}"):
        neps.run(
            lambda x, epochs: x,
            space,
            root_directory=root,
            fidelities_to_spend=10,
            optimizer=("random_search", {"ignore_fidelity": False}),
        )
    assert not root.exists()


def test_an_empty_space_is_refused(root: Path) -> None:
    with pytest.raises(SettingsError, match="pipeline_space has no parameters"):
        neps.run(Recorder(), {}, root_directory=root, evaluations_to_spend=3)
    assert not root.exists()


def test_sample_batch_size_leaves_pending_trials_that_are_claimed_later(
    root: Path, trial_file: Any
) -> None:
    objective = Recorder()
    neps.run(objective, SPACE, root_directory=root, max_evaluations_per_run=1, sample_batch_size=3)
    assert _counts(root) == {"success": 1, "pending": 2}
    pending = [trial_file(root, i, "config") for i in (2, 3)]
    neps.run(objective, SPACE, root_directory=root, max_evaluations_per_run=2)
    assert objective.calls[1:] == pending  # claimed, not re-sampled
    assert _counts(root) == {"success": 3}


def test_sample_batch_size_respects_the_evaluation_budget(root: Path) -> None:
    objective = Recorder()
    neps.run(objective, SPACE, root_directory=root, evaluations_to_spend=2, sample_batch_size=5)
    assert _counts(root) == {"success": 2}


def _run_in_background(**settings: Any) -> tuple[threading.Thread, list[neps.Summary]]:
    """``neps.run(Recorder(), SPACE, **settings)`` in a thread; its summary lands in the list."""
    results: list[neps.Summary] = []
    thread = threading.Thread(
        target=lambda: results.append(neps.run(Recorder(), SPACE, **settings)), daemon=True
    )
    thread.start()
    return thread, results


def test_continue_until_max_evaluation_completed_waits_for_open_trials(root: Path) -> None:
    neps.run(lambda x, depth: None, SPACE, root_directory=root, evaluations_to_spend=2)
    assert _counts(root) == {"evaluating": 2}
    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=2)
    assert _counts(root) == {"evaluating": 2}  # without the flag: return at once

    waiter, results = _run_in_background(
        root_directory=root, evaluations_to_spend=2, continue_until_max_evaluation_completed=True
    )
    waiter.join(timeout=1.0)
    assert waiter.is_alive(), "run() returned while trials were still being evaluated"
    for trial_id in ("1", "2"):
        neps.save_pipeline_results({"objective_to_minimize": 0.0}, trial_id, root)
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    assert results[0].counts["success"] == 2


def test_a_call_stopped_by_its_own_limit_does_not_wait_for_open_trials(root: Path) -> None:
    """The per-call limit is the share of work the call was given: waiting for every other
    trial of the run would make a job array's jobs last as long as the whole run."""
    neps.run(lambda x, depth: None, SPACE, root_directory=root, evaluations_to_spend=3,
             max_evaluations_per_run=2)  # fmt: skip
    caller, results = _run_in_background(
        root_directory=root,
        evaluations_to_spend=3,
        max_evaluations_per_run=1,
        continue_until_max_evaluation_completed=True,
    )
    caller.join(timeout=60)
    assert not caller.is_alive(), "run() waited for trials its limit did not give it"
    assert (results[0].counts["evaluating"], results[0].counts["success"]) == (2, 1)


# -- continuing ----------------------------------------------------------------------------------
def test_an_evaluation_changing_the_working_directory_moves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a relative root, the injected paths were relative: after os.chdir into the first
    # trial's folder, later trials went to config_1/root/configs/... and their files failed.
    monkeypatch.chdir(tmp_path)
    seen: list[Path] = []

    def evaluate_pipeline(x: float, pipeline_directory: Path) -> float:
        seen.append(pipeline_directory)
        os.chdir(pipeline_directory)
        return x

    space = {"x": neps.Float(0.0, 1.0)}
    summary = neps.run(evaluate_pipeline, space, root_directory="root", evaluations_to_spend=3)
    assert summary.counts["success"] == 3
    assert seen == [tmp_path / "root" / "configs" / f"config_{i}" for i in (1, 2, 3)]
    assert sorted(p.parent.name for p in tmp_path.rglob("report.yaml")) == [
        "config_1",
        "config_2",
        "config_3",
    ]
    assert len(list(tmp_path.rglob("configs"))) == 1


def test_continued_run_without_a_space_uses_the_saved_one(root: Path) -> None:
    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=2)
    objective = Recorder()
    neps.run(objective, root_directory=root, evaluations_to_spend=4)
    assert len(objective.calls) == 2
    assert all(0.0 <= c["x"] <= 1.0 and c["depth"] in (1, 2, 3) for c in objective.calls)
    assert neps.load_pipeline_space(root) == neps.PipelineSpace(SPACE)


def test_continued_run_with_an_equal_space_in_another_form(root: Path) -> None:
    class Space(neps.PipelineSpace):
        x = neps.Float(0.0, 1.0)
        depth = neps.Integer(1, 3)

    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=1)
    neps.run(Recorder(), Space, root_directory=root, evaluations_to_spend=2)
    neps.run(Recorder(), Space(), root_directory=root, evaluations_to_spend=3)
    assert _counts(root) == {"success": 3}


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"x": neps.Float(0.0, 2.0), "depth": neps.Integer(1, 3)}, "x"),
        ({"x": neps.Float(0.0, 1.0), "depth": neps.Integer(1, 3, prior=2)}, "depth"),
        ({"x": neps.Float(0.0, 1.0)}, "depth"),
        ({**SPACE, "width": neps.Integer(8, 64)}, "width"),
    ],
    ids=["bounds", "prior", "removed", "added"],
)
def test_continued_run_with_a_different_space_names_the_parameter(
    root: Path, changed: dict, named: str
) -> None:
    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=1)
    objective = Recorder()
    with pytest.raises(neps.SpaceMismatchError, match=f"'{named}'") as caught:
        neps.run(objective, changed, root_directory=root, evaluations_to_spend=3)
    assert isinstance(caught.value, ValueError)
    assert objective.calls == []
    assert _counts(root) == {"success": 1}


def test_trials_name_their_optimizer_and_records_without_the_name_still_load(
    root: Path,
) -> None:
    neps.run(lambda x, depth: x, SPACE, root_directory=root, evaluations_to_spend=2)
    neps.run(
        lambda x, depth: x,
        SPACE,
        root_directory=root,
        optimizer="grid_search",
        evaluations_to_spend=4,
    )
    history = read_run(root).history
    assert [trial.optimizer for trial in history.values()] == [
        "bayesian_optimization",
        "bayesian_optimization",
        "grid_search",
        "grid_search",
    ]
    converter = make_converter()
    record = to_plain(converter.unstructure(history["1"]))
    del record["optimizer"]  # as written before trials named their optimizer
    assert converter.structure(record, Trial).optimizer is None


def test_overwrite_root_directory_starts_fresh(root: Path, trial_file: Any) -> None:
    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=3)
    other = {"y": neps.Categorical(("p", "q"))}
    seen: list[str] = []

    def evaluate(y: str) -> float:
        seen.append(y)
        return 1.0

    summary = neps.run(
        evaluate, other, root_directory=root, evaluations_to_spend=2, overwrite_root_directory=True
    )
    assert len(seen) == 2
    assert summary.counts["success"] == 2
    assert not (root / "configs" / "config_3").exists()
    assert set(trial_file(root, 1, "config")) == {"y"}
    assert neps.load_pipeline_space(root) == neps.PipelineSpace(other)


def test_overwrite_root_directory_never_deletes_a_folder_without_a_run(tmp_path: Path) -> None:
    # root_directory="." next to the user's run config and code, say.
    (tmp_path / "train.py").write_text("print('the code')\n")
    (tmp_path / "summary.yaml").write_text("accuracy: 0.9\n")  # a name a run writes too
    (tmp_path / "data").mkdir()

    def evaluate(x: float, depth: int) -> float:
        return x

    with pytest.raises(
        SettingsError, match=r"holds no run but files of its own \(data, train.py\)"
    ):
        neps.run(
            evaluate,
            SPACE,
            root_directory=tmp_path,
            evaluations_to_spend=1,
            overwrite_root_directory=True,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "summary.yaml", "train.py"]
    empty = tmp_path / "data"
    summary = neps.run(
        evaluate, SPACE, root_directory=empty, evaluations_to_spend=1, overwrite_root_directory=True
    )
    assert summary.counts["success"] == 1


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_overwriting_a_run_beside_the_users_files_keeps_them(tmp_path: Path, storage: str) -> None:
    # root_directory="." next to the user's code: once a run was there, the overwrite emptied
    # the whole folder, the code, the data and the project's own configs/ included.
    # *Review*: plots/, tensorboard/ and configs/config_* files of its own went all the same,
    # and a configs/config_small.yaml kept a first run from starting there.
    own = {
        "train.py": "print('the code')\n",
        "data.csv": "a,b\n",
        "configs/model.yaml": "n: 3\n",
        "configs/config_small.yaml": "n: 1\n",
        "plots/paper_figure.pdf": "%PDF",
        "tensorboard/baseline/events.out": "events",
        "summary/report.md": "# the project's own summary\n",  # beside NePS's summary files
    }
    for name, text in own.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    neps.run(
        lambda x, depth: x, SPACE, root_directory=tmp_path, evaluations_to_spend=2, storage=storage
    )
    assert (tmp_path / "configs" / "config_2").is_dir()
    (tmp_path / ".neps_core_ranks" / "launch").mkdir(parents=True)  # as torchrun's ranks leave it
    summary = neps.run(
        lambda x, depth: x,
        SPACE,
        root_directory=tmp_path,
        evaluations_to_spend=1,
        storage=storage,
        overwrite_root_directory=True,
    )
    assert summary.counts["success"] == 1
    assert all((tmp_path / name).read_text() == text for name, text in own.items())
    configs = sorted(p.name for p in (tmp_path / "configs").iterdir())
    assert configs == ["config_1", "config_small.yaml", "model.yaml"]
    assert not (tmp_path / ".neps_core_ranks").exists()  # the old run's torchrun channel


def log_the_incumbent(x: float, depth: int) -> float:
    neps.tblogger.WriteIncumbent()
    return x


@pytest.mark.parametrize("notes", [False, True], ids=["the run's only", "beside the user's"])
def test_overwrite_starts_the_incumbent_curve_over(tmp_path: Path, notes: bool) -> None:
    # The old run's event file stayed in summary_tb/ (a folder the overwrite took for the
    # user's), and TensorBoard drew the old and the new run's points as one curve.
    own = tmp_path / "summary_tb" / "notes.md"
    neps.run(log_the_incumbent, SPACE, root_directory=tmp_path, evaluations_to_spend=2)
    if notes:
        own.write_text("the user's own\n")
    neps.run(
        log_the_incumbent,
        SPACE,
        root_directory=tmp_path,
        evaluations_to_spend=1,
        overwrite_root_directory=True,
    )
    assert [step for step, _ in scalars(tmp_path / "summary_tb", INCUMBENT_TAG)] == [0]
    assert len(list((tmp_path / "summary_tb").glob("events.out.tfevents.*"))) == 1
    assert own.is_file() is notes


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"configs/model.yaml": "layers: 3\n"}, "configs"),  # Hydra's configs/
        ({"plots/loss.png": "png", "summary.yaml": "a: 1\n"}, "plots, summary.yaml"),
        ({"configs/config_small.yaml": "a: 1\n", "plots/loss.png": "png"}, "configs"),
    ],
    ids=["configs of its own", "run names only", "config_ files, not folders"],
)
def test_overwrite_never_deletes_folders_that_only_share_a_runs_names(
    tmp_path: Path, files: dict[str, str], named: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with pytest.raises(SettingsError, match=rf"files of its own \({named}\)"):
        neps.run(
            lambda x, depth: x,
            SPACE,
            root_directory=tmp_path,
            evaluations_to_spend=1,
            overwrite_root_directory=True,
        )
    assert all((tmp_path / name).read_text() == text for name, text in files.items())


def test_overwrite_deletes_a_run_that_lost_its_storage_pointer(root: Path) -> None:
    neps.run(lambda x, depth: x, SPACE, root_directory=root, evaluations_to_spend=2)
    (root / "storage.yaml").unlink()
    summary = neps.run(
        lambda x, depth: x,
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
        overwrite_root_directory=True,
    )
    assert summary.counts["success"] == 1


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ({"evaluator": "thread"}, "Unknown evaluator 'thread'"),
        ({"optimizer": "nosuch"}, "Unknown optimizer 'nosuch'"),
        ({"optimizer": ("random_search", {"use_prior": True})}, "unknown option"),
        ({"storage": "nosuch"}, "Unknown storage 'nosuch'"),
        ({"storage": {"name": "disk", "fsync": "maybe"}}, "fsync must be true or false"),
        ({"storage": {"name": "sqlite", "lock_timout": 3}}, "unknown option"),
        ({"evaluator": {"name": "process_pool", "n_workers": 0}}, "n_workers must be at least 1"),
        ({"evaluate_pipeline": lambda y: y}, "requires 'y'"),
        ({"pipeline_space": None}, "needs a pipeline_space"),
    ],
)
def test_a_mistake_in_an_overwriting_call_keeps_the_old_run(
    root: Path, mistake: dict[str, Any], message: str
) -> None:
    # The old run was deleted first; then the mistake stopped the new one: nothing was left.
    neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=2)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    arguments = {
        "evaluate_pipeline": lambda x: x,
        "pipeline_space": {"x": neps.Float(0.0, 1.0)},
        "root_directory": root,
        "evaluations_to_spend": 2,
        "overwrite_root_directory": True,
        **mistake,
    }
    with pytest.raises((SettingsError, UnknownPluginError), match=message):
        neps.run(**arguments)
    assert neps.status(root).counts["success"] == 2
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


MISSING_EXTRA = """
import sys
sys.modules[sys.argv[2]] = None  # as if the extra were not installed
import neps_core as neps

def run(**more):
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(lambda x: x, space, root_directory=sys.argv[1], evaluations_to_spend=3, **more)

run()
for overwrite in (False, True):
    try:
        run(evaluator=sys.argv[3], overwrite_root_directory=overwrite)
    except ImportError as error:
        print("refused:", error)
print(neps.status(sys.argv[1]).counts)
"""


@pytest.mark.parametrize(
    ("evaluator", "module", "extra"),
    [("dask", "distributed", "neps-core[dask]"), ("slurm", "submitit", "neps-core[slurm]")],
)
def test_an_evaluator_whose_extra_is_missing_is_refused_before_the_run_changes(
    tmp_path: Path, evaluator: str, module: str, extra: str
) -> None:
    # The import came with the first trial: an overwrite had deleted the old run by then, and
    # a continuation had created trials that stayed pending.
    root = tmp_path / "run"
    args = [sys.executable, "-c", MISSING_EXTRA, str(root), module, evaluator]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.count(f"refused: The {evaluator} evaluator needs") == 2, out
    assert extra in out
    assert out.splitlines()[-1] == str({**{s.value: 0 for s in TrialState}, "success": 3})


# -- the built-in optimizers end to end ----------------------------------------------------------
GRID_SPACE = {
    "kind": neps.Categorical(("a", "b", "c")),
    "depth": neps.Integer(1, 3),
    "epochs": neps.IntegerFidelity(1, 5),
    "dataset": neps.Constant("cifar"),
}


def test_grid_search_covers_a_small_grid_exactly_once_then_stops(root: Path) -> None:
    seen: list[tuple[str, int]] = []

    def evaluate(kind: str, depth: int, epochs: int, dataset: str) -> float:
        assert epochs == 5 and dataset == "cifar"
        seen.append((kind, depth))
        return float(depth)

    grid = "grid_search"
    neps.run(evaluate, GRID_SPACE, root_directory=root, max_evaluations_per_run=4, optimizer=grid)
    assert len(seen) == 4
    summary = neps.run(
        evaluate, GRID_SPACE, root_directory=root, evaluations_to_spend=50, optimizer=grid
    )
    expected = {(kind, depth) for kind in "abc" for depth in (1, 2, 3)}
    assert len(seen) == 9 and set(seen) == expected  # each point once, across both calls
    assert summary.counts["success"] == 9
    neps.run(evaluate, GRID_SPACE, root_directory=root, evaluations_to_spend=50, optimizer=grid)
    assert len(seen) == 9


def test_grid_search_size_spaces_numeric_points_evenly(root: Path) -> None:
    seen: list[tuple[float, float]] = []

    def evaluate(x: float, lr: float) -> float:
        seen.append((x, lr))
        return x

    space = {"x": neps.Float(0.0, 1.0), "lr": neps.Float(1e-4, 1.0, log=True)}
    neps.run(evaluate, space, root_directory=root, optimizer={"name": "grid_search", "size": 3})
    xs = sorted({x for x, _ in seen})
    lrs = sorted({lr for _, lr in seen})
    assert len(seen) == 9
    assert xs == pytest.approx([0.0, 0.5, 1.0])
    assert lrs == pytest.approx([1e-4, 1e-2, 1.0])


def test_random_search_with_priors_samples_around_them(tmp_path: Path) -> None:
    space = {
        "x": neps.Float(0.0, 1.0, prior=0.9, prior_confidence="high"),
        "act": neps.Categorical(("relu", "tanh", "gelu"), prior="gelu", prior_confidence="high"),
    }
    results: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for use_priors, seen in results.items():

        def evaluate(x: float, act: str, seen: list[dict[str, Any]] = seen) -> float:
            seen.append({"x": x, "act": act})
            return x

        neps.run(
            evaluate,
            space,
            root_directory=tmp_path / str(use_priors),
            evaluations_to_spend=60,
            optimizer=("random_search", {"use_priors": use_priors}),
            seed=11,
        )

    def near_prior(configs: list[dict[str, Any]]) -> float:
        return sum(abs(c["x"] - 0.9) < 0.1 for c in configs) / len(configs)

    def gelu_share(configs: list[dict[str, Any]]) -> float:
        return sum(c["act"] == "gelu" for c in configs) / len(configs)

    assert near_prior(results[True]) > 0.7 and near_prior(results[False]) < 0.4
    assert gelu_share(results[True]) > 0.7 and gelu_share(results[False]) < 0.55


@pytest.mark.parametrize("optimizer", ["random_search", "bayesian_optimization"])
def test_a_seeded_run_continued_without_the_seed_keeps_it(tmp_path: Path, optimizer: str) -> None:
    # The seed belongs to the run, like its budgets: leaving it out made the continuation
    # differ from continuing with it.
    def continued(seed_again: bool) -> list[dict[str, Any]]:
        root = tmp_path / f"again_{seed_again}"
        neps.run(
            Recorder(),
            SPACE,
            root_directory=root,
            optimizer=optimizer,
            seed=5,
            evaluations_to_spend=6,
        )
        recorder = Recorder()
        again = {"seed": 5} if seed_again else {}
        neps.run(
            recorder,
            SPACE,
            root_directory=root,
            optimizer=optimizer,
            evaluations_to_spend=9,
            **again,
        )
        return recorder.calls

    without_seed = continued(seed_again=False)
    assert len(without_seed) == 3
    assert without_seed == continued(seed_again=True)


def test_a_run_without_any_budget_warns_that_it_may_not_end(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    space = {"depth": neps.Integer(1, 3)}
    summary = neps.run(lambda depth: depth, space, root_directory=root, optimizer="grid_search")
    assert summary.counts["success"] == 3  # grid search ends by itself here
    assert "No budget is set" in caplog.text
    caplog.clear()
    neps.run(lambda depth: depth, space, root_directory=root, evaluations_to_spend=3)
    assert "No budget is set" not in caplog.text


def test_a_run_names_its_root_as_the_user_gave_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # run() logged "/tmp/.../results" where status() and neps-core status say "results".
    monkeypatch.chdir(tmp_path)
    caplog.set_level("INFO", logger="neps_core")
    for _ in range(2):  # started, then continued
        neps.run(lambda x, depth: x, SPACE, root_directory="results", evaluations_to_spend=1)
    logged = [record.getMessage() for record in caplog.records if "results" in record.getMessage()]
    assert logged and all(" in results" in line for line in logged), logged
    assert not any(str(tmp_path) in line for line in logged), logged


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_run_that_lost_its_storage_pointer_is_never_mixed_with_a_new_one(
    root: Path, storage: str
) -> None:
    # Without storage.yaml a new run started in the same folder and overwrote
    # configs/config_1/config.yaml next to the old trial's checkpoint.
    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=2)
    (root / "configs" / "config_1" / "checkpoint.pt").write_text("precious")
    config = (root / "configs" / "config_1" / "config.yaml").read_text()
    (root / "storage.yaml").unlink()
    with pytest.raises(StorageError, match=r"holds files of a run \(configs.*'name: sqlite'"):
        neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=4, storage=storage)
    with pytest.raises(FileNotFoundError, match=r"holds files of a run .* storage.yaml"):
        neps.status(root)
    assert (root / "configs" / "config_1" / "config.yaml").read_text() == config
    (root / "storage.yaml").write_text("name: disk\n")  # restored, as the message says
    assert neps.status(root).budget.used_evaluations == 2


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_store_that_lost_its_trials_is_refused_not_started_over(root: Path, storage: str) -> None:
    # A wiped scratch database or an emptied journal started over at trial 1 inside the old
    # folders: old results gone, old config.yaml beside new results, old checkpoints reused.
    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=2, storage=storage)
    (root / "configs" / "config_1" / "checkpoint.pt").write_text("precious")
    if storage == "disk":
        (root / ".neps_core" / "journal.jsonl").write_text("")
    else:
        for database in root.glob("run.db*"):
            database.unlink()
    lost = r"holds trial folders \(config_1, config_2, ...\) but its storage .* records no trials"
    with pytest.raises(StorageError, match=lost):
        neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=4)
    with pytest.raises(StorageError, match=lost):
        neps.status(root)
    assert (root / "configs" / "config_1" / "checkpoint.pt").read_text() == "precious"
    summary = neps.run(  # the way out the message names
        Recorder(),
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
        overwrite_root_directory=True,
    )
    assert summary.budget.used_evaluations == 1


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_store_that_lost_its_newest_trials_is_refused_not_reusing_their_folders(
    root: Path, storage: str
) -> None:
    # New trials 3 and 4 took the old folders: the old checkpoint beside the new config, the
    # old config.yaml kept, the old results overwritten.
    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=4, storage=storage)
    (root / "configs" / "config_3" / "checkpoint.pt").write_text("precious")
    if storage == "disk":
        journal = root / ".neps_core" / "journal.jsonl"
        kept = [line for line in journal.read_text().splitlines(keepends=True)
                if json.loads(line)["id"] in ("1", "2")]  # fmt: skip
        journal.write_text("".join(kept))
    else:
        with sqlite3.connect(root / "run.db") as database:
            database.execute("DELETE FROM trials WHERE id IN ('3', '4')")
    lost = r"holds trial folders the record of its storage .* lacks \(config_3, config_4; its "
    with pytest.raises(StorageError, match=lost + r"newest trial is 2\)"):
        neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=6)
    assert (root / "configs" / "config_3" / "checkpoint.pt").read_text() == "precious"
    assert neps.status(root).budget.used_evaluations == 2  # what is left can still be read


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_trials_whose_run_record_was_lost_are_refused_not_joined(root: Path, storage: str) -> None:
    # Without run_info.yaml (or the database's run_info row) a run with another space started
    # among the old trials, mixing {'x': ...} and {'a': ...}; status said there was no run.
    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=2, storage=storage)
    if storage == "disk":
        (root / "run_info.yaml").unlink()
    else:
        with sqlite3.connect(root / "run.db") as database:
            database.execute("DELETE FROM run_info")
    lost = r"holds 2 trial\(s\) but not the record of the run they belong to"
    other = {"a": neps.Integer(0, 10)}
    with pytest.raises(StorageError, match=lost):
        neps.run(lambda a: a, other, root_directory=root, evaluations_to_spend=4)
    with pytest.raises(StorageError, match=lost):
        neps.status(root)
    summary = neps.run(  # the way out the message names
        lambda a: a,
        other,
        root_directory=root,
        evaluations_to_spend=1,
        overwrite_root_directory=True,
    )
    assert summary.budget.used_evaluations == 1


def test_an_optimizer_failing_on_a_hand_edited_configuration_names_the_trial(root: Path) -> None:
    # A value edited into the journal ("x": "str" for a Float) stopped BO with "could not
    # convert string to float: 'str'", naming neither the trial nor the parameter.
    space = {"x": neps.Float(0.0, 1.0)}
    run = functools.partial(neps.run, lambda x: x, space, root_directory=root)
    run(evaluations_to_spend=3, optimizer="bayesian_optimization")
    journal = root / ".neps_core" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    for record in records:
        if record["id"] == "2":
            record["config"]["x"] = "str"
    journal.write_text("".join(json.dumps(record) + "\n" for record in records))
    with pytest.raises(ValueError, match="could not convert") as caught:
        run(evaluations_to_spend=5)
    assert "trial 2: Parameter 'x': value 'str' is not in Float" in " ".join(caught.value.__notes__)


def test_damaged_run_files_that_are_read_back_are_named(root: Path) -> None:
    neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=2)
    pointer = (root / "storage.yaml").read_text()
    (root / "storage.yaml").write_text("name: [disk\n")
    with pytest.raises(SettingsError, match=r"storage\.yaml is damaged: not valid YAML"):
        neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=3)
    (root / "storage.yaml").write_text("name: disk\noptions: {fsync: maybe}\n")
    with pytest.raises(SettingsError, match="fsync must be true or false") as refused:
        neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=3)
    assert f"those {root / 'storage.yaml'} records" in str(refused.value.__notes__)
    (root / "storage.yaml").write_text(pointer)
    (root / "run_info.yaml").write_text("garbage: [\n")
    with pytest.raises(StorageError, match=r"run_info\.yaml"):
        neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=3)
    (root / "run_info.yaml").write_text("space: {}\n")  # cut short: the fields are named
    with pytest.raises(StorageError, match=r"valid run info file: .*run_info\.\w+"):
        neps.status(root)


def test_a_folder_with_configs_of_its_own_can_hold_a_new_run(root: Path) -> None:
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "model.yaml").write_text("layers: 3\n")  # Hydra's, say
    summary = neps.run(Recorder(), SPACE, root_directory=root, evaluations_to_spend=1)
    assert summary.budget.used_evaluations == 1


def test_a_parameter_named_like_an_injected_argument_is_refused(root: Path) -> None:
    # Its sampled value was silently replaced by the trial's folder.
    def evaluate(pipeline_directory: Path, x: float) -> float:
        return x

    space = {"x": neps.Float(0.0, 1.0), "pipeline_directory": neps.Float(0.0, 1.0)}
    with pytest.raises(SettingsError, match=r"\['pipeline_directory'\] .* rename"):
        neps.run(evaluate, space, root_directory=root, evaluations_to_spend=1)
    assert not root.exists()
    # Without the function asking for it, it is an ordinary parameter.
    summary = neps.run(lambda **c: c["x"], space, root_directory=root, evaluations_to_spend=1)
    assert summary.counts["success"] == 1


def _sampler_version(**options: Any) -> object:
    """An installed optimizer plugin ``sampler`` whose version has the settings ``options``."""
    fields = {k: attrs.field(default=v) for k, v in options.items()}
    settings = attrs.make_class("Settings", fields, bases=(RandomSearch.Settings,), frozen=True)
    sampler = type("Sampler", (RandomSearch,), {"name": "sampler", "Settings": settings})

    class Plugin:
        @neps.hookimpl
        def neps_register_optimizers(self) -> list[type]:
            return [sampler]

    return Plugin()


@pytest.mark.parametrize("optimizer", ["auto", "sampler"])
def test_options_an_upgraded_optimizer_no_longer_has_are_said_to_be_dropped(
    root: Path, caplog: pytest.LogCaptureFixture, optimizer: str
) -> None:
    # Version 2 renamed n_initial: the run continued without it, and nothing said so.
    space = {"x": neps.Float(0.0, 1.0)}
    version_1 = _sampler_version(n_initial=2)
    run = functools.partial(neps.run, lambda x: x, space, root_directory=root)
    run(evaluations_to_spend=1, optimizer=("sampler", {"n_initial": 2}), plugins=[version_1])
    with caplog.at_level("WARNING", logger="neps_core"):
        run(evaluations_to_spend=2, optimizer=optimizer, plugins=[_sampler_version(warmup=3)])
    assert "started with sampler options {'n_initial': 2}; sampler (from" in caplog.text
    assert "has no such options now: it continues without them" in caplog.text


# -- ending a run ---------------------------------------------------------------------------------
class BrokenFinishObserver:
    """A plugin whose ``neps_run_finished`` raises."""

    @neps.hookimpl
    def neps_run_finished(self, run: Any, summary: neps.Summary) -> None:
        raise RuntimeError("observer failed in run_finished")


def test_an_observer_failing_at_the_end_does_not_hide_the_runs_own_error(root: Path) -> None:
    def evaluate_pipeline(x: float, depth: int) -> float:
        raise ValueError("the user's real training error")

    with pytest.raises(ValueError, match="the user's real training error") as caught:
        neps.run(
            evaluate_pipeline,
            SPACE,
            root_directory=root,
            evaluations_to_spend=2,
            storage="sqlite",
            plugins=[BrokenFinishObserver()],
        )
    notes = " ".join(getattr(caught.value, "__notes__", []))
    assert "observer failed in run_finished" in notes
    assert _counts(root) == {"failed": 1}
    assert (root / "summary.yaml").is_file()  # the run was ended properly all the same


def test_an_observer_failing_at_the_end_of_a_good_run_raises(root: Path) -> None:
    with pytest.raises(RuntimeError, match="observer failed in run_finished"):
        neps.run(
            Recorder(),
            SPACE,
            root_directory=root,
            evaluations_to_spend=2,
            plugins=[BrokenFinishObserver()],
        )
    assert _counts(root) == {"success": 2}


class BatchEvaluator(SyncEvaluator):
    """Evaluates three trials, then hands their outcomes back together (as a pool may)."""

    name: ClassVar[str] = "batch_of_three"

    @property
    def capacity(self) -> int:
        return 3


def test_an_error_stopping_the_run_keeps_the_results_collected_with_it(root: Path) -> None:
    """Trial 2's result, collected with trial 1's error, was dropped: back to pending."""

    def evaluate_pipeline(x: float, pipeline_id: str) -> float:
        if pipeline_id == "1":
            raise ValueError("trial 1 diverged")
        return x

    with pytest.raises(ValueError, match="trial 1 diverged"):
        neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=3,
            optimizer="random_search",
            evaluator=BatchEvaluator,
        )
    assert _counts(root) == {"failed": 1, "success": 2}


def _start_with_asha_eta_2(root: Path, evaluations: int) -> None:
    """A run whose optimizer and options differ from what "auto" would pick (hyperband)."""
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}
    asha = ("asha", {"eta": 2})
    neps.run(
        lambda x, epochs: x,
        space,
        root_directory=root,
        evaluations_to_spend=evaluations,
        optimizer=asha,
    )


def test_continuing_with_auto_keeps_the_optimizer_and_options_the_run_started_with(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As in NePS: a continued script that names no optimizer does not change the search."""
    _start_with_asha_eta_2(root, evaluations=3)
    with caplog.at_level("INFO", logger="neps_core"):
        summary = neps.run(lambda x, epochs: x, root_directory=root, evaluations_to_spend=12)
    assert {trial.optimizer for trial in summary.trials} == {"asha"}  # "auto" picks hyperband
    assert "with its optimizer 'asha'" in caplog.text
    assert "options" not in caplog.text  # eta=2 kept, not auto's eta=3
    assert {trial.fidelity for trial in summary.trials} >= {2, 4}  # rungs of eta=2 on 1..9


def test_continuing_with_auto_drops_options_the_runs_optimizer_no_longer_has(
    root: Path,
) -> None:
    """A run recorded by an older version of a plugin: its removed option must not stop it."""
    _start_with_asha_eta_2(root, evaluations=2)
    run_info = root / "run_info.yaml"
    recorded = yaml.safe_load(run_info.read_text(encoding="utf-8"))
    recorded["optimizer_settings"]["removed_option"] = 1
    run_info.write_text(yaml.safe_dump(recorded), encoding="utf-8")
    summary = neps.run(lambda x, epochs: x, root_directory=root, evaluations_to_spend=4)
    assert {trial.optimizer for trial in summary.trials} == {"asha"}


class _UnlistedSearch(RandomSearch):
    """An optimizer passed as a class, so not registered: a continuation cannot name it."""

    name = "unlisted_search"


def test_continuing_with_auto_says_when_the_runs_optimizer_is_not_installed(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    neps.run(
        Recorder(), SPACE, root_directory=root, evaluations_to_spend=2, optimizer=_UnlistedSearch
    )
    with caplog.at_level("WARNING", logger="neps_core"):
        neps.run(Recorder(), root_directory=root, evaluations_to_spend=3)
    expected = "started with optimizer 'unlisted_search', which is not installed here"
    assert expected in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="neps_core"):
        neps.run(Recorder(), root_directory=root, evaluations_to_spend=4, optimizer=_UnlistedSearch)
    assert "started with optimizer" not in caplog.text


def test_continuing_with_other_options_of_the_same_optimizer_says_which(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """hyperband continued with eta=2 after eta=3 changes its rungs midway, silently before."""
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 27)}
    neps.run(
        lambda x, epochs: x,
        space,
        root_directory=root,
        evaluations_to_spend=3,
        optimizer="hyperband",
    )
    with caplog.at_level("WARNING", logger="neps_core"):
        neps.run(
            lambda x, epochs: x,
            root_directory=root,
            evaluations_to_spend=4,
            optimizer=("hyperband", {"eta": 2}),
        )
    assert "started with hyperband options {'eta': 3}; it continues with {'eta': 2}" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="neps_core"):
        neps.run(
            lambda x, epochs: x, root_directory=root, evaluations_to_spend=5, optimizer="hyperband"
        )
    assert "options" not in caplog.text  # compared with the options the run started with


def _two_objectives(x: float) -> dict[str, Any]:
    return {"objective_to_minimize": [x, 1.0 - x]}


def test_continuing_a_run_auto_moved_to_several_objectives_warns_nothing(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ "auto" started with a single-objective optimizer and switched at the first result."""
    neps.run(
        _two_objectives, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=2
    )
    assert neps.load_optimizer_info(root)["name"] == "bayesian_optimization"
    with caplog.at_level("WARNING", logger="neps_core"):
        summary = neps.run(_two_objectives, root_directory=root, evaluations_to_spend=4)
    assert "started with optimizer" not in caplog.text
    assert summary.counts["success"] == 4 and summary.pareto_front


def test_continuing_a_multi_objective_run_with_auto_keeps_its_optimizer(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # "auto" first picked a single-objective optimizer, warned that it replaced random_search,
    # then switched to random_search at the first proposal: the warning was false.
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(
        _two_objectives,
        space,
        root_directory=root,
        evaluations_to_spend=2,
        optimizer="random_search",
    )
    with caplog.at_level("INFO", logger="neps_core"):
        neps.run(_two_objectives, root_directory=root, evaluations_to_spend=4)
    assert "started with optimizer" not in caplog.text
    assert "runs random_search (chosen by optimizer='auto')" in caplog.text
    assert neps.status(root).counts["success"] == 4


def _requires_width(x: float, width: int) -> float:
    return x * width


def _requires_a_neps_name(x: float, working_directory: Path) -> float:
    return x


def _takes_the_rest_by_keyword(x: float, width: int = 2, **rest: Any) -> float:
    return x * width


def _keyword_supplied_by_a_decorator(x: float, width: int) -> float:
    return x * width


@functools.wraps(_keyword_supplied_by_a_decorator)
def _decorated(*args: Any, **kwargs: Any) -> float:
    return _keyword_supplied_by_a_decorator(*args, width=3, **kwargs)


def _needs_a_directory(x: float, pipeline_directory: Path) -> float:
    assert pipeline_directory.is_dir()
    return x


@functools.wraps(_needs_a_directory)
def _narrow_wrapper(x: float) -> float:  # supplies the directory itself
    return _needs_a_directory(x, pipeline_directory=Path.cwd())


@functools.cache  # a C wrapper: its own signature cannot be read
def _cached(x: float, pipeline_directory: Path) -> float:
    return _needs_a_directory(x, pipeline_directory)


def _deephyper_run_function(job: Any) -> float:
    return -float(job.parameters["x"])


@pytest.mark.parametrize(
    ("function", "named"),
    [
        (_requires_width, "'width'"),
        (_requires_a_neps_name, "working_directory is pipeline_dir"),
        (_deephyper_run_function, r"DeepHyper's run\(job\) reads job.parameters"),
    ],
)
def test_a_required_argument_no_trial_passes_is_refused_before_anything_is_written(
    tmp_path: Path, function: Any, named: str
) -> None:
    root = tmp_path / "run"
    with pytest.raises(SettingsError, match=named):
        neps.run(function, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=1)
    assert not root.exists()


def _accepts_only_x(x: float) -> float:
    return x


def _takes_x_positionally_only(x: float, /, width: int) -> float:
    return x * width


def _defaults_x_positionally_only(x: float = 0.5, /, width: int = 1) -> float:
    return x * width


def _defaults_x_positionally_only_with_kwargs(x: float = 0.5, /, **kwargs: Any) -> float:
    return x


def _defaults_a_directory_positionally_only(
    pipeline_directory: Path | None = None, /, **kwargs: Any
) -> float:
    assert pipeline_directory is not None
    return float(kwargs["x"])


def _needs_a_positionally_only(a: float, /, x: float, width: int) -> float:
    return a * x * width


_POSITIONAL_ONLY = "is positional-only .*make it a normal parameter"


@pytest.mark.parametrize(
    ("function", "named"),
    [
        (_accepts_only_x, "does not accept the space's entries 'width'"),
        # Passed by name, so never received: "requires 'x', which no trial passes: it
        # receives the space's entries (width, x) by name" contradicted itself.
        (_takes_x_positionally_only, f"'x' {_POSITIONAL_ONLY}"),
        # Was "does not accept the space's entries 'x' ...: add them as parameters".
        (_defaults_x_positionally_only, f"'x' {_POSITIONAL_ONLY}"),
        # Ran, every trial on x=0.5: the sampled x (or the directory) went into **kwargs.
        (_defaults_x_positionally_only_with_kwargs, f"'x' {_POSITIONAL_ONLY}"),
        (_defaults_a_directory_positionally_only, f"'pipeline_directory' {_POSITIONAL_ONLY}"),
        # Not an entry: making it a normal parameter (the advice given) still failed.
        (_needs_a_positionally_only, "requires 'a', .*add the parameter to the space or give"),
    ],
)
def test_an_entry_evaluate_pipeline_cannot_receive_is_refused_before_anything_is_written(
    tmp_path: Path, function: Any, named: str
) -> None:
    # Every trial failed with "unexpected keyword argument 'width'", each using up budget.
    root = tmp_path / "run"
    space = {"x": neps.Float(0.0, 1.0), "width": neps.Integer(1, 4)}
    with pytest.raises(SettingsError, match=named):
        neps.run(function, space, root_directory=root, evaluations_to_spend=1)
    assert not root.exists()


@pytest.mark.parametrize(
    "function",
    [_takes_the_rest_by_keyword, _decorated, _narrow_wrapper, _needs_a_directory, _cached],
)
def test_defaults_kwargs_and_decorators_are_not_refused(root: Path, function: Any) -> None:
    space = {"x": neps.Float(0.0, 1.0)}
    # A wrapper whose own signature cannot take pipeline_directory failed every trial with
    # "_needs_a_directory() got an unexpected keyword argument".
    summary = neps.run(function, space, root_directory=root, evaluations_to_spend=1)
    assert summary.counts["success"] == 1
