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
        #: The successful members not promoted, in the same order (for :meth:`waiting`).
        self._unpromoted: dict[Rung, list[Member]] = {}
        self._ranked: dict[tuple[Rung, int], list[Member]] = {}

    def add(self, rung: Rung, member: Member) -> None:
        """Take ``member`` into its rung if it succeeded."""
        if member.success:
            bisect.insort(self._members.setdefault(rung, []), member, key=self._key)
            if not member.promoted:
                bisect.insort(self._unpromoted.setdefault(rung, []), member, key=self._key)
            self._forget(rung)

    def remove(self, rung: Rung, member: Member) -> None:
        """Drop ``member`` (before its result changes); a no-op for one that had not succeeded."""
        if not member.success:
            return
        self._drop(self._members[rung], member)
        if not member.promoted:
            self._drop(self._unpromoted[rung], member)
        self._forget(rung)

    def promote(self, rung: Rung, member: Member, promoted: bool = True) -> None:
        """Mark ``member`` promoted, or (``False``) no longer: its proposal was forgotten."""
        if member.promoted is promoted:
            return
        member.promoted = promoted
        if not member.success:
            return
        if promoted:
            self._drop(self._unpromoted[rung], member)
        else:
            bisect.insort(self._unpromoted.setdefault(rung, []), member, key=self._key)

    def _drop(self, members: list[Member], member: Member) -> None:
        index = bisect.bisect_left(members, self._key(member), key=self._key)
        while members[index] is not member:
            index += 1
        del members[index]

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

    def waiting(self, bracket: Bracket, rung: int, limit: int) -> list[Member]:
        """The members among the best ``limit`` of ``bracket``'s ``rung`` not promoted yet.

        In the default order, found from the unpromoted members, each placed in the rung by
        bisection: ASHA filtered the best third of its lowest rung on every ask.
        """
        if self.rank is not None:
            return [m for m in self.best(bracket, rung, limit) if not m.promoted]
        members, key = self.successes(bracket, rung), self._key
        found = []
        for member in self._unpromoted.get((bracket, rung), []):
            if bisect.bisect_left(members, key(member), key=key) >= limit:
                break
            found.append(member)
        return found

    def _forget(self, rung: Rung) -> None:
        if self.rank is not None:
            for key in [key for key in self._ranked if key[0] == rung]:
                del self._ranked[key]


def _trial_order(member: Member) -> int:
    return member.order
