"""NePS's ``summary/`` folder, written together with the run's own summary files.

NePS writes these when a run ends and its tutorials read them; they hold what
``neps.status`` shows, so a script written for NePS finds them where it looks::

    summary/full.csv                    one row per trial, indexed by ``id``: the table
                                        ``full`` of ``full, short = neps.status(root)``
    summary/short.csv                   ``short``: counts by state, the best trial and its
                                        configuration (columns ``summary,value``)
    summary/best_config_trajectory.txt  each trial that improved the best objective, in the
                                        order trials finished (one objective only)
    summary/best_config.txt             the best trial (or each trial of the Pareto front),
                                        then the totals of all finished trials

The best is the summary's: at the highest fidelity reached. Configurations read as
``evaluate_pipeline`` received them (``shown_config``), as in NePS's files. The CSV files are
written with the ``csv`` module, so pandas stays optional (the ``analysis`` extra).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from neps_core.frames import RECORD_COLUMNS, plain_objective, short_entries, trial_rows
from neps_core.models import Summary, Trial
from neps_core.serialization import write_atomic
from neps_core.shown_configs import ConfigReader
from neps_core.summary import best_contenders, finishing_order, shown_config

SUMMARY_FOLDER = "summary"
FULL_CSV = "full.csv"
SHORT_CSV = "short.csv"
TRAJECTORY_TEXT = "best_config_trajectory.txt"
BEST_CONFIG_TEXT = "best_config.txt"
SUMMARY_FOLDER_FILES = (FULL_CSV, SHORT_CSV, TRAJECTORY_TEXT, BEST_CONFIG_TEXT)
RULE = "-" * 80
HEADING = "Best configs and their objectives across evaluations:"


@attrs.frozen
class Totals:
    """What the finished trials used up to one of them (NePS's ``cumulative_*`` values)."""

    evaluations: int = 0
    cost: float = 0.0
    fidelities: float = 0.0
    time: float = 0.0

    def plus(self, trial: Trial) -> Totals:
        """These totals with ``trial`` counted too."""
        return Totals(
            self.evaluations + 1,
            self.cost + (trial.cost or 0.0),
            self.fidelities + (trial.fidelity or 0),
            self.time + _duration(trial),
        )

    def as_dict(self) -> dict[str, float]:
        """The totals under NePS's names."""
        return {
            "cumulative_evaluations": self.evaluations,
            "cumulative_fidelities": self.fidelities,
            "cumulative_cost": self.cost,
            "cumulative_time": self.time,
        }


def _duration(trial: Trial) -> float:
    """The evaluation's duration as reported, else as timed by its worker."""
    report = trial.report
    if report is not None and report.evaluation_duration is not None:
        return report.evaluation_duration
    if trial.started_at is None or trial.finished_at is None:
        return 0.0
    return trial.finished_at - trial.started_at


def running_totals(finished: Iterable[Trial]) -> dict[str, Totals]:
    """For each trial of ``finished`` (in finishing order), the totals of the trials finished
    up to it (itself included)."""
    totals, found = Totals(), {}
    for trial in finished:
        totals = totals.plus(trial)
        found[trial.id] = totals
    return found


def trajectory_entries(summary: Summary) -> list[dict[str, Any]]:
    """Each trial that improved the best single objective, in the order trials finished."""
    finished = finishing_order(summary.trials)
    return _improvements(finished, running_totals(finished), summary.config_reader)


def _improvements(
    finished: Sequence[Trial], totals: Mapping[str, Totals], space: ConfigReader | None
) -> list[dict[str, Any]]:
    contenders = best_contenders(finished)
    best: float | None = None
    entries = []
    for trial in finished:
        objective = trial.objective
        if trial.id not in contenders or not isinstance(objective, float):
            continue
        if best is None or objective < best:
            best = objective
            entries.append(_entry(trial, totals[trial.id], space))
    return entries


def best_entries(summary: Summary, totals: Mapping[str, Totals]) -> list[dict[str, Any]]:
    """The best trial, or the trials of the Pareto front, as entries of ``best_config.txt``."""
    chosen = [summary.best_trial] if summary.best_trial is not None else summary.pareto_front
    return [_entry(trial, totals[trial.id], summary.config_reader) for trial in chosen]  # successes


def _entry(trial: Trial, totals: Totals, space: ConfigReader | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "trial_id": trial.id,
        "objective_to_minimize": plain_objective(trial.objective),
    }
    if trial.cost is not None:
        entry["cost"] = trial.cost
    return {**entry, **totals.as_dict(), "config": dict(shown_config(space, trial.config))}


def entries_text(entries: Iterable[Mapping[str, Any]]) -> str:
    """Entries in NePS's text layout: a heading, then one block per entry between rules."""
    blocks = [f"{HEADING}\n{RULE}\n"]
    for entry in entries:
        lines = [
            f"Config ID: {entry['trial_id']}",
            f"Objective to minimize: {entry['objective_to_minimize']}",
        ]
        if "cost" in entry:
            lines.append(f"Cost: {entry['cost']}")
        lines += [
            f"Cumulative evaluations: {entry['cumulative_evaluations']}",
            f"Cumulative fidelities: {entry['cumulative_fidelities']}",
            f"Cumulative cost: {entry['cumulative_cost']}",
            f"Cumulative time: {entry['cumulative_time']}",
            f"Config: {entry['config']}",
        ]
        blocks.append("\n".join(lines) + f"\n{RULE}\n")
    return "".join(blocks)


def write_summary_folder(root: Path, summary: Summary, finished: Sequence[Trial]) -> None:
    """Write NePS's four summary files into ``root/summary`` (each atomically).

    ``finished`` is ``finishing_order(summary.trials)``, which the caller has. The two text
    files exist only once there is something to put in them, as in NePS: the trajectory only
    for one objective, the best configuration only after a success.
    """
    folder = root / SUMMARY_FOLDER
    folder.mkdir(exist_ok=True)
    write_atomic(folder / FULL_CSV, _full_csv(summary.trials, summary.config_reader))
    short = short_entries(summary).items()
    write_atomic(folder / SHORT_CSV, _csv_text(["summary", "value"], short))
    totals = running_totals(finished)
    trajectory = _improvements(finished, totals, summary.config_reader)
    _write_or_remove(folder / TRAJECTORY_TEXT, entries_text(trajectory) if trajectory else None)
    best = best_entries(summary, totals)
    last = totals[finished[-1].id] if finished else Totals()
    _write_or_remove(folder / BEST_CONFIG_TEXT, _best_text(best, last) if best else None)


def _full_csv(trials: Iterable[Trial], space: ConfigReader | None) -> str:
    """``full`` as CSV: the id, then the columns in the order the table has them."""
    ids, rows = trial_rows(trials, space)
    columns = list(dict.fromkeys(itertools.chain.from_iterable(rows))) or list(RECORD_COLUMNS)
    cells = ([i, *map(row.get, columns)] for i, row in zip(ids, rows, strict=True))
    return _csv_text(["id", *columns], cells)


def _best_text(entries: list[dict[str, Any]], totals: Totals) -> str:
    """The best entries, then the totals of every finished trial."""
    lines = [f"{name}: {value}" for name, value in totals.as_dict().items()]
    ending = "\n".join(["Final cumulative metrics (all finished trials):", *lines])
    return f"{entries_text(entries)}{RULE}\n{ending}\n"


def _write_or_remove(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink(missing_ok=True)
    else:
        write_atomic(path, text)


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV as pandas writes it: empty cells for missing values, lists and dicts as text.

    A lone surrogate (a choice ``"\\ud800"``) has no UTF-8 form: it is escaped in the text
    as a whole, which costs one pass instead of a check of every cell.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_blank(v) for v in row] if _has_nan(row) else row for row in rows)
    return buffer.getvalue().encode("utf-8", "backslashreplace").decode("utf-8")


def _has_nan(row: Sequence[Any]) -> bool:
    """Whether ``row`` holds a float NaN, checked in C: this runs for every row of full.csv."""
    floats = itertools.compress(row, map(isinstance, row, itertools.repeat(float)))
    return any(map(math.isnan, floats))


def _blank(value: Any) -> Any:
    return "" if isinstance(value, float) and math.isnan(value) else value
