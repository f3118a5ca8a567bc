"""Files neps_core writes: atomic replacement, and errors that name the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from neps_core.serialization import read_yaml, write_atomic

FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from neps_core.serialization import write_atomic

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))
write_atomic(Path(sys.argv[1]), "x" * 10_000)
"""


def test_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "summary.yaml"
    write_atomic(target, "a: 1\n")
    write_atomic(target, "a: 2\n")
    assert read_yaml(target) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.yaml"]


def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    # A full disk said only "[Errno 28] No space left on device", naming no file.
    target = tmp_path / "budget.yaml"
    write_atomic(target, "old: true\n")
    completed = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert f"File too large: '{target}'" in completed.stderr.splitlines()[-1]
    assert read_yaml(target) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["budget.yaml"]
