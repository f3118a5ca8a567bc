"""Acquisition functions on encoded points, each with its gradient in the numeric columns.

The base is log expected improvement (Ament et al., 2023), computed so that it stays finite
and informative far from the incumbent, where plain EI underflows to zero and its gradient
vanishes. Optional terms are added in log space: the πBO prior term ``(beta / n) log pi(x)``
the cost term ``-alpha * E[log cost(x)]`` (EI per unit cost with cost cooling) and the
failure term ``log P(failure rate(x) < 1/2)`` (EI under a constraint).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import attrs
import numpy as np
from scipy import special

from neps_core_plugins.bayesian_optimization.gp import GaussianProcess

#: Value and gradient ``(m,), (m, d_num)`` of an acquisition term at ``m`` encoded points.
Term = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2)
#: Below this z the expansion ``1 + z r(z) = 1/z^2 - 3/z^4`` is exact to double precision.
_ASYMPTOTIC_Z = -1e3


def log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(phi(z) + z Phi(z))`` and its derivative ``Phi(z) / h(z)``, stable for any z.

    EI = sigma * h(z) with ``z = (best - mean) / sigma``. For negative z, ``h = phi(z) *
    (1 + z r)`` with ``r = Phi / phi = erfcx(-z / sqrt 2) sqrt(pi / 2)``; ``1 + z r`` is
    computed without cancellation (through ``log1mexp`` or its asymptotic series).
    """
    z = np.asarray(z, dtype=float)
    value = np.empty_like(z)
    slope = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    h = np.exp(-0.5 * zu**2 - _LOG_SQRT_2PI) + zu * special.ndtr(zu)
    value[upper] = np.log(h)
    slope[upper] = special.ndtr(zu) / h
    lower = ~upper
    zl = z[lower]
    r = special.erfcx(-zl / math.sqrt(2)) * math.exp(_LOG_SQRT_PI_2)  # Phi / phi
    far = zl < _ASYMPTOTIC_Z
    one_plus_zr = np.where(far, 1.0 / zl**2 - 3.0 / zl**4, 0.0)
    near = ~far
    one_plus_zr[near] = -np.expm1(np.log(-zl[near] * r[near]))
    value[lower] = -0.5 * zl**2 - _LOG_SQRT_2PI + np.log(one_plus_zr)
    slope[lower] = r / one_plus_zr
    return value, slope


def _z_scores(
    model: GaussianProcess, limit: float, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``z = (limit - mean) / sigma`` of the latent function at ``x``, ``sigma``, and gradients.

    Returns ``z, dz/dx, sigma, dsigma/dx`` (gradients ``(m, d_num)``, standardized units).
    """
    mean, var, d_mean, d_var = model.predict_with_gradients(x)
    sigma = np.sqrt(var)
    z = (limit - mean) / sigma
    d_sigma = d_var / (2.0 * sigma[:, None])
    d_z = -d_mean / sigma[:, None] - (z / sigma)[:, None] * d_sigma
    return z, d_z, sigma, d_sigma


def log_expected_improvement(model: GaussianProcess, best: float) -> Term:
    """Log EI below ``best`` (a standardized target value) of ``model``'s latent function."""

    def term(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z, d_z, sigma, d_sigma = _z_scores(model, best, x)
        value, slope = log_h(z)
        gradient = d_sigma / sigma[:, None] + slope[:, None] * d_z
        return np.log(sigma) + value, gradient

    return term


@attrs.frozen
class PriorDensity:
    """The log density of the space's priors on encoded points (numeric part up to a constant).

    Numeric priors are normals in the unit interval with the width of their confidence;
    categorical priors put ``mass`` on the preferred index and spread the rest evenly.
    """

    numeric_columns: tuple[int, ...]
    centers: np.ndarray
    stds: np.ndarray
    gradient_columns: tuple[int, ...]  # position of each numeric prior among numeric dims
    categorical: tuple[tuple[int, int, float, float], ...]  # column, index, log p, log q
    n_numeric_dims: int

    def log_density(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Value ``(m,)`` and gradient ``(m, n_numeric_dims)`` of ``log pi(x)``."""
        gradient = np.zeros((len(x), self.n_numeric_dims))
        value = np.zeros(len(x))
        if self.numeric_columns:
            scaled = (x[:, list(self.numeric_columns)] - self.centers) / self.stds
            value -= 0.5 * np.sum(scaled**2, axis=1)
            gradient[:, list(self.gradient_columns)] = -scaled / self.stds
        for column, index, log_p, log_q in self.categorical:
            value += np.where(np.rint(x[:, column]) == index, log_p, log_q)
        return value, gradient

    def at_prior_if_nan(self, x: np.ndarray) -> np.ndarray:
        """``x`` with its ``NaN`` (inactive) columns at their priors, where they have one."""
        x = x.copy()
        for column, center in zip(self.numeric_columns, self.centers, strict=True):
            x[np.isnan(x[:, column]), column] = center
        for column, index, _, _ in self.categorical:
            x[np.isnan(x[:, column]), column] = index
        return x


def prior_term(prior: PriorDensity, weight: float) -> Term:
    """``weight * log pi(x)``: πBO's prior factor ``pi(x)^(beta / n)`` in log space."""

    def term(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value, gradient = prior.log_density(x)
        return weight * value, weight * gradient

    return term


def cost_term(cost_model: GaussianProcess, alpha: float) -> Term:
    """``-alpha * E[log cost(x)]``: divides EI by the predicted cost to the power ``alpha``."""

    def term(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, _, d_mean, _ = cost_model.predict_with_gradients(x)
        scale = alpha * cost_model.y_std
        return -scale * mean, -scale * d_mean

    return term


def log_probability_below(model: GaussianProcess, threshold: float) -> Term:
    """``log P(f(x) < threshold)`` under ``model``'s latent function (``threshold`` unstandardized).

    On a model of the failure indicator (1 failed, 0 succeeded) with threshold 1/2 this is the
    log probability that a configuration fails less often than not: added to log EI, it gives
    EI under a constraint (Gardner et al., 2014). Failures that strike at random leave the
    latent rate flat below 1/2, so the term is flat too and the search is unaffected.
    """
    limit = (threshold - model.y_mean) / model.y_std

    def term(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z, d_z, _, _ = _z_scores(model, limit, x)
        value = special.log_ndtr(z)
        slope = np.exp(-0.5 * z**2 - _LOG_SQRT_2PI - value)  # phi(z) / Phi(z)
        return value, slope[:, None] * d_z

    return term


def combine(terms: Sequence[Term]) -> Term:
    """The sum of acquisition terms."""

    def total(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value, gradient = terms[0](x)
        for term in terms[1:]:
            more_value, more_gradient = term(x)
            value, gradient = value + more_value, gradient + more_gradient
        return value, gradient

    return total
