"""The ``disk`` storage: a journal as the source of truth plus readable per-trial folders.

Layout of a root directory::

    run_info.yaml                     the space and optimizer the run was started with
    .neps_core/journal.jsonl          every trial version, appended under journal.jsonl.lock
                                      (a heartbeat as a small delta line: see .heartbeats)
    configs/config_<id>/config.yaml   the configuration handed to evaluate_pipeline
    configs/config_<id>/metadata.yaml state, worker, timestamps, lineage
    configs/config_<id>/report.yaml   the result, once there is one

The YAML files are views for people and tools; they are rewritten from the journal and never
read back, so a damaged or hand-edited one cannot corrupt the run. The one exception: a
trial's final version whose journal line was torn or lost is taken back from its
``metadata.yaml`` and ``report.yaml`` if they fit the attempt the journal recorded (see
``found_in_files``).

Durability: a record is in the journal (the OS page cache) before ``transact`` returns, so a
killed process never loses what it reported. ``fsync=True`` also flushes every journal write
to the device, which survives a machine crash at the price of a few milliseconds per write.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import cattrs
import yaml

from neps_core.errors import StorageError
from neps_core.history import TrialHistory
from neps_core.interfaces import LOCKING_OPTIONS, Change, Storage, TrialFiles, damaged_trial
from neps_core.models import RunInfo, Trial, TrialState
from neps_core.serialization import (
    describe_yaml_error,
    dump_yaml,
    read_yaml,
    structure_error_text,
    to_plain,
    write_atomic,
)
from neps_core_plugins.disk_storage.found_in_files import FoundInFiles
from neps_core_plugins.disk_storage.heartbeats import (
    HEARTBEAT,
    PendingHeartbeats,
    heartbeat_record,
)
from neps_core_plugins.disk_storage.journal import Journal
from neps_core_plugins.disk_storage.torn_record import describe_torn, ended_attempt

logger = logging.getLogger(__name__)

#: How long a reader that finds the journal's last line unfinished waits before taking it for
#: torn: another process's append may be under way (a reader can see part of a large write).
WRITE_UNDER_WAY_SECONDS = 0.05

RUN_INFO_FILE = "run_info.yaml"
STATE_DIRECTORY = ".neps_core"


class DiskStorage(Storage):
    """File-based storage that works across processes and nodes sharing a file system."""

    name: ClassVar[str] = "disk"
    option_defaults: ClassVar[Mapping[str, Any]] = LOCKING_OPTIONS
    known_options: ClassVar[frozenset[str]] = frozenset(option_defaults)
    root_entries: ClassVar[frozenset[str]] = frozenset({RUN_INFO_FILE})

    def __init__(
        self,
        root_directory: Path,
        *,
        url: str | None = None,
        converter: cattrs.Converter | None = None,
        **options: Any,
    ):
        super().__init__(root_directory, url=url, converter=converter, **options)
        self.fsync = self.flag_option("fsync")
        self._journal = Journal(
            self.root_directory / STATE_DIRECTORY / "journal.jsonl",
            lock_timeout=self.seconds_option("lock_timeout"),
            fsync=self.fsync,
        )
        self._history = TrialHistory()
        self._files = TrialFiles(self.root_directory)  # see _restore_missing_views
        self._torn_tail: bytes | None = None  # the torn tail a read last found (see sync)
        self._found = FoundInFiles(self.trial_directory, self.converter)

    # -- run info ---------------------------------------------------------------------------
    def initialize(self, info: RunInfo) -> RunInfo:
        with self._locked():
            stored = self.load_info()
            if stored is not None:
                return stored
            plain = to_plain(self.converter.unstructure(info))
            write_atomic(self.root_directory / RUN_INFO_FILE, dump_yaml(plain), fsync=self.fsync)
            return info

    def load_info(self) -> RunInfo | None:
        path = self.root_directory / RUN_INFO_FILE
        try:
            data = read_yaml(path)
        except FileNotFoundError:
            return None
        except yaml.YAMLError as error:  # PyYAML's own message spans four lines
            raise StorageError(
                f"{path} is damaged: not valid YAML ({describe_yaml_error(error)}); it records "
                "the space and optimizer the run was started with: restore it (from a copy of "
                "the run), or start over with overwrite_root_directory=True"
            ) from None
        except Exception as error:
            raise StorageError(f"Could not read {path}: {error}") from error
        self._refuse_a_lost_journal()
        if data is None:  # cattrs would say "argument of type 'NoneType' is not iterable"
            raise StorageError(
                f"{path} is empty; it should hold the space and optimizer the run was started with"
            )
        try:
            return self.converter.structure(data, RunInfo)
        except Exception as error:
            raise StorageError(
                f"{path} is not a valid run info file: {structure_error_text(error, 'run_info')}"
            ) from error

    def _refuse_a_lost_journal(self) -> None:
        """Trial folders without the journal: continuing would start over among old files.

        The folders are looked for first: a trial's folder is made after the journal records
        it, so a worker storing the first trial meanwhile is never taken for a lost journal.
        """
        if not any(self.root_directory.glob("configs/config_*")) or self._journal.path.exists():
            return
        raise StorageError(
            f"{self.root_directory} holds a run ({RUN_INFO_FILE}, configs/) but not its journal "
            f"{self._journal.path}, the record of its trials; was it copied without hidden "
            "folders (cp -r run/* leaves .neps_core out)? Restore it (cp -r run/. copy/), or "
            "start over with overwrite_root_directory=True"
        )

    # -- trials -----------------------------------------------------------------------------
    def sync(self) -> TrialHistory:
        """What all workers wrote, with a trial whose journal line was torn or lost shown as
        the next write will record it (see ``FoundInFiles``): a read repairs nothing (the
        run may be read-only, the line a write in progress), but shows no finished trial as
        running until somebody writes."""
        # Threads sharing this instance (one AskAndTell client) share the journal's offset and
        # the history: one reading while another read or appended parsed half lines.
        with self._journal.lock.among_threads():
            history = self._read_new()
            if self._journal.unfinished_tail is not None:  # torn, or another's write under way
                time.sleep(WRITE_UNDER_WAY_SECONDS)  # which ends in microseconds
                history = self._read_new()
            tail = self._journal.unfinished_tail
            if tail is not None and tail != self._torn_tail:  # looked at once: files stay
                self._torn_tail = tail
                logger.warning(
                    "%s ends in an incomplete record of %d bytes (a write killed midway, or one "
                    "in progress): %s; the next write to the run repairs it",
                    self._journal.path,
                    len(tail),
                    describe_torn(tail, history),
                )
                self._found.look_for_torn(tail, history)
            self._found.look_once(history)
            return self._found.view(history)

    def _read_new(self) -> TrialHistory:
        beats = PendingHeartbeats()
        try:
            for line, record in self._journal.read_new():
                if HEARTBEAT in record:
                    beats.add(record)
                    continue
                trial = self._structure(record, line)
                beats.superseded(trial.id)
                self._history.put(trial)
                self._files.read_from_others(trial)
        finally:  # a damaged line stops the read; the beats before it were read all the same
            beats.apply(self._history)
        return self._history

    def transact(self, change: Change) -> list[Trial]:
        with self._locked():  # excludes this process's other threads too
            torn = self._journal.repair_torn_tail()
            history = self._read_new()
            if torn is not None:
                self._recover_torn(torn, history)
            self._found.look_once(history)
            for lost in self._found.unrecorded(history):
                self._recover(lost, history, "was lost (a crash without fsync?)")
            self._restore_missing_views(history)
            trials = [self._ended_by_its_files(history, t) for t in change(history)]
            if trials:
                self._journal.append([self._record(history, t) for t in trials])
                for trial in trials:
                    history.put(trial)
                    self._write_views(trial)  # under the lock, so views never go back in time
        return trials

    def _recover_torn(self, torn: bytes, history: TrialHistory) -> None:
        """Say which record the repair of the journal cut off, and record again the final
        version of its trial that the trial's files hold, if they do."""
        kept = self._journal.path.with_suffix(".torn")
        logger.warning(
            "Repaired %s: removed an incomplete last line of %d bytes left by an interrupted "
            "write (kept in %s): %s",
            self._journal.path,
            len(torn),
            kept,
            describe_torn(torn, history),
        )
        trial = self._found.look_for_torn(torn, history)
        self._recover(trial, history, f"was torn (kept in {kept})")

    def _recover(self, trial: Trial | None, history: TrialHistory, how: str) -> None:
        """Record again the final version of a trial whose journal line was torn or lost,
        from the files its writer wrote after it (see ``FoundInFiles``): a result is kept."""
        if trial is None:
            return
        self._journal.append([self._unstructure(trial)])
        history.put(trial)
        self._say_recovered(trial, how)

    def _say_recovered(self, trial: Trial, how: str) -> None:
        directory = self.trial_directory(trial.id)
        logger.warning(
            "Recovered the final version (%s) of trial %s from %s and %s: its journal record %s",
            trial.state.value,
            trial.id,
            directory / "report.yaml",
            directory / "metadata.yaml",
            how,
        )

    def _ended_by_its_files(self, history: TrialHistory, trial: Trial) -> Trial:
        """``trial``, or, where it ends an attempt unfinished (a dead worker's, re-queued or
        CRASHED), the attempt's final version its files hold: the journal line of that result
        was lost whole, without a torn tail to recover it by (see ``torn_record``). One look
        at one file per attempt ended by others, which is rare: no cost per sample."""
        before = history.get(trial.id)
        if before is None or before.state is not TrialState.EVALUATING:
            return trial
        ends = trial.state in (TrialState.PENDING, TrialState.CRASHED)
        if not ends and trial.attempts == before.attempts:  # its worker's heartbeat or result
            return trial  # (not re-queued and claimed again in one change)
        ended = ended_attempt(before, self.trial_directory(trial.id), self.converter)
        if ended is None:
            return trial
        instead = "re-queued" if trial.state is not TrialState.CRASHED else "marked crashed"
        self._say_recovered(
            ended, f"was lost (a crash without fsync?), so it is kept, not {instead}"
        )
        return ended

    # -- helpers ----------------------------------------------------------------------------
    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return self._journal.lock.held()

    def close(self) -> None:
        self._journal.close()

    def _record(self, history: TrialHistory, trial: Trial) -> dict[str, Any]:
        """The journal line of ``trial``'s new version: a heartbeat line where it only moves
        ``last_heartbeat`` of the version in ``history``, else the whole trial."""
        return heartbeat_record(history.get(trial.id), trial) or self._unstructure(trial)

    def _unstructure(self, trial: Trial) -> dict[str, Any]:
        plain = to_plain(self.converter.unstructure(trial))
        assert isinstance(plain, dict)
        return plain

    def _structure(self, record: dict[str, Any], line: int) -> Trial:
        """A trial from its journal record on ``line``; a damaged record becomes a CORRUPTED
        trial, or, without the trial's id, an error."""
        try:
            return self.converter.structure(record, Trial)
        except Exception as error:
            trial_id = record.get("id")
            if not isinstance(trial_id, str):
                raise StorageError(
                    f"{self._journal.path}, line {line}: a record without a trial id is "
                    f"damaged: {structure_error_text(error, 'trial')}"
                ) from error
            where = f"journal record of trial {trial_id} in {self._journal.path}"
            return damaged_trial(trial_id, record, where, error)

    def _restore_missing_views(self, history: TrialHistory) -> None:
        """Write the files of finished trials a killed writer left without them.

        A record reaches the journal before its files, both under the lock; a process killed
        in between leaves a result that ``status`` shows but no ``metadata.yaml`` for people
        to read. Under the lock, every final record read from others (all of them, the first
        time) has its files unless its writer died: one look each (see ``TrialFiles``).
        """
        final = [trial for trial in self._files.to_look_at(history) if trial.state.is_final]
        for trial in self._files.without_file(final, "metadata.yaml"):
            self._write_views(trial)

    def _write_views(self, trial: Trial) -> None:
        """config.yaml when a trial is created; metadata.yaml and report.yaml when it is final.

        Intermediate versions (claims, heartbeats) only go to the journal: every file created
        costs ~0.1 ms on common file systems, and these files are for people, not the run.
        None for a corrupted trial (see ``TrialFiles``).
        """
        if trial.state is TrialState.CORRUPTED:
            return
        directory = self.trial_directory(trial.id)
        try:
            self._files.write_config(trial)
            if trial.state.is_final:  # the report first: a final metadata.yaml implies it
                record = self._unstructure(trial)
                report = record.pop("report")
                record.pop("config")
                if report is not None:
                    write_atomic(directory / "report.yaml", dump_yaml(report))
                write_atomic(directory / "metadata.yaml", dump_yaml(record))
        except OSError as error:
            # The journal already holds the record; the views are a convenience.
            logger.warning(
                "Could not write the files of trial %s in %s: %s", trial.id, directory, error
            )
