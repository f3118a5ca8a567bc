"""``neps-core clean``: finish off what stopped or killed workers left behind, safely.

Trial records are never deleted (storage is append-only); debris is taken out of the queue by
marking it CRASHED in one storage transaction, which also checks that no worker is alive.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import attrs

from neps_core.config import run_directory
from neps_core.history import TrialHistory
from neps_core.live_workers import refuse_if_working
from neps_core.liveness import awaits_result, last_sign_of_life, process_gone
from neps_core.loading import open_existing
from neps_core.models import Report, Trial, TrialState
from neps_core.presence import processes_present
from neps_core.run_storage import OVERWRITE_TRASH
from neps_core.summary_folder import SUMMARY_FOLDER, SUMMARY_FOLDER_FILES

#: Files neps_core writes atomically (a temporary sibling, then a rename).
OWN_FILES = (
    "config.yaml",
    "metadata.yaml",
    "report.yaml",
    "summary.yaml",
    "best_config.yaml",
    "trajectory.csv",
    "run_info.yaml",
    "storage.yaml",
    *SUMMARY_FOLDER_FILES,
)


@attrs.frozen
class Removed:
    """One trial taken out of the queue: its id, its state before, and why."""

    trial_id: str
    was: str
    reason: str


@attrs.frozen
class CleanReport:
    """What ``clean_run`` did (or, for a dry run, would do)."""

    removed: tuple[Removed, ...]
    removed_files: tuple[Path, ...]
    awaiting: int


def clean_run(root_directory: str | Path, *, stale_after: float, dry_run: bool) -> CleanReport:
    """Apply :data:`~neps_core.cli.clean_rule.CLEAN_RULE` to the run in ``root_directory``."""
    now = time.time()
    crashed: list[tuple[Removed, Trial]] = []  # each with the version clean records for it

    root = run_directory(root_directory)
    present = processes_present(root)

    def crash_debris(history: TrialHistory) -> list[Trial]:
        refuse_if_working(history, stale_after, f"clean {root_directory}", "--stale-after", present)
        crashed[:] = [
            (Removed(t.id, t.state.value, why), _crashed(t, why, now))
            for t, why in _debris(history, now, present)
        ]
        return [] if dry_run else [trial for _, trial in crashed]

    with open_existing(root) as storage:
        if dry_run:  # only reads: no storage lock, no file created, so a read-only run works
            crash_debris(storage.sync())
        else:  # listed: what was recorded, not what the storage kept instead (a lost result)
            stored = {trial.id: trial for trial in storage.transact(crash_debris)}
            crashed[:] = [(r, t) for r, t in crashed if stored.get(t.id) == t]
        history = storage.sync()
        awaiting = sum(awaits_result(history[i]) for i in history.ids_in(TrialState.EVALUATING))
    removed = tuple(item for item, _ in crashed)
    files = tuple(_temporary_files(root, now - stale_after))
    trash = root / OVERWRITE_TRASH  # what an overwrite stopped while deleting it left
    leftovers = (trash,) if trash.is_dir() else ()
    if not dry_run:
        for path in files:
            path.unlink(missing_ok=True)
        for folder in leftovers:
            shutil.rmtree(folder)
    return CleanReport(removed=removed, removed_files=files + leftovers, awaiting=awaiting)


def _crashed(trial: Trial, why: str, now: float) -> Trial:
    return attrs.evolve(
        trial,
        state=TrialState.CRASHED,
        finished_at=now,
        report=Report(objective_to_minimize=None, error=f"removed by neps-core clean: {why}"),
    )


def _debris(
    history: TrialHistory, now: float, present: list[str] | None
) -> list[tuple[Trial, str]]:
    debris: list[tuple[Trial, str]] = []
    for trial_id in history.ids_in(TrialState.EVALUATING):
        trial = history[trial_id]
        if process_gone(trial, present):
            debris.append((trial, f"the process of worker {trial.worker_id} is gone"))
        elif not awaits_result(trial):
            silent = now - last_sign_of_life(trial)
            debris.append(
                (trial, f"worker {trial.worker_id} stopped heartbeating {silent:.1f} s ago")
            )
    for trial_id in history.ids_in(TrialState.PENDING):
        debris.append((history[trial_id], "pending, never evaluated"))
    return debris


def _temporary_files(root: Path, older_than: float) -> list[Path]:
    """Leftovers of interrupted atomic writes next to neps_core's own files."""
    folders = [
        root,
        root / ".neps_core",
        root / SUMMARY_FOLDER,
        *sorted((root / "configs").glob("config_*")),
    ]
    found = []
    for folder in folders:
        for name in OWN_FILES:
            for path in folder.glob(f".{name}.*.tmp"):
                try:
                    if path.stat().st_mtime < older_than:
                        found.append(path)
                except FileNotFoundError:
                    continue
    return found
