"""The worker loop: sample -> evaluate -> report, until a budget or the optimizer says stop.

A worker talks to other workers only through storage. Sampling and reporting are storage
transactions, so any number of workers (processes, nodes) can run the loop on one root and
the global budget stays exact.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from neps_core.config import RunSettings
from neps_core.errors import MissingCostError, TrialAlreadyReportedError, TrialNotFoundError
from neps_core.history import TrialHistory
from neps_core.interfaces import EvaluationJob, EvaluationOutcome, Evaluator, Optimizer, Storage
from neps_core.liveness import ASYNC_MARK, Heartbeat, recover_stale_trials
from neps_core.models import Proposal, Report, Trial, TrialState
from neps_core.plugin_manager import Plugins, plugin_errors
from neps_core.result_contract import ParsedResult, failure_report, parse_result
from neps_core.space import PipelineSpace

logger = logging.getLogger(__name__)

INJECTABLE = ("pipeline_directory", "previous_pipeline_directory", "pipeline_id", "root_directory")
POLL_INTERVAL = 0.05


@attrs.define
class RunContext:
    """What observer hooks see of a worker's run.

    ``open_storage`` opens another handle on the same run (for the heartbeat thread).
    """

    settings: RunSettings
    space: PipelineSpace
    storage: Storage
    optimizer: Optimizer
    evaluator: Evaluator
    plugins: Plugins
    open_storage: Callable[[], Storage]

    @property
    def worker_id(self) -> str:
        """This worker's id."""
        return self.settings.worker_id

    @property
    def root_directory(self) -> Path:
        """The run's root directory."""
        return self.settings.root_directory


def injected_names(function: Callable[..., Any]) -> tuple[str, ...]:
    """The framework arguments ``function`` asks for by name (never through ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(name for name in INJECTABLE if name in parameters)


def record_result(storage: Storage, trial_id: str, parsed: ParsedResult) -> Trial:
    """Store a final result for ``trial_id``, refusing a second result for the same trial."""

    def change(history: TrialHistory) -> list[Trial]:
        if trial_id not in history:
            raise TrialNotFoundError(f"No trial with id {trial_id!r} in {storage.root_directory}")
        trial = history[trial_id]
        if trial.state.is_final:
            raise TrialAlreadyReportedError(
                f"Trial {trial_id!r} already has a result (state {trial.state.value})"
            )
        return [
            attrs.evolve(trial, state=parsed.state, report=parsed.report, finished_at=time.time())
        ]

    return storage.transact(change)[0]


class Worker:
    """One worker's loop over a run; build it, then call :meth:`run` once."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.settings = context.settings
        self._injected = injected_names(context.settings.evaluate_pipeline or (lambda: None))
        self._in_flight: dict[str, Trial] = {}
        self._awaiting: set[str] = set()  # launched asynchronously, no result yet
        self._claimed = 0
        self._cost_spent = 0.0
        self.stop_reason: str | None = None

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Evaluate trials until a budget is spent, the optimizer is done or an error stops it."""
        heartbeat = Heartbeat(
            self.context.open_storage,
            self.settings.worker_id,
            self.settings.heartbeat_interval,
            running=lambda: set(self._in_flight),
        )
        with heartbeat:
            self._loop()
        logger.info("Worker %s stopped: %s", self.settings.worker_id, self.stop_reason)

    def _loop(self) -> None:
        evaluator = self.context.evaluator
        waits = self.settings.continue_until_max_evaluation_completed
        while True:
            free = self._free_slots()
            if free > 0 and (self.stop_reason is None or waits):
                for trial in self._sample(free):
                    self._launch(trial)
            if self._in_flight:
                for outcome in evaluator.wait(timeout=POLL_INTERVAL):
                    self._finish(self._in_flight.pop(outcome.trial_id), outcome)
            elif self._must_wait_for_others() or (free <= 0 and self.stop_reason is None):
                time.sleep(POLL_INTERVAL)
            elif self.stop_reason is not None:
                break

    def _free_slots(self) -> int:
        """Evaluator capacity left, also bounded by this worker's unanswered async trials."""
        evaluator = self.context.evaluator
        free = evaluator.capacity - len(self._in_flight)
        limit = evaluator.max_outstanding
        if limit is not None and self._awaiting:
            history = self.context.storage.sync()
            self._awaiting = {i for i in self._awaiting if not history[i].state.is_final}
        if limit is not None:
            free = min(free, limit - len(self._in_flight) - len(self._awaiting))
        return free

    def _must_wait_for_others(self) -> bool:
        """With continue_until_max_evaluation_completed, wait until every trial is final."""
        if self.stop_reason is None or not self.settings.continue_until_max_evaluation_completed:
            return False
        if self.stop_reason in ("max_evaluations_per_run", "max_cost_per_run"):
            return False
        return not self.context.storage.sync().all_final

    # -- sampling ---------------------------------------------------------------------------
    def _sample(self, free: int) -> list[Trial]:
        """Claim pending trials or create new ones, in one storage transaction."""
        local_left = self._local_allowance()
        if local_left == 0:
            self.stop_reason = self.stop_reason or "max_evaluations_per_run"
            return []
        if self.settings.max_cost_per_run and self._cost_spent >= self.settings.max_cost_per_run:
            self.stop_reason = "max_cost_per_run"
            return []
        wanted = free if local_left is None else min(free, local_left)
        written = self.context.storage.transact(lambda history: self._decide(history, wanted))
        return [
            trial
            for trial in written
            if trial.state is TrialState.EVALUATING and trial.worker_id == self.settings.worker_id
        ]

    def _local_allowance(self) -> int | None:
        limit = self.settings.max_evaluations_per_run
        return None if limit is None else max(0, limit - self._claimed)

    def _decide(self, history: TrialHistory, wanted: int) -> list[Trial]:
        now = time.time()
        changed = {trial.id: trial for trial in self._recover(history, now)}
        pending = [i for i in history.ids_in(TrialState.PENDING) if i not in changed]
        pending += [t.id for t in changed.values() if t.state is TrialState.PENDING]
        for trial_id in pending[:wanted]:
            changed[trial_id] = attrs.evolve(
                changed.get(trial_id, history[trial_id]),
                state=TrialState.EVALUATING,
                worker_id=self.settings.worker_id,
                started_at=now,
                last_heartbeat=now,
                attempts=history[trial_id].attempts + 1,
            )
        wanted -= min(wanted, len(pending))
        claimed = list(changed.values())
        if wanted == 0:
            return claimed
        budget = history.budget(
            evaluations_to_spend=self.settings.evaluations_to_spend,
            cost_to_spend=self.settings.cost_to_spend,
            fidelities_to_spend=self.settings.fidelities_to_spend,
        )
        if budget.exhausted_by is not None:
            self.stop_reason = f"budget {budget.exhausted_by} used up"
            return claimed
        batch = max(wanted, self.settings.sample_batch_size)
        if budget.remaining_evaluations is not None:
            batch = min(batch, budget.remaining_evaluations)
        proposals = self._ask(history, budget, batch)
        if not proposals:
            self.stop_reason = "the optimizer has nothing left to propose"
        return claimed + self._new_trials(history, proposals, wanted, now)

    def _recover(self, history: TrialHistory, now: float) -> list[Trial]:
        return recover_stale_trials(
            history,
            now=now,
            stale_after=self.settings.stale_after,
            max_attempts=self.settings.max_trial_attempts,
        )

    def _ask(self, history: TrialHistory, budget: Any, n: int) -> list[Proposal]:
        optimizer = self.context.optimizer
        with plugin_errors(f"optimizer {optimizer.name!r} of", self._origin(optimizer)):
            proposals = list(optimizer.ask(history, budget, n))
        for proposal in proposals:
            try:
                self.context.space.validate_config(proposal.config)
            except ValueError as error:
                raise ValueError(
                    f"Optimizer {optimizer.name!r} proposed an invalid configuration: {error}"
                ) from error
        return proposals[:n]

    def _new_trials(
        self, history: TrialHistory, proposals: list[Proposal], wanted: int, now: float
    ) -> list[Trial]:
        fidelity_name = self.context.space.fidelity_name
        first_id = int(history.next_id())
        trials = []
        for index, proposal in enumerate(proposals):
            mine = index < wanted
            trials.append(
                Trial(
                    id=str(first_id + index),
                    config=dict(proposal.config),
                    state=TrialState.EVALUATING if mine else TrialState.PENDING,
                    created_at=now,
                    worker_id=self.settings.worker_id if mine else None,
                    started_at=now if mine else None,
                    last_heartbeat=now if mine else None,
                    previous_trial_id=proposal.previous_trial_id,
                    fidelity=None if fidelity_name is None else proposal.config[fidelity_name],
                    attempts=1 if mine else 0,
                )
            )
        return trials

    # -- evaluation -------------------------------------------------------------------------
    def _launch(self, trial: Trial) -> None:
        self._claimed += 1
        self._in_flight[trial.id] = trial
        self.context.plugins.hook.neps_trial_sampled(run=self.context, trial=trial)
        directory = self.context.storage.trial_directory(trial.id)
        directory.mkdir(parents=True, exist_ok=True)
        self.context.evaluator.submit(
            EvaluationJob(
                trial=trial,
                function=self.settings.evaluate_pipeline,  # type: ignore[arg-type]
                arguments=self._arguments(trial, directory),
                pipeline_directory=directory,
            )
        )

    def _arguments(self, trial: Trial, directory: Path) -> dict[str, Any]:
        storage = self.context.storage
        available = {
            "pipeline_directory": directory,
            "previous_pipeline_directory": (
                None
                if trial.previous_trial_id is None
                else storage.trial_directory(trial.previous_trial_id)
            ),
            "pipeline_id": trial.id,
            "root_directory": self.settings.root_directory,
        }
        arguments = self.context.space.resolve(trial.config)
        arguments.update((name, available[name]) for name in self._injected)
        return arguments

    def _finish(self, trial: Trial, outcome: EvaluationOutcome) -> None:
        if outcome.error is None and outcome.result is None:
            logger.info("Trial %s is evaluated asynchronously; waiting for its result", trial.id)
            self._mark_awaiting(trial.id)
            return
        parsed, raise_after = self._parse(outcome)
        if parsed.report.cost is not None:
            self._cost_spent += parsed.report.cost
        stored = record_result(self.context.storage, trial.id, parsed)
        assert stored.report is not None
        self.context.plugins.hook.neps_trial_finished(
            run=self.context, trial=stored, report=stored.report
        )
        if raise_after is not None:
            raise raise_after

    def _parse(self, outcome: EvaluationOutcome) -> tuple[ParsedResult, BaseException | None]:
        """The result to store, and the error to raise once it is stored (if any)."""
        settings = self.settings
        if outcome.error is not None:
            report = failure_report(
                outcome.error,
                outcome.traceback,
                objective_on_error=settings.objective_value_on_error,
                cost_on_error=settings.cost_value_on_error,
            )
            logger.warning("Trial %s failed: %s", outcome.trial_id, report.error)
            error = None if settings.ignore_errors else outcome.error
            return ParsedResult(TrialState.FAILED, self._timed(report, outcome)), error
        try:
            parsed = parse_result(outcome.result)
        except TypeError as contract_error:
            report = failure_report(contract_error, None)
            return ParsedResult(TrialState.FAILED, self._timed(report, outcome)), contract_error
        parsed = ParsedResult(parsed.state, self._timed(parsed.report, outcome))
        missing_cost = settings.cost_to_spend is not None and parsed.report.cost is None
        if missing_cost and parsed.state is TrialState.SUCCESS:
            missing = MissingCostError(
                f"Trial {outcome.trial_id}: cost_to_spend is set, so evaluate_pipeline must "
                "return a dict with a 'cost' key"
            )
            failed = attrs.evolve(parsed.report, error=str(missing))
            return ParsedResult(TrialState.FAILED, failed), missing
        return parsed, None

    def _mark_awaiting(self, trial_id: str) -> None:
        """Record that the trial waits for save_pipeline_results, not for this worker."""

        def mark(history: TrialHistory) -> list[Trial]:
            trial = history[trial_id]
            if trial.state.is_final:  # the result arrived already
                return []
            return [attrs.evolve(trial, metadata={**trial.metadata, ASYNC_MARK: True})]

        self.context.storage.transact(mark)
        self._awaiting.add(trial_id)

    @staticmethod
    def _timed(report: Report, outcome: EvaluationOutcome) -> Report:
        extra = {**report.extra, **outcome.metadata} if outcome.metadata else report.extra
        return attrs.evolve(report, evaluation_duration=outcome.duration, extra=extra)

    def _origin(self, optimizer: Optimizer) -> str:
        return self.context.plugins.origin(type(optimizer))
