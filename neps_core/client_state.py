"""What an ``AskAndTell`` client shares with its heartbeat thread, and its release once dropped.

NePS's ``AskAndTell`` has no ``close()``, so NePS-style code (a function that makes a client,
asks, tells and returns) drops its clients unclosed. A heartbeat thread holding the client
(through a bound method) would keep it reachable until the process exits, and with it the
thread, the storage's open files and the client's presence in the root, which refuses an
overwrite of that root. So the thread holds only ``HeldTrials``, and ``release_when_dropped``
releases what a collected client held, leaving its asked, untold trials as ``close()`` does:
``evaluating``, re-queued by the next client once their heartbeat is ``stale_after`` old.
Nothing the client holds refers back to it, so it goes with its last reference, as an open
file does, not at some later run of the cycle collector (an overwrite right after a notebook
cell ran again would still be refused).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
import weakref

from neps_core.heartbeat import Heartbeat
from neps_core.run_context import RunContext


class HeldTrials:
    """The trials a client asked and has not told yet, and the thread heartbeating them."""

    def __init__(self) -> None:
        self.start_over()

    def start_over(self) -> None:
        """No trials, no thread: also in a forked child, where the parent's are not its own."""
        self.lock = threading.Lock()  # what the heartbeat thread reads and tell() changes
        self.asked_at: dict[str, float] = {}  # trial id -> when it was asked (monotonic)
        self.heartbeat: Heartbeat | None = None

    def running(self) -> set[str]:
        """The ids of the asked, untold trials."""
        with self.lock:
            return set(self.asked_at)

    def start_heartbeat(self, context: RunContext) -> None:
        """Heartbeat the asked trials from now on (once started, until the client is done)."""
        if self.heartbeat is None:
            self.heartbeat = Heartbeat(
                context.open_storage,
                context.worker_id,
                context.settings.heartbeat_interval,
                running=self.running,
            )
            self.heartbeat.__enter__()


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
    so the heartbeat thread is told to end, not waited for (it may be waiting for the run's
    lock, held by this very thread through another handle); it closes its own storage."""
    if held.heartbeat is not None:
        held.heartbeat.end()
    untold = list(held.asked_at)  # in the order asked; not under held.lock, which this very
    # thread may hold: the collector can run inside the heartbeat's call of running()
    if untold:
        warnings.warn(
            f"An AskAndTell client of {context.root_directory} (worker {context.worker_id}) "
            f"was dropped without close() while trials {', '.join(untold)} it asked were not "
            "told: they stay evaluating (any client may still tell them by id) until their "
            f"heartbeat is {context.settings.stale_after:g} s old, then they are re-queued. "
            "Keep the client, or close() it when done",
            ResourceWarning,
            stacklevel=2,
        )
    release(context, presence)
