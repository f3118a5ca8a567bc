"""The ``hyperband`` optimizer: successive halving brackets that start at every rung in turn.

Bracket ``b`` starts ``ceil((R + 1) / (R - b + 1) * eta**(R - b))`` configurations at rung
``b`` and halves them synchronously; the brackets cycle ``b = 0, 1, ..., R`` so that
aggressive early stopping (``b = 0``) and none (``b = R``) each get about the same budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core_plugins.brackets import BracketOptimizer, HyperbandSettings


class Hyperband(BracketOptimizer):
    """Hyperband (Li et al., 2018) with synchronous brackets."""

    name: ClassVar[str] = "hyperband"
    #: NePS's name of this optimizer for its PipelineSpace, which is the only kind here.
    aliases: ClassVar[tuple[str, ...]] = ("neps_hyperband",)
    Settings: ClassVar[type] = HyperbandSettings
    schedule_kind: ClassVar[str] = "hyperband"


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register Hyperband."""
    return [Hyperband]
