"""Functions reporting what the global generators draw, shared by the tests of seeding (module
level, so that a subprocess child and the pool processes import them by name)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np


def draws(x: float) -> dict[str, Any]:
    """What Python's and NumPy's global generators draw first in this trial."""
    extra = {"random": random.random(), "numpy": float(np.random.rand())}
    return {"objective_to_minimize": x, "extra": extra}


def first_draws(x: float) -> dict[str, Any]:
    """The first three draws of Python's, NumPy's and PyTorch's global generators."""
    import torch

    extra = {
        "random": [random.random() for _ in range(3)],
        "numpy": np.random.rand(3).tolist(),
        "torch": torch.rand(3, dtype=torch.float64).tolist(),
    }
    return {"objective_to_minimize": x, "extra": extra}


def torch_draw(x: float) -> dict[str, Any]:
    """What PyTorch's default generator draws first; torch imported by the call, as a script
    does that imports it in its function only (a fresh interpreter has not loaded it yet)."""
    import torch

    return {"objective_to_minimize": x, "extra": {"torch": float(torch.rand(1).item())}}


def weights(layer: Any, x: float) -> dict[str, Any]:
    """The first weight of the layer an Operation built for the trial."""
    return {"objective_to_minimize": x, "extra": {"weight": layer.weight.detach()[0, 0].item()}}


def initial_weights(size: int) -> list[float]:
    """Weights drawn from NumPy's global generator, as a layer's initialization draws them."""
    return [float(value) for value in np.random.rand(size)]


def received_weights(initialized: list[float], x: float) -> dict[str, Any]:
    """The weights an Operation built for the trial."""
    return {"objective_to_minimize": x, "extra": {"initialized": initialized}}


def torch_weights(size: int) -> list[float]:
    """Weights drawn from PyTorch's default generator, torch imported by the call (as a model
    module a script imports lazily): a fresh interpreter has not loaded it before the build."""
    import torch

    return [float(value) for value in torch.rand(size, dtype=torch.float64)]
