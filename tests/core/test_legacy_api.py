"""The legacy API of seed 001 keeps working and says, with a DeprecationWarning, what replaces it.

Old NePS scripts (``run_pipeline=``, ``searcher=``, ``max_evaluations_total=``,
``max_cost_total=``, result keys ``loss`` and ``info_dict``) must run unchanged.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
import warnings
from collections.abc import Callable
from opcode import opmap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import neps_core as neps
from neps_core import _imports_from
from neps_core.space import space_from_description

TrialFileReader = Callable[..., Any]
SPACE = {
    "element_1": neps.Float(-1.0, 1.0),
    "element_2": neps.Integer(1, 5),
    "element_3": neps.Categorical((0.5, 1.5)),
}


def run_pipeline(**config: Any) -> float:
    """Seed 001's first example, verbatim in spirit."""
    return config["element_1"] - config["element_2"] + config["element_3"]


def _deprecations(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [
        ("run_pipeline", "evaluate_pipeline", run_pipeline),
        ("searcher", "optimizer", "random_search"),
        ("max_evaluations_total", "evaluations_to_spend", 3),
        ("working_directory", "root_directory", "<root>"),
        ("overwrite_working_directory", "overwrite_root_directory", True),
        ("loss_value_on_error", "objective_value_on_error", 10.0),
    ],
)
def test_legacy_run_arguments_warn_with_the_new_name(
    root: Path, old: str, new: str, value: Any
) -> None:
    arguments: dict[str, Any] = {
        "evaluate_pipeline": run_pipeline,
        "pipeline_space": SPACE,
        "root_directory": root,
        "evaluations_to_spend": 3,
    }
    arguments.pop(new, None)
    arguments[old] = root if value == "<root>" else value
    with pytest.warns(DeprecationWarning, match=rf"{old}.*{new}") as caught:
        summary = neps.run(**arguments)
    assert summary.counts["success"] == 3
    matching = [w for w in caught if old in str(w.message)]
    assert matching[0].filename == __file__  # points at the caller's line, so it is shown


def test_seed_001_script_runs_with_all_legacy_names(root: Path) -> None:
    def legacy(**config: Any) -> dict[str, Any]:
        loss = run_pipeline(**config)
        return {"loss": loss, "cost": 2, "info_dict": {"reverse_loss": -loss}}

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = neps.run(
            run_pipeline=legacy,
            pipeline_space=SPACE,
            root_directory=root,
            max_cost_total=10,
            searcher="random_search",
        )
    messages = " | ".join(_deprecations(caught))
    for old, new in [
        ("run_pipeline", "evaluate_pipeline"),
        ("max_cost_total", "cost_to_spend"),
        ("searcher", "optimizer"),
        ("loss", "objective_to_minimize"),
    ]:
        assert old in messages and new in messages, (old, messages)
    assert "info_dict" not in messages  # NePS's current name of extra, not deprecated
    assert summary.counts["success"] == 5  # "each evaluation costs 2 ... 5 evaluations"
    assert summary.budget.used_cost == 10


def test_loss_and_info_dict_are_stored_under_the_new_keys(
    root: Path, trial_file: TrialFileReader
) -> None:
    def legacy(**config: Any) -> dict[str, Any]:
        loss = run_pipeline(**config)
        return {"loss": loss, "info_dict": {"reverse_loss": -loss}}

    with pytest.warns(DeprecationWarning) as caught:
        neps.run(legacy, SPACE, root_directory=root, evaluations_to_spend=1)
    messages = " | ".join(_deprecations(list(caught)))
    assert "'loss'" in messages and "'objective_to_minimize'" in messages
    config = trial_file(root, 1, "config")
    report = trial_file(root, 1, "report")
    assert report["objective_to_minimize"] == pytest.approx(run_pipeline(**config))
    assert report["extra"]["reverse_loss"] == pytest.approx(-run_pipeline(**config))
    assert "loss" not in report["extra"] and "info_dict" not in report["extra"]


def _legacy_result(**config: Any) -> dict[str, float]:
    return {"loss": 0.5}


def _told_async(root: Path) -> None:
    neps.run(lambda **config: None, SPACE, root_directory=root, evaluations_to_spend=1)
    neps.save_pipeline_results({"loss": 0.5}, "1", root)


def _told_by_a_client(root: Path) -> None:
    with neps.AskAndTell(SPACE, root, evaluations_to_spend=1) as client:
        client.tell(client.ask(), {"loss": 0.5})


@pytest.mark.parametrize(
    "tell",
    [
        lambda root: neps.run(_legacy_result, SPACE, root_directory=root, evaluations_to_spend=1),
        lambda root: neps.run(
            _legacy_result, SPACE, root_directory=root, evaluations_to_spend=1, evaluator="process"
        ),
        _told_async,
        _told_by_a_client,
    ],
    ids=["sync", "process_pool", "save_pipeline_results", "ask_and_tell"],
)
def test_the_loss_keys_warning_points_at_the_users_line(
    root: Path, tell: Callable[[Path], object]
) -> None:
    # A fixed stacklevel pointed into neps_core (reporting.py, api.py), where the default
    # filters hide a DeprecationWarning; the first frame outside neps_core is the user's.
    with pytest.warns(DeprecationWarning, match="'loss' is deprecated") as caught:
        tell(root)
    assert [w.filename for w in caught if "'loss'" in str(w.message)] == [__file__]


def test_info_dict_is_nepss_current_name_of_extra_and_warns_nothing(
    root: Path, trial_file: TrialFileReader
) -> None:
    """NePS's UserResultDict has info_dict today; it warned 'deprecated', pointing at
    neps_core's runtime.py."""

    def evaluate(**config: Any) -> dict[str, Any]:
        return neps.UserResultDict(objective_to_minimize=1.0, info_dict={"train_time": 2.0})

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        neps.run(evaluate, SPACE, root_directory=root, evaluations_to_spend=1)
    assert trial_file(root, 1, "report")["extra"] == {"train_time": 2.0}


def test_a_plain_script_sees_the_warnings_raised_inside_neps_core(tmp_path: Path) -> None:
    """Python hides a DeprecationWarning that does not point into __main__: these never showed."""
    (tmp_path / "run.yaml").write_text(
        "pipeline_space: {x: {lower: 0.0, upper: 1.0}}\n"
        "root_directory: results\n"
        "max_evaluations_total: 2\n",
        encoding="utf-8",
    )
    script = "import neps_core as neps\nneps.run(lambda x: {'loss': x}, run_config='run.yaml')\n"
    completed = _python_with_default_warning_filters(script, tmp_path)
    assert "run.yaml: max_evaluations_total is deprecated" in completed.stderr
    assert completed.stderr.count("The result key 'loss' is deprecated") == 1  # once, not per trial


def test_a_run_configs_old_key_is_shown_when_run_is_called_from_a_module(tmp_path: Path) -> None:
    """Pointed at the caller's line, in a module other than __main__, Python hid it."""
    (tmp_path / "run.yaml").write_text(
        "pipeline_space: {x: {lower: 0.0, upper: 1.0}}\n"
        "root_directory: results\n"
        "max_evaluations_total: 1\n",
        encoding="utf-8",
    )
    (tmp_path / "train.py").write_text(
        "import neps_core as neps\n\n\ndef main():\n"
        "    neps.run(lambda x: x, run_config='run.yaml')\n",
        encoding="utf-8",
    )
    completed = _python_with_default_warning_filters("import train\ntrain.main()\n", tmp_path)
    assert "train.py:5: DeprecationWarning: run.yaml: max_evaluations_total" in completed.stderr


def _python_with_default_warning_filters(
    script: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as a user's process would (no PYTHONWARNINGS from the test session)."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"},
    )


@pytest.mark.parametrize("old", ["max_cost_total", "budget"])  # budget: NePS's older name
def test_max_cost_total_counts_the_cost(root: Path, old: str) -> None:
    def costly(**config: Any) -> dict[str, Any]:
        return {"objective_to_minimize": 0.0, "cost": 4}

    with pytest.warns(DeprecationWarning) as caught:  # searcher=: a budget is no option of it
        summary = neps.run(costly, SPACE, root_directory=root, searcher="random_search", **{old: 8})
    assert summary.counts["success"] == 2
    assert any(f"{old}=...) is deprecated; use cost_to_spend" in m for m in _deprecations(caught))


def test_legacy_and_new_name_together_must_agree(root: Path) -> None:
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ValueError, match=r"max_evaluations_total.*evaluations_to_spend"),
    ):
        neps.run(
            run_pipeline,
            SPACE,
            root_directory=root,
            max_evaluations_total=2,
            evaluations_to_spend=3,
        )


def test_new_names_do_not_warn(root: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        neps.run(run_pipeline, SPACE, root_directory=root, evaluations_to_spend=2)
    assert _deprecations(caught) == []


def test_write_summary_to_disk_is_nepss_newer_name_of_post_run_summary(tmp_path: Path) -> None:
    for write in (False, True):
        root = tmp_path / str(write)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            neps.run(
                run_pipeline,
                SPACE,
                root_directory=root,
                evaluations_to_spend=1,
                write_summary_to_disk=write,
            )
        assert _deprecations(caught) == []  # a current NePS name
        assert (root / "summary.yaml").exists() is write


def test_searcher_options_given_as_run_arguments_reach_the_optimizer(root: Path) -> None:
    # Seed 001's run(searcher="name", option=...): the extra arguments are the searcher's.
    with pytest.warns(DeprecationWarning) as caught:
        neps.run(
            run_pipeline,
            SPACE,
            root_directory=root,
            evaluations_to_spend=2,
            searcher="random_search",
            use_priors=True,
        )
    assert any("optimizer=('random_search', {'use_priors'" in m for m in _deprecations(caught))
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ValueError, match=r"optimizer.*initial_design_size"),
    ):
        neps.run(
            run_pipeline,
            SPACE,
            root_directory=root,
            evaluations_to_spend=3,
            searcher="random_search",
            initial_design_size=5,  # not an option of random search: named in the error
        )


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"pre_load_hooks": []}, "pre_load_hooks is not supported by neps_core: observe"),
        ({"searcher_path": None}, "searcher_path is not supported by neps_core: register"),
        ({"warmstart_configs": []}, r"warmstart_configs is not supported .*import_trials"),
        ({"max_evaluation_total": 3}, "did you mean max_evaluations_total, today evaluations_"),
    ],
)
def test_with_searcher_removed_and_misspelled_settings_are_no_optimizer_options(
    root: Path, extra: dict[str, Any], said: str
) -> None:
    """They were passed to the optimizer, as its unknown options, losing what to do instead."""
    with pytest.warns(DeprecationWarning) as caught, pytest.raises(neps.SettingsError) as error:
        neps.run(run_pipeline, SPACE, root_directory=root, searcher="random_search", **extra)
    assert error.match(said)
    assert "option" not in str(error.value)
    assert not any("optimizer=('random_search'" in m for m in _deprecations(caught))


def test_nepss_older_positional_root_directory_is_refused_saying_so(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NePS's run(run_pipeline, root_directory, pipeline_space): a third positional was
    Python's "takes from 0 to 2 positional arguments", a second one a space no adapter
    accepts; nothing may be written where the root defaults to (./neps_results)."""
    monkeypatch.chdir(tmp_path)
    said = r"older run\(run_pipeline, root_directory, pipeline_space\) took root_directory"
    named = re.escape(f"pass root_directory={str(root)!r} by name")  # each way names the root
    with pytest.raises(neps.SettingsError, match=rf"2 positional arguments.*{said}.*{named}"):
        neps.run(run_pipeline, str(root), SPACE, evaluations_to_spend=1)
    with pytest.raises(neps.SettingsError, match=rf"'{root}' is no space file.*{said}.*{named}"):
        neps.run(run_pipeline, str(root), evaluations_to_spend=1)
    neps.run(run_pipeline, SPACE, root_directory=root, evaluations_to_spend=1)
    with pytest.raises(neps.SettingsError, match=said):  # an existing run's root, NePS's way
        neps.run(run_pipeline, root, evaluations_to_spend=2)
    assert sorted(path.name for path in tmp_path.iterdir()) == [root.name]
    assert neps.status(root).counts["success"] == 1


def test_a_positional_root_directory_beside_the_space_by_name_names_the_keyword(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NePS's run(run_pipeline, root_directory, pipeline_space=...) was Python's bare "got
    multiple values for argument 'pipeline_space'", naming neither the root nor the way out."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(neps.SettingsError) as refused:
        neps.run(run_pipeline, str(root), pipeline_space=SPACE, evaluations_to_spend=1)
    message = str(refused.value)
    assert message.startswith("run() got pipeline_space twice: as its second positional")
    assert f"pass root_directory={str(root)!r}" in message and "older run(run_pipeline" in message
    with pytest.raises(neps.SettingsError, match=r"got pipeline_space twice.*pass one only"):
        neps.run(run_pipeline, SPACE, pipeline_space=SPACE, root_directory=root)
    with pytest.raises(neps.SettingsError, match=r"got evaluate_pipeline twice: as its first"):
        neps.run(run_pipeline, evaluate_pipeline=run_pipeline, root_directory=root)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda root: neps.run(run_pipeline, root, pipeline_space=SPACE),
        lambda root: neps.run(run_pipeline, SPACE, pipeline_space=SPACE, root_directory=root),
        lambda root: neps.run(run_pipeline, root, SPACE),
    ],
    ids=["root beside pipeline_space=", "space twice", "third positional"],
)
def test_a_call_python_would_refuse_is_a_type_error_too(
    call: Callable[[str], Any], root: Path
) -> None:
    """Refused as a SettingsError only, it escaped ``except TypeError``, which catches
    Python's own "got multiple values for argument" and "takes 2 positional arguments"."""
    with pytest.raises(TypeError) as refused:
        call(str(root))
    assert isinstance(refused.value, neps.SettingsError)  # as before, a ValueError too
    assert "run() " in str(refused.value) and not root.exists()


@pytest.mark.parametrize("given", ["space.json", "space.YAML"])
def test_a_space_file_given_twice_is_not_taken_for_a_root_directory(given: str) -> None:
    # Any path not ending in .yaml was "a folder": "pass root_directory='space.json'", while
    # run(f, "space.json") alone is refused as no space file, not as a root directory.
    with pytest.raises(neps.SettingsError, match=r"got pipeline_space twice") as refused:
        neps.run(run_pipeline, given, pipeline_space=SPACE)
    assert "pass one only" in str(refused.value) and "root_directory=" not in str(refused.value)


def test_a_type_checker_flags_a_third_positional_argument_too() -> None:
    """``*root_directory_second: Any`` let mypy accept ``run(f, space, "results/x")``, which
    only fails when run; ``NoReturn`` admits no argument (mypy: 'expected "Never"')."""
    hints = typing.get_type_hints(neps.run)
    assert hints["root_directory_second"] is typing.NoReturn


def test_task_and_development_stage_ids_are_subfolders_of_the_root_as_in_neps(
    root: Path,
) -> None:
    with pytest.warns(DeprecationWarning, match=r"root_directory='.*task_2.dev_b'") as caught:
        summary = neps.run(
            run_pipeline,
            SPACE,
            root_directory=root,
            evaluations_to_spend=2,
            task_id=2,
            development_stage_id="b",
        )
    assert Path(summary.root_directory) == root / "task_2" / "dev_b"
    assert neps.status(root / "task_2" / "dev_b").counts["success"] == 2
    # The root given to run() said only "No neps_core run in <root>".
    below = r"but below it in task_2.dev_b \(where run\("
    with pytest.raises(FileNotFoundError, match=below):
        neps.status(root)
    # load_config and a client without a space said "No configuration at ..." and
    # "pipeline_space is required", not where the run is.
    for config_id in ("1", None):  # without one: "No configuration at <root>/config.yaml"
        with pytest.raises(FileNotFoundError, match=below):
            neps.load_config(root, config_id=config_id)
    with pytest.raises(neps.SettingsError, match=below):
        neps.AskAndTell(root_directory=root)
    assert [w.filename for w in caught if "task_id" in str(w.message)] == [__file__]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # None: no subfolder, no warning
        neps.run(run_pipeline, SPACE, root_directory=root, evaluations_to_spend=1, task_id=None)
    assert neps.status(root).counts["success"] == 1


@pytest.mark.parametrize(
    ("setting", "hint"),
    [
        ("pre_load_hooks", "neps_trial_sampled"),
        ("warmstart_configs", "neps.import_trials"),
        ("evaluations_to_spent", "did you mean evaluations_to_spend"),
        ("max_evaluations_totl", "did you mean max_evaluations_total, today evaluations_to_spend"),
    ],
)
def test_removed_and_misspelled_settings_say_what_to_do(
    root: Path, setting: str, hint: str
) -> None:
    with pytest.raises(ValueError, match=rf"{setting}.*{hint}"):
        neps.run(run_pipeline, SPACE, root_directory=root, evaluations_to_spend=1, **{setting: 1})
    assert not root.exists()


def test_old_parameter_names_build_todays_parameters(root: Path) -> None:
    with pytest.warns(DeprecationWarning, match="FloatParameter is NePS's old name of Float"):
        lr = neps.FloatParameter(1e-4, 1e-1, log=True, default=1e-2, default_confidence="high")
    assert lr == neps.Float(1e-4, 1e-1, log=True, prior=1e-2, prior_confidence="high")
    with pytest.warns(DeprecationWarning):
        space = {
            "lr": lr,
            "epochs": neps.IntegerParameter(1, 9, is_fidelity=True),
            "optimizer": neps.CategoricalParameter(["adam", "sgd"], default="sgd"),
            "seed": neps.ConstantParameter(7),
        }
    assert space["epochs"] == neps.IntegerFidelity(1, 9)
    assert space["optimizer"].prior_index == 1 and space["seed"] == neps.Constant(7)
    summary = neps.run(
        lambda lr, epochs, optimizer, seed: lr * epochs,
        space,
        root_directory=root,
        fidelities_to_spend=20,
        optimizer="priorband",
    )
    assert summary.best_trial is not None

    description = {
        "lr": {
            "lower": 1e-4,
            "upper": 0.1,
            "log": True,
            "default": 0.01,
            "default_confidence": "high",
        }
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert space_from_description(description).parameters["lr"] == lr
    assert [str(w.message) for w in caught] == [
        "Parameter 'lr': 'default' is NePS's old name of 'prior'",
        "Parameter 'lr': 'default_confidence' is NePS's old name of 'prior_confidence'",
    ]
    assert {w.category for w in caught} == {DeprecationWarning}


def test_an_old_categorical_default_names_a_choice_not_an_index() -> None:
    # NePS's old default= was a choice; read as today's index prior, 2 among (1, 2, 4) meant 4.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no AmbiguousPriorWarning: nothing is ambiguous
        warnings.simplefilter("ignore", DeprecationWarning)
        old = neps.CategoricalParameter([1, 2, 4], default=2, default_confidence="high")
        from_yaml = space_from_description({"b": {"choices": [1, 2, 4], "default": 2}})
    assert (old.prior_index, old.prior_confidence) == (1, "high")
    assert from_yaml.parameters["b"].prior_index == 1
    with pytest.warns(DeprecationWarning):
        by_index = neps.CategoricalParameter(["a", "b"], default=1)  # no choice: an index
    assert by_index.prior_index == 1
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="prior 'c'"):
        neps.CategoricalParameter(["a", "b"], default="c")


def test_nepss_other_spellings_of_todays_names() -> None:
    assert neps.Resample("x") == neps.Resampled("x")
    with pytest.raises(
        TypeError,
        match=r"Float: write upper= instead of max_value= and lower= instead of min_value=",
    ):
        neps.Float(min_value=1e-6, max_value=1e-2, log=True)  # type: ignore[call-arg]
    with pytest.warns(DeprecationWarning):
        assert neps.FloatParameter(lower=0.0, upper=1.0) == neps.Float(0.0, 1.0)


def test_old_argument_names_of_todays_parameters_say_the_new_ones() -> None:
    with pytest.raises(
        TypeError, match=r"Float: write prior= instead of default= \(NePS's old names"
    ):
        neps.Float(0.0, 1.0, default=0.5)
    with pytest.raises(TypeError, match="prior_confidence= instead of default_confidence="):
        neps.Categorical(("a", "b"), default_confidence="high")
    with pytest.raises(ValueError, match="'prior' or its old name 'default', not both"):
        space_from_description({"x": {"lower": 0, "upper": 1, "prior": 0.5, "default": 0.2}})


def test_neps_names_of_newer_scripts_exist(root: Path) -> None:
    """NePS's import_trials docs, architecture and multi-objective examples use these."""
    space = {"lr": neps.Float(1e-4, 1e-1, log=True), "width": neps.Integer(8, 64)}
    result = neps.UserResultDict(objective_to_minimize=0.45, cost=2.0)
    assert result == {"objective_to_minimize": 0.45, "cost": 2.0}
    (trial,) = neps.import_trials([({"lr": 0.001, "width": 16}, result)], root, space)
    assert trial.report is not None and trial.report.cost == 2.0
    assert neps.Resampled(space["width"]).source == space["width"]
    with pytest.raises(neps.UnknownPluginError) as caught:
        neps.run(lambda lr, width: lr, space, root_directory=root / "primo", optimizer="primo")
    assert "NePS's 'primo' is not in neps_core; for several objectives use 'mo_asha'" in str(
        caught.value
    )
    assert "pibo" not in str(caught.value).split("Available")[0]  # no close-match guess


def test_load_optimizer_info_gives_neps_name_and_info(root: Path, tmp_path: Path) -> None:
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}
    first = ("asha", {"eta": 2})
    neps.run(
        lambda x, epochs: x, space, root_directory=root, evaluations_to_spend=2, optimizer=first
    )
    info = neps.load_optimizer_info(root)
    assert info["name"] == "asha" and info["info"]["eta"] == 2
    again = tmp_path / "again"  # NePS's way to start another run like it
    same = (info["name"], info["info"])
    neps.run(
        lambda x, epochs: x, space, root_directory=again, evaluations_to_spend=1, optimizer=same
    )
    assert neps.load_optimizer_info(again) == info
    with pytest.raises(FileNotFoundError, match="nowhere"):
        neps.load_optimizer_info(tmp_path / "nowhere")


def test_run_args_is_the_old_name_of_run_config(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("def f(x):\n    return x\n", encoding="utf-8")
    (tmp_path / "run.yaml").write_text(
        "evaluate_pipeline: train.py:f\npipeline_space: {x: {lower: 0.0, upper: 1.0}}\n"
        f"root_directory: {tmp_path / 'results'}\nevaluations_to_spend: 2\n",
        encoding="utf-8",
    )
    with pytest.warns(DeprecationWarning, match="use run_config="):
        summary = neps.run(run_args=tmp_path / "run.yaml")
    assert summary.counts["success"] == 2
    with pytest.raises(neps.SettingsError, match="use only run_config="):
        neps.run(run_args=tmp_path / "run.yaml", run_config=tmp_path / "run.yaml")
    sys.modules.pop("train", None)


def test_neps_names_without_a_counterpart_say_what_to_use() -> None:
    with pytest.raises(AttributeError, match=r"no 'state' \(NePS's\); use status\(root\)"):
        neps.state.NePSState  # noqa: B018
    with pytest.raises(AttributeError, match=r"no 'Pipeline' \(NePS's\); use PipelineSpace"):
        neps.Pipeline  # noqa: B018
    for name in ("NePSState", "create_or_load_filebased_neps_state"):  # seed 003's names
        with pytest.raises(AttributeError, match=rf"no '{name}' \(NePS's\); use status\(root\)"):
            getattr(neps, name)
    with pytest.raises(AttributeError, match=r"no 'warmstart_neps' \(NePS's\); use import_trials"):
        neps.warmstart_neps  # noqa: B018  (NePS's efficiency/warmstarting.py)
    with pytest.raises(AttributeError, match=r"has no attribute 'no_such_name'"):
        neps.no_such_name  # noqa: B018


@pytest.mark.parametrize("name", ["NePSState", "SearchSpace", "HPOFloat", "utils", "state"])
def test_importing_a_neps_name_from_neps_core_says_what_to_use(name: str) -> None:
    """``from neps_core import NePSState`` said only "cannot import name", while
    ``neps.NePSState`` names the replacement: Python drops the AttributeError's message."""
    with pytest.raises(ImportError, match=rf"no {name!r} \(NePS's\); use ") as error:
        exec(f"from neps_core import {name}", {})
    assert error.value.name == "neps_core"
    assert not hasattr(neps, name)  # still only a missing attribute outside the import
    with pytest.raises(ImportError, match="cannot import name 'no_such_name'"):
        exec("from neps_core import Float, no_such_name", {})


def test_the_import_hint_survives_names_past_the_255th() -> None:
    """Past a module's 255th name ``IMPORT_FROM`` gets an ``EXTENDED_ARG`` prefix, and Python
    3.10's ``f_lasti`` points at that prefix (3.11's at ``IMPORT_FROM``): the hint was lost."""
    many_names = "".join(f"v{index} = {index}\n" for index in range(300))
    with pytest.raises(ImportError, match=r"no 'NePSState' \(NePS's\); use "):
        exec(f"{many_names}from neps_core import NePSState", {})
    extended_import = bytes((opmap["EXTENDED_ARG"], 1, opmap["IMPORT_FROM"], 44))
    frame_on_python_3_10 = SimpleNamespace(
        f_code=SimpleNamespace(co_code=extended_import), f_lasti=0
    )
    assert _imports_from(frame_on_python_3_10)


#: NePS's public names (neps/__init__.py ``__all__``, its newest release).
NEPS_ALL = [
    "AskAndTell",
    "BudgetInfo",
    "ByName",
    "Categorical",
    "ConfidenceLevel",
    "Fidelity",
    "Float",
    "FloatFidelity",
    "HPOCategorical",
    "HPOConstant",
    "HPOFloat",
    "HPOInteger",
    "Integer",
    "IntegerFidelity",
    "Operation",
    "PipelineSpace",
    "Resample",
    "SampledConfig",
    "SearchSpace",
    "Trial",
    "UserResultDict",
    "algorithms",
    "convert_operation_to_callable",
    "create_config",
    "import_trials",
    "load_and_merge_yamls",
    "load_config",
    "load_optimizer_info",
    "load_pipeline_space",
    "plot",
    "run",
    "save_pipeline_results",
    "status",
    "tblogger",
]
#: NePS's run_pipeline-era public names (its 0.x ``__all__``) that ``NEPS_ALL`` no longer has.
NEPS_RUN_PIPELINE_ERA = [
    "GraphGrammar",
    "GraphGrammarCell",
    "GraphGrammarRepetitive",
    "ArchitectureParameter",
    "FunctionParameter",
    "get_summary_dict",
]


@pytest.mark.parametrize("name", NEPS_ALL + NEPS_RUN_PIPELINE_ERA)
def test_every_public_name_of_neps_is_here_or_says_what_to_use(name: str) -> None:
    """SearchSpace, HPOFloat, SampledConfig, GraphGrammar, ... gave a bare AttributeError."""
    try:
        getattr(neps, name)
    except AttributeError as error:
        assert f"no {name!r} (NePS's); use " in str(error)


@pytest.mark.parametrize(
    ("keyword", "said"),
    [
        ("best_losses", r"status\(root\).best_trial .*best_config_trajectory.txt"),
        ("best_configs", r"status\(root\).best_trial .*best_config_trajectory.txt"),
        ("all_configs", r"status\(root\).to_dataframe\(\) has every trial"),
    ],
)
def test_nepss_status_keywords_say_what_shows_the_same(root: Path, keyword: str, said: str) -> None:
    """They were a bare TypeError, while ``neps-core status --best_losses`` gave a hint."""
    neps.run(run_pipeline, SPACE, root_directory=root, evaluations_to_spend=1)
    assert neps.status(root, **{keyword: False}).counts["success"] == 1  # NePS's default
    with pytest.raises(TypeError, match=rf"status\({keyword}=True\) is NePS's.*{said}"):
        neps.status(root, **{keyword: True})
    with pytest.raises(TypeError, match="unexpected keyword argument 'best_loss'"):
        neps.status(root, best_loss=True)


def test_nepss_confidence_levels_are_the_prior_confidences() -> None:
    level = neps.ConfidenceLevel
    assert [member.value for member in level] == ["low", "medium", "high"]
    given = {
        "lr": neps.Float(1e-4, 1e-1, log=True, prior=1e-3, prior_confidence=level.HIGH),
        "depth": neps.Integer(1, 8, prior=3, prior_confidence=level.MEDIUM),
        "kind": neps.Categorical(("a", "b"), prior=1, prior_confidence=level.LOW),
    }
    spelled = {
        "lr": neps.Float(1e-4, 1e-1, log=True, prior=1e-3, prior_confidence="high"),
        "depth": neps.Integer(1, 8, prior=3, prior_confidence="medium"),
        "kind": neps.Categorical(("a", "b"), prior=1, prior_confidence="low"),
    }
    assert given == spelled
    assert all(type(p.prior_confidence) is str for p in given.values())  # saved as the name


def _diverges_on_the_second(x: float, pipeline_id: str) -> float:
    if pipeline_id == "2":
        raise RuntimeError("diverged")
    return x


def test_the_legacy_loss_value_on_error_keeps_the_run_going(root: Path) -> None:
    """run_pipeline-era NePS: a value for failures suppresses them (the new name does not)."""
    with pytest.warns(DeprecationWarning, match="loss_value_on_error"):
        summary = neps.run(
            _diverges_on_the_second,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root,
            evaluations_to_spend=4,
            loss_value_on_error=10.0,
        )
    assert (summary.counts["success"], summary.counts["failed"]) == (3, 1)
    with pytest.raises(RuntimeError, match="diverged"):
        neps.run(
            _diverges_on_the_second,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=root / "new_name",
            evaluations_to_spend=4,
            objective_value_on_error=10.0,
        )


@pytest.mark.parametrize(
    ("name", "advice"),
    [("default", "which is 'auto' here"), ("mobster", "use 'async_hb' or 'asha'")],
)
def test_old_neps_optimizer_names_say_what_to_use(root: Path, name: str, advice: str) -> None:
    with pytest.raises(neps.UnknownPluginError, match=advice):
        neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root, optimizer=name)


def test_neps_save_evaluation_results_names_its_counterpart() -> None:
    with pytest.raises(AttributeError, match="use save_pipeline_results"):
        neps.save_evaluation_results  # noqa: B018
