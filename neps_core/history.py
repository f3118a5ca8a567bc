"""An in-memory index of a run's trials with aggregates kept up to date incrementally.

Storage backends feed every new trial version into a ``TrialHistory`` as they sync, so
budget checks and optimizer views cost O(1) per trial instead of a scan of the whole run.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from itertools import takewhile
from typing import TYPE_CHECKING

from neps_core.cost_model import CostModel
from neps_core.models import BudgetInfo, Trial, TrialState

if TYPE_CHECKING:
    from neps_core.space import PipelineSpace


class TrialHistory(Mapping[str, Trial]):
    """Trials by id, plus counts by state and the cost and fidelity spent so far.

    It is a read-only mapping for everybody but the storage that owns it (which calls
    ``put``). Optimizers receive it as the trial history.
    """

    def __init__(self) -> None:
        self._trials: dict[str, Trial] = {}
        self._by_state: dict[TrialState, dict[str, None]] = {state: {} for state in TrialState}
        self._max_numeric_id = 0
        self._costs_reported = 0
        # Summed exactly, so that rounding never pushes a total past its budget
        # (0.1 + 0.2 + ... added as floats came to 60.000000000000014 of 60).
        self._cost = Fraction(0)
        self._fidelities = Fraction(0)
        #: The expected cost of new trials, learned as trials finish (see ``CostModel``).
        self.cost_model = CostModel()
        #: The lowest fidelity a trial started afresh (not continued) had: an optimizer's
        #: lowest rung, for telling a budget too small for any new trial.
        self.lowest_fresh_fidelity: float | None = None
        #: Successful trials that reported several objectives, in the order they were put.
        self._multi_objective: dict[str, None] = {}
        #: Each trial's place in the order of puts, the last put last: an optimizer that
        #: keeps its own state between asks reads what changed (``changed_since``) instead
        #: of the whole run. One entry per trial, however many versions (heartbeats) came.
        self._last_put: dict[str, int] = {}
        self._first_put: dict[str, int] = {}
        self._puts = 0

    def __getitem__(self, trial_id: str) -> Trial:
        return self._trials[trial_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._trials)

    def __len__(self) -> int:
        return len(self._trials)

    def snapshot(self) -> dict[str, Trial]:
        """The trials by id as they are now, copied in one step: safe to read while another
        thread's ``sync`` puts newer versions (iterating the history itself then fails)."""
        return dict(self._trials)

    def put(self, trial: Trial) -> None:
        """Insert a new trial or replace the stored version of it, updating the aggregates."""
        old = self._trials.get(trial.id)
        if old is not None:
            self._account(old, -1)
        self._trials[trial.id] = trial
        self._account(trial, +1)
        self._puts += 1
        self._first_put.setdefault(trial.id, self._puts)
        self._last_put.pop(trial.id, None)
        self._last_put[trial.id] = self._puts

    @property
    def mark(self) -> int:
        """A position in the history's changes, for :meth:`changed_since`."""
        return self._puts

    def changed_since(self, mark: int) -> list[str]:
        """The ids of the trials put (new, or a new version) after ``mark``, without
        repeats, in the order the trials were first put (as a read of the whole run)."""
        recent = takewhile(lambda put: put[1] > mark, reversed(self._last_put.items()))
        return sorted((trial_id for trial_id, _ in recent), key=self._first_put.__getitem__)

    def _account(self, trial: Trial, sign: int) -> None:
        several = trial.state is TrialState.SUCCESS and isinstance(trial.objective, tuple | list)
        if sign > 0:
            self._by_state[trial.state][trial.id] = None
            if several:
                self._multi_objective[trial.id] = None
            if trial.id.isdigit():
                self._max_numeric_id = max(self._max_numeric_id, int(trial.id))
        else:
            del self._by_state[trial.state][trial.id]
            self._multi_objective.pop(trial.id, None)
        if trial.fidelity is not None:
            self._fidelities += sign * _as_written(float(trial.fidelity))
            if sign > 0 and trial.previous_trial_id is None:
                lowest = self.lowest_fresh_fidelity
                fidelity = float(trial.fidelity)
                self.lowest_fresh_fidelity = fidelity if lowest is None else min(lowest, fidelity)
        if trial.state.is_final and trial.cost is not None:
            self._cost += sign * Fraction(trial.cost)
            self._costs_reported += sign
            if sign > 0:  # a replaced version's cost stays learned: estimates err high
                self.cost_model.learn(trial)

    def first_multi_objective(self) -> Trial | None:
        """The first successful trial that reported several objectives, if any (kept up to
        date as trials come in: single-objective optimizers ask this before every proposal)."""
        first = next(iter(self._multi_objective), None)
        return None if first is None else self._trials[first]

    def count(self, *states: TrialState) -> int:
        """How many trials are in any of ``states``."""
        return sum(len(self._by_state[state]) for state in states)

    def unfinished(self) -> Iterator[Trial]:
        """The trials pending or being evaluated."""
        for state in (TrialState.PENDING, TrialState.EVALUATING):
            yield from (self._trials[i] for i in self._by_state[state])

    def lowest_new_fidelity(self, space: PipelineSpace) -> float | None:
        """The fidelity of the cheapest new trial: the lowest a fresh trial of the run had
        (an optimizer's lowest rung may lie above the space's), else the space's lowest."""
        if space.fidelity is None:
            return None
        lowest = self.lowest_fresh_fidelity
        return space.fidelity_value("min") if lowest is None else lowest

    def ids_in(self, state: TrialState) -> list[str]:
        """The ids of trials in ``state``, oldest first."""
        return list(self._by_state[state])

    @property
    def state_counts(self) -> dict[str, int]:
        """Trial counts by state name, every state listed."""
        return {state.value: len(self._by_state[state]) for state in TrialState}

    @property
    def all_final(self) -> bool:
        """Whether no trial is pending or being evaluated."""
        return self.count(TrialState.PENDING, TrialState.EVALUATING) == 0

    def next_id(self) -> str:
        """A fresh trial id: one more than the largest numeric id so far."""
        return str(self._max_numeric_id + 1)

    @property
    def cost_spent(self) -> float:
        """The summed cost of all finished trials that reported one."""
        return _as_float(self._cost)

    @property
    def costs_reported(self) -> int:
        """How many finished trials reported a cost (none: no cost can be estimated yet)."""
        return self._costs_reported

    @property
    def fidelities_spent(self) -> float:
        """The summed fidelity of all trials created so far."""
        return _as_float(self._fidelities)

    def fidelities_spent_with(self, more: Iterable[float]) -> float:
        """The fidelity spent once trials at the fidelities ``more`` are created too."""
        return _as_float(self._fidelities + sum(_as_written(float(f)) for f in more))

    def budget(
        self,
        *,
        evaluations_to_spend: int | None = None,
        cost_to_spend: float | None = None,
        fidelities_to_spend: float | None = None,
    ) -> BudgetInfo:
        """The budget as used by all trials in the run.

        Every trial counts as an evaluation from the moment it is sampled (whatever its
        outcome), which is what keeps the budget exact across workers.
        """
        return BudgetInfo(
            evaluations_to_spend=evaluations_to_spend,
            cost_to_spend=cost_to_spend,
            fidelities_to_spend=fidelities_to_spend,
            used_evaluations=len(self),
            used_cost=self.cost_spent,
            used_fidelities=self.fidelities_spent,
        )


@functools.lru_cache(maxsize=4096)  # a run's fidelities are a few rungs, met again and again
def _as_written(fidelity: float) -> Fraction:
    """``fidelity`` as the decimal it is written as: 0.1 is 1/10, not the float's own value
    just above it. Three trials at 0.1 then fill ``fidelities_to_spend=0.3`` as their user
    counts (the floats' values summed past 0.3, and the third was refused), and a total
    within the budget never reads above it once rounded to a float."""
    return Fraction(repr(fidelity))


def _as_float(total: Fraction) -> float:
    """``total`` as a float: infinite where it is too large for one (two costs of 1e308, each
    valid), which spends any budget rather than breaking every later read of the run."""
    try:
        return float(total)
    except OverflowError:
        return math.inf


class ChangeFeed:
    """What changed in the history an optimizer is asked with, since it last asked.

    An optimizer that keeps state between asks (a plan, a population, configuration keys)
    applies these changes instead of reading the whole run, and reads it whole when told
    ``None``: the first time, for another history, or for a plain mapping.
    """

    def __init__(self) -> None:
        self._history: TrialHistory | None = None
        self._mark = 0

    def since_last(self, trials: Mapping[str, Trial]) -> list[str] | None:
        """The ids of ``trials`` changed since the last call, or ``None``: read them all."""
        history = trials if isinstance(trials, TrialHistory) else None
        follows = history is not None and history is self._history
        changed = history.changed_since(self._mark) if history is not None and follows else None
        self._history = history
        self._mark = 0 if history is None else history.mark
        return changed
