"""A space whose classes are defined in the script that runs it (``__main__``).

The run saves such a class as ``__main__:Cell``; the same class imported from that file by
another script is ``train:Cell``. Continuing the run from either script must work. Real
interpreters run the scripts, as a user does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import neps_core as neps

TRAIN = textwrap.dedent(
    """
    import sys
    import neps_core as neps


    class Cell:
        def __init__(self, width):
            self.width = width


    space = neps.PipelineSpace({"cell": neps.Operation(Cell, args=(neps.Integer(1, 8),))})


    def evaluate_pipeline(cell):
        return 1.0 / cell.width


    def run(budget):
        neps.run(evaluate_pipeline, space, root_directory="results", optimizer="random_search",
                 evaluations_to_spend=budget)


    if __name__ == "__main__":
        run(int(sys.argv[1]))
    """
)
CONTINUE = "import sys, train; train.run(int(sys.argv[1]))"


def _python(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _as_entry_script(budget: int) -> list[str]:
    return ["train.py", str(budget)]


def _importing_it(budget: int) -> list[str]:
    return ["-c", CONTINUE, str(budget)]


@pytest.mark.parametrize(
    ("first", "then"), [(_as_entry_script, _importing_it), (_importing_it, _as_entry_script)]
)
def test_a_run_continues_from_the_script_or_a_script_importing_it(
    tmp_path: Path, first: Callable[[int], list[str]], then: Callable[[int], list[str]]
) -> None:
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    for script, budget in ((first, 2), (then, 4)):
        done = _python(tmp_path, *script(budget))
        assert done.returncode == 0, done.stderr
    assert neps.status(tmp_path / "results").counts["success"] == 4


def test_another_class_of_the_same_module_is_still_another_space(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    assert _python(tmp_path, *_as_entry_script(2)).returncode == 0
    (tmp_path / "other.py").write_text(TRAIN.replace("Cell", "Block"), encoding="utf-8")
    done = _python(tmp_path, "-c", "import other; other.run(4)")
    assert done.returncode != 0 and "SpaceMismatchError" in done.stderr
