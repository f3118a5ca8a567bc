"""Keeping proposals inside the fidelity and cost budgets."""

from __future__ import annotations

from collections.abc import Mapping

from neps_core.models import BudgetInfo, Trial


class CostModel:
    """The expected cost of a trial at a fidelity, learned from finished trials with a cost.

    The mean cost of finished trials at that fidelity that were (or were not) promotions.
    For a kind of trial not seen at that fidelity the estimate errs high, since it decides
    whether a trial still fits the budget: the larger of the fidelity's mean (over both kinds)
    and the cost per fidelity unit times the fidelity, the unit cost taken from trials of the
    same kind when there are any. (A promotion that continues from a checkpoint reports the
    cost of the extra epochs only; a fresh trial at that fidelity costs them all.) 0 while no
    finished trial reported a cost.
    """

    def __init__(self, trials: Mapping[str, Trial]) -> None:
        self._by_kind: dict[tuple[float, bool], list[float]] = {}
        self._by_level: dict[float, list[float]] = {}
        # Summed (cost, fidelity) per kind: False fresh trials, True promotions.
        self._totals = {False: [0.0, 0.0], True: [0.0, 0.0]}
        for trial in trials.values():
            if trial.state.is_final and trial.cost is not None and trial.fidelity is not None:
                level = round(float(trial.fidelity), 9)
                continued = trial.previous_trial_id is not None
                self._by_kind.setdefault((level, continued), []).append(trial.cost)
                self._by_level.setdefault(level, []).append(trial.cost)
                self._totals[continued][0] += trial.cost
                self._totals[continued][1] += trial.fidelity

    def estimate(self, fidelity: float, continued: bool) -> float:
        """The expected cost of a new trial (``continued``: a promotion) at ``fidelity``."""
        level = round(float(fidelity), 9)
        same_kind = self._by_kind.get((level, continued))
        if same_kind:
            return sum(same_kind) / len(same_kind)
        guesses = [self._unit_cost(continued) * fidelity]
        if level in self._by_level:
            guesses.append(sum(self._by_level[level]) / len(self._by_level[level]))
        return max(guesses)

    def _unit_cost(self, continued: bool) -> float:
        """Cost per fidelity unit of trials of this kind, or of all trials if none was seen."""
        cost, fidelity = self._totals[continued]
        if fidelity <= 0:
            cost, fidelity = (sum(t) for t in zip(*self._totals.values(), strict=True))
        return 0.0 if fidelity <= 0 else cost / fidelity


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
