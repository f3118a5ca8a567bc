"""The pieces of a plan: members on rungs, brackets, the slots a new trial may take."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from neps_core.models import TrialState
from neps_core_plugins.brackets.rungs import BracketShape


@attrs.define(eq=False)
class Member:
    """A trial (or a proposal of the current ``ask``) on a rung of a bracket."""

    config: Mapping[str, Any]
    rung: int
    state: TrialState
    objective: Any = None  # the objective of a successful trial
    trial_id: str | None = None  # None: proposed in the current ``ask``
    promoted: bool = False
    order: int = 0  # place in creation order (ties in a ranking keep it)

    @property
    def success(self) -> bool:
        """Whether the trial succeeded with an objective (only those can be promoted)."""
        return self.state is TrialState.SUCCESS and self.objective is not None


@attrs.define(eq=False)
class Bracket:
    """The members of one bracket, by rung."""

    shape: BracketShape
    rungs: dict[int, list[Member]] = attrs.field(factory=dict)

    def members(self, rung: int) -> list[Member]:
        """The members on ``rung`` in trial order."""
        return self.rungs.setdefault(rung, [])

    @property
    def base_open(self) -> bool:
        """Whether the base rung still takes new configurations (synchronous brackets)."""
        return len(self.members(self.shape.base)) < self.shape.sizes[0]


@attrs.frozen
class Slot:
    """A possible next trial: a promotion of ``source`` or a new configuration on ``rung``."""

    bracket: Bracket
    rung: int
    source: Member | None = None


#: ``rank(successful_members, limit)``: the best ``limit`` of them (or all), best first.
Ranking = Callable[[list[Member], int], list[Member]]
#: ``best(bracket, rung, limit)``: the best ``limit`` successful members of a bracket's rung.
Best = Callable[[Bracket, int, int], list[Member]]
#: ``finished(bracket, rung)``: how many members of a bracket's rung are final.
Finished = Callable[[Bracket, int], int]
