"""YAML run configs: every ``run()`` argument in one file, validated with the key path in errors.

A run config holds ``run()``'s keyword arguments under their names (NePS's declarative form)::

    evaluate_pipeline: train.py:evaluate_pipeline   # or my_package.train:evaluate_pipeline
    pipeline_space:                                 # inline, or a YAML file path, or module:attr
      learning_rate: {lower: 1.0e-4, upper: 1.0e-1, log: true}
      epochs: {lower: 1, upper: 9, is_fidelity: true}
    root_directory: results
    evaluations_to_spend: 20
    optimizer: {name: random_search, use_priors: false}
    evaluator: {name: process_pool, n_workers: 2}

Relative paths (the ``evaluate_pipeline`` file, a space file, ``root_directory``, a storage
URL) are taken from the YAML file's folder, so a config means the same from anywhere. Errors
are ``SettingsError``s starting with the file and the key path.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs
import cattrs

from neps_core.code_locations import FUNCTION_FORMS, CodeLocator, named_in_run
from neps_core.component_spec import component_spec, optimizer_spec
from neps_core.components import (
    option_advice,
    refuse_other_projects_name,
    resolve_space,
    structure_settings,
)
from neps_core.config import ALIASES, DEPRECATED_ALIASES, REMOVED, RunSettings, canonical_name
from neps_core.config_files import (
    apply_overrides,
    blame_overrides,
    did_you_mean,
    names_code,
    names_code_of,
    read_config_file,
)
from neps_core.errors import NepsCoreError, SettingsError, add_note
from neps_core.evaluation.processes import Command
from neps_core.neps_options import neps_option_names
from neps_core.plugin_manager import Plugins, load_plugins
from neps_core.registry import Registry
from neps_core.space.description import locate_description_error, numeric_text
from neps_core.storage_urls import storage_for_url
from neps_core.user_paths import refuse_empty, user_path
from neps_core.warning_origin import warn_at_caller

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


def load_run_config(
    path: str | Path, overrides: Sequence[str] = (), given: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``run()`` keyword arguments from the YAML run config at ``path``.

    ``overrides`` are ``key.path=value`` strings (values parsed as YAML) applied before
    validation, as the CLI's ``neps-core run run.yaml evaluations_to_spend=5`` does.
    Settings ``given`` to ``run()`` instead are left out, their code not loaded; plugins
    given there (loaded objects) may register the components the file names.

    Raises:
        FileNotFoundError: There is no file at ``path``.
        SettingsError: The file is not valid YAML or a setting is invalid; the message
            starts with ``<path>: <key path>:``.
    """
    refuse_empty(path, "run_config", "a YAML file", here=False)
    path = user_path(path, "run_config")
    source = str(path)
    data = read_config_file(path)
    apply_overrides(data, overrides, source)
    try:
        return _Parser(source, path.resolve().parent, overrides).parse(data, given or {})
    except SettingsError as error:
        raise blame_overrides(error, source, overrides) from error.__cause__


class _Parser:
    """Validates one config mapping; every error names ``source`` and the key path."""

    def __init__(self, source: str, base: Path, overrides: Sequence[str] = ()) -> None:
        self.source, self.overrides = source, overrides
        self._written: dict[str, str] = {}  # a setting's name -> its spelling in the file
        self.code = CodeLocator(source, base, self._written)

    def fail(self, where: str, message: str) -> NoReturn:
        """Raise naming the key path as the file spells it (NePS's ``searcher:``, say)."""
        self.code.fail(where, message)

    def parse(self, data: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        values = {k: v for k, v in self._canonical(data).items() if k not in given}
        if "plugins" in values:
            values["plugins"] = self._plugins(values["plugins"])
        plugins = load_plugins(values.get("plugins", given.get("plugins", ())))
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
                self.fail(str(key), _unknown(str(key), value, known))
            if name in values:
                self.fail(str(key), f"{name} is given twice (also under another name)")
            if key in DEPRECATED_ALIASES:
                warn_at_caller(
                    f"{self.source}: {key} is deprecated; use {name} instead",
                    DeprecationWarning,
                )
            values[name] = value
            self._written[name] = str(key)
        return values

    def _value(self, key: str, value: Any, plugins: Plugins) -> Any:
        components: dict[str, tuple[Registry[Any], tuple[str, ...]]] = {
            "optimizer": (plugins.optimizers, ("auto",)),
            "evaluator": (plugins.evaluators, ()),
            "storage": (plugins.storages, ()),
        }
        if key in components:
            registry, allow = components[key]
            checked = self._component(key, value, registry, plugins.converter, allow)
            return self._storage_from_here(checked, plugins) if key == "storage" else checked
        if key == "evaluate_pipeline":
            return self._evaluate_pipeline(value)
        if key == "pipeline_space":
            return self._space(value, plugins)
        if key == "root_directory":
            return self.code.path(key, value)
        if key in _FLOAT_SETTINGS and isinstance(value, str):
            return numeric_text(value)  # YAML 1.1 reads 1e3 as a string
        return value

    # -- values that name code ------------------------------------------------------------------
    def _evaluate_pipeline(self, value: Any) -> Any:
        key = "evaluate_pipeline"
        if isinstance(value, str):
            return self._callable(key, self.code.load(key, value))
        if not isinstance(value, Mapping):
            self.fail(key, f"expected {FUNCTION_FORMS}, got {type(value).__name__}")
        if "command" in value:
            return self._command(value)
        self.code.refuse_other_keys(key, value, ("path", "name"), "'path' and 'name', or 'command'")
        return self._callable(key, self._load_path_name(key, value))

    def _load_path_name(self, key: str, value: Mapping[str, Any]) -> Any:
        """The object NePS's ``{path: file.py, name: attribute}`` form names."""
        for part in ("path", "name"):
            if not isinstance(value.get(part), str):
                self.fail(f"{key}.{part}", "required (a string)")
        return self.code.load(key, f"{value['path']}:{value['name']}")

    def _command(self, value: Mapping[str, Any]) -> Command:
        unknown = sorted(set(value) - set(_COMMAND_KEYS))
        if unknown:
            self.fail(f"evaluate_pipeline.{unknown[0]}", f"unknown key; known: {_COMMAND_KEYS}")
        options = dict(value)
        # As every relative path here: from the YAML's folder, whatever the current directory.
        options["cwd"] = self.code.path("evaluate_pipeline.cwd", options.get("cwd") or ".")
        try:
            return Command(options.pop("command"), **options)
        except (TypeError, ValueError) as error:
            named = [key for key in _COMMAND_KEYS if str(error).startswith(f"Command {key} ")]
            self.fail(f"evaluate_pipeline.{(named or ['command'])[0]}", str(error))

    def _callable(self, key: str, value: Any) -> Callable[..., Any]:
        if not callable(value):
            self.fail(key, f"{value!r} is not callable")
        function: Callable[..., Any] = value
        return function

    def _plugins(self, value: Any) -> tuple[object, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail("plugins", f"expected a list of 'module' or 'module:name', got {value!r}")
        for index, entry in enumerate(value):
            if not isinstance(entry, str):
                self.fail(f"plugins[{index}]", f"expected 'module' or 'module:name', got {entry!r}")
        return tuple(self.code.plugin(f"plugins[{i}]", entry) for i, entry in enumerate(value))

    # -- the space and the components ---------------------------------------------------------
    def _space(self, value: Any, plugins: Plugins) -> Any:
        key = "pipeline_space"
        if isinstance(value, str):
            if value.endswith((".yaml", ".yml")):
                value = self.code.path(key, value)
                if not value.is_file():
                    self.fail(key, f"no such file {value}")
            else:
                value = self.code.load(key, value)
        elif names_code(value):
            value = self._load_path_name(key, value)
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
        self,
        key: str,
        value: Any,
        registry: Registry[Any],
        converter: cattrs.Converter,
        allow: tuple[str, ...] = (),
    ) -> Any:
        if names_code_of(key, value):  # an optimizer's .py file
            self.fail(
                f"{key}.path",
                f"an optimizer loaded from a file is not supported: {REMOVED['searcher_path']}",
            )
        try:
            spec = optimizer_spec(value) if key == "optimizer" else component_spec(value, key)
        except SettingsError as error:
            self.fail(key, str(error).removeprefix(f"{key}: "))
        where = key if isinstance(value, str) else f"{key}.name"
        if not isinstance(spec.name, str):
            self.fail(where, f"expected a name, got {spec.name!r}")
        name = spec.name
        if name in allow:  # "auto": its options are checked once it chose, when the run starts
            blamed = blame_overrides(
                SettingsError(f"{self.source}: {self.code.spelled(key)}"),
                self.source,
                self.overrides,
            )
            return attrs.evolve(spec, source=str(blamed)) if spec.options else value
        try:
            refuse_other_projects_name(registry, name)
            cls = storage_for_url(name, registry) if "://" in name else registry[name]
        except NepsCoreError as error:
            refused = SettingsError(f"{self.source}: {where}: {error}")
            for note in getattr(error, "__notes__", ()):  # a disabled or broken plugin, say
                add_note(refused, note)
            raise refused from None
        settings_class = getattr(cls, "Settings", None)
        if settings_class is not None and attrs.has(settings_class):
            self._options(key, spec.options, settings_class, name, converter)
        known = getattr(cls, "known_options", None)  # storages: names only, values at start
        if isinstance(known, frozenset):
            self._known(key, spec.options, sorted(known | {"url"}), name)
        return value

    def _storage_from_here(self, value: Any, plugins: Plugins) -> Any:
        """``value`` with a URL's relative path taken from the YAML's folder, not the cwd."""
        spec = component_spec(value, "storage")
        options, named = dict(spec.options), "://" not in spec.label  # else "sqlite:///run.db"
        url = options.pop("url", None) if named else spec.label
        if url is None:
            return value
        try:
            cls = plugins.storages[spec.label] if named else storage_for_url(url, plugins.storages)
            url = cls.canonical_url(url, self.code.base)
        except NepsCoreError as error:
            self.fail("storage", str(error))
        return {"name": spec.label, **options, "url": url} if named else {"name": url, **options}

    def _known(self, key: str, options: Mapping[str, Any], known: list[str], name: str) -> None:
        for option in options:
            if option not in known:
                hint = option_advice(option) or did_you_mean(option, known)
                self.fail(f"{key}.{option}", f"unknown option of {key} {name!r}.{hint}")

    def _options(
        self,
        key: str,
        options: Mapping[str, Any],
        cls: type,
        name: str,
        converter: cattrs.Converter,
    ) -> None:
        """Check ``options`` as the run will structure them (with the plugins' hooks)."""
        fields = [field.name for field in attrs.fields(cls)]
        known = [*fields, *getattr(cls, "option_aliases", {}), *neps_option_names(cls)]
        self._known(key, options, known, name)
        try:
            structure_settings(cls, options, f"{key} {name!r}", converter)
        except SettingsError as error:
            detail = str(error).split("invalid options: ", 1)[-1]
            written = self._written.get(key, key)
            problems = [_locate(written, problem, fields) for problem in detail.split("; ")]
            raise SettingsError(f"{self.source}: " + "; ".join(problems)) from error

    def _check_settings(self, values: Mapping[str, Any]) -> None:
        """Let RunSettings check budgets and numbers, then say which YAML key was wrong."""
        try:
            RunSettings.from_kwargs(**{"root_directory": "neps_results", **values})
        except SettingsError as error:
            raise with_key_path(error, self.source, set(values), self._written) from None


def with_key_path(
    error: SettingsError, source: str, keys: set[str], written: Mapping[str, str] | None = None
) -> SettingsError:
    """``error`` re-worded as ``<source>: <key>: ...`` when it is about one of ``keys``,
    the key spelled as ``written`` has it (the file's own spelling)."""
    written = written or {}
    message = str(error)
    match = re.match(r"^(\w+)(?::\s*|\s+(?=must\b|is\b|needs\b))(.*)$", message, re.DOTALL)
    if match is not None and match.group(1) in keys:
        key = match.group(1)
        return SettingsError(f"{source}: {written.get(key, key)}: {match.group(2)}")
    key = next((k for k in keys if re.match(rf"^{re.escape(k)}\b", message)), None)
    if key is None:
        return SettingsError(f"{source}: {message}")
    return SettingsError(f"{source}: {written.get(key, key)}: {message}")


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
    explicit = dict(explicit)
    if "plugins" in explicit:  # loaded once, for the file's components too
        explicit["plugins"] = named_in_run("plugins", explicit["plugins"])
    given = {canonical_name(key): value for key, value in explicit.items()}
    from_yaml = load_run_config(run_config, given=given)
    try:
        return RunSettings.from_kwargs(**from_yaml, **explicit)
    except SettingsError as error:
        if any(re.match(rf"^{re.escape(key)}\b", str(error)) for key in from_yaml):
            raise with_key_path(error, str(run_config), set(from_yaml)) from error
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


def _unknown(key: str, value: Any, known: list[str]) -> str:
    """Why ``key`` is refused: a mapping of settings is NePS's ``experiment:`` section, unless
    ``key`` is a typo of a setting (``pipline_space:`` holding a parameter ``optimizer``)."""
    section = isinstance(value, Mapping) and any(canonical_name(str(k)) in SETTINGS for k in value)
    if section and not difflib.get_close_matches(key, known, n=1, cutoff=0.6):
        return "a section of settings (NePS's form): put them at the top level"
    return f"unknown setting.{did_you_mean(key, known)}"
