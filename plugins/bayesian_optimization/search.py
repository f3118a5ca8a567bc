"""Maximizing an acquisition function over a mixed encoded space.

1. Score many cheap raw candidates: a scrambled Sobol sample of the whole space plus
   Gaussian perturbations of the best observed points (where the optimum usually is).
2. From the best few, run L-BFGS-B on the numeric columns (analytic gradients; all starts in
   one vectorized problem, since their objectives are independent).
3. Improve the categorical columns by local search: try every single change of a choice,
   keep the best improvement and polish the numeric columns again.

Integer columns are optimized as continuous values; decoding rounds them.
"""

from __future__ import annotations

import attrs
import numpy as np
from scipy import optimize
from scipy.stats import qmc

from neps_core_plugins.bayesian_optimization.acquisition import Term

#: Perturbation widths (unit-cube standard deviations) around the best observed points.
LOCAL_SCALES = (0.1, 0.02)
#: Rounds of categorical local search per start.
CATEGORICAL_ROUNDS = 3


@attrs.frozen
class SearchSpaceShape:
    """The encoded space: numeric columns in [0, 1], categorical columns with their sizes."""

    n_dims: int
    numeric: tuple[int, ...]
    categorical: tuple[tuple[int, int], ...]  # (column, number of choices)

    def uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` quasi-random points (Sobol) of the encoded space."""
        sobol = qmc.Sobol(self.n_dims, scramble=True, seed=rng)
        units = sobol.random_base2(int(np.ceil(np.log2(max(n, 2)))))[:n]
        return self.from_units(units)

    def from_units(self, units: np.ndarray) -> np.ndarray:
        """Map points of the unit cube onto the encoded space (categoricals to indices)."""
        points = units.copy()
        for column, size in self.categorical:
            points[:, column] = np.minimum(np.floor(units[:, column] * size), size - 1)
        return points


def local_candidates(
    anchors: np.ndarray, shape: SearchSpaceShape, per_anchor: int, rng: np.random.Generator
) -> np.ndarray:
    """Perturbations of ``anchors``: numeric columns jittered, one categorical sometimes changed."""
    if len(anchors) == 0:
        return np.empty((0, shape.n_dims))
    points = np.repeat(anchors, per_anchor, axis=0)
    numeric = list(shape.numeric)
    scales = np.array(LOCAL_SCALES)[rng.integers(len(LOCAL_SCALES), size=len(points))]
    points[:, numeric] += rng.normal(size=(len(points), len(numeric))) * scales[:, None]
    points[:, numeric] = np.clip(points[:, numeric], 0.0, 1.0)
    flip_chance = 1.0 / max(shape.n_dims, 1)
    for column, size in shape.categorical:
        flips = rng.random(len(points)) < flip_chance
        points[flips, column] = rng.integers(size, size=int(flips.sum()))
    return points


def _polish(acquisition: Term, starts: np.ndarray, shape: SearchSpaceShape) -> np.ndarray:
    """L-BFGS-B on the numeric columns of each start in turn (categoricals held fixed).

    One problem per start: in a joint problem the shared line search and stopping rule let
    the start with the largest values decide when the others are done.
    """
    numeric = list(shape.numeric)
    if not numeric or len(starts) == 0:
        return starts
    polished = starts.copy()
    for row, start in enumerate(starts):
        point = start.copy()

        def negative(values: np.ndarray, point: np.ndarray = point) -> tuple[float, np.ndarray]:
            point[numeric] = values
            value, gradient = acquisition(point[None, :])
            return -float(value[0]), -gradient[0]

        result = optimize.minimize(
            negative,
            start[numeric],
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * len(numeric),
            options={"maxiter": 100},
        )
        polished[row, numeric] = np.clip(result.x, 0.0, 1.0)
    return polished


def _categorical_neighbours(point: np.ndarray, shape: SearchSpaceShape) -> np.ndarray:
    rows = []
    for column, size in shape.categorical:
        for index in range(size):
            if index != int(point[column]):
                neighbour = point.copy()
                neighbour[column] = index
                rows.append(neighbour)
    return np.array(rows).reshape(-1, shape.n_dims)


def _categorical_search(
    acquisition: Term, point: np.ndarray, value: float, shape: SearchSpaceShape
) -> tuple[np.ndarray, float]:
    """Hill-climb over single categorical changes, re-polishing the numeric columns."""
    for _ in range(CATEGORICAL_ROUNDS):
        neighbours = _categorical_neighbours(point, shape)
        if len(neighbours) == 0:
            break
        values = acquisition(neighbours)[0]
        best = int(np.argmax(values))
        if values[best] <= value:
            break
        point = _polish(acquisition, neighbours[best : best + 1], shape)[0]
        value = float(acquisition(point[None, :])[0][0])
    return point, value


def _starts(
    raw: np.ndarray,
    values: np.ndarray,
    incumbent: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Where local optimization starts: the incumbent, the best raw point, and a roulette.

    The incumbent makes sure the neighbourhood of the best observation is refined; the others
    are drawn with probability ``exp(value - max)`` (without replacement) instead of taken
    from the top, since the top raw points usually crowd into one basin.
    """
    best = int(np.argmax(values))
    chosen = [best]
    weights = np.exp(np.clip(values - values[best], -700.0, 0.0))
    weights[best] = 0.0
    others = min(count - 1 - len(incumbent), int(np.count_nonzero(weights)))
    if others > 0:
        picks = rng.choice(len(raw), size=others, replace=False, p=weights / weights.sum())
        chosen.extend(int(i) for i in picks)
    return np.vstack([incumbent, raw[chosen]])


def maximize(
    acquisition: Term,
    shape: SearchSpaceShape,
    anchors: np.ndarray,
    rng: np.random.Generator,
    *,
    raw_samples: int = 1024,
    restarts: int = 5,
) -> np.ndarray:
    """Candidate points, best acquisition value first (optimized ones, then raw ones).

    More than one is returned so that the caller can skip candidates that decode to a
    configuration the run already has.
    """
    raw = np.vstack([shape.uniform(raw_samples, rng), local_candidates(anchors, shape, 64, rng)])
    raw_values = acquisition(raw)[0]
    order = np.argsort(-raw_values, kind="stable")
    starts = _starts(raw, raw_values, anchors[:1], restarts, rng)
    polished = _polish(acquisition, starts, shape)
    values = acquisition(polished)[0]
    if shape.categorical:
        improved = [
            _categorical_search(acquisition, p, float(v), shape)
            for p, v in zip(polished, values, strict=True)
        ]
        polished = np.array([p for p, _ in improved])
        values = np.array([v for _, v in improved])
    ranked = polished[np.argsort(-values, kind="stable")]
    return np.vstack([ranked, raw[order[restarts : restarts + 20]]])
