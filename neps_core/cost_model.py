"""The expected cost of a trial before it runs, from the costs finished trials reported.

The estimate decides whether a trial still fits ``cost_to_spend``, so it errs high: what it
assumes of the cost between the fidelities seen holds for a cost that grows with the
fidelity either faster than linearly, or with a cost per fidelity unit that falls (a fixed
part per trial, a cost that saturates). A cost can exceed it above every fidelity seen, if
it grows faster than linearly, below the lowest seen if it also has a fixed part, and while
a single fidelity has been seen (see CostTable).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from typing import Any

from neps_core.models import Trial, TrialState

#: Fidelity key of trials in a space without a fidelity parameter.
Level = float | None

#: Kinds of trial: False fresh ones, True promotions, None either.
Kind = bool | None


class CostModel:
    """The expected cost of a new trial, learned from finished trials that reported a cost.

    Trials are told apart by fidelity and kind: fresh trials and promotions (a promotion that
    continues from a checkpoint reports the cost of the extra epochs only; a fresh trial at
    that fidelity costs them all). The costs of successful trials give the shape of cost
    against fidelity (see :class:`CostTable`); a failed trial's cost (``cost_value_on_error``
    perhaps, or what it spent before failing) says little of a trial that runs to its end,
    so it only raises the estimate at its own fidelity, and is used alone only while no trial
    succeeded with a cost. 0 while no finished trial reported a cost.
    """

    def __init__(self, trials: Mapping[str, Trial] | None = None) -> None:
        self._succeeded = CostTable()
        self._failed = CostTable()
        for trial in (trials or {}).values():
            self.learn(trial)

    def learn(self, trial: Trial) -> None:
        """Take ``trial``'s cost into account, if it finished with one (a ``TrialHistory``
        keeps its model up to date this way, so that asking costs no scan of the run)."""
        if not trial.state.is_final or trial.cost is None:
            return
        table = self._succeeded if trial.state is TrialState.SUCCESS else self._failed
        table.learn(_level(trial.fidelity), trial.previous_trial_id is not None, trial.cost)

    def expected(self, running: Iterable[Trial]) -> float:
        """What ``running`` trials (not reported yet) are expected to cost in all."""
        return sum(self.estimate(t.fidelity, t.previous_trial_id is not None) for t in running)

    def estimate(self, fidelity: float | None, continued: bool) -> float:
        """The cost to expect of a new trial (``continued``: a promotion) at ``fidelity``."""
        level = _level(fidelity)
        if self._succeeded.empty:
            return self._failed.estimate(level, continued)
        return max(self._succeeded.estimate(level, continued), self._failed.seen_at(level))


class CostTable:
    """The largest cost seen per fidelity and kind, and the estimate in between.

    At a fidelity a kind was not seen at, its own costs (every kind's while it has none)
    are taken to grow with the fidelity: between two fidelities seen, the larger of the line
    between their costs (a bound for costs growing faster than linearly) and the lower of
    the next one's cost and the previous one's cost per unit times the fidelity (a bound
    for a cost per unit that falls). Beyond them, the line through the lowest and the
    highest continued (far apart, their noise tilts it little): below the lowest, at least
    the lowest's cost per unit times the fidelity and at most its cost; above the highest,
    at least the highest's cost per unit times the fidelity (a bound for a cost per unit that
    falls). Never below the largest cost of any kind at that fidelity.

    While a single fidelity was seen, a lower one costs its cost per unit: a guess, too low
    for a fixed part per trial, but the bound (its whole cost) would end a run whose first
    trial ran at the top fidelity (PriorBand's prior) and took half the budget.
    """

    def __init__(self) -> None:
        self._by_kind: dict[tuple[Level, Kind], float] = {}
        # The fidelities seen, in order, per kind.
        self._levels: dict[Kind, list[float]] = {}

    @property
    def empty(self) -> bool:
        return not self._by_kind

    def learn(self, level: Level, continued: bool, cost: float) -> None:
        if level is not None:
            for kind in (continued, None):
                if (level, kind) not in self._by_kind:
                    bisect.insort(self._levels.setdefault(kind, []), level)
        _raise_to(self._by_kind, (level, continued), cost)
        _raise_to(self._by_kind, (level, None), cost)

    def seen_at(self, level: Level) -> float:
        """The largest cost of any kind seen at ``level`` (0 if none)."""
        return self._by_kind.get((level, None), 0.0)

    def estimate(self, level: Level, continued: bool) -> float:
        same_kind = self._by_kind.get((level, continued))
        if same_kind is not None:
            return same_kind
        if level is None:
            return self.seen_at(level)
        return max(self.seen_at(level), self._from_other_levels(level, continued))

    def _from_other_levels(self, level: float, continued: bool) -> float:
        kind: Kind = continued if continued in self._levels else None
        levels = self._levels.get(kind, [])

        def seen(index: int) -> tuple[float, float]:
            return levels[index], self._by_kind[levels[index], kind]

        if not levels:
            return 0.0
        above = bisect.bisect_left(levels, level)
        if above == len(levels):
            highest_level, highest_cost = seen(-1)
            guesses = [highest_cost]
            if highest_level > 0:
                guesses.append(highest_cost * level / highest_level)
            if len(levels) > 1:
                guesses.append(_on_line(seen(0), seen(-1), level))
            return max(guesses)
        upper_cost = seen(above)[1]
        if above > 0:
            lower_level, lower_cost = seen(above - 1)
            falling = upper_cost
            if lower_level > 0:
                falling = min(upper_cost, lower_cost * level / lower_level)
            return max(_on_line(seen(above - 1), seen(above), level), falling)
        if levels[0] <= 0:
            return upper_cost
        guesses = [upper_cost * level / levels[0]]
        if len(levels) > 1:
            guesses.append(_on_line(seen(0), seen(-1), level))
        return min(upper_cost, max(guesses))


def _level(fidelity: float | None) -> Level:
    return None if fidelity is None else round(float(fidelity), 9)


def _on_line(first: tuple[float, float], second: tuple[float, float], level: float) -> float:
    """The cost at ``level`` on the line through two (fidelity, cost) points."""
    (level_a, cost_a), (level_b, cost_b) = first, second
    return cost_a + (level - level_a) * (cost_b - cost_a) / (level_b - level_a)


def _raise_to(maxima: dict[Any, float], key: Any, value: float) -> None:
    maxima[key] = max(value, maxima.get(key, value))
