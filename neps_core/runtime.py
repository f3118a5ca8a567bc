"""The worker loop: sample -> evaluate -> report, until a budget or the optimizer says stop.

A worker talks to other workers only through storage. Sampling and reporting are storage
transactions, so any number of workers (processes, nodes) can run the loop on one root and
the global budget stays exact.
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from contextlib import AbstractContextManager

from neps_core.awaited_results import ASYNC_NOTICE_INTERVAL, AwaitedResults, Cadence
from neps_core.budget import (
    CallBudget,
    say_the_optimizer_ended_first,
    say_why_nothing_was_evaluated,
)
from neps_core.errors import (
    EvaluationLostError,
    EvaluationTimeoutError,
    ObjectiveCountError,
    TrialAlreadyReportedError,
    add_note,
)
from neps_core.estimate_wait import CostEstimateWait, ResultsWait
from neps_core.giving_back import give_back_running
from neps_core.heartbeat import Heartbeat
from neps_core.history import TrialHistory
from neps_core.interfaces import EvaluationJob, EvaluationOutcome
from neps_core.live_summary import LiveSummaryFiles
from neps_core.liveness import mention_silent_workers, requeue_or_crash
from neps_core.models import Trial, TrialState
from neps_core.plugin_checks import returned_list
from neps_core.presence import present_with_me, this_process, working_here
from neps_core.reporting import judge_outcome, record_result, well_formed_outcomes
from neps_core.run_context import RunContext, injected_names
from neps_core.sampler import TrialSampler
from neps_core.serialization import make_folder, safe_repr
from neps_core.stop_reasons import BUDGET_DOES_NOT_FIT
from neps_core.trial_calls import call_arguments, trial_context
from neps_core.worker_storages import serving

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.05


class Worker:
    """One worker's loop over a run; build it, then call ``run`` once."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.settings = context.settings
        self._injected = injected_names(context.settings.evaluate_pipeline or (lambda: None))
        self._in_flight: dict[str, Trial] = {}  # until its result is stored
        self._claiming: set[str] = set()  # stored as this worker's, not yet in flight
        # Launched asynchronously, no result yet: free slots depend on them where the
        # evaluator bounds them, and what this call may start under its cost limit.
        self._awaiting = AwaitedResults(
            context.storage,
            every_look=context.evaluator.max_outstanding is not None
            or self.settings.max_cost_per_run is not None,
        )
        self._unbuilt: list[EvaluationOutcome] = []  # pipelines not built: failed as if raised
        self._claimed = 0
        self._spent = CallBudget(
            self.settings.max_cost_per_run, self.settings.max_fidelities_per_run
        )
        self._local_stop: str | None = None
        self._told_waiting = ""  # the reason for waiting last logged
        self._told_none = False  # whether a trial returning None was warned about
        self._budget_look = Cadence(ASYNC_NOTICE_INTERVAL)  # how often a waiting worker looks
        self._sampler = TrialSampler(
            self.settings,
            context.space,
            context.optimizer,
            context.plugins,
            process=this_process(),
            held=self._held,
        )
        self._estimate_wait = CostEstimateWait(self._sampler, self.settings.worker_id)
        self._results_wait = ResultsWait(self._sampler, context.storage)
        self._summary_files = LiveSummaryFiles.for_run(context)

    @property
    def stop_reason(self) -> str | None:
        """Why this worker takes no new trials (``None`` while it still does)."""
        return self._local_stop or self._sampler.stop_reason

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Evaluate trials until a budget is spent, the optimizer is done or an error stops it."""
        heartbeat = Heartbeat(
            self.context.open_storage,
            self.context.root_directory,
            self.settings.worker_id,
            self.settings.heartbeat_interval,
            running=self._held,
        )
        # save_pipeline_results in this worker's evaluations records through its storage.
        serve = serving(self.context.root_directory, self.context.storage)
        with heartbeat, self._summary_files, serve, working_here(self.settings.worker_id):
            try:
                self._loop()
            except BaseException as stop:  # Ctrl-C, sys.exit, or an error that ends the run
                # The trial whose error stops the run is stored already; others of a process
                # pool, say, would stay EVALUATING and count against the budget.
                me = self.settings.worker_id
                reason = f"worker {me} stopped by {safe_repr(stop)}"  # a user's may raise
                mine = set(self._in_flight) | self._claiming
                give_back_running(self.context.storage, mine, me, reason)
                raise
        history = self.context.storage.sync()
        stopped = self._local_stop or self._sampler.reason_at(history)
        logger.info("Worker %s stopped: %s", self.settings.worker_id, stopped)
        budget = self._sampler.budget(history)
        say_the_optimizer_ended_first(budget, stopped, worker_id=self.settings.worker_id)
        mention_silent_workers(
            history,
            self.settings.worker_id,
            idle=self._claimed == 0,
            heartbeat_interval=self.settings.heartbeat_interval,
            stale_after=self.settings.stale_after,
            present=functools.partial(present_with_me, self.settings.root_directory),
        )
        if self._claimed == 0 and history.all_final:
            reason = self._sampler.stop_reason or ""
            say_why_nothing_was_evaluated(
                budget,
                reason,
                not reason.startswith(BUDGET_DOES_NOT_FIT),  # whether the budget fits a trial
                worker_id=self.settings.worker_id,
                root_directory=self.settings.root_directory,
            )

    def _loop(self) -> None:
        waits = self.settings.continue_until_max_evaluation_completed
        until_results = False  # the sampler waits for results of trials this worker runs
        while True:
            self._notice_async_results()
            free = self._free_slots()
            asks = self.stop_reason is None or waits or self._ask_again()
            if free > 0 and asks and not until_results and self._results_wait.ask_again():
                if not self._sample_and_launch(free):
                    self._say_why_waiting()
                until_results = bool(self._sampler.waiting_for and self._in_flight)
            if free <= 0 and not self._in_flight and self.stop_reason is None:
                self._look_at_the_budget()
            if self._in_flight:
                outcomes = self._collect()
                self._finish_all(outcomes)
                until_results = until_results and not outcomes
            elif self.stop_reason is None or self._must_wait_for_others():
                time.sleep(POLL_INTERVAL)  # for a free slot, or for other workers' trials
            elif not self._sample_and_launch(max(self._free_slots(), 0), look_now=True):
                break  # it may be the run's last worker: it looked for gone workers' trials
        self._notice_async_results(now=True)

    def _sample_and_launch(self, free: int, *, look_now: bool = False) -> list[Trial]:
        """Sample and start up to ``free`` trials (``look_now``: see ``TrialSampler.sample``)."""
        sampled = self._sample(free, look_now=look_now)
        for trial in sampled:
            self._launch(trial)
        self._claiming.clear()
        while self._unbuilt:  # after every claimed trial is in flight (given back)
            self._finish_in_flight(self._unbuilt.pop(0))
        return sampled

    def _notice_async_results(self, *, now: bool = False) -> None:
        """Tell observers of the results that arrived through ``save_pipeline_results`` for
        this worker's asynchronous trials while it runs (TensorBoard logged none of them), and
        spend their costs (``max_cost_per_run`` never stopped an asynchronous worker)."""
        for trial in self._awaiting.arrived(now=now):
            self._spent.ended(trial.cost)
            if trial.report is not None:
                self._tell_finished(trial)

    def _say_why_waiting(self) -> None:
        """Log, once per reason, why nothing new starts while trials run: with an asynchronous
        evaluation and cost_to_spend, the worker waited silently for a first cost."""
        sampler = self._sampler
        reason = sampler.waiting_because if sampler.waiting_for else ""
        if reason and reason != self._told_waiting:
            logger.info("Waiting for trial(s) %s: %s", ", ".join(sampler.waiting_for), reason)
        self._told_waiting = reason

    def _free_slots(self) -> int:
        """Evaluator capacity left, also bounded by this worker's unanswered async trials."""
        evaluator = self.context.evaluator
        free = evaluator.capacity - len(self._in_flight)
        limit = evaluator.max_outstanding  # _awaiting holds no final trial (_loop noticed them)
        if limit is not None:
            free = min(free, limit - len(self._in_flight) - len(self._awaiting))
        return free

    def _look_at_the_budget(self) -> None:
        """With every slot awaiting an async result, sample nothing, but learn (once a
        second) whether this worker's limit is reached, or the budget spent with no trial
        pending: then nothing is left to wait for."""
        if not self._budget_look.due():
            return
        limit_reached = self._local_allowance() == 0  # else pending trials wait for a slot
        if limit_reached or self.context.storage.sync().count(TrialState.PENDING) == 0:
            self._sample(0)  # says whether this worker's limit or the budget stops it

    def _must_wait_for_others(self) -> bool:
        """Whether this stopped worker waits for others' trials: with
        continue_until_max_evaluation_completed until every trial is final; when the next
        trial did not fit cost_to_spend, while trials run (see ``CostEstimateWait``)."""
        if self.stop_reason is None or self._local_stop is not None:
            return False
        if self.settings.continue_until_max_evaluation_completed:
            return not self.context.storage.sync().all_final
        wait = self._estimate_wait
        return wait.may_apply() and wait.applies(self.context.storage.sync())

    def _ask_again(self) -> bool:
        """Whether a worker waiting for running trials' costs samples again now."""
        return self._must_wait_for_others() and self._estimate_wait.ask_again()

    # -- sampling ---------------------------------------------------------------------------
    def _sample(self, free: int, *, look_now: bool = False) -> list[Trial]:
        """Claim pending trials or create new ones, in one storage transaction."""
        local_left = self._local_allowance()
        if local_left == 0:
            self._local_stop = "max_evaluations_per_run reached"
            return []
        reached = self._spent.reached()
        if reached is not None:
            self._local_stop = f"{reached} reached"
            return []
        running = self._awaiting.ids.union(self._in_flight)  # awaited ones cost too
        bounds = (free, local_left, self._spent.room(running, self.context.storage.sync))
        wanted = min(bound for bound in bounds if bound is not None)
        if wanted == 0 < free:  # the trials running may use up this call's cost limit
            return self._held_back()
        return self._sampler.sample(self.context.storage, wanted, self._claiming, look_now=look_now)

    def _held_back(self) -> list[Trial]:
        """Under ``max_cost_per_run``, trials awaited with no cost known hold new ones back:
        say so, unless the run's budget stops this worker anyway (as without the limit; a
        job that never reports would keep it waiting for nothing)."""
        if self._awaiting.ids and self._budget_look.due():
            self._sampler.sample(self.context.storage, 0, self._claiming)  # may set stop_reason
        if self.stop_reason is None and self.settings.max_cost_per_run is not None:
            self._awaiting.say_they_hold_back(self.settings.max_cost_per_run)
        return []

    def _local_allowance(self) -> int | None:
        limit = self.settings.max_evaluations_per_run
        return None if limit is None else max(0, limit - self._claimed)

    # -- evaluation -------------------------------------------------------------------------
    def _launch(self, trial: Trial) -> None:
        self._claimed += 1
        self._spent.started(trial)
        self._in_flight[trial.id] = trial
        self.context.plugins.notify("neps_trial_sampled", run=self.context, trial=trial)
        directory = self.context.storage.trial_directory(trial.id)
        make_folder(directory)
        context = trial_context(trial, directory, self.context.storage, self.settings)
        try:
            arguments = call_arguments(
                trial, context, self.context.space, self._injected, self.settings.seed
            )
        except Exception as error:  # an operation's constructor refused this configuration
            add_note(error, f"neps_core: while building the pipeline of trial {trial.id}")
            formatted = traceback.format_exc()
            self._unbuilt.append(EvaluationOutcome(trial.id, error=error, traceback=formatted))
            return
        job = EvaluationJob(
            trial=trial,
            function=self.settings.evaluate_pipeline,  # type: ignore[arg-type]
            arguments=arguments,
            pipeline_directory=directory,
            context=context,
        )
        with self._evaluator_errors():
            self.context.evaluator.submit(job)

    def _collect(self) -> list[EvaluationOutcome]:
        """The evaluator's outcomes; a malformed one is refused once the others are stored."""
        with self._evaluator_errors():
            answer = self.context.evaluator.wait(timeout=POLL_INTERVAL)
            returned = returned_list(answer, "wait()", EvaluationOutcome)
        outcomes, refusal = well_formed_outcomes(returned, self._in_flight)
        if refusal is not None:
            try:  # an error storing them (an observer's) is kept as the refusal's __context__
                self._finish_all(outcomes)
            finally:
                with self._evaluator_errors():
                    raise refusal
        return outcomes

    def _evaluator_errors(self) -> AbstractContextManager[None]:
        return self.context.plugins.errors_of("evaluator", type(self.context.evaluator))

    def _finish_all(self, outcomes: list[EvaluationOutcome]) -> None:
        """Store every outcome, then raise the first error that stops the run: the others
        were evaluated too (a process pool's batch), and would have been evaluated again."""
        errors = []
        for outcome in outcomes:
            try:
                self._finish_in_flight(outcome)
            except Exception as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def _held(self) -> set[str]:
        """The trials this worker evaluates: its heartbeat keeps them alive."""
        return set(self._in_flight)

    def _finish_in_flight(self, outcome: EvaluationOutcome) -> None:
        """Store the outcome; the trial stays in flight (given back if stopped) until then."""
        self._finish(self._in_flight[outcome.trial_id], outcome)
        del self._in_flight[outcome.trial_id]

    def _finish(self, trial: Trial, outcome: EvaluationOutcome) -> None:
        if outcome.error is None and outcome.result is None:
            # Said once aloud: a forgotten `return` looks the same, and would leave every
            # trial EVALUATING without a word.
            logger.log(
                logging.INFO if self._told_none else logging.WARNING,
                "Trial %s: evaluate_pipeline returned None, so the trial waits for its result "
                "from save_pipeline_results (asynchronous evaluation); if that is not meant, "
                "evaluate_pipeline lacks a `return`",
                trial.id,
            )
            self._told_none = True
            self._awaiting.mark(trial.id)
            return
        if isinstance(outcome.error, EvaluationLostError):  # as if its worker had died
            self._requeue_or_crash(trial, outcome)
            return
        parsed, raise_after = judge_outcome(outcome, self.settings)
        if isinstance(raise_after, EvaluationTimeoutError):
            raise_after = None  # the user's own limit: the trial is FAILED, the run goes on
        self._spent.ended(parsed.report.cost)
        try:
            stored = record_result(self.context.storage, trial.id, parsed, evaluated=trial)
        except ObjectiveCountError as mismatch:  # stored as FAILED; observers hear of it first
            assert mismatch.trial is not None
            stored, raise_after = mismatch.trial, mismatch
        except TrialAlreadyReportedError as reported:
            logger.warning(
                "%s, so this worker's result is dropped: this worker was silent for longer "
                "than stale_after and the trial was evaluated again (or, on its last attempt, "
                "marked crashed), or its result was told from elsewhere (AskAndTell.tell, "
                "save_pipeline_results)",
                reported,
            )
            if raise_after is not None:
                raise raise_after from None
            return
        self._tell_finished(stored)
        if raise_after is not None:
            raise raise_after

    def _requeue_or_crash(self, trial: Trial, outcome: EvaluationOutcome) -> None:
        """A lost evaluation (a scheduler lost it): another attempt, or CRASHED (observers hear)."""

        def requeue(history: TrialHistory) -> list[Trial]:
            if history[trial.id].state.is_final:  # another worker finished it
                return []
            reason, attempts = f"{outcome.error}", self.settings.max_trial_attempts
            again = requeue_or_crash(
                history[trial.id], reason, max_attempts=attempts, metadata=outcome.metadata
            )
            return [again]

        stored_versions = self.context.storage.transact(requeue)
        for crashed in (t for t in stored_versions if t.state is TrialState.CRASHED):
            self._tell_finished(crashed)

    def _tell_finished(self, trial: Trial) -> None:
        assert trial.report is not None
        notify = self.context.plugins.notify
        notify("neps_trial_finished", run=self.context, trial=trial, report=trial.report)
        self._summary_files.trial_finished()  # if the last rewrite is old enough
