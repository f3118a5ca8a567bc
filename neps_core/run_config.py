"""YAML run configs: every ``run()`` argument in one file, validated with the key path in errors.

A run config holds ``run()``'s keyword arguments under their own names (NePS's declarative
form)::

    evaluate_pipeline: train.py:evaluate_pipeline   # or my_package.train:evaluate_pipeline
    pipeline_space:                                 # inline, or a YAML file path, or module:attr
      learning_rate: {lower: 1.0e-4, upper: 1.0e-1, log: true}
      epochs: {lower: 1, upper: 9, is_fidelity: true}
    root_directory: results
    evaluations_to_spend: 20
    optimizer: {name: random_search, use_priors: false}
    evaluator: {name: process_pool, n_workers: 2}

Relative paths (the ``evaluate_pipeline`` file, a space file, ``root_directory``) are taken
relative to the YAML file, so a config means the same whatever the current directory. Errors
are ``SettingsError`` starting with the file and the key path, e.g.
``run.yaml: evaluator.n_workers: must be at least 1, got 0``.
"""

from __future__ import annotations

import importlib
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs

from neps_core.components import refuse_other_projects_name, resolve_space, structure_settings
from neps_core.config import (
    ALIASES,
    DEPRECATED_ALIASES,
    REMOVED,
    RunSettings,
    canonical_name,
    component_spec,
)
from neps_core.config_files import apply_overrides, did_you_mean, read_config_file
from neps_core.errors import NepsCoreError, SettingsError
from neps_core.plugin_manager import Plugins, load_plugins
from neps_core.processes import Command
from neps_core.registry import Registry
from neps_core.space.description import locate_description_error, numeric_text

SETTINGS = tuple(field.name for field in attrs.fields(RunSettings))
_FLOAT_SETTINGS = {
    "cost_to_spend",
    "max_cost_per_run",
    "max_fidelities_per_run",
    "fidelities_to_spend",
    "objective_value_on_error",
    "cost_value_on_error",
    "heartbeat_interval",
    "stale_after",
}
_COMMAND_KEYS = ("command", "shell", "env", "cwd", "kill_grace")


def load_run_config(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``run()`` keyword arguments from the YAML run config at ``path``.

    ``overrides`` are ``key.path=value`` strings (values parsed as YAML) applied before
    validation, as the CLI's ``neps-core run run.yaml evaluations_to_spend=5`` does.

    Raises:
        FileNotFoundError: There is no file at ``path``.
        SettingsError: The file is not valid YAML or a setting is invalid; the message
            starts with ``<path>: <key path>:``.
    """
    path = Path(path)
    source = str(path)
    data = read_config_file(path)
    apply_overrides(data, overrides, source)
    return _Parser(source, path.resolve().parent).parse(data)


class _Parser:
    """Validates one config mapping; every error names ``source`` and the key path."""

    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def fail(self, where: str, message: str) -> NoReturn:
        raise SettingsError(f"{self.source}: {where}: {message}")

    def parse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        values = self._canonical(data)
        if "plugins" in values:
            values["plugins"] = self._plugins(values["plugins"])
        plugins = load_plugins(values.get("plugins", ()))
        for key, value in values.items():
            if value is not None:  # None, an empty key, is the setting's default
                values[key] = self._value(key, value, plugins)
        self._check_settings(values)
        return values

    def _canonical(self, data: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        known = [*SETTINGS, *DEPRECATED_ALIASES, *ALIASES]
        for key, value in data.items():
            name = canonical_name(str(key))
            if name in REMOVED:
                self.fail(str(key), f"not supported by neps_core: {REMOVED[name]}")
            if name not in SETTINGS:
                self.fail(str(key), f"unknown setting.{did_you_mean(str(key), known)}")
            if name in values:
                self.fail(str(key), f"{name} is given twice (also under another name)")
            if key in DEPRECATED_ALIASES:
                warnings.warn(
                    f"{self.source}: {key} is deprecated; use {name} instead",
                    DeprecationWarning,
                    stacklevel=4,
                )
            values[name] = value
        return values

    def _value(self, key: str, value: Any, plugins: Plugins) -> Any:
        components: dict[str, tuple[Registry[Any], tuple[str, ...]]] = {
            "optimizer": (plugins.optimizers, ("auto",)),
            "evaluator": (plugins.evaluators, ()),
            "storage": (plugins.storages, ()),
        }
        if key in components:
            registry, allow = components[key]
            return self._component(key, value, registry, allow)
        if key == "evaluate_pipeline":
            return self._evaluate_pipeline(value)
        if key == "pipeline_space":
            return self._space(value, plugins)
        if key == "root_directory":
            return self._path(key, value)
        if key in _FLOAT_SETTINGS and isinstance(value, str):
            return numeric_text(value)  # YAML 1.1 reads 1e3 as a string
        return value

    # -- values that name code ------------------------------------------------------------------
    def _evaluate_pipeline(self, value: Any) -> Any:
        key = "evaluate_pipeline"
        if isinstance(value, str):
            return self._callable(key, self.load(key, value))
        if not isinstance(value, Mapping):
            self.fail(
                key,
                f"expected 'module:function', 'file.py:function' or a mapping, "
                f"got {type(value).__name__}",
            )
        if "command" in value:
            return self._command(value)
        unknown = sorted(set(value) - {"path", "name"})
        if unknown:
            self.fail(f"{key}.{unknown[0]}", "unknown key; use 'path' and 'name', or 'command'")
        for part in ("path", "name"):
            if not isinstance(value.get(part), str):
                self.fail(f"{key}.{part}", "required (a string)")
        return self._callable(key, self.load(key, f"{value['path']}:{value['name']}"))

    def _command(self, value: Mapping[str, Any]) -> Command:
        unknown = sorted(set(value) - set(_COMMAND_KEYS))
        if unknown:
            self.fail(f"evaluate_pipeline.{unknown[0]}", f"unknown key; known: {_COMMAND_KEYS}")
        options = dict(value)
        if options.get("cwd") is not None:
            options["cwd"] = self._path("evaluate_pipeline.cwd", options["cwd"])
        try:
            return Command(options.pop("command"), **options)
        except TypeError as error:
            self.fail("evaluate_pipeline.command", str(error))

    def _callable(self, key: str, value: Any) -> Callable[..., Any]:
        if not callable(value):
            self.fail(key, f"{value!r} is not callable")
        function: Callable[..., Any] = value
        return function

    def load(self, key: str, target: str) -> Any:
        """The object named by ``module:attr`` or ``path/to/file.py:attr``."""
        location, separator, attribute = target.rpartition(":")
        location = location.removesuffix(":")  # NePS's templates write path/to/file.py::name
        if not separator or not location or not attribute:
            self.fail(key, f"expected 'module:name' or 'path/to/file.py:name', got {target!r}")
        owner: Any = self._module(key, location)
        for part in attribute.split("."):
            if not hasattr(owner, part):
                self.fail(key, f"{location!r} has no attribute {attribute!r}")
            owner = getattr(owner, part)
        return owner

    def _module(self, key: str, location: str) -> Any:
        if location.endswith(".py") or "/" in location or "\\" in location:
            return self._file_module(key, location)
        return self._import(key, location, repr(location))

    def _import(self, key: str, name: str, shown: str) -> Any:
        """Import module ``name``; any error the user's module raises names it and its line."""
        try:
            return importlib.import_module(name)
        except ImportError as error:
            self.fail(key, f"cannot import {shown}: {error}")
        except Exception as error:
            where = ""
            if not isinstance(error, SyntaxError):  # which names its file and line itself
                frame = traceback.extract_tb(error.__traceback__)[-1]
                where = f" ({frame.filename}, line {frame.lineno})"
            self.fail(key, f"importing {shown} raised {type(error).__name__}: {error}{where}")
        except SystemExit as error:  # a script's sys.exit() outside its main guard
            self.fail(key, f"importing {shown} called sys.exit({error.code!r})")

    def _file_module(self, key: str, location: str) -> Any:
        """Import a file as a module named by its stem, importable by child processes too."""
        path = self._path(key, location)
        if not path.is_file():
            self.fail(key, f"no such file {path}")
        name = path.stem
        if not name.isidentifier():
            self.fail(key, f"{path.name} is not an importable module name; rename the file")
        loaded = sys.modules.get(name)
        if loaded is None:
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            loaded = self._import(key, name, str(path))
        origin = getattr(loaded, "__file__", None)
        if origin is None or Path(origin).resolve() != path:
            self.fail(
                key,
                f"a different module named {name!r} is already imported "
                f"({origin or 'built in'}); rename {path.name}",
            )
        return loaded

    def _plugins(self, value: Any) -> tuple[object, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail("plugins", f"expected a list of 'module' or 'module:name', got {value!r}")
        for index, entry in enumerate(value):
            if not isinstance(entry, str):
                self.fail(f"plugins[{index}]", f"expected 'module' or 'module:name', got {entry!r}")
        return tuple(self.plugin(f"plugins[{index}]", entry) for index, entry in enumerate(value))

    def plugin(self, where: str, entry: str) -> object:
        """The plugin named ``module`` or ``module:name`` (a class is instantiated)."""
        plugin = self.load(where, entry) if ":" in entry else self._module(where, entry)
        return plugin() if isinstance(plugin, type) else plugin

    def _path(self, key: str, value: Any) -> Path:
        if not isinstance(value, str | Path):
            self.fail(key, f"expected a path, got {value!r}")
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base / path).resolve()

    # -- the space and the components ---------------------------------------------------------
    def _space(self, value: Any, plugins: Plugins) -> Any:
        key = "pipeline_space"
        if isinstance(value, str):
            if value.endswith((".yaml", ".yml")):
                value = self._path(key, value)
                if not value.is_file():
                    self.fail(key, f"no such file {value}")
            else:
                value = self.load(key, value)
        try:
            return resolve_space(value, plugins)
        except SettingsError as error:
            self.fail(key, str(error).removeprefix(f"{key}: "))
        except (ValueError, TypeError) as error:
            if isinstance(value, Mapping):
                where, message = locate_description_error(value, error)
                self.fail(f"{key}{where}", message)
            self.fail(key, str(error))

    def _component(
        self, key: str, value: Any, registry: Registry[Any], allow: tuple[str, ...] = ()
    ) -> Any:
        try:
            spec = component_spec(value, key)
        except SettingsError as error:
            self.fail(key, str(error).removeprefix(f"{key}: "))
        where = key if isinstance(value, str) else f"{key}.name"
        if not isinstance(spec.name, str):
            self.fail(where, f"expected a name, got {spec.name!r}")
        name = spec.name.split("://", 1)[0] if "://" in spec.name else spec.name
        if name in allow:
            return value
        try:
            refuse_other_projects_name(registry, name)
            cls = registry[name]
        except NepsCoreError as error:
            self.fail(where, str(error))
        settings_class = getattr(cls, "Settings", None)
        if settings_class is not None and attrs.has(settings_class):
            self._options(key, spec.options, settings_class, name)
        known = getattr(cls, "known_options", None)  # storages: names only, values at start
        if isinstance(known, frozenset):
            self._known(key, spec.options, sorted(known), name)
        return value

    def _known(self, key: str, options: Mapping[str, Any], known: list[str], name: str) -> None:
        for option in options:
            if option not in known:
                hint = did_you_mean(option, known)
                self.fail(f"{key}.{option}", f"unknown option of {key} {name!r}.{hint}")

    def _options(self, key: str, options: Mapping[str, Any], cls: type, name: str) -> None:
        fields = [field.name for field in attrs.fields(cls)]
        self._known(key, options, fields, name)
        try:
            structure_settings(cls, options, f"{key} {name!r}")
        except SettingsError as error:
            detail = str(error).split("invalid options: ", 1)[-1]
            problems = [_locate(key, problem, fields) for problem in detail.split("; ")]
            raise SettingsError(f"{self.source}: " + "; ".join(problems)) from error

    def _check_settings(self, values: Mapping[str, Any]) -> None:
        """Let RunSettings check budgets and numbers, then say which YAML key was wrong."""
        try:
            RunSettings.from_kwargs(**{"root_directory": "neps_results", **values})
        except SettingsError as error:
            raise with_key_path(error, self.source, set(values)) from None


def named_in_run(setting: str, value: Any) -> Any:
    """A ``run()`` argument naming objects as a run config does, resolved from the working
    directory: ``evaluate_pipeline="path/to/file.py:name"`` (or ``"module:name"``), and
    ``plugins=["module", "module:name", ...]``. Anything else is returned unchanged.
    """
    parser = _Parser("run()", Path.cwd())
    if setting == "evaluate_pipeline" and isinstance(value, str):
        return parser.load(setting, value)
    if setting == "plugins":
        entries = [value] if isinstance(value, str) else list(value)
        return tuple(
            parser.plugin(f"plugins[{index}]", entry) if isinstance(entry, str) else entry
            for index, entry in enumerate(entries)
        )
    return value


def with_key_path(error: SettingsError, source: str, keys: set[str]) -> SettingsError:
    """``error`` re-worded as ``<source>: <key>: ...`` when it is about one of ``keys``."""
    message = str(error)
    match = re.match(r"^(\w+)(?::\s*|\s+(?=must\b|is\b|needs\b))(.*)$", message, re.DOTALL)
    if match is not None and match.group(1) in keys:
        return SettingsError(f"{source}: {match.group(1)}: {match.group(2)}")
    key = next((k for k in keys if re.match(rf"^{re.escape(k)}\b", message)), None)
    return SettingsError(f"{source}: {key}: {message}" if key else f"{source}: {message}")


# -- run(..., run_config=...) -------------------------------------------------------------------
def settings_with_run_config(
    explicit: Mapping[str, Any], run_config: str | Path | None
) -> RunSettings:
    """``RunSettings`` from the arguments a caller gave explicitly, over the YAML's values.

    ``explicit`` holds only what the caller set (``run()`` leaves out arguments equal to
    their defaults), so YAML values fill everything else and explicit ones win. An error
    about a value that came from the YAML is re-raised with the file and key.
    """
    if run_config is None:
        return RunSettings.from_kwargs(**explicit)
    from_yaml = load_run_config(run_config)
    given = {canonical_name(key) for key in explicit}
    taken = {key for key in from_yaml if key not in given}
    merged = {**{key: from_yaml[key] for key in taken}, **explicit}
    try:
        return RunSettings.from_kwargs(**merged)
    except SettingsError as error:
        if any(re.match(rf"^{re.escape(key)}\b", str(error)) for key in taken):
            raise with_key_path(error, str(run_config), taken) from error
        raise


def _locate(key: str, problem: str, fields: list[str]) -> str:
    """``key.option: message`` for one problem the converter or a validator reported.

    The option is the one cattrs' path names (``... @ $.eta``), else the first one the
    message mentions.
    """
    path = re.search(r"\s*@ \$(?:\.(\w+))?\S*$", problem)
    message = problem[: path.start()] if path else problem
    field = path.group(1) if path else None
    if field is None:
        mentioned = [
            (found.start(), name)
            for name in fields
            if (found := re.search(rf"\b{re.escape(name)}\b", message))
        ]
        field = min(mentioned)[1] if mentioned else None
    if field is None:
        return f"{key}: {message}"
    return f"{key}.{field}: {message.removeprefix(f'{field} ').strip()}"
