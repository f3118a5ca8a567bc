"""Fixtures shared by the whole test suite: a fresh root directory and a reader for trial files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import neps_core as neps

TrialFileReader = Callable[[Path, "str | int", str], Any]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root directory that does not exist yet, as a user's first run sees it."""
    return tmp_path / "results"


@pytest.fixture
def trial_file() -> TrialFileReader:
    """Read ``configs/config_<id>/<name>.yaml`` of a run, the way a user inspects results."""

    def read(root: Path, trial_id: str | int, name: str) -> Any:
        path = Path(root) / "configs" / f"config_{trial_id}" / f"{name}.yaml"
        return yaml.safe_load(path.read_text(encoding="utf-8"))

    return read


@pytest.fixture
def optimistic_fidelity_run(root: Path, request: pytest.FixtureRequest) -> neps.Summary:
    """Hyperband where cheap evaluations look 10 better than the top fidelity (epochs 4) does;
    on the storage an indirect parameter names (default ``disk``)."""

    def evaluate(x: float, epochs: int) -> float:
        return x if epochs == 4 else x - 10.0

    return neps.run(
        evaluate,
        {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 4)},
        root_directory=root,
        evaluations_to_spend=12,
        optimizer="hyperband",
        seed=1,
        storage=getattr(request, "param", "disk"),
    )
