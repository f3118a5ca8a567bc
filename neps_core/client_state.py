"""What an ``AskAndTell`` client shares with its heartbeat thread, and its release once dropped.

NePS's ``AskAndTell`` has no ``close()``, so NePS-style code (a function that makes a client,
asks, tells and returns) drops its clients unclosed. A heartbeat thread holding the client
(through a bound method) would keep it reachable until the process exits, and with it the
thread, the storage's open files and the client's presence in the root, which refuses an
overwrite of that root. So the thread holds only ``HeldTrials``, and ``release_when_dropped``
releases what a collected client held. A scheduler may ask in a function and tell the results
by id from another client later, so a dropped client's asked, untold trials stay taken while
the process lives: its thread beats them on, with the client's presence in the root (without
it, this machine's trials would count as their worker's gone), until the storage shows each
told; only then are the thread and presence released. Nothing the client holds refers back to
it, so it goes with its last reference, as an open file does, not at some later run of the
cycle collector (an overwrite right after a notebook cell ran again would still be refused).
A tell in this process (``AskAndTell.tell``, ``save_pipeline_results``) has such a thread check
at once (``check_dropped``), so a dropped client whose last trial it told has left the root
when the tell returns.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from pathlib import Path

from neps_core.heartbeat import Heartbeat
from neps_core.run_context import RunContext

#: Dropped clients' trials still beaten in this process. Changed only by single set
#: operations (atomic): a finalizer may add to it in any thread, at any point.
_DROPPED: set[HeldTrials] = set()
if hasattr(os, "register_at_fork"):  # a forked child beats none of them: its tells wait for none
    os.register_at_fork(after_in_child=_DROPPED.clear)


class HeldTrials:
    """The trials a client asked and has not told yet, and the thread heartbeating them."""

    def __init__(self) -> None:
        self.start_over()

    def start_over(self) -> None:
        """No trials, no thread: also in a forked child, where the parent's are not its own."""
        self.lock = threading.Lock()  # the asked trials, and what tell() changes with them
        self.asked_at: dict[str, float] = {}  # trial id -> when it was asked (monotonic)
        self.heartbeat: Heartbeat | None = None
        self._handed_over: contextlib.ExitStack | None = None  # a dropped client's presence
        self._root: Path | None = None  # its root, once dropped (resolved)

    def running(self) -> set[str]:
        """The ids of the asked, untold trials."""
        with self.lock:
            return set(self.asked_at)

    def start_heartbeat(self, context: RunContext) -> None:
        """Heartbeat the asked trials from now on (once started, until the client is done)."""
        if self.heartbeat is None:
            self.heartbeat = Heartbeat(
                context.open_storage,
                context.root_directory,
                context.worker_id,
                context.settings.heartbeat_interval,
                running=self.running,
                gone=self._told,
                ended=self._leave,
            )
            self.heartbeat.__enter__()

    def beat_on_when_dropped(
        self, root: Path, presence: contextlib.ExitStack
    ) -> contextlib.ExitStack:
        """Once the client of ``root`` is dropped, what to release at once: ``presence``
        unless untold trials are beaten on, then the thread releases it after the last is told."""
        heartbeat = self.heartbeat
        if heartbeat is None or not heartbeat.is_alive() or not self.asked_at:
            if heartbeat is not None:
                heartbeat.end()
            return presence
        self._root, self._handed_over = root.resolve(), presence  # the thread ends only after this
        _DROPPED.add(self)
        return contextlib.ExitStack()

    def check_if_beating(self, root: Path, trial_id: str) -> None:
        """A dropped client's thread beating ``trial_id`` of ``root`` (resolved) beats now."""
        if self._root == root and self.heartbeat is not None and trial_id in self.running():
            self.heartbeat.check_now()

    def _told(self, told: set[str]) -> None:
        """Trials the storage shows told (or no longer this worker's): a dropped client's
        are forgotten here, and beating ends with the last (a live client settles its own)."""
        if self._handed_over is None or self.heartbeat is None:
            return
        with self.lock:
            for trial_id in told:
                self.asked_at.pop(trial_id, None)
            done = not self.asked_at
        if done:
            self.heartbeat.end()

    def _leave(self) -> None:
        """In the thread, as it ends: a dropped client's presence goes with it."""
        _DROPPED.discard(self)
        if self._handed_over is not None:
            self._handed_over.close()


def check_dropped(root: Path, trial_id: str) -> None:
    """After ``trial_id`` of ``root`` was told in this process: the dropped clients beating it
    check at once, so one left with nothing to beat is gone, presence and all, on return.
    Roots compare resolved: a tell through a symlink or ``x/..`` is a tell to the same run."""
    if not _DROPPED:  # as in nearly every process: no path to resolve on every tell
        return
    resolved = root.resolve()
    for held in _DROPPED.copy():
        held.check_if_beating(resolved, trial_id)


def release(context: RunContext, presence: contextlib.ExitStack) -> None:
    """Close the client's evaluator and storage and leave its root: all of them, come what may."""
    try:
        with context.plugins.errors_of("evaluator", type(context.evaluator)):
            context.evaluator.close()
    finally:
        try:
            context.storage.close()
        finally:
            presence.close()


def release_when_dropped(
    client: object, held: HeldTrials, context: RunContext, presence: contextlib.ExitStack
) -> weakref.finalize:
    """Release what ``client`` holds once it is collected; ``close()`` detaches this.

    Not at the interpreter's exit, which releases it all anyway: waiting there for a heartbeat
    blocked on the run's lock could delay the exit by the lock's timeout.
    """
    finalizer = weakref.finalize(client, _release_dropped, held, context, presence)
    finalizer.atexit = False
    return finalizer


def _release_dropped(held: HeldTrials, context: RunContext, presence: contextlib.ExitStack) -> None:
    """Run where the client goes, in any thread (the heartbeat's own, too) and at any point:
    so the heartbeat thread is not waited for (it may be waiting for the run's lock, held by
    this very thread through another handle) nor its lock taken (this very thread may hold
    it: the collector can run inside the heartbeat's call of ``running()``)."""
    release(context, held.beat_on_when_dropped(context.root_directory, presence))
