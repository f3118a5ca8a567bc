"""The initial design: the configurations drawn before the model takes over.

A scrambled Sobol sequence fills the space evenly only as one sequence, its points taken in
order from one seed. Without a run seed each optimizer instance drew a seed of its own, so a
run continued in a second ``run()`` call, or shared by two worker processes, mixed several
sequences (of an 8-point design on one float, two points often shared an eighth of the range
and two eighths stayed empty). The seed is therefore recorded in the metadata of the design's
trials, and every later ask (any worker, any call) continues the sequence it names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.stats import qmc

from neps_core.models import Trial
from neps_core_plugins.bayesian_optimization.data import categorical_sizes
from neps_core_plugins.bayesian_optimization.optimizer import BayesianOptimization
from neps_core_plugins.bayesian_optimization.search import SearchSpaceShape

#: The trial metadata key holding the seed of the run's Sobol design.
DESIGN_SEED = "bo_design_seed"


def shape_of(optimizer: BayesianOptimization) -> SearchSpaceShape:
    """The encoded space of ``optimizer``'s encoder."""
    encoder = optimizer.encoder
    return SearchSpaceShape(
        encoder.n_dims, tuple(encoder.numerical_dims), categorical_sizes(encoder)
    )


def design_seed(optimizer: BayesianOptimization, trials: Mapping[str, Trial]) -> int:
    """The seed of the run's Sobol design: the one its trials recorded, else the optimizer's."""
    for trial in trials.values():
        seed = trial.metadata.get(DESIGN_SEED)
        if isinstance(seed, int) and not isinstance(seed, bool):
            return seed
    return optimizer.design_seed


def design_config(
    optimizer: BayesianOptimization, index: int, rng: np.random.Generator, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``index``-th configuration of the initial design, and its trial's metadata (the
    seed ``seed`` of a Sobol design, from `design_seed`)."""
    settings, space = optimizer.settings, optimizer.space
    if settings.initial_design != "sobol" or optimizer.encoder.n_dims == 0:
        return space.sample(rng, use_priors=settings.initial_design == "prior"), {}
    shape = shape_of(optimizer)
    sobol = qmc.Sobol(shape.n_dims, scramble=True, seed=seed)
    units = sobol.random_base2(max(1, math.ceil(math.log2(index + 1))))
    config = optimizer.encoder.decode(shape.from_units(units[index : index + 1]))[0]
    return config, {DESIGN_SEED: seed}
