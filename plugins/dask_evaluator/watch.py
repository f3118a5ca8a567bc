"""What the dask workers run, learnt without ever waiting on a busy one.

A worker answers a question (``client.run``) on its event loop, and an evaluation that holds
the GIL (a long C loop such as ``sum(range(10**10))``) stops that loop: asking it blocked the
evaluator's ``wait()`` until the evaluation ended by itself, so its timeout was never enforced
and no other trial was collected meanwhile. Here each worker is asked from a thread of its own,
one question at a time, and a worker silent for ``SILENCE`` seconds is reported as such; its
nanny, a process of its own, still answers and ends it (``end_worker_processes``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from typing import Any

#: Seconds without an answer after which a worker counts as held by an evaluation.
SILENCE = 1.0
#: Seconds a question to a worker ended here, whose client closed first, hushes its error.
HUSHED_AT_MOST = 60.0
#: A question in flight: when it was asked, and the answer to come (keys, when answered).
_Question = tuple[float, "concurrent.futures.Future[tuple[list[str], float]]"]


def _executing_keys(dask_worker: Any) -> list[str]:
    """Run on each dask worker: the id of its process (a worker restarted at the same address
    has another), then the keys of the tasks it is executing (not just holding)."""
    return [str(dask_worker.id), *(str(task.key) for task in dask_worker.state.executing)]


def _kill_worker_process(dask_worker: Any) -> None:
    """Run on a nanny: kill its worker process at once, as a thread holding the GIL would not
    let it end itself; the nanny unregisters it and starts a fresh one."""
    if dask_worker.pid is not None:
        os.kill(dask_worker.pid, getattr(signal, "SIGKILL", signal.SIGTERM))


class _QuietAboutEndedWorkers(logging.Filter):
    """Drops the scheduler's error about a question to a worker ended here: our question was
    waiting on it, and its ending is the plan, not a fault next to the trial's timeout.

    Each such question (waiting when the worker was ended, or asked before a fresh worker
    answered at its address) hushes one error only, at its address: the scheduler logs it
    before it answers, so a question answered without it hushes nothing more; one whose client
    closed first hushes at most ``HUSHED_AT_MOST`` seconds (a worker killed fails its
    question at once). A later failure at the address, say of a fresh worker there, shows.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._hushed: list[tuple[str, float]] = []  # (address, until when)

    def hush(self, address: str, question: concurrent.futures.Future[Any]) -> None:
        """Drop the next error about ``address``, unless ``question`` is answered first."""
        entry = (address, time.monotonic() + HUSHED_AT_MOST)
        with self._lock:
            self._hushed.append(entry)
        question.add_done_callback(lambda answered: self._answered(answered, entry))

    def _answered(self, question: concurrent.futures.Future[Any], entry: tuple[str, float]) -> None:
        if not question.cancelled() and question.exception() is not None:
            return  # the client closed before the scheduler answered: its error may still come
        with self._lock, contextlib.suppress(ValueError):
            self._hushed.remove(entry)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        with self._lock:
            now = time.monotonic()
            self._hushed = [(address, until) for address, until in self._hushed if until > now]
            for entry in self._hushed:
                if message.startswith(f"broadcast to {entry[0]} failed"):
                    self._hushed.remove(entry)
                    return False
        return True


#: On the scheduler's logger for good (a worker ended at ``close()`` fails the question
#: waiting on it only after the run returned), but it hushes only what ``hush`` was told.
_QUIET = _QuietAboutEndedWorkers()


class WorkerWatch:
    """Asks dask workers which tasks they execute, each in a thread, never blocking the caller."""

    def __init__(self, client: Any, threads: int) -> None:
        self._client = client
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="neps-core-dask-watch"
        )
        self._asked: dict[str, _Question] = {}
        self._ids: dict[str, str] = {}  # the process id each address last answered with
        self._ended: set[str] = set()  # ids of ended worker processes: they may answer late
        self._ending: set[str] = set()  # addresses of workers ended here, till a fresh answer
        logging.getLogger("distributed.scheduler").addFilter(_QUIET)  # skipped if already there

    def running(
        self, addresses: Iterable[str], patience: float = 0.0
    ) -> tuple[dict[str, tuple[set[str], float]], dict[str, float]]:
        """The keys each worker at ``addresses`` answered it executes (and when it answered),
        and for each one silent for ``SILENCE`` seconds when it was asked; waits up to
        ``patience`` for answers."""
        for address in addresses:
            if address not in self._asked:
                question = self._pool.submit(self._ask, address)
                self._asked[address] = (time.monotonic(), question)
                if address in self._ending:  # the scheduler may still list the ended worker
                    _QUIET.hush(address, question)
        questions = [question for _, question in self._asked.values()]
        concurrent.futures.wait(questions, timeout=patience)
        now = time.monotonic()
        answered: dict[str, tuple[set[str], float]] = {}
        silent: dict[str, float] = {}
        for address, (asked, question) in list(self._asked.items()):
            if question.done():
                del self._asked[address]
                answer, moment = question.result()
                if answer and answer[0] not in self._ended:
                    self._ending.discard(address)  # a fresh worker there: its errors show
                    self._ids[address] = answer[0]
                    answered[address] = (set(answer[1:]), moment)
            elif now - asked >= SILENCE:
                silent[address] = asked
        return answered, silent

    def _ask(self, address: str) -> tuple[list[str], float]:
        """The worker's answer to ``_executing_keys`` (empty if none) and when it came."""
        answer = self._client.run(_executing_keys, workers=[address], on_error="ignore")
        keys = answer.get(address)
        return (keys if isinstance(keys, list) else []), time.monotonic()

    def end_worker_processes(self, addresses: list[str]) -> None:
        """Kill the worker processes at ``addresses`` through their nannies, which answer even
        while the worker's evaluation holds the GIL."""
        self._ending.update(addresses)
        for address in addresses:
            asked = self._asked.pop(address, None)  # a fresh question goes to a new worker
            if asked is not None:
                _QUIET.hush(address, asked[1])
            if address in self._ids:
                self._ended.add(self._ids.pop(address))
        known = self._client.nthreads()
        present = [address for address in addresses if address in known]
        # The scheduler raises KeyError for a worker it no longer has: nothing left to end.
        with contextlib.suppress(KeyError):
            self._client.run(_kill_worker_process, workers=present, nanny=True, on_error="ignore")

    def close(self) -> None:
        """Drop the questions not yet answered (their threads end with the client)."""
        for address, (_, question) in self._asked.items():
            _QUIET.hush(address, question)
        self._asked.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
