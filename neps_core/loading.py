"""Reading a run back: ``load_config``, ``load_pipeline_space`` and ``load_optimizer_info``.

A trial's ``config.yaml`` is a view for people; the run's storage holds the record, which is
what is read in a run. A view is read only outside a run (or for a trial the record lacks, or
holds damaged), and a configuration found in neither place is an error, naming the file.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from neps_core.budget_file import BUDGET_FILE
from neps_core.components import resolve_space
from neps_core.config import run_directory
from neps_core.errors import ConfigIdMissingError, NepsCoreError, SettingsError
from neps_core.interfaces import Storage
from neps_core.models import Trial, TrialState, trial_id
from neps_core.plugin_manager import load_plugins
from neps_core.run_info import stored_space
from neps_core.run_storage import (
    STORAGE_POINTER_FILE,
    no_run,
    open_existing_run,
    refuse_an_interrupted_overwrite,
    runs_below,
)
from neps_core.serialization import describe_yaml_error, read_yaml, safe_repr, shortened
from neps_core.space import PipelineSpace
from neps_core.summary_files import BEST_CONFIG_FILE
from neps_core.trial_calls import built_for_the_user
from neps_core.user_paths import refuse_empty, user_path

#: Files of a run that hold something other than a configuration: a ``load_config`` of one
#: returned its contents as if they were one.
NOT_A_CONFIG = (
    "report.yaml",
    "metadata.yaml",
    "summary.yaml",
    "run_info.yaml",
    BUDGET_FILE,
    STORAGE_POINTER_FILE,
)


def open_existing(root_directory: str | Path) -> Storage:
    """The storage of the run in ``root_directory``; an error if there is no run there."""
    return open_existing_run(run_directory(root_directory), load_plugins())


def load_pipeline_space(root_directory: str | Path) -> PipelineSpace:
    """The space the run in ``root_directory`` was started with.

    A space whose operations cannot be imported (lambdas, functions defined inside functions)
    cannot be rebuilt from disk; the error says so, and the space itself must be passed.
    """
    with open_existing(root_directory) as storage:
        return _saved_space(storage, root_directory)


def _saved_space(storage: Storage, root_directory: str | Path) -> PipelineSpace:
    try:
        space = stored_space(storage)
    except ValueError as error:
        raise NepsCoreError(
            f"The space saved in {root_directory} cannot be rebuilt: {error}"
        ) from error
    if space is None:
        raise NepsCoreError(f"The run in {root_directory} has no saved space")
    return space


def load_optimizer_info(root_directory: str | Path) -> dict[str, Any]:
    """The optimizer the run in ``root_directory`` was started with: ``name`` and ``info``.

    NePS's shape: ``info`` holds the optimizer's options, every one of them, defaults
    included; ``optimizer=(info["name"], info["info"])`` starts another run the same way.
    An ``"auto"`` run that switched at its first result with several objectives names the
    optimizer it started with here; each trial's ``optimizer`` (and ``neps-core status``)
    names the one that proposed it.
    """
    with open_existing(root_directory) as storage:
        info = storage.load_info()
    if info is None:
        raise NepsCoreError(f"The run in {root_directory} has not been started")
    return {"name": info.optimizer, "info": dict(info.optimizer_settings)}


def load_config(
    path_or_root: str | Path,
    *id_and_space: Any,
    config_id: str | int | None = None,
    pipeline_space: Any = None,
) -> dict[str, Any]:
    """The configuration exactly as ``evaluate_pipeline`` received it (operations called).

    ``path_or_root`` is a ``config.yaml``, a trial folder, or a run's root together with
    ``config_id`` (with or without the ``config_`` prefix; NePS's own id of a trial told with
    ``tell_custom(config_id=...)`` names that trial, and NePS's multi-fidelity form
    ``1_rung_0`` otherwise is an error explaining the ids of a run). Without ``pipeline_space`` the
    space saved with the run is used; a ``config.yaml`` outside any run is returned as stored
    (without its underscore-prefixed entries). Inside a run, the configuration comes from
    the run's storage, whatever the trial folder's ``config.yaml`` (a view) says now; also of a
    ``corrupted`` trial whose damaged record kept a valid configuration, else from the view. A
    run's ``best_config.yaml`` gives the best trial's configuration; the run's other files
    (``report.yaml``, ``summary.yaml``, ...) are refused there, since they hold none.

    After the path, ``config_id`` and ``pipeline_space`` may be given positionally in either
    order, ours ``(path, config_id, pipeline_space)`` or NePS's ``(path, pipeline_space,
    config_id)``: a ``str`` or an integer (also NumPy's) is the id, anything else the space.

    Raises:
        ConfigIdMissingError: ``path_or_root`` is a run's root and no ``config_id`` was given
            (a ``ValueError``, as in NePS).
        TypeError: Two spaces, too many arguments, one given positionally and by keyword, or
            a positional one that is neither a config id nor a space.
    """
    config_id, given = _id_and_space(id_and_space, config_id, pipeline_space)
    space = _resolved(given, positional=given is not pipeline_space)  # else the keyword's
    refuse_empty(path_or_root, "path_or_root", "a config.yaml, a trial folder or a run's root")
    path = user_path(path_or_root, "path_or_root")
    if not (path / STORAGE_POINTER_FILE).is_file() and runs_below(path):
        raise FileNotFoundError(no_run(path))  # the root given to run(task_id=...)
    if config_id is not None:
        path = path / "configs" / f"config_{trial_id(config_id)}"
    elif (path / STORAGE_POINTER_FILE).is_file():
        raise ConfigIdMissingError(
            f"{path} is a run's root directory: pass config_id= to say which trial's "
            "configuration to load (the number in its configs/config_<id> folder)"
        )
    if config_id is not None or path.is_dir():  # the folder may be gone, not its record
        path = path / "config.yaml"
    elif path.name == BEST_CONFIG_FILE and (best := _best_config(path, space)):
        return best
    elif path.name in NOT_A_CONFIG and _written_by_a_run(path):
        raise NepsCoreError(
            f"{path} is not a configuration but a run's {path.name}: pass a trial's "
            f"config.yaml, its folder, or the run's root with config_id="
        )
    trial, saved, seed = _from_the_run(path.parent, with_space=space is None)
    space = saved if space is None else space
    if trial is not None and trial.state is TrialState.CORRUPTED:
        return _of_a_damaged_record(trial, path, space, seed)
    config = _read_config_file(path) if trial is None else trial.config
    return _as_received(config, path, space, trial, seed)


def _of_a_damaged_record(
    trial: Trial, path: Path, space: PipelineSpace | None, run_seed: int | None
) -> dict[str, Any]:
    """The configuration of a CORRUPTED trial: its record's where that survived the damage
    (only ``state`` may be broken; the view ``path`` may have been edited since), else the
    view, written when it was sampled (the stand-in's config is ``{}`` where unreadable).
    Only reading and validating decide which: an error of the build (an ``Operation``'s own
    ``ValueError``) is the build's, not a sign of damage."""
    unusable = ""
    if trial.config:
        try:
            _validate(trial.config, path, space)
        except ValueError as error:  # its cause, for ``error`` names the view's path
            unusable = f" (the configuration it kept is invalid too: {error.__cause__})"
        else:
            return _built(trial.config, space, trial, run_seed)
    try:
        config = _read_config_file(path)
        _validate(config, path, space)
    except (OSError, ValueError, NepsCoreError) as error:
        why = f" ({trial.report.error})" if trial.report and trial.report.error else ""
        raise NepsCoreError(
            f"trial {trial.id} has no configuration to load: its stored record is damaged{why}"
            f"{unusable}, and its view cannot stand in for it: {error}"
        ) from error
    return _built(config, space, trial, run_seed)


def _id_and_space(given: tuple[Any, ...], config_id: Any, pipeline_space: Any) -> tuple[Any, Any]:
    """``load_config``'s config id and space from its positional and keyword arguments.

    NePS's order, ``load_config(path, MySpace())``, took the space for an id and failed with
    "No configuration at .../configs/config_S(x=Float(...))". A first positional ``str`` or
    ``int`` starts ours; anything else is a space, so NePS's order. A first ``None`` is
    either's empty slot, so the second decides: ``load_config(path, None, 3)`` is NePS's.
    """
    if len(given) > 2:
        raise TypeError(
            f"load_config takes a path, a config id and a space, got {len(given) + 1} "
            "positional arguments"
        )
    first, second = (*given, None, None)[:2]
    neps_order = _is_config_id(second) if first is None else not _is_config_id(first)
    if not neps_order:
        positional = {"config_id": first, "pipeline_space": second}
    elif second is None or _is_config_id(second):  # NePS's (path, pipeline_space, config_id)
        positional = {"pipeline_space": first, "config_id": second}
    else:
        raise TypeError(
            "load_config got two spaces positionally, "
            f"{_short(first)} and {_short(second)}: pass one as pipeline_space= "
            "and the trial's id (a str or int) as config_id="
        )
    keywords = {"config_id": config_id, "pipeline_space": pipeline_space}
    for name, value in positional.items():
        if value is not None and keywords[name] is not None:
            raise TypeError(
                f"load_config got {name} twice, positionally ({_short(value)}) and as a "
                f"keyword ({_short(keywords[name])}); a str or int given positionally is the "
                "config id, anything else the space"
            )
    chosen = {name: keywords[name] if v is None else v for name, v in positional.items()}
    return chosen["config_id"], chosen["pipeline_space"]


def _is_config_id(value: Any) -> bool:
    """Whether a positional argument of ``load_config`` is a trial id, not a space: a ``str``
    or any integer but a bool (ids read from a pandas frame are ``np.int64``)."""
    return isinstance(value, str | numbers.Integral) and not isinstance(value, bool)


def _short(value: Any) -> str:
    return shortened(safe_repr(value), 60)


def _resolved(space: Any, *, positional: bool) -> PipelineSpace | None:
    """The space given to ``load_config``, checked first: ``load_config(root, 3.0)`` took
    3.0 for a space and asked for the ``config_id`` it was meant to be, naming no 3.0."""
    if space is None or isinstance(space, PipelineSpace):
        return space
    try:
        return resolve_space(space, load_plugins())
    except SettingsError as error:
        if not positional:
            raise
        raise TypeError(
            f"load_config got {_short(space)}, neither a config id (a str or int) nor a "
            f"space: {error}"
        ) from None


def _as_received(
    config: Mapping[str, Any],
    path: Path,
    space: PipelineSpace | None,
    trial: Trial | None = None,
    run_seed: int | None = None,
) -> dict[str, Any]:
    """``config`` (read from ``path``) resolved by ``space`` (the one given, else the
    run's), of ``trial`` built under the seed the run was started with (as its evaluation
    was, unless a worker joined with another ``seed`` evaluated it, under its own); as
    stored, without its underscore-prefixed entries, outside any run."""
    _validate(config, path, space)
    return _built(config, space, trial, run_seed)


def _built(
    config: Mapping[str, Any],
    space: PipelineSpace | None,
    trial: Trial | None,
    run_seed: int | None,
) -> dict[str, Any]:
    """``config``, validated already, as ``_as_received`` returns it."""
    if space is None:
        return {k: v for k, v in config.items() if not str(k).startswith("_")}
    if trial is None:  # a configuration outside a run: no trial, so no seed, to build it by
        return space.resolve(config)
    return built_for_the_user(space, config, trial.id, run_seed)


def _validate(config: Mapping[str, Any], path: Path, space: PipelineSpace | None) -> None:
    """Raise a ``ValueError`` naming ``path`` where ``space`` (if any) refuses ``config``."""
    if space is None:
        return
    try:
        space.validate_config(config)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def _written_by_a_run(path: Path) -> bool:
    """Whether ``path`` lies where a run writes its own files: its root or a trial folder
    (a user's file of the same name elsewhere may well be a configuration)."""
    folder = path.parent
    return (folder / STORAGE_POINTER_FILE).is_file() or (
        folder.name.startswith("config_")
        and (folder.parent.parent / STORAGE_POINTER_FILE).is_file()
    )


def _best_config(path: Path, space: PipelineSpace | None) -> dict[str, Any] | None:
    """The configuration a run's ``best_config.yaml`` holds: its trial's, in the run; as
    stored in a copy; ``None`` for a file of that name that is a configuration itself."""
    best = _read_config_file(path)
    if _written_by_a_run(path):
        if best.get("trial_id") is None:
            raise NepsCoreError(f"{path} names no best trial")
        return load_config(path.parent, best["trial_id"], space)
    if "trial_id" in best and isinstance(best.get("config"), Mapping):
        return _as_received(best["config"], path, space)
    return None


def _read_config_file(path: Path) -> Mapping[str, Any]:
    """The configuration in ``path``: outside a run, or a trial its record lacks."""
    if not path.is_file():
        raise FileNotFoundError(f"No configuration at {path}")
    try:
        config = read_yaml(path)
    except yaml.YAMLError as error:
        raise NepsCoreError(
            f"{path} is damaged: not valid YAML ({describe_yaml_error(error)})"
        ) from None
    if not isinstance(config, Mapping):
        raise NepsCoreError(f"{path} does not hold a configuration mapping")
    return config


def _from_the_run(
    folder: Path, *, with_space: bool
) -> tuple[Trial | None, PipelineSpace | None, int | None]:
    """The record of the trial whose folder is ``folder``, (``with_space``) the run's space
    and the run's seed, in one look at the run's storage; ``None`` for what is not there
    (outside a run, all three). In a run, ``config.yaml`` is a view, never read back: an
    edited copy must not pass for what ``evaluate_pipeline`` received, and a storage plugin
    need not write it.
    """
    root = folder.parent.parent  # <root>/configs/config_<id>
    if not folder.name.startswith("config_"):
        return None, None, None
    if not (root / STORAGE_POINTER_FILE).is_file():
        refuse_an_interrupted_overwrite(root)  # it may have moved storage.yaml aside; else
        return None, None, None  # open_existing refuses it
    with open_existing(root) as storage:
        trial = _named_trial(storage.sync(), trial_id(folder.name))
        space = _saved_space(storage, root) if with_space else None
        info = storage.load_info()
    if trial is None and not (folder / "config.yaml").is_file():
        _refuse_a_neps_rung_id(trial_id(folder.name), root)
    return trial, space, None if info is None else info.seed


#: NePS's id of a configuration at a rung of a multi-fidelity optimizer: ``1_rung_0``.
NEPS_RUNG_ID = re.compile(r"(\d+)_rung_(\d+)")


def _named_trial(trials: Mapping[str, Trial], name: str) -> Trial | None:
    """The trial with the id ``name``, else the one NePS's id ``name`` was told with
    (``tell_custom(config_id=...)`` keeps it in the metadata; it is told only once)."""
    if name in trials:
        return trials[name]
    told = (t for t in trials.values() if "config_id" in t.metadata)
    return next((t for t in told if trial_id(str(t.metadata["config_id"])) == name), None)


def _refuse_a_neps_rung_id(name: str, root: Path) -> None:
    """Raise ``FileNotFoundError`` explaining our ids if ``name`` is NePS's ``<n>_rung_<r>``:
    its configuration number and rung have no counterpart in a run of neps_core."""
    match = NEPS_RUNG_ID.fullmatch(name)
    if match is None:
        return
    number, rung = match.groups()
    raise FileNotFoundError(
        f"No trial {name!r} in {root}: that is NePS's id of configuration {number} at rung "
        f"{rung}, which neps_core does not use. Its trials are numbered 1, 2, 3, ... in the "
        "order they were sampled (folders configs/config_<n>); a promotion to a higher "
        "fidelity is a new trial whose previous_trial_id names the trial it continues. Find "
        "the id in neps.status(root).trials, in summary/full.csv (the fidelity's config.<name> "
        "and previous_trial_id columns) or with `neps-core status ROOT --best_configs`"
    )
