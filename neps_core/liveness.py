"""Worker liveness: recovery of trials whose worker died.

A worker refreshes ``last_heartbeat`` of the trials it is evaluating every
``heartbeat_interval`` seconds (``heartbeat.Heartbeat``). Whoever samples next looks for
trials silent for ``stale_after`` seconds: their holder's, recorded as it claimed them
(``STALE_AFTER``), as only it knows how long its trials may go unheard (a client that sent
them to a cluster and exited); the looker's own only for trials of older roots. They go back
to PENDING for another worker, or become CRASHED once they have been tried
``max_trial_attempts`` times. Trials evaluated asynchronously (``evaluate_pipeline`` returned
``None``) await ``save_pipeline_results``, not a worker, and are left alone. A dead ``run()``
worker of this machine is known at once when its process is no longer present in the run, or,
in this process, when its ``run()`` call has ended (``recover_gone_workers``): no
``stale_after``. What would harm live workers is refused in
``live_workers``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs

from neps_core import presence
from neps_core.config import DEFAULT_HEARTBEAT_INTERVAL
from neps_core.history import TrialHistory
from neps_core.models import Report, Trial, TrialState
from neps_core.presence import start_ticks, this_machine, this_process, works_here
from neps_core.validators import is_finite_number

logger = logging.getLogger(__name__)

ASYNC_MARK = "awaiting_result"
#: Metadata of a trial claimed by a run() worker: its process (see ``presence.this_process``).
WORKER_PROCESS = "worker_process"
#: Metadata of a claimed trial: the ``stale_after`` of the worker or client that claimed it.
STALE_AFTER = "stale_after"

#: Seconds between two checks of a sampler for gone workers. The check reads ``/proc/locks``,
#: and while the kernel lists its locks every lock operation of the machine waits: done at
#: each sample, it cut the throughput of 4 workers on a 50 ms objective from 91% of the
#: ideal to 81%. A continuation still checks at its first sample.
GONE_CHECK_INTERVAL = 2.0


def without_running_marks(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` without what was true only while the trial ran (who runs it, awaiting)."""
    return {k: v for k, v in metadata.items() if k not in (ASYNC_MARK, WORKER_PROCESS, STALE_AFTER)}


def last_sign_of_life(trial: Trial) -> float:
    """When the worker evaluating ``trial`` last proved it was alive."""
    return trial.last_heartbeat or trial.started_at or trial.created_at


def stale_after_of(trial: Trial, default: float) -> float:
    """The ``stale_after`` that ``trial``'s holder recorded on claiming it; ``default`` (the
    looker's own) where none is, as in roots from before it was recorded."""
    recorded: Any = trial.metadata.get(STALE_AFTER)
    return float(recorded) if is_finite_number(recorded) and recorded > 0 else default


def is_silent(trial: Trial, now: float, stale_after: float) -> bool:
    """Whether ``trial``'s holder has not heartbeated for its ``stale_after`` (``stale_after_of``;
    the looker's ``stale_after`` where it recorded none)."""
    return now - last_sign_of_life(trial) >= stale_after_of(trial, stale_after)


def awaits_result(trial: Trial) -> bool:
    """Whether ``trial`` waits for ``save_pipeline_results`` rather than for a worker."""
    return bool(trial.metadata.get(ASYNC_MARK))


def live_trials(
    history: TrialHistory,
    now: float,
    stale_after: float,
    present: list[str] | None = None,
    *,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
) -> list[Trial]:
    """EVALUATING trials whose worker is alive.

    A ``run()`` worker of this machine is alive while its pid is ``present`` (see
    ``presence.processes_present``), whatever its heartbeat; other workers, or all of them
    when ``present`` is ``None``, while they are not ``is_silent`` (and not ``_gone``).
    """
    machine, interval = this_machine_if_known(present), heartbeat_interval
    evaluating = (history[i] for i in history.ids_in(TrialState.EVALUATING))
    return [
        t
        for t in evaluating
        if not awaits_result(t)
        and _alive(t, now, stale_after, machine, present or [], heartbeat_interval=interval)
    ]


def process_gone(
    trial: Trial,
    present: list[str] | None,
    *,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
) -> bool:
    """Whether ``trial``'s worker is known dead (``_gone``; ``present`` as for
    ``live_trials``; ``None``, unknown, says nothing is known)."""
    if awaits_result(trial):  # its result comes through save_pipeline_results, not a worker
        return False
    machine, now = this_machine_if_known(present), time.time()
    return _gone(trial, machine, present or [], now, heartbeat_interval)


def _alive(
    trial: Trial,
    now: float,
    stale_after: float,
    machine: str | None,
    present: list[str],
    *,
    heartbeat_interval: float,
) -> bool:
    """Known from the lock table for a worker of ``machine``, else from its heartbeat."""
    if runs_on(trial, machine):
        return _still_present(trial, present)
    gone = _gone(trial, machine, present, now, heartbeat_interval)
    return not gone and not is_silent(trial, now, stale_after)


def _gone(
    trial: Trial, machine: str | None, present: list[str], now: float, heartbeat_interval: float
) -> bool:
    """Whether ``trial``'s worker is a process of ``machine`` no longer ``present``.

    Versions 0d72b3b to f37ef83 recorded the boot id alone (``<boot id>/<pid>/<start>``): a
    worker of another container of this kernel (pid namespace) does not show here, so such
    a record's worker is gone only once also silent for two heartbeats (``heartbeat_interval``
    the looker's): a dead one's trial is re-queued within seconds, a live one's is kept.
    """
    if runs_on(trial, machine):
        return not _still_present(trial, present)
    silent = now - last_sign_of_life(trial) >= 2 * heartbeat_interval
    old_form_here = bool(machine) and _machine_of(trial) == str(machine).partition(".")[0]
    return old_form_here and silent and not _still_present(trial, present)


def _still_present(trial: Trial, present: list[str]) -> bool:
    """Whether the very process that claimed ``trial`` is ``present``: its pid, at its start
    time (not a reused pid, nor one of another pid namespace), or alive unseen (hidepid).
    Of this process, whether the worker that claimed it still works (``works_here``)."""
    if trial.metadata.get(WORKER_PROCESS) == this_process():
        return presence.works_here(trial.worker_id)
    _, pid, started = _process_parts(trial.metadata.get(WORKER_PROCESS))
    seen = start_ticks(pid) if pid in present else None
    return seen == started or (seen == "?" and presence.hidden_but_alive(pid))


def this_machine_if_known(present: list[str] | None) -> str | None:
    """This machine (``presence.this_machine``) where the lock table is known, else ``None``."""
    return None if present is None else this_machine()


def runs_on(trial: Trial, machine: str | None) -> bool:
    """Whether ``trial``'s worker is a process of ``machine`` (a kernel and pid namespace)."""
    return bool(machine) and _machine_of(trial) == machine


def _machine_of(trial: Trial) -> str:
    """The machine ``trial``'s worker recorded (a boot id alone in older versions)."""
    return _process_parts(trial.metadata.get(WORKER_PROCESS))[0]


def _process_parts(process: object) -> list[str]:
    """``[boot id, pid, start time]`` of a process as ``presence.this_process`` names it
    (empty strings for what is unknown)."""
    parts = str(process or "").split("/")
    return [*parts, "", "", ""][:3]


def mention_silent_workers(
    history: TrialHistory,
    me: str,
    *,
    idle: bool,
    heartbeat_interval: float,
    stale_after: float,
    present: Callable[[], list[str] | None] = lambda: None,
) -> None:
    """Warn about trials of other workers that may be abandoned but are not yet re-queued.

    A run continued right after a crash stops at once (``idle``: it evaluated nothing), its
    budget taken by trials that still read ``evaluating``; without a word, the user cannot
    tell they will ever be re-run. After a busy run, only trials silent for a few
    heartbeats are mentioned: other live workers are no news. So are workers of this
    machine still ``present`` (pids, asked only if there is a trial to mention): the
    README's four local workers warned each other that they "may be gone".
    """
    now = time.time()
    candidates = [
        trial
        for trial in live_trials(history, now, stale_after)
        if trial.worker_id != me
        and (idle or now - last_sign_of_life(trial) > 3 * heartbeat_interval)
    ]
    alive = present() if candidates else None
    machine = this_machine_if_known(alive)
    gone = [t for t in candidates if runs_on(t, machine) and not _still_present(t, alive or [])]
    unseen = [t for t in candidates if not runs_on(t, machine)]
    if gone:  # died after this worker's last look for gone workers
        logger.warning(
            "Trial(s) %s are still evaluating, but their workers, of this machine, are gone: "
            "the next run() re-queues them at once",
            ", ".join(t.id for t in gone),
        )
    if unseen:
        logger.warning(
            "Trial(s) %s of other workers (of other machines, ask-and-tell clients, or where "
            "presence is not tracked) are still evaluating (last heartbeat %.1f s ago): if "
            "those workers are gone, the next run() re-queues them once they are %g s silent "
            "(stale_after)",
            ", ".join(t.id for t in unseen),
            min(now - last_sign_of_life(t) for t in unseen),
            max(stale_after_of(t, stale_after) for t in unseen),
        )


def recover_stale_trials(
    history: TrialHistory,
    *,
    now: float,
    stale_after: float,
    max_attempts: int,
    known: Collection[str] = (),
    present: Callable[[], list[str] | None] = lambda: None,
    mentioned: set[str] | None = None,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    looker: str | None = None,
) -> list[Trial]:
    """New versions of the EVALUATING trials whose worker stopped heartbeating, but for the
    ``known`` ones (re-queued already, as their worker is gone) and those of another process of
    this machine still ``present`` (pids, asked only when a heartbeat is old): paused (SIGSTOP,
    a lid), blocked while the looking worker held the storage lock, or off in its clock (a
    warning once per trial not in ``mentioned``). This process's are kept while the run()
    that claimed them works (``presence.works_here``): another thread's, starved the same way;
    but one under the ``looker``'s own worker id that it does not hold (``known``) is an ended
    call's (a retry given the same ``worker_id``), whose id works here again."""
    old = [
        history[i]
        for i in history.ids_in(TrialState.EVALUATING)
        if i not in known
        and not awaits_result(history[i])
        and is_silent(history[i], now, stale_after)
    ]
    alive = (present() if old else None) or []
    machine, me = (this_machine(), this_process()) if alive else (None, None)
    recovered = []
    for trial in old:
        age = now - last_sign_of_life(trial)
        ended = trial.worker_id == looker and trial.metadata.get(WORKER_PROCESS) == me
        if ended or not _alive(
            trial, now, stale_after, machine, alive, heartbeat_interval=heartbeat_interval
        ):
            reason = f"worker {trial.worker_id} stopped heartbeating {age:.1f} s ago"
            recovered.append(requeue_or_crash(trial, reason, max_attempts=max_attempts, now=now))
        elif mentioned is not None and trial.id not in mentioned:
            mentioned.add(trial.id)
            logger.warning(
                "Trial %s: its worker %s, a live process of this machine, is silent for %.1f s "
                "(paused?) and keeps it; end that process for the trial to be evaluated again",
                trial.id,
                trial.worker_id,
                age,
            )
    return recovered


def recover_gone_workers(
    history: TrialHistory,
    present: Callable[[], list[str] | None],
    *,
    now: float,
    max_attempts: int,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    looker: str | None = None,
    held: Collection[str] = (),
) -> list[Trial]:
    """New versions of the EVALUATING trials of ``run()`` workers known to be gone.

    A worker holds the presence lock while it works and records its process in the trials
    it claims (``WORKER_PROCESS``). A trial claimed by another process of this machine that
    is no longer present (its pid, at its start time) belonged to a worker that died
    (SIGKILL, out of memory), whoever else is present: its trial need not wait
    ``stale_after`` (one recorded in an older form: see ``_gone``); so did one of this
    process whose ``run()`` has ended (``_ended_here``; ``looker``, ``held``: the asking
    ``run()`` worker's id and its trials). Workers elsewhere are left to the heartbeat check.
    """
    me, machine = this_process(), this_machine()  # None off Linux: nothing runs on it
    kernel = str(machine).partition(".")[0]
    claimed = [
        history[i]
        for i in history.ids_in(TrialState.EVALUATING)
        if machine
        and _machine_of(history[i]) in (machine, kernel)
        and not awaits_result(history[i])
    ]
    elsewhere = [t for t in claimed if t.metadata[WORKER_PROCESS] != me]
    alive = present() if elsewhere else None  # None: unknown, nobody is gone
    return [
        requeue_or_crash(
            trial,
            f"worker {trial.worker_id} is gone (it ran on this machine, and its process no "
            "longer works on the run)",
            max_attempts=max_attempts,
            now=now,
        )
        for trial in claimed
        if (
            _ended_here(trial, looker, held)
            if trial.metadata[WORKER_PROCESS] == me
            else alive is not None and _gone(trial, machine, alive, now, heartbeat_interval)
        )
    ]


def _ended_here(trial: Trial, looker: str | None, held: Collection[str]) -> bool:
    """Whether the ``run()`` of this process that claimed ``trial`` has ended: no ``run()``
    here works under its worker id, or only the asking one (``looker``), which does not hold
    it (``held``): a retry given the failed call's ``worker_id``. (With two threads' calls
    under that id, either may hold it: its heartbeat decides.)"""
    if trial.id in held:
        return False
    return not works_here(trial.worker_id, besides_the_asker=trial.worker_id == looker)


def requeue_or_crash(
    trial: Trial,
    reason: str,
    *,
    max_attempts: int,
    now: float | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Trial:
    """``trial`` back to PENDING for another attempt, or CRASHED after ``max_attempts``.

    What happens to the trial of a dead worker, and of a job a scheduler lost; ``metadata``
    (e.g. the lost job's id) is kept in the trial's metadata.
    """
    now = time.time() if now is None else now
    reason = f"{reason} (attempt {trial.attempts} of {max_attempts})"
    kept = {**without_running_marks(trial.metadata), **(metadata or {})}
    if trial.attempts < max_attempts:
        logger.warning("Re-queueing trial %s: %s", trial.id, reason)
        return attrs.evolve(
            trial,
            state=TrialState.PENDING,
            worker_id=None,
            metadata={**kept, "requeued_because": reason},
        )
    logger.warning("Trial %s crashed: %s", trial.id, reason)
    report = Report(objective_to_minimize=None, error=f"crashed: {reason}")
    return attrs.evolve(
        trial, state=TrialState.CRASHED, report=report, finished_at=now, metadata=kept
    )


def evaluated_by_a_worker(trial: Trial, stale_after: float) -> bool:
    """A trial a ``run()`` worker evaluates, whose result others may wait for. Not one
    awaiting ``save_pipeline_results``, whose result may come after every worker stopped, as
    that pattern intends, nor an ask-and-tell client's, which may hold it untold for as long
    as it likes, nor one of a worker silent for its ``stale_after`` (``is_silent``:
    a job its scheduler suspended keeps its trial, for maybe hours)."""
    evaluating = trial.state is TrialState.EVALUATING
    heard = not is_silent(trial, time.time(), stale_after)
    return evaluating and heard and WORKER_PROCESS in trial.metadata and not awaits_result(trial)
