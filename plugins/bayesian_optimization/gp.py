"""A lean Gaussian process for Bayesian optimization on encoded flat spaces (numpy + scipy).

The kernel is ``s * Matern52(numeric dims, ARD lengthscales) * exp(-sum_c w_c [x_c != x'_c])``:
Matern-5/2 on the unit-cube columns (log parameters are already on the log scale there, see
`neps_core.space.encoding`) times an exponentiated weighted Hamming kernel on the
categorical index columns. Hyperparameters (log lengthscales, log categorical weights, log
output scale, log noise) are fitted by maximizing the log marginal likelihood plus log-normal
priors (MAP) with L-BFGS-B and analytic gradients, on standardized targets; the constant
prior mean is then the generalized least-squares one. Predictions come with their gradients
in the numeric inputs, which the acquisition optimizer follows.

Why not BoTorch/GPyTorch: on 50 points the per-call overhead of torch modules and autograd
dominates; this model fits in milliseconds (numbers in the package docstring).
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from scipy import linalg, optimize

SQRT5 = math.sqrt(5.0)
#: Prior (mean, std) of the log of each hyperparameter kind, on standardized targets.
LENGTHSCALE_PRIOR = (math.log(0.5), 1.0)
CATEGORICAL_WEIGHT_PRIOR = (math.log(1.0), 1.0)
OUTPUTSCALE_PRIOR = (0.0, 1.0)
NOISE_PRIOR = (math.log(1e-4), 2.5)
#: Box bounds of the log hyperparameters during fitting.
LENGTHSCALE_BOUNDS = (math.log(0.01), math.log(20.0))
CATEGORICAL_WEIGHT_BOUNDS = (math.log(1e-3), math.log(20.0))
OUTPUTSCALE_BOUNDS = (math.log(0.05), math.log(20.0))
NOISE_BOUNDS = (math.log(1e-6), math.log(1.0))
JITTER = 1e-8
#: Targets whose standard deviation is at most this fraction of their largest magnitude count
#: as constant: 16 units in the last place, where rounding (of a mean, of the objective
#: itself) is all that tells them apart.
RELATIVE_RESOLUTION = 16 * float(np.finfo(float).eps)


def target_spread(y: np.ndarray) -> float:
    """The standard deviation of ``y``, or 0.0 where floats cannot resolve its differences.

    The rule is relative (`RELATIVE_RESOLUTION` of the largest ``|y|``), so that a model
    learns the same from ``1e-15 * f`` as from ``f``: an absolute 1e-12 stopped it learning
    from losses around 1e-13. It is computed on ``y`` scaled by a power of two, which is exact:
    the result is the same bits as ``np.std(y)``, without the squares of 1e-300 values
    underflowing to 0 or those of 1e200 values overflowing.
    """
    peak = float(np.max(np.abs(y), initial=0.0))
    if peak == 0.0 or not math.isfinite(peak):
        return 0.0
    mantissa, exponent = math.frexp(peak)  # peak = mantissa * 2**exponent
    relative = float(np.std(np.ldexp(y, -exponent)))
    if relative <= RELATIVE_RESOLUTION * mantissa:
        return 0.0
    return float(np.ldexp(relative, exponent))


@attrs.frozen
class KernelLayout:
    """Which columns of an encoded array are numeric and which are categorical."""

    numeric: tuple[int, ...]
    categorical: tuple[int, ...]


@attrs.frozen
class Hyper:
    """Kernel hyperparameters (natural scale)."""

    lengthscales: np.ndarray
    weights: np.ndarray
    outputscale: float
    noise: float

    @classmethod
    def from_log(cls, theta: np.ndarray, layout: KernelLayout) -> Hyper:
        """Unpack the log-parameter vector that the fit optimizes."""
        d_num, d_cat = len(layout.numeric), len(layout.categorical)
        return cls(
            lengthscales=np.exp(theta[:d_num]),
            weights=np.exp(theta[d_num : d_num + d_cat]),
            outputscale=float(np.exp(theta[-2])),
            noise=float(np.exp(theta[-1])),
        )


def _log_prior_terms(
    layout: KernelLayout, noise_prior: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, list]:
    """Prior means, prior stds and box bounds of the log hyperparameters, in vector order."""
    kinds = [LENGTHSCALE_PRIOR] * len(layout.numeric)
    kinds += [CATEGORICAL_WEIGHT_PRIOR] * len(layout.categorical)
    kinds += [OUTPUTSCALE_PRIOR, noise_prior]
    bounds = [LENGTHSCALE_BOUNDS] * len(layout.numeric)
    bounds += [CATEGORICAL_WEIGHT_BOUNDS] * len(layout.categorical)
    bounds += [OUTPUTSCALE_BOUNDS, NOISE_BOUNDS]
    means = np.array([k[0] for k in kinds])
    stds = np.array([k[1] for k in kinds])
    return means, stds, bounds


def _matern_parts(
    a: np.ndarray, b: np.ndarray, layout: KernelLayout, hyper: Hyper
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled differences ``(m, n, d_num)``, the Matern-5/2 factor and the categorical factor."""
    num = list(layout.numeric)
    diff = (a[:, None, num] - b[None, :, num]) / hyper.lengthscales
    r = np.sqrt(np.sum(diff**2, axis=-1))
    matern = (1.0 + SQRT5 * r + 5.0 / 3.0 * r**2) * np.exp(-SQRT5 * r)
    cat = list(layout.categorical)
    if cat:
        mismatch = a[:, None, cat] != b[None, :, cat]
        categorical = np.exp(-np.sum(mismatch * hyper.weights, axis=-1))
    else:
        categorical = np.ones_like(r)
    return diff, matern, categorical


def kernel(a: np.ndarray, b: np.ndarray, layout: KernelLayout, hyper: Hyper) -> np.ndarray:
    """The noise-free covariance matrix between the rows of ``a`` and ``b``."""
    _, matern, categorical = _matern_parts(a, b, layout, hyper)
    return hyper.outputscale * matern * categorical


def _neg_log_posterior(
    theta: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    layout: KernelLayout,
    noise_prior: tuple[float, float] = NOISE_PRIOR,
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus negative log prior, and its gradient."""
    hyper = Hyper.from_log(theta, layout)
    diff, matern, categorical = _matern_parts(x, x, layout, hyper)
    k_free = hyper.outputscale * matern * categorical
    k = k_free + (hyper.noise + JITTER) * np.eye(len(x))
    try:
        factor = linalg.cho_factor(k, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = linalg.cho_solve(factor, y, check_finite=False)
    k_inv = linalg.cho_solve(factor, np.eye(len(x)), check_finite=False)
    log_det = 2.0 * np.sum(np.log(np.diag(factor[0])))
    nll = 0.5 * y @ alpha + 0.5 * log_det + 0.5 * len(x) * math.log(2 * math.pi)
    w = np.outer(alpha, alpha) - k_inv  # d nll / d K = -w / 2
    r = np.sqrt(np.sum(diff**2, axis=-1))
    radial = hyper.outputscale * categorical * 5.0 / 3.0 * (1.0 + SQRT5 * r) * np.exp(-SQRT5 * r)
    grads = [np.sum(w * radial * diff[..., j] ** 2) for j in range(len(layout.numeric))]
    for j, column in enumerate(layout.categorical):
        mismatch = x[:, None, column] != x[None, :, column]
        grads.append(np.sum(w * -hyper.weights[j] * mismatch * k_free))
    grads += [np.sum(w * k_free), hyper.noise * np.trace(w)]
    grad = -0.5 * np.array(grads)
    means, stds, _ = _log_prior_terms(layout, noise_prior)
    nll += float(np.sum(0.5 * ((theta - means) / stds) ** 2))
    grad += (theta - means) / stds**2
    return float(nll), grad


def fit_hyper(
    x: np.ndarray,
    y: np.ndarray,
    layout: KernelLayout,
    noise_prior: tuple[float, float] = NOISE_PRIOR,
) -> Hyper:
    """MAP hyperparameters for standardized targets ``y`` at encoded inputs ``x``.

    Two deterministic starts (the prior means, and shorter lengthscales) guard against the
    flat, over-smooth optimum that small data sets often have; the better one wins.
    """
    means, _, bounds = _log_prior_terms(layout, noise_prior)
    starts = [means.copy(), means.copy()]
    starts[1][: len(layout.numeric)] = math.log(0.15)
    best: tuple[float, np.ndarray] | None = None
    for start in starts:
        result = optimize.minimize(
            _neg_log_posterior,
            np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds]),
            args=(x, y, layout, noise_prior),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 200},
        )
        if best is None or result.fun < best[0]:
            best = (float(result.fun), result.x)
    assert best is not None
    return Hyper.from_log(best[1], layout)


def generalized_least_squares_mean(
    factor: tuple[np.ndarray, bool], standardized: np.ndarray
) -> float:
    """The constant prior mean that maximizes the likelihood: ``1'K^-1 y / 1'K^-1 1``.

    ``factor`` is the Cholesky factor of the observations' covariance ``K``.

    Unlike the plain average it weighs observations by how much they tell independently of
    each other: a cluster of good points from exploiting one basin counts about as one, so
    the model does not expect the unexplored rest of the space to be as good as that basin
    (which sent the plain-average model to the corners of the box, its most uncertain points).
    """
    weights = linalg.cho_solve(factor, np.ones(len(standardized)), check_finite=False)
    return float(weights @ standardized / weights.sum())


class GaussianProcess:
    """A fitted GP: posterior mean and variance (with input gradients) of standardized targets.

    ``y`` is standardized inside; `predict` answers in the original units. The prior mean is
    a constant fitted by generalized least squares (`generalized_least_squares_mean`). The
    default noise prior is for nearly deterministic objectives; noisier targets need another.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        layout: KernelLayout,
        hyper: Hyper | None = None,
        *,
        noise_prior: tuple[float, float] = NOISE_PRIOR,
    ) -> None:
        self.layout = layout
        self.y_mean = float(np.mean(y))
        self.y_std = target_spread(y) or 1.0
        standardized = (y - self.y_mean) / self.y_std
        self.hyper = fit_hyper(x, standardized, layout, noise_prior) if hyper is None else hyper
        self._condition(x, standardized)

    def _condition(
        self, x: np.ndarray, standardized: np.ndarray, prior_mean: float | None = None
    ) -> None:
        """Condition on ``standardized`` at ``x``; without ``prior_mean``, fit it (GLS)."""
        self.x = x
        self.standardized = standardized
        k = kernel(x, x, self.layout, self.hyper)
        k[np.diag_indices_from(k)] += self.hyper.noise + JITTER
        self._factor = linalg.cho_factor(k, lower=True, check_finite=False)
        if prior_mean is None:
            prior_mean = generalized_least_squares_mean(self._factor, standardized)
        self.prior_mean = prior_mean
        self._alpha = linalg.cho_solve(
            self._factor, standardized - self.prior_mean, check_finite=False
        )

    def with_fantasies(self, x_new: np.ndarray) -> GaussianProcess:
        """This GP with ``x_new`` observed at its posterior mean (the kriging believer).

        The mean stays as it is while the variance at (and near) ``x_new`` collapses, so the
        acquisition steers away from points that other workers are evaluating.
        """
        if len(x_new) == 0:
            return self
        mean, _ = self.predict_standardized(x_new)
        clone = object.__new__(GaussianProcess)
        clone.layout, clone.hyper = self.layout, self.hyper
        clone.y_mean, clone.y_std = self.y_mean, self.y_std
        clone._condition(
            np.vstack([self.x, x_new]), np.concatenate([self.standardized, mean]), self.prior_mean
        )
        return clone

    def predict_standardized(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent function in standardized units."""
        k_star = kernel(x, self.x, self.layout, self.hyper)
        mean = self.prior_mean + k_star @ self._alpha
        v = linalg.solve_triangular(self._factor[0], k_star.T, lower=True, check_finite=False)
        var = np.maximum(self.hyper.outputscale - np.sum(v**2, axis=0), 1e-12)
        return mean, var

    def predict_with_gradients(
        self, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Standardized mean and variance, and their gradients ``(m, d_num)`` in numeric dims."""
        diff, matern, categorical = _matern_parts(x, self.x, self.layout, self.hyper)
        k_star = self.hyper.outputscale * matern * categorical
        r = np.sqrt(np.sum(diff**2, axis=-1))
        radial = self.hyper.outputscale * categorical * 5.0 / 3.0 * (1.0 + SQRT5 * r)
        radial *= np.exp(-SQRT5 * r)
        # d k(x, x_i) / d x_j = -radial * (x_j - x_ij) / l_j^2
        dk = -radial[..., None] * diff / self.hyper.lengthscales
        mean = self.prior_mean + k_star @ self._alpha
        k_inv_k = linalg.cho_solve(self._factor, k_star.T, check_finite=False)  # (n, m)
        var = np.maximum(self.hyper.outputscale - np.sum(k_star.T * k_inv_k, axis=0), 1e-12)
        d_mean = np.einsum("mnd,n->md", dk, self._alpha)
        d_var = -2.0 * np.einsum("mnd,nm->md", dk, k_inv_k)
        return mean, var, d_mean, d_var

    def leave_one_out_mean(self) -> np.ndarray:
        """Each observation's prediction from all the others, in the original units.

        Closed form: ``y_i - [K^-1 (y - m)]_i / [K^-1]_ii`` (the prior mean held fixed).
        """
        inverse = linalg.cho_solve(self._factor, np.eye(len(self.x)), check_finite=False)
        loo = self.standardized - self._alpha / np.diag(inverse)
        return self.y_mean + self.y_std * loo

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation in the targets' original units."""
        mean, var = self.predict_standardized(x)
        return self.y_mean + self.y_std * mean, self.y_std * np.sqrt(var)
