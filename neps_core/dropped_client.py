"""An ``AskAndTell`` client's heartbeat, and how a client dropped without ``close()`` lets go.

Running a notebook cell again rebinds the client's name to a new client: the old one can no
longer be closed. Its heartbeat thread must not keep it alive (it would beat its trials
forever, and its presence would refuse every overwrite), so the thread holds the client's
trial ids only, and once the client is garbage-collected its heartbeat stops, its untold
trials are given back at once (any client may still tell them by id), its storage is closed
and its presence in the root is left.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref

from neps_core.interfaces import Storage
from neps_core.liveness import Heartbeat
from neps_core.run_context import RunContext

#: Seconds the collection of a dropped client waits for its trials to be given back.
GIVE_BACK_WAIT = 5.0


def ids_under(lock: threading.Lock, ids: dict[str, float]) -> set[str]:
    """The keys of ``ids``, read under ``lock`` (what a client's heartbeat beats)."""
    with lock:
        return set(ids)


class ClientHeartbeat:
    """The heartbeat of one client's ``outstanding`` trials, started at its first ask.

    ``close()`` stops it; a client garbage-collected unclosed stops it too and lets go of
    ``context``'s storage and of ``presence``. Nothing here refers to the client. At exit an
    open client is left alone: its trials go stale, as a killed client's do.
    """

    def __init__(
        self,
        client: object,
        context: RunContext,
        presence: contextlib.ExitStack,
        lock: threading.Lock,
        outstanding: dict[str, float],
    ) -> None:
        self._context = context
        self._running = functools.partial(ids_under, lock, outstanding)
        self._started: list[Heartbeat] = []  # shared with the finalizer, which outlives self
        worker_id = context.settings.worker_id
        self._dropped = weakref.finalize(
            client, _let_go, self._started, context.storage, presence, worker_id
        )
        self._dropped.atexit = False

    def start(self) -> None:
        """Start beating, unless it beats already."""
        if not self._started:
            settings = self._context.settings
            heartbeat = Heartbeat(
                self._context.open_storage,
                settings.worker_id,
                settings.heartbeat_interval,
                running=self._running,
            )
            self._started.append(heartbeat.__enter__())

    def stop(self) -> None:
        """Stop beating (``close()``: its trials stay EVALUATING until stale)."""
        self.forget_client()
        for heartbeat in self._started:
            heartbeat.__exit__(None, None, None)

    def forget_client(self) -> None:
        """Do nothing when the client is collected (closed, or a fork's copy of it)."""
        self._dropped.detach()


def _let_go(
    started: list[Heartbeat], storage: Storage, presence: contextlib.ExitStack, worker_id: str
) -> None:
    reason = f"ask-and-tell client {worker_id} was dropped without close()"
    try:
        for heartbeat in started:
            heartbeat.give_back_and_stop(reason, GIVE_BACK_WAIT)
        storage.close()
    finally:
        presence.close()
