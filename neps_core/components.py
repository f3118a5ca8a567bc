"""Turning settings into live plugin objects: space, optimizer, storage and evaluator.

Every name is looked up in the registries the plugins filled; options are structured into the
plugin's ``Settings`` attrs class, so an unknown or ill-typed option is an error that names
the plugin and the option.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import attrs
import cattrs
import yaml

from neps_core.budget_file import BUDGET_FILE
from neps_core.config import ComponentSpec, RunSettings
from neps_core.errors import (
    SettingsError,
    SpaceMismatchError,
    StorageError,
    UnknownPluginError,
    add_note,
)
from neps_core.interfaces import Evaluator, Optimizer, Storage
from neps_core.liveness import refuse_if_alive
from neps_core.models import RunInfo
from neps_core.plugin_manager import Plugins, plugin_errors
from neps_core.serialization import (
    dump_yaml,
    make_settings_converter,
    read_yaml,
    to_plain,
    write_atomic,
)
from neps_core.space import PipelineSpace, describe_space, space_from_description
from neps_core.space.parameters import prior_indices_meant

STORAGE_POINTER_FILE = "storage.yaml"
#: What the core writes into every run's root (besides the pointer); found without the
#: pointer, they mean a run lost it.
RUN_FILES = ("configs", BUDGET_FILE, "summary.yaml", "trajectory.csv", "best_config.yaml")


def resolve_space(space: Any, plugins: Plugins) -> PipelineSpace:
    """The native space for a user's space object, via the first adapter that accepts it."""
    if isinstance(space, PipelineSpace):
        return space
    for name, adapter in plugins.space_adapters.items():
        if adapter.can_adapt(space):
            with plugin_errors(f"space adapter {name!r} of", plugins.space_adapters.origin(name)):
                return adapter.adapt(space)
    raise SettingsError(
        f"pipeline_space: no space adapter accepts a {type(space).__name__}; installed "
        f"adapters: {sorted(plugins.space_adapters)}"
    )


def structure_settings(
    settings_class: type,
    options: Mapping[str, Any],
    label: str,
    converter: cattrs.Converter | None = None,
) -> Any:
    """Build a plugin's ``Settings`` from user options; errors name the plugin and option."""
    known = {field.name for field in attrs.fields(settings_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SettingsError(f"{label}: unknown option(s) {unknown}; known: {sorted(known)}")
    try:
        return make_settings_converter(converter).structure(dict(options), settings_class)
    except (cattrs.BaseValidationError, cattrs.StructureHandlerNotFoundError) as error:
        raise SettingsError(f"{label}: invalid options: {_validation_details(error)}") from error
    except (TypeError, ValueError) as error:
        raise SettingsError(f"{label}: invalid options: {error}") from error


def _validation_details(error: Exception) -> str:
    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(error, format_exception=_describe_error))
    return str(error)


def _describe_error(error: BaseException, expected: type | None) -> str:
    if expected is not None and isinstance(error, TypeError | ValueError) and not str(error):
        return f"expected {expected.__name__}"
    return str(error) or type(error).__name__


def check_run_fits_space(settings: RunSettings, space: PipelineSpace) -> None:
    """Refuse runs that could never make progress on ``space`` instead of looping forever."""
    if len(space) == 0:
        raise SettingsError(
            "pipeline_space has no parameters: declare at least one (e.g. neps.Float) to search"
        )
    if settings.fidelities_to_spend is not None and space.fidelity_name is None:
        raise SettingsError(
            "fidelities_to_spend needs a fidelity parameter (e.g. neps.IntegerFidelity) in "
            "pipeline_space, which has none; budget the run with evaluations_to_spend or "
            "cost_to_spend instead"
        )


def select_optimizer_class(
    spec: ComponentSpec,
    space: PipelineSpace,
    settings: RunSettings,
    plugins: Plugins,
    *,
    multi_objective: bool = False,
) -> type[Optimizer]:
    """The optimizer class for ``spec``; ``"auto"`` asks the ``neps_select_optimizer`` hook."""
    if isinstance(spec.name, type):
        if not issubclass(spec.name, Optimizer):
            raise SettingsError(f"optimizer: {spec.name!r} is not an Optimizer subclass")
        return spec.name
    if spec.name != "auto":
        return plugins.optimizers[spec.name]
    name = plugins.hook.neps_select_optimizer(
        space=space, settings=settings, multi_objective=multi_objective
    )
    if not isinstance(name, str):
        raise SettingsError(
            f"optimizer='auto': the neps_select_optimizer hook answered {name!r}, not an "
            f"optimizer's name (implemented by: {_selectors(plugins)})"
        )
    try:
        return plugins.optimizers[name]
    except UnknownPluginError as error:
        hook = f"the neps_select_optimizer hook of: {_selectors(plugins)}"
        add_note(error, f"(chosen for optimizer='auto' by {hook})")
        raise


def _selectors(plugins: Plugins) -> str:
    """The plugins implementing ``neps_select_optimizer``, for errors about its answer."""
    implementations = plugins.hook.neps_select_optimizer.get_hookimpls()
    return ", ".join(plugins.discovery.origin(hookimpl.plugin) for hookimpl in implementations)


def check_optimizer_fits(cls: type[Optimizer], space: PipelineSpace) -> None:
    """Refuse optimizer/space combinations the optimizer declares it cannot handle."""
    if cls.requires_fidelity and space.fidelity_name is None:
        raise SettingsError(
            f"optimizer {cls.name!r} needs a fidelity parameter (e.g. IntegerFidelity) in the space"
        )
    if cls.requires_prior and not space.has_priors:
        raise SettingsError(f"optimizer {cls.name!r} needs priors on the space's parameters")


def build_optimizer(
    cls: type[Optimizer],
    options: Mapping[str, Any],
    space: PipelineSpace,
    seed: int | None,
    converter: cattrs.Converter | None = None,
) -> Optimizer:
    """Instantiate ``cls`` with validated options."""
    check_optimizer_fits(cls, space)
    settings = structure_settings(cls.Settings, options, f"optimizer {cls.name!r}", converter)
    try:
        return cls(space, settings, seed=seed)
    except SettingsError as error:  # options that do not fit together or with the space
        label = f"optimizer {cls.name!r}"
        if str(error).startswith(label):
            raise
        raise SettingsError(f"{label}: {error}") from error


def build_evaluator(spec: ComponentSpec, plugins: Plugins) -> Evaluator:
    """Instantiate the evaluator named by ``spec`` with validated options."""
    cls: type[Evaluator] = (
        spec.name if isinstance(spec.name, type) else plugins.evaluators[spec.name]
    )
    label = f"evaluator {spec.label!r}"
    settings = structure_settings(cls.Settings, spec.options, label, plugins.converter)
    with plugins.errors_of("evaluator", cls):
        evaluator = cls(settings)
        capacity = evaluator.capacity
    if not (isinstance(capacity, int) and capacity >= 1):  # 0 waited forever for a free slot
        raise SettingsError(f"{label}: its capacity is {capacity!r}; it must be at least 1")
    return evaluator


def open_storage(
    root: Path, spec: ComponentSpec | None, plugins: Plugins, *, lost_ok: bool = False
) -> Storage:
    """The storage of the run in ``root``: the one it was started with, or ``spec`` for a new run.

    The choice is remembered in ``root/storage.yaml`` so that later ``run()`` calls,
    ``save_pipeline_results`` and ``status`` find the same backend. A store that lost its
    trials is refused unless ``lost_ok`` (deleting the run).
    """
    root = Path(root)
    pointer = root / STORAGE_POINTER_FILE
    stored = _read_pointer(pointer)
    if stored is not None and spec is not None and _pointer_of(spec) != stored:
        raise SettingsError(
            f"storage: {root} was started with storage {stored} but {_pointer_of(spec)} was "
            "given; continue with the original storage or migrate the run"
        )
    lost = _lost_pointer(root) if stored is None else None
    if lost is not None:
        # Run files are written only after the pointer: read it again, another worker may
        # have just started this run. Still missing, a new run would mix with the old files.
        stored = _read_pointer(pointer)
        if stored is None:
            raise StorageError(lost)
    chosen = stored or _pointer_of(spec or ComponentSpec("disk"))
    cls = plugins.storages[chosen["name"]]
    with plugin_errors(f"storage {chosen['name']!r} of", plugins.storages.origin(chosen["name"])):
        storage = cls(
            root, url=chosen.get("url"), converter=plugins.converter, **chosen.get("options", {})
        )
    if stored is None:
        root.mkdir(parents=True, exist_ok=True)
        write_atomic(pointer, dump_yaml(chosen))
    elif not lost_ok:
        _refuse_a_lost_store(root, storage)
    return storage


def _refuse_a_lost_store(root: Path, storage: Storage) -> None:
    """Trial folders but no trials: the store was lost (a wiped scratch database, an emptied
    journal). Going on would start over at trial 1 inside the old folders and their files.

    A trial is stored before its folder is made, so folders without trials are never a race.
    """
    folders = sorted((root / "configs").glob("config_*"), key=lambda f: (len(f.name), f.name))
    if not folders:
        return
    try:
        if len(storage.sync()) > 0:
            return
        storage.load_info()  # a storage's own, more specific refusal comes first
    except BaseException:
        storage.close()
        raise
    storage.close()
    raise StorageError(
        f"{root} holds trial folders ({', '.join(f.name for f in folders[:3])}, ...) but its "
        f"storage {storage.name!r} records no trials: their record was lost (a deleted or "
        "emptied database or journal). Restore it, or start over with "
        "overwrite_root_directory=True"
    )


def open_existing_run(root: Path, plugins: Plugins) -> Storage:
    """The storage of the run in ``root``; never creates anything while looking.

    Raises:
        FileNotFoundError: ``root`` holds no run, or the files of one without its
            ``storage.yaml`` (the message says which, and what to do).
    """
    root = Path(root)
    if not (root / STORAGE_POINTER_FILE).is_file():
        raise FileNotFoundError(_lost_pointer(root) or f"No neps_core run in {root}")
    storage = open_storage(root, None, plugins)
    if not storage.exists():
        storage.close()
        raise FileNotFoundError(f"No neps_core run in {root}")
    return storage


def _lost_pointer(root: Path) -> str | None:
    """Why ``root`` without ``storage.yaml`` is no place for a new run, if it held one."""
    found = [name for name in RUN_FILES if (root / name).exists()]
    if "configs" in found and not any((root / "configs").glob("config_*")):
        found.remove("configs")  # a folder of the user's own (say, Hydra's configs/)
    if not found:
        return None
    return (
        f"{root} holds files of a run ({', '.join(found)}) but not its {STORAGE_POINTER_FILE}, "
        "which names the storage holding its trials: restore it (for the default storage it "
        "reads 'name: disk'), or use a new root_directory (overwrite_root_directory=True "
        "deletes this one)"
    )


def overwrite_run(root: Path, plugins: Plugins, stale_after: float) -> None:
    """Delete the run in ``root``: its storage's data (wherever it lives), then the directory.

    Raises:
        LiveWorkersError: A worker heartbeated within ``stale_after`` seconds; deleting the
            run under it would lose its result (or write it into the deleted run).
    """
    root = Path(root)
    if (root / STORAGE_POINTER_FILE).is_file():
        storage = open_storage(root, None, plugins, lost_ok=True)
        try:
            refuse_if_alive(storage.sync(), stale_after, f"overwrite {root}", "stale_after")
            storage.erase()
        finally:
            storage.close()
    if root.exists():
        shutil.rmtree(root)


def _read_pointer(pointer: Path) -> dict[str, Any] | None:
    try:
        data = read_yaml(pointer)
    except FileNotFoundError:
        return None
    except yaml.YAMLError as error:
        raise SettingsError(f"{pointer} is damaged: not valid YAML ({error})") from None
    if not isinstance(data, dict) or "name" not in data:
        raise SettingsError(f"{pointer} is damaged: expected a mapping with a 'name'")
    return data


def _pointer_of(spec: ComponentSpec) -> dict[str, Any]:
    """``"sqlite:///x.db"`` names the storage by URL scheme; other names are plugin names."""
    name = spec.label
    options = dict(spec.options)
    url = options.pop("url", None)
    if "://" in name:
        url, name = name, urlparse(name).scheme
    return {"name": name, "url": url, "options": to_plain(options)}


def stored_space(storage: Storage) -> PipelineSpace | None:
    """The space a run in ``storage`` was started with, ``None`` for a new run."""
    info = storage.load_info()
    if info is None:
        return None
    with prior_indices_meant():  # a saved categorical prior is an index
        return space_from_description(info.space)


def rebuildable_space(storage: Storage) -> PipelineSpace | None:
    """``stored_space``, or ``None`` when its operations cannot be imported (lambdas).

    For what only reads a run (status, summaries), which must work without the space.
    """
    try:
        return stored_space(storage)
    except ValueError:
        return None


def initialize_run(
    storage: Storage, space: PipelineSpace, optimizer: Optimizer, seed: int | None
) -> RunInfo:
    """Record a new run, or check a continued one against the space it was started with.

    Returns what the run was started with.
    """
    described = describe_space(space)
    info = RunInfo(
        space=described,
        optimizer=optimizer.name,
        optimizer_settings=to_plain(attrs.asdict(optimizer.settings)),
        seed=seed,
        created_at=time.time(),
    )
    stored = storage.initialize(info)
    if dict(stored.space) != described:
        raise_space_mismatch(stored.space, described, storage.root_directory, storage.url)
    return stored


def raise_space_mismatch(
    stored: Mapping[str, Any], given: Mapping[str, Any], root: Path, url: str | None = None
) -> None:
    """Explain, parameter by parameter, how a continued run's space differs from the saved one.

    With a storage ``url`` the run lives outside ``root``: overwriting the root cannot help.
    """
    differences = [
        f"{name!r}: saved {stored.get(name)!r}, given {given.get(name)!r}"
        for name in dict.fromkeys([*stored, *given])
        if stored.get(name) != given.get(name)
    ]
    raise SpaceMismatchError(
        f"The run in {root} was started with a different pipeline_space. Differences: "
        + "; ".join(differences)
        + (
            f". The storage at {url} holds that run: point storage= at another database, "
            "or use the original space."
            if url
            else ". Use a new root_directory, overwrite_root_directory=True, or the original space."
        )
    )
