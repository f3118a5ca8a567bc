"""Which members of a bracket move up a rung: synchronous (successive halving) and ASHA's rules."""

from __future__ import annotations

from neps_core_plugins.brackets.members import Best, Bracket, Finished, Slot


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
    bracket: Bracket,
    top: int,
    eta: int,
    waiting: Best,
    finished_on: Finished,
    *,
    short_rungs: bool = False,
) -> list[Slot]:
    """ASHA's promotions: the top 1/eta of each rung's finished trials, highest rung first.

    ``waiting(bracket, rung, limit)``: those of the best ``limit`` not promoted yet.

    ``short_rungs``: rungs that cannot grow (the space has no new configurations left)
    promote at least their best finished trial.
    """
    slots: list[Slot] = []
    for rung in range(top - 1, bracket.shape.base - 1, -1):
        finished = finished_on(bracket, rung)
        count = max(1, finished // eta) if short_rungs and finished > 0 else finished // eta
        winners = waiting(bracket, rung, count) if count > 0 else []
        slots.extend(Slot(bracket, rung + 1, m) for m in winners)
    return slots
