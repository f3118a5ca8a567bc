"""The ``async_hb`` optimizer: asynchronous Hyperband.

One ASHA bracket per base rung ``b = 0 .. R``; new configurations go to the bracket whose
share of started configurations lags most behind Hyperband's bracket sizes, and promotions
follow ASHA's rule inside each bracket. Hyperband's robustness to the choice of the lowest
rung, without synchronous waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core_plugins.brackets import BracketOptimizer, HyperbandSettings


class AsyncHB(BracketOptimizer):
    """Asynchronous Hyperband (Li et al., 2020)."""

    name: ClassVar[str] = "async_hb"
    Settings: ClassVar[type] = HyperbandSettings
    schedule_kind: ClassVar[str] = "async_hb"


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register asynchronous Hyperband."""
    return [AsyncHB]
