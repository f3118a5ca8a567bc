"""A run config means the same from any directory: paths, URLs, commands and module names."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.run_config import load_run_config
from neps_core_plugins.random_search import RandomSearch

SPACE = {"x": {"lower": 0.0, "upper": 1.0}}


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """``(config folder, another folder)``; the test runs in the other one."""
    config, elsewhere = tmp_path / "config", tmp_path / "elsewhere"
    config.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    saved_path = list(sys.path)
    yield config, elsewhere
    sys.path[:] = saved_path
    for name, module in list(sys.modules.items()):  # the test's own modules, by their file
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def write(folder: Path, data: dict, name: str = "run.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def config_with_function(folder: Path, module: str, **settings: Any) -> dict[str, Any]:
    """A run config whose ``evaluate_pipeline`` is ``f`` of a new file ``<module>.py``."""
    (folder / f"{module}.py").write_text("def f(x):\n    return x\n", encoding="utf-8")
    return {
        "evaluate_pipeline": f"{module}.py:f",
        "pipeline_space": SPACE,
        "root_directory": "results",
        "evaluations_to_spend": 2,
        **settings,
    }


def test_a_relative_sqlite_url_is_taken_from_the_yamls_folder(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, elsewhere = folders
    data = config_with_function(config, "train_sqlite", storage="sqlite:///run.db")
    neps.run(run_config=write(config, data))
    assert (config / "run.db").is_file() and not (elsewhere / "run.db").exists()
    # Continued from a third directory: the same database, not a conflicting new one.
    other = elsewhere / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    summary = neps.run(run_config=config / "run.yaml", evaluations_to_spend=4)
    assert summary.counts["success"] == 4
    mapping = {**data, "storage": {"name": "sqlite:///data/run.db", "fsync": False}}
    kwargs = load_run_config(write(config, mapping, "mapping.yaml"))
    assert kwargs["storage"] == {"name": f"sqlite:///{config / 'data' / 'run.db'}", "fsync": False}
    # *Review*: the mapping form run() takes, {name, url}, was "storage.url: unknown option".
    named = {**data, "storage": {"name": "sqlite", "url": "sqlite:///data/run.db"}}
    kwargs = load_run_config(write(config, named, "named.yaml"))
    assert kwargs["storage"] == {"name": "sqlite", "url": f"sqlite:///{config / 'data' / 'run.db'}"}


def test_a_command_runs_in_the_yamls_folder_unless_given_a_cwd(
    folders: tuple[Path, Path],
) -> None:
    config, _ = folders
    (config / "train_cli.py").write_text(
        "import sys\nprint('NEPS_CORE_RESULT', float(sys.argv[1]))\n", encoding="utf-8"
    )
    command = {"command": f"{sys.executable} train_cli.py {{x}}"}
    data = {
        "evaluate_pipeline": command,
        "pipeline_space": SPACE,
        "root_directory": "results",
        "evaluations_to_spend": 2,
    }
    summary = neps.run(run_config=write(config, data))
    assert summary.counts["success"] == 2  # "can't open file .../elsewhere/train_cli.py"
    kwargs = load_run_config(write(config, {**data, "evaluate_pipeline": {**command, "cwd": ".."}}))
    assert kwargs["evaluate_pipeline"].cwd == config.parent


@pytest.mark.parametrize("space_first", [True, False])
def test_a_module_next_to_the_yaml_is_found_whatever_the_key_order(
    folders: tuple[Path, Path], space_first: bool
) -> None:
    config, _ = folders
    (config / "train_order.py").write_text("def f(x):\n    return x\n", encoding="utf-8")
    (config / "spaces_order.py").write_text(
        "import neps_core as neps\n\nclass Space(neps.PipelineSpace):\n"
        "    x = neps.Float(0.0, 1.0)\n",
        encoding="utf-8",
    )
    entries = [("pipeline_space", "spaces_order:Space"), ("evaluate_pipeline", "train_order.py:f")]
    data = dict(entries if space_first else entries[::-1])
    kwargs = load_run_config(write(config, data))
    assert kwargs["pipeline_space"].fidelity_name is None
    assert list(kwargs["pipeline_space"].parameters) == ["x"]


def test_a_setting_given_to_run_is_not_loaded_from_the_yaml(folders: tuple[Path, Path]) -> None:
    config, elsewhere = folders
    (config / "side_effect.py").write_text(
        "from pathlib import Path\nPath('imported').touch()\ndef f(x):\n    return x\n",
        encoding="utf-8",
    )
    data = {
        "evaluate_pipeline": "missing.py:f",
        "pipeline_space": SPACE,
        "root_directory": "results",
        "evaluations_to_spend": 1,
    }
    with pytest.raises(SettingsError, match="evaluate_pipeline: no such file"):
        load_run_config(write(config, data))
    assert neps.run(lambda x: x, run_config=config / "run.yaml").counts["success"] == 1
    imports = write(config, {**data, "evaluate_pipeline": "side_effect.py:f"}, "imports.yaml")
    neps.run(lambda x: x, run_config=imports, evaluations_to_spend=2)
    assert not (elsewhere / "imported").exists()


def test_a_list_where_a_mapping_belongs_says_a_mapping_is_expected(tmp_path: Path) -> None:
    data = {"evaluator": {"name": "subprocess", "env": ["OMP_NUM_THREADS=1"]}}
    with pytest.raises(SettingsError, match=r"evaluator\.env: expected a mapping such as"):
        load_run_config(write(tmp_path, data))
    command = {"command": "python train.py", "env": ["OMP_NUM_THREADS=1"]}
    with pytest.raises(SettingsError, match=r"evaluate_pipeline\.env: Command env must be a"):
        load_run_config(write(tmp_path, {"evaluate_pipeline": command}))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"env": {"OMP": [1]}}, r"evaluate_pipeline\.env: Command env 'OMP' must be text, a path"),
        ({"kill_grace": "abc"}, r"evaluate_pipeline\.kill_grace: .*seconds >= 0, got 'abc'"),
        ({"shell": "yes"}, r"evaluate_pipeline\.shell: .*true or false, got 'yes'"),
        ({"command": "python score.py {}"}, r"evaluate_pipeline\.command: .*needs a name"),
        ({"command": "  "}, r"evaluate_pipeline\.command: Command command names no program"),
        ({"cwd": "run.yaml"}, r"evaluate_pipeline\.cwd: .*run\.yaml' is not a directory"),
    ],
    ids=[
        "env list",
        "kill_grace text",
        "shell text",
        "unnamed placeholder",
        "blank command",
        "file as cwd",
    ],
)
def test_a_commands_options_are_checked_when_the_config_is_loaded(
    tmp_path: Path, option: dict[str, Any], message: str
) -> None:
    # Accepted, then every trial failed with a TypeError naming neither env nor the variable.
    command = {"command": "python score.py", **option}
    with pytest.raises(SettingsError, match=rf"run\.yaml: {message}"):
        load_run_config(write(tmp_path, {"evaluate_pipeline": command}))


def test_a_number_in_a_commands_env_is_its_text(tmp_path: Path) -> None:
    code = "import os; print('NEPS_CORE_RESULT', os.environ['THREADS'])"
    command = {"command": [sys.executable, "-c", code], "env": {"THREADS": 3}}
    data = {
        "evaluate_pipeline": command,
        "pipeline_space": {"x": {"lower": 0.0, "upper": 1.0}},
        "root_directory": "results",
        "evaluations_to_spend": 1,
    }
    summary = neps.run(run_config=write(tmp_path, data))
    assert summary.best_trial is not None and summary.best_trial.objective == 3.0


def test_options_under_auto_that_its_choice_lacks_say_what_auto_chose(tmp_path: Path) -> None:
    # Through the CLI, which prints the notes of the error.
    data = config_with_function(
        tmp_path, "train_auto", optimizer={"name": "auto", "use_prior": True}
    )
    done = subprocess.run(
        [sys.executable, "-m", "neps_core", "run", str(write(tmp_path, data))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "unknown option(s) ['use_prior']" in done.stderr
    assert "optimizer='auto' chose" in done.stderr, done.stderr
    # Found only once the run starts, the error blamed neither the file nor its key.
    assert f"error: {tmp_path / 'run.yaml'}: optimizer: optimizer " in done.stderr, done.stderr


def test_options_under_auto_blame_the_file_key_and_override_that_gave_them(
    tmp_path: Path,
) -> None:
    data = config_with_function(tmp_path, "train_auto_key", searcher={"name": "auto", "eta": 3})
    path = write(tmp_path, data)
    with pytest.warns(DeprecationWarning), pytest.raises(SettingsError) as refused:
        neps.run(run_config=path)
    assert str(refused.value).startswith(f"{path}: searcher: optimizer "), refused.value
    assert "unknown option(s) ['eta']" in str(refused.value)
    with pytest.warns(DeprecationWarning):
        overridden = load_run_config(
            write(tmp_path, {**data, "searcher": "auto"}), ["searcher.eta=3"]
        )
    with pytest.raises(SettingsError) as refused:
        neps.run(**overridden)
    assert str(refused.value).startswith(f"{path}: override 'searcher.eta=3': searcher: ")
    with pytest.raises(SettingsError) as refused:  # given to run(), no file to blame
        neps.run(lambda x: x, SPACE, root_directory=tmp_path / "r", optimizer=("auto", {"eta": 3}))
    assert str(refused.value).startswith("optimizer 'bayesian_optimization': unknown option")


class YamlNamedSearch(RandomSearch):
    name = "yaml_named_search"


class RegistersYamlNamedSearch:
    @neps.hookimpl
    def neps_register_optimizers(self) -> list[type]:
        return [YamlNamedSearch]


def test_the_yaml_may_name_an_optimizer_of_a_plugin_given_to_run(tmp_path: Path) -> None:
    # The file was checked with its own plugins only: "Unknown optimizer".
    data = config_with_function(tmp_path, "train_plugin", optimizer="yaml_named_search")
    path = write(tmp_path, data)
    summary = neps.run(run_config=path, plugins=[RegistersYamlNamedSearch()])
    assert {t.optimizer for t in neps.status(summary.root_directory).trials} == {
        "yaml_named_search"
    }
