"""The global budgets a run was last given, kept in ``<root>/budget.yaml``.

Budgets belong to the root directory but arrive as arguments of each ``run()``; recording
them lets ``status()`` and ``neps-core status`` say "10 of 50 evaluations" after the run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from neps_core.config import RunSettings
from neps_core.errors import StorageError
from neps_core.serialization import describe_yaml_error, dump_yaml, read_yaml, write_atomic

logger = logging.getLogger(__name__)

BUDGET_FILE = "budget.yaml"
BUDGET_KEYS = ("evaluations_to_spend", "cost_to_spend", "fidelities_to_spend")


def record_budgets(root: Path, settings: RunSettings) -> None:
    """Record the ``*_to_spend`` budgets of ``settings``: the ones in force from now on.

    A call without any records that none is set, so that no stale limit is reported
    ("9 of 6 evaluations" after a continuation with ``max_evaluations_per_run`` only).
    """
    budgets = {key: getattr(settings, key) for key in BUDGET_KEYS}
    path = Path(root) / BUDGET_FILE
    try:
        write_atomic(path, dump_yaml(budgets))
    except OSError as error:  # a full disk, as for the storage's own files
        raise StorageError(f"Could not record the run's budgets in {path}: {error}") from error


def copy_budgets(source: Path, destination: Path) -> None:
    """Copy the recorded budgets of the run in ``source`` to a migrated copy of it."""
    budgets = recorded_budgets(source)
    if budgets:
        write_atomic(Path(destination) / BUDGET_FILE, dump_yaml(budgets))


def budgets_recorded(root: Path) -> bool:
    """Whether the run's budgets are recorded: runs of versions before ``budget.yaml`` have
    none, so their workers' budgets are unknown (not "none")."""
    return (Path(root) / BUDGET_FILE).is_file()


def recorded_budgets(root: Path) -> dict[str, Any]:
    """The recorded budgets, as ``history.budget()`` keyword arguments (empty if none)."""
    path = Path(root) / BUDGET_FILE
    if not path.is_file():
        return {}
    try:
        data = read_yaml(path)
    except OSError as error:
        logger.warning("Ignoring %s, which cannot be read: %s", path, error)
        return {}
    except yaml.YAMLError as error:
        logger.warning("Ignoring %s, not valid YAML: %s", path, describe_yaml_error(error))
        return {}
    if not isinstance(data, dict):
        logger.warning("Ignoring %s: expected a mapping of budgets, got %r", path, data)
        return {}
    return {key: data[key] for key in BUDGET_KEYS if isinstance(data.get(key), int | float)}
