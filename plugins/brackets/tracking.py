"""One plan kept in step with a run's history, so an ask reads what changed, not the run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neps_core.history import ChangeFeed
from neps_core.models import Trial
from neps_core_plugins.brackets.members import Ranking
from neps_core_plugins.brackets.plan import Plan, Schedule
from neps_core_plugins.brackets.rungs import Rungs


class PlanTracker:
    """The plan of the history an optimizer is asked with, updated from its changes.

    An ask costs what changed since the last one, not the whole run (asks run under the
    storage lock). A :class:`TrialHistory` says which trials changed since the last ask;
    any other mapping, another history, or trials that arrive out of creation order get a
    plan rebuilt from scratch, which is what the updates must equal.
    """

    def __init__(
        self,
        schedule: Schedule,
        rungs: Rungs,
        *,
        loose_config: Mapping[str, Any] | None,
        rank: Ranking | None,
    ) -> None:
        self.schedule = schedule
        self.rungs = rungs
        self.loose_config = loose_config
        self.rank = rank
        self._plan: Plan | None = None
        self._changes = ChangeFeed()

    def plan_for(self, trials: Mapping[str, Trial]) -> Plan:
        """The plan of ``trials`` (the same object until the history changes, then updated)."""
        changed = self._changes.since_last(trials)
        if self._plan is None or changed is None or not self._caught_up(trials, changed):
            self._plan = self.schedule.plan(
                trials, self.rungs, loose_config=self.loose_config, rank=self.rank
            )
        return self._plan

    def _caught_up(self, trials: Mapping[str, Trial], changed: list[str]) -> bool:
        """Apply the trials ``changed`` since the last ask; ``False`` when only a rebuild can."""
        assert self._plan is not None
        for trial_id in changed:
            trial = trials[trial_id]
            if not self._plan.update(trial, self.rungs.rung_of(trial.fidelity)):
                return False
        return True
