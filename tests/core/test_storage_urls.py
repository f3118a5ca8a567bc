"""A storage URL selects the storage that lists its scheme; a storage that takes none refuses
one (it was recorded in storage.yaml and ignored: the data went into the root directory)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

import neps_core as neps
from neps_core.errors import SettingsError, UnknownPluginError
from neps_core_plugins.disk_storage import DiskStorage
from neps_core_plugins.sqlite_storage import SQLiteStorage

SPACE = {"x": neps.Float(0.0, 1.0)}


class SchemeStorage(DiskStorage):
    """A plugin's storage named otherwise than the URL scheme it takes."""

    name: ClassVar[str] = "scheme_storage"
    schemes: ClassVar[tuple[str, ...]] = ("memx",)


class SchemePlugin:
    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        return [SchemeStorage]


def _run(root: Path, storage: object) -> neps.Summary:
    return neps.run(
        lambda x: x,
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
        storage=storage,
        plugins=[SchemePlugin()],
    )


def test_a_url_selects_the_storage_that_lists_its_scheme(tmp_path: Path) -> None:
    # It looked for a storage named "memx": "Unknown storage 'memx'".
    _run(tmp_path / "run", "memx:///somewhere")
    pointer = yaml.safe_load((tmp_path / "run" / "storage.yaml").read_text())
    assert pointer["name"] == "scheme_storage"
    assert pointer["url"] == "memx:///somewhere"


@pytest.mark.parametrize(
    "storage",
    [
        lambda where: f"disk://{where}",
        lambda where: {"name": "disk", "url": f"disk://{where}"},
        lambda where: {"name": "scheme_storage", "url": f"sqlite://{where}"},
    ],
)
def test_a_url_a_storage_does_not_take_is_refused_before_anything_is_written(
    tmp_path: Path, storage: object
) -> None:
    root, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    assert callable(storage)
    with pytest.raises(SettingsError, match=r"storage '(disk|scheme_storage)' takes") as caught:
        _run(root, storage(elsewhere))
    assert str(elsewhere) in str(caught.value)
    assert not root.exists() and not elsewhere.exists()


def test_a_url_no_storage_takes_lists_the_schemes_that_select_one(tmp_path: Path) -> None:
    with pytest.raises(UnknownPluginError, match=r"nosuch:///x.*sqlite://, memx://|memx://"):
        _run(tmp_path / "run", "nosuch:///x")


def test_a_run_config_url_selects_by_scheme_too(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("storage: memx:///somewhere\nevaluations_to_spend: 1\n")
    neps.run(
        lambda x: x,
        SPACE,
        root_directory=tmp_path / "run",
        run_config=config,
        plugins=[SchemePlugin()],
    )
    pointer = yaml.safe_load((tmp_path / "run" / "storage.yaml").read_text())
    assert pointer["name"] == "scheme_storage"


class TracedSQLite(SQLiteStorage):
    """A plugin's subclass of the sqlite storage: it lists the sqlite scheme too."""

    name: ClassVar[str] = "traced_sqlite"


class TracedPlugin:
    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        return [TracedSQLite]


def test_a_subclass_listing_the_same_scheme_leaves_the_url_to_the_storage_named_so(
    tmp_path: Path,
) -> None:
    # Installing it refused every sqlite:/// URL: "storages [...] all take sqlite:// URLs".
    url = f"sqlite:///{tmp_path / 'x.db'}"
    neps.run(
        lambda x: x,
        SPACE,
        root_directory=tmp_path / "run",
        evaluations_to_spend=1,
        storage=url,
        plugins=[TracedPlugin()],
    )
    pointer = yaml.safe_load((tmp_path / "run" / "storage.yaml").read_text())
    assert pointer["name"] == "sqlite"


class LetterSchemes(SQLiteStorage):
    name: ClassVar[str] = "letter_schemes"
    schemes = "sqlite2"  # meant ("sqlite2",)


class LetterSchemesPlugin:
    @neps.hookimpl
    def neps_register_storages(self) -> list[type]:
        return [LetterSchemes]


def test_schemes_given_as_a_bare_string_are_refused_like_aliases(tmp_path: Path) -> None:
    # They were accepted and matched letter by letter: q:///x.db went to this storage.
    with pytest.raises(TypeError, match=r"`schemes` must be a tuple of names, .* not 'sqlite2'"):
        neps.run(
            lambda x: x,
            SPACE,
            root_directory=tmp_path / "run",
            evaluations_to_spend=1,
            storage=f"q:///{tmp_path / 'x.db'}",
            plugins=[LetterSchemesPlugin()],
        )
    assert not (tmp_path / "run").exists()


def test_an_overwrite_without_the_runs_storage_plugin_says_how_to_discard_the_run(
    tmp_path: Path,
) -> None:
    # The error only said to install the plugin, though the user meant to throw the run away.
    _run(tmp_path / "run", "scheme_storage")
    with pytest.raises(UnknownPluginError, match="'scheme_storage'") as refused:
        neps.run(
            lambda x: x,
            SPACE,
            root_directory=tmp_path / "run",
            evaluations_to_spend=1,
            overwrite_root_directory=True,
        )
    assert f"delete {tmp_path / 'run'} yourself" in " ".join(refused.value.__notes__)


def test_a_run_on_a_storage_passed_to_run_warns_that_later_processes_cannot_open_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing said so until status() or save_pipeline_results failed in another process.
    with caplog.at_level(logging.WARNING, logger="neps_core.run_storage"):
        _run(tmp_path / "run", "scheme_storage")
        _run(tmp_path / "run", "scheme_storage")  # said once, when the run starts
        _run(tmp_path / "builtin", "disk")
    [warning] = [r.getMessage() for r in caplog.records if r.name == "neps_core.run_storage"]
    assert "uses storage 'scheme_storage' of run(plugins=...) 'SchemePlugin'" in warning
    assert "status(), save_pipeline_results, load_config and neps-core cannot open it" in warning
