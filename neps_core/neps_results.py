"""Reading a results directory that NePS itself wrote, to import it with ``import_trials``.

NePS keeps one folder per trial, ``configs/config_<id>/``, with the configuration in
``config.yaml`` and the outcome in ``report.yaml`` (``result.yaml`` before NePS 0.12), next to
``optimizer_info.yaml``. neps_core does not continue such a run in place (its own record is
another), but its finished trials carry over: ``import_trials(read_neps_results(old), new,
space)`` warm-starts a new run with them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from neps_core.components import resolve_space
from neps_core.errors import NepsCoreError
from neps_core.models import Report
from neps_core.neps_keys import from_neps_keys
from neps_core.plugin_manager import load_plugins
from neps_core.serialization import read_yaml, to_plain
from neps_core.user_paths import user_path

logger = logging.getLogger(__name__)
NEPS_MARKER = "optimizer_info.yaml"
#: Records only a neps_core run holds (with the built-in storages), beside its storage.yaml.
NEPS_CORE_RECORDS = ("run_info.yaml", ".neps_core/journal.jsonl", "run.db")
REPORT_FILES = ("report.yaml", "result.yaml")
#: Keys of NePS's reports that are results (the rest, ``err``, ``tb``, ... describe them).
RESULT_KEYS = ("objective_to_minimize", "loss", "cost", "learning_curve", "extra")


def is_neps_results_directory(root: Path) -> bool:
    """Whether ``root`` holds NePS's optimizer record and none of neps_core's own (whose
    trial folders look like NePS's)."""
    ours = ("storage.yaml", *NEPS_CORE_RECORDS)
    return (root / NEPS_MARKER).is_file() and not any((root / name).exists() for name in ours)


def read_neps_results(
    root_directory: str | Path, pipeline_space: Any = None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The finished trials of the NePS run in ``root_directory`` as ``(config, result)`` pairs.

    A success gives its objective, cost, learning curve and extra (a multi-objective curve,
    one objective vector a step, in ``extra['learning_curve']``; NePS's default ``[[o1, o2]]``
    not at all); a failed or crashed trial a result with an ``exception`` (NePS's error
    message), so it imports as FAILED. Trials
    still pending or running in NePS have no report and are left out. A neps_core run is
    read from its storage, which (a plugin's) need not write the report files; where that
    storage cannot be opened (a copy without it, its plugin gone), from the report files.

    NePS keys the configurations of a ``PipelineSpace`` run by its ``neps_*`` optimizers by
    their resolution (``SAMPLING__Resolvable.<name>::<kind>__...``, ``ENVIRONMENT__<name>``,
    a categorical as its index). Given ``pipeline_space``, they read as its names and
    values; without it, as stored, and ``import_trials`` translates them with its space.

    Raises:
        FileNotFoundError: ``root_directory`` has no ``configs/config_<id>`` folders.
        ValueError: A config or report file is no YAML mapping (the file is named); a key
            of NePS's that names no parameter of ``pipeline_space`` or a value inside one (a
            structural configuration), named with its trial folder.
    """
    root = user_path(root_directory, "root_directory")
    space = None if pipeline_space is None else resolve_space(pipeline_space, load_plugins(()))
    try:
        ours = _from_the_runs_storage(root)
    except NepsCoreError as error:
        logger.info("Reading the trials of %s from their report files: %s", root, error)
    else:
        if ours is not None:
            return ours
    folders = trial_folders(root)
    if not folders:
        raise FileNotFoundError(f"No NePS trial folders (configs/config_<id>/) in {root}")
    pairs = []
    for folder in folders:
        report_file = _report_file(folder)
        if report_file is None:
            continue
        config = _mapping(folder / "config.yaml")
        if space is not None:
            config = from_neps_keys(config, space, str(folder.relative_to(root)))
        pairs.append((config, _result(_mapping(report_file))))
    return pairs


def _from_the_runs_storage(root: Path) -> list[tuple[dict[str, Any], dict[str, Any]]] | None:
    """The finished trials of the neps_core run in ``root``; ``None`` where there is none."""
    from neps_core.loading import open_existing  # they import this module
    from neps_core.run_storage import STORAGE_POINTER_FILE

    if not (root / STORAGE_POINTER_FILE).is_file():
        return None
    with open_existing(root) as storage:
        trials = storage.sync().values()
    return [(dict(t.config), _result_of(t.report)) for t in trials if t.report is not None]


def _result_of(report: Report) -> dict[str, Any]:
    """The result ``report`` holds, as its ``report.yaml`` reads back (lists, not tuples)."""
    values = {"cost": report.cost, "learning_curve": report.learning_curve, "extra": report.extra}
    result = {key: to_plain(value) for key, value in values.items() if value is not None}
    if report.error is not None:
        return {**result, "exception": report.error}
    return {"objective_to_minimize": to_plain(report.objective_to_minimize), **result}


def trial_folders(root: Path) -> list[Path]:
    """The trial folders ``configs/config_<id>/`` in ``root``, by id (NePS's layout and
    neps_core's; files named so are a project's own)."""
    folders = [p for p in (root / "configs").glob("config_*") if p.is_dir()]
    return sorted(folders, key=lambda p: (len(p.name), p.name))


def _report_file(folder: Path) -> Path | None:
    return next((folder / name for name in REPORT_FILES if (folder / name).is_file()), None)


def _mapping(path: Path) -> dict[str, Any]:
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot be read: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping, got {type(data).__name__}")
    return data


def _result(report: dict[str, Any]) -> dict[str, Any]:
    result = {key: report[key] for key in RESULT_KEYS if report.get(key) is not None}
    if "loss" in result:  # NePS's older name, which neps_core warns about when users return it
        result.setdefault("objective_to_minimize", result["loss"])
        del result["loss"]
    failed = report.get("reported_as", "success") != "success" or report.get("err") is not None
    objective = result.get("objective_to_minimize")
    if failed or objective is None or objective == "error":  # legacy NePS wrote "error"
        result = {key: result[key] for key in ("cost", "extra") if key in result}
        result["exception"] = str(report.get("err") or "failed in NePS")
        return result
    return _without_objective_vectors(result)


def _without_objective_vectors(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` without a curve of objective vectors, which a curve here (one number a
    step) cannot be: NePS stores ``[[o1, o2]]`` for every multi-objective result without a
    curve, and importing that failed the whole import. That default is dropped; a curve the
    user reported is kept in ``extra['learning_curve']`` (NePS refuses that key in extra)."""
    curve = result.get("learning_curve")
    if not isinstance(curve, list) or not any(isinstance(step, list) for step in curve):
        return result
    kept = {key: value for key, value in result.items() if key != "learning_curve"}
    if curve != [result["objective_to_minimize"]]:
        kept["extra"] = {**result.get("extra", {}), "learning_curve": curve}
    return kept
