"""The state of the brackets, built from the trial history, and the slots a new trial may take."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from neps_core.errors import SettingsError
from neps_core.models import Trial, TrialState
from neps_core_plugins.brackets.members import Bracket, Member, Ranking, Slot
from neps_core_plugins.brackets.promotions import async_promotions, sync_promotions
from neps_core_plugins.brackets.rungs import (
    BracketShape,
    Rungs,
    halving_shape,
    hyperband_shape,
)
from neps_core_plugins.brackets.standings import Standings

SCHEDULES = ("successive_halving", "hyperband", "asha", "async_hb")


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
        self,
        trials: Mapping[str, Trial],
        rungs: Rungs,
        *,
        loose_config: Mapping[str, Any] | None = None,
        rank: Ranking | None = None,
    ) -> Plan:
        """The brackets as ``trials`` (in creation order) filled them.

        ``loose_config``: the first trial started with this configuration at the top rung
        (the prior, evaluated at the highest fidelity before the brackets) belongs to no
        bracket, whatever the run held before it (imported trials).
        ``rank``: how a rung's members are ranked (default: lowest objective first).
        """
        plan = Plan(self, loose_config=loose_config, rank=rank)
        for trial in sorted(trials.values(), key=trial_order):
            plan.add_trial(trial, rungs.rung_of(trial.fidelity))
        return plan


class Plan:
    """The brackets of one history, and the slots the next trial may take.

    A plan follows a growing history (``update``) rather than being rebuilt for every ask:
    what it ranked or found settled stays until a member of that rung or bracket
    changes. Proposals of an ask are taken inside :meth:`tentative` and forgotten after it,
    since the history brings them back as trials.
    """

    def __init__(
        self,
        schedule: Schedule,
        *,
        loose_config: Mapping[str, Any] | None = None,
        rank: Ranking | None = None,
    ) -> None:
        self.schedule = schedule
        self.standings = Standings(rank)
        self.brackets: list[Bracket] = (
            [] if schedule.synchronous else [Bracket(shape) for shape in schedule.shapes]
        )
        #: Members outside every bracket (never promoted): see ``loose_config``.
        self.loose = Bracket(BracketShape(schedule.top, (1,)))
        self.loose_config = None if loose_config is None else dict(loose_config)
        self._by_id: dict[str, tuple[Bracket, Member]] = {}
        #: The rung and source of every trial read, placed in a bracket or not.
        self._read: dict[str, tuple[int | None, str | None]] = {}
        #: Continuations read before the trial they continue, by that trial's id.
        self._waiting: dict[str, list[tuple[Trial, int | None]]] = {}
        self._waiting_ids: set[str] = set()
        self._last_order: tuple[int, int, str] | None = None
        self._open: dict[int, list[Bracket]] = {}  # synchronous brackets by base, oldest first
        self._finished: Counter[tuple[Bracket, int]] = Counter()  # final members by rung
        self._settled: dict[bool, set[Bracket]] = {False: set(), True: set()}
        self._taken: list[tuple[Bracket, list[Member], Member | None]] | None = None

    def update(self, trial: Trial, rung: int | None) -> bool:
        """Bring the plan up to ``trial``'s latest version.

        ``False`` when it cannot, and only a plan rebuilt in creation order places it right:
        a new trial created before trials already placed (ids not in creation order), or a
        version that moves its trial (another rung, source or configuration: a damaged
        record's stand-in, an edit by hand).
        """
        read = self._read.get(trial.id)
        if read is None:
            if self._last_order is not None and trial_order(trial) < self._last_order:
                return False
            self.add_trial(trial, rung)
            return True
        found = self._by_id.get(trial.id)
        moved = read != (rung, trial.previous_trial_id) or trial.id in self._waiting_ids
        if moved or (found is not None and found[1].config != trial.config):
            return False
        if found is not None:
            bracket, member = found
            self._finished[bracket, member.rung] += trial.state.is_final - member.state.is_final
            self.standings.remove((bracket, member.rung), member)
            member.state = trial.state
            member.objective = _objective(trial)
            self.standings.add((bracket, member.rung), member)
            self._unsettle(bracket)
        return True

    def add_trial(self, trial: Trial, rung: int | None) -> None:
        """Place an existing trial (given in creation order); trials off the rungs or off the
        schedule are ignored, and a continuation waits for the trial it continues.

        A continuation off the rungs (made with another ``eta``) still marks its source as
        promoted: promoting it again would train the configuration along a second chain.
        """
        order = trial_order(trial)
        self._last_order = order if self._last_order is None else max(order, self._last_order)
        self._place(trial, rung)

    def _place(self, trial: Trial, rung: int | None) -> None:
        previous = trial.previous_trial_id
        self._read[trial.id] = (rung, previous)
        if previous is not None and previous not in self._by_id:
            if previous not in self._read or previous in self._waiting_ids:  # not placed yet
                self._waiting.setdefault(previous, []).append((trial, rung))
                self._waiting_ids.add(trial.id)
            return  # else its source is in no bracket: neither is the continuation
        if rung is None:
            if previous is not None:
                bracket, source = self._by_id[previous]
                self.standings.promote((bracket, source.rung), source)
                self._unsettle(bracket)
            return
        member = Member(
            trial.config, rung, trial.state, _objective(trial), trial.id, order=len(self._by_id)
        )
        if previous is not None:
            bracket, source = self._by_id[previous]
            self.standings.promote((bracket, source.rung), source)
        else:
            chosen = self.loose if self._is_loose(trial, rung) else self._bracket_for_new(rung)
            if chosen is None:
                return
            bracket = chosen
        bracket.members(rung).append(member)
        self._by_id[trial.id] = (bracket, member)
        self._finished[bracket, rung] += trial.state.is_final
        self.standings.add((bracket, rung), member)
        self._unsettle(bracket)
        for child, child_rung in self._waiting.pop(trial.id, []):
            self._waiting_ids.discard(child.id)
            self._place(child, child_rung)

    def _is_loose(self, trial: Trial, rung: int) -> bool:
        """Whether a new trial is the prior started at the top outside the brackets: the
        first one with ``loose_config``, not the run's first trial (an imported trial, or
        one named by a plugin storage and sorted first, took the prior's place)."""
        top = self.schedule.top
        return (
            rung == top
            and self.loose_config is not None
            and not self.loose.members(top)
            and dict(trial.config) == self.loose_config
        )

    def _unsettle(self, bracket: Bracket) -> None:
        """``bracket`` changed: whether it has promotions to offer must be found again."""
        for settled in self._settled.values():
            settled.discard(bracket)

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

    def slots(self, *, short_rungs: bool = False) -> Iterator[Slot]:
        """Possible next trials, preferred first: promotions, then new configurations.

        ``short_rungs``: for when no new configuration can be drawn (a small discrete space
        is used up): rungs promote from the members they have instead of waiting to fill.
        """
        schedule = self.schedule
        best = self.standings.best
        settled = self._settled[short_rungs]
        for bracket in list(self.brackets):
            if bracket in settled:
                continue
            if schedule.synchronous:
                short_rungs_of = schedule.eta if short_rungs else None
                found = sync_promotions(bracket, schedule.top, best, short_rungs_of=short_rungs_of)
                if not found and not self._taken:  # nothing to promote until a member changes
                    settled.add(bracket)
            else:
                found = async_promotions(
                    bracket,
                    schedule.top,
                    schedule.eta,
                    self.standings.waiting,
                    lambda of, rung: self._finished[of, rung],
                    short_rungs=short_rungs,
                )
            yield from found
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

    @contextlib.contextmanager
    def tentative(self) -> Iterator[Plan]:
        """Take an ask's proposals (:meth:`take`, :meth:`take_loose`); forget them on exit."""
        brackets = len(self.brackets)
        self._taken = []
        try:
            yield self
        finally:
            for bracket, members, source in reversed(self._taken):
                members.pop()
                if source is not None:
                    self.standings.promote((bracket, source.rung), source, promoted=False)
            for bracket in self.brackets[brackets:]:
                self._open[bracket.shape.base].remove(bracket)
            del self.brackets[brackets:]
            self._taken = None

    def take(self, slot: Slot, config: Mapping[str, Any]) -> None:
        """Record a proposal for ``slot`` as a pending member, so later slots account for it."""
        bracket = slot.bracket
        if bracket not in self.brackets:  # a bracket further down the sequence: open up to it
            opened = self._open_next()
            while opened.shape != bracket.shape:
                opened = self._open_next()
            bracket = opened
        if slot.source is not None:
            self.standings.promote((bracket, slot.source.rung), slot.source)
        self._note_taken(bracket, slot.rung, config, slot.source)

    def take_loose(self, config: Mapping[str, Any]) -> None:
        """Record a proposal at the top rung outside every bracket."""
        self._note_taken(self.loose, self.schedule.top, config, None)

    def _note_taken(
        self, bracket: Bracket, rung: int, config: Mapping[str, Any], source: Member | None
    ) -> None:
        if self._taken is None:
            raise RuntimeError("proposals are taken inside Plan.tentative()")
        members = bracket.members(rung)
        members.append(Member(config, rung, TrialState.PENDING))
        self._taken.append((bracket, members, source))
        self._unsettle(bracket)

    def successes_by_rung(self) -> dict[int, list[Member]]:
        """Every successful member (of every bracket, and loose ones), by rung; bracket by
        bracket, each in its standings' order (kept as results arrive: reading every member
        on every ask cost PriorBand a third of its ask at 5,000 trials)."""
        found: dict[int, list[Member]] = {}
        for bracket in [*self.brackets, self.loose]:
            for rung in bracket.rungs:
                found.setdefault(rung, []).extend(self.standings.successes(bracket, rung))
        return found


def _objective(trial: Trial) -> Any:
    """The objective a member ranks by: only a successful trial's."""
    return trial.objective if trial.state is TrialState.SUCCESS else None


def trial_order(trial: Trial) -> tuple[int, int, str]:
    """Creation order: ids from outside the run's numbering (a plugin storage's names, trials
    made by hand) first, by name, then numeric ids by value, so that the run's new trials
    always come last (after one named trial, each ask rebuilt the whole plan)."""
    return (1, int(trial.id), "") if trial.id.isdigit() else (0, 0, trial.id)
