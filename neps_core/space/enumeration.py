"""Telling configurations apart, and finding one not tried yet in a small finite space.

Optimizers that must not repeat a configuration draw until they find a new one; near the end
of a small discrete space (81 configurations, 5 left) a few dozen draws all miss, and the run
stopped with "nothing left to propose" while configurations were left. ``unseen_config``
lists such a space instead, so an optimizer gives up only when the space is really used up.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from neps_core.history import ChangeFeed
from neps_core.models import Proposal, Trial
from neps_core.space.parameters import Categorical, Integer
from neps_core.space.pipeline_space import PipelineSpace

#: Configurations listed at most; a larger space is treated as never used up.
MAX_LISTED = 100_000
#: Draws per proposal before the space is listed (or, if it cannot be, drawn more).
MAX_DRAWS = 50
#: Further draws of a space that cannot be listed before it is taken as used up (0.13 s for
#: a small structure): one configuration left of 80 is missed in about one ask of 250,000.
MAX_EXTRA_DRAWS = 2_000


def config_key(config: Mapping[str, Any]) -> str:
    """A hashable, order-independent identity of a configuration."""
    return repr(sorted(config.items()))


class ConfigKeys:
    """The keys of trials' configurations, each computed once per configuration: an optimizer
    asks again and again over a history that only grows, and a key reads every decision
    (200 parameters over 1,000 trials took 0.2 s per ask, under the storage lock).

    Asked with the same :class:`TrialHistory` again, only the trials changed since are read.
    """

    def __init__(self, key: Callable[[Mapping[str, Any]], str] = config_key) -> None:
        self.key = key
        self._known: dict[str, tuple[Mapping[str, Any], str]] = {}
        self._counts: Counter[str] = Counter()  # trials per key, of the history followed
        self._changes = ChangeFeed()

    def of(self, trials: Mapping[str, Trial]) -> SeenKeys:
        """The keys of ``trials``' configurations (a trial's key is computed again when its
        configuration is another object: another history under the same id), for one ask."""
        changed = self._changes.since_last(trials)
        if changed is None:
            self._known = {i: self._known[i] for i in trials if i in self._known}
            self._counts = Counter(self._key_of(i, trial.config) for i, trial in trials.items())
        else:
            for trial_id in changed:
                self._recount(trial_id, trials[trial_id].config)
        return SeenKeys(self._counts.keys())

    def _recount(self, trial_id: str, config: Mapping[str, Any]) -> None:
        """Count a trial of the followed history that is new or has a new version."""
        old = self._known.get(trial_id)
        if old is not None:
            self._counts[old[1]] -= 1
            if not self._counts[old[1]]:
                del self._counts[old[1]]
        self._counts[self._key_of(trial_id, config)] += 1

    def _key_of(self, trial_id: str, config: Mapping[str, Any]) -> str:
        known = self._known.get(trial_id)
        if known is None or known[0] is not config:
            known = self._known[trial_id] = (config, self.key(config))
        return known[1]


class SeenKeys(AbstractSet[str]):
    """The keys of a run's configurations, and of those an ask proposed so far (``add``).

    A live view of the keys kept between asks, plus a set of the ask's own: a copy of every
    key took 1 to 6 ms per ask at 10,000 to 20,000 trials. Good for the ask it was made for.
    """

    def __init__(self, known: AbstractSet[str]) -> None:
        self._known = known
        self._added: set[str] = set()

    def __contains__(self, key: object) -> bool:
        return key in self._added or key in self._known

    def __iter__(self) -> Iterator[str]:
        return itertools.chain(self._known, self._added)

    def __len__(self) -> int:
        return len(self._known) + len(self._added)

    def add(self, key: str) -> None:
        """Count ``key`` as seen for the rest of the ask."""
        if key not in self._known:
            self._added.add(key)


def untried_prior(
    space: PipelineSpace,
    seen: Container[str],
    *,
    key: Callable[[Mapping[str, Any]], str] = config_key,
    fidelity: Any = "max",
) -> dict[str, Any] | None:
    """The prior configuration (at ``fidelity``), or ``None`` once ``seen`` has its ``key``.

    What "start with the prior configuration" checks: "no trial yet" never held after
    ``import_trials`` or in a run another optimizer began, and the prior was never evaluated.
    """
    config = space.prior_config(fidelity=fidelity)
    return None if key(config) in seen else config


def unique_proposals(
    space: PipelineSpace,
    trials: Mapping[str, Trial],
    n: int,
    draw: Callable[[int], Mapping[str, Any]],
    rng: np.random.Generator,
    *,
    keys: ConfigKeys | None = None,
) -> list[Proposal]:
    """Up to ``n`` proposals from ``draw(index)``, none already in the run or repeated; when
    ``MAX_DRAWS`` draws miss, one not tried yet of a small finite space (``unseen_config``).

    ``keys``: an optimizer's own :class:`ConfigKeys`, so that each trial's key is computed once.
    """
    seen = (keys or ConfigKeys()).of(trials)
    proposals = []
    for index in range(n):
        draws = (draw(index) for _ in range(MAX_DRAWS))
        config = next((c for c in draws if config_key(c) not in seen), None)
        config = config if config is not None else unseen_config(space, seen, rng)
        if config is None:
            break
        seen.add(config_key(config))
        proposals.append(Proposal(config))
    return proposals


def unseen_config(
    space: PipelineSpace,
    seen: Container[str],
    rng: np.random.Generator,
    key: Callable[[Mapping[str, Any]], str] = config_key,
) -> dict[str, Any] | None:
    """A configuration whose ``key`` is not in ``seen``; ``None`` when there is none.

    A small finite flat space (conditions and forbidden clauses included) is listed and one
    of its unseen configurations drawn uniformly. Any other space is drawn ``MAX_EXTRA_DRAWS``
    times more: a structure cannot be listed, and an 80-configuration one with a single
    configuration left (drawn once in 160 at worst) ended runs at 69 to 79 after 50 misses.
    The fidelity is at the maximum.
    """
    listed = _listing(space)
    if listed is None:
        draws = (space.sample(rng) for _ in range(MAX_EXTRA_DRAWS))
        return next((config for config in draws if key(config) not in seen), None)
    unseen = [config for config in listed if key(config) not in seen]
    return dict(unseen[int(rng.integers(len(unseen)))]) if unseen else None


#: The listings of the last spaces listed, by identity: equal spaces may differ in their
#: values' types (``Categorical((1, 2))`` equals ``Categorical((1.0, 2.0))``).
_recent_listings: list[tuple[PipelineSpace, tuple[dict[str, Any], ...] | None]] = []


def _listing(space: PipelineSpace) -> tuple[dict[str, Any], ...] | None:
    """Every allowed configuration of a small finite flat space, ``None`` for other spaces.

    Kept for the last few spaces (a space is immutable): with conditions each point is read
    by the space (``canonical``, 30 us), which took seconds per ask at ``MAX_LISTED``.
    """
    for known, listing in _recent_listings:
        if known is space:
            return listing
    listing = _list(space)
    _recent_listings[:] = [(space, listing), *_recent_listings[:3]]
    return listing


def _list(space: PipelineSpace) -> tuple[dict[str, Any], ...] | None:
    decisions = _finite_decisions(space)
    if decisions is None:
        return None
    template = space.prior_config()  # constants, and the fidelity at its maximum
    listed: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*decisions.values()):
        point = {**template, **dict(zip(decisions, values, strict=True))}
        config = space.canonical(point) if space.conditions else point  # inactive ones out
        if config is not None and space.violated_clause(config) is None:
            listed.setdefault(config_key(config), config)  # a condition makes points equal
    return tuple(listed.values())


def _finite_decisions(space: PipelineSpace) -> dict[str, Sequence[Any]] | None:
    if not space.is_flat:
        return None
    decisions: dict[str, Sequence[Any]] = {}
    for name, parameter in space.searchable.items():
        if isinstance(parameter, Categorical):
            decisions[name] = [parameter.decision_for(i) for i in range(len(parameter.choices))]
        elif isinstance(parameter, Integer):
            decisions[name] = range(parameter.lower, parameter.upper + 1)
        else:
            return None
        if math.prod(len(values) for values in decisions.values()) > MAX_LISTED:
            return None
    return decisions
