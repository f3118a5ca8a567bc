"""The import hook that seeds NumPy and PyTorch first imported during a seeded evaluation,
in fresh interpreters (the libraries must not be loaded before the call)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from neps_core.evaluation.child_runner import call_evaluate_pipeline
from neps_core.evaluation.trial_context import TrialContext

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


#: A stand-in for torch whose import another thread can hold half done.
GATE = "import threading\nentered, release, seeded = threading.Event(), threading.Event(), []\n"
HELD_TORCH = (
    "import gate\ngate.entered.set()\ngate.release.wait()\nmanual_seed = gate.seeded.append\n"
)

SEEDED_WHILE_ANOTHER_THREAD_IMPORTS = """
import threading
import gate
from neps_core.evaluation.child_runner import call_evaluate_pipeline

importing = threading.Thread(
    target=call_evaluate_pipeline, args=(lambda: __import__("torch"), {}), kwargs={"seed": 1}
)
importing.start()
gate.entered.wait()  # torch is in sys.modules, half made
outcome = []

def second_trial():
    try:
        outcome.append(call_evaluate_pipeline(lambda: "ran", {}, seed=2))
    except Exception as error:
        outcome.append(repr(error))

second = threading.Thread(target=second_trial)
second.start()
second.join(timeout=1)  # one that does not wait for the import fails at once
gate.release.set()
importing.join()
second.join()
print(outcome[0], gate.seeded)
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


IMPORTED_BY_ANOTHER_THREAD = """
import threading
from neps_core.evaluation.seeding import seeded

with seeded(1):
    importing = threading.Thread(target=__import__, args=("torch",))
    importing.start()
    importing.join()
import torch
drawn = torch.rand(1).item()
torch.manual_seed(1)
print(drawn != torch.rand(1).item())
"""


def test_a_seeded_call_leaves_sys_meta_path_as_it_is() -> None:
    # Removing its finder shifted the list under another thread's import, which missed
    # PathFinder: a spurious ModuleNotFoundError (1 in ~1000 imports with a busy seeder).
    from neps_core.evaluation.seeding import seeded

    finders = list(sys.meta_path)
    with seeded(7):
        assert sys.meta_path == finders
    assert sys.meta_path == finders


def test_another_threads_import_is_not_seeded_with_this_calls_seed(tmp_path: Path) -> None:
    # A dask worker's other task, or the sync worker's heartbeat thread, importing torch got
    # this trial's seed.
    assert _run(IMPORTED_BY_ANOTHER_THREAD, tmp_path) == "True"


def test_a_library_another_thread_is_importing_is_seeded_once_imported(tmp_path: Path) -> None:
    # Two evaluations sharing a process (a dask worker's threads): the second seeded torch
    # while the first still imported it, and failed (torch.manual_seed not yet defined).
    (tmp_path / "gate.py").write_text(GATE)
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(HELD_TORCH)
    assert _run(SEEDED_WHILE_ANOTHER_THREAD_IMPORTS, tmp_path) == "ran [1, 2]"


def test_a_context_without_a_seed_leaves_the_seed_argument_in_force(tmp_path: Path) -> None:
    # The docstring says "context.seed, else seed": the context's None replaced a given seed,
    # and the call drew unseeded.
    context = TrialContext("1", tmp_path)
    drawn = call_evaluate_pipeline(random.random, {}, context, seed=5)
    random.seed(5)
    assert drawn == random.random()
