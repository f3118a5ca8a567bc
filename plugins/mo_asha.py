"""Bracket optimizers for several objectives: ``mo_asha`` and ``mo_hyperband`` (Pareto ranks).

MO-ASHA (Schmucker et al., 2021): brackets and promotion rule are ASHA's, only "the best
``1/eta`` of a rung" is decided for vectors of objectives. Members are sorted by non-dominated
fronts (the Pareto front first, then the front of what remains, ...); inside a front, an
epsilon-net order picks, starting from the best member in the first objective, always the
member farthest from those already picked (objectives scaled to [0, 1] over the front). The
promoted trials thus spread along the front instead of crowding one end of it.

``mo_hyperband`` (NePS's name) ranks rungs the same way in Hyperband's synchronous brackets.
Both take NePS's ``mo_selector``: ``"epsnet"`` (the default, above) or ``"nsga2"``, which
orders a front by NSGA-II's crowding distance (Deb et al., 2002): its two ends in every
objective first, then the members with the most room between their neighbours.

A single objective (every trial reporting one number) works too and gives plain ASHA or
Hyperband.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core import hookimpl
from neps_core.errors import SettingsError
from neps_core.history import ChangeFeed
from neps_core.interfaces import Optimizer
from neps_core.models import Trial, TrialState
from neps_core.pareto import nondominated_fronts
from neps_core.validators import is_number, one_of
from neps_core_plugins.brackets import (
    BracketOptimizer,
    HalvingSettings,
    HyperbandSettings,
    Member,
)


def mo_selector_field() -> Any:
    """``mo_selector``: how the members of one Pareto front are ordered (NePS's option)."""
    return attrs.field(default="epsnet", validator=one_of(("epsnet", "nsga2")))


@attrs.frozen
class MOHalvingSettings(HalvingSettings):
    """``mo_asha``'s options: ASHA's, plus ``mo_selector`` (``"epsnet"`` or ``"nsga2"``)."""

    mo_selector: str = mo_selector_field()


@attrs.frozen
class MOHyperbandSettings(HyperbandSettings):
    """``mo_hyperband``'s options: Hyperband's, plus ``mo_selector``."""

    mo_selector: str = mo_selector_field()


class ParetoPromotion(BracketOptimizer):
    """A bracket optimizer whose rungs rank their members by Pareto front, then ``mo_selector``."""

    supports_multi_objective: ClassVar[bool] = True

    def rank(self, members: list[Member], limit: int | None = None) -> list[Member]:
        """The best ``limit`` members by Pareto front, then in ``mo_selector`` order in a front."""
        limit = len(members) if limit is None else min(limit, len(members))
        if limit <= 0:
            return []
        points = _points([m.objective for m in members])
        order: list[int] = []
        for front in nondominated_fronts(points, limit):
            picks = self._front_orders.first(points[front], limit - len(order))
            order.extend(front[i] for i in picks)
        return [members[i] for i in order]

    @functools.cached_property
    def _front_orders(self) -> FrontOrders:
        """The orders of the fronts seen lately (a kept optimizer's; a fresh one finds them)."""
        return FrontOrders(FRONT_ORDERS[self.settings.mo_selector])

    @functools.cached_property
    def _objective_sizes(self) -> ObjectiveSizes:
        return ObjectiveSizes()

    def check_objectives(self, trials: Mapping[str, Trial]) -> None:
        """Every successful trial must report the same number of objectives.

        Checked on what changed since the last ask (``ObjectiveSizes``); the whole run is
        read only to name the trials at fault.
        """
        if not self._objective_sizes.consistent(trials):
            refuse_objectives(self.name, trials)


def refuse_objectives(name: str, trials: Mapping[str, Trial]) -> None:
    """Raise for the first successful trial (in run order) whose objective is not a number or
    a list of numbers, or for successful trials reporting different numbers of objectives."""
    sizes: dict[int, str] = {}
    for trial in trials.values():
        if trial.state is not TrialState.SUCCESS:
            continue
        size = _size(trial.objective)
        if size is None:
            raise SettingsError(
                f"optimizer {name!r}: trial {trial.id} reported {trial.objective!r}, not a "
                "number or a list of numbers"
            )
        sizes.setdefault(size, trial.id)
    if len(sizes) > 1:
        found = ", ".join(f"{n} (trial {i})" for n, i in sorted(sizes.items()))
        raise SettingsError(
            f"optimizer {name!r}: trials report different numbers of objectives: {found}"
        )


class ObjectiveSizes:
    """How many successful trials report each number of objectives (``None``: not numbers),
    kept up to date from what changed in the history since the last ask.

    Reading every trial's objective before every ask cost 53 ms at 8,000 trials, under the
    storage lock; a trial that changes state or result is counted again.
    """

    def __init__(self) -> None:
        self._size: dict[str, int | None] = {}  # per successful trial
        self._counts: Counter[int | None] = Counter()
        self._changes = ChangeFeed()

    def consistent(self, trials: Mapping[str, Trial]) -> bool:
        """Whether every successful trial of ``trials`` reports numbers, all as many."""
        changed = self._changes.since_last(trials)
        if changed is None:
            self._size.clear()
            self._counts.clear()
        for trial_id in trials if changed is None else changed:
            self._recount(trials[trial_id])
        return None not in self._counts and len(self._counts) <= 1

    def _recount(self, trial: Trial) -> None:
        if trial.id in self._size:
            old = self._size.pop(trial.id)
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        if trial.state is TrialState.SUCCESS:
            size = self._size[trial.id] = _size(trial.objective)
            self._counts[size] += 1


def _size(objective: Any) -> int | None:
    """How many objectives ``objective`` holds; ``None`` when it is not a number or a list
    of numbers."""
    if is_number(objective):
        return 1
    if isinstance(objective, tuple | list) and all(is_number(v) for v in objective):
        return len(objective)
    return None


class MOASHA(ParetoPromotion):
    """Multi-objective ASHA with non-dominated sorting and an ordering inside each front."""

    name: ClassVar[str] = "mo_asha"
    aliases: ClassVar[tuple[str, ...]] = ("moasha",)  # NePS's name
    Settings: ClassVar[type] = MOHalvingSettings
    schedule_kind: ClassVar[str] = "asha"


class MOHyperband(ParetoPromotion):
    """Hyperband's synchronous brackets with MO-ASHA's Pareto-based promotions."""

    name: ClassVar[str] = "mo_hyperband"
    Settings: ClassVar[type] = MOHyperbandSettings
    schedule_kind: ClassVar[str] = "hyperband"


def _vector(objective: Any) -> tuple[float, ...]:
    return (float(objective),) if is_number(objective) else tuple(map(float, objective))


def _points(objectives: list[Any]) -> np.ndarray:
    """One row of floats per objective (NaN as infinity: worst), converted in one NumPy call:
    one conversion per member cost as much as the ranking itself at a few thousand trials."""
    try:
        points = np.array(objectives, dtype=float).reshape(len(objectives), -1)
    except ValueError:  # numbers beside one-element lists
        points = np.array([_vector(o) for o in objectives], dtype=float)
    return np.where(np.isnan(points), np.inf, points)


def epsilon_net_order(points: np.ndarray, limit: int | None = None) -> list[int]:
    """Greedy farthest-point order of (the first ``limit`` of) ``points``.

    Objectives are scaled to [0, 1]; the order starts from the best point in the first
    objective (ties: the first such point).
    """
    limit = len(points) if limit is None else min(limit, len(points))
    finite = np.isfinite(points)
    points = _scaled_down(points, finite)
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


#: The largest power of two an objective's magnitude is kept under (see ``_scaled_down``).
_LARGEST_EXPONENT = 1020


def _scaled_down(points: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """``points`` divided, per objective, by the smallest power of two that keeps its largest
    finite magnitude under ``2**1020``, so a difference of two values cannot overflow
    (objectives near ±1.8e308 gave infinite spans, NaN distances and warnings).

    Exact, so orders are unchanged: ordinary objectives are left as they are, and a huge one
    is divided by at most ``2**4``. Dividing by the power of two above the largest magnitude
    made the objective's values below about 1e-300 beside 1e300 all 0, and tied.
    """
    magnitude = np.where(finite, np.abs(points), 0.0).max(axis=0, initial=0.0)
    _, exponent = np.frexp(magnitude)
    shift = np.maximum(exponent - _LARGEST_EXPONENT, 0)
    return np.where(finite, np.ldexp(points, -shift), points)


def crowding_distance_order(points: np.ndarray, limit: int | None = None) -> list[int]:
    """(The first ``limit`` of) the points of one front by crowding distance, largest first.

    A point's crowding distance sums, over the objectives, the gap between its two neighbours
    along that objective, scaled by the front's range there; the ends in any objective get
    an infinite distance. Ties keep the points' order.
    """
    limit = len(points) if limit is None else min(limit, len(points))
    points = _scaled_down(points, np.isfinite(points))
    distance = np.zeros(len(points))
    for column in points.T:
        order = np.argsort(column, kind="stable")
        distance[order[[0, -1]]] = np.inf
        span = column[order[-1]] - column[order[0]]
        if len(points) > 2 and np.isfinite(span) and span > 0:
            distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / span
    return [int(i) for i in np.argsort(-distance, kind="stable")[:limit]]


class FrontOrders:
    """Orders of fronts by their points, the least recently used forgotten first.

    A new result at a rung moves few of its fronts: ordering every front again on every ask
    cost more than all else at a few thousand trials. A shorter order is the start of a
    longer one (for both selectors), so an order found for a larger ``limit`` serves.
    """

    #: Points of the fronts remembered, at most (a few asks' worth on every rung).
    CAPACITY = 50_000

    def __init__(self, order: Callable[[np.ndarray, int | None], list[int]]) -> None:
        self.order = order
        self._known: dict[tuple[tuple[int, ...], bytes], list[int]] = {}
        self._points = 0

    def first(self, points: np.ndarray, limit: int) -> list[int]:
        """The first ``limit`` points of the front ``points`` in order."""
        if len(points) == 1:  # nothing to order, nothing to remember
            return [0][:limit]
        key = (points.shape, points.tobytes())
        known = self._known.pop(key, None)
        if known is not None:
            self._points -= len(points)
        if known is None or len(known) < min(limit, len(points)):
            known = self.order(points, limit)
        self._known[key] = known
        self._points += len(points)
        while self._points > self.CAPACITY:
            oldest = next(iter(self._known))
            self._points -= oldest[0][0]
            del self._known[oldest]
        return known[:limit]


#: ``mo_selector`` -> the order of the members of one front.
FRONT_ORDERS: dict[str, Callable[[np.ndarray, int | None], list[int]]] = {
    "epsnet": epsilon_net_order,
    "nsga2": crowding_distance_order,
}


@hookimpl
def neps_register_optimizers() -> Sequence[type[Optimizer]]:
    """Register MO-ASHA and MO-Hyperband."""
    return [MOASHA, MOHyperband]
