"""A real tuning task: a small torch MLP classifier, with the training epochs as fidelity.

The data are scikit-learn's handwritten digits (1797 images of 8x8 pixels, shipped with the
package, no download) when scikit-learn is installed; otherwise a deterministic stand-in of
the same shape: ten classes of 8x8 "images", each a fixed random prototype blurred and
shifted by a pixel, plus noise (generated from a fixed seed, so every run sees the same data).
The first 70 % (after a fixed shuffle) train, the rest validate; the objective is the
validation error after training, the cost the number of epochs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import neps_core as neps
from neps_core.models import Trial, TrialState

MAX_EPOCHS = 20
#: A prior near a sensible setting, and one far from it (both medium confidence).
PRIORS: dict[str, dict[str, float]] = {
    "good": {"learning_rate": 3e-3, "width": 128, "weight_decay": 1e-5, "dropout": 0.1},
    "misleading": {"learning_rate": 0.5, "width": 4, "weight_decay": 0.05, "dropout": 0.8},
}


def mlp_space(prior: str | None) -> neps.PipelineSpace:
    """Learning rate, width, weight decay, dropout; ``epochs`` 1..20 is the fidelity."""
    centre: dict[str, Any] = PRIORS[prior] if prior else {}

    def extra(name: str) -> dict[str, Any]:
        return {"prior": centre[name], "prior_confidence": "medium"} if name in centre else {}

    return neps.PipelineSpace(
        {
            "learning_rate": neps.Float(1e-4, 1.0, log=True, **extra("learning_rate")),
            "width": neps.Integer(4, 256, log=True, **extra("width")),
            "weight_decay": neps.Float(1e-6, 0.1, log=True, **extra("weight_decay")),
            "dropout": neps.Float(0.0, 0.9, **extra("dropout")),
            "epochs": neps.IntegerFidelity(1, MAX_EPOCHS),
        }
    )


def _synthetic_digits() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240501)
    prototypes = rng.random((10, 8, 8)) ** 3 * 16
    labels = np.repeat(np.arange(10), 180)
    images = prototypes[labels]
    shifts = rng.integers(-1, 2, size=(len(labels), 2))
    images = np.stack(
        [np.roll(im, tuple(s), axis=(0, 1)) for im, s in zip(images, shifts, strict=True)]
    )
    images = images + rng.normal(0.0, 4.0, size=images.shape)
    return images.reshape(len(labels), 64), labels


@functools.cache
def dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Train and validation arrays (features scaled to [0, 1]) and the data's name."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        features, labels = _synthetic_digits()
        name = "synthetic digits"
    else:
        digits = load_digits()
        features, labels, name = digits.data, digits.target, "sklearn digits"
    order = np.random.default_rng(0).permutation(len(labels))
    features = np.clip(features[order] / 16.0, 0.0, 1.5).astype(np.float32)
    labels = labels[order].astype(np.int64)
    cut = int(0.7 * len(labels))
    return features[:cut], labels[:cut], features[cut:], labels[cut:], name


def mlp_evaluation(seed: int) -> Callable[..., dict[str, float]]:
    """Train the MLP the configuration describes; its validation error, cost = epochs."""

    def evaluate_pipeline(
        learning_rate: float, width: int, weight_decay: float, dropout: float, epochs: int
    ) -> dict[str, float]:
        import torch

        torch.set_num_threads(1)
        torch.manual_seed(seed)
        x_train, y_train, x_valid, y_valid, _ = dataset()
        model = torch.nn.Sequential(
            torch.nn.Linear(64, width),
            torch.nn.ReLU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(width, 10),
        )
        optimizer = torch.optim.Adam(
            model.parameters(), lr=learning_rate, weight_decay=weight_decay
        )
        inputs, targets = torch.from_numpy(x_train), torch.from_numpy(y_train)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            model.train()
            for batch in torch.randperm(len(inputs), generator=generator).split(64):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
                loss.backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            predicted = model(torch.from_numpy(x_valid)).argmax(dim=1).numpy()
        error = float(np.mean(predicted != y_valid))
        return {"objective_to_minimize": error, "cost": float(epochs)}

    return evaluate_pipeline


def mlp_regret(trials: Mapping[str, Trial]) -> float:
    """The validation error of the best configuration trained for all epochs."""
    full = [
        float(t.objective)  # type: ignore[arg-type]
        for t in trials.values()
        if t.state is TrialState.SUCCESS and t.config["epochs"] == MAX_EPOCHS
    ]
    return min(full) if full else float("nan")
