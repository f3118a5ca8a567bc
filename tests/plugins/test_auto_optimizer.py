"""The ``auto_optimizer`` plugin: the built-in, overridable choice for ``optimizer="auto"``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

import neps_core as neps
from neps_core.cli.status import format_status, status_data
from neps_core.config import RunSettings
from neps_core.errors import SettingsError
from neps_core.inspection import read_run
from neps_core.plugin_manager import Plugins, load_plugins
from neps_core.serialization import read_yaml
from neps_core.testing import toy_spaces
from neps_core_plugins import auto_optimizer

pytest_plugins = ["neps_core.testing.fixtures"]


def _chosen(root: Path) -> str:
    return str(read_yaml(root / "run_info.yaml")["optimizer"])


def test_picks_by_fidelity_priors_and_evaluator() -> None:
    sync = RunSettings(root_directory=Path("unused"))
    parallel = RunSettings(root_directory=Path("unused"), evaluator={"name": "process_pool"})
    expected = {
        "continuous": ("bayesian_optimization", "bayesian_optimization"),
        "mixed": ("bayesian_optimization", "bayesian_optimization"),
        "priors": ("pibo", "pibo"),
        "fidelity": ("hyperband", "asha"),
        "fidelity_priors": ("priorband", "priorband"),
    }
    for name, space in toy_spaces().items():
        chosen = tuple(
            auto_optimizer.neps_select_optimizer(
                space=space, settings=settings, multi_objective=False
            )
            for settings in (sync, parallel)
        )
        assert chosen == expected[name], name


@pytest.mark.parametrize("missing", ["scipy", "threadpoolctl"])
def test_without_the_bo_extra_spaces_without_fidelity_get_random_search(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # what `import` sees when it is missing
    assert not auto_optimizer.bo_extra_available()
    for name in ("bayesian_optimization", "pibo"):  # named, they say what is missing
        with pytest.raises(ImportError, match=r"needs the bo extra .*neps-core\[bo\]"):
            load_plugins().optimizers[name](toy_spaces()["continuous"])
    settings = RunSettings(root_directory=Path("unused"))
    for name in ("continuous", "mixed", "priors"):
        chosen = auto_optimizer.neps_select_optimizer(
            space=toy_spaces()[name], settings=settings, multi_objective=False
        )
        assert chosen == "random_search", name
    fidelity = auto_optimizer.neps_select_optimizer(
        space=toy_spaces()["fidelity"], settings=settings, multi_objective=False
    )
    assert fidelity == "hyperband"


def test_a_space_that_is_not_flat_gets_random_search() -> None:
    space = neps.PipelineSpace({"model": neps.Operation(str, args=(neps.Float(0.0, 1.0),))})
    settings = RunSettings(root_directory=Path("unused"))
    chosen = auto_optimizer.neps_select_optimizer(
        space=space, settings=settings, multi_objective=False
    )
    assert chosen == "random_search"


@pytest.mark.parametrize("objectives", [1, 2])
def test_a_fidelity_from_zero_gets_an_optimizer_that_runs_it(
    neps_run: Any, objectives: int
) -> None:
    # auto chose hyperband (mo_asha for several objectives), which refused the space.
    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(0, 9)}

    def evaluate(x: float, epochs: int) -> Any:
        return x if objectives == 1 else [x, 1 - x]

    summary = neps_run(evaluate_pipeline=evaluate, pipeline_space=space, evaluations_to_spend=3)
    assert summary.counts["success"] == 3


def test_several_objectives_get_mo_asha_with_a_fidelity_and_random_search_without() -> None:
    settings = RunSettings(root_directory=Path("unused"))
    expected = {"continuous": "random_search", "priors": "random_search", "fidelity": "mo_asha"}
    for name, optimizer in expected.items():
        chosen = auto_optimizer.neps_select_optimizer(
            space=toy_spaces()[name], settings=settings, multi_objective=True
        )
        assert chosen == optimizer, name


def _two_objectives(x: float, epochs: int = 9, **_: Any) -> dict[str, Any]:
    return {"objective_to_minimize": [x**2 + 1.0 / epochs, (1.0 - x) ** 2], "cost": epochs}


def test_auto_switches_when_results_have_several_objectives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    space = {"x": neps.Float(0.0, 1.0), "y": neps.Float(0.0, 1.0)}
    with caplog.at_level(logging.INFO, logger="neps_core.sampler"):
        summary = neps.run(
            _two_objectives, space, root_directory=tmp_path / "flat", evaluations_to_spend=8
        )
    assert summary.counts["success"] == 8 and summary.pareto_front
    assert "random_search replaces bayesian_optimization" in caplog.text


@pytest.mark.parametrize(
    ("optimizer", "space"),
    [
        ("bayesian_optimization", {"x": neps.Float(0.0, 1.0)}),
        ("hyperband", {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}),
    ],
)
def test_a_named_single_objective_optimizer_refuses_several_objectives(
    tmp_path: Path, optimizer: str, space: dict[str, Any]
) -> None:
    with pytest.raises(SettingsError, match=rf"'{optimizer}' minimizes a single.*trial 1.*mo_asha"):
        neps.run(
            _two_objectives,
            space,
            root_directory=tmp_path / optimizer,
            optimizer=optimizer,
            evaluations_to_spend=5,
        )


def test_auto_with_a_fidelity_and_several_objectives_promotes_by_pareto_rank(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    promotions: list[Path] = []

    def evaluate_pipeline(
        previous_pipeline_directory: Path | None, x: float, epochs: int
    ) -> dict[str, Any]:
        if previous_pipeline_directory is not None:
            promotions.append(previous_pipeline_directory)
        return _two_objectives(x, epochs)

    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}
    with caplog.at_level(logging.INFO, logger="neps_core.sampler"):
        summary = neps.run(
            evaluate_pipeline, space, root_directory=tmp_path / "mf", cost_to_spend=60
        )
    assert "mo_asha replaces hyperband" in caplog.text
    assert promotions and summary.pareto_front
    # Each trial names the optimizer that proposed it, and status shows the switch.
    proposers = [trial.optimizer for trial in read_run(tmp_path / "mf").history.values()]
    assert proposers[0] == "hyperband" and proposers[-1] == "mo_asha"
    status = status_data(tmp_path / "mf", failures=0)
    assert (status["optimizer"], status["started_with"]) == ("mo_asha", "hyperband")
    assert "optimizer mo_asha, started with hyperband" in format_status(status)
    # As NePS's, load_optimizer_info keeps the optimizer the run started with (docs say so).
    assert neps.load_optimizer_info(tmp_path / "mf")["name"] == "hyperband"


def test_auto_runs_pibo_on_a_space_with_priors(neps_run: Any, neps_root: Path) -> None:
    neps_run(pipeline_space=toy_spaces()["priors"], evaluations_to_spend=3)
    assert _chosen(neps_root) == "pibo"


def test_auto_runs_priorband_on_a_space_with_fidelity_and_priors(
    neps_run: Any, neps_root: Path
) -> None:
    neps_run(pipeline_space=toy_spaces()["fidelity_priors"], evaluations_to_spend=4)
    assert _chosen(neps_root) == "priorband"


def test_is_the_last_resort_of_the_hook(neps_plugins: Plugins) -> None:
    [builtin] = [
        impl
        for impl in neps_plugins.manager.hook.neps_select_optimizer.get_hookimpls()
        if impl.plugin is auto_optimizer
    ]
    assert builtin.trylast


def test_auto_is_the_default_and_records_the_choice(neps_run: Any, neps_root: Path) -> None:
    neps_run()  # optimizer not given
    assert _chosen(neps_root) == "bayesian_optimization"


def test_a_plugin_overrides_the_choice(neps_run: Any, neps_root: Path) -> None:
    class PreferGrid:
        @neps.hookimpl
        def neps_select_optimizer(self, space: Any, settings: Any) -> str:
            return "grid_search"

    neps_run(optimizer="auto", plugins=[PreferGrid()])
    assert _chosen(neps_root) == "grid_search"


def test_an_abstaining_plugin_leaves_the_choice_to_it(neps_run: Any, neps_root: Path) -> None:
    class Abstain:
        @neps.hookimpl
        def neps_select_optimizer(self, space: Any, settings: Any) -> None:
            return None

    neps_run(optimizer="auto", plugins=[Abstain()])
    assert _chosen(neps_root) == "bayesian_optimization"


def test_options_auto_passes_on_that_its_choice_lacks_say_so_in_the_message(
    neps_run: Any,
) -> None:
    # In str(error), not only a note: print(error) and log lines show the message alone.
    with pytest.raises(SettingsError) as raised:
        neps_run(optimizer={"name": "auto", "size": 3})
    message = str(raised.value)
    assert "unknown option(s) ['size']" in message
    assert "optimizer='auto' chose 'bayesian_optimization'" in message
