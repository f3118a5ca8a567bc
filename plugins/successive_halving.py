"""The ``successive_halving`` optimizer: synchronous successive halving over the fidelity.

A bracket starts ``eta**(R - s)`` configurations at rung ``s`` (the ``early_stopping_rate``);
when all of a rung's trials are final, the best ``1/eta`` continue at the next rung (their
``previous_pipeline_directory`` is the lower rung's folder). Brackets repeat until the budget
is spent; while one waits for results, the next starts, so no worker idles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core_plugins.brackets import BracketOptimizer, HalvingSettings


class SuccessiveHalving(BracketOptimizer):
    """Synchronous successive halving (Jamieson & Talwalkar, 2016)."""

    name: ClassVar[str] = "successive_halving"
    Settings: ClassVar[type] = HalvingSettings
    schedule_kind: ClassVar[str] = "successive_halving"


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register successive halving."""
    return [SuccessiveHalving]
