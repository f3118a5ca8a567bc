"""SIGTERM and SIGHUP stop a worker the way Ctrl-C does.

Batch systems, ``timeout``, ``docker stop`` and a closed ssh session stop a job with SIGTERM or
SIGHUP, whose default action ends the process on the spot: its running trials stayed
``evaluating`` until ``stale_after``, and evaluations in processes of their own (``subprocess``,
``process_pool``, which start sessions of their own) ran on as orphans. Raising ``SystemExit``
instead lets the worker give its trials back and close its evaluator, which stops them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from neps_core.errors import add_note

logger = logging.getLogger(__name__)

#: The signals that stop a worker; SIGHUP does not exist on Windows.
STOPPING_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class WorkerStopped(SystemExit):
    """A stopping signal arrived: unlike a ``sys.exit()`` inside ``evaluate_pipeline``, which
    ends only its evaluation (a failed trial), this stops the worker."""


def _exit(signum: int, frame: FrameType | None) -> None:
    raise WorkerStopped(128 + signum)  # the exit status a shell reports for a signal


def _stopping_through(handler: Callable[[int, FrameType | None], Any]) -> Callable[..., None]:
    """The application's own handler (a batch job's ``sys.exit`` on SIGTERM) still runs; the
    ``SystemExit`` it raises stops the worker, not only the evaluation it interrupts."""

    def handle(signum: int, frame: FrameType | None) -> None:
        try:
            handler(signum, frame)
        except WorkerStopped:
            raise
        except SystemExit as stop:
            raise WorkerStopped(stop.code) from None

    return handle


@contextlib.contextmanager
def signals_stop_the_worker() -> Iterator[None]:
    """While the block runs, a stopping signal raises ``SystemExit`` in the main thread.

    Only signals left at their default action are taken over; an application's own handler
    stays, its ``SystemExit`` made to stop the worker too. Only in the main thread, the one
    Python delivers signals to.
    """
    taken: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOPPING_SIGNALS:
            current = signal.getsignal(signum)
            if current is signal.SIG_DFL:
                taken[signum] = signal.signal(signum, _exit)
            elif callable(current):
                taken[signum] = signal.signal(signum, _stopping_through(current))
            if signum in taken:
                _BEFORE_ANY_BLOCK.setdefault(signum, taken[signum])
    try:
        yield
    finally:
        for signum, handler in taken.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
            if _BEFORE_ANY_BLOCK.get(signum) is handler:  # the outermost block ends
                del _BEFORE_ANY_BLOCK[signum]


#: While a block of :func:`signals_stop_the_worker` runs: each signal's handler before it.
_BEFORE_ANY_BLOCK: dict[int, object] = {}


def _handlers_of_before_in_a_forked_child() -> None:
    """A process forked inside the block (a ``fork`` pool of the user's) ends on the signals
    as before it: the block's ``SystemExit`` raised in a pool's worker left multiprocessing's
    shared queue lock held, and the pool's ``terminate`` (its SIGTERM) then hung."""
    with contextlib.suppress(ValueError):  # forked from another thread: none were set there
        for signum, handler in _BEFORE_ANY_BLOCK.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
    _BEFORE_ANY_BLOCK.clear()


os.register_at_fork(after_in_child=_handlers_of_before_in_a_forked_child)


def reset_inherited_handlers() -> None:
    """Give a forked process the signal handlers a fresh interpreter starts with.

    A ``fork`` copy of a worker keeps its handlers: SIGTERM raised ``WorkerStopped`` into the
    evaluation instead of ending the process, so a timeout waited for the SIGKILL after
    ``kill_grace``. An ignored signal stays ignored, as it does across ``exec``.
    """
    fresh: dict[int, Callable[..., Any] | signal.Handlers] = {
        signum: signal.SIG_DFL for signum in STOPPING_SIGNALS
    }
    fresh[signal.SIGINT] = signal.default_int_handler
    for signum, handler in fresh.items():
        if callable(signal.getsignal(signum)):
            signal.signal(signum, handler)


@contextlib.contextmanager
def stopping_signal_noticed() -> Iterator[Callable[[], bool]]:
    """While the block runs, take note of the stopping signals (and SIGINT) that arrive; yields
    the question whether one did.

    A handler installed inside ``evaluate_pipeline`` (a checkpoint, then ``sys.exit(128 +
    signum)``: the SLURM pattern) replaced the worker's, so its ``SystemExit`` was taken for
    the function's own ``sys.exit``: a failed trial. Python's C-level handler writes the
    number of every signal with a Python handler to the wakeup fd (``signal.set_wakeup_fd``),
    whichever handler then runs, so the signal is known all the same. Only in the main thread;
    a wakeup fd held before (an event loop's) gets the numbers too. A function that sets a
    wakeup fd of its own (``loop.add_signal_handler``) hides the signals from this one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    reader, writer = socket.socketpair()
    arrived = bytearray()

    def drain() -> bytes:
        with contextlib.suppress(BlockingIOError):
            while chunk := reader.recv(4096):
                arrived.extend(chunk)
        return bytes(arrived)

    with reader, writer:
        reader.setblocking(False)
        writer.setblocking(False)
        before = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        try:
            yield lambda: any(number in drain() for number in _NOTICED)
        finally:
            signal.set_wakeup_fd(before)
            if before != -1 and drain():
                with contextlib.suppress(OSError):
                    os.write(before, bytes(arrived))


#: The signals that make a ``SystemExit`` of the evaluation they interrupt the worker's stop.
_NOTICED = (*STOPPING_SIGNALS, signal.SIGINT)


@contextlib.contextmanager
def one_more_stop_held(stop: BaseException) -> Iterator[None]:
    """While a run stopped by ``stop`` ends (its evaluator ending the evaluations' processes,
    which may take its ``kill_grace``), hold a stopping signal or Ctrl-C.

    A second one (Ctrl-C twice, ``scancel`` then the time limit) ended the process at once by
    the default action, or raised into ``close()`` halfway (a second traceback), leaving the
    pool processes to the orphan guardian. Held, it is said once, and acts once the run has
    ended: an application's own handler runs then; left at its default, it is only noted on
    ``stop`` where that stops the program anyway (``KeyboardInterrupt``, ``SystemExit``).
    A further one acts as before ``run()``, at once. Only in the main thread, the one
    Python delivers signals to.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {number: signal.getsignal(number) for number in _NOTICED}
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)
        _restore(before)
        name = signal.Signals(signum).name
        logger.warning(
            "%s while the run stops: the running evaluations are ended first (their processes "
            "get the evaluator's kill_grace); send it once more to end at once",
            name,
        )
        add_note(stop, f"neps_core: {name} arrived while the run stopped, and waited for it")

    for number, handler in before.items():
        if handler not in (signal.SIG_IGN, None):
            signal.signal(number, hold)
    try:
        yield
    finally:
        _restore(before)
        by_default = held and before[held[0]] in (signal.SIG_DFL, signal.default_int_handler)
        if held and not (by_default and isinstance(stop, (KeyboardInterrupt, SystemExit))):
            signal.raise_signal(held[0])  # as it would have acted, the run ended


def _restore(handlers: dict[int, Any]) -> None:
    for number, handler in handlers.items():
        if handler is not None:
            signal.signal(number, handler)
