"""Drawing values for single parameters: uniformly, or around the user's prior.

Numeric priors are truncated normals in the parameter's unit space (log-aware), with a width
set by ``prior_confidence``; categorical priors put a confidence-dependent share of the
probability on the preferred choice (`categorical_prior_mass`) and spread the rest evenly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neps_core.errors import object_of_type
from neps_core.space.parameters import Categorical, Constant, Numerical, Parameter

#: Standard deviation of a numeric prior in the unit cube, by confidence.
NUMERIC_PRIOR_STD = {"low": 0.25, "medium": 0.125, "high": 0.05}
#: Probability mass on the preferred choice of a categorical prior, by confidence.
CATEGORICAL_PRIOR_MASS = {"low": 0.5, "medium": 0.7, "high": 0.9}
#: Odds of the preferred choice against each other one that a categorical prior gives at
#: least, by confidence: with two choices the mass above alone would make "low" uniform.
CATEGORICAL_PRIOR_ODDS = {"low": 2.0, "medium": 4.0, "high": 9.0}

_MAX_REJECTIONS = 64


def sample_uniform(parameter: Parameter, rng: np.random.Generator) -> Any:
    """A value drawn uniformly (on the log scale for ``log`` parameters)."""
    if isinstance(parameter, Numerical):
        return parameter.from_unit(float(rng.random()))
    if isinstance(parameter, Categorical):
        return parameter.choices[int(rng.integers(len(parameter.choices)))]
    if isinstance(parameter, Constant):
        return parameter.value
    raise TypeError(f"cannot sample {object_of_type(parameter)}")


def truncated_normal(center: float, std: float, rng: np.random.Generator) -> float:
    """A normal draw restricted to [0, 1] (rejection; the centre after too many misses)."""
    for _ in range(_MAX_REJECTIONS):
        draw = rng.normal(center, std)
        if 0.0 <= draw <= 1.0:
            return float(draw)
    return float(np.clip(center, 0.0, 1.0))


def categorical_prior_mass(confidence: str, n_choices: int) -> float:
    """The probability of a categorical prior's choice among ``n_choices``, at ``confidence``.

    `CATEGORICAL_PRIOR_MASS`, but at least odds of `CATEGORICAL_PRIOR_ODDS` against each other
    choice: so always above uniform and growing with the confidence (2 choices: 0.667, 0.8,
    0.9; from 3 on the mass alone decides; 1 choice: 1.0).
    """
    odds = CATEGORICAL_PRIOR_ODDS[confidence]
    return max(CATEGORICAL_PRIOR_MASS[confidence], odds / (odds + n_choices - 1))


def categorical_index_with_prior(
    parameter: Categorical, rng: np.random.Generator, allowed: list[int] | None = None
) -> int:
    """An index drawn with the prior's share on the prior choice, the rest spread evenly.

    ``allowed`` restricts the draw to some indices (the prior must be one of them).
    """
    allowed = list(range(len(parameter.choices))) if allowed is None else allowed
    assert parameter.prior_index is not None and parameter.prior_index in allowed
    n = len(allowed)
    if n == 1:
        return allowed[0]
    mass = categorical_prior_mass(parameter.prior_confidence, n)
    weights = np.full(n, (1.0 - mass) / (n - 1))
    weights[allowed.index(parameter.prior_index)] = mass
    return allowed[int(rng.choice(n, p=weights))]
