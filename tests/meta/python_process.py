"""Run a script the way a user does: a fresh interpreter, its own working directory, no stdin.

Shared by the checks of the examples, the documentation snippets and the benchmarks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_python(arguments: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    """Run this session's interpreter in ``cwd`` (examples in their quick mode CI uses); fail
    with the output if it fails."""
    completed = subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "", "NEPS_CORE_EXAMPLES_QUICK": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, (
        f"{what} exited with {completed.returncode}\n"
        f"--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
    )
    return completed
