"""The handlers of the ``neps-core`` subcommands; each returns the exit status."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from neps_core.code_locations import FUNCTION_FORMS
from neps_core.errors import SettingsError
from neps_core.user_paths import shown_path


def run_command(arguments: argparse.Namespace) -> int:
    """``neps-core run CONFIG [KEY.PATH=VALUE ...]``."""
    import neps_core
    from neps_core.cli.status import format_status, status_data
    from neps_core.run_config import load_run_config

    kwargs = load_run_config(arguments.config, arguments.overrides)
    if kwargs.get("evaluate_pipeline") is None:  # left out, left empty or overridden to null
        raise SettingsError(f"{arguments.config}: evaluate_pipeline: required: {FUNCTION_FORMS}")
    summary = neps_core.run(**kwargs)
    print(format_status(status_data(shown_path(Path(summary.root_directory)), failures=5)))
    return 0


def status_command(arguments: argparse.Namespace) -> int:
    """``neps-core status ROOT [--json] [--failures N] [--best-configs]``."""
    from neps_core.cli.status import format_status, status_data

    data = status_data(
        arguments.root_directory, arguments.failures, best_configs=arguments.best_configs
    )
    print(json.dumps(_strict_json(data), indent=2) if arguments.json else format_status(data))
    return 0


def _strict_json(value: Any) -> Any:
    """``value`` with infinite and NaN numbers as the strings ``"inf"``, ``"-inf"``, ``"nan"``:
    strict JSON parsers refuse Python's ``Infinity`` (a cost total too large for a float)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict_json(item) for item in value]
    return value


def plot_command(arguments: argparse.Namespace) -> int:
    """``neps-core plot ROOT [--output-dir DIR]``: every plot that fits the run, as PNG.

    A run whose finished trials have no objective (all failed) is an error, raised by
    ``write_plots`` as for ``neps.plot``; one in progress has nothing to plot yet.
    """
    from neps_core.plotting import write_plots

    root = Path(arguments.root_directory)
    written = write_plots(
        root,
        output_dir=arguments.output_dir,
        x_axis=arguments.x_axis,
        max_curves=arguments.max_curves,
    )
    if not written:
        print(f"Nothing to plot yet: no trial of {root} has finished")
    for path in written:
        print(f"wrote {path}")
    return 0


def plugins_command(arguments: argparse.Namespace) -> int:
    """``neps-core plugins [--json]``."""
    from neps_core.cli.plugin_list import format_plugins, plugin_data

    data = plugin_data()
    print(json.dumps(data, indent=2) if arguments.json else format_plugins(data))
    return 0


def clean_command(arguments: argparse.Namespace) -> int:
    """``neps-core clean ROOT [--stale-after S] [--dry-run]``."""
    from neps_core.cli.clean import clean_run

    report = clean_run(
        arguments.root_directory, stale_after=arguments.stale_after, dry_run=arguments.dry_run
    )
    verb = "would mark" if arguments.dry_run else "marked"
    if report.removed:
        print(f"{verb} {len(report.removed)} trial(s) CRASHED:")
        for item in report.removed:
            print(f"  trial {item.trial_id} (was {item.was}): {item.reason}")
    removed = "would remove" if arguments.dry_run else "removed"
    for path in report.removed_files:
        print(f"{removed} {path}")
    if not report.removed and not report.removed_files:
        print(f"Nothing to clean in {arguments.root_directory}")
    if report.awaiting:
        print(f"left alone: {report.awaiting} trial(s) waiting for save_pipeline_results")
    return 0


def migrate_command(arguments: argparse.Namespace) -> int:
    """``neps-core migrate SOURCE DESTINATION [--storage NAME]``."""
    from neps_core.migration import migrate_run

    trials = migrate_run(
        arguments.source,
        arguments.destination,
        arguments.storage,
        stale_after=arguments.stale_after,
    )
    print(
        f"Copied {len(trials)} trial(s) from {arguments.source} to {arguments.destination} "
        f"(storage {arguments.storage}); continue with run(root_directory="
        f"{str(arguments.destination)!r}, ...)"
    )
    return 0
