"""A trial's final version whose journal line was torn or lost, recovered from its files.

A record reaches the journal before ``report.yaml`` and ``metadata.yaml`` are written, but
without ``fsync`` a power cut (or a network file system) may keep the files and tear the
journal line: the journal's last version of the trial then says it is running, and the
next clean-up would mark a finished trial CRASHED and overwrite its ``report.yaml``. The files
are taken back only for the trial the torn line names, and only when they are whole and
are the end of the attempt the journal recorded (same id, worker, attempt and start).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import cattrs

from neps_core.history import TrialHistory
from neps_core.models import Trial, TrialState
from neps_core.serialization import read_yaml, structure_error_text, to_plain

logger = logging.getLogger(__name__)

#: The start of a whole-trial journal line (``id`` is the first field a trial unstructures to;
#: a heartbeat line starts with ``heartbeat`` and never ends a trial).
_TRIAL_ID = re.compile(rb'\{"id":("(?:[^"\\]|\\.)*")')
#: The state a torn whole-trial line was giving its trial, if the line got that far.
_STATE = re.compile(rb'"state":"(\w+)"')
#: What the final version of a trial shares with the running one it ends.
_SAME_ATTEMPT = ("worker_id", "attempts", "started_at", "created_at", "previous_trial_id")


class NotRecoverable(Exception):
    """Why the files of a trial cannot stand in for its torn record."""


def trial_id_of(torn: bytes) -> str | None:
    """The id of the trial a torn whole-trial line was about, if enough of it is left."""
    match = _TRIAL_ID.match(torn)
    if match is None:
        return None
    try:
        trial_id = json.loads(match.group(1))
    except ValueError:  # an escape cut in half
        return None
    return trial_id if isinstance(trial_id, str) else None


def describe_torn(torn: bytes, history: TrialHistory) -> str:
    """Which record the torn line ``torn`` began, for a warning to name the trial it touched."""
    if torn.startswith(b'{"heartbeat"'):
        return "a heartbeat (the running trial's earlier one stands)"
    trial_id = trial_id_of(torn)
    if trial_id is None:
        return "a record cut before its trial id"
    state = _STATE.search(torn)
    in_state = f" ({state.group(1).decode()})" if state else ""
    current = history.get(trial_id)
    if current is None:
        return (
            f"the first version of trial {trial_id}{in_state}, without which the trial is not "
            "recorded (as if never sampled)"
        )
    recorded = current.state.value
    return f"a new version of trial {trial_id}{in_state} after the recorded one ({recorded})"


def recover_torn_trial(
    trial_id: str, history: TrialHistory, directory: Path, converter: cattrs.Converter
) -> Trial | None:
    """The final version of trial ``trial_id``, whose journal line was torn, read from its
    files in ``directory``; ``None`` when there is nothing to recover (the line created the
    trial, or it is already final, or its files were never written) or the files do not fit
    (a warning says why)."""
    current = history.get(trial_id)
    if current is None or current.state.is_final:
        return None
    metadata_path, report_path = directory / "metadata.yaml", directory / "report.yaml"
    if not metadata_path.is_file():
        return None  # the writer stopped before the files: the torn version is lost
    try:
        return _final_version(current, metadata_path, report_path, converter)
    except NotRecoverable as reason:
        logger.warning(
            "The torn journal record of trial %s was not recovered from %s: %s; the journal's "
            "last version of it (%s) stands",
            trial_id,
            directory,
            reason,
            current.state.value,
        )
        return None


def ended_attempt(current: Trial, directory: Path, converter: cattrs.Converter) -> Trial | None:
    """The final version of ``current``'s attempt that its files in ``directory`` hold, if
    they hold one: its journal line was lost whole (a power cut without ``fsync`` after the
    files were written). Quiet when they do not fit: they are an earlier attempt's, mostly."""
    metadata_path = directory / "metadata.yaml"
    if not metadata_path.is_file():
        return None
    try:
        return _final_version(current, metadata_path, directory / "report.yaml", converter)
    except NotRecoverable:
        return None


def _final_version(
    current: Trial, metadata_path: Path, report_path: Path, converter: cattrs.Converter
) -> Trial:
    metadata = _read_mapping(metadata_path)
    record = {**metadata, "config": to_plain(converter.unstructure(current.config))}
    record["report"] = _read_mapping(report_path) if report_path.is_file() else None
    try:
        trial = converter.structure(record, Trial)
    except Exception as error:
        raise NotRecoverable(
            f"{metadata_path} and {report_path} do not make a valid trial: "
            f"{structure_error_text(error, 'trial')}"
        ) from error
    if trial.id != current.id:
        raise NotRecoverable(f"{metadata_path} is about trial {trial.id!r}")
    if not trial.state.is_final or trial.state is TrialState.CORRUPTED:
        raise NotRecoverable(f"{metadata_path} gives the state {trial.state.value}, not a result")
    if trial.report is None:
        raise NotRecoverable(f"{report_path} is missing")
    differ = attempt_differences(trial, current)
    if differ:
        raise NotRecoverable(
            f"{metadata_path} is not about the journal's attempt: {', '.join(differ)} differ"
        )
    return trial


def attempt_differences(final: Trial, current: Trial) -> list[str]:
    """The fields by which ``final`` is not the end of ``current``'s attempt (none: it is)."""
    return [name for name in _SAME_ATTEMPT if getattr(final, name) != getattr(current, name)]


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        data = read_yaml(path)
    except Exception as error:  # a half-written file, invalid YAML, unreadable
        raise NotRecoverable(f"{path} cannot be read: {error}") from error
    if not isinstance(data, dict):
        raise NotRecoverable(f"{path} does not hold a mapping")
    return data
