"""Keeping new trials inside the cost and fidelity budgets before they start.

A trial's fidelity is known when it is proposed; its cost only once it has run. So the cost
of a trial is estimated from finished trials like it, erring high, and a trial that would
not fit what is left is not started. The core applies this to every optimizer's proposals;
the multi-fidelity optimizers also consult it to pick a cheaper action instead.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from neps_core.cost_model import CostModel
from neps_core.models import BudgetInfo, Trial, TrialState
from neps_core.stop_reasons import NOTHING_LEFT
from neps_core.user_paths import shown_path

if TYPE_CHECKING:
    from neps_core.history import TrialHistory

#: How many trials in a row may fail without a cost before a run that only ``cost_to_spend``
#: could end is stopped: such failures spend nothing, so the run would never end.
FAILURE_STREAK_LIMIT = 20

logger = logging.getLogger(__name__)


class BudgetGuard:
    """What the remaining budget still allows, counting running trials and this ask's proposals.

    Fidelity units are counted exactly (a trial spends its fidelity when created); cost is
    estimated with :class:`CostModel` for trials that have not reported yet.
    """

    def __init__(self, trials: Mapping[str, Trial], budget: BudgetInfo) -> None:
        from neps_core.history import TrialHistory  # here: the history builds on this module

        # A TrialHistory keeps its cost model and its unfinished trials at hand: no scan.
        running: Iterable[Trial]
        if isinstance(trials, TrialHistory):
            self.costs, running = trials.cost_model, trials.unfinished()
        else:
            self.costs, running = CostModel(trials), trials.values()
        self.fidelity_left = budget.remaining_fidelities
        self.cost_left = budget.remaining_cost
        if self.cost_left is not None:
            self.cost_left -= self.costs.expected(t for t in running if not t.state.is_final)

    def fits(self, fidelity: float | None, continued: bool) -> bool:
        """Whether a trial at ``fidelity`` stays within every budget."""
        left = self.fidelity_left
        if left is not None and fidelity is not None and not within(fidelity, left):
            return False
        if self.cost_left is None:
            return True
        return within(self.costs.estimate(fidelity, continued), self.cost_left)

    def spend(self, fidelity: float | None, continued: bool) -> None:
        """Count a proposal at ``fidelity`` against the budgets."""
        if self.fidelity_left is not None and fidelity is not None:
            self.fidelity_left -= fidelity
        if self.cost_left is not None:
            self.cost_left -= self.costs.estimate(fidelity, continued)


class CallBudget:
    """What one ``run()`` call has spent of ``max_cost_per_run`` and ``max_fidelities_per_run``.

    As with one slot, a call's last trial may pass a limit; parallel slots must not multiply
    that. A trial's fidelity counts when it starts, and its cost is expected from its fidelity
    (the run's :class:`CostModel`, as under ``cost_to_spend``) until it ends (an asynchronous
    one: until its result arrives through ``save_pipeline_results``), so trials start
    one at a time while what the call spent and expects of its running trials is below the
    limit. Until the run has a cost to estimate from, or one of this call's trials ended (one
    without a cost costs nothing), a trial runs alone.
    """

    def __init__(self, max_cost: float | None, max_fidelities: float | None) -> None:
        self.max_cost, self.max_fidelities = max_cost, max_fidelities
        self.cost_spent = self.fidelities_spent = 0.0
        self._any_ended = False

    def started(self, trial: Trial) -> None:
        self.fidelities_spent += trial.fidelity or 0.0

    def ended(self, cost: float | None) -> None:
        """A trial of this call ended; one without a cost spent nothing."""
        self.cost_spent += cost or 0.0
        self._any_ended = True

    def reached(self) -> str | None:
        """The setting whose limit this call has reached, if any."""
        for spent, limit, name in (
            (self.cost_spent, self.max_cost, "max_cost_per_run"),
            (self.fidelities_spent, self.max_fidelities, "max_fidelities_per_run"),
        ):
            if limit is not None and spent >= limit:
                return name
        return None

    def room(self, running: Collection[str], history: Callable[[], TrialHistory]) -> int | None:
        """How many trials may start now beside this call's ``running`` ones (None: no bound):
        every one without a result yet, in flight or awaiting an asynchronous result.

        ``history`` gives the run's history (read only under ``max_cost_per_run``): the
        stored running trials, and the costs to estimate theirs from.
        """
        rooms = [1] if self.max_fidelities is not None else []
        if self.max_cost is not None:
            trials = history()
            if trials.costs_reported:
                expected = trials.cost_model.expected(trials[i] for i in running)
                rooms.append(int(self.cost_spent + expected < self.max_cost))
            elif not self._any_ended:
                rooms.append(1 - min(len(running), 1))
        return min(rooms, default=None)


def failure_streak_without_cost(
    trials: Mapping[str, Trial], length: int, since: float = 0.0
) -> list[Trial]:
    """The last ``length`` trials to finish, oldest first, if every one failed without a cost.

    Empty when fewer finished at or after ``since`` (a continued run, its function fixed,
    deserves a fresh try) or any of them reported a cost (or succeeded).
    """
    finished = (
        trial
        for trial in trials.values()
        if trial.state.is_final and (trial.finished_at or 0.0) >= since
    )
    last = heapq.nlargest(length, finished, key=lambda trial: trial.finished_at or 0.0)
    if len(last) < length or any(t.state is TrialState.SUCCESS or t.cost is not None for t in last):
        return []
    return last[::-1]


def costless_failure_stop(
    trials: Mapping[str, Trial],
    budget: BudgetInfo,
    cost_budget: str,
    since: float,
    *,
    call_limited: bool = False,
) -> str | None:
    """Why a run that only ``cost_budget`` could end stops (``None`` while it may go on):
    its last trials all failed without a cost, which spends nothing, so it never would.
    ``call_limited``: ``max_evaluations_per_run`` or ``max_fidelities_per_run`` ends this
    call, as the run's evaluation and fidelity budgets do (then the stop names that limit)."""
    if call_limited or {budget.evaluations_to_spend, budget.fidelities_to_spend} != {None}:
        return None
    streak = failure_streak_without_cost(trials, FAILURE_STREAK_LIMIT, since)
    if not streak:
        return None
    last = streak[-1].report
    error = "none recorded" if last is None or last.error is None else last.error
    return (
        f"{cost_budget} cannot end this run: the last {len(streak)} trials ({streak[0].id} "
        f"to {streak[-1].id}) failed without a cost (last error: {error}); set "
        "cost_value_on_error to charge failed trials, or fix evaluate_pipeline"
    )


def within(amount: float, left: float) -> bool:
    """Whether spending ``amount`` stays inside ``left``, allowing for rounding in the sums."""
    return amount <= most_within(left)


def most_within(left: float) -> float:
    """The largest amount `within` ``left``."""
    return left + 1e-9 * max(1.0, abs(left))


def say_why_nothing_was_evaluated(
    budget: BudgetInfo, reason: str, fits: bool, *, worker_id: str, root_directory: Path
) -> None:
    """A continuation whose budget the run had (nearly) spent did nothing: say so loudly, as
    a budget smaller than what the run used is usually a mistake.

    ``reason`` is why the worker stopped; ``fits`` is false when the next trial would not fit.
    """
    if budget.exhausted_by is None and fits:
        return
    logger.warning(
        "Worker %s evaluated nothing: %s (the run in %s had used %s); pass a larger budget to "
        "continue it",
        worker_id,
        reason,
        shown_path(root_directory),
        _usage(budget),
    )


def say_the_optimizer_ended_first(
    budget: BudgetInfo, reason: str | None, *, worker_id: str
) -> None:
    """A run that stops with budget left, because the optimizer proposes nothing more, says so
    loudly: a user who asked for 30 evaluations of a space of 9 configurations sees 9 and
    should know why (a run without a budget ends this way as planned)."""
    if reason != NOTHING_LEFT or budget.exhausted_by is not None or not _usage(budget):
        return
    logger.warning(
        "Worker %s stopped with budget left (%s used): %s (every configuration of a small "
        "space was tried, or a multi-fidelity schedule has nothing more to run)",
        worker_id,
        _usage(budget),
        reason,
    )


def _usage(budget: BudgetInfo) -> str:
    """E.g. ``9 of evaluations_to_spend=30``, for each budget that is set."""
    used = {
        "evaluations_to_spend": budget.used_evaluations,
        "cost_to_spend": budget.used_cost,
        "fidelities_to_spend": budget.used_fidelities,
    }
    return ", ".join(
        f"{used[name]:g} of {name}={getattr(budget, name):g}"
        for name in used
        if getattr(budget, name) is not None
    )
