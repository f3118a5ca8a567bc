"""An append-only, file-locked journal of trial versions, replayed incrementally.

Every line is one complete JSON record. Writers append under an exclusive lock; readers keep
the byte offset they have read up to and only parse what was appended since (``READ_CHUNK``
bytes at a time), so syncing costs O(new lines), not O(run), in time and bounded memory. A
line without its newline at the end of the file is a write in progress (outside the lock) or
a torn write by a killed process (inside the lock, where it is moved to ``journal.torn`` and
cut off).

A forked child inherits the open files, whose read offset is shared with the parent: one
process's seek would move the other's read. A child opens its own files; what it has read so
far stays valid, as the journal is append-only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from neps_core.errors import StorageError
from neps_core_plugins.disk_storage.locking import ExclusiveLock

logger = logging.getLogger(__name__)

#: Bytes read at a time: a reader's memory stays bounded however much was appended since its
#: last read (all of a finished run, for ``status``), but for one line longer than this.
READ_CHUNK = 1 << 20
_DECODER = json.JSONDecoder()


class Journal:
    """The journal file plus its lock; not thread-safe: ``DiskStorage`` holds the lock's
    thread lock (``lock.among_threads``) around every use."""

    def __init__(self, path: Path, *, lock_timeout: float = 300.0, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock = ExclusiveLock(lock_path, timeout=lock_timeout, guards=self.path)
        self._offset = 0
        self._line_number = 0
        self._reader: BinaryIO | None = None
        self._writer: BinaryIO | None = None
        self._pid = os.getpid()  # the process that opened _reader and _writer
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file read so far
        #: The incomplete last line the last ``read_new`` found (a torn write, or one in
        #: progress), which only a writer may repair; ``None`` when the file ended cleanly.
        self.unfinished_tail: bytes | None = None

    def read_new(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Records appended since the last call, each with its line number (for errors).

        A last line that is a whole record without its newline (dropped by an editor, or about
        to be written) is read too, and again next time: readers may not repair the file.
        """
        self._open_in_this_process()
        if self._reader is None:
            try:
                self._reader = self._open_journal("rb")
            except FileNotFoundError:
                return
        self._reader.seek(self._offset)
        pending = b""  # read, but not yet up to a newline
        while block := self._reader.read(READ_CHUNK):
            pending += block
            end = pending.rfind(b"\n") + 1
            lines = pending[:end].splitlines()
            for number, raw in enumerate(lines, start=self._line_number + 1):
                yield number, self._parse(raw, number)
            # Only now: a damaged line stops the read, and the next read names the same line.
            self._offset += end
            self._line_number += len(lines)
            pending = pending[end:]
        last = _whole_record(pending)
        self.unfinished_tail = pending if pending and last is None else None
        if last is not None:
            yield self._line_number + 1, last

    def repair_torn_tail(self) -> bytes | None:
        """Cut off an incomplete last line left by a killed writer (call with the lock held),
        and return it, for the caller to say which record it began and recover what it can.

        A last line that is a whole record without its newline is completed instead: no prefix
        of a JSON object is itself one, so nothing half-written is kept. Only the file this
        journal has read is repaired: ``_offset`` means nothing in another one.
        """
        found = self._journal_read_so_far()
        if found is None or found.st_size == 0:
            return None
        try:
            return self._repair(found.st_size)
        except OSError as error:  # a read-only journal, a full disk
            raise StorageError(
                f"Could not check the end of the journal {self.path}: {error}"
            ) from error

    def _repair(self, size: int) -> bytes | None:
        with open(self.path, "rb") as reader:  # writable only where a repair is due
            reader.seek(size - 1)
            if reader.read(1) == b"\n":
                return None
        with self._open_journal("r+b") as handle:
            handle.seek(self._offset)
            tail = handle.read()
            cut = self._offset + tail.rfind(b"\n") + 1
            handle.seek(cut)
            torn = handle.read()
            if _whole_record(torn) is not None:  # whole but for its newline: keep it
                handle.write(b"\n")
                logger.warning("Repaired %s: added the newline its last record lacked", self.path)
                return None
            with open(self.path.with_suffix(".torn"), "ab") as keep:
                keep.write(torn + b"\n")
            handle.truncate(cut)
        return torn  # the caller says what it was

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append records durably (call with the lock held, after reading up to the end)."""
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
        self._open_in_this_process()
        self._journal_read_so_far()
        try:
            if self._writer is None:
                # Unbuffered: a failed write (a full disk) leaves nothing behind to flush later.
                self._writer = self._open_journal("ab", buffering=0)
            remaining = memoryview(data)
            while remaining:
                remaining = remaining[self._writer.write(remaining) or 0 :]
            if self.fsync:
                os.fsync(self._writer.fileno())
        except OSError as error:
            raise StorageError(f"Could not append to the journal {self.path}: {error}") from error
        # The records are applied by the caller; skip them on the next read.
        self._offset += len(data)
        self._line_number += len(records)

    def _open_journal(self, mode: str, buffering: int = -1) -> BinaryIO:
        """Open the journal at ``path``, refused if it is not the file read so far."""
        handle = cast(BinaryIO, open(self.path, mode, buffering=buffering))  # noqa: SIM115
        try:
            self._check_identity(os.fstat(handle.fileno()))
        except StorageError:
            handle.close()
            raise
        return handle

    def _journal_read_so_far(self) -> os.stat_result | None:
        """The ``stat`` of the journal at ``path`` (``None``: there is none); an error if it
        is no longer the file this instance read or wrote.

        The root was deleted (or the journal moved or replaced) while this process ran: the
        open file would take every later result without a word, and they would be lost; and
        the offset read so far belongs to the old file, where a repair would damage the new.
        """
        try:
            on_disk: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            on_disk = None
        if self._identity is not None:
            self._check_identity(on_disk)
        return on_disk

    def _check_identity(self, found: os.stat_result | None) -> None:
        identity = None if found is None else (found.st_dev, found.st_ino)
        if self._identity is None:
            self._identity = identity
        elif identity != self._identity:
            raise StorageError(
                f"The journal {self.path} was deleted or replaced while this run used it "
                "(its root directory removed or overwritten?): results are not recorded"
            )

    def close(self) -> None:
        """Close the open file handles and the lock descriptor."""
        self._close_files()
        self.lock.close()

    def _open_in_this_process(self) -> None:
        """In a forked child: close the parent's files, to open them again when used."""
        if self._pid != os.getpid():
            self._close_files()
            self._pid = os.getpid()

    def _close_files(self) -> None:
        for handle in (self._reader, self._writer):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        self._reader = self._writer = None

    def _parse(self, raw: bytes, line_number: int) -> dict[str, Any]:
        try:
            record = _loads(raw)
        except ValueError as error:
            raise StorageError(
                f"{self.path}, line {line_number}: not a valid journal record "
                f"({error}); the journal was edited or damaged"
            ) from error
        if not isinstance(record, dict):
            raise StorageError(f"{self.path}, line {line_number}: not a JSON object")
        return record


def _loads(raw: bytes) -> Any:
    """``json.loads(raw)`` for one line, without its overhead per call (detecting the encoding,
    a wrapper): 2.4 us instead of 5.1 for a heartbeat line, of which a long run has millions."""
    try:
        text = raw.decode()
        value, end = _DECODER.raw_decode(text)
        if end == len(text):
            return value
    except ValueError:
        pass
    return json.loads(raw)  # whitespace around the value, another encoding; or the error


def _whole_record(raw: bytes) -> dict[str, Any] | None:
    """``raw`` as a record if it is one whole JSON object (no prefix of one is)."""
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
