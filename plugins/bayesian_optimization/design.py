"""The initial design: the configurations drawn before the model takes over.

A scrambled Sobol sequence fills the space evenly only as one sequence, its points taken in
order from one seed. Without a run seed each optimizer instance drew a seed of its own, so a
run continued in a second ``run()`` call, or shared by two worker processes, mixed several
sequences (of an 8-point design on one float, two points often shared an eighth of the range
and two eighths stayed empty). The seed is therefore recorded in the metadata of the design's
trials, and every later ask (any worker, any call) continues the sequence it names, unless
it is given another seed (see `design_seed`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.stats import qmc

from neps_core.models import Trial
from neps_core_plugins.bayesian_optimization.data import categorical_sizes
from neps_core_plugins.bayesian_optimization.optimizer import BayesianOptimization
from neps_core_plugins.bayesian_optimization.search import SearchSpaceShape

logger = logging.getLogger(__name__)

#: The trial metadata key holding the seed of the run's Sobol design.
DESIGN_SEED = "bo_design_seed"


def shape_of(optimizer: BayesianOptimization) -> SearchSpaceShape:
    """The encoded space of ``optimizer``'s encoder."""
    encoder = optimizer.encoder
    return SearchSpaceShape(
        encoder.n_dims, tuple(encoder.numerical_dims), categorical_sizes(encoder)
    )


def design_seed(optimizer: BayesianOptimization, trials: Mapping[str, Trial]) -> int:
    """The seed of the run's Sobol design: the one its trials recorded, else the optimizer's.

    A seed given to this call (``run(seed=...)``) that differs from the recorded one wins for
    the design's new points, as it does for every other draw, so that a continuation given
    another seed does not repeat the first seed's design. It is warned about once, naming
    both seeds, since the design stops being one even sequence.
    """
    recorded = next(filter(_is_seed, (t.metadata.get(DESIGN_SEED) for t in trials.values())), None)
    if recorded is None or optimizer.seed is None or recorded == optimizer.seed:
        return optimizer.design_seed if recorded is None else recorded
    if not optimizer.warned_of_design_seed:
        optimizer.warned_of_design_seed = True
        logger.warning(
            "bayesian_optimization: the run's initial design is the Sobol sequence of seed %s "
            "(recorded in its trials) and this call's seed is %s: the design's remaining points "
            "come from seed %s's sequence, so it is no longer one even sequence; continue with "
            "seed=%s (or without a seed) to keep it",
            recorded,
            optimizer.seed,
            optimizer.seed,
            recorded,
        )
    return int(optimizer.seed)


def _is_seed(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
