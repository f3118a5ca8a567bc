"""The acquisition of a space with conditions, judged at the configurations points stand for.

The model sees an inactive parameter at one fixed value (``fill_inactive``). A candidate
whose inactive columns lay anywhere else looked unexplored to it, so BO kept proposing the
branch it knew to be worse, and evaluating it taught nothing: it was stored at the fixed
value again. Candidates are scored as the configurations they decode to, and a prior of
an inactive parameter neither helps nor hurts them.
"""

from __future__ import annotations

import numpy as np

from neps_core.space.encoding import ConfigEncoder
from neps_core_plugins.bayesian_optimization.acquisition import PriorDensity, Term
from neps_core_plugins.bayesian_optimization.data import fill_inactive


def on_configurations(
    model_terms: Term, prior: tuple[PriorDensity, float] | None, encoder: ConfigEncoder
) -> Term:
    """``model_terms`` (and ``weight * log prior``) at the configurations of the points, with
    no gradient along the columns of inactive parameters."""
    numeric = list(encoder.numerical_dims)

    def term(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        configured = encoder.encode(encoder.decode(x))  # NaN where a parameter is inactive
        value, gradient = model_terms(fill_inactive(configured, encoder))
        if prior is not None:
            density, weight = prior
            prior_value, prior_gradient = density.log_density(density.at_prior_if_nan(configured))
            value, gradient = value + weight * prior_value, gradient + weight * prior_gradient
        gradient = np.where(np.isnan(configured[:, numeric]), 0.0, gradient)
        return value, gradient

    return term
