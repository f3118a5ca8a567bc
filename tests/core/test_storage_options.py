"""A run keeps the storage options it was started with: a worker that joins naming only the
storage uses them, and one giving other options is told which."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

import neps_core as neps
from neps_core.component_spec import component_spec
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage

SPACE = {"x": neps.Float(0.0, 1.0)}


def _run(root: Path, storage: Any, evaluations: int) -> neps.Summary:
    return neps.run(
        lambda x: x, SPACE, root_directory=root, evaluations_to_spend=evaluations, storage=storage
    )


def _forms(tmp_path: Path, form: str) -> tuple[dict[str, Any], str]:
    """The storage a run starts with (with options), and its name alone, in ``form``."""
    url = f"sqlite:///{tmp_path / 'run.db'}"
    name = {"disk": "disk", "sqlite": "sqlite", "sqlite url": url}[form]
    return {"name": name, "fsync": True, "lock_timeout": 60}, name


@pytest.mark.parametrize("form", ["disk", "sqlite", "sqlite url"])
def test_a_worker_naming_only_the_storage_joins_with_the_recorded_options(
    tmp_path: Path, form: str
) -> None:
    root = tmp_path / "run"
    started, name = _forms(tmp_path, form)
    _run(root, started, 1)
    assert _run(root, name, 2).budget.used_evaluations == 2
    assert _run(root, {"name": name, "fsync": True}, 3).budget.used_evaluations == 3  # agreeing
    with open_storage(root, component_spec(name, "storage"), load_plugins()) as storage:
        assert (storage.fsync, storage.options["lock_timeout"]) == (True, 60)


@pytest.mark.parametrize("form", ["disk", "sqlite", "sqlite url"])
def test_a_worker_giving_other_storage_options_is_told_which_differ(
    tmp_path: Path, form: str
) -> None:
    root = tmp_path / "run"
    started, name = _forms(tmp_path, form)
    _run(root, started, 1)
    for other, named in [
        ({"name": name, "fsync": False}, "fsync=False was given where it has fsync=True"),
        (
            {"name": name, "fsync": True, "lock_timeout": 5},
            "lock_timeout=5 was given where it has lock_timeout=60",
        ),
    ]:
        with pytest.raises(neps.SettingsError) as refused:
            _run(root, other, 2)
        message = str(refused.value)
        assert named in message and "fsync=True was given" not in message  # that one agrees
        assert "migrate" not in message  # the same storage: no other to migrate to


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_options_spelled_at_their_defaults_join_the_run_either_way(
    tmp_path: Path, storage: str
) -> None:
    # {"name": "disk", "fsync": False} was refused on a run started with storage="disk",
    # which has the very same settings, while the reverse order joined.
    defaults = {"name": storage, "fsync": False, "lock_timeout": 300}
    for index, (first, joining) in enumerate([(storage, defaults), (defaults, storage)]):
        root = tmp_path / f"run{index}"
        _run(root, first, 1)
        assert _run(root, joining, 2).budget.used_evaluations == 2
        assert _run(root, {"name": storage, "lock_timeout": 300.0}, 3).budget.used_evaluations == 3


def test_an_option_other_than_the_default_the_run_has_is_refused_naming_both(
    tmp_path: Path,
) -> None:
    root = tmp_path / "run"
    _run(root, "disk", 1)
    with pytest.raises(neps.SettingsError) as refused:
        _run(root, {"name": "disk", "fsync": True}, 2)
    assert "fsync=True was given where it has fsync=False (the default)" in str(refused.value)
    with pytest.raises(neps.SettingsError, match=r"was started with storage .* migrate the run"):
        _run(root, "sqlite", 2)  # another storage is still another storage


def test_an_overwrite_may_start_the_same_database_afresh_with_other_options(
    tmp_path: Path,
) -> None:
    # The options were compared as part of naming the database: the overwrite was refused,
    # the database said to hold a run "its storage.yaml does not name".
    root, url = tmp_path / "run", f"sqlite:///{tmp_path / 'run.db'}"
    _run(root, url, 1)
    summary = neps.run(
        lambda x: x,
        SPACE,
        root_directory=root,
        evaluations_to_spend=2,
        storage={"name": url, "fsync": True},
        overwrite_root_directory=True,
    )
    assert summary.budget.used_evaluations == 2
    with open_storage(root, None, load_plugins()) as storage:
        assert storage.fsync is True


@pytest.mark.parametrize(("option", "value"), [("fsync", 0), ("fsync", 1), ("lock_timeout", True)])
def test_a_value_equal_to_the_runs_only_as_a_number_is_refused(
    tmp_path: Path, option: str, value: object
) -> None:
    # fsync=0 (== False) joined a run started with storage="disk", which a new run refuses:
    # "fsync must be true or false, got 0".
    root = tmp_path / "run"
    _run(root, {"name": "disk", "fsync": value == 1, "lock_timeout": 1}, 1)
    with pytest.raises(neps.SettingsError, match=rf"{option}={value!r} was given where it has"):
        _run(root, {"name": "disk", option: value}, 2)


def test_an_option_read_without_a_default_or_a_declared_one_names_both(tmp_path: Path) -> None:
    # A plugin storage reading flag_option("fsync") without declaring option_defaults got a
    # bare KeyError: 'fsync'.
    from neps_core_plugins.disk_storage.storage import DiskStorage

    class Undeclared(DiskStorage):
        option_defaults: ClassVar[Mapping[str, Any]] = {}

    with pytest.raises(TypeError, match=r"storage 'disk': option 'fsync' has no default.*"):
        Undeclared(tmp_path / "run")
