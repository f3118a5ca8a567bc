"""Keeping proposals inside the fidelity and cost budgets."""

from __future__ import annotations

from collections.abc import Mapping

from neps_core.models import BudgetInfo, Trial


class CostModel:
    """The expected cost of a trial at a fidelity, learned from finished trials with a cost.

    In order: the mean cost of finished trials at that fidelity that were (or were not)
    promotions, the mean at that fidelity, cost per fidelity unit times the fidelity; 0 while
    no finished trial reported a cost.
    """

    def __init__(self, trials: Mapping[str, Trial]) -> None:
        self._by_kind: dict[tuple[float, bool], list[float]] = {}
        self._by_level: dict[float, list[float]] = {}
        self._cost = self._fidelity = 0.0
        for trial in trials.values():
            if trial.state.is_final and trial.cost is not None and trial.fidelity is not None:
                level = round(float(trial.fidelity), 9)
                continued = trial.previous_trial_id is not None
                self._by_kind.setdefault((level, continued), []).append(trial.cost)
                self._by_level.setdefault(level, []).append(trial.cost)
                self._cost += trial.cost
                self._fidelity += trial.fidelity

    def estimate(self, fidelity: float, continued: bool) -> float:
        """The expected cost of a new trial (``continued``: a promotion) at ``fidelity``."""
        level = round(float(fidelity), 9)
        for costs in (self._by_kind.get((level, continued)), self._by_level.get(level)):
            if costs:
                return sum(costs) / len(costs)
        return 0.0 if self._fidelity <= 0 else self._cost / self._fidelity * fidelity


class BudgetGuard:
    """What the remaining budget still allows, counting running trials and this ask's proposals.

    Fidelity units are counted exactly (a trial spends its fidelity when created); cost is
    estimated with :class:`CostModel` for trials that have not reported yet.
    """

    def __init__(self, trials: Mapping[str, Trial], budget: BudgetInfo) -> None:
        self.costs = CostModel(trials)
        self.fidelity_left = budget.remaining_fidelities
        self.cost_left = budget.remaining_cost
        if self.cost_left is not None:
            for trial in trials.values():
                if not trial.state.is_final and trial.fidelity is not None:
                    continued = trial.previous_trial_id is not None
                    self.cost_left -= self.costs.estimate(trial.fidelity, continued)

    def fits(self, fidelity: float, continued: bool) -> bool:
        """Whether a trial at ``fidelity`` stays within every budget."""
        if self.fidelity_left is not None and not _within(fidelity, self.fidelity_left):
            return False
        if self.cost_left is None:
            return True
        return _within(self.costs.estimate(fidelity, continued), self.cost_left)

    def spend(self, fidelity: float, continued: bool) -> None:
        """Count a proposal at ``fidelity`` against the budgets."""
        if self.fidelity_left is not None:
            self.fidelity_left -= fidelity
        if self.cost_left is not None:
            self.cost_left -= self.costs.estimate(fidelity, continued)


def _within(amount: float, left: float) -> bool:
    return amount <= left + 1e-9 * max(1.0, abs(left))
