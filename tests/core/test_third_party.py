"""A third party adds an optimizer with ``pip install``: found by entry point, run end to end.

The distributions under tests/fixtures/ are pip-installed as a user would install a plugin, but
into a folder of their own put on this process's ``sys.path`` (entry points are found there as
in site-packages): other test processes (``pytest -n``) sharing the environment never see them.
The example optimizer stays on the path for the session; the broken and the clashing plugin
leave it right after their test, so other tests' runs never see them.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import neps_core as neps
from neps_core.errors import DuplicatePluginError, PluginLoadError
from neps_core.plugin_manager import PluginLoadWarning, load_plugins
from neps_core.serialization import read_yaml
from neps_core.space import PipelineSpace
from neps_core.testing import OptimizerContract, toy_evaluate_pipeline, toy_spaces

pytest_plugins = ["neps_core.testing.fixtures"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLE = "neps-core-example-optimizer"
BROKEN = "neps-core-broken-plugin"
CLASHING = "neps-core-clashing-plugin"


def _pip(*arguments: str) -> None:
    command = [sys.executable, "-m", "pip", *arguments, "-q", "--disable-pip-version-check"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"


@contextlib.contextmanager
def _installed(name: str, workdir: Path) -> Iterator[None]:
    """``name`` installed (from a copy, so no build files land in the repository) into a
    folder that is on ``sys.path`` inside: found as an installed distribution there only."""
    source, site = workdir / name, workdir / "site"
    shutil.copytree(FIXTURES / name.replace("-", "_"), source)
    _pip("install", "--no-deps", "--no-build-isolation", "--target", str(site), str(source))
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        try:
            yield
        finally:
            sys.modules.pop(name.replace("-", "_"), None)


@pytest.fixture(scope="session")
def example_optimizer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type]:
    """The example optimizer class, installed with pip and loaded through its entry point."""
    with _installed(EXAMPLE, tmp_path_factory.mktemp("example")):
        [entry_point] = [
            ep
            for ep in importlib.metadata.entry_points(group="neps_core")
            if ep.dist is not None and ep.dist.name == EXAMPLE
        ]
        yield entry_point.load().LocalSearch


@pytest.fixture
def broken_plugin(tmp_path: Path) -> Iterator[None]:
    """The broken distribution, installed for one test only."""
    with _installed(BROKEN, tmp_path):
        yield


@pytest.fixture
def clashing_plugin(tmp_path: Path) -> Iterator[None]:
    """The distribution whose names clash with others', installed for one test only."""
    with _installed(CLASHING, tmp_path):
        yield


class TestExampleOptimizerContract(OptimizerContract):
    """The installed third-party optimizer passes the contract the built-ins pass.

    The class only exists once the session fixture installed it, after collection; so the
    spaces are given explicitly: all toy spaces, since it supports fidelities and needs no
    priors.
    """

    spaces: ClassVar[dict[str, PipelineSpace]] = toy_spaces()

    @pytest.fixture(autouse=True)
    def _installed_class(self, example_optimizer: type, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(type(self), "optimizer_class", example_optimizer)


def test_the_entry_point_registers_the_optimizer(example_optimizer: type) -> None:
    plugins = load_plugins()
    assert plugins.optimizers["example_local_search"] is example_optimizer
    assert plugins.optimizers.origin("example_local_search") == (
        f"distribution {EXAMPLE!r} (entry point 'example_optimizer')"
    )


def test_a_run_selects_it_by_name(example_optimizer: type, tmp_path: Path) -> None:
    summary = neps.run(
        toy_evaluate_pipeline,
        {"x": neps.Float(-3.0, 3.0), "act": neps.Categorical(choices=("relu", "tanh"))},
        root_directory=tmp_path,
        evaluations_to_spend=12,
        optimizer=("example_local_search", {"explore": 0.2}),
        seed=3,
    )
    assert summary.counts["success"] == 12
    info = read_yaml(tmp_path / "run_info.yaml")
    assert info["optimizer"] == "example_local_search"
    assert info["optimizer_settings"] == {"explore": 0.2}


def test_its_errors_name_its_distribution(
    example_optimizer: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_ask(self: Any, trials: Any, budget: Any, n: int) -> Any:
        raise ZeroDivisionError("a bug in the plugin")

    monkeypatch.setattr(example_optimizer, "ask", broken_ask)
    with pytest.raises(ZeroDivisionError) as caught:
        neps.run(
            toy_evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path,
            evaluations_to_spend=2,
            optimizer="example_local_search",
        )
    notes = " ".join(getattr(caught.value, "__notes__", []))
    assert f"distribution {EXAMPLE!r}" in notes
    assert "optimizer 'example_local_search'" in notes


@pytest.mark.slow
def test_a_broken_distribution_warns_and_breaks_only_runs_that_select_it(
    broken_plugin: None, tmp_path: Path
) -> None:
    with pytest.warns(PluginLoadWarning) as warned:
        summary = neps.run(
            toy_evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path / "ok",
            evaluations_to_spend=2,
            optimizer="random_search",
        )
    assert summary.counts["success"] == 2
    message = " ".join(str(w.message) for w in warned)
    for part in ("'broken_plugin'", "'neps_core_broken_plugin'", f"{BROKEN!r}", "ImportError"):
        assert part in message
    with pytest.warns(PluginLoadWarning), pytest.raises(PluginLoadError) as caught:
        neps.run(
            toy_evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path / "selected",
            evaluations_to_spend=2,
            optimizer="broken_plugin",
        )
    assert caught.value.distribution == BROKEN
    assert caught.value.module == "neps_core_broken_plugin"


@pytest.mark.slow
def test_clashing_names_break_only_runs_that_select_them(
    example_optimizer: type, clashing_plugin: None, tmp_path: Path
) -> None:
    space = {"x": neps.Float(0.0, 1.0)}
    with pytest.warns(PluginLoadWarning) as warned:  # the same entry point name: both load
        summary = neps.run(
            toy_evaluate_pipeline,
            space,
            root_directory=tmp_path / "ok",
            evaluations_to_spend=2,
            optimizer="example_local_search",
        )
    assert summary.counts["success"] == 2
    message = " ".join(str(w.message) for w in warned)
    assert "entry point 'example_optimizer' exists in two distributions" in message
    assert EXAMPLE in message
    assert "optimizer name 'random_search' is registered twice" in message
    with pytest.warns(PluginLoadWarning), pytest.raises(DuplicatePluginError) as caught:
        neps.run(
            toy_evaluate_pipeline,
            space,
            root_directory=tmp_path / "selected",
            evaluations_to_spend=2,
            optimizer="random_search",
        )
    for part in (f"{CLASHING!r} (entry point 'example_optimizer')", "OtherRandomSearch"):
        assert part in str(caught.value)
    assert "distribution 'neps-core' (entry point 'random_search')" in str(caught.value)
    listing = subprocess.run(
        [sys.executable, "-m", "neps_core.cli", "plugins"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},  # sees what this one does
    )
    assert listing.returncode == 0, listing.stderr  # the diagnosis tool works and shows it
    assert "conflicts (names claimed twice" in listing.stdout
    assert f"example_optimizer  ({CLASHING}; neps_core_clashing_plugin)" in listing.stdout
    assert f"example_optimizer  ({EXAMPLE}; neps_core_example_optimizer)" in listing.stdout
    # The built-in still answers to its alias, and the listing says so (it dropped it).
    assert "    optimizer: random_search (alias neps_random_search)" in listing.stdout
    assert listing.stdout.count("(alias neps_random_search)") == 1  # not the clashing class
