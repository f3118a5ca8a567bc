"""The ``tensorboard`` observer: event files read back record by record (the TFRecord framing)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from tensorboard_events import read_events
from tensorboardX.proto import api_pb2, plugin_hparams_pb2

import neps_core as neps
from neps_core_plugins.tensorboard import ENVIRONMENT_VARIABLE, TensorBoardLogger

SPACE = {
    "lr": neps.Float(1e-4, 1e-1, log=True),
    "act": neps.Categorical(("relu", "tanh")),
    "epochs": neps.IntegerFidelity(1, 4),
}


def read_trial(directory: Path) -> tuple[dict[str, Any], dict[str, list[tuple[int, float]]]]:
    """The HParams of one trial's session and its scalars by tag."""
    hparams: dict[str, Any] = {}
    scalars: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for event in read_events(directory):
        for value in event.summary.value:
            if value.tag == "_hparams_/session_start_info":
                plugin_data = plugin_hparams_pb2.HParamsPluginData()
                plugin_data.ParseFromString(value.metadata.plugin_data.content)
                for name, entry in plugin_data.session_start_info.hparams.items():
                    hparams[name] = getattr(entry, entry.WhichOneof("kind"))
            elif value.HasField("simple_value"):
                scalars[value.tag].append((event.step, value.simple_value))
    return hparams, dict(scalars)


def session_status(directory: Path) -> str:
    """The status the trial's HParams session ended with, e.g. ``STATUS_SUCCESS``."""
    (status,) = [
        api_pb2.Status.Name(
            plugin_hparams_pb2.HParamsPluginData.FromString(
                value.metadata.plugin_data.content
            ).session_end_info.status
        )
        for event in read_events(directory)
        for value in event.summary.value
        if value.tag == "_hparams_/session_end_info"
    ]
    return status


def evaluate(lr: float, act: str, epochs: int) -> Any:
    if act == "tanh":
        raise ValueError("diverged")
    return {
        "objective_to_minimize": lr * epochs,
        "cost": float(epochs),
        "learning_curve": [1.0 / (step + 1) for step in range(epochs)],
    }


def test_each_trial_gets_hparams_objective_and_learning_curve(tmp_path: Path) -> None:
    root = tmp_path / "run"
    summary = neps.run(
        evaluate,
        SPACE,
        root_directory=root,
        evaluations_to_spend=8,
        optimizer="random_search",
        ignore_errors=True,
        seed=3,
        plugins=[TensorBoardLogger()],
    )
    logged = sorted(p.name for p in (root / "tensorboard").iterdir())
    assert logged == sorted(f"trial_{i}" for i in range(1, 9))
    history = neps.status(root)
    assert history.counts["failed"] > 0
    assert history.counts["success"] > 0
    for trial_id in range(1, 9):
        config = neps.load_config(root, trial_id)
        hparams, scalars = read_trial(root / "tensorboard" / f"trial_{trial_id}")
        assert hparams["lr"] == pytest.approx(config["lr"])
        assert hparams["act"] == config["act"]
        assert hparams["epochs"] == config["epochs"]
        report = _report(root, trial_id)
        if report.get("error"):
            assert hparams["trial_state"] == "failed"
            assert session_status(root / "tensorboard" / f"trial_{trial_id}") == "STATUS_FAILURE"
            assert "objective_to_minimize" not in scalars
            continue
        assert hparams["trial_state"] == "success"
        assert session_status(root / "tensorboard" / f"trial_{trial_id}") == "STATUS_SUCCESS"
        ((step, objective),) = scalars["objective_to_minimize"]
        assert step == config["epochs"]
        assert objective == pytest.approx(report["objective_to_minimize"])
        assert scalars["cost"] == [(config["epochs"], float(config["epochs"]))]
        curve = scalars["learning_curve"]
        assert [s for s, _ in curve] == list(range(1, config["epochs"] + 1))
        assert [v for _, v in curve] == pytest.approx(report["learning_curve"])
    assert summary.best_objective is not None


def test_the_default_one_point_curve_of_a_number_is_not_logged_as_a_curve(
    tmp_path: Path,
) -> None:
    """A number returned is stored with NePS's default curve, [objective]: logging it drew a
    one-step learning_curve for every trial of a run that reported no curve."""
    root = tmp_path / "run"
    neps.run(
        lambda lr, act, epochs: lr,
        SPACE,
        root_directory=root,
        evaluations_to_spend=2,
        plugins=[TensorBoardLogger()],
    )
    for trial in neps.status(root).trials:
        assert trial.report is not None and trial.report.learning_curve == (trial.objective,)
        _, scalars = read_trial(root / "tensorboard" / f"trial_{trial.id}")
        assert "objective_to_minimize" in scalars and "learning_curve" not in scalars


def _report(root: Path, trial_id: int) -> dict[str, Any]:
    import yaml

    path = root / "configs" / f"config_{trial_id}" / "report.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_multi_objective_and_a_chosen_directory(tmp_path: Path) -> None:
    neps.run(
        lambda lr, act, epochs: (lr, float(epochs)),
        SPACE,
        root_directory=tmp_path / "run",
        evaluations_to_spend=2,
        optimizer="random_search",
        plugins=[TensorBoardLogger(tmp_path / "tb")],
    )
    _, scalars = read_trial(tmp_path / "tb" / "trial_1")
    assert set(scalars) == {"objective_to_minimize/0", "objective_to_minimize/1"}
    assert not math.isnan(scalars["objective_to_minimize/1"][0][1])


def declared_metrics(directory: Path) -> list[str]:
    """The metrics the trial's HParams experiment declares (TensorBoard takes one trial's)."""
    (content,) = [
        value.metadata.plugin_data.content
        for event in read_events(directory)
        for value in event.summary.value
        if value.tag == "_hparams_/experiment"
    ]
    experiment = plugin_hparams_pb2.HParamsPluginData.FromString(content).experiment
    return [info.name.tag for info in experiment.metric_infos]


@pytest.mark.parametrize("on_error", [None, 5.0])
def test_failed_trials_of_a_multi_objective_run_declare_each_objective(
    tmp_path: Path, on_error: float | None
) -> None:
    """A failed trial declared the single metric 'objective_to_minimize' (and logged
    objective_value_on_error under it): the HParams table lost its per-objective columns."""
    calls = iter(range(100))

    def evaluate(x: float) -> tuple[float, float]:
        if next(calls) == 0 or x > 0.5:  # the first fails before any result
            raise RuntimeError("diverged")
        return x, 1 - x

    root, logs = tmp_path / "run", tmp_path / "tb"
    options: dict[str, Any] = {
        "pipeline_space": {"x": neps.Float(0.0, 1.0)},
        "root_directory": root,
        "optimizer": "random_search",
        "objective_value_on_error": on_error,
        "ignore_errors": True,
        "seed": 2,
    }
    neps.run(
        evaluate,
        **options,
        evaluations_to_spend=8,
        plugins=[TensorBoardLogger(logs / "first")],
    )
    # A worker that starts now learns the number of objectives from the others' trials.
    neps.run(
        lambda x: 1 / 0,
        **options,
        evaluations_to_spend=9,
        plugins=[TensorBoardLogger(logs / "later")],
    )
    objectives = ["objective_to_minimize/0", "objective_to_minimize/1"]
    history = neps.status(root)
    assert history.counts["failed"] >= 2 and history.counts["success"] >= 1
    for trial_directory in [*(logs / "first").iterdir(), logs / "later" / "trial_9"]:
        assert declared_metrics(trial_directory) == [*objectives, "cost"], trial_directory
        _, scalars = read_trial(trial_directory)
        assert "objective_to_minimize" not in scalars
        if on_error is not None and session_status(trial_directory) == "STATUS_FAILURE":
            assert {name: scalars[name][0][1] for name in objectives} == dict.fromkeys(
                objectives, on_error
            )


def test_a_single_objective_run_holds_no_failed_trial_once_a_success_reported(
    tmp_path: Path,
) -> None:
    """Failures of a single-objective run stayed held (to be declared again should the run turn
    out to have several objectives) for the whole run, each one reading the storage again."""
    calls = iter(range(100))

    def evaluate(x: float) -> float:
        if next(calls) in (0, 2, 3, 5):  # the first fails before any result
            raise RuntimeError("diverged")
        return x

    logger = TensorBoardLogger(tmp_path / "tb")
    neps.run(
        evaluate,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path / "run",
        evaluations_to_spend=6,
        ignore_errors=True,
        plugins=[logger],
    )
    assert logger._undeclared == set()
    for trial_directory in (tmp_path / "tb").iterdir():
        assert declared_metrics(trial_directory) == ["objective_to_minimize", "cost"]


class Relu:
    pass


class Tanh:
    pass


class Layer:
    def __init__(self, width: int) -> None:
        self.width = width


class OperationSpace(neps.PipelineSpace):
    activation = neps.Categorical(
        choices=(neps.Operation(operator=Relu), neps.Operation(operator=Tanh))
    )
    _width = neps.Integer(8, 16)
    layer = neps.Operation(operator=Layer, kwargs={"width": _width})


def test_operations_are_logged_as_evaluate_pipeline_gets_them(tmp_path: Path) -> None:
    """A categorical of operations was logged as the index of its choice (0, 1)."""
    summary = neps.run(
        lambda activation, layer: float(layer.width),
        OperationSpace(),
        root_directory=tmp_path / "run",
        evaluations_to_spend=2,
        optimizer="random_search",
        plugins=[TensorBoardLogger(tmp_path / "tb")],
    )
    for trial in summary.trials:
        hparams, _ = read_trial(tmp_path / "tb" / f"trial_{trial.id}")
        width = trial.config["_width"]
        assert hparams["activation"] in ("Relu()", "Tanh()")
        assert hparams["layer"] == f"Layer(width={width})"


def test_installed_is_not_enabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    neps.run(
        lambda lr, act, epochs: lr, SPACE, root_directory=tmp_path / "run", evaluations_to_spend=2
    )
    assert not (tmp_path / "run" / "tensorboard").exists()


SCRIPT = """
import sys
import neps_core as neps

neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
         evaluations_to_spend=3)
"""


@pytest.mark.parametrize("value", ["1", "custom_logs"])
def test_the_environment_enables_it(tmp_path: Path, value: str) -> None:
    (tmp_path / "script.py").write_text(SCRIPT, encoding="utf-8")
    subprocess.run(
        [sys.executable, "script.py", "run"],
        cwd=tmp_path,
        check=True,
        timeout=120,
        env={**os.environ, ENVIRONMENT_VARIABLE: value},
    )
    logs = tmp_path / "run" / "tensorboard" if value == "1" else tmp_path / value
    assert sorted(p.name for p in logs.iterdir()) == ["trial_1", "trial_2", "trial_3"]
    hparams, scalars = read_trial(logs / "trial_2")
    assert set(hparams) == {"x", "trial_state"}
    assert scalars["objective_to_minimize"][0][1] == pytest.approx(hparams["x"])


def test_a_tilde_log_directory_is_under_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It made a folder literally named ~ in the working directory.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert TensorBoardLogger("~/tb").log_dir == tmp_path / "home" / "tb"
    assert (tmp_path / "home" / "tb").is_dir() and not (tmp_path / "~").exists()


# -- a log directory it cannot write ------------------------------------------------------------
def test_a_log_directory_that_cannot_be_made_fails_before_any_trial(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory", encoding="utf-8")
    with pytest.raises(neps.SettingsError, match=r"TensorBoard log directory .*afile/tb"):
        TensorBoardLogger(tmp_path / "afile" / "tb")
    root = tmp_path / "run"
    root.mkdir()
    (root / "tensorboard").write_text("where the default directory goes", encoding="utf-8")
    with pytest.raises(neps.SettingsError, match=r"TensorBoard log directory .*run/tensorboard"):
        neps.run(
            lambda lr, act, epochs: lr,
            SPACE,
            root_directory=root,
            evaluations_to_spend=2,
            plugins=[TensorBoardLogger()],
        )
    assert sum(neps.status(root).counts.values()) == 0


def test_the_environment_naming_a_bad_directory_stops_the_run_at_its_start(tmp_path: Path) -> None:
    # The run used to stop after its first trial, with a bare NotADirectoryError.
    (tmp_path / "afile").write_text("not a directory", encoding="utf-8")
    (tmp_path / "script.py").write_text(SCRIPT, encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "script.py", "run"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, ENVIRONMENT_VARIABLE: str(tmp_path / "afile" / "tb")},
    )
    assert completed.returncode != 0
    assert f"SettingsError: {ENVIRONMENT_VARIABLE}={tmp_path / 'afile' / 'tb'}" in completed.stderr
    assert "TensorBoard log directory" in completed.stderr
    assert sum(neps.status(tmp_path / "run").counts.values()) == 0


def test_a_write_failing_during_the_run_stops_the_logging_not_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logs = tmp_path / "tb"
    logs.mkdir()
    (logs / "trial_2").write_text("a file where trial 2's events go", encoding="utf-8")
    summary = neps.run(
        lambda lr, act, epochs: lr,
        SPACE,
        root_directory=tmp_path / "run",
        evaluations_to_spend=4,
        optimizer="random_search",
        plugins=[TensorBoardLogger(logs)],
    )
    assert summary.counts["success"] == 4
    assert sorted(p.name for p in logs.iterdir()) == ["trial_1", "trial_2"]
    assert read_trial(logs / "trial_1")[1]["objective_to_minimize"]
    (warning,) = [r for r in caplog.records if "TensorBoard" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert f"TensorBoard logging into {logs} stopped at trial 2" in warning.getMessage()


# -- values tensorboardX refuses ----------------------------------------------------------------
def test_ints_beyond_numpy_are_logged_as_floats_or_text(tmp_path: Path) -> None:
    # An int outside [-2**63, 2**64) made tensorboardX raise a TypeError out of the hook,
    # which stopped the run after its first trial, and every later run on that root.
    space = neps.PipelineSpace(
        {"n": neps.Integer(lower=2**65, upper=2**66), "c": neps.Categorical((10**400,))}
    )
    summary = neps.run(
        lambda n, c: 1.0,
        space,
        root_directory=tmp_path / "run",
        evaluations_to_spend=2,
        plugins=[TensorBoardLogger(tmp_path / "tb")],
    )
    assert summary.counts["success"] == 2
    for trial in summary.trials:
        hparams, scalars = read_trial(tmp_path / "tb" / f"trial_{trial.id}")
        assert hparams["n"] == float(trial.config["n"])
        assert hparams["c"] == str(10**400)
        assert scalars["objective_to_minimize"] == [(0, 1.0)]


def test_a_configuration_tensorboardx_refuses_is_one_warning_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # tensorboardX cannot encode a lone surrogate; the exception stopped the run.
    summary = neps.run(
        lambda s, x: 1.0,
        {"s": neps.Categorical(("\ud800",)), "x": neps.Float(0.0, 1.0)},
        root_directory=tmp_path / "run",
        evaluations_to_spend=3,
        plugins=[TensorBoardLogger(tmp_path / "tb")],
    )
    assert summary.counts["success"] == 3
    for trial_id in (1, 2, 3):
        hparams, scalars = read_trial(tmp_path / "tb" / f"trial_{trial_id}")
        assert hparams == {}
        assert scalars["objective_to_minimize"] == [(0, 1.0)]
    warnings = [
        r for r in caplog.records if "TensorBoard" in r.getMessage() and r.levelname == "WARNING"
    ]
    assert len(warnings) == 1
    assert "configuration of trial 1" in warnings[0].getMessage()
    # tensorboardX 2.6 refuses it with a ValueError, later ones with a UnicodeEncodeError.
    assert re.search(r"UnicodeEncodeError|ValueError", warnings[0].getMessage())
