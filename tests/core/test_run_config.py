"""YAML run configs: every run() argument from a file, errors naming the file and key path."""

from __future__ import annotations

import re
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.run_config import load_run_config
from neps_core_plugins.sync_evaluator import SyncEvaluator

TRAIN = """
def evaluate_pipeline(x, depth):
    return x + depth


def failing(x, depth):
    raise ValueError("boom")


NOT_CALLABLE = 3
"""

BASE = {
    "evaluate_pipeline": "train.py:evaluate_pipeline",
    "pipeline_space": {"x": {"lower": 0.0, "upper": 1.0}, "depth": {"lower": 1, "upper": 3}},
    "root_directory": "results",
    "evaluations_to_spend": 3,
    "optimizer": {"name": "random_search", "use_priors": False},
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with the user's code; each test gets a module name of its own."""
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    yield tmp_path
    sys.modules.pop("train", None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def write_config(directory: Path, data: Any, name: str = "run.yaml") -> Path:
    path = directory / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def config_error(directory: Path, changes: dict[str, Any], monkeypatch: Any) -> str:
    """The message of the SettingsError for BASE with ``changes``, loaded as ``run.yaml``."""
    data = {**BASE, **changes}
    write_config(directory, {k: v for k, v in data.items() if v is not None})
    monkeypatch.chdir(directory)
    with pytest.raises(SettingsError) as caught:
        load_run_config("run.yaml")
    return str(caught.value)


# -- what a valid config turns into ------------------------------------------------------------
def test_a_config_becomes_run_arguments_with_paths_relative_to_the_file(project: Path) -> None:
    path = write_config(project, BASE)
    kwargs = load_run_config(path)
    assert kwargs["evaluate_pipeline"](x=0.5, depth=2) == 2.5
    assert isinstance(kwargs["pipeline_space"], neps.PipelineSpace)
    assert set(kwargs["pipeline_space"].parameters) == {"x", "depth"}
    assert kwargs["root_directory"] == project / "results"
    assert kwargs["evaluations_to_spend"] == 3
    assert kwargs["optimizer"] == {"name": "random_search", "use_priors": False}


def test_the_function_is_importable_by_child_processes(project: Path) -> None:
    kwargs = load_run_config(write_config(project, BASE))
    function = kwargs["evaluate_pipeline"]
    assert function.__module__ == "train"  # not a private name: spawn/pickle can import it
    assert str(project) in sys.path


def test_module_form_and_neps_path_name_form(project: Path, monkeypatch: Any) -> None:
    monkeypatch.syspath_prepend(str(project))
    by_module = load_run_config(write_config(project, {"evaluate_pipeline": "train:failing"}))
    assert by_module["evaluate_pipeline"].__name__ == "failing"
    neps_form = {"evaluate_pipeline": {"path": "train.py", "name": "evaluate_pipeline"}}
    by_path = load_run_config(write_config(project, neps_form))
    assert by_path["evaluate_pipeline"](x=1.0, depth=1) == 2.0


def test_a_command_becomes_a_command_object(tmp_path: Path) -> None:
    data = {"evaluate_pipeline": {"command": "python train.py --x {x}", "cwd": "code"}}
    kwargs = load_run_config(write_config(tmp_path, data))
    command = kwargs["evaluate_pipeline"]
    assert isinstance(command, neps.Command)
    assert command.render({"x": 0.5}) == ["python", "train.py", "--x", "0.5"]
    assert command.cwd == tmp_path / "code"


def test_a_space_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "spaces").mkdir()
    space = {"pipeline_space": {"lr": {"lower": 1e-4, "upper": 0.1, "log": True}}}
    write_config(tmp_path / "spaces", space, "space.yaml")
    kwargs = load_run_config(write_config(tmp_path, {"pipeline_space": "spaces/space.yaml"}))
    assert kwargs["pipeline_space"].parameters["lr"].log is True


def test_neps_path_name_form_of_the_space_loads_the_object(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "space_def.py").write_text(
        "import neps_core as neps\npipeline_space = {'lr': neps.Float(1e-4, 1e-1, log=True)}\n",
        encoding="utf-8",
    )
    data = {"pipeline_space": {"path": "code/space_def.py", "name": "pipeline_space"}}
    kwargs = load_run_config(write_config(tmp_path, data))
    assert set(kwargs["pipeline_space"].parameters) == {"lr"}
    # name: on was True, so this was an inline space of two constants, path and name.
    (tmp_path / "code" / "space_on.py").write_text(
        "import neps_core as neps\non = {'lr': neps.Float(1e-4, 1e-1, log=True)}\n",
        encoding="utf-8",
    )
    kwargs = load_run_config(
        write_config(tmp_path, "pipeline_space: {path: code/space_on.py, name: on}\n")
    )
    assert set(kwargs["pipeline_space"].parameters) == {"lr"}
    inline = {"path": {"lower": 1, "upper": 3}, "name": ["a", "b"]}  # parameters of those names
    kwargs = load_run_config(write_config(tmp_path, {"pipeline_space": inline}))
    assert set(kwargs["pipeline_space"].parameters) == {"path", "name"}


@pytest.mark.filterwarnings("ignore:.*searcher is deprecated:DeprecationWarning")
def test_an_optimizer_from_a_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    data = {"searcher": {"path": "x.py", "name": "MySearcher"}}
    with pytest.raises(
        SettingsError,
        match=r"run.yaml: searcher.path: an optimizer loaded "
        r"from a file is not supported: register the optimizer as a plugin",
    ):
        load_run_config(write_config(tmp_path, data))
    # A plugin optimizer may have a path option of its own: that is no file to load.
    with pytest.raises(SettingsError) as refused:
        options = {"optimizer": {"name": "random_search", "path": "priors.json"}}
        load_run_config(write_config(tmp_path, options))
    assert "from a file" not in str(refused.value) and "path" in str(refused.value)


def test_a_configspace_named_by_module_and_attribute(project: Path) -> None:
    (project / "cs_spaces.py").write_text(
        textwrap.dedent(
            """
            import ConfigSpace as CS

            cs = CS.ConfigurationSpace()
            cs.add(CS.Float("x", (0.0, 1.0)))
            cs.add(CS.Integer("depth", (1, 9), meta={"is_fidelity": True}))
            """
        ),
        encoding="utf-8",
    )
    config = {**BASE, "pipeline_space": "cs_spaces:cs", "optimizer": "hyperband"}
    try:
        kwargs = load_run_config(write_config(project, config))
    finally:
        sys.modules.pop("cs_spaces", None)
    assert kwargs["pipeline_space"].fidelity_name == "depth"
    assert neps.run(**kwargs).counts["success"] == 3


@pytest.mark.parametrize("suffix", ["", ".py"], ids=["module", "file"])
def test_a_second_config_whose_module_has_a_taken_name_is_refused(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the module form, the second experiment ran the first one's sweep_train.py.
    monkeypatch.setattr(sys, "path", [*sys.path])  # the configs' folders go first: undone
    configs = []
    for n in (1, 2):
        folder = tmp_path / f"exp{n}"
        folder.mkdir()
        (folder / "sweep_train.py").write_text(f"def evaluate_pipeline(x):\n    return {n}\n")
        function = f"sweep_train{suffix}:evaluate_pipeline"
        configs.append(write_config(folder, {**BASE, "evaluate_pipeline": function}))
    try:
        assert load_run_config(configs[0])["evaluate_pipeline"](x=0.5) == 1
        with pytest.raises(
            SettingsError,
            match=r"exp2/run\.yaml: evaluate_pipeline: a different module named 'sweep_train' "
            r"is already imported \(.*exp1/sweep_train\.py\); rename sweep_train\.py",
        ):
            load_run_config(configs[1])
    finally:
        sys.modules.pop("sweep_train", None)


def test_a_module_beside_the_config_shadowed_by_the_standard_library_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # json:evaluate_pipeline said "'json' has no attribute": the standard library's came first.
    monkeypatch.setattr(sys, "path", [*sys.path])  # the config's folder goes first: undone
    (tmp_path / "json.py").write_text("def evaluate_pipeline(x):\n    return x\n")
    path = write_config(tmp_path, {**BASE, "evaluate_pipeline": "json:evaluate_pipeline"})
    with pytest.raises(SettingsError, match=r"a different module named 'json'.*rename json\.py"):
        load_run_config(path)


def test_overrides_change_the_config_before_validation(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"optimizer": "random_search", "evaluations_to_spend": 3})
    kwargs = load_run_config(path, ["optimizer.use_priors=true", "evaluations_to_spend=7"])
    assert kwargs["optimizer"] == {"name": "random_search", "use_priors": True}
    assert kwargs["evaluations_to_spend"] == 7
    with pytest.raises(
        SettingsError,
        match=r"^.*run\.yaml: override 'evaluations_to_spend=0': evaluations_to_spend: must be",
    ):
        load_run_config(path, ["evaluations_to_spend=0"])
    with pytest.raises(SettingsError, match=r"must look like key\.path=value"):
        load_run_config(path, ["evaluations_to_spend"])
    # Quoted as one shell argument: "seed : unknown setting. Did you mean 'seed'?"
    assert load_run_config(path, ["seed = 3"])["seed"] == 3


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("max_evaluations_total: ten\n", "max_evaluations_total: must be a positive integer"),
        ("budget: -3\n", "budget: must be a positive number"),
        ("searcher: {name: random_search, use_prior: true}\n", "searcher.use_prior: unknown"),
        (
            "searcher: {strategy: hyperband, eta: 3}\n",
            "searcher: a mapping needs a 'name' key (NePS's 'strategy' is 'name' here)",
        ),
        # "evaluate_pipeline: no such file", "root_directory: expected a path": not in the file.
        ("run_pipeline: nofile.py:evaluate_pipeline\n", "run_pipeline: no such file"),
        ("root_dir: [results]\n", "root_dir: expected a path"),
    ],
    ids=["max_evaluations_total", "budget", "searcher", "strategy", "code", "path"],
)
def test_errors_name_a_key_as_the_file_spells_it(tmp_path: Path, text: str, named: str) -> None:
    # "evaluations_to_spend: must be ...", a key the file does not have.
    path = write_config(tmp_path, text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(SettingsError, match=rf"run\.yaml: {re.escape(named)}"):
            load_run_config(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # NePS's old names, on purpose
@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (
            ["evaluation_to_spend=3"],
            "override 'evaluation_to_spend=3': evaluation_to_spend: unknown",
        ),
        (["root_directory=~nosuchuser/x"], "override 'root_directory=~nosuchuser/x': root_dir"),
        (["optimizer=nosuch"], "override 'optimizer=nosuch': optimizer: Unknown optimizer"),
        (
            ["optimizer=random_search", "seed=1", "optimizer.eta=3"],
            "override 'optimizer=random_search', 'optimizer.eta=3': optimizer.eta: unknown option",
        ),
        (["root_dir=[a]"], "override 'root_dir=[a]': root_dir: expected a path"),
    ],
    ids=["unknown setting", "path", "component", "two of one setting", "old name"],
)
def test_a_mistake_in_an_override_names_the_override_not_the_file(
    tmp_path: Path, overrides: list[str], named: str
) -> None:
    # "run.yaml: evaluation_to_spend: unknown setting", a key the file does not have.
    path = write_config(tmp_path, {"evaluations_to_spend": 3, "seed": "one"})
    with pytest.raises(SettingsError, match=rf"^.*run\.yaml: {re.escape(named)}"):
        load_run_config(path, overrides)
    with pytest.raises(SettingsError, match=r"^.*run\.yaml: seed: "):  # the file's own mistake
        load_run_config(path, ["evaluations_to_spend=4"])


@pytest.mark.parametrize("override", [".seed=1", "seed.=1", "optimizer..eta=3", "=1", "seed"])
def test_an_override_with_an_empty_key_is_refused_as_malformed(
    tmp_path: Path, override: str
) -> None:
    # ".seed=1" was "run.yaml: : unknown setting. Known: ...", naming neither it nor the key.
    path = write_config(tmp_path, {"evaluations_to_spend": 3, "optimizer": "hyperband"})
    said = rf"^.*run\.yaml: override {re.escape(repr(override))} must look like key\.path=value$"
    with pytest.raises(SettingsError, match=said):
        load_run_config(path, [override])


def test_an_override_replaces_its_setting_under_any_name(tmp_path: Path) -> None:
    # "max_evaluations_total is given twice": an override could not replace the YAML value.
    path = write_config(tmp_path, {"evaluations_to_spend": 3})
    with pytest.warns(DeprecationWarning):
        assert load_run_config(path, ["max_evaluations_total=4"])["evaluations_to_spend"] == 4
    assert load_run_config(path, ["evaluations_to_spend=5"])["evaluations_to_spend"] == 5


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # NePS's old names, on purpose
def test_an_override_into_a_space_file_is_refused_not_a_new_space(tmp_path: Path) -> None:
    # pipeline_space.momentum=... replaced the file's space by {name: space.yaml, momentum}.
    (tmp_path / "space.yaml").write_text("lr: [0.001, 0.1]\nmomentum: [0.1, 0.9]\n")
    path = write_config(tmp_path, {"pipeline_space": "space.yaml", "searcher": "random_search"})
    with pytest.raises(SettingsError, match=r"pipeline_space is 'space\.yaml', not a mapping"):
        load_run_config(path, ["pipeline_space.momentum={lower: 0.5, upper: 0.9}"])
    for key in ("searcher", "optimizer"):  # NePS's spelling, as in the file, or today's
        overridden = load_run_config(path, [f"{key}.use_priors=true"])
        assert overridden["optimizer"] == {"name": "random_search", "use_priors": True}


def test_an_override_changes_its_key_only_not_a_yaml_alias_of_it(tmp_path: Path) -> None:
    # pipeline_space.x.upper=5 set y's upper too: `y: *p` is the very mapping of `x: &p`.
    text = "pipeline_space:\n  x: &p {lower: 0.0, upper: 1.0}\n  y: *p\n"
    path = write_config(tmp_path, text)
    parameters = load_run_config(path, ["pipeline_space.x.upper=5.0"])["pipeline_space"].parameters
    assert (parameters["x"].upper, parameters["y"].upper) == (5.0, 1.0)


def test_an_override_into_neps_code_form_of_a_space_is_refused(tmp_path: Path) -> None:
    # pipeline_space.y=... made {path, name, y}: an inline space of the constants path and
    # name, the file's space silently gone.
    (tmp_path / "override_space.py").write_text("space = {'x': {'lower': 0.0, 'upper': 1.0}}\n")
    (tmp_path / "override_other.py").write_text("space = {'z': {'lower': 0.0, 'upper': 1.0}}\n")
    code = {"path": "override_space.py", "name": "space"}
    path = write_config(tmp_path, {"pipeline_space": code})
    with pytest.raises(SettingsError, match=r"pipeline_space is \{'path'.*\}, which names code"):
        load_run_config(path, ["pipeline_space.y={lower: 0, upper: 5}"])
    moved = load_run_config(path, ["pipeline_space.path=override_other.py"])["pipeline_space"]
    assert set(moved.parameters) == {"z"}  # which code it names may change


@attrs.frozen
class _PathSettings:
    path: str = "logs"
    verbose: bool = False


class _PathOptionEvaluator(SyncEvaluator):
    """An evaluator with a ``path`` option: ``{name, path}`` is no code form for it."""

    name = "path_option"
    Settings = _PathSettings


class _PathOptionPlugin:
    @neps.hookimpl
    def neps_register_evaluators(self) -> list[type]:
        return [_PathOptionEvaluator]


def test_an_override_into_a_component_with_a_path_option_is_no_code_form(tmp_path: Path) -> None:
    # evaluator: {name: path_option, path: logs} was taken for NePS's code form, and
    # evaluator.verbose=true refused as a key inside code.
    path = write_config(tmp_path, {"evaluator": {"name": "path_option", "path": "logs"}})
    given = {"plugins": [_PathOptionPlugin()]}
    loaded = load_run_config(path, ["evaluator.verbose=true"], given=given)
    assert loaded["evaluator"] == {"name": "path_option", "path": "logs", "verbose": True}


def test_unreadable_or_incomplete_configs_name_the_file(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("evaluations_to_spend: 3 # caf\xe9\n".encode("latin-1"))
    with pytest.raises(SettingsError, match=r"latin\.yaml: not UTF-8 text"):
        load_run_config(latin)
    empty = write_config(tmp_path, "", "empty.yaml")
    with pytest.raises(SettingsError, match=r"evaluate_pipeline is missing.*empty\.yaml"):
        neps.run(run_config=empty)
    no_options = write_config(tmp_path, {"evaluator": {"name": "sync", "bogus": 1}})
    with pytest.raises(SettingsError, match=r"evaluator\.bogus: .*'sync'\. It takes no options"):
        load_run_config(no_options)


def test_options_of_an_unnamed_component_ask_for_its_name(tmp_path: Path) -> None:
    # "optimizer: a mapping needs a 'name' key" did not say which override was meant.
    path = write_config(tmp_path, {"evaluations_to_spend": 3})
    with pytest.raises(SettingsError, match=r"'optimizer.use_priors=true'.*names no optimizer"):
        load_run_config(path, ["optimizer.use_priors=true"])
    kwargs = load_run_config(path, ["optimizer.name=random_search", "optimizer.use_priors=true"])
    assert kwargs["optimizer"] == {"name": "random_search", "use_priors": True}


def test_removed_settings_say_what_to_do_instead(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"pre_load_hooks": ["x"]})
    with pytest.raises(SettingsError, match=r"run\.yaml: pre_load_hooks: not supported .*hook"):
        load_run_config(path)


def test_legacy_names_and_yaml_1_1_numbers(tmp_path: Path) -> None:
    path = write_config(tmp_path, "max_evaluations_total: 4\ncost_to_spend: 1e3\n")
    with pytest.warns(DeprecationWarning, match="max_evaluations_total is deprecated"):
        kwargs = load_run_config(path)
    assert kwargs == {"evaluations_to_spend": 4, "cost_to_spend": 1000.0}
    assert isinstance(kwargs["cost_to_spend"], float)
    with pytest.warns(DeprecationWarning):
        overridden = load_run_config(path, overrides=["cost_to_spend=2E2"])
    assert overridden["cost_to_spend"] == 200.0


@pytest.mark.parametrize("written", ["no", "2024-01-01", "12:30", "1e3", "0x10"])
def test_paths_and_code_locations_are_the_text_written(tmp_path: Path, written: str) -> None:
    # YAML 1.1 read root_directory: no as False, 2024-01-01 as a date, 12:30 as 750.
    text = (
        f"root_directory: {written}\n"
        f"evaluate_pipeline:\n  command: [echo, {written}]\n"
        f"  cwd: {written}\n  env: {{A: {written}}}\n"
    )
    kwargs = load_run_config(write_config(tmp_path, text))
    assert kwargs["root_directory"] == tmp_path / written
    command = kwargs["evaluate_pipeline"]
    assert (command.command, command.cwd, command.env) == (
        ["echo", written],
        tmp_path / written,
        {"A": written},
    )
    overridden = load_run_config(
        write_config(tmp_path, "evaluations_to_spend: 1\n"), [f"root_directory={written}"]
    )
    assert overridden["root_directory"] == tmp_path / written


def test_an_env_mapping_of_a_plugin_keeps_the_text_written(tmp_path: Path) -> None:
    # evaluator: {name: subprocess, env: {FLAG: no}} was "expected a string, got False".
    path = write_config(tmp_path, "evaluator: {name: subprocess, env: {FLAG: no, AT: 12:30}}\n")
    kwargs = load_run_config(path, ["evaluator.env.MORE=off"])
    assert kwargs["evaluator"]["env"] == {"FLAG": "no", "AT": "12:30", "MORE": "off"}


def test_a_space_parameter_called_env_keeps_its_numbers(tmp_path: Path) -> None:
    # Read as env values (any key's env), its bounds became text and log: true was refused.
    path = write_config(tmp_path, "pipeline_space:\n  env: {lower: 1, upper: 5, log: true}\n")
    space = load_run_config(path)["pipeline_space"]
    assert space.parameters["env"] == neps.Integer(1, 5, log=True)


def test_text_settings_merged_with_a_yaml_merge_key_keep_the_text(project: Path) -> None:
    # <<: {root_directory: 2024-01-01} was a date, and a merged name: no was False.
    (project / "train.py").write_text(TRAIN + "\nno = evaluate_pipeline\n", encoding="utf-8")
    text = (
        "<<: {root_directory: 2024-01-01}\n"
        "evaluate_pipeline:\n  <<: [{path: train.py}, {name: no}]\n"
        "pipeline_space:\n  x: {lower: 0.0, upper: 1.0}\n  depth: {lower: 1, upper: 3}\n"
    )
    kwargs = load_run_config(write_config(project, text))
    assert kwargs["root_directory"] == project / "2024-01-01"
    assert kwargs["evaluate_pipeline"](x=0.5, depth=2) == 2.5


def test_an_empty_key_is_the_settings_default(tmp_path: Path) -> None:
    # root_directory left empty was "expected a path, got None", though other keys took it.
    path = write_config(tmp_path, "root_directory:\nevaluator:\nseed:\nevaluations_to_spend: 2\n")
    assert load_run_config(path) == {
        "root_directory": None,
        "evaluator": None,
        "seed": None,
        "evaluations_to_spend": 2,
    }
    assert load_run_config(path, overrides=["root_directory="])["root_directory"] is None
    # As the docs say: a bare ~ is YAML's null, the default; ~/x is under the home directory.
    assert load_run_config(path, overrides=["root_directory=~"])["root_directory"] is None
    home = load_run_config(path, overrides=["root_directory=~/x"])["root_directory"]
    assert home == Path.home() / "x"


# -- errors name the file and the key path -----------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"evaluations_to_spend": "ten"},
            "run.yaml: evaluations_to_spend: must be a positive integer, got 'ten'",
        ),
        ({"cost_to_spend": -1}, "run.yaml: cost_to_spend: must be a positive number, got -1"),
        (
            {"optimzer": "random_search"},
            "run.yaml: optimzer: unknown setting. Did you mean 'optimizer'?",
        ),
        (
            {"optimizer": {"name": "random_search", "use_prior": True}},
            "run.yaml: optimizer.use_prior: unknown option of optimizer 'random_search'. "
            "Did you mean 'use_priors'?",
        ),
        (
            {"evaluator": {"name": "process_pool", "n_workers": 0}},
            "run.yaml: evaluator.n_workers: must be at least 1, got 0",
        ),
        (
            {"pipeline_space": {"x": {"lower": "abc", "upper": 1.0}}},
            "run.yaml: pipeline_space.x.lower: must be a number, got 'abc'",
        ),
        (
            {"evaluate_pipeline": "train.py:nope"},
            "run.yaml: evaluate_pipeline: 'train.py' has no attribute 'nope'",
        ),
        (
            {"evaluate_pipeline": "train.py:NOT_CALLABLE"},
            "run.yaml: evaluate_pipeline: 3 is not callable",
        ),
        (
            {"evaluate_pipeline": {"path": "train.py", "nam": "f"}},
            "run.yaml: evaluate_pipeline.nam: unknown key; use 'path' and 'name', or 'command'",
        ),
        (
            {"evaluate_pipeline": "no_colon"},
            "run.yaml: evaluate_pipeline: expected 'module:name' or 'path/to/file.py:name', "
            "got 'no_colon'",
        ),
        (  # was "cannot import 'train.py:evaluate_pipeline': No module named ..."
            {"evaluate_pipeline": "train.py:evaluate_pipeline:extra"},
            "run.yaml: evaluate_pipeline: expected 'module:name' or 'path/to/file.py:name', "
            "got 'train.py:evaluate_pipeline:extra', which has more than one ':' "
            "(read as 'extra' of 'train.py:evaluate_pipeline')",
        ),
        ({"root_directory": [1]}, "run.yaml: root_directory: expected a path, got [1]"),
        (
            {"optimizer": {"name": "hyperband", "eta": 3.5, "sampler": "bogus"}},
            "run.yaml: optimizer.eta: expected a whole number, got 3.5",
        ),
        (
            {
                "optimizer": {
                    "name": "bayesian_optimization",
                    "raw_samples": 9.5,
                    "sample_prior_first": "no",
                }
            },
            "run.yaml: optimizer.sample_prior_first: expected true or false, got the string 'no'; "
            "optimizer.raw_samples: expected a whole number, got 9.5",
        ),
        (
            {"optimizer": {"name": "priorband", "base": "async_hb", "early_stopping_rate": 1}},
            "run.yaml: optimizer.early_stopping_rate: applies to the bases "
            "['successive_halving', 'asha'] only, and base 'async_hb' spreads its brackets over "
            "every rung (got early_stopping_rate=1)",
        ),
    ],
)
def test_error_messages_give_the_key_path(
    project: Path, monkeypatch: Any, changes: dict[str, Any], expected: str
) -> None:
    assert config_error(project, changes, monkeypatch) == expected


def test_a_root_directory_that_is_a_file_is_named_once(project: Path, monkeypatch: Any) -> None:
    # Was "run.yaml: root_directory: root_directory <path> is a file, not a directory".
    message = config_error(project, {"root_directory": "train.py"}, monkeypatch)
    assert message == f"run.yaml: root_directory: {project / 'train.py'} is a file, not a directory"


@pytest.mark.parametrize(
    ("changes", "prefix"),
    [
        (
            {"optimizer": "random_serch"},
            "run.yaml: optimizer: Unknown optimizer 'random_serch'. Did you mean 'random_search'",
        ),
        ({"optimizer": {"name": "random_serch"}}, "run.yaml: optimizer.name: Unknown optimizer"),
        (  # run() said what to use instead; a run config only listed what exists
            {"evaluator": "thread"},
            "run.yaml: evaluator: Unknown evaluator 'thread'. DeepHyper's 'thread' is not in "
            "neps_core; use 'process_pool'",
        ),
        ({"optimizer": "ifbo"}, "run.yaml: optimizer: Unknown optimizer 'ifbo'. NePS's 'ifbo'"),
        (
            {"storage": "sqlte"},
            "run.yaml: storage: Unknown storage 'sqlte'. Did you mean 'sqlite'?",
        ),
        (
            {"evaluator": {"name": "process_pool", "n_workers": "many"}},
            "run.yaml: evaluator.n_workers:",
        ),
        (
            {"pipeline_space": {"x": {"lower": 0, "upper": 1, "foo": 2}}},
            "run.yaml: pipeline_space.x.foo:",
        ),
        ({"pipeline_space": {"x": {"lower": 2.0, "upper": 1.0}}}, "run.yaml: pipeline_space.x:"),
        ({"pipeline_space": "missing.yaml"}, "run.yaml: pipeline_space: no such file"),
        (  # NePS's sectioned form was "unknown setting" with a list of settings
            {"experiment": {"max_evaluations_total": 5}},
            "run.yaml: experiment: a section of settings (NePS's form): put them at the top",
        ),
        (  # a typo'd space holding a parameter named like a setting was "a section"
            {"pipline_space": {"optimizer": [0.0, 1.0]}},
            "run.yaml: pipline_space: unknown setting. Did you mean 'pipeline_space'?",
        ),
        ({"evaluate_pipeline": "missing.py:f"}, "run.yaml: evaluate_pipeline: no such file"),
        (
            {"evaluate_pipeline": "no_such_module:f"},
            "run.yaml: evaluate_pipeline: cannot import 'no_such_module'",
        ),
        ({"plugins": ["no_such_plugin_module"]}, "run.yaml: plugins[0]: cannot import"),
        ({"stale_after": 5}, "run.yaml: stale_after: stale_after (5 s) must be longer than"),
        (  # was accepted, then failed at the start naming neither the file nor the key
            {"storage": {"name": "sqlite", "lock_timout": 3}},
            "run.yaml: storage.lock_timout: unknown option of storage 'sqlite'. Did you mean "
            "'lock_timeout'?",
        ),
    ],
)
def test_error_messages_start_with_the_key_path(
    project: Path, monkeypatch: Any, changes: dict[str, Any], prefix: str
) -> None:
    assert config_error(project, changes, monkeypatch).startswith(prefix)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "x = 1\nundefined_name\n",
            r"raised NameError: name 'undefined_name' .*broken\.py, line 2\)$",
        ),
        ("def f(:\n", r"raised SyntaxError: .*broken\.py, line 1\)$"),
        ("import sys\n\nsys.exit(3)\n", r"called sys\.exit\(3\) \(.*broken\.py, line 3\)$"),
        (  # exits in argparse: the line of the user's file that called it
            "import argparse\n\nargparse.ArgumentParser().parse_args(['--lr'])\n",
            r"called sys\.exit\(2\) \(.*broken\.py, line 3\)$",
        ),
        (
            "import json\n\njson.loads('{')\n",
            r"raised JSONDecodeError: .*broken\.py, line 3\)$",
        ),
    ],
    ids=["NameError", "SyntaxError", "sys.exit", "parse_args", "in a library"],
)
def test_an_error_importing_the_function_names_the_key_and_the_file(
    tmp_path: Path, monkeypatch: Any, code: str, message: str
) -> None:
    # Only an ImportError named them; a NameError was bare, and sys.exit() ended the CLI.
    (tmp_path / "broken.py").write_text(code, encoding="utf-8")
    try:
        with pytest.raises(SettingsError) as raised:
            load_run_config(write_config(tmp_path, {**BASE, "evaluate_pipeline": "broken.py:f"}))
    finally:
        sys.modules.pop("broken", None)
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))
    text = str(raised.value)
    assert text.startswith(f"{tmp_path / 'run.yaml'}: evaluate_pipeline: importing ")
    assert re.search(message, text), text


def test_yaml_merge_keys_work_and_keys_written_beside_them_win(tmp_path: Path) -> None:
    # "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'".
    text = (
        "pipeline_space:\n"
        "  x: &unit {lower: 0.0, upper: 1.0}\n"
        "  y:\n"
        "    <<: *unit\n"
        "    upper: 2.0\n"
    )
    space = load_run_config(write_config(tmp_path, text))["pipeline_space"]
    assert space == neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "y": neps.Float(0.0, 2.0)})


def test_file_level_errors(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"No run config at absent\.yaml"):
        load_run_config("absent.yaml")
    write_config(tmp_path, "- a\n- b\n")
    with pytest.raises(
        SettingsError, match=r"^run\.yaml: a run config must be a mapping, got list$"
    ):
        load_run_config("run.yaml")
    write_config(tmp_path, "evaluations_to_spend: 3\nseed: 1\nevaluations_to_spend: 4\n")
    with pytest.raises(
        SettingsError, match=r"^run\.yaml: line 3: duplicate key 'evaluations_to_spend'"
    ):
        load_run_config("run.yaml")
    write_config(tmp_path, "optimizer: [unclosed\n")
    with pytest.raises(SettingsError, match=r"^run\.yaml: not valid YAML"):
        load_run_config("run.yaml")
    write_config(tmp_path, "evaluations_to_spend: 3\nmax_evaluations_total: 4\n")
    with pytest.raises(
        SettingsError, match="max_evaluations_total: evaluations_to_spend is given twice"
    ):
        load_run_config("run.yaml")


@pytest.mark.parametrize(
    "written",
    [
        "evaluate_pipeline: train.py:\n",  # invalid YAML
        "evaluate_pipeline:\n  train.py:\n",  # YAML's {train.py: None}
        "run_pipeline:\n  train.py: evaluate_pipeline\n",
    ],
)
def test_a_trailing_colon_after_the_file_names_the_key_the_file_and_the_forms(
    project: Path, monkeypatch: Any, written: str
) -> None:
    # Was "not valid YAML: ... mapping values are not allowed here", or
    # "evaluate_pipeline.train.py: unknown key; use 'path' and 'name', or 'command'".
    monkeypatch.chdir(project)
    write_config(project, written + "evaluations_to_spend: 3\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # run_pipeline
        with pytest.raises(SettingsError) as refused:
            load_run_config("run.yaml")
    message = str(refused.value)
    key = written.partition(":")[0]
    assert message.startswith(("run.yaml: not valid YAML: line 1", f"run.yaml: {key}: "))
    assert f"{key}: train.py:" in message or "{'train.py':" in message, message
    assert "'path/to/file.py:function_name'" in message and "{path: " in message, message
    write_config(project, "evaluations_to_spend: 3\n")  # the same from the command line
    with pytest.raises(SettingsError, match=r"function_name") as refused:
        load_run_config("run.yaml", ["evaluate_pipeline=train.py:"])
    assert "override 'evaluate_pipeline=train.py:': evaluate_pipeline: " in str(refused.value)


def test_a_mapping_of_other_keys_for_the_function_is_told_the_forms_it_takes(
    project: Path,
) -> None:
    # Was told "YAML reads text ending in ':' or holding ': ' as a mapping", which a mapping
    # written as one (keys other than NePS's path and name) is not.
    write_config(project, "evaluate_pipeline: {file: train.py, function: evaluate_pipeline}\n")
    with pytest.raises(SettingsError) as refused:
        load_run_config(project / "run.yaml")
    assert str(refused.value) == (
        f"{project / 'run.yaml'}: evaluate_pipeline: expected 'path/to/file.py:function_name' "
        "(or 'module:function_name'), {path: path/to/file.py, name: function_name} or "
        "{command: ...}, got the mapping {'file': 'train.py', 'function': 'evaluate_pipeline'}"
    )


def test_a_run_config_that_is_no_path_or_a_folder_is_named_so(tmp_path: Path) -> None:
    # run(run_config={...}) said "path must be a path", a folder "No run config at <it>".
    with pytest.raises(SettingsError, match=r"^run_config must be a path, got \{'seed': 1\}$"):
        neps.run(run_config={"seed": 1})
    with pytest.raises(FileNotFoundError, match=r"is a folder, not a YAML run config"):
        neps.run(run_config=tmp_path)


@pytest.mark.parametrize("path", ["", "  "])
def test_an_empty_run_config_is_refused_not_taken_as_the_current_folder(path: str) -> None:
    # An unset "$CONFIG" said "No run config at . (it is a folder, ...)", naming no setting.
    with pytest.raises(SettingsError, match=rf"^run_config must name a YAML file, got '{path}'$"):
        neps.run(run_config=path)


@pytest.mark.parametrize(
    ("number", "kind"), [("0o_", "int"), ("0x_", "int"), ("._", "float"), ("!!float x", "float")]
)
def test_a_malformed_number_is_a_yaml_error_naming_the_file_or_override(
    tmp_path: Path, monkeypatch: Any, number: str, kind: str
) -> None:
    # Resolved as numbers with no digit, they raised a bare ValueError naming neither
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path, f"evaluations_to_spend: 3\nseed: {number}\n")
    written = re.escape(repr(number.removeprefix("!!float ")))
    with pytest.raises(
        SettingsError, match=rf"^run\.yaml: .* line 2, .*{written} is not a.* {kind}"
    ):
        load_run_config("run.yaml")
    write_config(tmp_path, "evaluations_to_spend: 3\n")
    override = re.escape(f"override 'seed={number}': not valid YAML")
    with pytest.raises(SettingsError, match=rf"{override}: line 1, .* not a valid {kind}"):
        load_run_config("run.yaml", [f"seed={number}"])


def test_yaml_plugins_are_loaded_and_classes_instantiated(project: Path) -> None:
    (project / "my_observer.py").write_text(
        textwrap.dedent(
            """
            import neps_core

            class Observer:
                @neps_core.hookimpl
                def neps_trial_finished(self, run, trial, report):
                    pass
            """
        ),
        encoding="utf-8",
    )
    kwargs = load_run_config(write_config(project, {"plugins": ["my_observer.py:Observer"]}))
    (plugin,) = kwargs["plugins"]
    assert type(plugin).__name__ == "Observer"
    sys.modules.pop("my_observer", None)


def test_a_required_option_left_out_of_the_file_is_named_as_missing(
    project: Path, monkeypatch: Any
) -> None:
    (project / "req_plugin.py").write_text(
        textwrap.dedent(
            """
            import attrs
            import neps_core
            from neps_core_plugins.random_search import RandomSearch

            @attrs.frozen
            class Settings:
                population: int

            class NeedsPopulation(RandomSearch):
                name = "needs_population"
                Settings = Settings

            @neps_core.hookimpl
            def neps_register_optimizers():
                return [NeedsPopulation]
            """
        ),
        encoding="utf-8",
    )
    changes = {"optimizer": "needs_population", "plugins": ["req_plugin.py"]}
    assert config_error(project, changes, monkeypatch) == (
        "run.yaml: optimizer.population: missing required option 'population'"
    )
    sys.modules.pop("req_plugin", None)


def test_run_takes_functions_and_plugins_by_name_as_a_run_config_does(
    project: Path, monkeypatch: Any
) -> None:
    """NePS's run(**yaml.safe_load(template)) hands run() the strings a run config holds."""
    (project / "my_counter.py").write_text(
        textwrap.dedent(
            """
            import neps_core

            finished = []

            @neps_core.hookimpl
            def neps_trial_finished(run, trial, report):
                finished.append(trial.id)
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    summary = neps.run(
        "train.py::evaluate_pipeline",  # NePS's template writes two colons
        BASE["pipeline_space"],
        root_directory="results",
        evaluations_to_spend=2,
        plugins="my_counter",
    )
    assert summary.counts["success"] == 2
    assert sys.modules["my_counter"].finished == ["1", "2"]
    with pytest.raises(SettingsError, match=r"run\(\): plugins\[1\]: cannot import 'no_such'"):
        neps.run("train.py:evaluate_pipeline", root_directory="results", plugins=[1, "no_such"])
    with pytest.raises(SettingsError, match=r"run\(\): evaluate_pipeline: .*no attribute 'nope'"):
        neps.run("train.py:nope", root_directory="results")
    sys.modules.pop("my_counter", None)


@pytest.mark.parametrize("entry", ["", " ", ":name", "module:"])
def test_a_plugin_entry_without_a_module_or_name_says_the_forms(
    tmp_path: Path, monkeypatch: Any, entry: str
) -> None:
    # '' was "importing '' raised ValueError: Empty module name (<frozen importlib._bootstrap>)".
    monkeypatch.chdir(tmp_path)
    expected = rf"plugins\[0\]: expected 'module' or 'module:name', got {re.escape(repr(entry))}"
    with pytest.raises(SettingsError, match=rf"^run\(\): {expected}$"):
        neps.run(lambda x: x, root_directory="results", plugins=[entry])
    write_config(tmp_path, {"plugins": [entry]})
    with pytest.raises(SettingsError, match=rf"^run\.yaml: {expected}$"):
        load_run_config("run.yaml")


# -- run(..., run_config=...) ------------------------------------------------------------------
def test_run_with_a_run_config(project: Path) -> None:
    summary = neps.run(run_config=write_config(project, BASE))
    assert summary.counts["success"] == 3
    assert Path(summary.root_directory) == project / "results"


def test_keyword_arguments_override_the_yaml(project: Path) -> None:
    root = project / "elsewhere"
    summary = neps.run(
        run_config=write_config(project, BASE), root_directory=root, evaluations_to_spend=2
    )
    assert summary.counts["success"] == 2
    assert not (project / "results").exists()
    with pytest.warns(DeprecationWarning, match="max_evaluations_total"):
        more = neps.run(
            run_config=project / "run.yaml", root_directory=root, max_evaluations_total=4
        )
    assert more.counts["success"] == 4  # a legacy spelling overrides the YAML's new name


def test_an_error_from_yaml_values_combined_with_keywords_names_the_yaml_key(
    project: Path,
) -> None:
    path = write_config(project, {**BASE, "stale_after": 30})
    with pytest.raises(SettingsError) as caught:
        neps.run(run_config=path, heartbeat_interval=60)
    assert str(caught.value).startswith(
        f"{path}: stale_after: stale_after (30 s) must be longer than heartbeat_interval (60 s)"
    )
    with pytest.raises(SettingsError, match=r"^evaluations_to_spend must be a positive integer"):
        neps.run(run_config=path, evaluations_to_spend=0)  # not the YAML's fault


def test_an_inline_space_keeps_its_names_and_dates_as_written(tmp_path: Path) -> None:
    # on: was the parameter 'True'; the dates were datetime.date choices
    path = write_config(tmp_path, "pipeline_space:\n  on: [2024-01-01, 2024-06-01]\n")
    space = load_run_config(path)["pipeline_space"]
    assert space.parameters == {"on": neps.Categorical(["2024-01-01", "2024-06-01"])}
