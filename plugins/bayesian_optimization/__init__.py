"""The ``bayesian_optimization`` plugin: Gaussian-process Bayesian optimization (and πBO's base).

A lean in-house GP (numpy + scipy, analytic gradients) rather than BoTorch/GPyTorch: on the
problems this optimizer is for (tens to a few hundred evaluations) the fixed overhead of torch
modules and autograd dominates. On Hartmann6 (50 evaluations, same machine and load) a plain
BoTorch loop (SingleTaskGP, qLogEI, 10 restarts) took about 1 s per proposal, this model about
0.13 s (0.03 s on a quiet machine; docs/optimizers/bayesian_optimization.md has the
measurements). See ``gp`` for the model, ``acquisition`` for log EI and its πBO and cost
terms, ``search`` for the acquisition maximizer, ``design`` for the initial design.

Importing this package stays light (numpy and attrs only); scipy is imported on the first
``ask``. It needs the ``bo`` extra: ``pip install "neps-core[bo]"``.
"""

from __future__ import annotations

from collections.abc import Sequence

from neps_core import hookimpl
from neps_core.interfaces import Optimizer
from neps_core_plugins.bayesian_optimization.optimizer import (
    BayesianOptimization,
    BayesianOptimizationSettings,
)

__all__ = ["BayesianOptimization", "BayesianOptimizationSettings"]


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register Bayesian optimization."""
    return [BayesianOptimization]
