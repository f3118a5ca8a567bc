"""Which decisions a mutation moves, chosen again when the forbidden clauses refuse a choice.

A choice the clauses never allow (another value of a categorical they pin) failed all of
20,000 draws, 4 s per mutation, so each choice gets a few draws and then another is made.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from neps_core.space.resolution import DrawPolicy

#: Choices of the decisions to move before a mutation gives up (then nothing is allowed near
#: the configuration, or only rarely), and draws that repair each choice's result.
MUTATION_ATTEMPTS, MUTATION_REJECTIONS = 100, 10


@attrs.frozen
class Moves:
    """Which decisions a mutation moves, and how.

    ``rate``: each one with this probability (default one over their number), at least one;
    ``count``: exactly this many instead (all if fewer). ``redraw``: the moved decisions are
    drawn anew in their whole range (NePS's "forgetting") rather than stepped from their value.
    """

    rate: float | None = None
    count: int | None = None
    redraw: bool = False

    def __attrs_post_init__(self) -> None:
        """A count below one moved nothing (0) or failed in NumPy (-1), a rate beside a count
        was silently dropped, and a rate outside (0, 1] moved one decision (<= 0) or all (> 1)
        without a word."""
        rate, count = self.rate, self.count
        if rate is not None and (  # NaN is neither > 0 nor <= 1
            isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 < rate <= 1
        ):
            raise ValueError(f"rate must be a probability > 0 and <= 1, got {rate!r}")
        if count is None:
            return
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
            raise ValueError(f"count must be a whole number >= 1, got {count!r}")
        if self.rate is not None:
            raise ValueError(
                f"rate={self.rate!r} and count={count!r} each say which decisions move; give one"
            )

    def pick(self, mutable: Sequence[str], rng: np.random.Generator) -> list[str]:
        """The decisions of ``mutable`` to move this time."""
        if self.count is not None:
            picked = rng.choice(len(mutable), size=min(self.count, len(mutable)), replace=False)
            return [mutable[int(i)] for i in picked]
        rate = 1.0 / len(mutable) if self.rate is None else self.rate
        moved = [path for path in mutable if rng.random() < rate]
        return moved or [mutable[int(rng.integers(len(mutable)))]]


def mutation_attempts(
    config: Mapping[str, Any],
    mutable: Sequence[str],
    moves: Moves,
    base: DrawPolicy,
    fidelity_name: str | None,
) -> Iterator[tuple[dict[str, Any], DrawPolicy]]:
    """``MUTATION_ATTEMPTS`` times: the decisions of ``config`` kept, and ``base`` set to move
    the others, as ``moves`` picks them. The fidelity is never kept (``base`` sets it)."""
    assert base.rng is not None
    for _ in range(MUTATION_ATTEMPTS):
        moved = moves.pick(mutable, base.rng)
        kept = {k: v for k, v in config.items() if k not in moved and k != fidelity_name}
        perturb = {} if moves.redraw else {path: config[path] for path in moved}
        yield kept, attrs.evolve(base, perturb=perturb)
