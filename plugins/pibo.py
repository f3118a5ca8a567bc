"""The ``pibo`` optimizer: πBO (Hvarfner et al., 2022), Bayesian optimization guided by priors.

The acquisition is log EI plus ``(beta / n) * log pi(x)``, i.e. EI times the prior density to
the power ``beta / n`` with ``n`` the number of observations: early on the search stays near
the user's belief, and as evidence accumulates the prior's pull fades, so a misleading prior
costs some evaluations but is recovered from. The first configuration is the prior itself.
Everything else (model, fantasies for other workers, cost awareness) is
`neps_core_plugins.bayesian_optimization`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core.neps_options import NepsOptions
from neps_core.space.pipeline_space import PipelineSpace
from neps_core.validators import at_least, one_of
from neps_core_plugins.bayesian_optimization.optimizer import (
    INITIAL_DESIGNS,
    BayesianOptimization,
    BayesianOptimizationSettings,
)


@attrs.frozen
class PiBOSettings(BayesianOptimizationSettings):
    """Options of ``pibo``: those of ``bayesian_optimization`` plus the prior's weight.

    Attributes:
        prior_weight: ``beta``, the prior's exponent times the number of observations; larger
            trusts the prior longer (0 is plain Bayesian optimization).
    """

    initial_design: str = attrs.field(default="prior", validator=one_of(INITIAL_DESIGNS))
    sample_prior_first: bool = True
    prior_weight: float = attrs.field(default=10.0, validator=at_least(0.0))
    #: NePS's BO options; ``log_prior_weighted=True`` is what πBO does.
    neps_options: ClassVar[NepsOptions] = {
        **BayesianOptimizationSettings.neps_options,
        "log_prior_weighted": ((True,), "pibo weights the acquisition by the priors"),
    }


class PiBO(BayesianOptimization):
    """Bayesian optimization whose acquisition is weighted by the space's priors, decaying."""

    name: ClassVar[str] = "pibo"
    Settings: ClassVar[type] = PiBOSettings
    requires_prior: ClassVar[bool] = True

    def __init__(
        self, space: PipelineSpace, settings: Any = None, *, seed: int | None = None
    ) -> None:
        super().__init__(space, settings, seed=seed)
        self.prior_weight = float(self.settings.prior_weight)


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register πBO."""
    return [PiBO]
