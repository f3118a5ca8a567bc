"""Start-up time: what every ``neps-core`` call, worker process and script pays before its
first trial, measured in fresh interpreters, with a bare ``python -c pass`` as the floor."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

FLOOR = "python -c pass"


def startup_commands(root: Path) -> dict[str, list[str]]:
    """What is timed, by label; ``root`` is a finished run for ``status`` to read."""
    return {
        FLOOR: [sys.executable, "-c", "pass"],
        "import neps_core": [sys.executable, "-c", "import neps_core"],
        "neps-core --help": [sys.executable, "-m", "neps_core", "--help"],
        "neps-core status ROOT": [sys.executable, "-m", "neps_core", "status", str(root)],
    }


def startup_ms(root: Path, repeats: int) -> dict[str, float]:
    """The median wall time in ms of each command of :func:`startup_commands`, each run
    ``repeats`` times (interleaved, so that a busy moment of the machine hits all alike)."""
    commands = startup_commands(root)
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(repeats):
        for label, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            times[label].append(1000 * (time.perf_counter() - start))
    return {label: statistics.median(values) for label, values in times.items()}
