"""Pareto dominance: the summary's front and MO-ASHA's fronts come from here."""

from __future__ import annotations

import itertools

import numpy as np

from neps_core.pareto import dominance, first_front, nondominated_fronts
from neps_core.summary import pareto_front
from neps_core.testing import make_trial


def test_dominance_and_fronts() -> None:
    points = np.array([[1.0, 4.0], [2.0, 2.0], [4.0, 1.0], [3.0, 3.0], [4.0, 4.0], [2.0, 2.0]])
    matrix = dominance(points)
    assert matrix[1, 3] and matrix[3, 4] and not matrix[1, 5] and not matrix[0, 2]
    assert nondominated_fronts(points) == [[0, 1, 2, 5], [3], [4]]
    assert nondominated_fronts(points, limit=5) == [[0, 1, 2, 5], [3]]  # stops when enough
    assert dominance(points, np.array([3])).tolist() == [matrix[3].tolist()]
    assert first_front(points) == [0, 1, 2, 5]
    assert first_front(np.empty((0, 2))) == []


def _brute_force_front(points: np.ndarray) -> list[int]:
    def dominates(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.all(a <= b) and np.any(a < b))

    return [
        i for i, mine in enumerate(points) if not any(dominates(other, mine) for other in points)
    ]


def test_the_first_front_matches_pairwise_comparisons() -> None:
    rng = np.random.default_rng(0)
    for n, k in itertools.product((1, 7, 300, 600), (2, 3)):
        points = rng.integers(0, 6, size=(n, k)).astype(float)  # many ties and duplicates
        points[rng.random(points.shape) < 0.02] = np.inf
        assert first_front(points) == _brute_force_front(points)


def _brute_force_fronts(points: np.ndarray) -> list[list[int]]:
    """Front after front, each found by pairwise comparisons among the remaining points."""
    remaining = list(range(len(points)))
    fronts = []
    while remaining:
        front = [remaining[i] for i in _brute_force_front(points[remaining])]
        fronts.append(front)
        remaining = [i for i in remaining if i not in front]
    return fronts


def test_fronts_of_one_or_two_objectives_match_pairwise_comparisons() -> None:
    """Up to two objectives, a sweep sorts the fronts: the same as peeling them pairwise,
    with ties, equal points and infinities."""
    rng = np.random.default_rng(1)
    for n, k, _ in itertools.product((0, 1, 2, 9, 40, 200), (1, 2), range(5)):
        points = rng.integers(0, 6, size=(n, k)).astype(float)
        points[rng.random(points.shape) < 0.05] = np.inf
        points[rng.random(points.shape) < 0.05] = -np.inf
        expected = _brute_force_fronts(points)
        assert nondominated_fronts(points) == expected
        for limit in (0, 1, n // 3, n - 1):
            assert nondominated_fronts(points, limit) == _first_fronts(expected, limit)


def _first_fronts(fronts: list[list[int]], limit: int) -> list[list[int]]:
    """The fronts that hold the first ``limit`` points."""
    kept: list[list[int]] = []
    while len(kept) < len(fronts) and sum(map(len, kept)) < limit:
        kept.append(fronts[len(kept)])
    return kept


def test_the_summary_front_keeps_trial_order_and_handles_a_short_vector() -> None:
    trials = [
        make_trial(str(i), {"x": 0.0}, objective=objective)
        for i, objective in enumerate([(1.0, 3.0), (3.0, 1.0), (2.0, 2.0), (3.0, 3.0), (0.5,)])
    ]
    assert [t.id for t in pareto_front(trials)] == ["0", "1", "2", "4"]
    assert pareto_front([]) == []
