"""A run's storage: finding the one it was started with, opening it, recording and deleting runs.

The chosen backend is remembered in the root's ``storage.yaml``; this module is the only
place that writes it (``neps_core.storage_pointer`` reads it).
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path
from typing import Any

from neps_core.budget_file import BUDGET_FILE
from neps_core.component_spec import ComponentSpec
from neps_core.config import stage_directories_below
from neps_core.errors import (
    SettingsError,
    StorageError,
    UnknownPluginError,
    add_note,
)
from neps_core.interfaces import Storage
from neps_core.lost_records import refuse_a_lost_store, refuse_trials_without_their_run
from neps_core.migration_marker import describe_migration, migration_state
from neps_core.models import RunInfo
from neps_core.neps_results import NEPS_MARKER, is_neps_results_directory, trial_folders
from neps_core.plugin_checks import plugin_errors
from neps_core.plugin_manager import AD_HOC_ORIGIN, Plugins
from neps_core.serialization import dump_yaml, to_plain, write_atomic
from neps_core.shared_databases import (
    names_the_stored_storage,
    refuse_a_database_of_another_run,
    refuse_a_root_sharing_the_database,
)
from neps_core.storage_pointer import STORAGE_POINTER_FILE, read_pointer
from neps_core.storage_urls import refuse_a_url, storage_for_url

logger = logging.getLogger(__name__)

#: What the core writes into every run's root (besides the pointer); found without the
#: pointer, they mean a run lost it.
RUN_FILES = ("configs", BUDGET_FILE, "summary.yaml", "trajectory.csv", "best_config.yaml")
#: The folder an overwrite moves the old run into (``neps_core.overwrite``), found only if
#: it was stopped half-way; renamed, once all is in it, to the one it then deletes, whose
#: leftover is no part of any run.
OVERWRITE_MOVING, OVERWRITE_TRASH = ".neps_core_overwriting", ".neps_core_overwritten"


def open_storage(
    root: Path,
    spec: ComponentSpec | None,
    plugins: Plugins,
    *,
    lost_ok: bool = False,
    no_new_run: str | None = None,
    migrating: bool = False,
) -> Storage:
    """The storage of the run in ``root``: the one it was started with, or ``spec`` for a new run.

    The choice is remembered in ``root/storage.yaml`` so that later ``run()`` calls,
    ``save_pipeline_results`` and ``status`` find the same backend. A store that lost its
    trials is refused unless ``lost_ok`` (deleting the run). A caller that cannot start a new
    run gives ``no_new_run``, the reason: it is raised, with nothing written, if there is none.
    A root a migration writes into is refused, but to that migration (``migrating``).
    """
    root = Path(root)
    _refuse_a_half_done_change(root, migrating=migrating, deleting=lost_ok)
    pointer = root / STORAGE_POINTER_FILE
    stored = read_pointer(pointer)
    given = None if spec is None else _pointer_of(spec, plugins)
    lost = _lost_pointer(root) if stored is None else None
    if lost is not None:
        # Run files are written only after the pointer: read it again, another worker may
        # have just started this run. Still missing, a new run would mix with the old files.
        stored = read_pointer(pointer)
        if stored is None:
            raise StorageError(lost)
    chosen = stored or given or _pointer_of(ComponentSpec("disk"), plugins)
    try:
        cls = plugins.storages[chosen["name"]]
    except UnknownPluginError as error:
        if stored is not None:  # named by the run's storage.yaml, not by this call
            add_note(
                error,
                f"({root} was started with storage {chosen['name']!r}: every process that "
                "opens it, status and save_pipeline_results included, needs that plugin "
                "installed, with an entry point in the 'neps_core' group)",
            )
        raise
    if stored is not None and given is not None and given != stored:
        _refuse_another_storage(root, stored, given, cls)
    storage = _construct(cls, root, chosen, plugins, None if stored is None else pointer)
    if stored is None:
        _record_pointer(root, chosen, storage, no_new_run)
        _warn_if_passed_to_this_call(root, chosen["name"], plugins)
    elif chosen.get("url") is not None:
        refuse_a_root_sharing_the_database(root, chosen, storage)
    if stored is not None and not lost_ok:
        refuse_a_lost_store(root, storage)
        refuse_trials_without_their_run(root, storage)
    return storage


def _refuse_another_storage(
    root: Path, stored: dict[str, Any], given: dict[str, Any], cls: type[Storage]
) -> None:
    """Refuse ``given``, a call's storage, unless it names the run's (``stored``, of class
    ``cls``) with the run's settings: the run keeps them, so options left out are the recorded
    ones (``storage="disk"`` joins a run started with ``{"name": "disk", "fsync": True}``), and
    one recorded by leaving it out has the storage's declared default (``{"name": "disk",
    "fsync": False}`` joins a run started with ``"disk"``)."""
    if not names_the_stored_storage(root, stored, given, cls):
        raise SettingsError(
            f"storage: {root} was started with storage {stored} but {given} was "
            "given; continue with the original storage or migrate the run"
        )
    recorded = stored.get("options") or {}
    settings = {**cls.option_defaults, **recorded}
    differing = [
        f"{key}={value!r} was given where it has {key}={settings[key]!r}"
        + ("" if key in recorded else " (the default)")
        if key in settings
        else f"{key}={value!r} was given, an option it was started without"
        for key, value in given["options"].items()
        if key not in settings or not _same_setting(settings[key], value)
    ]
    if differing:
        raise SettingsError(
            f"storage: the run in {root} was started with storage {stored['name']!r}, whose "
            f"options it keeps, but {'; '.join(differing)}; give the storage without options "
            "(or with the run's) to continue it"
        )


def _same_setting(setting: Any, given: Any) -> bool:
    """``given`` equals the run's ``setting`` and is a flag where it is one: ``0 == False``,
    but ``fsync=0`` is refused by the storage, and must not join a run as its ``False``."""
    return given == setting and isinstance(given, bool) == isinstance(setting, bool)


def _warn_if_passed_to_this_call(root: Path, name: str, plugins: Plugins) -> None:
    """Later processes open the run through the storage its ``storage.yaml`` names, with the
    installed plugins: one passed to ``run(plugins=...)`` they find only if given it too."""
    origin = plugins.storages.origin(name)
    if origin.startswith(AD_HOC_ORIGIN):
        logger.warning(
            "The run in %s uses storage %r of %s: status(), save_pipeline_results, "
            "load_config and neps-core cannot open it, nor can run() without the same "
            "plugins=...; install the plugin with an entry point in the 'neps_core' group",
            root,
            name,
            origin,
        )


#: The ``storage.yaml`` files (device, inode) an opening wrote, by the storage's id: only
#: that opening takes its file back (another worker may be starting the run on its own).
_POINTERS_WRITTEN: dict[int, tuple[int, int] | None] = {}


def create_run(storage: Storage, info: RunInfo) -> RunInfo:
    """``storage.initialize(info)``, whose ``storage.yaml`` goes again where it fails before
    the storage holds a run and this opening wrote it: a retry may then choose another storage
    (a database path through a file, or on a full disk, must not bind the root to it). An
    ``OSError`` is a ``StorageError`` naming the storage and the system's reason."""
    try:
        return storage.initialize(info)
    except BaseException as error:
        pointer = storage.root_directory / STORAGE_POINTER_FILE
        if _identity(pointer) == _POINTERS_WRITTEN.get(id(storage)) and _holds_no_run(storage):
            pointer.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, StorageError):
            where = storage.url or storage.root_directory
            raise StorageError(
                f"storage {storage.name!r}: cannot create the run's storage ({where}): "
                f"{error.strerror or error}: {error.filename}; nothing of the run was kept"
            ) from error
        raise


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _holds_no_run(storage: Storage) -> bool:
    try:
        return storage.load_info() is None
    except Exception:  # unreadable: it may hold one
        return False


def _construct(
    cls: type[Storage],
    root: Path,
    chosen: dict[str, Any],
    plugins: Plugins,
    recorded_in: Path | None = None,
) -> Storage:
    """The storage ``chosen`` names; ``recorded_in``: the pointer file that chose it."""
    with plugin_errors(f"storage {chosen['name']!r} of", plugins.storages.origin(chosen["name"])):
        try:
            options = chosen.get("options", {})
            return cls(root, url=chosen.get("url"), converter=plugins.converter, **options)
        except (SettingsError, TypeError, ValueError) as error:
            if recorded_in is not None:  # damaged by hand, not mistyped in this call
                add_note(error, f"(the storage's url and options are those {recorded_in} records)")
            raise


def check_storage_options(root: Path, spec: ComponentSpec | None, plugins: Plugins) -> None:
    """Raise what opening a new run's storage ``spec`` in ``root`` would raise, writing nothing.

    Backends check their options when built and touch their data only when used, so the
    storage is built and closed at once.
    """
    if spec is None:
        return
    chosen = _pointer_of(spec, plugins)
    with _construct(plugins.storages[chosen["name"]], root, chosen, plugins) as storage:
        if chosen["url"] is not None:  # before an overwrite deletes the root's own run
            refuse_a_database_of_another_run(root, chosen, storage, storage.load_info())


def _record_pointer(
    root: Path, chosen: dict[str, Any], storage: Storage, no_new_run: str | None
) -> None:
    """Make ``storage`` the one of the new run in ``root``, if it may be.

    A database given by URL that already holds a run holds another root's: this root would
    share its trials, and overwriting it would erase them. (Unless the pointer appeared
    meanwhile: a worker of this root started the run first.)
    """
    try:
        info = storage.load_info()
        if no_new_run is not None and info is None:
            raise SettingsError(no_new_run)  # nothing written: a retry may choose any storage
        refuse_a_database_of_another_run(root, chosen, storage, info)
    except BaseException:
        storage.close()
        raise
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_atomic(root / STORAGE_POINTER_FILE, dump_yaml(chosen))
        _POINTERS_WRITTEN[id(storage)] = _identity(root / STORAGE_POINTER_FILE)
        weakref.finalize(storage, _POINTERS_WRITTEN.pop, id(storage), None)
    except OSError as error:  # a full disk, say: freeing space and retrying works
        storage.close()
        raise StorageError(
            f"cannot start a run in {root}: {error.strerror or error}: {error.filename}"
        ) from error


def open_existing_run(root: Path, plugins: Plugins) -> Storage:
    """The storage of the run in ``root``; never creates anything while looking.

    Raises:
        FileNotFoundError: ``root`` holds no run, or the files of one without its
            ``storage.yaml`` (the message says which, and what to do).
        StorageError: a migration into ``root`` or an overwrite of it is unfinished (checked
            first: a stopped overwrite may have moved ``storage.yaml`` aside too).
    """
    root = Path(root)
    _refuse_a_half_done_change(root, migrating=False, deleting=False)
    if not (root / STORAGE_POINTER_FILE).is_file():
        raise FileNotFoundError(_lost_pointer(root) or no_run(root))
    storage = open_storage(root, None, plugins)
    if not storage.exists():
        storage.close()
        raise FileNotFoundError(
            f"{no_run(root)}: its {STORAGE_POINTER_FILE} names the storage {storage.name!r}, "
            "which holds none (a run() or import_trials() starting the run there was stopped "
            "before it stored the run); run() or import_trials() given pipeline_space starts "
            "the run there"
        )
    return storage


def no_run(root: Path) -> str:
    """That ``root`` holds no run, naming those ``run(task_id=...)`` started below it."""
    return f"No neps_core run in {root}{runs_below(root)}"


def runs_below(root: Path) -> str:
    """For a message about ``root``, which holds no run: the runs ``run(task_id=...,
    development_stage_id=...)`` put below it and to pass one of those instead (empty if none)."""
    below = stage_directories_below(root, STORAGE_POINTER_FILE)
    if not below:
        return ""
    return (
        f", but below it in {', '.join(str(path.relative_to(root)) for path in below)} (where "
        f"run(task_id=..., development_stage_id=...) put them): pass that directory, e.g. "
        f"{below[0]}"
    )


def refuse_an_unfinished_migration(root: Path) -> None:
    """Raise ``StorageError`` if a migration is copying a run into ``root``, or was stopped
    half-way: its trials, records and folders are not all there, and nothing may start or
    continue a run among them."""
    state = migration_state(root)
    if state is not None:
        stored = read_pointer(root / STORAGE_POINTER_FILE) or {}
        raise StorageError(describe_migration(root, state, stored.get("url")))


def _refuse_a_half_done_change(root: Path, *, migrating: bool, deleting: bool) -> None:
    """Refuse a root a migration writes into (but to it) or an overwrite deletes (but to it)."""
    if not migrating:
        refuse_an_unfinished_migration(root)
    if not deleting:
        refuse_an_interrupted_overwrite(root)


def refuse_an_interrupted_overwrite(root: Path) -> None:
    """Raise ``StorageError`` if an overwrite stopped half-way (SIGTERM, a time limit) moved
    part of the old run aside: what is left (no journal, say) is no run to continue or read,
    and the error had blamed a copy that lost hidden folders."""
    if (root / OVERWRITE_MOVING).is_dir():
        raise StorageError(
            f"overwrite_root_directory=True was stopped while deleting the run in {root} (or "
            f"is still deleting it): part of it is in {OVERWRITE_MOVING}/ already; run again "
            "with overwrite_root_directory=True to finish the overwrite"
        )


def _lost_pointer(root: Path) -> str | None:
    """Why ``root`` without ``storage.yaml`` is no place for a new run, if it held one."""
    if is_neps_results_directory(root):  # not a damaged run of ours: no advice to delete it
        return (
            f"{root} holds a run of NePS itself ({NEPS_MARKER}, configs/config_<id>/ with "
            "NePS's reports), which neps_core does not continue in place; import its finished "
            "trials into a new root: neps.import_trials(neps.read_neps_results("
            f"{str(root)!r}), 'new_root', pipeline_space)"
        )
    found = [name for name in RUN_FILES if (root / name).exists()]
    if "configs" in found and not trial_folders(root):
        found.remove("configs")  # a folder of the user's own (say, Hydra's configs/)
    if not found:
        return None
    return (
        f"{root} holds files of a run ({', '.join(found)}) but not its {STORAGE_POINTER_FILE}, "
        "which names the storage holding its trials: restore it (it reads 'name: disk' for "
        "the default storage, 'name: sqlite' for a run.db in the root), or use a new "
        "root_directory (overwrite_root_directory=True deletes this one)"
    )


def _pointer_of(spec: ComponentSpec, plugins: Plugins) -> dict[str, Any]:
    """``"sqlite:///x.db"`` names the storage by URL scheme; other names are plugin names."""
    name = spec.label
    options = dict(spec.options)
    url = options.pop("url", None)
    if "://" in name:
        url, name = name, storage_for_url(name, plugins.storages).name
    if url is not None:
        cls = plugins.storages[name]
        refuse_a_url(cls, url)
        url = cls.canonical_url(url)
    return {"name": name, "url": url, "options": to_plain(options)}
