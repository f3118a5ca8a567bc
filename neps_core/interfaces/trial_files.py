"""The readable files a storage writes into trial folders, and restoring those a kill left out.

A storage records a trial, then writes its folder's files for people (``config.yaml``; the
``disk`` storage also ``metadata.yaml`` and ``report.yaml`` once the trial is final). A
process killed in between leaves the folder without them, for good unless somebody looks.
Looking at every trial in every transaction would cost a ``stat`` per trial per write, so
:class:`TrialFiles` has a storage look at every trial once (in its first write), then only at
the trials it noted with ``read_from_others``: final ones another worker stored, whose writer
was done with their files unless it died (``disk`` notes them for ``metadata.yaml``). A
trial's ``config.yaml`` is also looked for the first time the process writes that trial.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from neps_core.models import Trial
from neps_core.serialization import dump_yaml, to_plain, write_atomic


class TrialFiles:
    """Which trials a storage looks at for missing files, and their ``config.yaml``.

    Not thread-safe: call ``read_from_others`` and ``to_look_at`` under the storage's lock.
    """

    def __init__(self, trial_directory: Callable[[str], Path]):
        self._trial_directory = trial_directory
        self._configs: set[str] = set()  # trials whose config.yaml is known to be there
        self._looked = False  # whether the first look (at every trial) was taken
        self._others_final: set[str] = set()

    def read_from_others(self, trial: Trial) -> None:
        """Note a trial version another worker stored: a final one is looked at next time."""
        if trial.state.is_final:
            self._others_final.add(trial.id)

    def to_look_at(self, history: Mapping[str, Trial]) -> list[Trial]:
        """The trials whose files to look for now: all of them the first time, else the
        final ones read from others since the last look."""
        ids = self._others_final if self._looked else history.keys()
        trials = [history[trial_id] for trial_id in ids]
        self._looked, self._others_final = True, set()
        return trials

    def write_config(self, trial: Trial) -> None:
        """Make the trial's folder with its ``config.yaml`` where missing (one look per trial
        per process). An ``OSError`` is the caller's to report."""
        if trial.id not in self._configs:
            directory = self._trial_directory(trial.id)
            directory.mkdir(parents=True, exist_ok=True)
            if not (directory / "config.yaml").exists():
                write_atomic(directory / "config.yaml", dump_yaml(to_plain(trial.config)))
            self._configs.add(trial.id)
