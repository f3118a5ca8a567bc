"""The mark of a root directory that a migration is writing into.

``migrate_run`` reserves its destination before it writes anything there: it locks the
directory (``flock``) and creates :data:`MIGRATION_MARKER` exclusively, and it removes both
once the copy is complete. So two migrations into one destination cannot both write (nor the
loser clean up the winner's copy), and whoever else finds the marker knows the directory holds
no run but a copy being made, or a half-made one a killed migration left behind; the lock
tells the two apart (the kernel drops the lock of a killed process).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from neps_core.presence import FLOCK_UNSUPPORTED

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MIGRATION_MARKER = ".neps_core_migrating"

MigrationState = Literal["running", "interrupted", "unknown"]


def lock_for_migration(root: Path) -> int | None:
    """A descriptor of ``root`` holding its exclusive migration lock; ``None`` where ``flock``
    is not supported.

    Raises:
        BlockingIOError: Another process holds the lock.
    """
    return _lock(root, exclusive=True)


def unlock(descriptor: int | None) -> None:
    """Release the lock ``lock_for_migration`` took, keeping ``descriptor`` open."""
    if descriptor is not None and fcntl is not None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)


def migration_state(root: Path) -> MigrationState | None:
    """Whether a migration is writing into ``root`` (``"running"``), was stopped half-way
    (``"interrupted"``), one of the two (``"unknown"``: no ``flock``), or neither (``None``)."""
    if not (root / MIGRATION_MARKER).exists():
        return None
    try:
        descriptor = _lock(root, exclusive=False)
    except BlockingIOError:
        return "running"
    except OSError:
        return "unknown"
    if descriptor is None:
        return "unknown"
    try:  # no migration can start or end while this lock is held: the marker is a leftover
        return "interrupted" if (root / MIGRATION_MARKER).exists() else None
    finally:
        os.close(descriptor)


def describe_migration(root: Path, state: MigrationState, database: str | None) -> str:
    """Why ``root`` in ``state`` is no run, and what to do; ``database``: the URL of the
    database the migration writes to, if it was given one."""
    source = _source(root)
    if state == "running":
        return (
            f"{root} is no run yet: a migration (neps-core migrate) is copying the run "
            f"{source} into it right now; wait until it has finished"
        )
    delete = f"delete {root}" + (f" and the database {database}" if database else "")
    stopped = (
        f"a migration (neps-core migrate) copying the run {source} into {root} was stopped "
        f"before it finished (it left {MIGRATION_MARKER} there), so it holds an incomplete "
        "copy, not a run"
    )
    if state == "interrupted":
        return f"{stopped[0].upper()}{stopped[1:]}. Nothing uses it: {delete}, then migrate again"
    return (
        f"Either a migration is writing into {root} right now, or {stopped}. If no "
        f"neps-core migrate is running, {delete}, then migrate again"
    )


def write_source(descriptor: int, source: Path) -> None:
    """Record in the marker (open as ``descriptor``) which run is being copied."""
    os.write(descriptor, str(source.resolve()).encode("utf-8"))


def _source(root: Path) -> str:
    try:
        return (root / MIGRATION_MARKER).read_text(encoding="utf-8").strip() or "(unknown)"
    except (OSError, UnicodeDecodeError):
        return "(unknown)"


def _lock(root: Path, *, exclusive: bool) -> int | None:
    if fcntl is None:  # pragma: no cover - Windows
        return None
    descriptor = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise
    except OSError as error:
        os.close(descriptor)
        if error.errno not in FLOCK_UNSUPPORTED:
            raise
        return None
    return descriptor
