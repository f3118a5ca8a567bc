"""The ``async_hb`` optimizer: asynchronous Hyperband.

One ASHA bracket per base rung ``b = 0 .. R``; new configurations go to the bracket whose
share of started configurations lags most behind Hyperband's bracket sizes, and promotions
follow ASHA's rule inside each bracket. Hyperband's robustness to the choice of the lowest
rung, without synchronous waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import attrs

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core_plugins.brackets import BracketOptimizer, eta_field, sampler_field


@attrs.frozen
class AsyncHBSettings:
    """``eta``: promotion ratio; ``sampler``: ``"uniform"`` or ``"prior"`` draws.

    ``sample_prior_first``: start with the prior configuration.
    """

    eta: int = eta_field()
    sampler: str = sampler_field()
    sample_prior_first: bool = False


class AsyncHB(BracketOptimizer):
    """Asynchronous Hyperband (Li et al., 2020)."""

    name: ClassVar[str] = "async_hb"
    Settings: ClassVar[type] = AsyncHBSettings
    schedule_kind: ClassVar[str] = "async_hb"


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register asynchronous Hyperband."""
    return [AsyncHB]
