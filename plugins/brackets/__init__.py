"""The one bracket implementation behind every multi-fidelity optimizer.

Not an optimizer itself (it registers nothing); ``successive_halving``, ``hyperband``,
``asha``, ``async_hb``, ``priorband`` and ``mo_asha`` are thin subclasses of
:class:`BracketOptimizer` that pick a schedule, a sampler or a ranking.

* **Rungs**: with ``R = floor(log_eta(upper / lower))`` the fidelity levels are
  ``upper / eta**(R - r)`` for ``r = 0 .. R`` (rounded for integer fidelities); the
  ``early_stopping_rate`` ``s`` makes rung ``s`` the lowest one used.
* **Synchronous brackets** (successive halving, Hyperband): a bracket starts ``n`` configurations
  at its base rung; once every trial of a rung is final, its best ``1/eta`` move up. Brackets
  follow a fixed sequence; a new bracket starts while older ones wait for results.
* **Asynchronous brackets** (ASHA, asynchronous Hyperband): whenever a trial of rung ``r`` is
  in the top ``1/eta`` of the finished trials of its rung, it is promoted; otherwise a new
  configuration starts at a base rung (async HB spreads them over bases as Hyperband does).

Everything follows from the trial history in id order, so any worker with any history
reaches the same decision. Each optimizer keeps its plan between asks and applies only the
trials that changed (:class:`PlanTracker`, :class:`Standings`); another history, or trials
out of creation order, get the plan rebuilt, and an update must always equal a rebuild.

A promotion is a trial whose ``previous_trial_id`` names the trial it continues: once it
exists (pending or running, of any worker) its source counts as promoted, which is why two
workers never promote one trial twice. Budgets: a proposal whose fidelity (or estimated
cost, learned from finished trials) no longer fits the remaining budget is replaced by a
cheaper action, or none - the optimizer then stops cleanly.
"""

from neps_core_plugins.brackets.members import Best, Bracket, Finished, Member, Ranking, Slot
from neps_core_plugins.brackets.optimizer import BracketOptimizer, config_key
from neps_core_plugins.brackets.plan import SCHEDULES, Plan, Schedule, trial_order
from neps_core_plugins.brackets.promotions import async_promotions, sync_promotions
from neps_core_plugins.brackets.rungs import (
    SAMPLE_PRIOR_FIRST,
    SAMPLERS,
    BracketShape,
    HalvingSettings,
    HyperbandSettings,
    Rungs,
    early_stopping_rate_field,
    eta_field,
    halving_shape,
    hyperband_shape,
    sampler_field,
)
from neps_core_plugins.brackets.standings import Standings
from neps_core_plugins.brackets.tracking import PlanTracker

__all__ = [
    "SAMPLERS",
    "SAMPLE_PRIOR_FIRST",
    "SCHEDULES",
    "Best",
    "Bracket",
    "BracketOptimizer",
    "BracketShape",
    "Finished",
    "HalvingSettings",
    "HyperbandSettings",
    "Member",
    "Plan",
    "PlanTracker",
    "Ranking",
    "Rungs",
    "Schedule",
    "Slot",
    "Standings",
    "async_promotions",
    "config_key",
    "early_stopping_rate_field",
    "eta_field",
    "halving_shape",
    "hyperband_shape",
    "sampler_field",
    "sync_promotions",
    "trial_order",
]
