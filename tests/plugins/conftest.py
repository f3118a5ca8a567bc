"""Fixtures shared by the plugin tests: a real multi-fidelity run with checkpoints, and the
disk storages a test opens."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import neps_core as neps
from neps_core.models import Summary, Trial
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage
from neps_core_plugins.disk_storage.storage import DiskStorage

CHECKPOINT = "checkpoint.json"


def multi_fidelity_space(*, prior: str | None = None) -> neps.PipelineSpace:
    """``x`` in [0, 1] (optimum 0.3), a categorical, epochs 1..27 as the fidelity.

    ``prior``: a prior confidence puts a prior near the optimum (0.35) on ``x``.
    """
    return neps.PipelineSpace(
        {
            "x": neps.Float(
                0.0, 1.0, prior=0.35 if prior else None, prior_confidence=prior or "low"
            ),
            "kind": neps.Categorical(choices=("a", "b")),
            "epochs": neps.IntegerFidelity(1, 27),
        }
    )


@attrs.define
class MultiFidelityRun:
    """What a run did: its summary, every stored trial, and what each evaluation saw."""

    summary: Summary
    trials: dict[str, Trial]
    seen: dict[str, dict[str, Any]]  # trial id -> previous folder, checkpoint found there

    @property
    def promotions(self) -> list[Trial]:
        """The trials that continue a lower-rung trial."""
        return [t for t in self.trials.values() if t.previous_trial_id is not None]

    def check_each_trial_promoted_at_most_once(self) -> None:
        """No two trials continue the same trial (e.g. from two workers)."""
        sources = Counter(t.previous_trial_id for t in self.promotions)
        assert sources, "no trial was promoted"
        assert max(sources.values()) == 1, sources.most_common(3)
        workers = {t.worker_id for t in self.trials.values()}
        assert len(workers) > 1, f"only one worker evaluated: {workers}"
        assert all(t.state.is_final for t in self.trials.values())

    def check_promotions_continue_checkpoints(self) -> None:
        """Each promotion got the lower rung's folder, with the checkpoint written there."""
        assert self.promotions, "no trial was promoted"
        for trial in self.promotions:
            seen = self.seen[trial.id]
            previous = self.trials[str(trial.previous_trial_id)]
            assert seen["previous_directory"] is not None
            assert Path(seen["previous_directory"]).name == f"config_{previous.id}"
            assert seen["checkpoint"] == {"epochs": previous.fidelity, "x": previous.config["x"]}
            assert previous.fidelity is not None and trial.fidelity is not None
            assert trial.fidelity > previous.fidelity
            assert {**previous.config, "epochs": trial.fidelity} == trial.config


def evaluate_with_checkpoints(seen: dict[str, dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A training stand-in: resumes from the previous rung's checkpoint, cost = epochs."""

    def evaluate_pipeline(
        pipeline_directory: Path,
        previous_pipeline_directory: Path | None,
        *,
        pipeline_id: str,
        x: float,
        kind: str,
        epochs: int,
    ) -> dict[str, Any]:
        checkpoint = None
        if previous_pipeline_directory is not None:
            path = Path(previous_pipeline_directory) / CHECKPOINT
            checkpoint = json.loads(path.read_text()) if path.exists() else "missing"
        seen[pipeline_id] = {
            "previous_directory": previous_pipeline_directory,
            "checkpoint": checkpoint,
        }
        (Path(pipeline_directory) / CHECKPOINT).write_text(json.dumps({"epochs": epochs, "x": x}))
        loss = (x - 0.3) ** 2 + (0.05 if kind == "b" else 0.0) + 1.0 / epochs
        return {"objective_to_minimize": loss, "cost": float(epochs)}

    return evaluate_pipeline


@pytest.fixture
def multi_fidelity_run(tmp_path: Path) -> Callable[..., MultiFidelityRun]:
    """Run ``neps_core.run`` with checkpointing evaluations; keyword arguments go to ``run``.

    ``prior="high"`` (a confidence) puts a prior near the optimum on ``x``.
    """

    def run(*, prior: str | None = None, **arguments: Any) -> MultiFidelityRun:
        seen: dict[str, dict[str, Any]] = {}
        root = tmp_path / f"run_{len(list(tmp_path.iterdir()))}"
        arguments.setdefault("pipeline_space", multi_fidelity_space(prior=prior))
        summary = neps.run(evaluate_with_checkpoints(seen), root_directory=root, **arguments)
        with open_storage(root, None, load_plugins()) as storage:
            trials = dict(storage.sync())
        return MultiFidelityRun(summary, trials, seen)

    return run


WORKER_SCRIPT = """
import json, random, sys, time
from pathlib import Path
import neps_core as neps

def evaluate_pipeline(pipeline_directory, previous_pipeline_directory, x, kind, epochs):
    time.sleep(random.uniform(0.0, 0.03))
    if previous_pipeline_directory is not None:
        previous = json.loads((previous_pipeline_directory / "checkpoint.json").read_text())
        assert previous["x"] == x and previous["epochs"] < epochs, previous
    (pipeline_directory / "checkpoint.json").write_text(json.dumps({"epochs": epochs, "x": x}))
    loss = (x - 0.3) ** 2 + (0.05 if kind == "b" else 0.0) + 1.0 / epochs
    return {"objective_to_minimize": loss, "cost": float(epochs)}

if __name__ == "__main__":
    root, optimizer, budget = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    neps.run(
        evaluate_pipeline,
        {
            "x": neps.Float(0.0, 1.0),
            "kind": neps.Categorical(choices=("a", "b")),
            "epochs": neps.IntegerFidelity(1, 27),
        },
        root_directory=root,
        optimizer=optimizer,
        **budget,
    )
"""


@pytest.fixture
def parallel_multi_fidelity_run(tmp_path: Path) -> Callable[..., MultiFidelityRun]:
    """Several worker processes run one optimizer on one root (each checks its checkpoints)."""

    def run(optimizer: str, workers: int, **budget: Any) -> MultiFidelityRun:
        script = tmp_path / "worker.py"
        script.write_text(WORKER_SCRIPT)
        root = tmp_path / f"parallel_{optimizer}"
        processes = [
            subprocess.Popen(
                [sys.executable, str(script), str(root), optimizer, json.dumps(budget)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        for process in processes:
            _, errors = process.communicate(timeout=240)
            assert process.returncode == 0, errors
        with open_storage(root, None, load_plugins()) as storage:
            trials = dict(storage.sync())
        return MultiFidelityRun(neps.status(root), trials, {})

    return run


@pytest.fixture
def storages(root: Path) -> Iterator[list[DiskStorage]]:
    """Instances opened by a test (append to the list); all closed afterwards."""
    opened: list[DiskStorage] = []
    yield opened
    for storage in opened:
        storage.close()
