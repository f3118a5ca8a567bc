"""The ``slurm`` evaluator: every trial a SLURM job, submitted through ``submitit``.

Options become ``submitit`` parameters (``AutoExecutor.update_parameters``), which submitit
turns into ``#SBATCH`` lines: the shared ones (``timeout_min``, ``mem_gb``, ``nodes``,
``cpus_per_task``, ``gpus_per_node``, ``tasks_per_node``), the common ``slurm_*`` ones
listed in :class:`SlurmSettings`, and anything else through ``parameters``. ``cluster="local"``
runs the jobs as local processes (submitit's local executor), which is how this evaluator is
tested and a convenient dry run on a laptop.

Job ids go into the trial's metadata (``slurm_job_id``, ``slurm_stdout``). A job that ends
without a result (FAILED, CANCELLED, NODE_FAIL, killed, or vanished from the queue) is a
:class:`SlurmJobLostError` naming the job and its state, an ``EvaluationLostError``: the worker
re-queues the trial like a dead worker's (CRASHED after ``max_trial_attempts``). The jobs of a
worker that died keep running; the worker that takes over such a trial waits for its job
rather than submitting another (``slurm_job.yaml`` in the trial's folder names it).
``n_workers`` bounds this worker's jobs in the queue; a ``timeout`` cancels the job
(``scancel``) and is also handed to SLURM as its time limit. Needs ``neps-core[slurm]``.

A result is read as soon as its file exists, never by waiting for the job (submitit's
``result()`` waits, and a local job lives as long as a thread its evaluation left running).
A local job leads a process group of its own (``.local_groups``), which the orphan guardian
ends if the worker dies. Once its result is read the job may end by itself for ``kill_grace``
seconds (at-exit handlers), then gets SIGTERM and ``kill_grace`` later SIGKILL, all checked in
``wait()``; ``close()`` waits for that. A timeout kills its group at once. A local job is
lost as soon as it ends without a result. A SLURM job still running ``kill_grace`` seconds
after its result is cancelled (a non-daemon thread held it, and its allocation, until its
time limit).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import attrs

from neps_core.errors import EvaluationLostError, EvaluationTimeoutError
from neps_core.evaluation import orphan_guardian
from neps_core.evaluation.captured import outcome_of
from neps_core.evaluation.main_script import unsendable_outcome
from neps_core.interfaces import EvaluationJob, EvaluationOutcome, Evaluator
from neps_core_plugins.slurm_evaluator.jobs import (
    ACTIVE_STATES,
    QUEUED_STATES,
    adoptable_job,
    evaluate_in_job,
    queue_states,
    read_result,
    record_job,
    submitit_module,
)
from neps_core_plugins.slurm_evaluator.local_groups import (
    Lingering,
    guard_groups,
    stop_local_job,
    this_worker,
)
from neps_core_plugins.slurm_evaluator.settings import SlurmSettings

logger = logging.getLogger(__name__)

POLL_STEP = 0.05


#: The stderr tail of a local job ended by ``os._exit`` or a SIGKILL, which say nothing
#: (and submitit's local state is ``FINISHED``): the error said only "stderr tail:".
SILENT_LOCAL_END = (
    "(empty: the job's process ended without a Python error or crash report, so by os._exit "
    "or a signal such as SIGKILL, the OOM killer's, or SIGTERM)"
)


class SlurmJobLostError(EvaluationLostError):
    """The job ended without reporting (failed, cancelled, node failure, vanished)."""


@attrs.define
class _Submitted:
    job: Any
    cluster: str
    submitted_at: float
    timeout: float | None
    started: float | None = None  # first seen running (a local job: when submitted)
    queue_state: str | None = None  # what squeue said last
    ended: str | None = None  # the state in which the job was first seen ended
    ended_at: float = 0.0
    guarded: set[int] = attrs.field(factory=set)  # a local job's groups the guardian knows

    @property
    def running_since(self) -> float:
        return self.submitted_at if self.started is None else self.started


class SlurmEvaluator(Evaluator):
    """Submits each trial as a job and polls the jobs for results."""

    name: ClassVar[str] = "slurm"
    Settings: ClassVar[type] = SlurmSettings

    def __init__(self, settings: SlurmSettings | None = None) -> None:
        super().__init__(settings)
        submitit_module()  # missing, it must stop the run before an overwrite or a first trial
        self._jobs: dict[str, _Submitted] = {}
        self._finished: list[EvaluationOutcome] = []
        self._queue_checked = 0.0
        self._lingering: list[Lingering] = []  # local jobs that reported, left to end
        #: SLURM jobs that reported, and when they get ``scancel`` should they still run.
        self._cancel_at: list[tuple[Any, float]] = []

    @property
    def capacity(self) -> int:
        """``n_workers`` jobs of this worker at once."""
        return int(self.settings.n_workers)

    def submit(self, job: EvaluationJob) -> None:
        """Submit ``job`` as one SLURM job, or adopt the one a dead worker left for its trial;
        one that cannot be pickled fails its trial, naming what could not be sent."""
        settings: SlurmSettings = self.settings
        timeout = job.timeout if job.timeout is not None else settings.timeout
        adopted = adoptable_job(job.pipeline_directory)
        if adopted is not None:
            logger.warning(
                "Trial %s: waiting for SLURM job %s, which an earlier worker submitted for it "
                "and which is still %s, instead of submitting another (scancel it to rerun)",
                job.trial.id,
                adopted.job_id,
                "queued or running" if not adopted.paths.result_pickle.exists() else "finished",
            )
            self._jobs[job.trial.id] = _Submitted(adopted, "slurm", time.monotonic(), timeout)
            return
        folder = Path(settings.folder) if settings.folder else job.pipeline_directory / "slurm"
        executor = submitit_module().AutoExecutor(folder=folder, cluster=settings.cluster)
        executor.update_parameters(name=f"neps-trial-{job.trial.id}")
        executor.update_parameters(**settings.submitit_parameters())
        import cloudpickle  # a dependency of submitit, which pickles the job with it too

        search_path = [entry for entry in sys.path if entry]
        try:
            payload = cloudpickle.dumps(job.function)  # functions of __main__ travel by value
            local = executor.cluster == "local"  # its job leads a process group of its own
            if local:
                orphan_guardian.prepare()  # running, it learns of the job's group at once
            worker = this_worker() if local else None  # whose end ends a local job
            arguments = dict(job.arguments)
            submitted = executor.submit(
                evaluate_in_job, payload, arguments, search_path, worker, job.context
            )
        except Exception as error:  # a part that cannot be pickled fails the trial (not sbatch)
            self._finished.append(unsendable_outcome(job, error, "a SLURM job", cloudpickle.dumps))
            return
        on_slurm = executor.cluster == "slurm"
        if on_slurm:
            record_job(job.pipeline_directory, str(submitted.job_id), folder)
        now = time.monotonic()
        self._jobs[job.trial.id] = _Submitted(
            submitted, executor.cluster, now, timeout, started=None if on_slurm else now
        )

    def wait(self, timeout: float | None = None) -> list[EvaluationOutcome]:
        """Collect finished jobs, detect lost ones and enforce timeouts."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._notice_ended_jobs()
            self._lingering = [job for job in self._lingering if not job.over()]
            self._cancel_due(time.monotonic())
            for trial_id, submitted in list(self._jobs.items()):
                outcome = self._check(trial_id, submitted)
                if outcome is not None:
                    del self._jobs[trial_id]
                    self._finished.append(outcome)
            if self._finished or not self._jobs:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(POLL_STEP)
        finished, self._finished = self._finished, []
        return finished

    def _notice_ended_jobs(self) -> None:
        """Record which jobs have ended: SLURM's via squeue (rate-limited), others directly."""
        now = time.monotonic()
        waiting = [s for s in self._jobs.values() if s.ended is None]
        on_slurm = [s for s in waiting if s.cluster == "slurm"]
        for submitted in waiting:
            if submitted.cluster == "local":
                guard_groups(submitted.job, submitted.guarded)
            if submitted.cluster != "slurm" and submitted.job.done():
                submitted.ended, submitted.ended_at = str(submitted.job.state), now
        if not on_slurm or now - self._queue_checked < self.settings.queue_poll_interval:
            return
        self._queue_checked = now
        states = queue_states([str(s.job.job_id) for s in on_slurm])
        for submitted in on_slurm:
            if states is None:  # squeue unusable: fall back on submitit's own view (sacct),
                known = str(submitted.job.state)  # else on what squeue said last
                state = known if submitted.job.done() else "RUNNING"
                last = known if known != "UNKNOWN" else submitted.queue_state or "RUNNING"
                running = last not in QUEUED_STATES
            else:
                state = states.get(str(submitted.job.job_id), "VANISHED")
                submitted.queue_state = state
                running = state not in QUEUED_STATES  # or ended
            if submitted.started is None and running:
                submitted.started = now  # its timeout runs from here, not from the queue
            if state not in ACTIVE_STATES:
                submitted.ended, submitted.ended_at = state, now

    def _check(self, trial_id: str, submitted: _Submitted) -> EvaluationOutcome | None:
        job, now = submitted.job, time.monotonic()
        if job.paths.result_pickle.exists():
            return self._outcome(trial_id, submitted)
        limit = math.inf if submitted.timeout is None else submitted.timeout
        ended_in_time = (
            submitted.ended is not None and submitted.ended_at - submitted.running_since <= limit
        )
        running = submitted.started is not None
        if running and now - submitted.running_since > limit and not ended_in_time:
            self._stop(submitted)
            error = EvaluationTimeoutError(limit, f"SLURM job {job.job_id} was cancelled")
            return self._failure(trial_id, submitted, error)
        # A local job's result file is in place before its process ends: no NFS to wait for.
        grace = 0.0 if submitted.cluster == "local" else self.settings.lost_after
        if submitted.ended is None or now - submitted.ended_at < grace:
            return None  # still running, or its result file may still be on its way (NFS)
        tail = _stderr_tail(job)
        if submitted.cluster == "local":  # what it started may outlive it
            self._lingering.append(Lingering(job, self.settings.kill_grace))
            tail = tail if tail.strip() else SILENT_LOCAL_END
        lost = SlurmJobLostError(
            f"SLURM job {job.job_id} ended in state {submitted.ended} without a result "
            f"(a failed, cancelled or lost job); stderr tail:\n{tail}"
        )
        return self._failure(trial_id, submitted, lost)

    @staticmethod
    def _metadata(job: Any) -> dict[str, Any]:
        return {"slurm_job_id": str(job.job_id), "slurm_stdout": str(job.paths.stdout)}

    def _outcome(self, trial_id: str, submitted: _Submitted) -> EvaluationOutcome:
        if submitted.cluster == "local":  # its evaluation is over: let it end, then end it
            guard_groups(submitted.job, submitted.guarded)
            self._lingering.append(Lingering(submitted.job, self.settings.kill_grace))
        elif submitted.cluster == "slurm":  # a thread it left keeps it, and its allocation
            self._cancel_at.append((submitted.job, time.monotonic() + self.settings.kill_grace))
        try:
            captured = read_result(submitted.job)
        except Exception as error:  # the job itself failed around our function
            return self._failure(trial_id, submitted, error)
        metadata = self._metadata(submitted.job)  # one read late is judged by its own clock
        return outcome_of(trial_id, captured, metadata, timeout=submitted.timeout)

    def _failure(
        self, trial_id: str, submitted: _Submitted, error: BaseException
    ) -> EvaluationOutcome:
        return EvaluationOutcome(
            trial_id=trial_id,
            error=error,
            duration=time.monotonic() - submitted.running_since,
            metadata=self._metadata(submitted.job),
        )

    def _cancel_due(self, now: float) -> None:
        """``scancel`` the SLURM jobs whose result came ``kill_grace`` seconds ago or more and
        which squeue shows still active (one squeue call for them all)."""
        due = [job for job, at in self._cancel_at if at <= now]
        if not due:
            return
        self._cancel_at = [(job, at) for job, at in self._cancel_at if at > now]
        states = queue_states([str(job.job_id) for job in due]) or {}
        for job in due:
            if states.get(str(job.job_id)) in ACTIVE_STATES:
                job.cancel(check=False)

    @staticmethod
    def _stop(submitted: _Submitted) -> None:
        """Cancel the job; a local one with whatever its evaluation started."""
        if submitted.cluster == "local":
            stop_local_job(submitted.job)
        else:
            submitted.job.cancel(check=False)

    def close(self) -> None:
        """Cancel every job of this worker that has not reported; wait for the ones that
        reported to end (at most twice ``kill_grace`` for a local one, ``kill_grace`` before
        a SLURM one still running is cancelled)."""
        jobs, self._jobs = self._jobs, {}
        for submitted in jobs.values():
            if submitted.cluster == "local" or not submitted.job.paths.result_pickle.exists():
                self._stop(submitted)
        while self._lingering or self._cancel_at:
            self._lingering = [job for job in self._lingering if not job.over()]
            self._cancel_due(time.monotonic())
            if self._lingering or self._cancel_at:
                time.sleep(POLL_STEP)


def _stderr_tail(job: Any, characters: int = 2000) -> str:
    try:
        return str(job.stderr() or "")[-characters:]
    except Exception:
        return ""
