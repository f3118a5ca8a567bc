"""The built-in choice for ``optimizer="auto"``; ``trylast`` so that any plugin can override it.

The decision looks at the objectives, the space and the evaluator:

* several objectives -> ``mo_asha`` with a fidelity parameter (from above 0),
  ``random_search`` without;
* a fidelity parameter and priors -> ``priorband``;
* a fidelity parameter, no priors -> ``hyperband`` with the one-at-a-time ``sync`` evaluator,
  ``asha`` with any other evaluator (parallel workers never wait for a rung to fill);
* no fidelity (or one from 0, which the multi-fidelity optimizers refuse) -> ``pibo`` with
  priors, ``bayesian_optimization`` without, when the ``bo`` extra (scipy, threadpoolctl) is
  installed; ``random_search`` otherwise.

Whether a run has several objectives is only known once results arrive: the run starts with
the single-objective choice and asks again (``multi_objective=True``) when the first result
with several objectives comes in.
"""

from __future__ import annotations

from typing import Any

from neps_core import hookimpl
from neps_core.space import PipelineSpace
from neps_core_plugins.bayesian_optimization.optimizer import bo_extra_available


@hookimpl(trylast=True)
def neps_select_optimizer(space: PipelineSpace, settings: Any, multi_objective: bool) -> str:
    """The optimizer for ``space``, by objectives, fidelity and priors (see the module docs)."""
    fidelity = space.fidelity
    rungs = fidelity is not None and fidelity.lower > 0  # from 0, it has no rungs to climb
    if multi_objective:
        return "mo_asha" if rungs else "random_search"
    return with_fidelity(space, settings) if rungs else without_fidelity(space, settings)


def with_fidelity(space: PipelineSpace, settings: Any) -> str:
    """PriorBand when the user gave priors, else Hyperband (one worker) or ASHA (parallel)."""
    if space.has_priors:
        return "priorband"
    evaluator = getattr(settings, "evaluator", None)
    label = getattr(evaluator, "label", "sync")
    return "hyperband" if label == "sync" else "asha"


def without_fidelity(space: PipelineSpace, settings: Any) -> str:
    """πBO with priors, else Bayesian optimization; random search without the extra or a flat space.

    The GP optimizers need the ``bo`` extra (scipy, threadpoolctl) and a flat space (no
    operations or resampled parameters); anything else falls back to random search, which
    handles every space.
    """
    if not space.is_flat or not bo_extra_available():
        return "random_search"
    return "pibo" if space.has_priors else "bayesian_optimization"
