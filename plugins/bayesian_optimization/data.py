"""Turning a trial history into the arrays a surrogate model is fitted on.

Successful trials give observations, and so does a failed trial with a substitute objective
(from ``objective_value_on_error``). Failed and crashed trials without one are returned apart:
they say where evaluations fail, not how good the objective is there, so they feed a failure
model instead of a made-up value (imputing the worst value at a random crash would put a
spike into a smooth objective). Pending and running trials (of any worker) are returned
apart too, for fantasies. Only trials at the fidelity's maximum inform the model; every
trial counts as already seen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from neps_core.models import Trial, TrialState
from neps_core.space.encoding import ConfigEncoder
from neps_core.space.enumeration import config_key
from neps_core.space.fidelity import at_full_fidelity
from neps_core.validators import is_number

#: Where an inactive (conditional) column sits: numeric in the middle, categorical apart.
INACTIVE_NUMERIC = 0.5
INACTIVE_CATEGORICAL = -1.0
_FAILED_STATES = (TrialState.FAILED, TrialState.CRASHED)


@attrs.frozen
class Observations:
    """Encoded inputs and targets of the model, the in-flight points and what the run has seen.

    ``costs`` holds the reported cost of each observation (``NaN`` when none was reported);
    ``failed`` the inputs of failed trials without a substitute objective.
    """

    x: np.ndarray
    y: np.ndarray
    costs: np.ndarray
    pending: np.ndarray
    failed: np.ndarray
    seen: frozenset[str]

    @property
    def n_distinct_targets(self) -> int:
        """How many different target values there are (a model needs at least two)."""
        return len(np.unique(self.y))


def _scalar(value: Any) -> float | None:
    if is_number(value) and math.isfinite(value):
        return float(value)
    return None


def fill_inactive(x: np.ndarray, encoder: ConfigEncoder) -> np.ndarray:
    """Replace the ``NaN`` of inactive parameters by fixed values the kernel can compare."""
    filled = x.copy()
    for column in range(encoder.n_dims):
        missing = np.isnan(filled[:, column])
        if missing.any():
            is_categorical = column in encoder.categorical_dims
            filled[missing, column] = INACTIVE_CATEGORICAL if is_categorical else INACTIVE_NUMERIC
    return filled


def _encode(encoder: ConfigEncoder, configs: list[Mapping[str, Any]]) -> np.ndarray:
    if not configs:
        return np.empty((0, encoder.n_dims))
    return fill_inactive(encoder.encode(configs), encoder)


def collect(trials: Mapping[str, Trial], encoder: ConfigEncoder) -> Observations:
    """The observations in ``trials`` for a model over ``encoder``'s columns."""
    observed: list[tuple[Mapping[str, Any], float, float]] = []
    substituted: set[int] = set()  # indexes in observed of failures with a substitute objective
    pending: list[Mapping[str, Any]] = []
    failed: list[Mapping[str, Any]] = []
    for trial in trials.values():
        if not at_full_fidelity(encoder.space, trial.config):
            continue
        if trial.state in (TrialState.PENDING, TrialState.EVALUATING):
            pending.append(trial.config)
        elif trial.state is TrialState.SUCCESS or trial.state in _FAILED_STATES:
            value = _scalar(trial.objective)
            if value is not None:
                if trial.state is not TrialState.SUCCESS:
                    substituted.add(len(observed))
                cost = _scalar(trial.cost)
                observed.append((trial.config, value, math.nan if cost is None else cost))
            elif trial.state in _FAILED_STATES:
                failed.append(trial.config)
            # else: a multi-objective or non-finite success, nothing to learn from
    observed = _cap_substitutes(observed, substituted)
    return Observations(
        x=_encode(encoder, [c for c, _, _ in observed]),
        y=np.array([v for _, v, _ in observed], dtype=float),
        costs=np.array([cost for _, _, cost in observed], dtype=float),
        pending=_encode(encoder, pending),
        failed=_encode(encoder, failed),
        seen=frozenset(config_key(trial.config) for trial in trials.values()),
    )


def _cap_substitutes(
    observed: list[tuple[Mapping[str, Any], float, float]], substituted: set[int]
) -> list[tuple[Mapping[str, Any], float, float]]:
    """Failures' substitute objectives, all taken as the worst objective a success reported.

    A substitute such as ``objective_value_on_error=1e6`` means "as bad as it gets"; taken
    literally, it dwarfs every real difference between successes, and the model sees a flat
    landscape with a cliff. One at or below the successes (``0.0`` for an error rate) would
    make the failing region look best: the model was drawn into it (22 of 25 trials failed
    on a bowl failing for x > 0.5, against 4 to 6 with the worst success).
    """
    successes = [value for index, (_, value, _) in enumerate(observed) if index not in substituted]
    if not successes or not substituted:
        return observed
    worst = max(successes)
    capped = list(observed)
    for index in substituted:
        config, _, cost = observed[index]
        capped[index] = (config, worst, cost)
    return capped


def categorical_sizes(encoder: ConfigEncoder) -> tuple[tuple[int, int], ...]:
    """``(column, number of choices)`` of every categorical column."""
    return tuple(sorted(encoder.categorical_dims.items()))
