"""The user-facing functions: ``run``, ``save_pipeline_results``, ``status``, ``load_config``."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from neps_core.budget_file import recorded_budgets
from neps_core.call_checks import (
    names_a_folder,
    older_argument_order,
    refuse_arguments_given_twice,
)
from neps_core.client_state import check_dropped
from neps_core.components import refuse_a_root_directory_as_space
from neps_core.config import RunSettings, run_directory
from neps_core.connection import connect, overwrite_if_asked
from neps_core.distributed import maybe_run_as_nonzero_rank, rank_zero
from neps_core.errors import ArgumentsError, SettingsError, add_note
from neps_core.evaluation.main_script import refuse_while_a_child_imports_the_script
from neps_core.evaluation.seeding import seed_global_generators
from neps_core.loading import open_existing
from neps_core.models import Summary, trial_id
from neps_core.neps_call_keywords import (
    NEPS_PLOT_KEYWORDS,
    NEPS_STATUS_KEYWORDS,
    check_neps_keywords,
    same_value,
)
from neps_core.plot_defaults import MAX_CURVES
from neps_core.plugin_manager import load_plugins
from neps_core.presence import present_in
from neps_core.reporting import record_result, refused_without_cost
from neps_core.result_contract import parse_result
from neps_core.run_context import RunContext
from neps_core.runtime import Worker
from neps_core.summary import summary_of
from neps_core.summary_files import refresh_shared_summary_files
from neps_core.termination import one_more_stop_held, signals_stop_the_worker
from neps_core.user_paths import shown_path
from neps_core.warning_origin import warn_at_caller
from neps_core.worker_storages import evaluating_worker_storage

logger = logging.getLogger(__name__)


@refuse_arguments_given_twice
def run(
    evaluate_pipeline: Callable[..., Any] | None = None,
    pipeline_space: Any = None,
    *root_directory_second: NoReturn,
    root_directory: str | Path = "neps_results",
    overwrite_root_directory: bool = False,
    evaluations_to_spend: int | None = None,
    max_evaluations_per_run: int | None = None,
    continue_until_max_evaluation_completed: bool = False,
    cost_to_spend: float | None = None,
    max_cost_per_run: float | None = None,
    fidelities_to_spend: float | None = None,
    max_fidelities_per_run: float | None = None,
    ignore_errors: bool = False,
    objective_value_on_error: float | None = None,
    cost_value_on_error: float | None = None,
    sample_batch_size: int | None = None,
    worker_id: str | None = None,
    optimizer: Any = "auto",
    storage: Any = None,
    evaluator: Any = "sync",
    plugins: object | Iterable[object] = (),
    seed: int | None = None,
    post_run_summary: bool = True,
    heartbeat_interval: float = 10.0,
    stale_after: float = 120.0,
    max_trial_attempts: int = 3,
    run_config: str | Path | None = None,
    **legacy_and_aliases: Any,
) -> Summary:
    """Optimize ``evaluate_pipeline`` over ``pipeline_space``; results go to ``root_directory``.

    Calling ``run`` again with the same root continues the run; several processes calling it
    on one root cooperate, sharing the ``*_to_spend`` budgets, which are global to the root.
    docs/concepts.md explains every argument at length.

    Args:
        evaluate_pipeline: Called with a configuration's values as keyword arguments (and
            ``pipeline_directory``, ``previous_pipeline_directory``, ... if it names them);
            returns a number, a list of numbers, a result dict, or an exception (a failure).
            A ``"path/to/file.py:name"`` or ``neps.Command(...)`` works too.
        pipeline_space: A ``PipelineSpace``, a dict of parameters, a ConfigSpace
            ``ConfigurationSpace``, or a YAML file; not needed to continue a run.
        *root_directory_second: Refused, saying so: NePS's older ``run(run_pipeline,
            root_directory, pipeline_space)``; the other arguments go by name. Typed
            ``NoReturn`` so that a type checker flags such a call too.
        root_directory: The run's folder; a leading ``~`` is the home directory.
        overwrite_root_directory: Delete an existing run there first (refused while its
            workers live).
        evaluations_to_spend: Trials the whole run may create (every worker together).
        max_evaluations_per_run: Trials this call may create.
        continue_until_max_evaluation_completed: Once the run's budget stops sampling,
            wait until every trial of the run is final (other workers' too, re-queued if
            they die). A call stopped by its own ``max_*_per_run`` limit returns at once.
        cost_to_spend: Summed reported ``cost`` the whole run may spend.
        max_cost_per_run: Cost this call may spend.
        fidelities_to_spend: Summed fidelity the whole run may spend.
        max_fidelities_per_run: Fidelity this call may spend.
        ignore_errors: Go on after an ``evaluate_pipeline`` that raises (it is stored as a
            failed trial either way).
        objective_value_on_error: The objective stored for a failed trial.
        cost_value_on_error: The cost a failed trial spends.
        sample_batch_size: Trials to sample at once (and hand out one by one).
        worker_id: This worker's id; default: host, process id and a random suffix.
        optimizer: A name (``"auto"``, ``"bayesian_optimization"``, ``"priorband"``, ...),
            ``(name, options)``, ``{"name": ..., **options}``, an ``Optimizer`` class, or
            NePS's ``neps.algorithms.<name>`` (called with the space or not) and callables
            of the space returning one (``functools.partial``, ``lambda space: ...``).
        storage: ``"disk"`` (default), ``"sqlite"`` or a URL such as
            ``"sqlite:////path/run.db"``; recorded in the root for later calls.
        evaluator: Where trials run: ``"sync"`` (this process), ``"subprocess"``,
            ``"process_pool"``, ``"dask"``, ``"slurm"``, ... with options as for
            ``optimizer``.
        plugins: Plugin objects (or ``"module:name"``) for this call only, e.g. observers;
            one alone needs no list.
        seed: Seeds the optimizer, and before each trial's call, in the process making it,
            Python's, NumPy's and PyTorch's global generators from the seed and the trial's
            id; a continued run keeps the seed it started with.
        post_run_summary: Write the summary files (``summary.yaml``, ``summary/``, ...)
            into the root while trials finish (within a few seconds) and when the call ends.
        heartbeat_interval: Seconds between a worker's signs of life.
        stale_after: Seconds of silence after which this worker's trials are re-queued
            (recorded in them: other workers judge them by it, not by their own).
        max_trial_attempts: Attempts after which a trial that keeps being re-queued is
            CRASHED.
        run_config: A YAML run config whose values apply to every argument not given (or
            given its default value); see docs/run_config.md.
        **legacy_and_aliases: NePS's older names (``max_evaluations_total``,
            ``searcher``, ``run_pipeline``, ...), mapped to these with a warning.

    Returns:
        The run's summary: trial counts by state, the best trial, the budget used.
    """
    from neps_core.run_config import settings_with_run_config

    refuse_while_a_child_imports_the_script("neps_core.run()")
    if root_directory_second:
        root = next(filter(names_a_folder, (pipeline_space, *root_directory_second)), None)
        raise ArgumentsError(
            f"run() takes 2 positional arguments, got more: {older_argument_order(root)}"
        )
    if "run_args" in legacy_and_aliases:  # NePS's older name of run_config
        if run_config is not None:
            raise SettingsError("Both run_args= and run_config= were given; use only run_config=")
        warn_at_caller(
            "run(run_args=...) is deprecated; use run_config= instead.",
            DeprecationWarning,
        )
        run_config = legacy_and_aliases.pop("run_args")
    arguments = _explicit_arguments(locals())
    arguments.pop("run_config", None)
    arguments.update(legacy_and_aliases)
    settings = (
        RunSettings.from_kwargs(**arguments)  # direct: deprecation warnings name the caller
        if run_config is None
        else settings_with_run_config(arguments, run_config)
    )
    if settings.evaluate_pipeline is None:
        where = "" if run_config is None else f" or set it in {run_config}"
        raise SettingsError(f"evaluate_pipeline is missing: pass it to run(){where}")
    if not callable(settings.evaluate_pipeline):
        raise SettingsError(
            f"evaluate_pipeline must be a callable, got {type(settings.evaluate_pipeline).__name__}"
        )
    if settings.seed is not None:
        seed_global_generators(settings.seed)
    followed = maybe_run_as_nonzero_rank(settings)  # under torchrun: ranks > 0 follow rank 0
    if followed is not None:
        return followed
    with rank_zero(settings) as settings:
        loaded = load_plugins(settings.plugins)
        refuse_a_root_directory_as_space(settings.pipeline_space, loaded)
        overwrite, checked = overwrite_if_asked(settings, loaded)
        with present_in(settings.root_directory, overwrite=overwrite):
            context = connect(settings, loaded, checked)
            if settings.seed is None and context.settings.seed is not None:
                seed_global_generators(context.settings.seed)  # the seed the run started with
            return _work(context)


def _explicit_arguments(values: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of ``run`` the caller set, i.e. those differing from their defaults.

    Defaults then come from ``RunSettings`` alone, so an old spelling (``searcher=``) is
    never mistaken for a conflict with a default (``optimizer="auto"``).
    """
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(run).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    return {
        name: value
        for name, value in values.items()
        if name in defaults and not (value is defaults[name] or same_value(value, defaults[name]))
    }


def _work(context: RunContext) -> Summary:
    settings = context.settings
    logger.info(
        "Worker %s runs %s%s in %s",
        settings.worker_id,
        context.optimizer.name,
        " (chosen by optimizer='auto')" if settings.optimizer.name == "auto" else "",
        shown_path(settings.root_directory),
    )
    if not _has_budget(settings):
        logger.warning(
            "No budget is set (evaluations_to_spend, cost_to_spend, fidelities_to_spend, "
            "max_evaluations_per_run): the run goes on until the optimizer has nothing left to "
            "propose or it is stopped (Ctrl-C gives running trials back)"
        )
    try:
        with signals_stop_the_worker():  # SIGTERM and SIGHUP give trials back, like Ctrl-C
            context.plugins.notify("neps_run_started", run=context)
            Worker(context).run()
    except BaseException as error:
        context.plugins.note_if_raised_in("storage", type(context.storage), error)
        with one_more_stop_held(error):  # a second Ctrl-C or SIGTERM waits for the cleanup
            _finish(context, failure=error)
        raise
    summary = _finish(context, failure=None)
    assert summary is not None  # without a failure, _finish raises or returns one
    return summary


def _finish(context: RunContext, failure: BaseException | None) -> Summary | None:
    """Close the evaluator, write the summary, tell the observers, close the storage.

    After a failed run, an error here (an observer of ``neps_run_finished`` raising, say) is
    logged and noted on the run's own error, which is what the user must see.
    """
    try:
        with context.plugins.errors_of("evaluator", type(context.evaluator)):
            context.evaluator.close()
        if context.settings.post_run_summary:
            refresh_shared_summary_files(context.storage, context.space)
        summary = summary_of(context.storage, context.settings, context.space)  # this worker's
        context.plugins.notify("neps_run_finished", run=context, summary=summary)
        return summary
    except Exception as cleanup_error:
        if failure is None:
            raise
        logger.error("While ending the failed run: %s", cleanup_error)
        add_note(failure, f"neps_core: while ending the run, also: {cleanup_error!r}")
        return None
    finally:
        context.storage.close()


def _has_budget(settings: RunSettings) -> bool:
    limits = (
        settings.evaluations_to_spend,
        settings.cost_to_spend,
        settings.fidelities_to_spend,
        settings.max_evaluations_per_run,
        settings.max_cost_per_run,
        settings.max_fidelities_per_run,
    )
    return any(limit is not None for limit in limits)


def save_pipeline_results(
    user_result: Any,
    pipeline_id: str | int,
    root_directory: str | Path,
    *,
    post_run_summary: bool = True,
) -> None:
    """Record the result of an asynchronously evaluated trial, from any process.

    ``user_result`` follows the ``evaluate_pipeline`` contract (a number, a dict, ...). A
    trial that already has a result, or an unknown id, is an error naming the id; under the
    run's ``cost_to_spend`` a success without a ``cost`` is a ``MissingCostError`` (the trial
    stays open for a result with one: without costs, the run would never end). With
    ``post_run_summary`` (the default, as in NePS) the run's summary files are rewritten, so
    they hold results that arrive after every worker stopped; that reads the whole run.

    Called by a worker's own ``evaluate_pipeline`` (in its thread), the result goes through
    that worker's open storage, which reads only what changed, and the worker rewrites the
    summary files as for its own results (while it runs, and at the end of its ``run()``):
    opening the run and rewriting them per call cost time in proportion to the run.
    """
    if user_result is None:
        raise TypeError("save_pipeline_results needs a result; None is only a return value")
    source = "the result given to save_pipeline_results"
    root, told = run_directory(root_directory), trial_id(pipeline_id)
    parsed = parse_result(user_result, source)
    cost_budget = "cost_to_spend" if recorded_budgets(root).get("cost_to_spend") else None
    missing = refused_without_cost(parsed, told, cost_budget, source)[1]
    if missing is not None:  # refused as a bad result is: the trial stays open for a cost
        raise missing
    own = evaluating_worker_storage(root)
    if own is not None:
        record_result(own, told, parsed)
    else:
        with open_existing(root_directory) as storage:
            record_result(storage, told, parsed)
            if post_run_summary:
                refresh_shared_summary_files(storage)
    check_dropped(root, told)  # a dropped client left beating it leaves, as after a tell


def status(
    root_directory: str | Path,
    *,
    print_summary: bool = False,
    pipeline_space_variables: tuple[Any, Sequence[str]] | None = None,
    **neps_keywords: Any,
) -> Summary:
    """The summary of the run in ``root_directory``: counts by state, best trial, budget used.

    ``print_summary=True`` (NePS's argument) also prints what ``neps-core status`` shows.
    ``pipeline_space_variables``, NePS's ``(space, names)`` naming the best configuration's
    values in that print, is accepted and changes nothing: the print names every value.
    NePS's older ``best_losses``, ``best_configs`` and ``all_configs`` are accepted at their
    default ``False`` only (``NEPS_STATUS_KEYWORDS`` says what shows them).
    """
    check_neps_keywords("status", neps_keywords, NEPS_STATUS_KEYWORDS)
    if pipeline_space_variables is not None and not (
        isinstance(pipeline_space_variables, tuple | list) and len(pipeline_space_variables) == 2
    ):
        raise TypeError(
            "pipeline_space_variables is NePS's (space, [names]) pair, got "
            f"{type(pipeline_space_variables).__name__}; leave it out: print_summary=True "
            "names every value of the best configuration"
        )
    with open_existing(root_directory) as storage:
        summary = summary_of(storage)
    if print_summary:
        from neps_core.cli.status import format_status, status_data

        print(format_status(status_data(root_directory, failures=5)))
    return summary


def plot(
    root_directory: str | Path,
    *,
    output_dir: str | Path | None = None,
    x_axis: str = "evaluations",
    max_curves: int = MAX_CURVES,
    **neps_keywords: Any,
) -> list[Path]:
    """Save every plot that fits the run as PNG, by default into ``<root_directory>/plots``.

    NePS's ``neps.plot``; the figures themselves come from :mod:`neps_core.plotting`
    (needs matplotlib: ``pip install 'neps-core[plot]'``). Returns the files written, none
    while no trial has finished; ``max_curves`` bounds the learning curves drawn (the best
    ones). A run whose finished trials have no objective to draw (all failed) raises
    ``NothingToPlotError``. NePS's other keywords are accepted at their defaults only
    (``NEPS_PLOT_KEYWORDS``).
    """
    from neps_core.plotting import write_plots

    check_neps_keywords("plot", neps_keywords, NEPS_PLOT_KEYWORDS)
    return write_plots(root_directory, output_dir=output_dir, x_axis=x_axis, max_curves=max_curves)
