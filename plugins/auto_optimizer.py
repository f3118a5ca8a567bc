"""The built-in choice for ``optimizer="auto"``; ``trylast`` so that any plugin can override it."""

from __future__ import annotations

from typing import Any

from neps_core import hookimpl
from neps_core.space import PipelineSpace


@hookimpl(trylast=True)
def neps_select_optimizer(space: PipelineSpace, settings: Any) -> str | None:
    """Random search, around the priors when the space has any.

    Model-based and multi-fidelity optimizers take over here once they are installed.
    """
    return "random_search"
