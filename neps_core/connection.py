"""Opening a run: the space, optimizer, storage and evaluator one worker or client works with.

Everything that can be checked without the run's files (space, budgets against the space,
optimizer options, the evaluator) is checked before storage is opened, and a call that cannot
start a new run (no space) is refused by ``open_storage`` itself, so a bad call writes nothing.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import attrs

from neps_core.budget_file import BUDGET_KEYS, budgets_recorded, record_budgets, recorded_budgets
from neps_core.components import (
    build_evaluator,
    build_optimizer,
    check_run_fits_space,
    resolve_space,
    select_optimizer_class,
)
from neps_core.config import RunSettings
from neps_core.errors import SettingsError, add_note
from neps_core.history import TrialHistory
from neps_core.interfaces import Optimizer, Storage
from neps_core.interfaces.optimizer import first_multi_objective
from neps_core.liveness import live_trials
from neps_core.lost_records import history_refusing_unrecorded_folders
from neps_core.models import RunInfo
from neps_core.overwrite import overwrite_run
from neps_core.plugin_manager import Plugins
from neps_core.presence import Overwrite, processes_present
from neps_core.run_context import RunContext
from neps_core.run_info import initialize_run, recorded_settings, space_to_continue
from neps_core.run_storage import (
    STORAGE_POINTER_FILE,
    check_storage_options,
    open_storage,
    runs_below,
)
from neps_core.signature_checks import refuse_arguments_no_one_passes, refuse_injected_names
from neps_core.space import PipelineSpace
from neps_core.user_paths import shown_path

logger = logging.getLogger(__name__)


#: The space and optimizer ``check_new_run`` built, which ``connect`` reuses rather than
#: building them (and logging the optimizer's warnings) a second time.
Checked = tuple[PipelineSpace, Optimizer]


def connect(settings: RunSettings, plugins: Plugins, checked: Checked | None = None) -> RunContext:
    """The context of the run in ``settings.root_directory``, created if it is new."""
    space: PipelineSpace | None = None
    optimizer: Optimizer | None = None
    if checked is not None:
        space, optimizer = checked
    elif settings.pipeline_space is not None:
        space = resolve_space(settings.pipeline_space, plugins)
        optimizer = _optimizer(settings, space, plugins)
        if not (settings.root_directory / STORAGE_POINTER_FILE).exists():  # nothing written yet
            refuse_arguments_no_one_passes(settings, space)
    evaluator = build_evaluator(settings.evaluator, plugins)
    no_new_run = (
        "pipeline_space is required to start a new run in "
        f"{settings.root_directory}{runs_below(settings.root_directory)}"
    )
    storage = open_storage(
        settings.root_directory,
        settings.storage,
        plugins,
        no_new_run=None if space is not None else no_new_run,
    )
    try:
        if space is None or optimizer is None:
            space = space_to_continue(storage, no_new_run)
            optimizer = _optimizer(settings, space, plugins)
        started = initialize_run(storage, space, optimizer, settings.seed, plugins.converter)
        refuse_arguments_no_one_passes(settings, space)  # continued: after the space check
        seed_of_the_run = settings.seed is None and started.seed is not None
        if seed_of_the_run:
            # The seed belongs to the run: continuing without one continues the same stream.
            logger.info("Continuing with the run's seed %s", started.seed)
            settings = attrs.evolve(settings, seed=started.seed)
        history = history_refusing_unrecorded_folders(settings.root_directory, storage)
        several_objectives = _auto_sees_several_objectives(settings, history)
        if seed_of_the_run or several_objectives:
            optimizer = _optimizer(settings, space, plugins, multi_objective=several_objectives)
        if settings.optimizer.name == "auto":
            optimizer = _the_runs_own_optimizer(
                settings, space, plugins, started, optimizer, several_objectives=several_objectives
            )
        _warn_if_options_change(settings, optimizer, started, plugins)
        _warn_if_joining_with_other_budgets(settings, history)
        record_budgets(settings.root_directory, settings)
    except BaseException:
        storage.close()
        raise

    def open_another_handle() -> Storage:
        return open_storage(settings.root_directory, settings.storage, plugins)

    return RunContext(
        settings, space, storage, optimizer, evaluator, plugins, open_another_handle, started.seed
    )


def overwrite_if_asked(
    settings: RunSettings, plugins: Plugins
) -> tuple[Overwrite | None, Checked | None]:
    """What ``present_in`` calls to delete the old run under ``overwrite_root_directory``, and
    what the check built, for ``connect``.

    The new run is checked first (``run()`` and ``AskAndTell`` alike): a misspelt option must
    not cost the old run.
    """
    if not settings.overwrite_root_directory:
        return None, None
    checked = check_new_run(settings, plugins)
    overwrite = functools.partial(
        overwrite_run, settings.root_directory, plugins, settings.stale_after
    )
    return overwrite, checked


def check_new_run(settings: RunSettings, plugins: Plugins) -> Checked:
    """Raise what ``connect`` would raise starting a new run with ``settings``, writing nothing;
    return the space and optimizer it built.

    ``overwrite_root_directory`` deletes the old run before ``connect``: a misspelt option
    must not cost it.
    """
    if settings.pipeline_space is None:
        raise SettingsError(
            "overwrite_root_directory=True starts a new run, which needs a pipeline_space; "
            f"{settings.root_directory} was left as it is"
        )
    space = resolve_space(settings.pipeline_space, plugins)
    optimizer = _optimizer(settings, space, plugins)
    refuse_arguments_no_one_passes(settings, space)
    evaluator = build_evaluator(settings.evaluator, plugins)  # dask's connects to count threads
    with plugins.errors_of("evaluator", type(evaluator)):
        evaluator.close()
    check_storage_options(settings.root_directory, settings.storage, plugins)
    return space, optimizer


def _optimizer(
    settings: RunSettings, space: PipelineSpace, plugins: Plugins, *, multi_objective: bool = False
) -> Optimizer:
    check_run_fits_space(settings, space)
    refuse_injected_names(settings, space)
    cls = select_optimizer_class(
        settings.optimizer, space, settings, plugins, multi_objective=multi_objective
    )
    options = settings.optimizer.options
    try:
        with plugins.errors_of("optimizer", cls):
            return build_optimizer(cls, options, space, settings.seed, plugins.converter)
    except SettingsError as error:
        if settings.optimizer.name == "auto" and options:
            # In the message itself, not a note: print(error) and logs show only the message.
            source = "" if settings.optimizer.source is None else f"{settings.optimizer.source}: "
            raise SettingsError(
                f"{source}{error} (optimizer='auto' chose {cls.name!r} for this run and passed "
                f"it the options {sorted(options)}; name the optimizer those options are meant for)"
            ) from error
        raise


def _auto_sees_several_objectives(settings: RunSettings, history: TrialHistory) -> bool:
    """Whether ``"auto"`` continues a run whose results have several objectives.

    The sampler would switch to a multi-objective optimizer at the first proposal anyway;
    choosing it now keeps the log (and the warning below) about the optimizer that runs.
    """
    return settings.optimizer.name == "auto" and first_multi_objective(history) is not None


def _the_runs_own_optimizer(
    settings: RunSettings,
    space: PipelineSpace,
    plugins: Plugins,
    started: RunInfo,
    chosen: Optimizer,
    *,
    several_objectives: bool,
) -> Optimizer:
    """``optimizer="auto"`` continues a run with the optimizer and options it started with.

    As in NePS: a continued script that names no optimizer must not change the search
    midway (hyperband's brackets, BO's initial design). Where that optimizer is not installed,
    or cannot take the run's several objectives, ``"auto"``'s own choice runs, and is said.
    """
    if started.optimizer == chosen.name and not _changed_options(chosen, started, plugins):
        return chosen
    if plugins.optimizers.unavailable(started.optimizer):
        _refuse_another_optimizer(started, settings, plugins)
    if started.optimizer not in plugins.optimizers:
        why = "which is not installed here"
        return _auto_continues_with(chosen, settings, started, why, logging.WARNING)
    cls = plugins.optimizers[started.optimizer]
    if several_objectives and not cls.supports_multi_objective:  # "auto" switched, as it does
        why = "which takes one objective"
        return _auto_continues_with(chosen, settings, started, why, logging.INFO)
    shown = shown_path(settings.root_directory)
    logger.info("Continuing the run in %s with its optimizer %r", shown, cls.name)
    known = {field.name for field in attrs.fields(cls.Settings)}  # options since removed: gone
    options = {k: v for k, v in started.optimizer_settings.items() if k in known}
    with plugins.errors_of("optimizer", cls):
        return build_optimizer(cls, options, space, settings.seed, plugins.converter)


def _refuse_another_optimizer(started: RunInfo, settings: RunSettings, plugins: Plugins) -> None:
    """Raise why the run's own optimizer is unavailable: a plugin that failed to load here
    (a missing dependency on one node) may be it, and another optimizer must not join the
    run in its place."""
    try:
        plugins.optimizers[started.optimizer]
    except Exception as error:
        add_note(
            error,
            f"(the run in {settings.root_directory} was started with optimizer "
            f"{started.optimizer!r}; optimizer='auto' continues it with that one only: fix the "
            "plugin, or name the optimizer to continue with)",
        )
        raise


def _auto_continues_with(
    chosen: Optimizer, settings: RunSettings, started: RunInfo, why_not_its_own: str, level: int
) -> Optimizer:
    logger.log(
        level,
        "The run in %s was started with optimizer %r, %s; optimizer='auto' continues it with %r",
        settings.root_directory,
        started.optimizer,
        why_not_its_own,
        chosen.name,
    )
    return chosen


def _warn_if_options_change(
    settings: RunSettings, optimizer: Optimizer, started: RunInfo, plugins: Plugins
) -> None:
    """Other options for the same optimizer change it midway (hyperband's rungs, with another
    eta): allowed, as switching optimizers is, but said; so are options the run started with
    that the optimizer installed here no longer has (a plugin upgraded between sessions)."""
    if optimizer.name != started.optimizer:
        return
    now = recorded_settings(optimizer, plugins.converter)
    dropped = {k: v for k, v in started.optimizer_settings.items() if k not in now}
    if dropped:
        logger.warning(
            "The run in %s was started with %s options %s; %s (from %s) has no such options "
            "now: it continues without them",
            settings.root_directory,
            optimizer.name,
            dropped,
            optimizer.name,
            plugins.origin(type(optimizer)),
        )
    changed = _changed_options(optimizer, started, plugins)
    if changed:
        logger.warning(
            "The run in %s was started with %s options %s; it continues with %s",
            settings.root_directory,
            optimizer.name,
            {key: started.optimizer_settings[key] for key in changed},
            changed,
        )


def _changed_options(optimizer: Optimizer, started: RunInfo, plugins: Plugins) -> dict[str, Any]:
    """The options of ``optimizer`` that differ from those the run started with."""
    before = started.optimizer_settings
    now = recorded_settings(optimizer, plugins.converter)
    return {key: value for key, value in now.items() if before.get(key, value) != value}


def _warn_if_joining_with_other_budgets(settings: RunSettings, history: TrialHistory) -> None:
    """Workers of one run given different budgets each stop at their own: say so on joining."""
    before = recorded_budgets(settings.root_directory)
    mine = {
        key: getattr(settings, key) for key in BUDGET_KEYS if getattr(settings, key) is not None
    }
    if before == mine:
        return
    # A worker of this machine SIGKILLed a moment ago still heartbeated within stale_after.
    present = processes_present(settings.root_directory)
    now, interval = time.time(), settings.heartbeat_interval
    if not live_trials(history, now, settings.stale_after, present, heartbeat_interval=interval):
        return
    if before:
        others = f"run with {before}"
    elif budgets_recorded(settings.root_directory):
        others = "run with none"
    else:  # a run of a version that did not record them: unknown, not "none"
        others = "have budgets that were not recorded (the run was started by an older version)"
    logger.warning(
        "This worker joins the run in %s with budgets %s while its other workers %s: "
        "each worker stops when the run reaches its own, and status reports this worker's "
        "(give every worker the same budgets)",
        settings.root_directory,
        mine or "none",
        others,
    )
