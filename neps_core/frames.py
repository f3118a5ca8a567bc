"""A run as pandas tables, the shape NePS's ``status`` returns: ``full, short = neps.status(root)``.

``full`` has one row per trial, indexed by trial id, with ``config.<name>`` columns (each
configuration as ``evaluate_pipeline`` received it, ``summary.shown_config``: a choice of a
categorical of tuples is its value, not its stored index), the
report (``objective_to_minimize``, ``cost``, ``learning_curve``, ``extra.<key>``, ``error``;
a nested dict in ``extra`` is spread into ``extra.<key>.<subkey>`` columns, as NePS's
``pandas.json_normalize`` names them)
and the trial's record (``state``, ``fidelity``, ``previous_trial_id``, ``worker_id``,
``time_sampled``, ``time_started``, ``time_end``, ``attempts``). ``short`` counts trials by
state (``num_success``, ...) and, for a single objective, names the best trial
(``best_objective_to_minimize``, ``best_config_id``) and its configuration.

pandas is imported only here, on first use (``pip install "neps-core[analysis]"``); the rows
themselves are plain data (``trial_rows``, ``short_entries``), which the run's ``summary/``
CSV files are written from without pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from neps_core.models import Summary, Trial
from neps_core.summary import shown_config

if TYPE_CHECKING:
    import pandas as pd

    from neps_core.shown_configs import ConfigReader


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as error:
        raise ImportError(
            "A run as tables (full, short = neps.status(root), Summary.to_dataframe()) needs "
            'pandas: pip install "neps-core[analysis]"'
        ) from error
    return pandas


def trials_frame(trials: Iterable[Trial], space: ConfigReader | None = None) -> pd.DataFrame:
    """One row per trial, in the order they were sampled; ``space`` reads the configurations."""
    pandas = _pandas()
    ids, rows = trial_rows(trials, space)
    frame = pandas.DataFrame.from_records(rows, columns=None if rows else RECORD_COLUMNS)
    frame.index = pandas.Index(ids, name="id", dtype=object)
    return frame  # every documented column, empty ones too: full["cost"] always works


def trial_rows(
    trials: Iterable[Trial], space: ConfigReader | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """The ids and the rows of ``trials_frame``, in the order the trials were sampled."""
    ordered = sorted(trials, key=lambda trial: (trial.created_at, len(trial.id), trial.id))
    if space is not None and space.reads_as_stored:  # decided once: 5 us a row at 20,000 rows
        space = None
    return [trial.id for trial in ordered], [_row(trial, space) for trial in ordered]


_REPORT_COLUMNS = ("objective_to_minimize", "cost", "learning_curve", "error")
RECORD_COLUMNS = (
    *_REPORT_COLUMNS,
    "state",
    "fidelity",
    "previous_trial_id",
    "worker_id",
    "time_sampled",
    "time_started",
    "time_end",
    "attempts",
)


def _row(trial: Trial, space: ConfigReader | None) -> dict[str, Any]:
    config = shown_config(space, trial.config)
    row: dict[str, Any] = {f"config.{name}": value for name, value in config.items()}
    row.update(dict.fromkeys(_REPORT_COLUMNS))  # before any report: a trial still running
    report = trial.report
    if report is not None:
        objective, curve = report.objective_to_minimize, report.learning_curve
        row["objective_to_minimize"] = plain_objective(objective)
        row["cost"] = report.cost
        row["learning_curve"] = None if curve is None else list(curve)
        row.update(flattened(report.extra, "extra"))
        row["error"] = report.error
    row.update(
        state=trial.state.value,
        fidelity=trial.fidelity,
        previous_trial_id=trial.previous_trial_id,
        worker_id=trial.worker_id,
        time_sampled=trial.created_at,
        time_started=trial.started_at,
        time_end=trial.finished_at,
        attempts=trial.attempts,
    )
    return row


def flattened(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``values`` as ``prefix.<key>`` entries, a nested dict spread into ``prefix.<key>.<subkey>``
    ones, as ``pandas.json_normalize`` does for NePS's ``status`` (an empty dict has none);
    written here because the summary CSV files are made without pandas."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        flat.update(flattened(value, name) if isinstance(value, Mapping) else {name: value})
    return flat


def plain_objective(objective: Any) -> Any:
    """An objective as a table or file shows it: several objectives as a list."""
    return list(objective) if isinstance(objective, tuple) else objective


def status_frames(summary: Summary) -> tuple[pd.DataFrame, pd.Series]:
    """NePS's ``(full, short)`` pair for ``summary``."""
    pandas = _pandas()
    series = pandas.Series(short_entries(summary), name="value", dtype=object)
    series.index.name = "summary"
    return trials_frame(summary.trials, summary.config_reader), series


def short_entries(summary: Summary) -> dict[str, Any]:
    """The entries of ``short``: counts by state, then the best trial and its configuration.

    The best configuration's parameters are listed by name, as NePS does; one named like an
    entry of its own (``num_success``, ``best_config_id``, ...) is ``config.<name>`` there.
    """
    short: dict[str, Any] = {
        f"num_{state}": count for state, count in summary.counts.items() if count > 0
    }
    best = summary.best_trial
    if best is not None:
        short["best_objective_to_minimize"] = best.objective
        short["best_config_id"] = best.id
        entries = {f"num_{state}" for state in summary.counts} | set(short)
        config = shown_config(summary.config_reader, best.config)
        for name, value in config.items():  # a parameter named like an entry: prefixed
            short[f"config.{name}" if name in entries else name] = value
    return short
