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
"""

from __future__ import annotations

import logging
import math
import pickle
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import yaml

from neps_core import hookimpl
from neps_core.errors import EvaluationLostError, EvaluationTimeoutError
from neps_core.evaluation.child_runner import Captured, call_capturing, outcome_of
from neps_core.evaluation.main_script import unsendable_outcome
from neps_core.interfaces import EvaluationJob, EvaluationOutcome, Evaluator
from neps_core.validators import at_least, positive

logger = logging.getLogger(__name__)

POLL_STEP = 0.05
#: The file in a trial's folder naming its SLURM job, for a worker that takes the trial over.
JOB_RECORD = "slurm_job.yaml"
#: squeue states of a job that may still produce a result. COMPLETING is not one: the batch
#: script has ended (or was killed), so a result must show up within ``lost_after``; a
#: cancelled job stays COMPLETING while SLURM escalates from SIGTERM to SIGKILL.
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
    }
)
#: The local executor's own default limit is 2 minutes; trials get a week unless told.
LOCAL_DEFAULT_TIMEOUT_MIN = 7 * 24 * 60
#: Seconds SLURM's time limit lies beyond ``timeout``. submitit has SLURM send SIGUSR2 90 s
#: before the limit (SLURM may send it up to 60 s earlier) and then gives the job up as
#: timed out; with a one-minute margin that ended trials long before their ``timeout``.
BACKSTOP_MARGIN_SECONDS = 90 + 60 + 60


def minimum_timeout_min(timeout: float) -> int:
    """The smallest SLURM time limit (minutes) that lets a job run for ``timeout`` seconds."""
    return math.ceil((timeout + BACKSTOP_MARGIN_SECONDS) / 60)


class SlurmJobLostError(EvaluationLostError):
    """The job ended without reporting (failed, cancelled, node failure, vanished)."""


def _submitit() -> Any:
    try:
        import submitit
    except ImportError as error:
        raise ImportError(
            "The slurm evaluator needs submitit: pip install 'neps-core[slurm]'"
        ) from error
    return submitit


@attrs.frozen
class SlurmSettings:
    """Options of ``evaluator={"name": "slurm", ...}``; ``None`` leaves SLURM's default."""

    n_workers: int = attrs.field(default=1, validator=at_least(1))
    timeout: float | None = attrs.field(default=None, validator=positive)
    cluster: str | None = None  # None: detect SLURM; "local" / "debug": submitit's executors
    folder: str | None = None  # job files; default: <pipeline_directory>/slurm
    # seconds a finished job may take to show its result file
    lost_after: float = attrs.field(default=15.0, validator=at_least(0))
    # seconds between squeue calls (spare the controller)
    queue_poll_interval: float = attrs.field(default=5.0, validator=positive)
    timeout_min: int | None = attrs.field(default=None, validator=at_least(1))
    mem_gb: float | None = None
    nodes: int | None = None
    cpus_per_task: int | None = None
    gpus_per_node: int | None = None
    tasks_per_node: int | None = None
    slurm_partition: str | None = None
    slurm_account: str | None = None
    slurm_qos: str | None = None
    slurm_constraint: str | None = None
    slurm_setup: list[str] | None = None
    slurm_additional_parameters: dict[str, Any] | None = None
    parameters: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        """Refuse a time limit of one's own that would end jobs before ``timeout``."""
        chosen = self.parameters.get("timeout_min", self.timeout_min)
        if self.timeout is None or chosen is None:
            return
        needed = minimum_timeout_min(self.timeout)
        if chosen < needed:
            raise ValueError(
                f"timeout_min={chosen} ends jobs before timeout={self.timeout:g} s: SLURM's "
                f"limit must leave {BACKSTOP_MARGIN_SECONDS} s beyond it (submitit gives a job "
                f"up 90 s before the limit, SLURM signals up to 60 s earlier), so timeout_min "
                f"must be at least {needed}; leave it out to have it set so"
            )

    def submitit_parameters(self) -> dict[str, Any]:
        """What goes to ``update_parameters``: the options that were set, plus ``parameters``."""
        own = {
            "n_workers",
            "timeout",
            "cluster",
            "folder",
            "lost_after",
            "queue_poll_interval",
            "parameters",
        }
        chosen = {
            name: value
            for name, value in attrs.asdict(self, recurse=False).items()
            if name not in own and value is not None
        }
        if self.timeout is not None and "timeout_min" not in chosen:
            chosen["timeout_min"] = minimum_timeout_min(self.timeout)
        if self.cluster == "local":
            chosen.setdefault("timeout_min", LOCAL_DEFAULT_TIMEOUT_MIN)
        return {**chosen, **self.parameters}


def evaluate_in_job(
    payload: bytes, arguments: Mapping[str, Any], search_path: Sequence[str]
) -> Captured:
    """Runs inside the job: what :func:`~neps_core.evaluation.child_runner.call_capturing` returns.

    The function arrives pickled separately, so that the submitting process's import path is
    in place before it is loaded (a function from a module next to the user's script). Returning
    exceptions (instead of raising) keeps their type for the core; submitit would turn them
    into its own ``FailedJobError``.
    """
    sys.path.extend(entry for entry in search_path if entry not in sys.path)
    return call_capturing(pickle.loads(payload), arguments)


def queue_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """The squeue state of each job squeue still knows; ``None`` if squeue is unusable.

    Used instead of submitit's ``sacct`` watcher, which sees nothing on clusters without
    accounting storage. A job missing from the answer has left the queue.
    """
    command = ["squeue", "-h", "-o", "%i|%T", "--states=all", "-j", ",".join(job_ids)]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return {} if "Invalid job id" in completed.stderr else None
    states = {}
    for line in completed.stdout.splitlines():
        job_id, _, state = line.partition("|")
        if state.strip():
            states[job_id.strip()] = state.split()[0]  # e.g. "CANCELLED by 0"
    return states


def record_job(pipeline_directory: Path, job_id: str, folder: Path) -> None:
    """Note the trial's job where a later worker looks for it (see :func:`adoptable_job`)."""
    pipeline_directory.mkdir(parents=True, exist_ok=True)
    record = {"job_id": job_id, "folder": str(folder.resolve())}
    (pipeline_directory / JOB_RECORD).write_text(yaml.safe_dump(record), encoding="utf-8")


def adoptable_job(pipeline_directory: Path) -> Any | None:
    """The SLURM job an earlier worker submitted for this trial, if it can still deliver.

    A worker that dies leaves its jobs running; when its trial is re-queued, waiting for that
    job (queued, running, or finished with a result nobody collected) saves its compute and
    keeps two jobs from training the same configuration. A job that ended without a result
    (the "lost" case) is not adopted: the trial is submitted again.
    """
    try:
        record = yaml.safe_load((pipeline_directory / JOB_RECORD).read_text(encoding="utf-8"))
        job_id, folder = str(record["job_id"]), Path(record["folder"])
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return None
    job = _submitit().SlurmJob(folder=folder, job_id=job_id)
    if job.paths.result_pickle.exists():
        return job
    states = queue_states([job_id])
    return job if states is not None and states.get(job_id) in ACTIVE_STATES else None


#: Active states of a job that has not started running ``evaluate_pipeline`` yet: its
#: ``timeout`` does not run while it waits in the queue.
QUEUED_STATES = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD"})


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

    @property
    def running_since(self) -> float:
        return self.submitted_at if self.started is None else self.started


class SlurmEvaluator(Evaluator):
    """Submits each trial as a job and polls the jobs for results."""

    name: ClassVar[str] = "slurm"
    Settings: ClassVar[type] = SlurmSettings

    def __init__(self, settings: SlurmSettings | None = None) -> None:
        super().__init__(settings)
        _submitit()  # missing, it must stop the run before an overwrite or a first trial
        self._jobs: dict[str, _Submitted] = {}
        self._finished: list[EvaluationOutcome] = []
        self._queue_checked = 0.0

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
        executor = _submitit().AutoExecutor(folder=folder, cluster=settings.cluster)
        executor.update_parameters(name=f"neps-trial-{job.trial.id}")
        executor.update_parameters(**settings.submitit_parameters())
        import cloudpickle  # a dependency of submitit, which pickles the job with it too

        search_path = [entry for entry in sys.path if entry]
        try:
            payload = cloudpickle.dumps(job.function)  # functions of __main__ travel by value
            submitted = executor.submit(evaluate_in_job, payload, dict(job.arguments), search_path)
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
            job.cancel(check=False)
            error = EvaluationTimeoutError(limit, f"SLURM job {job.job_id} was cancelled")
            return self._failure(trial_id, submitted, error)
        if submitted.ended is None or now - submitted.ended_at < self.settings.lost_after:
            return None  # still running, or its result file may still be on its way (NFS)
        lost = SlurmJobLostError(
            f"SLURM job {job.job_id} ended in state {submitted.ended} without a result "
            f"(a failed, cancelled or lost job); stderr tail:\n{_stderr_tail(job)}"
        )
        return self._failure(trial_id, submitted, lost)

    @staticmethod
    def _metadata(job: Any) -> dict[str, Any]:
        return {"slurm_job_id": str(job.job_id), "slurm_stdout": str(job.paths.stdout)}

    def _outcome(self, trial_id: str, submitted: _Submitted) -> EvaluationOutcome:
        try:
            captured = submitted.job.result()
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

    def close(self) -> None:
        """Cancel every job of this worker that has not reported."""
        jobs, self._jobs = self._jobs, {}
        for submitted in jobs.values():
            if not submitted.job.paths.result_pickle.exists():
                submitted.job.cancel(check=False)


def _stderr_tail(job: Any, characters: int = 2000) -> str:
    try:
        return str(job.stderr() or "")[-characters:]
    except Exception:
        return ""


@hookimpl
def neps_register_evaluators() -> Sequence[type[Evaluator]]:
    """Register the slurm evaluator (submitit is imported only when it is used)."""
    return [SlurmEvaluator]
