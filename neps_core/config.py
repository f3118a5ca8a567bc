"""Run settings: every ``run()`` argument validated in one place, legacy spellings mapped.

Errors are ``SettingsError`` (a ``ValueError``) naming the setting;
when settings come from a YAML file the caller prefixes the file and key path.
"""

from __future__ import annotations

import difflib
import math
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from neps_core.code_locations import named_in_run, named_plugins
from neps_core.component_spec import ComponentSpec, component_spec, optimizer_spec
from neps_core.errors import SettingsError
from neps_core.optimizer_choice import ConfiguredOptimizer, called_with_the_space, space_of_the_run
from neps_core.user_paths import refuse_empty, user_path
from neps_core.validators import is_finite_number, is_number, plain_number
from neps_core.warning_origin import warn_at_caller

#: Old names of seed 001 (deprecated, with a warning) and NePS 0.17 spellings (aliases).
DEPRECATED_ALIASES = {
    "run_pipeline": "evaluate_pipeline",
    "searcher": "optimizer",
    "max_evaluations_total": "evaluations_to_spend",
    "max_cost_total": "cost_to_spend",
    "budget": "cost_to_spend",
    "root_dir": "root_directory",
    "working_directory": "root_directory",
    "overwrite_working_directory": "overwrite_root_directory",
    "loss_value_on_error": "objective_value_on_error",
}
#: Seconds without a heartbeat after which a worker counts as dead.
DEFAULT_STALE_AFTER = 120.0
DEFAULT_HEARTBEAT_INTERVAL = 10.0

#: Settings of NePS (some only of older versions) with no counterpart, and what to do instead.
REMOVED = {
    "pre_load_hooks": "observe trials with a plugin's neps_trial_sampled hook instead",
    "development_stage_id": "give each stage its own root_directory instead",
    "task_id": "give each task its own root_directory instead",
    "searcher_path": "register the optimizer as a plugin and pass its name as optimizer=",
    "warmstart_configs": "record the finished configurations with neps.import_trials(...) "
    "before run() instead",
}
ALIASES = {
    "total_evaluations_to_spend": "evaluations_to_spend",
    "total_cost_to_spend": "cost_to_spend",
    "worker_evaluations_to_spend": "max_evaluations_per_run",
    "worker_cost_to_spend": "max_cost_per_run",
    "worker_fidelities_to_spend": "max_fidelities_per_run",
    "write_summary_to_disk": "post_run_summary",  # NePS's newer name
}


Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _optional(check: Callable[[str, Any], None]) -> Validator:
    def validator(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(attribute.name, value)

    return validator


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"{name} must be a positive integer, got {value!r}")


def _positive_number(name: str, value: Any) -> None:
    if not is_finite_number(value) or value <= 0:
        raise SettingsError(f"{name} must be a positive number, got {value!r}")


def _cost(name: str, value: Any) -> None:
    if not is_finite_number(value) or value < 0:
        raise SettingsError(f"{name} must be a finite number >= 0, got {value!r}")


def _bool(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    # A string such as "false" is truthy: taken as a bool it would, say, erase a run.
    if not isinstance(value, bool):
        raise SettingsError(f"{attribute.name} must be true or false, got {value!r}")


def _seed(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(f"{name} must be an integer >= 0, got {value!r}")


def _number(name: str, value: Any) -> None:
    infinite = value in (math.inf, -math.inf)
    if not is_number(value) or not (infinite or is_finite_number(value)):
        raise SettingsError(f"{name} must be a number, got {value!r}")


def _evaluator_spec(value: Any) -> ComponentSpec:
    return component_spec(value, "evaluator")


def _storage_spec(value: Any) -> ComponentSpec | None:
    return None if value is None else component_spec(value, "storage")


def _named_evaluate_pipeline(value: Any) -> Any:
    return named_in_run("evaluate_pipeline", value)


def _worker_id(value: Any) -> str:
    """A name (a rank number too): a list or ``None`` stored as text would name no worker."""
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise SettingsError(f"worker_id must be a non-empty string, got {value!r}")
    return str(value)


def run_directory(value: Any) -> Path:
    """``root_directory`` as an absolute path: refused, named, when it is not one, is a file or
    leads through one.

    Absolute, so that an ``evaluate_pipeline`` changing the working directory (into its
    ``pipeline_directory``, say) does not send later trials' files somewhere else. A leading
    ``~`` is the home directory, as in a shell (``$VARIABLES`` are left as written). An empty
    one is refused: a variable left unset, more likely than the current directory meant.
    """
    refuse_empty(value, "root_directory", "a directory")
    path = user_path(value, "root_directory").absolute()
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        how = (
            "is a file, not a directory"
            if existing == path
            else f"leads through the file {existing}"
        )
        raise SettingsError(f"root_directory: {path} {how}")
    return path


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@attrs.frozen(kw_only=True)
class RunSettings:
    """Everything one ``run()`` call was asked to do (NePS's argument names)."""

    evaluate_pipeline: Callable[..., Any] | None = attrs.field(
        default=None, converter=_named_evaluate_pipeline
    )
    pipeline_space: Any = None
    root_directory: Path = attrs.field(default=Path("neps_results"), converter=run_directory)
    overwrite_root_directory: bool = attrs.field(default=False, validator=_bool)
    evaluations_to_spend: int | None = attrs.field(
        converter=plain_number, default=None, validator=_optional(_positive_int)
    )
    max_evaluations_per_run: int | None = attrs.field(
        converter=plain_number, default=None, validator=_optional(_positive_int)
    )
    continue_until_max_evaluation_completed: bool = attrs.field(default=False, validator=_bool)
    cost_to_spend: float | None = attrs.field(
        converter=plain_number, default=None, validator=_optional(_positive_number)
    )
    max_cost_per_run: float | None = attrs.field(
        converter=plain_number, default=None, validator=_optional(_positive_number)
    )
    fidelities_to_spend: float | None = attrs.field(
        converter=plain_number, default=None, validator=_optional(_positive_number)
    )
    max_fidelities_per_run: float | None = attrs.field(
        converter=plain_number, default=None, validator=_optional(_positive_number)
    )
    ignore_errors: bool = attrs.field(default=False, validator=_bool)
    objective_value_on_error: float | None = attrs.field(
        converter=plain_number, default=None, validator=_optional(_number)
    )
    cost_value_on_error: float | None = attrs.field(
        converter=plain_number, default=None, validator=_optional(_cost)
    )
    sample_batch_size: int = attrs.field(
        converter=plain_number, default=1, validator=_optional(_positive_int)
    )
    worker_id: str = attrs.field(factory=_default_worker_id, converter=_worker_id)
    optimizer: ComponentSpec = attrs.field(default=ComponentSpec("auto"), converter=optimizer_spec)
    storage: ComponentSpec | None = attrs.field(default=None, converter=_storage_spec)
    evaluator: ComponentSpec = attrs.field(default=ComponentSpec("sync"), converter=_evaluator_spec)
    plugins: tuple[object, ...] = attrs.field(default=(), converter=named_plugins)
    seed: int | None = attrs.field(converter=plain_number, default=None, validator=_optional(_seed))
    post_run_summary: bool = attrs.field(default=True, validator=_bool)
    heartbeat_interval: float = attrs.field(
        converter=plain_number,
        default=DEFAULT_HEARTBEAT_INTERVAL,
        validator=_optional(_positive_number),
    )
    stale_after: float = attrs.field(
        converter=plain_number, default=DEFAULT_STALE_AFTER, validator=_optional(_positive_number)
    )
    max_trial_attempts: int = attrs.field(
        converter=plain_number, default=3, validator=_optional(_positive_int)
    )

    def __attrs_post_init__(self) -> None:
        if self.stale_after <= self.heartbeat_interval:
            raise SettingsError(
                f"stale_after ({self.stale_after} s) must be longer than heartbeat_interval "
                f"({self.heartbeat_interval} s), or live workers would be taken for dead"
            )

    @property
    def cost_budget(self) -> str | None:
        """The cost budget set (its name), under which every success must report a cost:
        without costs, even a per-call limit is never reached and the call samples forever."""
        if self.cost_to_spend is not None:
            return "cost_to_spend"
        return None if self.max_cost_per_run is None else "max_cost_per_run"

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> RunSettings:
        """Settings from ``run()``'s keyword arguments, legacy and alias names included."""
        settings, spelled = _apply_aliases(_with_stage_directories(kwargs))
        if spelled.get("objective_value_on_error") == "loss_value_on_error":
            # The run_pipeline-era meaning: a value for failures is given, so they do not stop
            # the run (the new name does not imply it).
            settings.setdefault("ignore_errors", True)
        fields = attrs.fields(cls)
        for field in fields:  # None means the default (an empty key in a YAML file, say)
            if field.default is not None and settings.get(field.name, ...) is None:
                del settings[field.name]
        known = {field.name for field in fields}
        unknown = sorted(set(settings) - known)
        if unknown and "searcher" in kwargs:
            settings = _searcher_options(settings, unknown, known)
        elif unknown:
            message = _unknown_settings_message(unknown, known)
            raise SettingsError(message + _optimizer_options_hint(unknown, known, settings))
        optimizer = settings["optimizer"] = called_with_the_space(  # NePS's partial or lambda
            settings.get("optimizer", "auto"), settings.get("pipeline_space"), optimizer_spec
        )
        if isinstance(optimizer, ConfiguredOptimizer):  # neps.algorithms.X(space)
            settings["pipeline_space"] = space_of_the_run(optimizer, settings.get("pipeline_space"))
        try:
            return cls(**settings)
        except (TypeError, ValueError) as error:
            message = str(error)
            for name, written in spelled.items():  # name the setting as the user wrote it
                if message.startswith(name):
                    message = written + message[len(name) :]
            raise SettingsError(message) from error


#: Seed 001's run() arguments that name a subfolder of the root, and the folder's prefix.
STAGE_DIRECTORIES = {"task_id": "task_", "development_stage_id": "dev_"}


def stage_directories_below(root: Path, marker: str) -> list[Path]:
    """The folders below ``root`` that ``task_id`` and ``development_stage_id`` put a run in
    (those holding ``marker``): ``root`` itself, given where the run was started, holds none."""
    task, dev = (f"{prefix}*" for prefix in STAGE_DIRECTORIES.values())
    found = (root.glob(f"{pattern}/{marker}") for pattern in (task, dev, f"{task}/{dev}"))
    return sorted(path.parent for paths in found for path in paths)


def _with_stage_directories(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Seed 001's ``task_id`` and ``development_stage_id``: the root's subfolders, as in NePS.

    ``root/task_<task_id>/dev_<development_stage_id>`` is where NePS kept such a run, so a
    continued NePS script finds its trials there.
    """
    settings = {key: value for key, value in kwargs.items() if key not in STAGE_DIRECTORIES}
    stages = [key for key in STAGE_DIRECTORIES if kwargs.get(key) is not None]
    if not stages:
        return settings
    given = [key for key in ("root_directory", *DEPRECATED_ALIASES) if key in settings]
    root_key = next((key for key in given if canonical_name(key) == "root_directory"), None)
    root = Path(settings.get(root_key or "root_directory", "neps_results"))
    for key in stages:
        root /= f"{STAGE_DIRECTORIES[key]}{kwargs[key]}"
    settings[root_key or "root_directory"] = root
    warn_at_caller(
        f"run({', '.join(f'{key}=...' for key in stages)}) is deprecated; use "
        f"root_directory={str(root)!r} instead.",
        DeprecationWarning,
    )
    return settings


#: How close a searcher option must be to a run setting's name to be taken for its misspelling;
#: stricter than difflib's default, which would take optimizer options (``sample_size``) too.
_MISSPELLED_SETTING = 0.85


def _searcher_options(
    settings: dict[str, Any], options: list[str], known: set[str]
) -> dict[str, Any]:
    """Seed 001's ``run(searcher="name", option=...)``: unknown settings are the optimizer's,
    except NePS's removed settings and misspelled run settings, refused as without searcher=."""
    refused = [
        key for key in options if key in REMOVED or _close_setting(key, known, _MISSPELLED_SETTING)
    ]
    if refused:
        raise SettingsError(_unknown_settings_message(refused, known))
    spec = component_spec(settings["optimizer"], "searcher")
    given = {key: settings.pop(key) for key in options}
    warn_at_caller(
        f"run(searcher=..., {', '.join(f'{key}=...' for key in options)}) is deprecated; use "
        f"optimizer=({spec.label!r}, {{{', '.join(f'{key!r}: ...' for key in options)}}}) "
        "instead.",
        DeprecationWarning,
    )
    settings["optimizer"] = ComponentSpec(spec.name, {**spec.options, **given})
    return settings


def _optimizer_options_hint(
    unknown: list[str], known: set[str], settings: Mapping[str, Any]
) -> str:
    """Where options of a named optimizer go: ``run(optimizer="hyperband", eta=2)`` reads as
    NePS's older ``searcher="hyperband", eta=2``, which this refuses without ``searcher=``."""
    optimizer = settings.get("optimizer")
    options = [key for key in unknown if key not in REMOVED and not _close_setting(key, known)]
    if not isinstance(optimizer, str) or not options:
        return ""
    spelled = ", ".join(f"{key!r}: ..." for key in options)
    return (
        ". If they are options of the optimizer, give them with it: "
        f"optimizer=({optimizer!r}, {{{spelled}}})"
    )


def _unknown_settings_message(unknown: list[str], known: set[str]) -> str:
    """Why each unknown setting was refused: removed, misspelled, or unknown."""
    reasons = []
    for key in unknown:
        if key in REMOVED:
            reasons.append(f"{key} is not supported by neps_core: {REMOVED[key]}")
            continue
        close = _close_setting(key, known)
        now = f", today {canonical_name(close)}" if close in DEPRECATED_ALIASES else ""
        hint = f" (did you mean {close}{now}?)" if close else ""
        reasons.append(f"{key}{hint}")
    return f"Unknown run setting(s): {'; '.join(reasons)}. Known: {sorted(known)}"


def _close_setting(key: str, known: set[str], cutoff: float = 0.6) -> str | None:
    """The setting name, current or old, that ``key`` most likely misspells."""
    close = difflib.get_close_matches(key, [*known, *DEPRECATED_ALIASES, *ALIASES], 1, cutoff)
    return close[0] if close else None


def canonical_name(key: str) -> str:
    """The current name of a setting given under a legacy or alias name."""
    return DEPRECATED_ALIASES.get(key) or ALIASES.get(key) or key


def _apply_aliases(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings under their current names, and the old spelling of each renamed one."""
    settings: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in kwargs.items():
        new = DEPRECATED_ALIASES.get(key) or ALIASES.get(key)
        if new is None:
            if value is not None or key not in settings:
                settings[key] = value
            continue
        if key in DEPRECATED_ALIASES:
            warn_at_caller(
                f"run({key}=...) is deprecated; use {new}= instead.",
                DeprecationWarning,
            )
        if value is None:
            continue
        if kwargs.get(new) is not None and kwargs[new] != value:
            raise SettingsError(f"Both {key}= and {new}= were given; use only {new}=")
        settings[new] = value
        spelled[new] = key
    return settings, spelled
