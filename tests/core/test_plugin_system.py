"""The plugin system: entry-point discovery, registries, blocking, ad-hoc plugins and errors.

Third-party distributions are simulated with a real ``*.dist-info`` folder (METADATA and
entry_points.txt) on ``sys.path``, which is exactly what ``importlib.metadata`` discovers for
an installed package; tests/core/test_third_party.py does the same with ``pip install``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest

import neps_core as neps
from neps_core.cli.plugin_list import plugin_data
from neps_core.errors import PluginLoadError, SettingsError, UnknownPluginError
from neps_core.plugin_manager import (
    DISABLE_ENV,
    PluginLoadWarning,
    load_plugins,
    make_plugin_manager,
)
from neps_core.run_config import load_run_config
from neps_core.serialization import read_yaml
from neps_core_plugins.random_search import RandomSearch

pytest_plugins = ["neps_core.testing.fixtures"]

Run = Callable[..., neps.Summary]
MakeDistribution = Callable[..., str]

BUILTINS = {  # entry point -> (registry, names it registers)
    "random_search": ("optimizers", {"random_search"}),
    "grid_search": ("optimizers", {"grid_search"}),
    "disk_storage": ("storages", {"disk"}),
    "sync_evaluator": ("evaluators", {"sync"}),
    "native_space": ("space_adapters", {"native", "yaml"}),
}

OPTIMIZER_PLUGIN = """
from neps_core import hookimpl
from neps_core_plugins.random_search import RandomSearch

class {cls}(RandomSearch):
    name = "{name}"

@hookimpl
def neps_register_optimizers():
    return [{cls}]
"""


@pytest.fixture
def distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeDistribution]:
    """Install a fake distribution: a module plus a dist-info folder with entry points.

    Returns a function ``(name, source, entry_point=None, attribute=None) -> module name``
    (``attribute``: the entry point names ``module:attribute``); the module name is unique per
    call, so nothing leaks into other tests through ``sys.modules``.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install(
        name: str, source: str, entry_point: str | None = None, attribute: str | None = None
    ) -> str:
        module = f"fake_plugin_{uuid.uuid4().hex[:10]}"
        target = module if attribute is None else f"{module}:{attribute}"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[neps_core]\n{entry_point or name} = {target}\n")
        importlib.invalidate_caches()
        modules.append(module)
        return module

    yield install
    for module in modules:
        sys.modules.pop(module, None)


# -- discovery -----------------------------------------------------------------------------------
def test_every_entry_point_of_the_group_is_loaded() -> None:
    discovery = make_plugin_manager()
    for entry_point in importlib.metadata.entry_points(group="neps_core"):
        loaded = discovery.manager.get_plugin(entry_point.name)
        assert loaded is not None or entry_point.name in discovery.broken, entry_point
        if loaded is not None:
            assert loaded is entry_point.load()
    assert set(BUILTINS) | {"auto_optimizer"} <= set(discovery.distributions)


@pytest.mark.parametrize("entry_point", sorted(BUILTINS))
def test_each_builtin_is_registered_by_its_own_entry_point(entry_point: str) -> None:
    registry_name, names = BUILTINS[entry_point]
    registry = getattr(load_plugins(), registry_name)
    module = importlib.import_module(f"neps_core_plugins.{entry_point}")
    for name in names:
        assert registry[name].__module__.startswith(module.__name__)
        assert registry.origin(name) == (f"distribution 'neps-core' (entry point {entry_point!r})")
    without = getattr(load_plugins(disabled=[entry_point]), registry_name)
    assert not names & set(without), "registered some other way than its entry point"


def test_the_auto_choice_is_a_plugin_too() -> None:
    plugins = load_plugins(disabled=["auto_optimizer"])
    assert (
        plugins.hook.neps_select_optimizer(space=None, settings=None, multi_objective=False) is None
    )


def test_importing_neps_core_loads_no_plugin() -> None:
    code = "import sys, json, neps_core; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert not [m for m in json.loads(output) if m.startswith("neps_core_plugins")]


def test_the_testing_kit_without_pytest_names_the_extra_to_install() -> None:
    # A bare "No module named 'pytest'" said nothing of the test extra.
    code = "import sys; sys.modules['pytest'] = None; import neps_core.testing"
    output = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert output.returncode == 1
    assert "neps_core.testing needs pytest: pip install 'neps-core[test]'" in output.stderr


# -- registries ----------------------------------------------------------------------------------
def test_one_distribution_seen_twice_is_loaded_once_without_a_word(
    distribution: MakeDistribution, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    distribution("neps-twice", OPTIMIZER_PLUGIN.format(cls="Twice", name="twice"))
    shutil.copytree(tmp_path / "site-packages", tmp_path / "again")
    monkeypatch.syspath_prepend(str(tmp_path / "again"))  # the same package, twice on sys.path
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)
        plugins = load_plugins()
    assert list(plugins.discovery.distributions.values()).count("neps-twice") == 1
    assert plugins.optimizers["twice"].__qualname__ == "Twice"


@pytest.mark.parametrize(
    ("setting", "typo", "meant", "kind"),
    [
        ("optimizer", "random_serch", "random_search", "optimizer"),
        ("optimizer", "grid-search", "grid_search", "optimizer"),
        ("storage", "dsik", "disk", "storage"),
        ("evaluator", "snyc", "sync", "evaluator"),
        ("optimizer", "ASHA", "asha", "optimizer"),  # a name in other case
        ("optimizer", "GRID_SEARCH", "grid_search", "optimizer"),
    ],
)
def test_unknown_names_suggest_close_ones(
    neps_run: Run, setting: str, typo: str, meant: str, kind: str
) -> None:
    with pytest.raises(UnknownPluginError) as caught:
        neps_run(**{setting: typo})
    message = str(caught.value)
    assert f"Unknown {kind} {typo!r}. Did you mean {meant!r}" in message  # closest first
    assert f"Available {kind}s: " in message
    assert meant in caught.value.available


def test_an_unknown_name_without_close_ones_lists_all(neps_run: Run) -> None:
    with pytest.raises(UnknownPluginError) as caught:
        neps_run(optimizer="xyzzy_quux")
    message = str(caught.value)
    assert "Did you mean" not in message
    assert "'grid_search'" in message
    assert "'random_search'" in message
    assert isinstance(caught.value, KeyError)


# -- blocking ------------------------------------------------------------------------------------
def test_disabled_plugins_are_not_loaded(
    neps_disable_plugins: Callable[..., None],
    neps_run: Run,
    distribution: MakeDistribution,
    tmp_path: Path,
) -> None:
    distribution("neps-blocked-dist", OPTIMIZER_PLUGIN.format(cls="C", name="blocked_opt"))
    assert "blocked_opt" in load_plugins().optimizers
    neps_disable_plugins("grid_search", " random_search", "neps-blocked-dist")
    plugins = load_plugins()
    assert not {"grid_search", "random_search", "blocked_opt"} & set(plugins.optimizers)
    assert plugins.manager.is_blocked("grid_search")
    with pytest.raises(UnknownPluginError, match="'grid_search'") as refused:
        neps_run(optimizer="grid_search")
    assert "'grid_search' is disabled by NEPS_CORE_DISABLE_PLUGINS" in str(refused.value.__notes__)
    run_config = tmp_path / "run.yaml"  # the note was lost on the way through a run config
    run_config.write_text("optimizer: grid_search\n")
    with pytest.raises(SettingsError, match=r"run\.yaml: optimizer: .*'grid_search'") as refused:
        load_run_config(run_config)
    assert "'grid_search' is disabled by NEPS_CORE_DISABLE_PLUGINS" in str(refused.value.__notes__)
    # A third-party entry point registers names of its own: the hint still points at it.
    with pytest.raises(UnknownPluginError, match="'blocked_opt'") as refused:
        neps_run(optimizer="blocked_opt")
    assert "disables grid_search, neps-blocked-dist, random_search, which may be" in str(
        refused.value.__notes__
    )


def test_a_disabled_entry_point_that_another_distribution_shares_is_named_with_its_own(
    distribution: MakeDistribution,
) -> None:
    """Blocked first, it had the plain name and was listed as "disabled: shared", although
    the other distribution's ``shared`` is enabled and works."""
    distribution("neps-shared-a", OPTIMIZER_PLUGIN.format(cls="A", name="opt_a"), "shared")
    distribution("neps-shared-b", OPTIMIZER_PLUGIN.format(cls="B", name="opt_b"), "shared")
    for blocked, enabled in (("neps-shared-a", "opt_b"), ("neps-shared-b", "opt_a")):
        plugins = load_plugins(disabled=[blocked])
        assert enabled in plugins.optimizers
        assert plugins.discovery.disabled == [f"shared (distribution {blocked!r})"]
        with pytest.raises(UnknownPluginError) as refused:
            plugins.optimizers["nope"]
        assert (
            f"(NEPS_CORE_DISABLE_PLUGINS disables shared (distribution {blocked!r}), which may "
            "be the plugin that registers it)"
        ) in refused.value.__notes__


def test_the_fixture_adds_to_the_plugins_the_environment_disables(
    neps_disable_plugins: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # It replaced the variable: a broken plugin blocked for the whole suite came back.
    monkeypatch.setenv(DISABLE_ENV, "grid_search")
    neps_disable_plugins("random_search")
    assert not {"grid_search", "random_search"} & set(load_plugins().optimizers)


def test_a_misspelt_disabled_plugin_warns(neps_disable_plugins: Callable[..., None]) -> None:
    # A typo left the plugin enabled without a word.
    neps_disable_plugins("grid_serch")
    with pytest.warns(PluginLoadWarning, match=r"names no installed plugin: \['grid_serch'\]"):
        plugins = load_plugins()
    assert "grid_search" in plugins.optimizers


def test_the_environment_variable_blocks_plugins_in_a_fresh_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DISABLE_ENV, "random_search,sync_evaluator")
    code = (
        "import json; from neps_core.plugin_manager import load_plugins; p = load_plugins(); "
        "print(json.dumps([sorted(p.optimizers), sorted(p.evaluators)]))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    optimizers, evaluators = json.loads(output)
    assert "grid_search" in optimizers
    assert "random_search" not in optimizers
    assert "sync" not in evaluators


# -- ad-hoc plugins ------------------------------------------------------------------------------
def test_an_ad_hoc_module_adds_hooks(
    neps_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "site_hooks.py").write_text(
        textwrap.dedent(
            """
            from neps_core import hookimpl

            finished = []

            @hookimpl
            def neps_trial_finished(run, trial, report):
                finished.append(trial.id)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module: ModuleType = importlib.import_module("site_hooks")
    try:
        neps_run(plugins=[module], evaluations_to_spend=3)
        assert module.finished == ["1", "2", "3"]
    finally:
        sys.modules.pop("site_hooks", None)


def test_an_ad_hoc_select_hook_beats_the_builtin_choice(neps_run: Run, neps_root: Path) -> None:
    class Chooser:
        @neps.hookimpl
        def neps_select_optimizer(self, space: Any, settings: Any) -> str:
            assert settings.evaluations_to_spend == 5
            return "grid_search"

    neps_run(plugins=[Chooser()])
    assert read_yaml(neps_root / "run_info.yaml")["optimizer"] == "grid_search"


# -- broken plugins ------------------------------------------------------------------------------
BROKEN = "raise ImportError('needs the missing package frobnicate')\n"


def test_a_plugin_that_fails_to_import_is_named_and_warned_about(
    distribution: MakeDistribution,
) -> None:
    module = distribution("neps-broken-thing", BROKEN, entry_point="broken_thing")
    with pytest.warns(PluginLoadWarning) as warned:
        discovery = make_plugin_manager()
    error = discovery.broken["broken_thing"]
    assert isinstance(error, PluginLoadError)
    assert isinstance(error, ImportError)
    assert (error.entry_point, error.module, error.distribution) == (
        "broken_thing",
        module,
        "neps-broken-thing",
    )
    assert isinstance(error.cause, ImportError)
    message = str(warned[0].message)
    for part in ("'broken_thing'", repr(module), "'neps-broken-thing'", "frobnicate"):
        assert part in message


def test_the_warning_of_a_broken_plugin_points_at_the_callers_line(
    distribution: MakeDistribution, neps_run: Run, tmp_path: Path
) -> None:
    """Through the CLI's context managers it pointed at contextlib.py."""
    from neps_core.cli import main

    neps_run(optimizer="random_search", root_directory=tmp_path / "run")
    distribution("neps-broken-cli", BROKEN, entry_point="broken_cli")
    with pytest.warns(PluginLoadWarning, match="broken_cli") as warned:
        main(["status", str(tmp_path / "run")])
    assert {Path(w.filename).name for w in warned} == {Path(__file__).name}


def test_a_broken_plugin_only_breaks_runs_that_select_it(
    distribution: MakeDistribution, neps_run: Run, tmp_path: Path
) -> None:
    distribution("neps-broken-opt", "raise RuntimeError('bad')\n", entry_point="broken_opt")
    with pytest.warns(PluginLoadWarning, match="broken_opt"):
        assert neps_run(optimizer="random_search").counts["success"] == 5
    with pytest.warns(PluginLoadWarning), pytest.raises(PluginLoadError, match="'broken_opt'"):
        neps_run(optimizer="broken_opt", root_directory=tmp_path / "other")
    with pytest.warns(PluginLoadWarning), pytest.raises(UnknownPluginError) as caught:
        neps_run(optimizer="broken_optimizer", root_directory=tmp_path / "third")
    assert any("broken_opt" in note for note in getattr(caught.value, "__notes__", []))


def test_a_run_whose_optimizer_plugin_broke_is_not_continued_with_another(
    distribution: MakeDistribution,
    neps_run: Run,
    neps_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker on a node missing the plugin's dependency joined with ``auto``'s own choice."""
    source = "import os\nif os.environ.get('FLAKY_BREAK'):\n    raise ImportError('no dep')\n"
    module = distribution(
        "neps-flaky", source + OPTIMIZER_PLUGIN.format(cls="Flaky", name="flaky_opt")
    )
    neps_run(optimizer="flaky_opt", evaluations_to_spend=2)
    monkeypatch.setenv("FLAKY_BREAK", "1")
    monkeypatch.delitem(sys.modules, module)
    with pytest.warns(PluginLoadWarning), pytest.raises(UnknownPluginError) as caught:
        neps_run(evaluations_to_spend=4)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "no dep" in notes and "continues it with that one only" in notes
    assert read_yaml(neps_root / "run_info.yaml")["optimizer"] == "flaky_opt"
    assert len(list((neps_root / "configs").iterdir())) == 2


def test_an_installed_plugin_with_a_bad_registration_is_broken_not_fatal(
    distribution: MakeDistribution, neps_run: Run, tmp_path: Path
) -> None:
    source = OPTIMIZER_PLUGIN.replace("return [{cls}]", "return {cls}")  # a class, not a list
    distribution("neps-bad-reg", source.format(cls="Bad", name="bad"), entry_point="bad_reg")
    with pytest.warns(PluginLoadWarning, match=r"'bad_reg'.*'neps-bad-reg'.*TypeError"):
        assert neps_run(optimizer="random_search").counts["success"] == 5
    with pytest.warns(PluginLoadWarning), pytest.raises(PluginLoadError) as caught:
        neps_run(optimizer="bad_reg", root_directory=tmp_path / "selected")
    assert isinstance(caught.value.cause, TypeError)
    assert str(caught.value.cause).startswith(
        "neps_register_optimizers of distribution 'neps-bad-reg' (entry point 'bad_reg') "
        "returned <class"
    )


def test_a_space_adapter_claiming_a_builtin_name_leaves_both_asked(
    distribution: MakeDistribution, neps_run: Run, tmp_path: Path
) -> None:
    """A third-party adapter named 'native' for its own space class: dict spaces are still
    adapted by the built-in (before, neither was asked and every dict run failed), and its
    own spaces by it; the clash is named in a warning."""
    source = """
    import neps_core
    from neps_core import hookimpl
    from neps_core.interfaces import SpaceAdapter

    class OwnSpace(str):
        pass

    class Native(SpaceAdapter):
        name = "native"

        @classmethod
        def can_adapt(cls, space):
            return isinstance(space, OwnSpace)

        @classmethod
        def adapt(cls, space):
            return neps_core.PipelineSpace({"own": neps_core.Float(0.0, 1.0)})

    @hookimpl
    def neps_register_space_adapters():
        return [Native]
    """
    module = distribution("neps-native-too", source, entry_point="native_too")
    clash = "'native' is registered twice.*'neps-native-too'.*both are kept"
    with pytest.warns(PluginLoadWarning, match=clash):
        summary = neps_run(pipeline_space={"x": neps.Float(0.0, 1.0)})
    assert summary.counts["success"] == 5
    own_space = importlib.import_module(module).OwnSpace("mine")
    with pytest.warns(PluginLoadWarning, match=clash):
        summary = neps_run(
            evaluate_pipeline=lambda own: own,
            pipeline_space=own_space,
            root_directory=tmp_path / "own",
        )
    assert summary.best_config is not None and set(summary.best_config) == {"own"}


CONVERTER_PLUGIN = """
from neps_core import hookimpl
from neps_core_plugins.random_search import RandomSearch

class Conv(RandomSearch):
    name = "conv_search"

@hookimpl
def neps_register_optimizers():
    return [Conv]

@hookimpl
def neps_configure_converter(converter):
    converter.register_unstructure_hook(complex, str)
    raise RuntimeError("converter setup failed")
"""


def test_an_installed_plugin_whose_converter_hook_fails_is_broken_not_fatal(
    distribution: MakeDistribution, neps_run: Run, tmp_path: Path
) -> None:
    """Every run failed with the plugin's error and no note; ``neps-core plugins`` too."""
    distribution("neps-bad-conv", CONVERTER_PLUGIN, entry_point="bad_conv")
    with pytest.warns(PluginLoadWarning, match=r"'bad_conv'.*converter setup failed"):
        plugins = load_plugins()
    assert "conv_search" not in plugins.optimizers  # left out whole
    assert plugins.converter.unstructure(1j) == 1j  # its half-made change is gone
    with pytest.warns(PluginLoadWarning):
        assert neps_run(optimizer="random_search").counts["success"] == 5
    with pytest.warns(PluginLoadWarning), pytest.raises(PluginLoadError, match="'bad_conv'"):
        neps_run(optimizer="bad_conv", root_directory=tmp_path / "selected")


def test_converter_hooks_get_the_arguments_they_declare_and_wrappers_are_refused() -> None:
    class Silent:
        called = False

        @neps.hookimpl
        def neps_configure_converter(self) -> None:  # pluggy allows fewer arguments
            Silent.called = True

    class Wrapping:
        @neps.hookimpl(wrapper=True)
        def neps_configure_converter(self, converter: Any) -> Any:
            return (yield)

    load_plugins([Silent()])
    assert Silent.called
    with pytest.raises(TypeError, match=r"neps_configure_converter of .* is a hook wrapper"):
        load_plugins([Wrapping()])


def test_a_plugin_whose_registration_fails_leaves_the_converter_alone(
    distribution: MakeDistribution,
) -> None:
    source = """
    from neps_core import hookimpl

    @hookimpl
    def neps_configure_converter(converter):
        converter.register_unstructure_hook(complex, str)

    @hookimpl
    def neps_register_optimizers():
        raise RuntimeError("registration broke")
    """
    distribution("neps-half-conv", source, entry_point="half_conv")
    with pytest.warns(PluginLoadWarning, match="registration broke"):
        plugins = load_plugins()
    assert plugins.converter.unstructure(1j) == 1j


def test_a_converter_hook_error_of_a_plugin_passed_to_run_names_it() -> None:
    class Failing:
        @neps.hookimpl
        def neps_configure_converter(self, converter: Any) -> None:
            raise RuntimeError("converter setup failed")

    with pytest.raises(RuntimeError) as caught:
        load_plugins([Failing()])
    assert "(raised in neps_configure_converter of run(plugins=...)" in "\n".join(
        caught.value.__notes__
    )


def test_a_plugin_whose_registration_fails_is_left_out_whole(
    distribution: MakeDistribution, neps_run: Run, tmp_path: Path
) -> None:
    """Reported as failed to load, its storage stayed selectable and its observer ran."""
    source = """
    from neps_core import hookimpl
    from neps_core_plugins.disk_storage.storage import DiskStorage

    class HalfStorage(DiskStorage):
        name = "half_storage"

    finished = []

    @hookimpl
    def neps_register_storages():
        return [HalfStorage]

    @hookimpl
    def neps_register_optimizers():
        raise RuntimeError("registration broke")

    @hookimpl
    def neps_trial_finished(trial):
        finished.append(trial.id)
    """
    module = distribution("neps-half", source, entry_point="half")
    with pytest.warns(PluginLoadWarning, match=r"(?s)'half'.*RuntimeError: registration broke"):
        plugins = load_plugins()
    assert "half_storage" not in plugins.storages
    assert not plugins.manager.has_plugin("half")
    with pytest.warns(PluginLoadWarning):
        assert neps_run(optimizer="random_search").counts["success"] == 5
    assert sys.modules[module].finished == []
    with pytest.warns(PluginLoadWarning), pytest.raises(UnknownPluginError):
        neps_run(storage="half_storage", root_directory=tmp_path / "other")


def test_an_installed_plugin_with_a_hook_of_wrong_arguments_breaks_only_itself(
    distribution: MakeDistribution, neps_run: Run, tmp_path: Path
) -> None:
    """pluggy refuses the hook when it registers the plugin; the other plugins still load."""
    source = """
    from neps_core import hookimpl

    @hookimpl
    def neps_trial_finished(run, trial, report, extra_argument):
        pass
    """
    distribution("neps-bad-sig", source, entry_point="bad_sig")
    with pytest.warns(PluginLoadWarning, match=r"(?s)'bad_sig'.*'neps-bad-sig'.*extra_argument"):
        discovery = make_plugin_manager()
    assert isinstance(discovery.broken["bad_sig"].cause, pluggy.PluginValidationError)
    assert not discovery.manager.has_plugin("bad_sig")
    with pytest.warns(PluginLoadWarning):
        assert neps_run(optimizer="random_search").counts["success"] == 5


def test_an_entry_point_naming_a_class_gets_an_instance(
    distribution: MakeDistribution, neps_run: Run, tmp_path: Path
) -> None:
    """Registered as a class, its hooks were called without ``self`` and failed every run."""
    source = """
    from neps_core import hookimpl

    class Observer:
        finished = []

        @hookimpl
        def neps_trial_finished(self, run, trial, report):
            self.finished.append((trial.id, report.objective_to_minimize))

    class NeedsArguments(Observer):
        def __init__(self, target):
            self.target = target
    """
    module = distribution("neps-class-plugin", source, entry_point="observer", attribute="Observer")
    assert neps_run(optimizer="random_search").counts["success"] == 5
    assert [trial_id for trial_id, _ in sys.modules[module].Observer.finished] == list("12345")
    # `neps-core plugins` said "module: Observer"; a broken one shows "module:Class".
    listed = {plugin["name"]: plugin for plugin in plugin_data()["plugins"]}
    assert listed["observer"]["module"] == f"{module}:Observer"
    distribution("neps-bad-class", source, entry_point="needs", attribute="NeedsArguments")
    with pytest.warns(PluginLoadWarning, match=r"(?s)'needs'.*'neps-bad-class'.*TypeError"):
        summary = neps_run(optimizer="random_search", root_directory=tmp_path / "other")
    assert summary.counts["success"] == 5


def test_an_installed_plugin_class_passed_to_run_again_is_called_once(
    distribution: MakeDistribution, neps_run: Run
) -> None:
    """Its entry point's instance and run()'s both got every event."""
    source = """
    from neps_core import hookimpl

    class Observer:
        finished = []

        def __init__(self, tag="installed"):
            self.tag = tag

        @hookimpl
        def neps_trial_finished(self, run, trial, report):
            self.finished.append((self.tag, trial.id))
    """
    module = distribution("neps-observer", source, entry_point="observer", attribute="Observer")
    observer = sys.modules.get(module) or importlib.import_module(module)
    neps_run(optimizer="random_search", evaluations_to_spend=2, plugins=[observer.Observer])
    assert [trial_id for _, trial_id in observer.Observer.finished] == ["1", "2"]
    observer.Observer.finished.clear()
    configured = observer.Observer(tag="mine")  # the user's own instance is the one called
    neps_run(optimizer="random_search", evaluations_to_spend=3, plugins=[configured])
    assert observer.Observer.finished == [("mine", "3")]
    observer.Observer.finished.clear()
    two = [observer.Observer(tag="a"), observer.Observer(tag="b")]  # both of run()'s kept
    neps_run(optimizer="random_search", evaluations_to_spend=4, plugins=two)
    assert sorted(observer.Observer.finished) == [("a", "4"), ("b", "4")]


def test_an_instance_of_a_subclass_of_an_installed_plugin_class_replaces_it(
    distribution: MakeDistribution, neps_run: Run
) -> None:
    """The entry point's own instance was called alongside it: every event twice."""
    source = """
    from neps_core import hookimpl

    class Observer:
        finished = []

        @hookimpl
        def neps_trial_finished(self, run, trial, report):
            self.finished.append((type(self).__name__, trial.id))
    """
    module = distribution("neps-observer", source, entry_point="observer", attribute="Observer")
    observer = sys.modules.get(module) or importlib.import_module(module)

    class Customized(observer.Observer):
        pass

    neps_run(optimizer="random_search", evaluations_to_spend=1, plugins=[Customized()])
    assert observer.Observer.finished == [("Customized", "1")]


def test_an_instance_of_a_subclass_of_an_installed_object_s_class_is_called_beside_it(
    distribution: MakeDistribution, neps_run: Run
) -> None:
    """The entry point names an object, not a class: its class may be a base other plugins
    share, so another subclass's instance passed to run() unregistered it (no event)."""
    source = """
    from neps_core import hookimpl

    class Observer:
        finished = []

        @hookimpl
        def neps_trial_finished(self, run, trial, report):
            self.finished.append((type(self).__name__, trial.id))

    OBSERVER = Observer()
    """
    module = distribution("neps-observer", source, entry_point="observer", attribute="OBSERVER")
    observer = sys.modules.get(module) or importlib.import_module(module)

    class Other(observer.Observer):
        pass

    neps_run(optimizer="random_search", evaluations_to_spend=1, plugins=[Other()])
    assert sorted(observer.Observer.finished) == [("Observer", "1"), ("Other", "1")]


def test_an_installed_plugin_with_a_misspelt_hook_is_warned_about(
    distribution: MakeDistribution,
) -> None:
    source = """
    from neps_core import hookimpl

    @hookimpl
    def neps_register_optimizer():
        return []

    @hookimpl(optionalhook=True)
    def neps_hook_of_a_later_version():
        pass
    """
    distribution("neps-typo", source, entry_point="typo")
    with pytest.warns(PluginLoadWarning) as warned:
        make_plugin_manager()
    [message] = [str(w.message) for w in warned]
    assert message.startswith(
        "distribution 'neps-typo' (entry point 'typo') implements unknown hook(s) "
        "'neps_register_optimizer' (did you mean 'neps_register_optimizers'?)"
    )
    assert "later_version" not in message


def test_an_installed_plugin_with_a_hook_without_hookimpl_is_warned_about(
    distribution: MakeDistribution,
) -> None:
    """pluggy skips it silently; ``neps-core plugins`` listed the plugin with nothing under it."""
    source = OPTIMIZER_PLUGIN.format(cls="Unmarked", name="unmarked").replace("@hookimpl", "")
    distribution("neps-unmarked", source, entry_point="unmarked")
    with pytest.warns(PluginLoadWarning) as warned:
        plugins = load_plugins()
    assert [str(w.message) for w in warned] == [
        "distribution 'neps-unmarked' (entry point 'unmarked') defines "
        "'neps_register_optimizers' without @neps_core.hookimpl, so neps_core never calls it; "
        "decorate it with @neps_core.hookimpl"
    ]
    assert "unmarked" not in plugins.optimizers


def test_a_blocked_broken_plugin_is_not_even_imported(
    distribution: MakeDistribution, neps_disable_plugins: Callable[..., None]
) -> None:
    module = distribution("neps-broken-blocked", BROKEN, entry_point="broken_blocked")
    neps_disable_plugins("broken_blocked")
    discovery = make_plugin_manager()  # an unexpected warning would fail under -W error
    assert "broken_blocked" not in discovery.broken
    assert module not in sys.modules


@pytest.mark.parametrize("spelling", ["neps_probe.Suite", "NEPS-PROBE-SUITE"])
def test_a_distribution_is_blocked_by_any_spelling_pip_accepts(
    distribution: MakeDistribution, neps_disable_plugins: Callable[..., None], spelling: str
) -> None:
    module = distribution("neps-probe-suite", BROKEN, entry_point="probe_suite")
    neps_disable_plugins(spelling)
    discovery = make_plugin_manager()  # a warning (broken, or names nothing) fails under -W error
    assert "probe_suite" not in discovery.broken
    assert module not in sys.modules


# -- neps.algorithms ------------------------------------------------------------------------------
def test_algorithms_names_every_optimizer_as_neps_does(neps_run: Run, tmp_path: Path) -> None:
    from neps_core_plugins.priorband import PriorBand

    assert neps.algorithms.priorband.optimizer is PriorBand
    assert neps.algorithms.random_search.optimizer is RandomSearch
    assert neps_run(optimizer=neps.algorithms.random_search).counts["success"] == 5
    summary = neps_run(
        optimizer=(neps.algorithms.random_search, {"use_priors": True}),
        root_directory=tmp_path / "with_options",
    )
    assert summary.counts["success"] == 5


def test_algorithms_includes_installed_plugins_and_suggests_on_typos(
    distribution: MakeDistribution,
) -> None:
    distribution("neps-extra-search", OPTIMIZER_PLUGIN.format(cls="Extra", name="extra_search"))
    assert neps.algorithms.extra_search.name == "extra_search"
    assert {"extra_search", "bayesian_optimization", "priorband"} <= set(dir(neps.algorithms))
    assert not hasattr(neps.algorithms, "no_such_optimizer")
    with pytest.raises(AttributeError, match=r"'hyperbnd'.*Did you mean 'hyperband'"):
        _ = neps.algorithms.hyperbnd
