"""Who holds or awaits a lock on a file, read from Linux's lock table (``/proc/locks``).

Presence lists the workers of a run from it; a worker kept waiting for the storage lock names
the process in its way (a suspended worker holds the lock until it is resumed or killed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

#: How ``holders`` marks a stopped process, which holds its locks until resumed or ended.
STOPPED = ", which is stopped (SIGSTOP or Ctrl-Z?)"


class FileLock(NamedTuple):
    """One entry of the lock table: ``kind`` ``"FLOCK"`` or ``"POSIX"``, ``mode`` ``"READ"``
    or ``"WRITE"``, the ``pid`` as this process sees it, and whether it is ``waiting``."""

    kind: str
    mode: str
    pid: str
    waiting: bool


def locks_on(path: Path) -> list[FileLock] | None:
    """The locks held or awaited on ``path``; ``None`` where that is not known (not Linux,
    no such file).

    A file system whose locks the table shows under another device, or a process of another
    pid namespace (pid ``0`` or one of this namespace's), give a wrong answer the caller must
    allow for.
    """
    try:
        held = os.stat(path)
        table = Path("/proc/locks").read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    file_id = f"{os.major(held.st_dev):02x}:{os.minor(held.st_dev):02x}:{held.st_ino}"
    found = []
    for fields in map(str.split, table.splitlines()):
        # "1: FLOCK  ADVISORY  READ 4242 08:01:1234 0 EOF"; waiters add a "->" after "1:"
        if file_id in fields and fields.index(file_id) >= 4:
            at = fields.index(file_id)
            waiting = fields[1] == "->"
            found.append(FileLock(fields[at - 4], fields[at - 2], fields[at - 1], waiting))
    return found


def holders(path: Path) -> str:
    """The processes holding a lock on ``path``, for a message: e.g. ``"process 4242 (python
    train.py), which is stopped"``; ``""`` if none is known."""
    locks = locks_on(path) or []
    pids = {lock.pid for lock in locks if not lock.waiting}
    return "; ".join(_described(pid) for pid in sorted(pids, key=int))


def stat_fields(pid: str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (``state`` first, see
    proc(5)); ``None`` where this process cannot read them (gone, hidden, not Linux)."""
    try:  # "pid (comm) state ..."; comm may hold spaces and parentheses, so split after it
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].decode("ascii").split()
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def _described(pid: str) -> str:
    if pid == str(os.getpid()):  # a lock taken through another open of the file, not waiting
        return f"this very process (pid {pid}, through another handle on the run: a thread?)"
    fields = stat_fields(pid)
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
    except OSError:
        fields = None
    if not fields:
        return f"process {pid} (of another container, or gone)"
    shown = command.decode(errors="replace")
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    stopped = STOPPED if fields[0] in {"T", "t"} else ""
    return f"process {pid} ({shown}){stopped}"
