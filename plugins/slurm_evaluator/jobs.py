"""SLURM jobs outside the evaluator's loop: what runs inside a job, squeue, and the record
that lets a later worker adopt the job of a worker that died."""

from __future__ import annotations

import faulthandler
import pickle
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import yaml

from neps_core.evaluation.captured import Captured, call_capturing, loaded_error
from neps_core.evaluation.main_script import sendable_error
from neps_core.evaluation.trial_context import TrialContext
from neps_core_plugins.slurm_evaluator.local_groups import lead_own_group

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

#: Active states of a job that has not started running ``evaluate_pipeline`` yet: its
#: ``timeout`` does not run while it waits in the queue.
QUEUED_STATES = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD"})


def submitit_module() -> Any:
    """The ``submitit`` module, or an ImportError that says how to get it."""
    try:
        import submitit
    except ImportError as error:
        raise ImportError(
            "The slurm evaluator needs submitit: pip install 'neps-core[slurm]'"
        ) from error
    return submitit


def evaluate_in_job(
    payload: bytes,
    arguments: Mapping[str, Any],
    search_path: Sequence[str],
    worker: tuple[int, str | None] | None = None,
    context: TrialContext | None = None,
) -> Captured:
    """Runs inside the job: what :func:`~neps_core.evaluation.captured.call_capturing` returns
    (``context``: the trial, for helpers the function calls).

    The function arrives pickled separately, so that the submitting process's import path is
    in place before it is loaded (a function from a module next to the user's script). Returning
    exceptions (instead of raising) keeps their type for the core; submitit would turn them
    into its own ``FailedJobError``. A crash (SIGSEGV) leaves no result, only the job's stderr,
    so faulthandler names it there.

    ``worker`` (submitit's local executor, whose jobs share the worker's process group: the
    worker's pid and start time): the job leads a group of its own and notes it, so that the
    worker can end what the evaluation leaves behind, and ends it when the worker ends (see
    :mod:`.local_groups`).
    """
    faulthandler.enable()
    if worker is not None:
        paths = submitit_module().JobEnvironment().paths
        lead_own_group(paths.folder, paths.job_id, paths.task_id, worker)
    sys.path.extend(entry for entry in search_path if entry not in sys.path)
    function = pickle.loads(payload)
    _publish_script_errors(function)
    kind, value, trace, duration = call_capturing(function, arguments, context)
    if kind == "error":  # submitit's pickle cannot rebuild one whose __init__ takes other args
        value = sendable_error(value)
    return kind, value, trace, duration


def _publish_script_errors(function: Any) -> None:
    """Put the exception classes of the user's script that ``function`` reads (copies, the
    function came by value) into the job's ``__main__``, submitit's runner: there, one it
    raises passes ``call_capturing``'s by-name check instead of becoming a
    ``RemoteEvaluationError``; it is sent by name, so :func:`read_result` loads the script's own.

    They are published under the name the check looks up (``__qualname__``, not an alias),
    and found through a ``functools.partial`` or a callable instance too: the script's
    functions in one pickle share one globals dict, so any one of them shows them all.
    """
    main = sys.modules["__main__"]
    for namespace in _script_globals(function):
        for value in list(namespace.values()):
            if not (isinstance(value, type) and issubclass(value, BaseException)):
                continue
            name = value.__qualname__  # what the check looks up; a nested class: no top name
            if value.__module__ == "__main__" and "." not in name and not hasattr(main, name):
                setattr(main, name, value)


def _script_globals(function: Any) -> list[dict[str, Any]]:
    """The globals of ``function``, of the function a ``partial`` or bound method wraps,
    or of the methods of a callable instance's class."""
    candidates = [function, getattr(function, "func", None), getattr(function, "__func__", None)]
    if not hasattr(function, "__globals__"):
        candidates.extend(vars(type(function)).values())
    return [
        found
        for item in candidates
        if isinstance(found := getattr(item, "__globals__", None), dict)
    ]


def read_result(job: Any) -> Captured:
    """The result of ``job``, whose result file exists, read without waiting.

    submitit's ``job.result()`` first waits for the job to be done, for a local job until its
    process has ended: a thread the evaluation left running held the worker's whole loop,
    every other trial's timeout included.
    """
    utils = submitit_module().core.utils
    outcome, value = utils.pickle_load(job.paths.result_pickle)
    if outcome == "error":  # the job failed around evaluate_in_job, which returns exceptions
        raise utils.FailedJobError(f"SLURM job {job.job_id} failed around the evaluation:\n{value}")
    kind, raised, trace, duration = cast(Captured, value)
    if kind == "error":  # a script's class by name: the script's own, not the job's copy
        raised = loaded_error(raised)
    return kind, raised, trace, duration


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
    job = submitit_module().SlurmJob(folder=folder, job_id=job_id)
    if job.paths.result_pickle.exists():
        return job
    states = queue_states([job_id])
    return job if states is not None and states.get(job_id) in ACTIVE_STATES else None
