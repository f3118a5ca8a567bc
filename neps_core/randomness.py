"""Random generators for draws that no seed of their own fixes."""

from __future__ import annotations

import numpy as np


def global_generator(*salt: int) -> np.random.Generator:
    """A generator seeded from NumPy's global state and ``salt``, so that ``np.random.seed``
    (and ``run(seed=...)``) reproduces its draws, as NePS's draws from the global generators."""
    return np.random.default_rng([*np.random.randint(0, 2**31 - 1, size=2), *salt])
