"""Synthetic benchmark functions: Branin, Hartmann6 and a multi-fidelity Hartmann6.

Each comes with what ``benchmarks/optimizers.py`` needs of a problem: a space per prior
(``None``, ``"good"``, ...), an ``evaluate_pipeline`` per seed and the final regret of a run.
The problems themselves are described in that script's docstring.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import neps_core as neps
from neps_core.models import Trial, TrialState

HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
HARTMANN_A = np.array(
    [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ]
)
HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
HARTMANN6_MINIMUM = -3.32237
HARTMANN6_ARGMIN = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)


def hartmann6(x: Sequence[float], alpha_shift: float = 0.0) -> float:
    """Hartmann6 at ``x``; ``alpha_shift`` is subtracted from the first weight."""
    alpha = HARTMANN_ALPHA.copy()
    alpha[0] -= alpha_shift
    inner = (HARTMANN_A * (np.asarray(x) - HARTMANN_P) ** 2).sum(axis=1)
    return float(-(alpha * np.exp(-inner)).sum())


MF_PRIORS = {
    "good": tuple(round(v, 1) for v in HARTMANN6_ARGMIN),
    "rough": tuple(v + 0.05 for v in HARTMANN6_ARGMIN),
    "misleading": (0.9, 0.9, 0.1, 0.9, 0.9, 0.1),
}


def prior_float(low: float, high: float, prior: float | None) -> neps.Float:
    """A float with a medium-confidence prior, or none (no warning about an unused confidence)."""
    if prior is None:
        return neps.Float(low, high)
    return neps.Float(low, high, prior=prior, prior_confidence="medium")


def mf_hartmann6_space(prior: str | None) -> neps.PipelineSpace:
    """Six floats in [0, 1] (with the named prior) and the fidelity ``z`` in 1..27."""
    centre = MF_PRIORS[prior] if prior else (None,) * 6
    parameters: dict[str, Any] = {f"x{i}": prior_float(0.0, 1.0, c) for i, c in enumerate(centre)}
    parameters["z"] = neps.IntegerFidelity(1, 27)
    return neps.PipelineSpace(parameters)


def mf_hartmann6_evaluation(seed: int) -> Callable[..., dict[str, float]]:
    """Biased and noisy below z = 27 (see the module docstring); cost = z."""

    def evaluate_pipeline(pipeline_id: str, z: int, **x: float) -> dict[str, float]:
        point = [x[f"x{i}"] for i in range(6)]
        gap = 1.0 - (z - 1) / 26
        noise = np.random.default_rng([seed, int(pipeline_id)]).normal(0.0, 0.1 * gap)
        return {"objective_to_minimize": hartmann6(point, 0.1 * gap) + noise, "cost": float(z)}

    return evaluate_pipeline


def mf_hartmann6_regret(trials: Mapping[str, Trial]) -> float:
    """True regret of the best configuration evaluated at the highest fidelity."""
    full = [t for t in trials.values() if t.state is TrialState.SUCCESS and t.fidelity == 27]
    if not full:
        return float("nan")
    best = min(full, key=lambda t: float(t.objective))  # type: ignore[arg-type]
    return hartmann6([best.config[f"x{i}"] for i in range(6)]) - HARTMANN6_MINIMUM


BRANIN_MINIMUM = 0.397887
BRANIN_PRIORS = {"good": (3.1, 2.3), "misleading": (7.0, 12.0)}


def branin(x1: float, x2: float) -> float:
    """The Branin function on [-5, 10] x [0, 15]."""
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10)


#: The chance that a ``branin_crashes`` evaluation raises.
CRASH_RATE = 0.3


def crashing_branin(seed: int) -> Callable[..., float]:
    """Branin that crashes at random (a seeded stream, so a rerun crashes the same trials)."""
    chance = random.Random(seed)

    def evaluate(x1: float, x2: float) -> float:
        if chance.random() < CRASH_RATE:
            raise RuntimeError("simulated crash of a flaky node")
        return branin(x1, x2)

    return evaluate


def branin_space(prior: str | None) -> neps.PipelineSpace:
    """Branin's box, with the named prior."""
    centre = BRANIN_PRIORS[prior] if prior else (None, None)
    bounds = ((-5.0, 10.0), (0.0, 15.0))
    return neps.PipelineSpace(
        {
            f"x{i + 1}": prior_float(*bound, c)
            for i, (bound, c) in enumerate(zip(bounds, centre, strict=True))
        }
    )


def hartmann6_space(prior: str | None) -> neps.PipelineSpace:
    """Six floats in [0, 1] with the named prior (as mf_hartmann6's), no fidelity."""
    full = mf_hartmann6_space(prior)
    return neps.PipelineSpace({f"x{i}": full.parameters[f"x{i}"] for i in range(6)})


def best_regret(minimum: float) -> Callable[[Mapping[str, Trial]], float]:
    """Regret of the best successful trial (the objectives are exact)."""

    def regret(trials: Mapping[str, Trial]) -> float:
        values = [float(t.objective) for t in trials.values() if t.state is TrialState.SUCCESS]  # type: ignore[arg-type]
        return min(values) - minimum if values else float("nan")

    return regret
