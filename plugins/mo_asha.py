"""The ``mo_asha`` optimizer: ASHA for several objectives, promoting by Pareto rank.

MO-ASHA (Schmucker et al., 2021): brackets and promotion rule are ASHA's, only "the best
``1/eta`` of a rung" is decided for vectors of objectives. Members are sorted by non-dominated
fronts (the Pareto front first, then the front of what remains, ...); inside a front, an
epsilon-net order picks, starting from the best member in the first objective, always the
member farthest from those already picked (objectives scaled to [0, 1] over the rung). The
promoted trials thus spread along the front instead of crowding one end of it.

A single objective (every trial reporting one number) works too and gives plain ASHA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from neps_core import hookimpl
from neps_core.errors import SettingsError
from neps_core.interfaces import Optimizer
from neps_core.models import Trial, TrialState
from neps_core_plugins.brackets import (
    BracketOptimizer,
    HalvingSettings,
    Member,
    is_number,
)

#: Rows of the dominance matrix computed at once (bounds memory for large rungs).
CHUNK = 256


class MOASHA(BracketOptimizer):
    """Multi-objective ASHA with non-dominated sorting and an epsilon-net inside each front."""

    name: ClassVar[str] = "mo_asha"
    aliases: ClassVar[tuple[str, ...]] = ("moasha",)  # NePS's name
    Settings: ClassVar[type] = HalvingSettings
    schedule_kind: ClassVar[str] = "asha"
    supports_multi_objective: ClassVar[bool] = True

    def rank(self, members: list[Member], limit: int | None = None) -> list[Member]:
        """The best ``limit`` members by Pareto front, then epsilon-net order in a front."""
        limit = len(members) if limit is None else min(limit, len(members))
        if limit <= 0:
            return []
        points = np.array([_vector(m.objective) for m in members], dtype=float)
        points = np.where(np.isnan(points), np.inf, points)
        order: list[int] = []
        for front in nondominated_fronts(points, limit):
            picks = epsilon_net_order(points[front], limit - len(order))
            order.extend(front[i] for i in picks)
        return [members[i] for i in order]

    def check_objectives(self, trials: Mapping[str, Trial]) -> None:
        """Every successful trial must report the same number of objectives."""
        sizes: dict[int, str] = {}
        for trial in trials.values():
            if trial.state is not TrialState.SUCCESS:
                continue
            objective = trial.objective
            valid = is_number(objective) or (
                isinstance(objective, tuple | list) and all(is_number(v) for v in objective)
            )
            if not valid:
                raise SettingsError(
                    f"optimizer 'mo_asha': trial {trial.id} reported {objective!r}, not a number "
                    "or a list of numbers"
                )
            sizes.setdefault(len(_vector(objective)), trial.id)
        if len(sizes) > 1:
            found = ", ".join(f"{n} (trial {i})" for n, i in sorted(sizes.items()))
            raise SettingsError(
                f"optimizer 'mo_asha': trials report different numbers of objectives: {found}"
            )


def _vector(objective: Any) -> tuple[float, ...]:
    return (float(objective),) if is_number(objective) else tuple(map(float, objective))


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

    Stops once the fronts hold ``limit`` points. Keeps for every point the number of
    remaining points that dominate it, so the sort costs O(n^2) comparisons in total.
    """
    limit = len(points) if limit is None else limit
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


def epsilon_net_order(points: np.ndarray, limit: int | None = None) -> list[int]:
    """Greedy farthest-point order of (the first ``limit`` of) ``points``.

    Objectives are scaled to [0, 1]; the order starts from the best point in the first
    objective (ties: the first such point).
    """
    limit = len(points) if limit is None else min(limit, len(points))
    finite = np.isfinite(points)
    columns = range(points.shape[1])
    low = np.array([points[finite[:, k], k].min() if finite[:, k].any() else 0.0 for k in columns])
    high = np.array([points[finite[:, k], k].max() if finite[:, k].any() else 1.0 for k in columns])
    span = np.where(high > low, high - low, 1.0)
    scaled = np.where(finite, (points - low) / span, 2.0)  # an infinite value: beyond the worst
    order = [int(np.lexsort(scaled.T[::-1])[0])]
    distance = np.linalg.norm(scaled - scaled[order[0]], axis=1)
    while len(order) < limit:
        distance[order] = -1.0
        picked = int(np.argmax(distance))
        order.append(picked)
        distance = np.minimum(distance, np.linalg.norm(scaled - scaled[picked], axis=1))
    return order[:limit]


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register MO-ASHA."""
    return [MOASHA]
