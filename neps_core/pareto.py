"""Pareto dominance among objective vectors (all minimized), vectorized with NumPy.

The summary's Pareto front and MO-ASHA's promotions both sort trials this way; a pairwise
Python loop took 30 s for 4,000 trials that are all on the front.
"""

from __future__ import annotations

import bisect

import numpy as np

#: Rows of the dominance matrix computed at once (bounds memory for many points).
CHUNK = 256


def dominance(points: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``D[i, j]``: point ``rows[i]`` dominates point ``j`` (no worse anywhere, better somewhere).

    ``rows`` defaults to all points.
    """
    chosen = points if rows is None else points[rows]
    no_worse = (chosen[:, None, :] <= points[None, :, :]).all(axis=2)
    better = (chosen[:, None, :] < points[None, :, :]).any(axis=2)
    return np.asarray(no_worse & better, dtype=bool)


def _dominated_counts(points: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """How many of ``rows`` dominate each point (in chunks, to bound memory)."""
    counts = np.zeros(len(points), dtype=int)
    for start in range(0, len(rows), CHUNK):
        counts += dominance(points, rows[start : start + CHUNK]).sum(axis=0)
    return counts


def nondominated_fronts(points: np.ndarray, limit: int | None = None) -> list[list[int]]:
    """Indices of ``points`` by front: the non-dominated ones, then those of the rest, ...

    Stops once the fronts hold ``limit`` points. Up to two objectives (without NaN), a sweep
    sorts in O(n log n): MO-ASHA ranks its lowest rung, most of the run, on every ask, and
    the pairwise sort cost 480 ms per ask at 4,000 trials. More objectives keep for every
    point the number of remaining points that dominate it: O(n^2) comparisons in total.
    """
    limit = len(points) if limit is None else limit
    if points.ndim == 2 and points.shape[1] <= 2 and not np.isnan(points).any():
        return _fronts_by_sweep(points, limit)
    counts = _dominated_counts(points, np.arange(len(points)))
    remaining = np.ones(len(points), dtype=bool)
    fronts: list[list[int]] = []
    covered = 0
    while covered < limit and remaining.any():
        front = np.flatnonzero(remaining & (counts == 0))
        fronts.append([int(i) for i in front])
        covered += len(front)
        remaining[front] = False
        counts -= _dominated_counts(points, front)
    return fronts


def _fronts_by_sweep(points: np.ndarray, limit: int) -> list[list[int]]:
    """The fronts of points with one or two objectives, from one pass in lexicographic order.

    A point passed later never dominates an earlier one, and front ``k`` dominates the
    current point exactly when its lowest second objective so far is no higher (unless
    the two points are equal). Those lowest values never decrease with ``k``, so the
    point's front is found by bisection.
    """
    columns = np.zeros((len(points), 2))
    columns[:, : points.shape[1]] = points
    order = np.lexsort((columns[:, 1], columns[:, 0]))
    swept = columns[order]
    distinct = np.ones(len(points), dtype=bool)  # equal points share the first one's front
    distinct[1:] = (swept[1:] != swept[:-1]).any(axis=1)
    fronts_of_distinct: list[int] = []
    lowest: list[float] = []  # by front: the lowest second objective among its points so far
    for second in swept[distinct, 1].tolist():
        front = bisect.bisect_right(lowest, second)
        if front == len(lowest):
            lowest.append(second)
        else:
            lowest[front] = second
        fronts_of_distinct.append(front)
    by_point = np.empty(len(points), dtype=int)
    by_point[order] = np.array(fronts_of_distinct, dtype=int)[np.cumsum(distinct) - 1]
    sizes = np.bincount(by_point, minlength=len(lowest))
    # the fronts that hold the first ``limit`` points
    kept = int(np.searchsorted(np.cumsum(sizes), limit)) + 1 if limit > 0 else 0
    grouped = np.argsort(by_point, kind="stable").tolist()
    bounds = np.concatenate(([0], np.cumsum(sizes[:kept]))).tolist()
    return [grouped[bounds[k] : bounds[k + 1]] for k in range(min(kept, len(lowest)))]


def first_front(points: np.ndarray) -> list[int]:
    """Indices of the points that no other point dominates."""
    return [int(i) for i in np.flatnonzero(_dominated_counts(points, np.arange(len(points))) == 0)]
