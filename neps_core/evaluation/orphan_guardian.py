"""Stop a worker's child processes when the worker dies without stopping them.

A trial's child process runs in a session of its own, so that a timeout can kill everything
it started. That also lets it outlive a worker killed with SIGKILL (or by the OOM killer): it
would go on evaluating, next to the worker that re-runs the re-queued trial in the same
folder. So each worker process starts one guardian process with its first child and tells it,
through a pipe, which process groups are alive. When the pipe closes, however the worker
ended, the guardian stops the groups still listed: SIGTERM, then SIGKILL after ``GRACE``
seconds.

This file is also the guardian's script; it imports only the standard library, so the
guardian starts fast and needs nothing of the worker's environment.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

GRACE = 5.0


class _Link:
    """The worker's end: the pipe to its guardian, started on first use.

    The guardian detaches from the process that starts it, so the worker holds only the pipe's
    file descriptor: nothing to reap, and nothing a forked child would inherit as an object.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: int | None = None
        self._reading: int | None = None  # the guardian's end, open while it starts

    def open(self) -> int:
        with self._lock:
            if self._pipe is None:
                # Both ends are known before the guardian starts (tens of ms): a thread that
                # forks meanwhile leaves a child that closes them (forget_after_fork).
                self._reading, self._pipe = os.pipe()  # not inherited by exec (PEP 446)
                try:
                    _start_guardian(self._reading)
                finally:
                    os.close(self._reading)
                    self._reading = None
                atexit.register(self.close)
            return self._pipe

    def send(self, line: str) -> None:
        with contextlib.suppress(OSError):  # a guardian killed by hand guards nothing
            os.write(self.open(), line.encode())

    def close(self) -> None:
        """End the guardian: a worker that exits normally has stopped its children itself."""
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is not None:
            os.close(pipe)

    def forget_after_fork(self) -> None:
        """A forked child has no children of the worker's: it must not hold the pipe open."""
        self._lock = threading.Lock()
        for end in (self._pipe, self._reading):
            if end is not None:
                with contextlib.suppress(OSError):
                    os.close(end)
        self._pipe = self._reading = None


def _start_guardian(reading: int) -> None:
    """Start the guardian reading the pipe end ``reading``; it detaches before this returns."""
    starter = subprocess.Popen(
        [sys.executable, "-I", __file__],  # isolated: no neps_core/ on sys.path
        stdin=reading,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to the terminal's process group spares it
    )
    starter.wait()


_LINK = _Link()
os.register_at_fork(after_in_child=_LINK.forget_after_fork)


def prepare() -> None:
    """Start the guardian now, before a child: ``guard`` then tells it within microseconds."""
    _LINK.open()


def guard(group: int) -> None:
    """Have the guardian stop process group ``group`` if this worker dies first."""
    _LINK.send(f"+{group}\n")


def release(group: int) -> None:
    """``group`` is gone (its leader was reaped): nothing to stop any more."""
    _LINK.send(f"-{group}\n")


# -- the guardian process -----------------------------------------------------------------------
def _signal(group: int, signum: int) -> bool:
    """Send ``signum`` to ``group`` (or to its leader, before it made its group); alive?"""
    for send in (os.killpg, os.kill):
        try:
            send(group, signum)
            return True
        except ProcessLookupError:
            continue
        except PermissionError:
            return False
    return False


def _stop(groups: set[int]) -> None:
    alive = {group for group in groups if _signal(group, signal.SIGTERM)}
    deadline = time.monotonic() + GRACE
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {group for group in alive if _signal(group, 0)}
    for group in alive:
        _signal(group, signal.SIGKILL)


def main() -> None:
    """Detach, then track ``+group`` / ``-group`` lines until the worker's pipe closes."""
    if os.fork() > 0:
        os._exit(0)  # the worker reaps this process at once and never waits for the guardian
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        text = line.decode().strip()
        if text[:1] == "+":
            groups.add(int(text[1:]))
        elif text[:1] == "-":
            groups.discard(int(text[1:]))
    _stop(groups)


if __name__ == "__main__":
    main()
