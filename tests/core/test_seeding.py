"""The import hook that seeds NumPy and PyTorch first imported during a seeded evaluation,
in fresh interpreters (the libraries must not be loaded before the call)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECKED_THEN_IMPORTED = """
import importlib.util
from neps_core.evaluation.child_runner import call_evaluate_pipeline

def draw():
    assert importlib.util.find_spec("torch") is not None  # as transformers checks for it
    import torch
    return torch.rand(1).item()

drawn = call_evaluate_pipeline(draw, {}, seed=4)
import torch
torch.manual_seed(4)
print(drawn == torch.rand(1).item())
"""


def _run(code: str, cwd: Path) -> str:
    """What ``code`` prints, run by a fresh interpreter in ``cwd``."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_library_looked_up_before_its_import_is_seeded_as_it_loads(tmp_path: Path) -> None:
    # The look-up took the hook's only chance: torch then drew another value in every run.
    assert _run(CHECKED_THEN_IMPORTED, tmp_path) == "True"
