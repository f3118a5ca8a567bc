"""Mistakes third-party plugin authors make, each named or contained rather than breaking runs
that do not use the plugin (or failing mid-run with an error that names no plugin)."""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neps_core as neps
from neps_core.interfaces import Optimizer, SpaceAdapter
from neps_core.plugin_manager import PluginLoadWarning, load_plugins
from neps_core.run_context import RunContext
from neps_core_plugins.disk_storage import DiskStorage
from neps_core_plugins.grid_search import GridSearch
from neps_core_plugins.native_space import NativeSpaceAdapter
from neps_core_plugins.random_search import RandomSearch

pytest_plugins = ["neps_core.testing.fixtures"]

Run = Callable[..., neps.Summary]
DICT_SPACE = {"x": neps.Float(0.0, 1.0)}


def _registering(adapter: type, **order: bool) -> object:
    class Plugin:
        @neps.hookimpl(**order)
        def neps_register_space_adapters(self) -> list[type]:
            return [adapter]

    return Plugin()


def _registering_optimizer(optimizer: type) -> object:
    class Plugin:
        @neps.hookimpl
        def neps_register_optimizers(self) -> list[type]:
            return [optimizer]

    return Plugin()


class Box:
    """A third party's space type."""


class BoxAdapter(SpaceAdapter):
    name = "box"

    @classmethod
    def can_adapt(cls, space: Any) -> bool:
        return isinstance(space, Box)

    @classmethod
    def adapt(cls, space: Any) -> Any:
        return NativeSpaceAdapter.adapt(DICT_SPACE)


def test_an_adapter_whose_can_adapt_raises_is_skipped_with_a_warning(neps_run: Run) -> None:
    class Careless(SpaceAdapter):
        name = "careless"

        @classmethod
        def can_adapt(cls, space: Any) -> bool:
            return bool(space.__frozen_space__)  # assumes its own type: breaks on any other

        @classmethod
        def adapt(cls, space: Any) -> Any:
            raise AssertionError("never asked")

    plugins = [_registering(BoxAdapter), _registering(Careless)]  # the later one is asked first
    with pytest.warns(PluginLoadWarning, match=r"space adapter 'careless' of .*can_adapt\(\)"):
        summary = neps_run(pipeline_space=Box(), plugins=plugins)
    assert summary.counts["success"] == 5  # the space went to the adapter meant for it


class RangeSpace(dict[str, str]):
    """Another library's mapping: ``{"x": "0..1"}``."""


class RangeAdapter(SpaceAdapter):
    name = "ranges"

    @classmethod
    def can_adapt(cls, space: Any) -> bool:
        return isinstance(space, RangeSpace)

    @classmethod
    def adapt(cls, space: Any) -> Any:
        bounds = {name: text.split("..") for name, text in space.items()}
        return neps.PipelineSpace(
            {n: neps.Float(float(a), float(b)) for n, (a, b) in bounds.items()}
        )


def test_a_plugins_adapter_for_a_mapping_is_asked_before_the_native_one(neps_run: Run) -> None:
    """The native adapter took the mapping first and made ``x`` the constant ``"0..1"``."""
    seen: list[Any] = []

    def evaluate(x: Any) -> float:
        seen.append(x)
        return 0.5

    space = RangeSpace(x="0..1")
    neps_run(evaluate_pipeline=evaluate, pipeline_space=space, plugins=[_registering(RangeAdapter)])
    assert seen and all(isinstance(x, float) and 0.0 <= x <= 1.0 for x in seen)


def test_adapters_are_asked_in_pluggys_call_order() -> None:
    """``tryfirst`` first and ``trylast`` last, as pluggy calls hooks (it was the reverse)."""
    first = load_plugins([_registering(RangeAdapter, tryfirst=True)])
    assert next(iter(first.space_adapters)) == "ranges"
    last = load_plugins([_registering(RangeAdapter, trylast=True)])
    assert list(last.space_adapters)[-1] == "ranges"


def test_a_registration_hook_wrapper_is_refused_with_the_reason(neps_run: Run) -> None:
    """It got a generator back and the error suggested ``return [neps_register_optimizers]``."""

    class SitePolicy:
        @neps.hookimpl(wrapper=True)
        def neps_register_optimizers(self) -> Any:
            classes = yield
            return [c for c in classes if c.name != "grid_search"]

    with pytest.raises(TypeError, match=r"neps_register_optimizers of .* is a hook wrapper"):
        neps_run(plugins=[SitePolicy()])


def test_an_adapter_returning_no_pipeline_space_is_named(neps_run: Run) -> None:
    class Sloppy(SpaceAdapter):
        name = "sloppy"

        @classmethod
        def can_adapt(cls, space: Any) -> bool:
            return space == "sloppy:space"

        @classmethod
        def adapt(cls, space: Any) -> Any:
            return {"x": neps.Float(0.0, 1.0)}

    with pytest.raises(
        TypeError, match=r"space adapter 'sloppy' of .*returned an object of type dict; it must"
    ):
        neps_run(pipeline_space="sloppy:space", plugins=[_registering(Sloppy)])


def test_a_raising_optimizer_selector_is_named(neps_run: Run) -> None:
    class Selector:
        @neps.hookimpl(tryfirst=True)
        def neps_select_optimizer(self, space: Any, settings: Any, multi_objective: bool) -> str:
            raise KeyError("lr")

    with pytest.raises(KeyError) as caught:
        neps_run(optimizer="auto", plugins=[Selector()])
    notes = " ".join(getattr(caught.value, "__notes__", []))
    assert "(raised in neps_select_optimizer of run(plugins=...) " in notes
    assert "neps-core" not in notes  # the built-in choice, which never ran, is not blamed


class CountsFinished:
    """An observer whose author passed the class, not an instance."""

    finished: int = 0

    @neps.hookimpl
    def neps_trial_finished(self, run: RunContext, trial: neps.Trial, report: neps.Report) -> None:
        type(self).finished += 1


def test_a_plugin_class_passed_to_run_is_instantiated(neps_run: Run) -> None:
    neps_run(plugins=[CountsFinished])  # its hooks were called unbound, without ``self``
    assert CountsFinished.finished == 5


def test_one_plugin_module_alone_needs_no_list(neps_run: Run) -> None:
    # plugins=my_module raised SettingsError("'module' object is not iterable"), naming
    # neither the setting nor the module, where plugins="my_module" worked.
    module = types.ModuleType("counts_finished")
    finished: list[str] = []

    @neps.hookimpl
    def neps_trial_finished(trial: neps.Trial) -> None:
        finished.append(trial.id)

    module.neps_trial_finished = neps_trial_finished  # type: ignore[attr-defined]
    neps_run(plugins=module)
    assert finished == ["1", "2", "3", "4", "5"]


def test_a_plugin_class_that_needs_arguments_is_refused_at_once(neps_run: Run) -> None:
    class NeedsDirectory:
        def __init__(self, directory: str) -> None:
            self.directory = directory

    with pytest.raises(neps.SettingsError, match=r"plugins\[0\]: .*NeedsDirectory cannot be"):
        neps_run(plugins=[NeedsDirectory])


def test_an_optimizer_class_under_an_installed_optimizers_name_is_refused(
    neps_run: Run,
) -> None:
    class MyGrid(RandomSearch):
        name = "grid_search"

    # It was recorded as grid_search, and a continued run switched to the real one.
    with pytest.raises(neps.SettingsError, match=r"MyGrid is named 'grid_search'.*name of its"):
        neps_run(optimizer=MyGrid)

    class TimedGrid(GridSearch):  # instruments the installed one: it is that optimizer still
        pass

    assert neps_run(optimizer=TimedGrid).counts["success"] == 5


class NumpyRandom(RandomSearch):
    """Proposes NumPy scalars, as an optimizer computing with NumPy (a GP, CMA-ES) does."""

    name = "numpy_random"

    def ask(self, trials: Any, budget: Any, n: int) -> list[neps.Proposal]:
        return [
            neps.Proposal(
                {key: np.array(value)[()] for key, value in proposal.config.items()},
                metadata={"score": np.float64(0.5)},
            )
            for proposal in super().ask(trials, budget, n)
        ]


class JsonStorage(DiskStorage):
    """Writes each stored trial as JSON as well, like the storage of docs/storage/index.md."""

    name = "json_disk"
    schemes = ()

    def transact(self, change: Callable[[Any], Any]) -> list[neps.Trial]:
        def written(history: Any) -> list[neps.Trial]:
            trials = list(change(history))
            json.dumps([self.converter.unstructure(trial) for trial in trials])
            return trials

        return super().transact(written)


class JsonStoragePlugin:
    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        return [JsonStorage]


def test_proposals_reach_storage_and_evaluation_as_plain_python_values(neps_run: Run) -> None:
    # "TypeError: Object of type int64 is not JSON serializable", though the optimizer and
    # the storage each passed their contract.
    received: list[type] = []
    summary = neps_run(
        evaluate_pipeline=lambda **config: received.extend(map(type, config.values())) or 0.0,
        pipeline_space={"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 4)},
        optimizer=NumpyRandom,
        storage="json_disk",
        plugins=[JsonStoragePlugin()],
    )
    assert summary.counts["success"] == 5
    assert set(received) == {float, int}


@pytest.mark.parametrize("names", [{"name": "auto"}, {"name": "mine", "aliases": ("auto",)}])
def test_an_optimizer_named_auto_is_refused_naming_its_plugin(
    neps_run: Run, names: dict[str, Any]
) -> None:
    # It registered without a word and could never be selected: "auto" is the automatic choice.
    plugin = _registering_optimizer(type("Auto", (RandomSearch,), names))
    with pytest.raises(ValueError, match=r"from run\(plugins=...\) .* is named 'auto', which no"):
        neps_run(optimizer="auto", plugins=[plugin])


@pytest.mark.parametrize(
    "names", [{"name": "priorband_asha"}, {"name": "x", "aliases": ("asha_prior",)}]
)
def test_an_optimizer_named_like_a_nepss_preset_is_refused_naming_its_plugin(
    neps_run: Run, names: dict[str, Any]
) -> None:
    # It registered without a word and could never be selected: the preset name is expanded
    # (priorband_asha runs PriorBand with base="asha") before any lookup.
    plugin = _registering_optimizer(type("Preset", (RandomSearch,), names))
    with pytest.raises(
        ValueError, match=r"from run\(plugins=...\) .* is named '\w+', which no .*NePS's name for"
    ):
        neps_run(optimizer="priorband_asha", plugins=[plugin])


@pytest.mark.parametrize(
    ("attributes", "error", "message"),
    [
        ({}, TypeError, r"optimizer class .*NoName'> from module .* has no string `name`"),
        ({"name": "auto"}, ValueError, r"optimizer class .*NoName'> from .* is named 'auto'"),
    ],
)
def test_an_optimizer_class_given_directly_is_checked_as_a_registered_one(
    neps_run: Run, attributes: dict[str, Any], error: type[Exception], message: str
) -> None:
    # Without a name: a raw AttributeError blamed on the class's own code.
    nameless = type("NoName", (Optimizer,), {"ask": RandomSearch.ask, **attributes})
    with pytest.raises(error, match=message):
        neps_run(optimizer=nameless)
