"""Random generators for draws that no seed of their own fixes."""

from __future__ import annotations

import hashlib

import numpy as np


def global_generator(*salt: int) -> np.random.Generator:
    """A generator seeded from NumPy's global state and ``salt``, so that ``np.random.seed``
    (and ``run(seed=...)``) reproduces its draws, as NePS's draws from the global generators."""
    return np.random.default_rng([*np.random.randint(0, 2**31 - 1, size=2), *salt])


def trial_seed(run_seed: int, trial_id: str, purpose: str = "evaluate") -> int:
    """The seed of one trial's ``purpose`` in a run seeded with ``run_seed``: fixed by the two
    alone, so a trial draws alike whichever process, evaluator or ``run()`` call evaluates it,
    and a continued run never repeats an earlier trial's draws. 64 bits, as ``torch.manual_seed``
    takes: with 32, trials of one run shared a seed (30719 and 44299 of seed 42)."""
    text = f"{run_seed}:{trial_id}:{purpose}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")
