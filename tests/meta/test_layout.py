"""Checks of the project's shape: plugins vs entry points, hook docs and tests, the public API."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import neps_core
from neps_core import hookspecs
from neps_core.plugin_manager import load_plugins

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the backport from the test extra
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"  # the attribute pluggy's HookspecMarker sets


def _entry_points() -> dict[str, str]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return dict(project["entry-points"][hookspecs.PROJECT_NAME])


def _plugin_modules() -> set[str]:
    plugins = ROOT / "plugins"
    modules = {p.stem for p in plugins.glob("*.py") if p.name != "__init__.py"}
    packages = {p.parent.name for p in plugins.glob("*/__init__.py")}
    return modules | packages


def _hookspecs() -> dict[str, object]:
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, SPEC_MARKER)
    }


def test_every_plugin_module_has_its_entry_point_and_vice_versa() -> None:
    targets = {value.partition(":")[0] for value in _entry_points().values()}
    modules = {f"neps_core_plugins.{module}" for module in _plugin_modules()}
    assert not modules - targets, f"plugins/ modules without an entry point: {modules - targets}"
    assert not targets - modules, f"entry points without a plugins/ module: {targets - modules}"


def test_entry_points_are_named_after_their_modules() -> None:
    for name, value in _entry_points().items():
        assert value == f"neps_core_plugins.{name}", (name, value)


def test_the_installed_metadata_matches_pyproject() -> None:
    """Catches an entry point added to pyproject.toml without reinstalling the project."""
    installed = {
        ep.name: ep.value
        for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME)
        if ep.dist is not None and ep.dist.name == "neps-core"
    }
    assert installed == _entry_points(), "run `pip install -e .` after editing entry points"


def test_every_package_is_listed_for_the_wheel() -> None:
    """pyproject.toml lists the packages by hand: one left out is missing from a wheel or a
    non-editable install while every test of an editable checkout still passes."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        listed = set(tomllib.load(handle)["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("neps_core", "neps_core"), ("plugins", "neps_core_plugins")):
        for init in (ROOT / top).rglob("__init__.py"):
            inside = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *inside)))
    assert found == listed


def test_both_packages_ship_their_type_marker_and_the_license_ships_too() -> None:
    """Users import from ``neps_core_plugins`` too (the TensorBoard logger): without its
    ``py.typed`` mypy skipped it as untyped. The license text must travel with the wheel."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        pyproject = tomllib.load(handle)
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    for package, folder in (("neps_core", "neps_core"), ("neps_core_plugins", "plugins")):
        assert "py.typed" in package_data[package]
        assert (ROOT / folder / "py.typed").is_file()
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()


def test_tests_plugins_mirrors_plugins() -> None:
    tests = ROOT / "tests" / "plugins"
    missing = sorted(
        f"tests/plugins/test_{module}.py"
        for module in _plugin_modules()
        if not (tests / f"test_{module}.py").is_file()
    )
    assert not missing, f"plugins without their test module: {missing}"


def test_every_builtin_runs_its_contract() -> None:
    """Each built-in optimizer, storage and evaluator is tested by its contract suite."""
    plugins = load_plugins()
    uncovered = []
    for registry, contract in (
        (plugins.optimizers, "OptimizerContract"),
        (plugins.storages, "StorageContract"),
        (plugins.evaluators, "EvaluatorContract"),
    ):
        for cls in registry.values():
            package, _, rest = cls.__module__.partition(".")
            if package != "neps_core_plugins":
                continue  # a third-party plugin, tested in its own distribution
            path = ROOT / "tests" / "plugins" / f"test_{rest.partition('.')[0]}.py"
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
            subclassed = re.search(rf"\(\w*{contract}\):", text) is not None
            if not (subclassed and re.search(rf"_class = {cls.__name__}\b", text)):
                uncovered.append(f"{cls.__name__} ({contract} in {path.relative_to(ROOT)})")
    assert not uncovered, f"built-ins without their contract test: {uncovered}"


def test_every_hookspec_is_documented() -> None:
    specs = _hookspecs()
    assert len(specs) >= 10
    for name, function in specs.items():
        assert name.startswith("neps_"), name
        doc = inspect.getdoc(function)
        assert doc is not None, f"hookspec {name} has no docstring"
        assert len(doc) >= 40, f"hookspec {name}: the docstring should say when it is called"


def test_every_hookspec_is_exercised_by_a_test() -> None:
    tests = ROOT / "tests"
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for path in tests.rglob("*.py")
        if "meta" not in path.relative_to(tests).parts
        and "fixtures" not in path.relative_to(tests).parts
    )
    untested = sorted(name for name in _hookspecs() if name not in sources)
    assert not untested, f"hookspecs no test mentions: {untested}"


#: What ``import neps_core`` defers to the first use of a name needing it (``neps.run``,
#: ``neps.Float``): every ``neps-core`` call, worker and test subprocess imports the package.
DEFERRED = (
    "torch",
    "pytest",
    "neps_core.testing",
    "neps_core_plugins",
    "numpy",
    "yaml",
    "cattrs",
    "filelock",
    "pluggy",
    "importlib.metadata",
    "matplotlib",
    "scipy",
    "neps_core.api",
    "neps_core.space",
    "neps_core.plugin_manager",
    "neps_core.plotting",
    "neps_core.inspection",
)


def _loaded_modules(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    code += "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return set(json.loads(output.splitlines()[-1]))


def test_importing_neps_core_stays_light() -> None:
    """No torch, no pytest, no plugins, no test helpers, nor what only some calls need."""
    loaded = _loaded_modules("import neps_core")
    for heavy in DEFERRED:
        assert not {m for m in loaded if m == heavy or m.startswith(heavy + ".")}, heavy


def test_the_command_line_help_stays_light() -> None:
    """``neps-core --help`` builds the parser only: no run is read, no plugin loaded."""
    loaded = _loaded_modules(
        "import contextlib, io\n"
        "from neps_core.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])"
    )
    for heavy in (*DEFERRED, "neps_core.cli.status", "neps_core.cli.clean"):
        assert not {m for m in loaded if m == heavy or m.startswith(heavy + ".")}, heavy


def test_the_status_command_reads_a_run_without_the_run_machinery(tmp_path: Path) -> None:
    """``neps-core status`` loads the plugins (a storage is one) but no evaluation loop, no
    plotting and no asyncio, which only the dask evaluator's own calls need."""
    root = tmp_path / "run"
    neps_core.run(
        lambda x: x,
        {"x": neps_core.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=1,
        optimizer="random_search",
        post_run_summary=False,
    )
    loaded = _loaded_modules(
        "import contextlib, io\n"
        "from neps_core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['status', {str(root)!r}]) == 0"
    )
    assert (
        "neps_core_plugins.sqlite_storage" in loaded or "neps_core_plugins.disk_storage" in loaded
    )
    for heavy in (
        "asyncio",
        "matplotlib",
        "neps_core.api",
        "neps_core.runtime",
        "neps_core.plotting",
    ):
        assert not {m for m in loaded if m == heavy or m.startswith(heavy + ".")}, heavy


def test_the_lazy_names_are_the_ones_type_checkers_see() -> None:
    """``neps_core/__init__.py`` imports its names for type checkers only; at run time
    ``_HOMES`` says where each lives. The two lists must agree, name by name."""
    tree = ast.parse((ROOT / "neps_core" / "__init__.py").read_text())
    checked = next(node for node in tree.body if isinstance(node, ast.If))
    imported = {
        alias.name: node.module
        for node in checked.body
        if isinstance(node, ast.ImportFrom) and node.module != "neps_core"
        for alias in node.names
    }
    lazy = {name: home for name, home in neps_core._HOME_OF.items() if name != "Resample"}
    assert imported == lazy


def test_a_run_needs_no_posix_only_module() -> None:
    """On Windows ``resource`` and ``fcntl`` do not exist: ``import neps_core`` failed on
    ``resource`` (profiling), so the fallbacks written for them could never run."""
    code = textwrap.dedent(
        """
        import sys, tempfile
        sys.modules.update(resource=None, fcntl=None)  # an import of either now fails
        import neps_core as neps

        @neps.profile
        def evaluate_pipeline(x):
            return x

        with tempfile.TemporaryDirectory() as root:
            summary = neps.run(evaluate_pipeline, {"x": neps.Float(0.0, 1.0)},
                               root_directory=root, evaluations_to_spend=2)
            print(summary.counts["success"], neps.status(root).trials[0].metadata["max_rss_mb"])
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    count, peak = result.stdout.split()
    assert count == "2"
    # Linux's /proc/self/status needs no module and still answers; elsewhere the peak is None.
    assert (peak != "None") == Path("/proc/self/status").exists()


def test_the_public_api_is_declared_and_complete() -> None:
    exported = neps_core.__all__
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    missing = [name for name in exported if not hasattr(neps_core, name)]
    assert not missing, f"__all__ names what neps_core does not have: {missing}"
    for name in ("run", "save_pipeline_results", "load_config", "status", "PipelineSpace"):
        assert name in exported
    public = {
        name
        for name, value in vars(neps_core).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public <= set(exported), f"public but not in __all__: {sorted(public - set(exported))}"
    # The API reference renders every error class, and the docs catch them as neps.<Name>.
    errors = {
        name
        for name, value in vars(neps_core.errors).items()
        if inspect.isclass(value) and issubclass(value, neps_core.errors.NepsCoreError)
    }
    assert errors <= set(exported), f"errors not in neps_core: {sorted(errors - set(exported))}"


def test_the_plugin_testing_kit_is_importable() -> None:
    from neps_core import testing

    for name in testing.__all__:
        assert hasattr(testing, name), name
    assert {"OptimizerContract", "StorageContract"} <= set(testing.__all__)
