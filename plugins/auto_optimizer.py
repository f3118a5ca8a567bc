"""The built-in choice for ``optimizer="auto"``; ``trylast`` so that any plugin can override it.

The decision looks at the space (and the evaluator) only:

* a fidelity parameter and priors -> ``priorband``;
* a fidelity parameter, no priors -> ``hyperband`` with the one-at-a-time ``sync`` evaluator,
  ``asha`` with any other evaluator (parallel workers never wait for a rung to fill);
* no fidelity -> :func:`without_fidelity`.

Whether a run has several objectives is only known once results arrive, so it cannot steer
this choice: multi-objective runs name ``mo_asha`` (with a fidelity) or ``random_search``.
"""

from __future__ import annotations

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
    """The choice for spaces without a fidelity: the one place model-based optimizers hook in."""
    return "random_search"
