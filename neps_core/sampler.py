"""Deciding which trials a worker gets, inside one storage transaction.

In order: recover trials of dead workers, claim PENDING trials, then - while the global
budget allows - ask the optimizer for new configurations. On the complete, locked history,
two workers never take the same slot and the budget is exact (worker loop and ask-and-tell).
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from neps_core.budget import BudgetGuard, costless_failure_stop
from neps_core.components import build_optimizer, select_optimizer_class
from neps_core.config import RunSettings
from neps_core.errors import add_note
from neps_core.heartbeat import beats, held_by
from neps_core.history import TrialHistory
from neps_core.interfaces import Optimizer, Storage
from neps_core.interfaces.optimizer import first_multi_objective
from neps_core.liveness import (
    GONE_CHECK_INTERVAL,
    STALE_AFTER,
    WORKER_PROCESS,
    awaits_result,
    evaluated_by_a_worker,
    recover_gone_workers,
    recover_stale_trials,
    without_running_marks,
)
from neps_core.models import BudgetInfo, Proposal, Trial, TrialState, id_order
from neps_core.plugin_checks import returned_list
from neps_core.plugin_manager import Plugins
from neps_core.presence import present_with_me
from neps_core.proposals import checked_proposal
from neps_core.space import PipelineSpace
from neps_core.stop_reasons import BUDGET_DOES_NOT_FIT, NOTHING_LEFT, budget_used_up

logger = logging.getLogger(__name__)


class TrialSampler:
    """Samples trials for one worker.

    ``stop_reason`` says why it gives no more trials; ``waiting_for`` names the running
    trials it waits for before it may give one, and ``waiting_because`` says why (a first
    cost to learn, see :meth:`_cost_allows`, or results that may bring promotions).
    """

    def __init__(
        self,
        settings: RunSettings,
        space: PipelineSpace,
        optimizer: Optimizer,
        plugins: Plugins,
        *,
        process: str | None = None,
        held: Callable[[], set[str]] = set,
    ) -> None:
        """``process`` (a ``run()`` worker's, see ``presence.this_process``) is recorded in
        the trials it claims, so that they are re-queued at once should it die; so is the
        ``stale_after`` of ``settings``, by which every process judges its silence. ``held``:
        the ids of the trials the worker's ``Heartbeat`` beats for (see :meth:`sample`)."""
        self.settings = settings
        self.process = process
        self.held = held
        self.space = space
        self.optimizer = optimizer
        self.plugins = plugins
        self.stop_reason: str | None = None
        self.waiting_for: list[str] = []
        self.waiting_because = ""
        self._last_gone_check = 0.0  # so the first sample checks
        self._mentioned_paused: set[str] = set()  # trials of live but silent workers
        self._saw_budget_used_up = self._budget_used_up = False
        self._started = time.time()  # failures before this call do not stop it
        self._logged_stop: str | None = None  # the worker asks again before it ends

    def sample(
        self, storage: Storage, wanted: int, claiming: set[str], *, look_now: bool = False
    ) -> list[Trial]:
        """Up to ``wanted`` trials now EVALUATING by this worker (fewer when none are left).

        Their ids are in ``claiming`` before they are stored: a worker stopped before this
        returns knows which trials to give back. ``look_now``: look for gone workers even
        within ``GONE_CHECK_INTERVAL`` of the last look (a worker about to stop).

        The ``held`` trials and those claimed get a heartbeat with the decision where their
        last one is older than ``heartbeat_interval``: the worker's heartbeat thread waits for
        the lock that a long decision holds, and the next to take it would find them silent
        and re-queue them (a Bayesian optimization ask on 450 trials, ``stale_after=5``:
        evaluated twice).
        """

        def decide(history: TrialHistory) -> list[Trial]:
            decided = {t.id: t for t in self._decide(history, wanted, look_now=look_now)}
            claiming.clear()  # a retried transaction stores only its last decision
            claiming.update(t.id for t in self._mine(list(decided.values())))
            held = [decided.get(i) or history[i] for i in self.held() if i in history]
            me, interval = self.settings.worker_id, self.settings.heartbeat_interval
            mine = held + [decided[i] for i in claiming]
            decided.update((t.id, t) for t in beats(mine, me, older_than=interval))
            return list(decided.values())

        trials = [t for t in self._mine(storage.transact(decide)) if t.id in claiming]
        self._saw_budget_used_up = self._budget_used_up  # as the stored decision saw it
        return trials

    def _mine(self, trials: list[Trial]) -> list[Trial]:
        return held_by(trials, self.settings.worker_id)

    def _decide(self, history: TrialHistory, wanted: int, *, look_now: bool) -> list[Trial]:
        self.waiting_for, self.stop_reason = [], None
        now = time.time()
        # The first sample that finds the budget used up may be the last of the run's last
        # client (a run() worker also looks right before it stops, ``look_now``): a trial a
        # dead worker left would stay EVALUATING for good, so look now, not in 2 s. (A worker
        # that then waits for the others' trials samples once per second or as one ends.)
        self._budget_used_up = self.budget(history).exhausted_by is not None
        look_now = look_now or (self._budget_used_up and not self._saw_budget_used_up)
        changed = {trial.id: trial for trial in self._recover(history, now, look_now=look_now)}
        pending = [i for i in history.ids_in(TrialState.PENDING) if i not in changed]
        pending += [t.id for t in changed.values() if t.state is TrialState.PENDING]
        for trial_id in pending[:wanted]:
            trial = changed.get(trial_id, history[trial_id])
            changed[trial_id] = attrs.evolve(
                trial,
                state=TrialState.EVALUATING,
                worker_id=self.settings.worker_id,
                started_at=now,
                last_heartbeat=now,
                attempts=history[trial_id].attempts + 1,
                metadata=self._claimed_metadata(trial.metadata),
            )
        handed_out = min(wanted, len(pending))
        wanted -= handed_out
        claimed = list(changed.values())
        if handed_out and wanted == 0:
            return claimed
        budget = self.budget(history)
        if budget.exhausted_by is not None:  # also when asked for nothing: it stops
            running = len(history.ids_in(TrialState.EVALUATING))
            self.stop_reason = budget_used_up(budget.exhausted_by, running)
            return claimed
        if wanted == 0:
            return claimed
        batch = max(wanted, self.settings.sample_batch_size)
        if budget.remaining_evaluations is not None:
            batch = min(batch, budget.remaining_evaluations)
        if self._stops_for_costless_failures(history, budget):
            return claimed
        if budget.cost_to_spend is not None:
            batch = min(batch, self._cost_allows(history, budget))
            wanted = min(wanted, batch)
            if batch == 0:
                return claimed
        asked = self._ask(history, budget, batch)
        proposals = self._within_budgets(history, budget, asked)
        if not proposals:
            exhausted = not asked and self._cheapest_trial_fits(history, budget)
            reason = NOTHING_LEFT if exhausted else None
            self._nothing_now(history, claimed, reason or self._does_not_fit(asked))
        return claimed + self._new_trials(history, proposals, wanted, now)

    def reason_at(self, history: TrialHistory) -> str | None:
        """``stop_reason`` as it reads at ``history``: the trials it counted as running when
        the budget ran out (a process pool's own) may have ended since."""
        exhausted = self.budget(history).exhausted_by
        if exhausted is not None and (self.stop_reason or "").startswith("budget"):
            return budget_used_up(exhausted, len(history.ids_in(TrialState.EVALUATING)))
        return self.stop_reason

    def _does_not_fit(self, asked: list[Proposal]) -> str:
        """``BUDGET_DOES_NOT_FIT``, with the next trial's fidelity (BO runs at the maximum)."""
        name = self.space.fidelity_name
        if asked and name is not None and self.settings.fidelities_to_spend is not None:
            return f"{BUDGET_DOES_NOT_FIT} (at {name}={asked[0].config[name]})"
        return BUDGET_DOES_NOT_FIT

    def _cheapest_trial_fits(self, history: TrialHistory, budget: BudgetInfo) -> bool:
        """Whether a new trial at the lowest fidelity fits: the multi-fidelity optimizers
        propose nothing when none does, which is the budget's doing, not theirs."""
        if budget.remaining_cost is None and budget.remaining_fidelities is None:
            return True
        lowest = history.lowest_new_fidelity(self.space)
        return BudgetGuard(history, budget).fits(lowest, continued=False)

    def _nothing_now(self, history: TrialHistory, claimed: list[Trial], reason: str) -> None:
        """Stop for ``reason``, unless this worker's own trials still run, or (the optimizer
        having nothing to propose) other ``run()`` workers' trials do.

        Their results may bring new trials (promotions, a budget estimate that was too high);
        a process pool that stopped on the first empty answer left the best configuration of
        a small space below the top rung, and a worker that stopped while another's trial ran
        left all later promotions to that one. Only trials ``evaluated_by_a_worker`` count.
        """
        me, stale_after = self.settings.worker_id, self.settings.stale_after
        running = {t.id for t in claimed if t.worker_id == me}
        for i in history.ids_in(TrialState.EVALUATING):
            mine = history[i].worker_id == me and not awaits_result(history[i])
            if mine or (reason == NOTHING_LEFT and evaluated_by_a_worker(history[i], stale_after)):
                running.add(i)
        if not running:
            self.stop_reason = reason
            return
        self.waiting_for = sorted(running, key=id_order)
        self.waiting_because = f"{reason} until they finish (their results may bring more)"

    def budget(self, history: TrialHistory) -> BudgetInfo:
        """The run's global budget as used by ``history``."""
        return history.budget(
            evaluations_to_spend=self.settings.evaluations_to_spend,
            cost_to_spend=self.settings.cost_to_spend,
            fidelities_to_spend=self.settings.fidelities_to_spend,
        )

    def _recover(self, history: TrialHistory, now: float, *, look_now: bool) -> list[Trial]:
        attempts, interval = self.settings.max_trial_attempts, self.settings.heartbeat_interval
        gone: list[Trial] = []
        present = functools.cache(functools.partial(present_with_me, self.settings.root_directory))
        if look_now or now >= self._last_gone_check + GONE_CHECK_INTERVAL:  # the first at once
            self._last_gone_check = now
            gone = recover_gone_workers(
                history,
                present,
                now=now,
                max_attempts=attempts,
                heartbeat_interval=interval,
                looker=self.settings.worker_id if self.process else None,  # not AskAndTell's
                held=self.held(),
            )
        stale = recover_stale_trials(
            history,
            now=now,
            stale_after=self.settings.stale_after,
            max_attempts=attempts,
            known={trial.id for trial in gone} | self.held(),  # not re-queued (held: beaten below)
            present=present,  # the lock table read once per sample
            mentioned=self._mentioned_paused,
            heartbeat_interval=interval,
            looker=self.settings.worker_id,
        )
        return [*gone, *stale]

    def _claimed_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """``metadata`` with this worker's ``stale_after`` (``liveness.stale_after_of``), and
        naming this sampler's process as the one evaluating, if it has one."""
        kept = {**without_running_marks(metadata), STALE_AFTER: self.settings.stale_after}
        return kept if self.process is None else {**kept, WORKER_PROCESS: self.process}

    def _stops_for_costless_failures(self, history: TrialHistory, budget: BudgetInfo) -> bool:
        """Whether a streak of failures without a cost stops a run only a cost budget
        (``cost_to_spend`` or ``max_cost_per_run``) could end: they spend nothing, so it
        would loop forever."""
        settings, cost_budget = self.settings, self.settings.cost_budget
        limited = {settings.max_evaluations_per_run, settings.max_fidelities_per_run} != {None}
        reason = cost_budget and costless_failure_stop(
            history, budget, cost_budget, self._started, call_limited=limited
        )
        if not reason:
            return False
        self.stop_reason = reason
        if reason != self._logged_stop:
            logger.warning("Stopping: %s", reason)
            self._logged_stop = reason
        return True

    def _cost_allows(self, history: TrialHistory, budget: BudgetInfo) -> int:
        """How many new trials ``cost_to_spend`` allows before their cost can be estimated.

        Until a finished trial reports a cost, nothing can be estimated: one trial runs at a
        time (the others wait for it) so that a blind first batch cannot overshoot the budget.
        """
        if history.costs_reported > 0:
            return sys.maxsize
        ids_in = history.ids_in
        self.waiting_for = ids_in(TrialState.EVALUATING) + ids_in(TrialState.PENDING)
        self.waiting_because = (
            "no trial has reported a cost yet, so cost_to_spend lets one run at a time"
        )
        return 0 if self.waiting_for else 1

    def _ask(self, history: TrialHistory, budget: BudgetInfo, n: int) -> list[Proposal]:
        self._switch_auto_to_multi_objective(history)
        optimizer = self.optimizer
        culprit = f"Optimizer {optimizer.name!r} ({self.plugins.origin(type(optimizer))})"
        with self.plugins.errors_of("optimizer", type(optimizer)):
            optimizer.check_objectives(history)
            try:
                answer = optimizer.ask(history, budget, n)
            except Exception as error:
                self._name_misfits(error, history)
                raise
        answered = returned_list(answer, f"{culprit}: ask()", Proposal)[:n]
        return [checked_proposal(p, self.space, history, culprit) for p in answered]

    def _name_misfits(self, error: Exception, history: TrialHistory) -> None:
        """Name the stored trials whose configuration does not fit the space, which an
        optimizer may fail on (a value edited by hand: ``x: "str"`` for a Float).

        Checked only after a failure: on every ask it would cost time for nothing.
        """
        misfits = []
        for trial in history.values():
            try:
                self.space.validate_config(trial.config)
            except (ValueError, TypeError) as problem:
                misfits.append(f"trial {trial.id}: {problem}")
        if misfits:
            add_note(
                error,
                "neps_core: stored configurations that do not fit the space (edited by hand?): "
                + "; ".join(misfits[:3])
                + ("; ..." if len(misfits) > 3 else ""),
            )

    def _within_budgets(
        self, history: TrialHistory, budget: BudgetInfo, proposals: list[Proposal]
    ) -> list[Proposal]:
        """The leading proposals that fit the fidelity and cost budgets together.

        Whichever optimizer proposes: a trial's fidelity is known before it runs, and is
        summed exactly, so ``fidelities_to_spend`` is never overshot; its cost is estimated
        from finished trials like it (see :class:`~neps_core.cost_model.CostModel`).
        """
        limit, name = self.settings.fidelities_to_spend, self.space.fidelity_name
        if limit is None and budget.cost_to_spend is None:
            return proposals  # nothing to check: keep asking O(1) in the size of the run
        guard = BudgetGuard(history, budget)
        fidelities: list[float] = []
        for index, proposal in enumerate(proposals):
            fidelity = None if name is None else proposal.config[name]
            continued = proposal.previous_trial_id is not None
            if fidelity is not None:
                fidelities.append(fidelity)
            overshoots = limit is not None and history.fidelities_spent_with(fidelities) > limit
            if overshoots or not guard.fits(fidelity, continued):
                return proposals[:index]
            guard.spend(fidelity, continued)
        return proposals

    def _switch_auto_to_multi_objective(self, history: TrialHistory) -> None:
        """With ``optimizer="auto"``, results with several objectives get an optimizer for them.

        Whether a run has several objectives shows only in its results; the first choice was
        made before any arrived.
        """
        spec = self.settings.optimizer
        if spec.name != "auto" or self.optimizer.supports_multi_objective:
            return
        if first_multi_objective(history) is None:
            return
        cls = select_optimizer_class(
            spec, self.space, self.settings, self.plugins, multi_objective=True
        )
        logger.info(
            "optimizer='auto': the results have several objectives, so %s replaces %s",
            cls.name,
            self.optimizer.name,
        )
        with self.plugins.errors_of("optimizer", cls):
            self.optimizer = build_optimizer(
                cls, spec.options, self.space, self.settings.seed, self.plugins.converter
            )

    def _new_trials(
        self, history: TrialHistory, proposals: list[Proposal], wanted: int, now: float
    ) -> list[Trial]:
        """The first ``wanted`` proposals are this worker's; the rest wait as PENDING."""
        fidelity_name = self.space.fidelity_name
        first_id = int(history.next_id())
        trials = []
        for index, proposal in enumerate(proposals):
            mine = index < wanted
            # A copy, without marks only the runtime sets (an optimizer copying a previous
            # trial's metadata would make its promotion "await a result", never re-queued).
            metadata = without_running_marks(proposal.metadata)
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
                    optimizer=self.optimizer.name,
                    metadata=self._claimed_metadata(metadata) if mine else metadata,
                )
            )
        return trials
