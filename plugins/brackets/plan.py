"""The state of the brackets, rebuilt from the trial history, and the slots a new trial may take."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from neps_core.errors import SettingsError
from neps_core.models import Trial, TrialState
from neps_core_plugins.brackets.rungs import (
    BracketShape,
    Rungs,
    halving_shape,
    hyperband_shape,
)

SCHEDULES = ("successive_halving", "hyperband", "asha", "async_hb")


@attrs.define(eq=False)
class Member:
    """A trial (or a proposal of the current ``ask``) on a rung of a bracket."""

    config: Mapping[str, Any]
    rung: int
    state: TrialState
    objective: Any = None  # the objective of a successful trial
    trial_id: str | None = None  # None: proposed in the current ``ask``
    promoted: bool = False

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


def sync_promotions(
    bracket: Bracket, top: int, best: Best, *, short_rungs_of: int | None = None
) -> list[Slot]:
    """Promotions of a synchronous bracket: from each completed rung its best move up.

    ``short_rungs_of=eta``: a rung that cannot fill (the space has no new configurations
    left) is complete once its members are final, and promotes its best 1/eta (at least one).
    """
    slots: list[Slot] = []
    expected = bracket.shape.sizes[0]
    for rung in range(bracket.shape.base, top):
        members = bracket.members(rung)
        short = short_rungs_of is not None and 0 < len(members) < expected
        if (len(members) < expected and not short) or not all(m.state.is_final for m in members):
            break
        capacity = bracket.shape.capacity(rung + 1)
        if short and short_rungs_of is not None:
            capacity = min(capacity, max(1, len(members) // short_rungs_of))
        winners = best(bracket, rung, capacity)
        free = len(winners) - len(bracket.members(rung + 1))
        waiting = [m for m in winners if not m.promoted][: max(0, free)]
        slots[:0] = [Slot(bracket, rung + 1, member) for member in waiting]  # higher rungs first
        expected = len(winners)
    return slots


def async_promotions(
    bracket: Bracket, top: int, eta: int, best: Best, *, short_rungs: bool = False
) -> list[Slot]:
    """ASHA's promotions: the top 1/eta of each rung's finished trials, highest rung first.

    ``short_rungs``: rungs that cannot grow (the space has no new configurations left)
    promote at least their best finished trial.
    """
    slots: list[Slot] = []
    for rung in range(top - 1, bracket.shape.base - 1, -1):
        finished = sum(m.state.is_final for m in bracket.members(rung))
        count = max(1, finished // eta) if short_rungs and finished > 0 else finished // eta
        winners = best(bracket, rung, count) if count > 0 else []
        slots.extend(Slot(bracket, rung + 1, m) for m in winners if not m.promoted)
    return slots


@attrs.frozen
class Schedule:
    """Which brackets exist and how they fill; build one with :meth:`named`."""

    shapes: tuple[BracketShape, ...]
    synchronous: bool
    top: int
    eta: int

    @classmethod
    def named(cls, kind: str, rungs: Rungs, eta: int, early_stopping_rate: int) -> Schedule:
        """The schedule of one of :data:`SCHEDULES`."""
        top = rungs.top
        if early_stopping_rate > top:
            raise SettingsError(
                f"early_stopping_rate={early_stopping_rate} leaves no rung: eta={eta} gives the "
                f"rungs {list(rungs.fidelities)} (indices 0..{top})"
            )
        if kind in ("successive_halving", "asha"):
            shapes = (halving_shape(top, eta, early_stopping_rate),)
        elif kind in ("hyperband", "async_hb"):
            shapes = tuple(hyperband_shape(top, eta, base) for base in range(top + 1))
        else:
            raise SettingsError(f"unknown bracket schedule {kind!r}; known: {list(SCHEDULES)}")
        return cls(shapes, kind in ("successive_halving", "hyperband"), top, eta)

    def plan(
        self, trials: Mapping[str, Trial], rungs: Rungs, *, first_root_loose: bool = False
    ) -> Plan:
        """The brackets as ``trials`` (in creation order) filled them.

        ``first_root_loose``: a first configuration started at the top rung (the prior,
        evaluated at the highest fidelity before any bracket) belongs to no bracket.
        """
        plan = Plan(self, first_root_loose=first_root_loose)
        for trial in sorted(trials.values(), key=trial_order):
            plan.add_trial(trial, rungs.rung_of(trial.fidelity))
        return plan


class Plan:
    """The brackets of one history, and the slots the next trial may take."""

    def __init__(self, schedule: Schedule, *, first_root_loose: bool = False) -> None:
        self.schedule = schedule
        self.brackets: list[Bracket] = (
            [] if schedule.synchronous else [Bracket(shape) for shape in schedule.shapes]
        )
        #: Members outside every bracket (never promoted): see ``first_root_loose``.
        self.loose = Bracket(BracketShape(schedule.top, (1,)))
        self.first_root_loose = first_root_loose
        self.roots = 0  # configurations started afresh (trials and proposals)
        self._by_id: dict[str, tuple[Bracket, Member]] = {}
        self._open: dict[int, list[Bracket]] = {}  # synchronous brackets by base, oldest first
        self._ranked: dict[tuple[int, int, int], list[Member]] = {}

    def add_trial(self, trial: Trial, rung: int | None) -> None:
        """Place an existing trial; trials off the rungs or off the schedule are ignored.

        A continuation off the rungs (made with another ``eta``) still marks its source as
        promoted: promoting it again would train the configuration along a second chain.
        """
        if rung is None:
            found = self._by_id.get(trial.previous_trial_id or "")
            if found is not None:
                found[1].promoted = True
            return
        objective = trial.objective if trial.state is TrialState.SUCCESS else None
        member = Member(trial.config, rung, trial.state, objective, trial.id)
        if trial.previous_trial_id is not None:
            found = self._by_id.get(trial.previous_trial_id)
            if found is None:
                return
            bracket, source = found
            source.promoted = True
        else:
            loose = self.first_root_loose and self.roots == 0 and rung == self.schedule.top
            chosen = self.loose if loose else self._bracket_for_new(rung)
            if chosen is None:
                return
            bracket = chosen
            self.roots += 1
        bracket.members(rung).append(member)
        self._by_id[trial.id] = (bracket, member)

    def _bracket_for_new(self, rung: int) -> Bracket | None:
        if not any(shape.base == rung for shape in self.schedule.shapes):
            return None
        if not self.schedule.synchronous:
            return next(b for b in self.brackets if b.shape.base == rung)
        waiting = self._open.get(rung, [])
        while waiting and not waiting[0].base_open:
            waiting.pop(0)
        if waiting:
            return waiting[0]
        while True:
            bracket = self._open_next()
            if bracket.shape.base == rung:
                return bracket

    def _open_next(self) -> Bracket:
        shapes = self.schedule.shapes
        bracket = Bracket(shapes[len(self.brackets) % len(shapes)])
        self.brackets.append(bracket)
        self._open.setdefault(bracket.shape.base, []).append(bracket)
        return bracket

    def slots(self, rank: Ranking, *, short_rungs: bool = False) -> Iterator[Slot]:
        """Possible next trials, preferred first: promotions, then new configurations.

        ``short_rungs``: for when no new configuration can be drawn (a small discrete space
        is used up): rungs promote from the members they have instead of waiting to fill.
        """
        schedule = self.schedule

        def best(bracket: Bracket, rung: int, limit: int) -> list[Member]:
            # Successes never change within one ask: rank each rung once.
            key = (id(bracket), rung, limit)
            if key not in self._ranked:
                successes = [m for m in bracket.members(rung) if m.success]
                self._ranked[key] = rank(successes, limit)[:limit]
            return self._ranked[key]

        for bracket in list(self.brackets):
            if schedule.synchronous:
                short_rungs_of = schedule.eta if short_rungs else None
                yield from sync_promotions(
                    bracket, schedule.top, best, short_rungs_of=short_rungs_of
                )
            else:
                yield from async_promotions(
                    bracket, schedule.top, schedule.eta, best, short_rungs=short_rungs
                )
        if schedule.synchronous:
            yield from (Slot(b, b.shape.base) for b in self.brackets if b.base_open)
            shapes = schedule.shapes
            upcoming = [shapes[(len(self.brackets) + i) % len(shapes)] for i in range(len(shapes))]
            yield from (Slot(Bracket(shape), shape.base) for shape in upcoming)
        else:
            by_share = sorted(
                self.brackets, key=lambda b: len(b.members(b.shape.base)) / b.shape.sizes[0]
            )
            yield from (Slot(b, b.shape.base) for b in by_share)

    def take(self, slot: Slot, config: Mapping[str, Any]) -> None:
        """Record a proposal for ``slot`` as a pending member, so later slots account for it."""
        bracket = slot.bracket
        if bracket not in self.brackets:  # a bracket further down the sequence: open up to it
            opened = self._open_next()
            while opened.shape != bracket.shape:
                opened = self._open_next()
            bracket = opened
        if slot.source is not None:
            slot.source.promoted = True
        else:
            self.roots += 1
        bracket.members(slot.rung).append(Member(config, slot.rung, TrialState.PENDING))

    def take_loose(self, config: Mapping[str, Any]) -> None:
        """Record a proposal at the top rung outside every bracket."""
        self.roots += 1
        top = self.schedule.top
        self.loose.members(top).append(Member(config, top, TrialState.PENDING))

    def successes_by_rung(self) -> dict[int, list[Member]]:
        """Every successful member (of every bracket, and loose ones), by rung."""
        found: dict[int, list[Member]] = {}
        for bracket in [*self.brackets, self.loose]:
            for rung, members in bracket.rungs.items():
                found.setdefault(rung, []).extend(m for m in members if m.success)
        return found


def trial_order(trial: Trial) -> tuple[int, int, str]:
    """Creation order: numeric ids by value, others after them by name."""
    return (0, int(trial.id), "") if trial.id.isdigit() else (1, 0, trial.id)
