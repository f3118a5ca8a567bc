"""``import_trials``: add trials evaluated elsewhere to a run, as if its workers had made them.

Useful to warm-start an optimizer with earlier results, or to switch optimizers mid-study.
Everything is checked before anything is written, and all trials are written in one storage
transaction, so an import either happens completely or not at all.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from neps_core.code_locations import named_plugins
from neps_core.component_spec import ComponentSpec, component_spec
from neps_core.components import build_optimizer, resolve_space, select_optimizer_class
from neps_core.config import DEFAULT_STALE_AFTER, RunSettings, run_directory
from neps_core.errors import ObjectiveCountError
from neps_core.history import TrialHistory
from neps_core.import_call import are_pairs, bind_import_call
from neps_core.interfaces import Optimizer, Storage
from neps_core.models import Report, Trial, TrialState
from neps_core.neps_keys import from_neps_keys
from neps_core.overwrite import overwrite_run
from neps_core.plugin_manager import Plugins, load_plugins
from neps_core.presence import present_in
from neps_core.reporting import objective_count
from neps_core.result_contract import ParsedResult, parse_result
from neps_core.run_info import initialize_run, space_to_continue
from neps_core.run_storage import open_storage
from neps_core.serialization import to_plain
from neps_core.space import Categorical, Constant, Integer, PipelineSpace
from neps_core.space.choices import position

IMPORT_WORKER = "import_trials"

logger = logging.getLogger(__name__)


def import_trials(
    *args: Any,
    evaluated_trials: Sequence[tuple[Mapping[str, Any], Any]] | None = None,
    root_directory: str | Path | None = None,
    pipeline_space: Any = None,
    overwrite_root_directory: bool | None = None,
    optimizer: Any = None,
    storage: Any = None,
    plugins: object | Iterable[object] = (),
) -> list[Trial]:
    """Record ``(config, result)`` pairs evaluated elsewhere as finished trials of a run.

    Called as NePS's ``import_trials(evaluated_trials, root_directory, pipeline_space=None,
    overwrite_root_directory=False, optimizer="auto")``, positionally or by keyword, or with
    the space first, as NePS's earlier examples call it: ``import_trials(pipeline_space,
    evaluated_trials, root_directory, ...)``, also ``import_trials(space, pairs,
    root_directory=...)`` and ``import_trials(space, evaluated_trials=..., ...)``. An
    argument given as ``None`` counts as left out.

    Args:
        evaluated_trials: ``(config, result)`` pairs. Each config must fit the space
            (missing ``Constant`` values are filled in; NePS's resolution records,
            ``SAMPLING__Resolvable.<name>::...`` and ``ENVIRONMENT__<name>`` keys, read as
            the space's names and values); each result follows the ``evaluate_pipeline``
            contract (a number, a tuple, a dict with ``objective_to_minimize``, ...).
        root_directory: The run to import into; a new run is started when it has none.
        pipeline_space: The space; required for a new run, and checked against the saved
            space of an existing one.
        overwrite_root_directory: Delete ``root_directory`` first (``True``; by default
            ``False``).
        optimizer: The optimizer a new run is recorded with (as in ``run``; by default
            ``"auto"``).
        storage: The storage of a new run (as in ``run``); for an existing run it may be
            left out, and naming another storage than the run's is refused.
        plugins: Extra plugin objects, as in ``run``.

    Returns:
        The imported trials, final (SUCCESS or FAILED), in the order given. They count
        toward the run's budgets like any other trial.

    Raises:
        ValueError: A config does not fit the space; the message names its index and why
            (for a key of NePS's, the key: one of a structural configuration, a value drawn
            inside an operation or a resampled parameter, has no parameter here).
        TypeError: A result breaks the ``evaluate_pipeline`` contract (index named); the
            arguments do not fit either order.
        ObjectiveCountError: Results with another number of objectives than the others, or
            than the run's (index named; nothing is imported).

    A configuration given twice is imported twice, with a warning. Importing again what an
    earlier ``import_trials`` imported (the same configuration with the same result, as when
    a script that imports and then runs is run again to continue) adds nothing: the earlier
    trial is returned in its place.
    """
    named = {
        "evaluated_trials": evaluated_trials,
        "root_directory": root_directory,
        "pipeline_space": pipeline_space,
        "overwrite_root_directory": overwrite_root_directory,
        "optimizer": optimizer,
    }
    call = bind_import_call(args, {name: v for name, v in named.items() if v is not None})
    pairs = _check_pairs(call["evaluated_trials"])
    loaded = load_plugins(named_plugins(plugins, "import_trials()"))
    root = run_directory(call["root_directory"])
    new_run = None
    if call["pipeline_space"] is not None:  # everything checked before anything is written
        given = resolve_space(call["pipeline_space"], loaded)
        parsed = _parse_all(pairs, given)
        new_run = (given, parsed, _optimizer(root, given, call["optimizer"], loaded))
        _check_objective_counts([], new_run[1])
    spec = None if storage is None else component_spec(storage, "storage")
    overwrite = (
        functools.partial(overwrite_run, root, loaded, DEFAULT_STALE_AFTER)
        if call["overwrite_root_directory"]
        else None
    )
    with present_in(root, overwrite=overwrite):
        return _import(root, spec, loaded, pairs, new_run)


def _import(
    root: Path,
    spec: ComponentSpec | None,
    loaded: Plugins,
    pairs: list[tuple[int, tuple[Mapping[str, Any], Any]]],
    new_run: tuple[PipelineSpace, list[tuple[dict[str, Any], ParsedResult]], Optimizer] | None,
) -> list[Trial]:
    """Import ``pairs`` into the run in ``root`` (a new one, from ``new_run``)."""
    no_new_run = f"pipeline_space is required to import trials into a new run in {root}"
    with open_storage(root, spec, loaded, no_new_run=None if new_run else no_new_run) as opened:
        if new_run is None:
            space = space_to_continue(opened, no_new_run)
            parsed = _parse_all(pairs, space)
        else:
            space, parsed, built = new_run
            initialize_run(opened, space, built, None, loaded.converter)
        reused: dict[int, Trial] = {}  # filled in the transaction, which stores only new ones
        new = opened.transact(lambda history: _new_trials(history, parsed, space, reused))
        fresh = iter(new)
        return [reused[index] if index in reused else next(fresh) for index in range(len(parsed))]


def import_into(
    storage: Storage,
    space: PipelineSpace,
    pair: tuple[Any, Any],
    caller: str,
    adjust: Callable[[Trial, TrialHistory], Trial],
) -> Trial:
    """Import one ``(config, result)`` pair into an open run, ``adjust``-ed in the transaction.

    For ``AskAndTell.tell_custom``: checked as ``import_trials`` checks, and its errors name
    ``caller`` (say ``tell_custom()``), not ``evaluated_trials[0]``, which it was not given.
    """
    try:
        parsed = _parse_all(_check_pairs([pair]), space)

        def record(history: TrialHistory) -> list[Trial]:
            return [adjust(trial, history) for trial in _trials(history, parsed, space)]

        return storage.transact(record)[0]
    except (TypeError, ValueError) as error:  # the same error, its subject renamed
        if error.args and isinstance(error.args[0], str):
            error.args = (error.args[0].replace("evaluated_trials[0]", caller), *error.args[1:])
        raise


def _check_pairs(evaluated_trials: Any) -> list[tuple[int, tuple[Mapping[str, Any], Any]]]:
    if not are_pairs(evaluated_trials):
        raise TypeError(
            "evaluated_trials must be a sequence of (config, result) pairs, "
            f"got {type(evaluated_trials).__name__}"
        )
    pairs = []
    for index, pair in enumerate(evaluated_trials):
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise TypeError(f"evaluated_trials[{index}] must be a (config, result) pair")
        if not isinstance(pair[0], Mapping):
            raise TypeError(
                f"evaluated_trials[{index}]: the config must be a mapping, "
                f"got {type(pair[0]).__name__}"
            )
        pairs.append((index, (pair[0], pair[1])))
    return pairs


def _optimizer(root: Path, space: PipelineSpace, optimizer: Any, plugins: Plugins) -> Optimizer:
    """The optimizer a new run is recorded with, built the way ``run()`` would build it."""
    settings = RunSettings.from_kwargs(
        root_directory=root, pipeline_space=space, optimizer=optimizer
    )
    cls = select_optimizer_class(settings.optimizer, space, settings, plugins)
    return build_optimizer(cls, settings.optimizer.options, space, None, plugins.converter)


def _parse_all(
    pairs: list[tuple[int, tuple[Mapping[str, Any], Any]]], space: PipelineSpace
) -> list[tuple[dict[str, Any], ParsedResult]]:
    parsed = [_parse(index, config, result, space) for index, (config, result) in pairs]
    first_seen: dict[str, int] = {}
    for index, (config, _) in enumerate(parsed):
        key = json.dumps(config, sort_keys=True)
        if key in first_seen:  # repeated seeds, say; a bracket then promotes it only once
            logger.warning(
                "evaluated_trials[%d] repeats the configuration of evaluated_trials[%d]; both "
                "are imported as separate trials",
                index,
                first_seen[key],
            )
        first_seen.setdefault(key, index)
    return parsed


def _stored_decision(parameter: Categorical, value: Any) -> Any:
    """A choice as its index where the space stores indices (tuples, objects): users import
    what ``evaluate_pipeline`` received. A list read from YAML or JSON matches a tuple.

    Elsewhere the choice itself, as the space spells it (``16`` for ``16.0`` from a CSV file,
    ``True`` for ``1``): stored as given, it read differently and was imported again."""
    if not parameter.indexed:
        found = parameter.index_of(value)
        return value if found is None else parameter.choices[found]
    if parameter.contains(value):
        return value
    index = position(parameter.choices, tuple(value) if isinstance(value, list) else value)
    return value if index is None else index


def _parse(
    index: int, config: Mapping[str, Any], result: Any, space: PipelineSpace
) -> tuple[dict[str, Any], ParsedResult]:
    full = from_neps_keys(config, space, f"evaluated_trials[{index}]")
    fidelity = space.fidelity_name
    if fidelity is not None and space.fidelity is not None and fidelity not in full:
        full[fidelity] = space.fidelity.upper  # as NePS: a full evaluation
    for name, parameter in space.parameters.items():
        if isinstance(parameter, Constant):
            full.setdefault(name, parameter.value)
        value = full.get(name)
        if isinstance(parameter, Integer) and isinstance(value, float) and value.is_integer():
            full[name] = int(value)  # CSV files and pandas give integer columns as floats
        if isinstance(parameter, Categorical) and name in full:
            full[name] = _stored_decision(parameter, value)
    try:
        space.validate_config(full)
    except ValueError as error:
        raise ValueError(f"evaluated_trials[{index}]: invalid configuration: {error}") from error
    if result is None:
        raise TypeError(f"evaluated_trials[{index}]: an imported trial needs a result, got None")
    try:
        parsed = parse_result(result, "the result")  # not evaluate_pipeline's: None is no result
    except (TypeError, ValueError) as error:
        raise type(error)(f"evaluated_trials[{index}]: invalid result: {error}") from error
    return to_plain(full), parsed


def _new_trials(
    history: TrialHistory,
    parsed: list[tuple[dict[str, Any], ParsedResult]],
    space: PipelineSpace,
    reused: dict[int, Trial],
) -> list[Trial]:
    """The trials to store for ``parsed``; ``reused`` gets, by index, the earlier trials that
    an earlier ``import_trials`` made of the same pair (returned, they were stored again).

    Each earlier trial stands for one pair: a pair given twice is imported twice once.
    """
    earlier: dict[str, list[Trial]] = {}
    for trial in history.values():
        if trial.worker_id == IMPORT_WORKER and trial.metadata == {"imported": True}:
            key = _import_key(trial.config, trial.state, trial.report)
            earlier.setdefault(key, []).append(trial)
    reused.clear()  # a retried transaction starts over
    for index, (config, result) in enumerate(parsed):
        matches = earlier.get(_import_key(config, result.state, result.report))
        if matches:
            reused[index] = matches.pop(0)
    if reused:
        logger.info(
            "%d of the %d evaluated trials were imported before (trials %s); they are not "
            "imported again",
            len(reused),
            len(parsed),
            ", ".join(trial.id for trial in reused.values()),
        )
    return _trials(history, [p for i, p in enumerate(parsed) if i not in reused], space)


def _import_key(config: Mapping[str, Any], state: TrialState, report: Report | None) -> str:
    """The same for a parsed pair as for the trial stored from it (tuples read back as lists),
    and for a trial imported before a result without a curve got its objective as one."""
    if report is not None:
        report = attrs.evolve(report, learning_curve=report.reported_learning_curve)
    plain_report = None if report is None else to_plain(attrs.asdict(report))
    return json.dumps([to_plain(config), state.value, plain_report], sort_keys=True, default=repr)


def _trials(
    history: TrialHistory, parsed: list[tuple[dict[str, Any], ParsedResult]], space: PipelineSpace
) -> list[Trial]:
    _check_objective_counts(history.values(), parsed)
    now = time.time()
    first = int(history.next_id())
    fidelity = space.fidelity_name
    return [
        Trial(
            id=str(first + offset),
            config=config,
            state=result.state,
            created_at=now,
            worker_id=IMPORT_WORKER,
            started_at=now,
            finished_at=now,
            fidelity=None if fidelity is None else config[fidelity],
            report=result.report,
            metadata={"imported": True},
        )
        for offset, (config, result) in enumerate(parsed)
    ]


def _check_objective_counts(
    trials: Iterable[Trial], parsed: list[tuple[dict[str, Any], ParsedResult]]
) -> None:
    """Every success of a run has one number of objectives, imported ones too (as ``tell``)."""
    expected, source = None, ""
    for trial in trials:
        if trial.state is TrialState.SUCCESS and trial.objective is not None:
            expected, source = objective_count(trial.objective), f"trial {trial.id} of the run"
            break
    for index, (_, result) in enumerate(parsed):
        objective = result.report.objective_to_minimize
        if result.state is not TrialState.SUCCESS or objective is None:
            continue
        count = objective_count(objective)
        if expected is None:
            expected, source = count, f"evaluated_trials[{index}]"
        elif count != expected:
            raise ObjectiveCountError(
                f"evaluated_trials[{index}]: objective_to_minimize has {count} value(s), but "
                f"{source} has {expected}; every result of a run needs the same number of "
                "objectives (nothing was imported)"
            )
