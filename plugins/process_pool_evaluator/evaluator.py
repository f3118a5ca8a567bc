"""The ``process_pool`` evaluator: ``n_workers`` local processes from one ``run()`` call.

Design: the evaluator has a capacity of ``n_workers`` and owns that many long-lived worker
processes; the one worker loop of ``run()`` keeps each of them busy with a trial. This fits the
:class:`~neps_core.interfaces.Evaluator` interface as it is (the alternative, N children
each running their own worker loop, would bypass it: no observer hooks, no ``capacity``, and
a second code path for sampling). The results equal those of N separately launched scripts
because the optimizer is a function of the trial history in storage: whether N trials are
evaluating in one worker or in N workers, every ``ask`` sees the same history and claims the
next trial in the same storage transaction.

Each trial runs in a pool process that is its own process group, so a per-trial ``timeout``
kills it (SIGTERM, SIGKILL after ``kill_grace`` seconds) together with anything it started;
a fresh process takes its place. Processes start with ``start_method`` (default ``spawn``:
a fresh interpreter, safe with the worker's heartbeat thread), so ``evaluate_pipeline`` must
be importable (a module-level function of a script guarded by ``if __name__ ==
"__main__"``); closures, and functions defined under that guard, work when ``cloudpickle``
is installed.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.connection
import pickle
import signal
import threading
import time
from typing import Any, ClassVar

import attrs

from neps_core.errors import EvaluationTimeoutError, ProcessEndedError
from neps_core.evaluation import orphan_guardian
from neps_core.evaluation.captured import outcome_of
from neps_core.evaluation.child_runner import RemoteEvaluationError
from neps_core.evaluation.children import STARTUP_ALLOWANCE, how_it_exited
from neps_core.evaluation.main_script import unimportable_script_hidden
from neps_core.evaluation.processes import signal_group
from neps_core.interfaces import EvaluationJob, EvaluationOutcome, Evaluator
from neps_core.validators import at_least, one_of, positive
from neps_core_plugins.process_pool_evaluator.pool_process import dumps_job, serve

START_METHODS = ("spawn", "forkserver", "fork")


class PoolWorkerDiedError(ProcessEndedError, RuntimeError):
    """A pool process died while evaluating (killed by a signal, ``os._exit``, a crash)."""


class PoolClosedError(RuntimeError):
    """``close()`` (another thread's: the interpreter's exit under Ctrl-C) ended the pool
    while this thread's worker waited for its trials, which the worker gives back."""


@attrs.frozen
class ProcessPoolSettings:
    """Options of ``evaluator={"name": "process_pool", ...}``."""

    n_workers: int = attrs.field(default=1, validator=at_least(1))
    timeout: float | None = attrs.field(default=None, validator=positive)
    kill_grace: float = attrs.field(default=5.0, validator=at_least(0))
    start_method: str = attrs.field(default="spawn", validator=one_of(START_METHODS))


@attrs.define
class _Member:
    """One pool process and the trial it is evaluating (if any)."""

    process: Any
    connection: multiprocessing.connection.Connection
    trial_id: str | None = None
    started: float = 0.0
    timeout: float | None = None
    served: int = 0  # trials it reported on

    running: bool = False  # the evaluation itself has started (the imports are done)

    @property
    def deadline(self) -> float | None:
        """When the current trial's timeout runs out.

        It counts from the start of the evaluation; before, from the submission plus
        ``STARTUP_ALLOWANCE`` (a fresh process, the user's imports), so a hang there ends too.
        """
        if self.timeout is None:
            return None
        return self.started + self.timeout + (0.0 if self.running else STARTUP_ALLOWANCE)


class ProcessPoolEvaluator(Evaluator):
    """Keeps ``n_workers`` local processes busy with one trial each."""

    name: ClassVar[str] = "process_pool"
    aliases: ClassVar[tuple[str, ...]] = ("process",)  # DeepHyper's method name
    Settings: ClassVar[type] = ProcessPoolSettings

    def __init__(self, settings: ProcessPoolSettings | None = None) -> None:
        super().__init__(settings)
        self._context = multiprocessing.get_context(self.settings.start_method)
        self._default_start_method = multiprocessing.get_start_method(allow_none=True)
        self._members: list[_Member] = []
        self._dying: list[tuple[Any, float]] = []  # (process, when to SIGKILL it)
        self._finished: list[EvaluationOutcome] = []
        self._cut_short: list[str] = []  # trials close() stopped under a waiting thread
        # close() may run in two threads at once (the exit's beside a worker thread's): the
        # members and the dying are changed by one thread at a time.
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """``n_workers`` trials at once."""
        return int(self.settings.n_workers)

    def submit(self, job: EvaluationJob) -> None:
        """Hand ``job`` to an idle pool process (starting one if needed)."""
        try:
            payload = dumps_job(job)
        except TypeError as error:
            self._finished.append(EvaluationOutcome(trial_id=job.trial.id, error=error))
            return
        member = next((m for m in self._members if m.trial_id is None), None) or self._spawn()
        timeout = job.timeout if job.timeout is not None else self.settings.timeout
        member.trial_id, member.started, member.timeout = job.trial.id, time.monotonic(), timeout
        member.running = False
        member.connection.send_bytes(payload)

    def _spawn(self) -> _Member:
        parent_end, child_end = self._context.Pipe(duplex=True)
        # Not daemonic: an evaluation may start processes of its own (a DataLoader, a Pool),
        # which a daemonic process may not. close() ends the pool, also at the exit of a
        # script that never called it: registered after a process started, so after
        # multiprocessing's own handler, it runs first (that one waits for non-daemonic
        # processes, which an idle pool process would never end by itself).
        arguments = (child_end, self._default_start_method)
        process = self._context.Process(target=serve, args=arguments, daemon=False)
        orphan_guardian.prepare()
        with unimportable_script_hidden():  # a script read from stdin
            process.start()
        orphan_guardian.guard(process.pid)  # busy, it would outlive a SIGKILLed worker
        atexit.unregister(self.close)
        atexit.register(self.close)
        child_end.close()
        member = _Member(process, parent_end)
        self._members.append(member)
        return member

    def wait(self, timeout: float | None = None) -> list[EvaluationOutcome]:
        """Collect finished trials; enforce timeouts; replace processes that died.

        What the pipes hold is read before any timeout is enforced: while this process was
        busy elsewhere (an observer's hook), a deadline may have passed after a result came.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished:
            self._collect_ready(0.0)
            self._enforce_timeouts()
            if self._finished or not self._busy():
                break
            self._collect_ready(self._step(self._busy(), deadline))
            if deadline is not None and time.monotonic() >= deadline:
                break
        with self._lock:
            self._reap_dying(block=False)
        finished, self._finished = self._finished, []
        if not finished and self._cut_short:
            raise PoolClosedError(
                f"the process_pool evaluator was closed while trial(s) "
                f"{', '.join(self._cut_short)} were evaluating"
            )
        return finished

    def _busy(self) -> list[_Member]:
        return [m for m in self._members if m.trial_id is not None]

    def _collect_ready(self, timeout: float | None) -> None:
        """Read every busy process's message (or death) that arrives within ``timeout``."""
        busy = self._busy()
        try:
            ready = multiprocessing.connection.wait(
                [m.connection for m in busy] + [m.process.sentinel for m in busy], timeout=timeout
            )
        except OSError:  # close() closed a pipe meanwhile: wait() says why it stops
            if not self._cut_short:
                raise
            return
        for member in busy:
            if member.connection in ready or member.process.sentinel in ready:
                self._collect(member)

    @staticmethod
    def _step(busy: list[_Member], deadline: float | None) -> float | None:
        """How long to block: until the caller's deadline or the next trial timeout."""
        moments = [m.deadline for m in busy if m.deadline is not None]
        if deadline is not None:
            moments.append(deadline)
        return None if not moments else max(0.0, min(moments) - time.monotonic())

    def _collect(self, member: _Member) -> None:
        trial_id = member.trial_id
        assert trial_id is not None
        try:
            message = member.connection.recv_bytes()
        except (EOFError, OSError):
            if member not in self._members:  # close() ended it (another thread) and reaps it
                return
            member.process.join(1.0)  # the pipe closes a moment before the exit code is known
            hint = (
                "; a pool process that dies at once often re-ran an unguarded script: put "
                "run() under `if __name__ == '__main__':` (its own error is on stderr)"
                if member.served == 0 and not member.running  # died before evaluating
                else ""
            )
            error = PoolWorkerDiedError(
                f"the pool process (pid {member.process.pid}) evaluating trial {trial_id} "
                f"{how_it_exited(member.process.exitcode)}{hint}"
            )
            self._retire(member, error, None)
            return
        try:
            reply = pickle.loads(message)
        except Exception as problem:  # a result whose class cannot be rebuilt here
            unreadable = RemoteEvaluationError(
                f"the reply for trial {trial_id} cannot be read in the parent process: "
                f"{type(problem).__name__}: {problem}"
            )
            reply = ("error", trial_id, unreadable, None, time.monotonic() - member.started)
        if reply[0] == "started":  # the evaluation itself begins now
            member.started, member.running = time.monotonic(), True
            if member.connection.poll():  # its reply may be right behind
                self._collect(member)
            return
        kind, _, value, *rest = reply  # rest: [traceback,] duration (the pool process's clock)
        captured = (kind, value, rest[0] if kind == "error" else None, rest[-1])
        # Sent after its deadline, read late (this process was busy): a timeout all the same.
        self._finished.append(outcome_of(trial_id, captured, timeout=member.timeout))
        member.trial_id, member.timeout = None, None
        member.served += 1

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for member in list(self._members):
            deadline = member.deadline
            if member.trial_id is not None and deadline is not None and now >= deadline:
                assert member.timeout is not None
                error = EvaluationTimeoutError(
                    member.timeout, f"its pool process (pid {member.process.pid}) was killed"
                )
                self._retire(member, error, None)

    def _retire(self, member: _Member, error: BaseException, trace: str | None) -> None:
        """Fail the member's trial, kill its process group and drop it from the pool; one that
        ``close()`` took meanwhile is left to it (its trial is cut short, not failed)."""
        assert member.trial_id is not None
        with self._lock:
            if member not in self._members:
                return
            self._members.remove(member)
            self._dying.append((member.process, time.monotonic() + self.settings.kill_grace))
        self._finished.append(
            EvaluationOutcome(
                trial_id=member.trial_id,
                error=error,
                traceback=trace,
                duration=time.monotonic() - member.started,
            )
        )
        member.connection.close()
        signal_group(member.process.pid, signal.SIGTERM)

    def _reap_dying(self, block: bool) -> None:
        """Reap retired processes; SIGKILL (with their groups) those past their grace (the
        caller holds the lock)."""
        still: list[tuple[Any, float]] = []
        for process, kill_at in self._dying:
            if block:
                process.join(max(0.0, kill_at - time.monotonic()))
            if process.exitcode is None and time.monotonic() < kill_at:
                still.append((process, kill_at))
                continue
            signal_group(process.pid, signal.SIGKILL, leader=process.exitcode is None)
            process.join()
            orphan_guardian.release(process.pid)
        self._dying = still

    def close(self) -> None:
        """Stop every pool process: idle ones exit, busy ones are killed with their groups.

        Harmless twice or from two threads at once; a thread waiting for the trials it cut
        short is told so by ``wait`` (``PoolClosedError``), not with their failure.
        """
        with self._lock:
            members, self._members = self._members, []
            for member in members:
                if member.trial_id is None:
                    with contextlib.suppress(OSError):
                        member.connection.send_bytes(b"")  # an idle process exits on this
                else:
                    self._cut_short.append(member.trial_id)
                    signal_group(member.process.pid, signal.SIGTERM)
                member.connection.close()
                self._dying.append((member.process, time.monotonic() + self.settings.kill_grace))
            self._reap_dying(block=True)
        atexit.unregister(self.close)
