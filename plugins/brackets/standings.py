"""The successful members of every rung, ranked, kept up to date as results arrive."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neps_core_plugins.brackets.members import Bracket, Member, Ranking

Rung = tuple["Bracket", int]


def lowest_first(member: Member) -> tuple[bool, float, int]:
    """The default order: lowest objective first, NaN last, ties in trial order."""
    objective = member.objective
    nan = math.isnan(objective)
    return (nan, 0.0 if nan else objective, member.order)


class Standings:
    """Each rung's successful members, best first.

    The default order (``rank=None``) is kept sorted by insertion as results arrive, so an
    ask costs no sort of the whole rung (ASHA's lowest rung holds most of the run). Another
    ``rank`` (Pareto fronts) is asked again only when a rung's successes changed.
    """

    def __init__(self, rank: Ranking | None) -> None:
        self.rank = rank
        self._key: Callable[[Member], Any] = lowest_first if rank is None else _trial_order
        self._members: dict[Rung, list[Member]] = {}
        self._ranked: dict[tuple[Rung, int], list[Member]] = {}

    def add(self, rung: Rung, member: Member) -> None:
        """Take ``member`` into its rung if it succeeded."""
        if member.success:
            bisect.insort(self._members.setdefault(rung, []), member, key=self._key)
            self._forget(rung)

    def remove(self, rung: Rung, member: Member) -> None:
        """Drop ``member`` (before its result changes); a no-op for one that had not succeeded."""
        if not member.success:
            return
        members = self._members[rung]
        index = bisect.bisect_left(members, self._key(member), key=self._key)
        while members[index] is not member:
            index += 1
        del members[index]
        self._forget(rung)

    def successes(self, bracket: Bracket, rung: int) -> list[Member]:
        """The successful members of ``bracket``'s ``rung`` in the kept order (read only)."""
        return self._members.get((bracket, rung), [])

    def best(self, bracket: Bracket, rung: int, limit: int) -> list[Member]:
        """The best ``limit`` successful members of ``bracket``'s ``rung``."""
        members = self.successes(bracket, rung)
        if self.rank is None:
            return members[:limit]
        key = ((bracket, rung), limit)
        if key not in self._ranked:
            self._ranked[key] = self.rank(members, limit)[:limit]
        return self._ranked[key]

    def _forget(self, rung: Rung) -> None:
        if self.rank is not None:
            for key in [key for key in self._ranked if key[0] == rung]:
                del self._ranked[key]


def _trial_order(member: Member) -> int:
    return member.order
