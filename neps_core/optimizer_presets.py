"""NePS's optimizer names that stand for another optimizer with some options.

NePS (up to 0.13) named variants of its optimizers: ``hyperband_prior`` was ``hyperband``
sampling from the priors, ``priorband_asha`` PriorBand on ASHA's brackets. Here each is that
optimizer with those options, so a NePS script or run config naming one runs unchanged, and
the run records (and a continued run compares) the optimizer's own name and options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: NePS's name -> (the optimizer here, the options that name stands for).
NEPS_PRESETS: Mapping[str, tuple[str, Mapping[str, Any]]] = {
    "bayesian_optimization_cost_aware": ("bayesian_optimization", {"cost_aware": True}),
    "cost_cooling": ("bayesian_optimization", {"cost_aware": True}),  # NePS 0.x's names of it
    "cost_cooling_bayesian_optimization": ("bayesian_optimization", {"cost_aware": True}),
    "bayesian_optimization_prior": ("pibo", {}),
    "successive_halving_prior": ("successive_halving", {"sampler": "prior"}),
    "hyperband_prior": ("hyperband", {"sampler": "prior"}),
    "asha_prior": ("asha", {"sampler": "prior"}),
    "async_hb_prior": ("async_hb", {"sampler": "prior"}),
    "priorband_sh": ("priorband", {"base": "successive_halving"}),
    "priorband_asha": ("priorband", {"base": "asha"}),
    "priorband_async": ("priorband", {"base": "async_hb"}),
}


def expand_preset(name: Any, options: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The optimizer and options NePS's ``name`` stands for; options given win over the
    preset's, as a call's keywords do over a ``functools.partial``'s in NePS."""
    if isinstance(name, str) and name in NEPS_PRESETS:
        target, preset = NEPS_PRESETS[name]
        return target, {**preset, **options}
    return name, dict(options)
