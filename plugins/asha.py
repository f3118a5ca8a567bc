"""The ``asha`` optimizer: asynchronous successive halving.

Each time a worker asks, a finished trial that is in the top ``1/eta`` of the finished trials
of its rung (and not promoted yet) continues at the next rung; otherwise a new configuration
starts at rung ``early_stopping_rate``. No rung ever waits for stragglers, so every worker
stays busy - the choice for many parallel workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core_plugins.brackets import BracketOptimizer, HalvingSettings


class ASHA(BracketOptimizer):
    """Asynchronous successive halving (Li et al., 2020)."""

    name: ClassVar[str] = "asha"
    Settings: ClassVar[type] = HalvingSettings
    schedule_kind: ClassVar[str] = "asha"


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register ASHA."""
    return [ASHA]
