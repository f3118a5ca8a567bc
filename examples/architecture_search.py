"""Architecture search: evolve the structure of a small torch network, not only its numbers.

The search space describes networks with the space language of NePS: ``Operation`` (a torch
module with searched arguments), ``.resample()`` (every block draws its own width and
activation) and a ``Categorical`` over tuples of blocks (how deep the network is). Entries
starting with ``_`` are building blocks and are not passed to ``evaluate_pipeline``, which
receives the blocks already built as ``torch.nn`` modules.

The data are two interleaved spirals generated here (no download); training takes a fraction
of a second per network on a CPU.

    pip install "neps-core[torch]"
    python examples/architecture_search.py

Results land in ``results/architecture_search``; each trial's ``resolved.yaml`` shows the
network it evaluated, and ``neps.load_config`` rebuilds it from the stored decisions.
"""

import logging
import math
import os

import torch

import neps_core as neps

QUICK = os.environ.get("NEPS_CORE_EXAMPLES_QUICK") == "1"  # CI's short mode


def spirals(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals with a little noise: a task a linear model cannot solve."""
    generator = torch.Generator().manual_seed(seed)
    turns = torch.rand(n, generator=generator) * 3 * math.pi
    label = torch.randint(0, 2, (n,), generator=generator)
    angle = turns + math.pi * label
    points = torch.stack([turns * torch.cos(angle), turns * torch.sin(angle)], dim=1) / 10
    return points + 0.02 * torch.randn(n, 2, generator=generator), label


TRAIN, VALIDATION = spirals(600, seed=0), spirals(400, seed=1)


class ArchitectureSpace(neps.PipelineSpace):
    """A stack of 1-3 blocks, each ``Linear(width) -> activation`` with its own choices."""

    _width = neps.Integer(lower=8, upper=64, log=True)
    _activation = neps.Categorical(
        choices=(
            neps.Operation(torch.nn.ReLU),
            neps.Operation(torch.nn.Tanh),
            neps.Operation(torch.nn.GELU),
        )
    )
    _block = neps.Operation(
        torch.nn.Sequential,
        args=(
            neps.Operation(torch.nn.LazyLinear, args=(_width.resample(),)),
            _activation.resample(),
        ),
    )
    blocks = neps.Categorical(
        choices=(
            (_block.resample(),),
            (_block.resample(), _block.resample()),
            (_block.resample(), _block.resample(), _block.resample()),
        )
    )
    learning_rate = neps.Float(lower=1e-3, upper=1e-1, log=True, prior=1e-2)


def evaluate_pipeline(blocks: tuple[torch.nn.Module, ...], learning_rate: float) -> dict:
    """Train the network full-batch with Adam and report its validation error."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(*blocks, torch.nn.LazyLinear(2))
    (x, y), (x_val, y_val) = TRAIN, VALIDATION
    model(x)  # lazy layers learn their input sizes
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    steps = 150
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        error = (model(x_val).argmax(dim=1) != y_val).float().mean().item()
    parameters = sum(p.numel() for p in model.parameters())
    return {"objective_to_minimize": error, "cost": float(steps), "parameters": parameters}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    root = "results/architecture_search"
    summary = neps.run(
        evaluate_pipeline=evaluate_pipeline,
        pipeline_space=ArchitectureSpace(),
        root_directory=root,
        evaluations_to_spend=10 if QUICK else 30,
        optimizer=("regularized_evolution", {"population_size": 6, "sample_size": 3}),
        seed=0,
    )
    best = summary.best_trial
    assert best is not None
    print(f"trials by state: {dict(summary.counts)}")
    print(f"best validation error: {summary.best_objective:.3f} (trial {best.id})")
    print(f"best config (decision paths): {dict(best.config)}")
    network = neps.load_config(root, config_id=best.id)  # rebuilt from the stored decisions
    model = torch.nn.Sequential(*network["blocks"])
    model(TRAIN[0])  # lazy layers take their input sizes
    print(f"best network: {model}")
