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


def test_an_integer_fidelity_reads_back_as_an_int_in_both_storages(tmp_path: Path) -> None:
    """A re-queued trial is read back and written again: it kept 3, not 3.0 (metadata.yaml)."""
    import neps_core as neps
    from neps_core_plugins.disk_storage.storage import DiskStorage
    from neps_core_plugins.sqlite_storage import SQLiteStorage

    space = {"x": neps.Float(0.0, 1.0), "epochs": neps.IntegerFidelity(1, 9)}
    for name, backend in (("disk", DiskStorage), ("sqlite", SQLiteStorage)):
        root = tmp_path / name
        neps.run(
            lambda x, epochs: x,
            space,
            root_directory=root,
            evaluations_to_spend=3,
            storage=name,
            optimizer="hyperband",
        )
        fidelities = [trial.fidelity for trial in backend(root).sync().values()]
        assert fidelities and all(type(f) is int for f in fidelities), fidelities
