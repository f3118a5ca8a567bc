"""The process groups of submitit's local jobs: noted by the job, guarded and ended by the worker.

A local job's processes share the worker's process group, so nothing else reaches what an
evaluation leaves running (a non-daemon thread kept the job's process alive, a process it
started outlived the run). So a local job leads a group of its own and notes it in a file;
that also takes it out of the worker's group, where a kill of that group (a closed terminal)
no longer reaches it. So the job kills its own group as soon as the worker ends (a thread
awaiting the worker's pidfd), and the worker hands the group to the orphan guardian, which
also ends what the job's task left behind once it exited (the thread ended with it). The
file holds the leader's start time beside its pid: a file left by
a killed worker names, once the pid is reused, another process, which is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from neps_core.evaluation import orphan_guardian
from neps_core.evaluation.children import signal_group
from neps_core.lock_table import stat_fields

#: The field of ``/proc/<pid>/stat`` (counted from ``state``) with the process's start time.
_START_TIME = 19


def _start_time(pid: int) -> str | None:
    fields = stat_fields(str(pid))
    return None if fields is None or fields[0] == "Z" else fields[_START_TIME]


@attrs.frozen
class Group:
    """A process group a local job's task leads, as its file notes it."""

    pgid: int
    started: str  # the leader's start time (clock ticks after boot)
    path: Path

    def leader_running(self) -> bool:
        """Whether the task that leads the group still runs (not a zombie, not a newcomer)."""
        return _start_time(self.pgid) == self.started

    def alive(self) -> bool:
        """Whether the group still has processes of this job's (another group with a reused
        number has a leader of another start time: no longer this job's)."""
        leader = stat_fields(str(self.pgid))
        if leader is not None and leader[0] != "Z" and leader[_START_TIME] != self.started:
            return False
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the group if it is still this job's."""
        if self.alive():
            signal_group(self.pgid, signum, leader=False)

    def forget(self) -> None:
        """The group is over: neither guarded nor noted any more."""
        orphan_guardian.release(self.pgid)
        self.path.unlink(missing_ok=True)


def group_file(folder: Path, job_id: str, task: int) -> Path:
    """The file in which task ``task`` of local job ``job_id`` notes its process group."""
    return Path(folder) / f"{job_id}_{task}_group"


def this_worker() -> tuple[int, str | None]:
    """The pid and start time of this process, the worker, for :func:`lead_own_group`."""
    return os.getpid(), _start_time(os.getpid())


def lead_own_group(folder: Path, job_id: str, task: int, worker: tuple[int, str | None]) -> None:
    """Inside the job: lead a process group of its own, note it (pid and start time), and
    end it when ``worker`` (:func:`this_worker`) ends."""
    os.setsid()
    _end_with(*worker)
    pid = os.getpid()
    path = group_file(folder, job_id, task)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(f"{pid} {_start_time(pid)}")
    os.replace(partial, path)  # the worker never reads half a line


def _end_with(worker: int, started: str | None) -> None:
    """SIGKILL this process's group when ``worker`` ends (at once if it already has); where
    pidfds are missing (not Linux), the orphan guardian alone stands in."""
    try:
        handle = os.pidfd_open(worker)
    except ProcessLookupError:
        handle = None
    except (AttributeError, OSError):
        return
    if handle is None or _start_time(worker) != started:  # gone, its pid maybe reused
        os.killpg(0, signal.SIGKILL)
        return
    threading.Thread(target=_kill_group_after, args=(handle,), daemon=True).start()


def _kill_group_after(handle: int) -> None:
    select.select([handle], [], [])  # readable once the process has ended
    os.killpg(0, signal.SIGKILL)


def noted_groups(job: Any) -> list[Group]:
    """The groups the tasks of local ``job`` have noted so far."""
    groups = []
    for path in sorted(Path(job.paths.folder).glob(f"{job.job_id}_*_group")):
        with contextlib.suppress(OSError, ValueError):
            pid, started = path.read_text().split()
            groups.append(Group(int(pid), started, path))
    return groups


def guard_groups(job: Any, guarded: set[int]) -> None:
    """Have the orphan guardian end the groups of ``job`` not in ``guarded`` yet (added) if
    the worker dies first: they left its process group, so its end no longer reaches them."""
    for group in noted_groups(job):
        if group.pgid not in guarded:
            guarded.add(group.pgid)
            orphan_guardian.guard(group.pgid)


def stop_local_job(job: Any) -> None:
    """End a local job and whatever its evaluation started at once: SIGKILL to the process
    groups its tasks noted, or, before they noted one, submitit's cancel (SIGINT to the job)."""
    noted = noted_groups(job)
    for group in noted:
        group.signal(signal.SIGKILL)
        group.forget()
    if not noted and not job.done():
        job.cancel(check=False)


class Lingering:
    """A local job whose result has been read, left to end by itself (at-exit handlers, say a
    tracker syncing its last metrics): its groups get SIGTERM once their leader has exited or
    after ``grace`` seconds, SIGKILL ``grace`` seconds later."""

    def __init__(self, job: Any, grace: float) -> None:
        self._groups = noted_groups(job)
        self._grace = grace
        self._term_at = time.monotonic() + grace
        self._kill_at: float | None = None

    def over(self) -> bool:
        """One step, never blocking: signal what is due; whether nothing of the job is left."""
        now = time.monotonic()
        alive = [group for group in self._groups if group.alive()]
        leaders_done = not any(group.leader_running() for group in alive)
        if alive and self._kill_at is None and (leaders_done or now >= self._term_at):
            for group in alive:
                group.signal(signal.SIGTERM)
            self._kill_at = now + self._grace
        elif alive and self._kill_at is not None and now >= self._kill_at:
            for group in alive:
                group.signal(signal.SIGKILL)
            alive = []
        if alive:
            return False
        for group in self._groups:
            group.forget()
        return True
