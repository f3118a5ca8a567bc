"""The readable files a storage writes into trial folders, and restoring those a kill left out.

A storage records a trial, then writes its folder's files for people (``config.yaml``; the
``disk`` storage also ``metadata.yaml`` and ``report.yaml`` once the trial is final). A
process killed in between leaves the folder without them, for good unless somebody looks.
Looking at every trial in every transaction would cost a ``stat`` per trial per write, so
:class:`TrialFiles` has a storage look once (in its first write), then only at the trials it
noted with ``read_from_others``: final ones another worker stored, whose writer was done
with their files unless it died (``disk`` notes them for ``metadata.yaml``). A trial's
``config.yaml`` is also looked for the first time the process writes that trial. A
``corrupted`` trial's files are never written, by a look or by a process writing the trial
(say, ``migrate_run`` copying it): its stand-in's configuration (``{}`` where unreadable)
and state are not the trial's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from neps_core.models import Trial, TrialState
from neps_core.serialization import dump_yaml, to_plain, write_atomic

logger = logging.getLogger(__name__)


class TrialFiles:
    """Which trials a storage looks at for missing files, and their ``config.yaml``.

    ``root_directory`` is the run's: the trial folders are its ``configs/config_<id>``
    (``Storage.trial_directory``). Not thread-safe: call ``read_from_others``,
    ``to_look_at`` and ``lacking_config`` under the storage's lock.
    """

    def __init__(self, root_directory: Path):
        self._configs_directory = root_directory / "configs"
        self._configs: set[str] = set()  # trials whose config.yaml is known to be there
        self._looked = False  # whether to_look_at took its first look
        self._looked_for_configs = False  # whether lacking_config took its (only) look
        self._others_final: set[str] = set()

    def read_from_others(self, trial: Trial) -> None:
        """Note a trial version another worker stored: a final one is looked at next time."""
        if trial.state.is_final:
            self._others_final.add(trial.id)

    def to_look_at(self, history: Mapping[str, Trial]) -> list[Trial]:
        """The trials whose files to look for now: all of them the first time, else the
        final ones read from others since the last look."""
        ids = self._others_final if self._looked else history.keys()
        self._looked, self._others_final = True, set()
        return [history[trial_id] for trial_id in ids]

    def lacking_config(self, history: Mapping[str, Trial]) -> list[Trial]:
        """In the first look only, the trials whose ``config.yaml`` may be missing, for
        ``write_config``: those without a folder (one listing of ``configs/``, where a
        ``stat`` per trial cost every new handle 0.1 s in a 10,000-trial run) and the
        unfinished ones (a writer killed between making the folder and writing the file;
        whoever finished a trial wrote it, unless it was stored finished at once). A
        ``configs/`` that cannot be listed is one warning, and none are looked at: the trials
        are stored already and their files are a convenience, and writing into a folder that
        cannot be listed would fail, a warning per trial.
        """
        if self._looked_for_configs:
            return []
        self._looked_for_configs = True
        try:
            folders = {entry.name for entry in os.scandir(self._configs_directory)}
        except FileNotFoundError:
            folders = set()
        except OSError as error:
            logger.warning("Could not list the trial folders, so none is restored: %s", error)
            return []
        return [
            trial
            for trial in history.values()
            if not trial.state.is_final or f"config_{trial.id}" not in folders
        ]

    def without_file(self, trials: Iterable[Trial], name: str) -> list[Trial]:
        """The ``trials`` whose folder has no file ``name``: a ``stat`` each, on paths built
        as text (building a ``Path`` per trial cost more than its ``stat``)."""
        configs = os.fspath(self._configs_directory)
        return [t for t in trials if not os.path.exists(f"{configs}/config_{t.id}/{name}")]

    def write_config(self, trial: Trial) -> None:
        """Make the trial's folder with its ``config.yaml`` where missing (one look per trial
        per process); none for a corrupted trial. An ``OSError`` is the caller's to report."""
        if trial.state is not TrialState.CORRUPTED and trial.id not in self._configs:
            directory = self._configs_directory / f"config_{trial.id}"
            directory.mkdir(parents=True, exist_ok=True)
            if not (directory / "config.yaml").exists():
                write_atomic(directory / "config.yaml", dump_yaml(to_plain(trial.config)))
            self._configs.add(trial.id)
