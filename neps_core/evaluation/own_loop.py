"""Running a coroutine where an event loop already runs in the calling thread (a Jupyter cell).

``asyncio.run`` is refused there, so the coroutine gets a loop of its own in a helper thread.
The caller blocks until it ends; a Ctrl-C (or ``SystemExit``) of the caller cancels it and
waits a bounded time for it to end, so that the worker gives its trial back only once the
user's code stopped: a re-run in the same kernel would otherwise evaluate the trial a second
time while the first coroutine still writes into its folder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any

#: Seconds a cancelled coroutine is given to end (its ``finally`` blocks, awaited cleanup).
CANCEL_GRACE = 5.0


def run_in_a_loop_of_its_own(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """What ``coroutine`` returns, run by ``asyncio.run`` in a helper thread."""
    result: concurrent.futures.Future[Any] = concurrent.futures.Future()
    started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]]
    started = concurrent.futures.Future()

    async def as_a_task() -> Any:
        task = asyncio.current_task()
        assert task is not None  # asyncio.run runs this as its main task
        started.set_result((asyncio.get_running_loop(), task))
        return await coroutine

    def run() -> None:
        try:
            result.set_result(asyncio.run(as_a_task()))
        except BaseException as error:
            result.set_exception(error)

    # A daemon thread: a coroutine that ignores its cancellation must not hold up the exit. It
    # runs in the caller's context: the trial being evaluated (``trial_context``) is known there.
    caller = contextvars.copy_context()
    helper = threading.Thread(
        target=caller.run, args=(run,), name="neps-core-coroutine", daemon=True
    )
    try:  # a Ctrl-C right after the start, before result() waits, must cancel it too
        helper.start()
        return result.result()
    except BaseException:
        if helper.ident is not None and not result.done():  # interrupted, not its own error
            _cancel(started, helper)
        raise


def _cancel(
    started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]],
    helper: threading.Thread,
) -> None:
    """Cancel the coroutine's task and wait up to ``CANCEL_GRACE`` seconds for its thread."""
    try:
        loop, task = started.result(timeout=CANCEL_GRACE)
    except concurrent.futures.TimeoutError:  # it never started: nothing of it runs
        return
    with contextlib.suppress(RuntimeError):  # it ended meanwhile and its loop is closed
        loop.call_soon_threadsafe(task.cancel)
    helper.join(CANCEL_GRACE)
