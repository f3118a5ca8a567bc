"""Results on disk and as objects: the run summary, ``status()``, ``trajectory.csv``,
``summary.yaml``, ``best_config.yaml``, ``load_config`` and logging.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import yaml

import neps_core as neps
from neps_core.errors import StorageError
from neps_core.models import FIDELITY_SEARCHED
from neps_core.summary import RunningBest, at_top_fidelity, summary_as_dict
from neps_core.summary_files import refresh_summary_files
from neps_core.testing import make_trial

SPACE = {
    "x": neps.Float(-1.0, 1.0),
    "width": neps.Categorical((16, 32, 64)),
    "bias": neps.Categorical((True, False)),
    "epochs": neps.IntegerFidelity(1, 9),
    "dataset": neps.Constant("mnist"),
}

LATE_REPORT = "import sys, neps_core as neps; neps.save_pipeline_results(-1.0, '5', sys.argv[1])"


class Objective:
    """``x ** 2``, failing for trial 3 and asynchronous (no result) for trial 5."""

    def __init__(self) -> None:
        self.received: dict[str, dict[str, Any]] = {}

    def __call__(self, pipeline_id: str, **config: Any) -> float | None:
        self.received[pipeline_id] = config
        if pipeline_id == "3":
            raise RuntimeError("diverged")
        if pipeline_id == "5":
            return None
        return config["x"] ** 2


@pytest.fixture
def finished_run(root: Path) -> tuple[neps.Summary, Objective]:
    """Six trials: four successes, one failure, one still evaluating."""
    objective = Objective()
    summary = neps.run(
        objective,
        SPACE,
        root_directory=root,
        evaluations_to_spend=6,
        ignore_errors=True,
        seed=3,
        optimizer="random_search",  # the maximum fidelity, as the assertions expect
    )
    return summary, objective


def _trajectory(root: Path) -> list[dict[str, str]]:
    with open(root / "trajectory.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_summary_has_the_best_config_and_counts_by_state(
    finished_run: tuple[neps.Summary, Objective],
) -> None:
    summary, objective = finished_run
    successes = {i: c for i, c in objective.received.items() if i not in ("3", "5")}
    best_id = min(successes, key=lambda i: successes[i]["x"] ** 2)
    assert summary.best_trial is not None and summary.best_trial.id == best_id
    assert summary.best_config == successes[best_id]
    assert summary.best_objective == pytest.approx(successes[best_id]["x"] ** 2)
    counts = {state: n for state, n in summary.counts.items() if n}
    assert counts == {"success": 4, "failed": 1, "evaluating": 1}
    assert set(summary.counts) == {state.value for state in neps.TrialState}


def test_status_returns_the_same_data(root: Path, finished_run: tuple[neps.Summary, Any]) -> None:
    summary, _ = finished_run
    status = neps.status(root)
    assert dict(status.counts) == dict(summary.counts)
    assert status.best_trial == summary.best_trial
    assert status.budget.used_evaluations == 6
    assert status.budget == summary.budget  # the budget the run was given too, not only its use
    assert status.budget.evaluations_to_spend == 6


def test_status_prints_what_the_cli_shows_when_asked(
    root: Path, finished_run: tuple[neps.Summary, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # NePS scripts call neps.status(root, print_summary=True); it was a TypeError.
    neps.status(root)
    assert capsys.readouterr().out == ""
    summary = neps.status(root, print_summary=True)
    printed = capsys.readouterr().out
    assert f"Run in {root}" in printed
    assert summary.best_trial is not None
    best = f"best: trial {summary.best_trial.id}, objective_to_minimize {summary.best_objective}"
    assert best in printed


def test_a_continuation_without_budgets_reports_no_stale_limit(
    root: Path, finished_run: tuple[neps.Summary, Any]
) -> None:
    # "9 of 6 evaluations": the limit of an earlier call, no longer in force.
    neps.run(lambda **config: config["x"], SPACE, root_directory=root, max_evaluations_per_run=2)
    status = neps.status(root)
    assert status.budget.used_evaluations == 8
    assert status.budget.evaluations_to_spend is None


def test_a_broken_budget_record_does_not_break_status(
    root: Path, finished_run: tuple[neps.Summary, Any]
) -> None:
    (root / "budget.yaml").write_text("evaluations_to_spend: [unclosed")
    status = neps.status(root)
    assert status.budget.used_evaluations == 6
    assert status.budget.evaluations_to_spend is None


def test_a_budget_record_that_cannot_be_written_is_a_storage_error_naming_it(
    root: Path,
) -> None:
    # It was a bare OSError naming no file (a full disk: "[Errno 28] No space left").
    space = {"x": neps.Float(0.0, 1.0)}
    neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=1)
    (root / "budget.yaml").unlink()
    (root / "budget.yaml").mkdir()  # any file that cannot be replaced
    with pytest.raises(StorageError, match=r"budgets in .*budget\.yaml: .*budget\.yaml"):
        neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=2)


def test_trajectory_has_one_row_per_finished_trial_and_a_monotone_best(
    root: Path, finished_run: tuple[neps.Summary, Objective]
) -> None:
    _, objective = finished_run
    rows = _trajectory(root)
    assert sorted(row["trial_id"] for row in rows) == ["1", "2", "3", "4", "6"]
    states = {row["trial_id"]: row["state"] for row in rows}
    assert states["3"] == "failed" and states["1"] == "success"
    running_best = float("inf")
    for row in rows:
        if row["state"] == "success":
            running_best = min(running_best, float(row["objective_to_minimize"]))
            expected = objective.received[row["trial_id"]]["x"] ** 2
            assert float(row["objective_to_minimize"]) == pytest.approx(expected)
        if row["best_objective_so_far"]:
            assert float(row["best_objective_so_far"]) == pytest.approx(running_best)
    bests = [float(r["best_objective_so_far"]) for r in rows if r["best_objective_so_far"]]
    assert bests == sorted(bests, reverse=True)


def test_trajectory_grows_when_an_asynchronous_result_arrives(
    root: Path, finished_run: tuple[neps.Summary, Objective]
) -> None:
    neps.save_pipeline_results(-1.0, "5", root)
    rows = _trajectory(root)
    assert len(rows) == 6
    assert rows[-1]["trial_id"] == "5" and float(rows[-1]["best_objective_so_far"]) == -1.0


def test_a_writer_that_read_the_run_earlier_never_writes_over_a_newer_trajectory(
    root: Path, finished_run: tuple[neps.Summary, Objective]
) -> None:
    """Workers finishing together: one read the run before another's result landed."""
    reporter: subprocess.Popen[str] | None = None

    def read_before_the_other_result_lands() -> neps.Summary:
        nonlocal reporter
        stale = neps.status(root)  # five finished trials; trial 5 still awaits its result
        reporter = subprocess.Popen(
            [sys.executable, "-c", LATE_REPORT, str(root)], stdin=subprocess.DEVNULL, text=True
        )
        while neps.status(root).counts["success"] < 5:  # trial 5's result has landed
            assert reporter.poll() in (None, 0), "the reporting process failed"
            time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            reporter.wait(timeout=3)  # without a lock, it writes its newer files now
        return stale

    refresh_summary_files(root, read_before_the_other_result_lands)
    assert reporter is not None and reporter.wait(timeout=60) == 0
    assert [row["trial_id"] for row in _trajectory(root)][-1] == "5"
    summary_file = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
    assert summary_file["counts"]["success"] == 5


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_a_root_whose_path_is_not_utf8_is_written_and_continued(
    tmp_path: Path, storage: str
) -> None:
    """Linux allows any byte in a file name; libyaml's emitter refused the surrogate."""
    root = tmp_path / os.fsdecode(b"nb\xff dir") / "run"
    for budget in (2, 3):
        summary = neps.run(
            lambda x: x,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=budget,
            storage=storage,
        )
        assert summary.counts["success"] == budget
    assert neps.status(root).counts["success"] == 3
    written = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
    assert written["root_directory"] == str(root)
    assert len(_trajectory(root)) == 3


def test_summary_and_best_config_files(
    root: Path, finished_run: tuple[neps.Summary, Objective]
) -> None:
    summary, _ = finished_run
    on_disk = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
    assert on_disk["counts"] == dict(summary.counts)
    best = yaml.safe_load((root / "best_config.yaml").read_text(encoding="utf-8"))
    assert summary.best_trial is not None
    assert str(best["trial_id"]) == summary.best_trial.id
    assert best["config"] == dict(summary.best_trial.config)
    assert best["objective_to_minimize"] == pytest.approx(summary.best_objective)
    assert "pipeline" not in best and summary.best_pipeline is None  # it would read the same


def test_choices_stored_as_indices_are_shown_as_the_pipeline_received_them(root: Path) -> None:
    """A categorical of tuples stores the index; the summaries also show the tuple."""
    layouts = ((32, 32), (64, 64, 64))
    space = {
        "sizes": neps.Categorical(choices=layouts),
        "lr": neps.Float(0.1, 1.0),
        "dropout": neps.Categorical(choices=list(np.linspace(0.1, 0.5, 3))),  # NumPy floats
    }
    summary = neps.run(
        lambda sizes, lr, dropout: sum(sizes) * lr + dropout,
        space,
        root_directory=root,
        evaluations_to_spend=4,
        optimizer="random_search",
        seed=0,
    )
    assert summary.best_config is not None and summary.best_pipeline is not None
    index = summary.best_config["sizes"]
    expected = {
        "sizes": str(layouts[index]),
        "lr": summary.best_config["lr"],
        "dropout": summary.best_config["dropout"],
    }
    assert summary.best_pipeline == expected
    assert neps.status(root).best_pipeline == expected  # the space is rebuilt from the run
    best = yaml.safe_load((root / "best_config.yaml").read_text(encoding="utf-8"))
    assert best["config"]["sizes"] == index and best["pipeline"] == expected
    on_disk = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
    assert on_disk["best"]["pipeline"] == expected
    trial = root / "configs" / f"config_{summary.best_trial.id}"  # type: ignore[union-attr]
    assert yaml.safe_load((trial / "resolved.yaml").read_text(encoding="utf-8")) == expected


def test_load_config_returns_what_evaluate_pipeline_received(
    root: Path, finished_run: tuple[neps.Summary, Objective]
) -> None:
    _, objective = finished_run
    for trial_id, received in objective.received.items():
        trial_dir = root / "configs" / f"config_{trial_id}"
        for loaded in (
            neps.load_config(root, config_id=trial_id),
            neps.load_config(root, config_id=f"config_{trial_id}"),
            neps.load_config(root, config_id=int(trial_id)),
            neps.load_config(trial_dir / "config.yaml"),
            neps.load_config(str(trial_dir)),
            neps.load_config(root, config_id=trial_id, pipeline_space=SPACE),
        ):
            assert loaded == received
            assert type(loaded["width"]) is int and type(loaded["bias"]) is bool
    assert objective.received["1"]["dataset"] == "mnist" and objective.received["1"]["epochs"] == 9


def test_load_config_reads_the_storage_when_a_trial_folder_has_no_config_file(
    root: Path, finished_run: tuple[neps.Summary, Objective]
) -> None:
    """A storage plugin need not write config.yaml (the built-in ones do)."""
    _, objective = finished_run
    trial_dir = root / "configs" / "config_1"
    (trial_dir / "config.yaml").unlink()
    assert neps.load_config(root, config_id="1") == objective.received["1"]
    assert neps.load_config(trial_dir) == objective.received["1"]
    shutil.rmtree(trial_dir)  # the whole folder gone: it looked for configs/config.yaml
    assert neps.load_config(root, config_id="1") == objective.received["1"]


@pytest.mark.parametrize("edited", [False, True], ids=["damaged", "edited"])
def test_load_config_reads_the_storage_whatever_config_yaml_says(
    root: Path, finished_run: tuple[neps.Summary, Objective], edited: bool
) -> None:
    # A damaged view raised PyYAML's multi-line error; an edited one was returned as what
    # evaluate_pipeline had received.
    _, objective = finished_run
    view = root / "configs" / "config_1" / "config.yaml"
    text = yaml.safe_dump({**yaml.safe_load(view.read_text()), "x": 0.123})
    view.write_text(text if edited else "width: [1, 2\n", encoding="utf-8")
    assert neps.load_config(root, config_id="1") == objective.received["1"]
    outside = root.parent / "copied" / "config.yaml"  # outside a run there is no record
    outside.parent.mkdir()
    outside.write_text("width: [1, 2\n", encoding="utf-8")
    with pytest.raises(
        neps.NepsCoreError, match=r"config.yaml is damaged: not valid YAML \(.*line"
    ):
        neps.load_config(outside)


def test_load_config_of_best_config_yaml_is_the_best_trials_configuration(
    root: Path, finished_run: tuple[neps.Summary, Objective], tmp_path: Path
) -> None:
    summary, objective = finished_run
    best = objective.received[summary.best_trial.id]  # type: ignore[union-attr]
    assert neps.load_config(root / "best_config.yaml") == best
    copied = tmp_path / "copied" / "best_config.yaml"  # outside the run: its config entry
    copied.parent.mkdir()
    shutil.copy(root / "best_config.yaml", copied)
    assert neps.load_config(copied)["x"] == best["x"]
    for name in ("best_config.yaml", "summary.yaml"):  # a user's own file of that name
        mine = tmp_path / "elsewhere" / name
        mine.parent.mkdir(exist_ok=True)
        mine.write_text("lr: 0.1\nlayers: 3\n", encoding="utf-8")
        assert neps.load_config(mine) == {"lr": 0.1, "layers": 3}


@pytest.mark.parametrize(
    "file", ["configs/config_1/report.yaml", "configs/config_1/metadata.yaml", "summary.yaml"]
)
def test_load_config_refuses_a_runs_files_that_hold_no_configuration(
    root: Path, finished_run: tuple[neps.Summary, Any], file: str
) -> None:
    """They were returned as if they were the configuration (a report's keys, the counts)."""
    with pytest.raises(neps.NepsCoreError, match=f"{file} is not a configuration"):
        neps.load_config(root / file)


def test_load_config_of_a_root_without_config_id_asks_for_it(
    root: Path, finished_run: tuple[neps.Summary, Any]
) -> None:
    # NePS raises a ValueError; ours was only a NepsCoreError, which `except ValueError` missed.
    with pytest.raises(
        neps.ConfigIdMissingError, match="is a run's root directory: pass config_id="
    ):
        neps.load_config(root)
    assert issubclass(neps.ConfigIdMissingError, ValueError)
    assert issubclass(neps.ConfigIdMissingError, neps.NepsCoreError)


def test_load_config_takes_nepss_positional_order_too(
    root: Path, finished_run: tuple[neps.Summary, Any]
) -> None:
    # NePS's load_config(config_path, pipeline_space, config_id): the space was taken for an id,
    # "No configuration at .../configs/config_{'x': Float(...)}/config.yaml".
    expected = neps.load_config(root, config_id="1", pipeline_space=SPACE)
    trial_file = root / "configs" / "config_1" / "config.yaml"
    assert neps.load_config(trial_file, SPACE) == expected
    assert neps.load_config(root, SPACE, "1") == expected
    assert neps.load_config(root, SPACE, 1) == expected
    assert neps.load_config(root, SPACE, config_id="1") == expected
    assert neps.load_config(root, "1", SPACE) == expected  # ours, as before
    assert neps.load_config(root, "1", pipeline_space=SPACE) == expected
    # NePS's order without a space: the id was dropped (ConfigIdMissingError on the root).
    assert neps.load_config(root, None, "1") == expected
    assert neps.load_config(root, None, 1) == expected
    assert neps.load_config(root, None, SPACE, config_id="1") == expected  # ours


def test_load_config_takes_a_numpy_integer_as_the_config_id(
    root: Path, finished_run: tuple[neps.Summary, Any]
) -> None:
    # Trial ids read from a pandas frame are np.int64: taken for a space, the id was dropped.
    expected = neps.load_config(root, config_id="1", pipeline_space=SPACE)
    assert neps.load_config(root, np.int64(1), SPACE) == expected
    assert neps.load_config(root, SPACE, np.int64(1)) == expected


@pytest.mark.parametrize(
    ("arguments", "keywords", "message"),
    [
        ((SPACE, SPACE), {}, "two spaces positionally"),
        ((SPACE,), {"pipeline_space": SPACE}, "pipeline_space twice"),
        (("1",), {"config_id": "1"}, "config_id twice"),
        ((SPACE, "1"), {"config_id": "2"}, "config_id twice"),
        (("1", SPACE, "1"), {}, "got 4 positional arguments"),
        # A float id (pandas') was taken for the space: the root asked for config_id=, or a
        # trial folder said no adapter accepts a float, neither naming the 3.0.
        ((3.0,), {}, r"got 3\.0, neither a config id \(a str or int\) nor a space"),
        (("1", 3.0), {}, r"got 3\.0, neither a config id"),
    ],
)
def test_load_config_refuses_arguments_it_cannot_tell_apart(
    root: Path,
    finished_run: tuple[neps.Summary, Any],
    arguments: tuple[Any, ...],
    keywords: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(TypeError, match=message):
        neps.load_config(root, *arguments, **keywords)


def test_load_config_checks_a_given_space_and_names_missing_ids(
    root: Path, finished_run: tuple[neps.Summary, Any]
) -> None:
    with pytest.raises(ValueError, match=r"config_1/config.yaml: .*'x'"):  # names the file
        neps.load_config(root, config_id="1", pipeline_space={"x": neps.Float(5.0, 6.0)})
    with pytest.raises(FileNotFoundError, match="config_77"):
        neps.load_config(root, config_id="77")


def test_a_run_whose_storage_plugin_is_missing_says_it_must_be_installed(
    root: Path, finished_run: tuple[neps.Summary, Any]
) -> None:
    """Say, a storage passed to run(plugins=[module]) once: status() has no plugins= to pass."""
    (root / "storage.yaml").write_text("name: jsonfile\nurl: null\noptions: {}\n")
    with pytest.raises(neps.UnknownPluginError, match="'jsonfile'") as caught:
        neps.status(root)
    assert any("started with storage 'jsonfile'" in note for note in caught.value.__notes__)


def test_status_of_a_directory_without_a_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="empty"):
        neps.status(tmp_path / "empty")


def test_post_run_summary_false_writes_no_summary_files(root: Path) -> None:
    neps.run(
        lambda **c: 1.0, SPACE, root_directory=root, evaluations_to_spend=2, post_run_summary=False
    )
    assert not (root / "summary.yaml").exists() and not (root / "trajectory.csv").exists()
    assert neps.status(root).counts["success"] == 2


def test_runs_log_through_logging(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="neps_core"):
        neps.run(
            lambda **c: 1.0, SPACE, root_directory=root, evaluations_to_spend=1, worker_id="w-9"
        )
    assert any(r.name.startswith("neps_core") for r in caplog.records)


def test_the_best_trial_is_taken_at_the_highest_fidelity_reached(
    root: Path, optimistic_fidelity_run: neps.Summary
) -> None:
    """A low-fidelity evaluation that looks better is not reported as the best."""
    summary = optimistic_fidelity_run
    assert summary.best_trial is not None
    assert summary.best_trial.config["epochs"] == 4
    assert summary.best_objective is not None and summary.best_objective >= 0.0
    # The trajectory counts the same trials: blank until the first at epochs 4, then
    # monotone, ending at the summary's best (it ended at an optimistic epochs-1 value).
    rows = _trajectory(root)
    at_top = [i for i, row in enumerate(rows) if float(row["objective_to_minimize"]) >= 0.0]
    assert all(row["best_objective_so_far"] == "" for row in rows[: at_top[0]])
    best = [float(row["best_objective_so_far"]) for row in rows[at_top[0] :]]
    assert best == sorted(best, reverse=True)
    assert best[-1] == summary.best_objective


@pytest.mark.parametrize("optimizer", ["random_search", "grid_search"])
def test_a_fidelity_searched_like_a_parameter_competes_at_any_value(
    root: Path, optimizer: str
) -> None:
    """With ``ignore_fidelity=False`` the best was the trial with the largest fidelity drawn."""

    def evaluate(x: float, fraction: float) -> dict[str, Any]:
        return {"objective_to_minimize": [x + fraction, 1.0 - x], "cost": 1.0}

    def run_12(evaluate: Any, directory: Path) -> neps.Summary:
        space = {"x": neps.Float(0.0, 1.0), "fraction": neps.FloatFidelity(0.1, 1.0)}
        searched = (optimizer, {"ignore_fidelity": False})
        neps.run(
            evaluate,
            space,
            root_directory=directory,
            evaluations_to_spend=12,
            optimizer=searched,
            seed=2,
        )
        return neps.status(directory)

    status = run_12(evaluate, root)
    trials = [t for t in status.trials if t.objective is not None]
    assert len({t.fidelity for t in trials}) > 1
    assert all(t.metadata.get("fidelity_searched") is True for t in trials)
    front = {t.id for t in status.pareto_front}
    dominated = {
        t.id
        for t in trials
        for u in trials
        if all(a <= b for a, b in zip(u.objective, t.objective, strict=True))  # type: ignore[arg-type]
        and u.objective != t.objective
    }
    assert front == {t.id for t in trials} - dominated
    assert len(front) > 1

    single = root.parent / "single"
    status = run_12(lambda x, fraction: x + fraction, single)
    assert status.best_objective == min(t.objective for t in status.trials)  # type: ignore[type-var]
    rows = _trajectory(single)
    assert float(rows[-1]["best_objective_so_far"]) == status.best_objective
    assert all(row["best_objective_so_far"] != "" for row in rows)


def test_one_scheduled_fidelity_ranks_every_trial_by_fidelity_again() -> None:
    """Continued with a multi-fidelity optimizer, a searched low-fidelity trial that looks
    better must not become the best (nor the incumbent it promotes from)."""
    searched = attrs.evolve(
        make_trial(1, {"x": 0.1, "epochs": 1}, objective=0.01, fidelity=1),
        metadata={FIDELITY_SEARCHED: True},
    )
    scheduled = make_trial(2, {"x": 0.5, "epochs": 9}, objective=0.5, fidelity=9)
    assert at_top_fidelity([searched]) == [searched]
    assert at_top_fidelity([searched, scheduled]) == [scheduled]


def test_the_pareto_front_is_taken_at_the_highest_fidelity_reached(root: Path) -> None:
    """Cheap evaluations that look better on an objective do not make the front."""

    def evaluate(x: float, epochs: int) -> dict[str, Any]:
        optimism = 0.0 if epochs == 9 else 10.0
        return {"objective_to_minimize": [x - optimism, 1.0 - x], "cost": epochs}

    summary = neps.run(
        evaluate,
        {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)},
        root_directory=root,
        cost_to_spend=80,
        optimizer="mo_asha",
        seed=0,
    )
    assert summary.pareto_front
    assert {trial.config["epochs"] for trial in summary.pareto_front} == {9}
    status = neps.status(root)
    assert [t.id for t in status.pareto_front] == [t.id for t in summary.pareto_front]
    on_disk = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
    assert [p["config"] for p in on_disk["pareto_front"]] == [
        dict(t.config) for t in summary.pareto_front
    ]


def test_the_pareto_front_shows_choices_stored_as_indices_readably(root: Path) -> None:
    """Only the single-objective best got ``pipeline:``; the front showed bare indices."""
    shapes = [(1, 2), (2, 1), (0, 3)]
    summary = neps.run(
        lambda x, shape: [x + shape[0], 1 - x + shape[1]],
        {"x": neps.Float(0.0, 1.0), "shape": neps.Categorical(shapes)},
        root_directory=root,
        evaluations_to_spend=10,
        optimizer="random_search",
    )
    assert len(summary.pareto_pipelines) == len(summary.pareto_front) > 0
    on_disk = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
    for entry in on_disk["pareto_front"]:
        assert entry["pipeline"]["shape"] == str(shapes[entry["config"]["shape"]])
        assert entry["pipeline"]["x"] == entry["config"]["x"]
    built_elsewhere = attrs.evolve(summary, pareto_pipelines=())  # e.g. by a plugin
    assert "pipeline" not in summary_as_dict(built_elsewhere)["pareto_front"][0]


@pytest.mark.parametrize("searched", [False, True], ids=["scheduled", "searched"])
def test_the_running_best_ranks_as_the_summary_does(searched: bool) -> None:
    # The progress line recomputed the best over every success after each trial: O(n).
    rng = np.random.default_rng(0)
    running, trials = RunningBest(), []
    for number in range(1, 60):
        fidelity = float(rng.choice([1.0, 3.0, 9.0])) if number > 1 else None
        trial = make_trial(number, {}, objective=float(rng.random()), fidelity=fidelity)
        if searched:
            trial = attrs.evolve(trial, metadata={FIDELITY_SEARCHED: True})
        trials.append(trial)
        running.add(trial)
        expected = min(t.objective for t in at_top_fidelity(trials))
        assert running.best == expected, number


def test_status_takes_nepss_pipeline_space_variables(
    root: Path, finished_run: tuple[neps.Summary, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """NePS's warmstarting example passes (space, names) to name the printed best config."""
    space = neps.load_pipeline_space(root)
    summary = neps.status(
        root, print_summary=True, pipeline_space_variables=(space, list(space.parameters))
    )
    assert summary == neps.status(root)
    assert "best: trial" in capsys.readouterr().out
    with pytest.raises(TypeError, match=r"NePS's \(space, \[names\]\) pair, got str"):
        neps.status(root, pipeline_space_variables="lr")
