"""Keeping new trials inside the cost and fidelity budgets before they start.

A trial's fidelity is known when it is proposed; its cost only once it has run. So the cost
of a trial is estimated from finished trials like it, erring high, and a trial that would
not fit what is left is not started. The core applies this to every optimizer's proposals;
the multi-fidelity optimizers also consult it to pick a cheaper action instead.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable, Mapping
from typing import Any

from neps_core.models import BudgetInfo, Trial, TrialState

#: How many trials in a row may fail without a cost before a run that only ``cost_to_spend``
#: could end is stopped: such failures spend nothing, so the run would never end.
FAILURE_STREAK_LIMIT = 20

#: Fidelity key of trials in a space without a fidelity parameter.
Level = float | None


class CostModel:
    """The expected cost of a new trial, learned from finished trials that reported a cost.

    Trials are told apart by fidelity and kind: fresh trials and promotions (a promotion that
    continues from a checkpoint reports the cost of the extra epochs only; a fresh trial at
    that fidelity costs them all). Since the estimate decides whether a trial still fits,
    it errs high: the largest cost seen for that kind at that fidelity. At a fidelity that
    kind was not seen at, the cost is taken to grow with the fidelity (the kind's own costs,
    or every trial's while it has none): between two fidelities seen, on the line between
    their costs (exact for a fixed cost per trial plus one per epoch); below the lowest, that
    line continued, but no lower than the lowest's cost per fidelity unit and no higher than
    its cost (which bounds costs that grow faster or slower than linearly too); above the
    highest, the larger of that line continued and the largest cost per fidelity unit times
    the fidelity (a cost growing faster than linearly may still exceed both). A kind not seen at a
    fidelity others were is estimated no lower than their largest cost there. 0 while no
    finished trial reported a cost.
    """

    def __init__(self, trials: Mapping[str, Trial] | None = None) -> None:
        # Largest cost per fidelity and kind (None: any kind).
        self._by_kind: dict[tuple[Level, bool | None], float] = {}
        # Largest cost per fidelity unit per kind: False fresh trials, True promotions.
        self._unit_costs: dict[bool, float] = {}
        # The fidelities seen, in order, per kind (None: any kind).
        self._levels: dict[bool | None, list[float]] = {}
        for trial in (trials or {}).values():
            self.learn(trial)

    def learn(self, trial: Trial) -> None:
        """Take ``trial``'s cost into account, if it finished with one (a ``TrialHistory``
        keeps its model up to date this way, so that asking costs no scan of the run)."""
        if not trial.state.is_final or trial.cost is None:
            return
        level = _level(trial.fidelity)
        continued = trial.previous_trial_id is not None
        if level is not None:
            for kind in (continued, None):
                if (level, kind) not in self._by_kind:
                    bisect.insort(self._levels.setdefault(kind, []), level)
            if level > 0:
                _raise_to(self._unit_costs, continued, trial.cost / level)
        _raise_to(self._by_kind, (level, continued), trial.cost)
        _raise_to(self._by_kind, (level, None), trial.cost)

    def estimate(self, fidelity: float | None, continued: bool) -> float:
        """The cost to expect of a new trial (``continued``: a promotion) at ``fidelity``."""
        level = _level(fidelity)
        same_kind = self._by_kind.get((level, continued))
        if same_kind is not None:
            return same_kind
        guesses = [self._by_kind.get((level, None), 0.0)]
        if level is not None:
            guesses.append(self._from_other_levels(level, continued))
        return max(guesses)

    def _from_other_levels(self, level: float, continued: bool) -> float:
        """The estimate from the costs of ``continued``'s kind at the fidelities around
        ``level`` (of any kind while it has none)."""
        kind: bool | None = continued if continued in self._levels else None
        levels = self._levels.get(kind, [])

        def seen(index: int) -> tuple[float, float]:
            return levels[index], self._by_kind[levels[index], kind]

        above = bisect.bisect_left(levels, level)
        if above == len(levels):
            unit = self._unit_costs.get(continued, max(self._unit_costs.values(), default=0.0))
            guesses = [seen(-1)[1] if levels else 0.0, unit * level]
            if len(levels) > 1:
                guesses.append(_on_line(seen(-2), seen(-1), level))
            return max(guesses)
        if above > 0:
            return _on_line(seen(above - 1), seen(above), level)
        lowest_level, lowest_cost = seen(0)
        guesses = [lowest_cost * level / lowest_level if lowest_level > 0 else lowest_cost]
        if len(levels) > 1:
            guesses.append(_on_line(seen(0), seen(1), level))
        return min(lowest_cost, max(guesses))


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
            for trial in running:
                if not trial.state.is_final:
                    continued = trial.previous_trial_id is not None
                    self.cost_left -= self.costs.estimate(trial.fidelity, continued)

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
    that. A trial's fidelity counts when it starts, so trials start one at a time; its cost
    is known only when it ends, so each trial in flight is taken to cost the most any of this
    call's trials did (one without a cost as costing nothing), and until one ends, a trial
    runs alone.
    """

    def __init__(self, max_cost: float | None, max_fidelities: float | None) -> None:
        self.max_cost, self.max_fidelities = max_cost, max_fidelities
        self.cost_spent = self.fidelities_spent = 0.0
        self._largest_cost: float | None = None

    def started(self, trial: Trial) -> None:
        self.fidelities_spent += trial.fidelity or 0.0

    def ended(self, cost: float | None) -> None:
        """A trial of this call ended; one without a cost spent nothing."""
        self.cost_spent += cost or 0.0
        self._largest_cost = max(cost or 0.0, self._largest_cost or 0.0)

    def reached(self) -> str | None:
        """The setting whose limit this call has reached, if any."""
        for spent, limit, name in (
            (self.cost_spent, self.max_cost, "max_cost_per_run"),
            (self.fidelities_spent, self.max_fidelities, "max_fidelities_per_run"),
        ):
            if limit is not None and spent >= limit:
                return name
        return None

    def room(self, in_flight: int) -> int | None:
        """How many trials may start now beside ``in_flight`` running ones (None: no bound)."""
        rooms = [1] if self.max_fidelities is not None else []
        if self.max_cost is not None:
            if self._largest_cost is None:
                rooms.append(1 - min(in_flight, 1))
            elif self._largest_cost > 0:
                fit = min((self.max_cost - self.cost_spent) / self._largest_cost, 2.0**31)
                rooms.append(max(0, math.ceil(fit) - in_flight))
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


def _level(fidelity: float | None) -> Level:
    return None if fidelity is None else round(float(fidelity), 9)


def _on_line(first: tuple[float, float], second: tuple[float, float], level: float) -> float:
    """The cost at ``level`` on the line through two (fidelity, cost) points."""
    (level_a, cost_a), (level_b, cost_b) = first, second
    return cost_a + (level - level_a) * (cost_b - cost_a) / (level_b - level_a)


def _raise_to(maxima: dict[Any, float], key: Any, value: float) -> None:
    maxima[key] = max(value, maxima.get(key, value))


def within(amount: float, left: float) -> bool:
    """Whether spending ``amount`` stays inside ``left``, allowing for rounding in the sums."""
    return amount <= most_within(left)


def most_within(left: float) -> float:
    """The largest amount `within` ``left``."""
    return left + 1e-9 * max(1.0, abs(left))
