"""``migrate_run``: a trial folder that cannot be copied is an error naming it, not shutil's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.migration import MigrationError, migrate_run


def _evaluate(x: float, pipeline_directory: Path) -> float:
    (pipeline_directory / "model.txt").write_text(str(x))
    return x


@pytest.mark.parametrize("storage", ["sqlite", "disk"])
def test_a_file_that_cannot_be_copied_names_its_trial_and_why(tmp_path: Path, storage: str) -> None:
    source, destination = tmp_path / "run", tmp_path / "copy"
    other = "disk" if storage == "sqlite" else "sqlite"
    neps.run(
        _evaluate,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=source,
        storage=other,
        evaluations_to_spend=3,
        optimizer="random_search",
    )
    pipe = source / "configs" / "config_2" / "pipe"
    os.mkfifo(pipe)  # a named pipe a tool left there: copytree refuses to read it
    with pytest.raises(MigrationError, match=r"trial 2: .*pipe.* is a named pipe; the copy is"):
        migrate_run(source, destination, storage=storage)
    assert not destination.exists()
    assert pipe.exists() and len(neps.status(source).trials) == 3


def test_a_failed_migration_into_a_new_nested_path_removes_the_parents_it_made(
    tmp_path: Path,
) -> None:
    source = tmp_path / "run"
    neps.run(
        _evaluate,
        {"x": neps.Float(0.0, 1.0)},
        root_directory=source,
        evaluations_to_spend=2,
        optimizer="random_search",
    )
    os.mkfifo(source / "configs" / "config_2" / "pipe")
    (tmp_path / "kept").mkdir()  # there before: stays
    with pytest.raises(MigrationError, match="is a named pipe"):
        migrate_run(source, tmp_path / "kept" / "new" / "deeper" / "copy")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept", "run"]
    assert not any((tmp_path / "kept").iterdir())
