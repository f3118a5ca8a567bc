"""The built-in choice for ``optimizer="auto"``; ``trylast`` so that any plugin can override it.

The decision looks at the space (and the evaluator) only:

* a fidelity parameter and priors -> ``priorband``;
* a fidelity parameter, no priors -> ``hyperband`` with the one-at-a-time ``sync`` evaluator,
  ``asha`` with any other evaluator (parallel workers never wait for a rung to fill);
* no fidelity -> ``pibo`` with priors, ``bayesian_optimization`` without, when scipy (the
  ``bo`` extra) is installed; ``random_search`` otherwise.

Whether a run has several objectives is only known once results arrive, so it cannot steer
this choice: multi-objective runs name ``mo_asha`` (with a fidelity) or ``random_search``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from neps_core import hookimpl
from neps_core.space import PipelineSpace


@hookimpl(trylast=True)
def neps_select_optimizer(space: PipelineSpace, settings: Any) -> str | None:
    """The optimizer for ``space``, by fidelity and priors (see the module docstring)."""
    if space.fidelity_name is not None:
        return with_fidelity(space, settings)
    return without_fidelity(space, settings)


def with_fidelity(space: PipelineSpace, settings: Any) -> str:
    """PriorBand when the user gave priors, else Hyperband (one worker) or ASHA (parallel)."""
    if space.has_priors:
        return "priorband"
    evaluator = getattr(settings, "evaluator", None)
    label = getattr(evaluator, "label", "sync")
    return "hyperband" if label == "sync" else "asha"


def without_fidelity(space: PipelineSpace, settings: Any) -> str:
    """πBO with priors, else Bayesian optimization; random search without scipy or flat space.

    The GP optimizers need scipy (the ``bo`` extra) and a flat space (no operations or
    resampled parameters); anything else falls back to random search, which handles every
    space.
    """
    if not space.is_flat or not scipy_available():
        return "random_search"
    return "pibo" if space.has_priors else "bayesian_optimization"


def scipy_available() -> bool:
    """Whether scipy is importable, checked without importing it."""
    return importlib.util.find_spec("scipy") is not None
