"""The points a model is fitted on: all of them up to `MAX_MODEL_POINTS`, then a chosen few.

Fitting the GP's hyperparameters costs a Cholesky factorization (``O(n^3)``) per L-BFGS
step, and ``ask`` runs under the run's storage lock, so every other worker waits for it.
Measured on one core (4 parameters), one ask took a fraction of a second at 100 trials, 1.9 s
at 300, 4.5 s at 500 and 15 s at 1,000 (piBO alike; minutes on a loaded machine), past
``stale_after`` and the disk storage's ``lock_timeout``; now 0.7 to 1 s from 200 on. Beyond
`MAX_MODEL_POINTS` the model sees the best half of them, where expected improvement looks,
and a spread of the rest (farthest-point picks in the encoded space) for the landscape
around; a run of up to that many trials is modelled on all of them, as before.

Deterministic (no state between asks), so every worker still makes the same decision on the
same history; a warm start from the previous ask's hyperparameters would not be.
"""

from __future__ import annotations

import attrs
import numpy as np

from neps_core_plugins.bayesian_optimization.data import Observations
from neps_core_plugins.bayesian_optimization.gp import KernelLayout

#: The most points (observations and failures together) a model is fitted on.
MAX_MODEL_POINTS = 200
#: The share of `MAX_MODEL_POINTS` that failures without a result take at least, when there
#: are more points than that in all (more where fewer observations leave room): the failure
#: model needs some, the objective model most.
FAILURE_SHARE = 0.25


def training_set(observations: Observations, layout: KernelLayout) -> Observations:
    """``observations`` with at most `MAX_MODEL_POINTS` observations and failures together:
    the best half of the observations kept, spread picks of the rest and of the failures."""
    n_observed, n_failed = len(observations.y), len(observations.failed)
    if n_observed + n_failed <= MAX_MODEL_POINTS:
        return observations
    failures = min(n_failed, int(FAILURE_SHARE * MAX_MODEL_POINTS))
    failures = max(failures, MAX_MODEL_POINTS - n_observed)
    wanted = MAX_MODEL_POINTS - failures
    best = np.argsort(observations.y, kind="stable")[: wanted // 2]
    kept = np.sort(spread(observations.x, best, wanted, layout))
    failed = spread(observations.failed, np.empty(0, dtype=int), failures, layout)
    return attrs.evolve(
        observations,
        x=observations.x[kept],
        y=observations.y[kept],
        costs=observations.costs[kept],
        failed=observations.failed[np.sort(failed)],
    )


def spread(x: np.ndarray, chosen: np.ndarray, size: int, layout: KernelLayout) -> np.ndarray:
    """Indexes of ``size`` rows of ``x``: the ``chosen`` ones, then one after the other the
    row farthest from those picked (numeric columns in the unit cube, a categorical mismatch
    counting 1), from the first row if none is chosen."""
    if size == 0:
        return np.empty(0, dtype=int)
    picked = list(chosen) or [0]
    nearest = np.full(len(x), np.inf)
    for index in picked:
        nearest = np.minimum(nearest, _distances(x, x[index], layout))
    while len(picked) < min(size, len(x)):
        index = int(np.argmax(nearest))
        picked.append(index)
        nearest = np.minimum(nearest, _distances(x, x[index], layout))
    return np.array(picked[:size], dtype=int)


def _distances(x: np.ndarray, point: np.ndarray, layout: KernelLayout) -> np.ndarray:
    numeric, categorical = list(layout.numeric), list(layout.categorical)
    squared = np.sum((x[:, numeric] - point[numeric]) ** 2, axis=1)
    return np.sqrt(squared + np.sum(x[:, categorical] != point[categorical], axis=1))
