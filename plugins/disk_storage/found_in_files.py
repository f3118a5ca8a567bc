"""Final versions of trials that the journal lacks but their files hold: what reads show and
the next write records.

A torn last line (see ``torn_record``), or a line lost whole (a crash without ``fsync`` after
the trial's files were written), leaves the journal's last version of a finished trial
running. A read may not repair the journal, but shows such a trial as the next write's repair
will record it; that write records it before any change sees the history (``clean`` then
finds nothing to crash, as its dry run said). Looking costs a ``stat`` per running trial, so
an instance looks once (at its first read or write) and once per torn tail; an attempt whose
line is lost later is caught when a change ends it (``DiskStorage._ended_by_its_files``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cattrs

from neps_core.history import TrialHistory
from neps_core.models import Trial, TrialState
from neps_core_plugins.disk_storage.torn_record import (
    attempt_differences,
    ended_attempt,
    recover_torn_trial,
    trial_id_of,
)


class FoundInFiles:
    """The final versions found in trial folders, until the journal records them.

    Not thread-safe: ``DiskStorage`` calls it under its lock among threads.
    """

    def __init__(self, trial_directory: Callable[[str], Path], converter: cattrs.Converter):
        self._directory = trial_directory
        self._converter = converter
        self._found: dict[str, Trial] = {}
        self._looked = False  # whether the running trials' files were looked at

    def look_once(self, history: TrialHistory) -> None:
        """The first time, look at the files of every running trial for its attempt's end."""
        if self._looked:
            return
        self._looked = True
        for trial_id in history.ids_in(TrialState.EVALUATING):
            directory = self._directory(trial_id)
            self._keep(ended_attempt(history[trial_id], directory, self._converter))

    def look_for_torn(self, torn: bytes, history: TrialHistory) -> Trial | None:
        """The final version of the trial the torn line ``torn`` was about, from its files."""
        trial_id = trial_id_of(torn)
        if trial_id is None:
            return None
        directory = self._directory(trial_id)
        return self._keep(recover_torn_trial(trial_id, history, directory, self._converter))

    def unrecorded(self, history: TrialHistory) -> list[Trial]:
        """The versions found that end the attempt ``history`` (the journal's) still has their
        trials in; those recorded, or ended otherwise meanwhile, are forgotten."""
        self._found = {
            trial_id: found
            for trial_id, found in self._found.items()
            if _still_in_attempt(history.get(trial_id), found)
        }
        return list(self._found.values())

    def view(self, history: TrialHistory) -> TrialHistory:
        """``history`` as the next write will make it, in a copy: the history itself keeps the
        journal's versions, for that write to see what it must record."""
        found = {trial.id: trial for trial in self.unrecorded(history)}
        if not found:
            return history
        recovered = TrialHistory()
        for kept in history.values():
            recovered.put(found.get(kept.id, kept))
        return recovered

    def _keep(self, found: Trial | None) -> Trial | None:
        if found is not None:
            self._found[found.id] = found
        return found


def _still_in_attempt(current: Trial | None, found: Trial) -> bool:
    return (
        current is not None
        and not current.state.is_final
        and not attempt_differences(found, current)
    )
