"""Which decisions a mutation moves, chosen again when the forbidden clauses refuse a choice.

A choice the clauses never allow (another value of a categorical they pin) failed all of
20,000 draws, 4 s per mutation, so each choice gets a few draws and then another is made.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from neps_core.space.resolution import DrawPolicy

#: Choices of the decisions to move before a mutation gives up (then nothing is allowed near
#: the configuration, or only rarely), and draws that repair each choice's result.
MUTATION_ATTEMPTS, MUTATION_REJECTIONS = 100, 10


def mutation_attempts(
    config: Mapping[str, Any],
    mutable: Sequence[str],
    rate: float | None,
    base: DrawPolicy,
    fidelity_name: str | None,
) -> Iterator[tuple[dict[str, Any], DrawPolicy]]:
    """``MUTATION_ATTEMPTS`` times: the decisions of ``config`` kept, and ``base`` set to move
    the others: each of ``mutable`` with probability ``rate`` (default one over their number),
    at least one. The fidelity is never kept (``base`` sets it)."""
    assert base.rng is not None
    rng = base.rng
    rate = 1.0 / len(mutable) if rate is None else rate
    for _ in range(MUTATION_ATTEMPTS):
        moved = [path for path in mutable if rng.random() < rate]
        moved = moved or [mutable[int(rng.integers(len(mutable)))]]
        kept = {k: v for k, v in config.items() if k not in moved and k != fidelity_name}
        yield kept, attrs.evolve(base, perturb={path: config[path] for path in moved})
