"""The ``dask`` evaluator: trials as tasks on a ``dask.distributed`` cluster.

``evaluator={"name": "dask", "address": "tcp://scheduler:8786"}`` submits to a running
cluster (or a ``distributed.Client`` or cluster object: see ``.settings``); without an
``address`` the evaluator starts a ``LocalCluster`` of ``n_workers`` processes (one thread
each) and shuts it down at the end of ``run()``. ``n_workers`` is also the capacity: at most
that many trials of this worker are on the cluster at once (default: the cluster's thread
count), so one worker never floods a shared scheduler.

A per-trial ``timeout`` (counted from when a worker starts running the task, not while it
waits or queues for one) cancels the task and, since a running Python thread cannot be
stopped, has the worker's nanny kill the dask worker process that runs it and start a fresh
one (``kill_on_timeout``, needs the nanny every ``dask worker`` and
``LocalCluster(processes=True)`` has); this works even while the evaluation holds the GIL
(see ``.watch``). Needs the extra
``neps-core[dask]``; dask is imported only when this evaluator is used.
"""

from __future__ import annotations

import contextlib
import copyreg
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from neps_core.errors import EvaluationTimeoutError
from neps_core.evaluation.captured import Captured, call_capturing, loaded_error, outcome_of
from neps_core.evaluation.main_script import sendable_error, unimportable_script, unsendable_outcome
from neps_core.evaluation.trial_context import TrialContext
from neps_core.interfaces import EvaluationJob, EvaluationOutcome, Evaluator
from neps_core_plugins.dask_evaluator.settings import DaskSettings
from neps_core_plugins.dask_evaluator.watch import WorkerWatch

logger = logging.getLogger(__name__)
POLL_STEP = 0.005
#: How often to look whether a task with a timeout has reached a worker.
START_POLL = 0.2


def _distributed() -> Any:
    """The ``distributed`` module, or an ImportError that says how to get it."""
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            "The dask evaluator needs dask.distributed: pip install 'neps-core[dask]'"
        ) from error
    return distributed


def evaluate_remotely(
    function: Callable[..., Any], arguments: Mapping[str, Any], context: TrialContext | None = None
) -> tuple[Captured, str | None]:
    """Runs on a dask worker: what ``call_capturing`` returns, and the worker's address.

    An exception travels pickled by us (``_pickled_by_python``): dask's own transfer dropped
    ``SystemExit``'s code (``sys.exit(3)`` in a pipeline ended the user's script with 0).
    """
    worker = None
    with contextlib.suppress(ValueError):  # not on a worker (e.g. a synchronous scheduler)
        worker = _distributed().get_worker().address
    kind, value, trace, duration = call_capturing(function, arguments, context)
    if kind == "error":
        value = _pickled_by_python(value)
    return (kind, value, trace, duration), worker


def _pickled_by_python(error: BaseException) -> bytes:
    """``error`` pickled by Python's own rules for exceptions, or without its ``__init__``
    where they cannot rebuild it (``sendable_error``): the tblib reducers that distributed
    registers leave out what ``__init__`` sets (``code``)."""
    python_rules = {
        kind: reducer
        for kind, reducer in copyreg.dispatch_table.items()
        if not (isinstance(kind, type) and issubclass(kind, BaseException))
    }
    return sendable_error(error, python_rules)


def _refuse_an_unimportable_script() -> None:
    """A LocalCluster's nannies spawn its workers, which run the script again from its file:
    one read from stdin stopped the run with a bare "Nanny failed to start"."""
    import dask.config

    script = unimportable_script()
    if script is None or dask.config.get("distributed.worker.multiprocessing-method") == "fork":
        return
    raise RuntimeError(
        "the dask evaluator cannot start a LocalCluster: its worker processes run the script "
        f"again from its file, and {script!r} is no file (a script read from stdin?); save the "
        "script to a .py file and run that, use evaluator='process_pool', or give the address "
        "of a running cluster"
    )


def _ran_on(worker: str | None, error: BaseException | None = None) -> dict[str, str]:
    """The trial's metadata naming its worker, whose logs say why a trial hung or died; of a
    task dask gave up on (``KilledWorker``), the last worker that died running it (dask ran it
    again elsewhere after each death, where no clock of ours may have noted the worker)."""
    if isinstance(error, _distributed().KilledWorker):
        worker = str(error.last_worker.address)
    return {} if worker is None else {"dask_worker": worker}


class _NonDaemonicWorkers:
    """dask's ``distributed.worker.daemon: False`` while any LocalCluster started here runs.

    The nannies (in this process) read it at every (re)start of a worker; the user's own value
    comes back when the last such cluster closes, in whatever order they close.
    """

    def __init__(self) -> None:
        self._holders = 0
        self._setting: Any = None

    def hold(self) -> None:
        import dask.config

        if self._holders == 0:
            self._setting = dask.config.set({"distributed.worker.daemon": False})
        self._holders += 1

    def release(self) -> None:
        self._holders -= 1
        if self._holders == 0:
            self._setting.__exit__(None, None, None)
            self._setting = None


NON_DAEMONIC_WORKERS = _NonDaemonicWorkers()


@attrs.define
class _Task:
    """A submitted trial; ``started`` once a worker runs it (its timeout counts from there)."""

    future: Any
    submitted: float
    timeout: float | None
    started: float | None = None
    worker: str | None = None  # the address of the worker seen running it

    @property
    def deadline(self) -> float | None:
        """When its timeout runs out; ``None`` without one or before a worker has it."""
        if self.timeout is None or self.started is None:
            return None
        return self.started + self.timeout


class DaskEvaluator(Evaluator):
    """Submits each trial as a task to a dask.distributed cluster."""

    name: ClassVar[str] = "dask"
    Settings: ClassVar[type] = DaskSettings

    def __init__(self, settings: DaskSettings | None = None) -> None:
        super().__init__(settings)
        _distributed()  # missing, it must stop the run before an overwrite or a first trial
        if self.settings.address is None:
            _refuse_an_unimportable_script()
        self._client: Any = None
        self._cluster: Any = None
        self._holds_config = False  # NON_DAEMONIC_WORKERS, while the cluster started here runs
        self._abandoned_on: set[str] = set()  # workers left running a task cancelled here
        self._tasks: dict[str, _Task] = {}
        self._finished: list[EvaluationOutcome] = []
        self._next_start_check = 0.0
        self._watch: WorkerWatch | None = None

    # -- the cluster --------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The ``distributed.Client``, connected (or its LocalCluster started) on first use."""
        if self._client is None:
            distributed = _distributed()
            settings: DaskSettings = self.settings
            if settings.address is not None:
                self._client = distributed.Client(settings.address)
            else:
                # Its workers may start processes (a DataLoader, a Pool), which a daemonic
                # process may not. The nannies read this at every (re)start of a worker, so
                # it holds until close(), which restores the user's setting.
                if not self._holds_config:
                    NON_DAEMONIC_WORKERS.hold()
                    self._holds_config = True
                self._cluster = distributed.LocalCluster(
                    n_workers=settings.n_workers or os.cpu_count() or 1,
                    threads_per_worker=settings.threads_per_worker,
                    processes=True,
                    # A free port: None still binds dask's default 8787, and a second run on
                    # the machine (or the user's own dashboard) then gets a UserWarning.
                    dashboard_address=":0",
                )
                self._client = distributed.Client(self._cluster)
            # A thread per worker running a trial, and as many for ones still held by a trial
            # that was only cancelled (``kill_on_timeout=False``).
            self._watch = WorkerWatch(self._client, threads=2 * self.capacity)
        return self._client

    @property
    def capacity(self) -> int:
        """``n_workers``, or the connected cluster's thread count."""
        if self.settings.n_workers is not None:
            return int(self.settings.n_workers)
        if self.settings.address is None:
            return os.cpu_count() or 1
        return max(1, sum(self.client.nthreads().values()))

    # -- evaluation ---------------------------------------------------------------------------
    def submit(self, job: EvaluationJob) -> None:
        """Submit ``job`` as a task with a unique key; one dask cannot pickle fails its trial,
        naming what it could not send."""
        key = f"neps-core-trial-{job.trial.id}-{uuid.uuid4().hex[:8]}"
        try:
            future = self.client.submit(
                evaluate_remotely,
                job.function,
                dict(job.arguments),
                job.context,
                key=key,
                pure=False,
            )
        except Exception as error:  # a part that cannot be pickled fails the trial
            dumps = _distributed().protocol.pickle.dumps  # what dask itself pickles with
            self._finished.append(unsendable_outcome(job, error, "a dask worker", dumps))
            return
        timeout = job.timeout if job.timeout is not None else self.settings.timeout
        self._tasks[job.trial.id] = _Task(future, time.monotonic(), timeout)

    def wait(self, timeout: float | None = None) -> list[EvaluationOutcome]:
        """Collect finished tasks and enforce timeouts, blocking up to ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._note_starts()
            now = time.monotonic()
            for trial_id, task in list(self._tasks.items()):
                if task.future.done():
                    del self._tasks[trial_id]
                    self._finished.append(self._outcome(trial_id, task))
                elif task.deadline is not None and now > task.deadline:
                    del self._tasks[trial_id]
                    self._finished.append(self._time_out(trial_id, task))
            if self._finished or not self._tasks:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            self._block(deadline)
        finished, self._finished = self._finished, []
        return finished

    def _note_starts(self, final: bool = False) -> None:
        """Start the timeout clock of tasks a worker now executes.

        Not at submission: the task may wait for a worker, e.g. one restarting after another
        trial's timeout, and that wait used up its timeout before it ran. Nor when the
        scheduler lists it as ``processing``, which includes tasks queued on a worker whose
        threads are busy: their timeout ran out before they ran. A worker held silent by an
        evaluation (see ``.watch``) runs its first tasks in submission order, dask's
        priority: their clocks start from when it was asked. ``final``: a last look at every
        task, waiting a moment for answers, to end what runs.
        """
        tasks = {task.future.key: task for task in self._tasks.values()}
        waiting = {k for k, t in tasks.items() if t.started is None and (final or t.timeout)}
        now = time.monotonic()
        if not waiting or self._watch is None or (now < self._next_start_check and not final):
            return
        self._next_start_check = now + START_POLL  # one round of questions per START_POLL
        listed = self.client.processing()  # the scheduler's view: no worker is asked
        processing = {a: [tasks[k] for k in keys if k in tasks] for a, keys in listed.items()}
        shared = {address for address, keys in listed.items() if any(k not in tasks for k in keys)}
        waited_for = [
            address
            for address, ours in processing.items()
            if any(task.future.key in waiting for task in ours)
        ]
        answered, silent = self._watch.running(waited_for, patience=1.0 if final else 0.0)
        for address, (keys, moment) in answered.items():
            self._start([tasks[key] for key in keys if key in tasks], address, moment)
        # Only where all the worker has are our tasks, none of them cancelled but left running:
        # else what holds it may be another client's task (ours would time out unrun, and we
        # would kill theirs), or the cancelled one (the next would time out unrun).
        self._abandoned_on -= answered.keys()
        if silent:
            threads = self.client.nthreads()
            for address in silent.keys() - shared - self._abandoned_on:
                first = sorted(processing.get(address, []), key=lambda task: task.submitted)
                self._start(first[: threads.get(address, 1)], address, silent[address])

    @staticmethod
    def _start(tasks: Sequence[_Task], worker: str, moment: float) -> None:
        for task in tasks:
            if task.started is None:
                task.started, task.worker = moment, worker

    def _block(self, deadline: float | None) -> None:
        """Sleep until a task finishes, the caller's deadline or the next trial timeout."""
        moments = [t.deadline for t in self._tasks.values() if t.deadline is not None]
        if any(t.timeout is not None and t.started is None for t in self._tasks.values()):
            moments.append(time.monotonic() + START_POLL)  # to see when it starts
        if deadline is not None:
            moments.append(deadline)
        step = None if not moments else max(POLL_STEP, min(moments) - time.monotonic())
        futures = [task.future for task in self._tasks.values()]
        import asyncio  # dask has imported it by now; at plugin load it would cost every run

        # Nothing finished in time: the caller decides (asyncio's TimeoutError on Python 3.10).
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            _distributed().wait(futures, timeout=step, return_when="FIRST_COMPLETED")

    @staticmethod
    def _outcome(trial_id: str, task: _Task) -> EvaluationOutcome:
        duration = time.monotonic() - (task.started or task.submitted)
        if task.future.status != "finished":  # a dask-level failure, e.g. a lost worker
            error = task.future.exception() if task.future.status == "error" else None
            return EvaluationOutcome(
                trial_id=trial_id,
                error=error or RuntimeError(f"the dask task ended as {task.future.status}"),
                duration=duration,
                metadata=_ran_on(task.worker, error),
            )
        (kind, value, trace, duration), worker = task.future.result()
        if kind == "error":  # a pickle of our own worker's, which may still not load here
            value = loaded_error(value)
        # Judged by its own time: its clock here may never have started (a silent worker not
        # ended here), or this process was busy past its deadline.
        captured = (kind, value, trace, duration)
        return outcome_of(trial_id, captured, _ran_on(worker), timeout=task.timeout)

    def _time_out(self, trial_id: str, task: _Task) -> EvaluationOutcome:
        worker = task.worker  # read first: stopping forgets where the tasks ran
        workers = self._stop([task]) if self.settings.kill_on_timeout else []
        if not self.settings.kill_on_timeout:
            task.future.cancel()
            if worker is not None:  # its thread runs on, and may keep the worker silent
                self._abandoned_on.add(worker)
        return EvaluationOutcome(
            trial_id=trial_id,
            error=EvaluationTimeoutError(
                task.timeout or 0.0,
                "its dask task was cancelled"
                + (f" and worker(s) {workers} killed" if workers else ""),
            ),
            duration=time.monotonic() - (task.started or task.submitted),
            metadata=_ran_on(worker),
        )

    def _stop(self, tasks: Sequence[_Task]) -> list[str]:
        """Cancel ``tasks`` and restart the workers running them; the restarted addresses."""
        workers = sorted({task.worker for task in tasks if task.worker is not None})
        self.client.cancel([task.future for task in tasks])
        for task in self._tasks.values():
            if task.worker in workers:  # dask runs it again elsewhere: its clock restarts there
                task.started = task.worker = None
        if workers and self._watch is not None:
            # The task's thread cannot be interrupted: end the worker process; its nanny
            # starts a fresh one (``restart_workers`` would first wait for the thread).
            logger.info("Ending dask worker(s) %s to stop overdue trials", workers)
            self._watch.end_worker_processes(workers)
        return workers

    def close(self) -> None:
        """Stop unfinished tasks, then disconnect (and shut down a cluster started here)."""
        if self._client is None:  # the cluster, or the client of it, failed to start
            if self._cluster is not None:
                self._cluster.close()
            self._cluster = None
            self._restore_config()
            return
        if self._cluster is None:
            self._note_starts(final=True)
        tasks, self._tasks = self._tasks, {}
        if tasks and self._cluster is None:
            self._stop(list(tasks.values()))
        if self._watch is not None:
            self._watch.close()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._restore_config()
        self._client = self._cluster = self._watch = None

    def _restore_config(self) -> None:
        if self._holds_config:
            NON_DAEMONIC_WORKERS.release()
            self._holds_config = False
