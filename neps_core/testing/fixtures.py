"""Pytest fixtures and helpers for testing neps_core plugins (opt-in).

Enable the fixtures in a plugin's test suite with::

    pytest_plugins = ["neps_core.testing.fixtures"]

The helper functions (``make_trial``, ``history_of``, ``toy_spaces``, ...) are plain
functions, usable without the fixtures; the contract suites build on them too. Everything works
with real neps_core objects: trials are the frozen models storage writes, histories are the
``TrialHistory`` optimizers receive.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import neps_core
from neps_core.history import TrialHistory
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Report, Summary, Trial, TrialState
from neps_core.plugin_manager import DISABLE_ENV, Plugins, load_plugins
from neps_core.space import (
    Categorical,
    Constant,
    Float,
    FloatFidelity,
    Integer,
    IntegerFidelity,
    PipelineSpace,
)
from neps_core.validators import is_number

OTHER_WORKER = "another-worker"

# Categorical's ``choices`` converter (``tuple``) hides its parameter type from mypy's attrs
# plugin, which then rejects any argument; calling through ``Any`` keeps this module checked.
_Categorical: Any = Categorical


# -- helpers ------------------------------------------------------------------------------------
def toy_objective(config: Mapping[str, Any]) -> float:
    """A deterministic objective for any configuration (numbers summed, others hashed)."""
    total = 0.0
    for name, value in sorted(config.items()):
        if is_number(value):
            total += float(value)
        else:
            total += zlib.crc32(f"{name}={value!r}".encode()) % 1000 / 1000
    return total


def toy_evaluate_pipeline(**config: Any) -> float:
    """An ``evaluate_pipeline`` for any space: instant, deterministic, never failing."""
    return toy_objective(config)


def toy_spaces() -> dict[str, PipelineSpace]:
    """Small spaces covering every parameter kind, priors and fidelities, by name."""
    return {
        "continuous": PipelineSpace(
            {"x": Float(-5.0, 5.0), "lr": Float(1e-4, 1e-1, log=True)},
        ),
        "mixed": PipelineSpace(
            {
                "layers": Integer(1, 9),
                "width": Integer(1, 1024, log=True),
                "activation": _Categorical(("relu", "tanh", "sigmoid")),
                "dropout": Float(0.0, 1.0),
                "seed": Constant(7),
            }
        ),
        "priors": PipelineSpace(
            {
                "x": Float(0.0, 1.0, prior=0.25, prior_confidence="high"),
                "depth": Integer(1, 9, prior=3, prior_confidence="medium"),
                "kind": _Categorical(("a", "b", "c"), prior=1, prior_confidence="low"),
            }
        ),
        "fidelity": PipelineSpace(
            {
                "x": Float(-5.0, 5.0),
                "kind": _Categorical(("a", "b")),
                "epochs": IntegerFidelity(1, 27),
            }
        ),
        "fidelity_priors": PipelineSpace(
            {
                "x": Float(0.0, 1.0, prior=0.7, prior_confidence="high"),
                "fraction": FloatFidelity(0.1, 1.0),
            }
        ),
    }


def spaces_for(optimizer_class: type[Optimizer]) -> dict[str, PipelineSpace]:
    """The toy spaces that fit what ``optimizer_class`` declares it supports and requires."""
    fitting = {}
    for name, space in toy_spaces().items():
        has_fidelity = space.fidelity_name is not None
        if has_fidelity and not (
            optimizer_class.supports_fidelity or optimizer_class.requires_fidelity
        ):
            continue
        if optimizer_class.requires_fidelity and not has_fidelity:
            continue
        if optimizer_class.requires_prior and not space.has_priors:
            continue
        fitting[name] = space
    return fitting


def make_trial(
    trial_id: str | int,
    config: Mapping[str, Any],
    state: TrialState | str = TrialState.SUCCESS,
    *,
    objective: float | tuple[float, ...] | None = None,
    cost: float | None = None,
    worker_id: str | None = None,
    fidelity: float | None = None,
    previous_trial_id: str | None = None,
    error: str | None = None,
) -> Trial:
    """A trial as a worker of some run would have stored it in ``state``.

    A successful trial without ``objective`` gets ``toy_objective`` of its config; a failed
    one gets ``error`` (default: a ``RuntimeError`` message) and ``objective`` (default ``None``,
    as without ``objective_value_on_error``). Timestamps derive from the id, so two histories
    built the same way are equal.
    """
    state = TrialState(state)
    number = float(trial_id) if str(trial_id).isdigit() else 0.0
    report = None
    if state is TrialState.SUCCESS:
        value = toy_objective(config) if objective is None else objective
        report = Report(objective_to_minimize=value, cost=cost)
    elif state is TrialState.FAILED:
        message = error or "RuntimeError: the evaluation failed"
        report = Report(objective_to_minimize=objective, cost=cost, error=message)
    started = state is not TrialState.PENDING
    return Trial(
        id=str(trial_id),
        config=dict(config),
        state=state,
        created_at=number,
        worker_id=(worker_id or OTHER_WORKER) if started else None,
        started_at=number if started else None,
        finished_at=number + 0.5 if state.is_final else None,
        previous_trial_id=previous_trial_id,
        fidelity=fidelity,
        attempts=1 if started else 0,
        report=report,
    )


def history_of(trials: Iterable[Trial]) -> TrialHistory:
    """A trial history (what optimizers receive) holding ``trials``."""
    history = TrialHistory()
    for trial in trials:
        history.put(trial)
    return history


class CountingHistory(TrialHistory):
    """A trial history that counts in ``reads`` the trials read from it: an optimizer that
    keeps state between asks should read what changed since its last ask, not the whole run
    (asks run under the storage lock).

    Counted: each trial given by id (``history[id]``, ``get``), by ``values()`` and
    ``items()``, and each one in a ``snapshot()`` or yielded by ``unfinished()``. Not counted:
    ids (iterating, ``ids_in``, ``changed_since``), the aggregates (``count``, ``budget``,
    ...) and ``first_multi_objective`` (a kept index: one trial, whatever the run's size).
    """

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __getitem__(self, trial_id: str) -> Trial:
        self.reads += 1
        return super().__getitem__(trial_id)

    def snapshot(self) -> dict[str, Trial]:
        trials = super().snapshot()
        self.reads += len(trials)
        return trials

    def unfinished(self) -> Iterator[Trial]:
        for trial in super().unfinished():
            self.reads += 1
            yield trial


def add_proposals(
    history: TrialHistory,
    space: PipelineSpace,
    proposals: Iterable[Proposal],
    state: TrialState | str = TrialState.SUCCESS,
) -> list[Trial]:
    """Turn ``proposals`` into trials in ``state`` with fresh ids, as the worker loop does."""
    added = []
    for proposal in proposals:
        fidelity = None if space.fidelity_name is None else proposal.config[space.fidelity_name]
        trial = make_trial(
            history.next_id(),
            proposal.config,
            state,
            fidelity=fidelity,
            previous_trial_id=proposal.previous_trial_id,
        )
        history.put(trial)
        added.append(trial)
    return added


def simulate(
    optimizer: Optimizer,
    rounds: int,
    *,
    n: int = 1,
    history: TrialHistory | None = None,
    states: Iterable[TrialState | str] = (TrialState.SUCCESS,),
    evaluations_to_spend: int = 1000,
) -> TrialHistory:
    """Ask ``optimizer`` ``rounds`` times for ``n`` proposals; store each as a finished trial.

    The trials take the ``states`` in turn (e.g. success, failed, crashed), which is how a
    contract test builds a history with failures in it.
    """
    history = TrialHistory() if history is None else history
    cycle = [TrialState(s) for s in states]
    for step in range(rounds):
        budget = history.budget(evaluations_to_spend=evaluations_to_spend)
        proposals = ask_unchanged(optimizer, history, budget, n)
        add_proposals(history, optimizer.space, proposals, cycle[step % len(cycle)])
    return history


def ask_unchanged(
    optimizer: Optimizer, history: TrialHistory, budget: BudgetInfo, n: int
) -> list[Proposal]:
    """``optimizer.ask(history, budget, n)``, failing with the cause when ``ask`` changed the
    history (a value inside a config, a trial added): every worker's next ``ask`` and the
    run's summary would read the changed trials, and the run would seem to evaluate
    configurations twice or pair objectives with configurations never evaluated."""
    before = {trial_id: copy.deepcopy(trial) for trial_id, trial in history.items()}
    proposals: Sequence[Proposal] = optimizer.ask(history, budget, n)
    changed = [i for i in history if i not in before or history[i] != before[i]]
    changed += [i for i in before if i not in history]
    assert not changed, (
        f"ask() of optimizer {optimizer.name!r} changed the trial history it was given"
        f" (trials {changed}; {_change(before.get(changed[0]), history.get(changed[0]))}):"
        " ask must read the history only; copy a configuration (dict(trial.config)) to change it"
    )
    return list(proposals)


def _change(old: Trial | None, new: Trial | None) -> str:
    """How one trial changed, by its config where that changed (the common slip)."""
    if old is not None and new is not None and old.config != new.config:
        return f"trial {old.id}'s config {dict(old.config)} became {dict(new.config)}"
    return f"{old} became {new}"


def optimize(
    optimizer: Optimizer,
    objective: Callable[[Mapping[str, Any]], float],
    evaluations: int,
    *,
    cost: Callable[[Mapping[str, Any]], float] | None = None,
) -> TrialHistory:
    """A sequential run without the runtime: ask for one configuration, evaluate it, store it.

    Fast enough for a unit test that checks an optimizer beats random search on a problem;
    ``cost`` (of a configuration) is reported with each result when given.
    """
    history = TrialHistory()
    for _ in range(evaluations):
        [proposal] = optimizer.ask(history, history.budget(), 1)
        spent = None if cost is None else cost(proposal.config)
        value = objective(proposal.config)
        history.put(make_trial(history.next_id(), proposal.config, objective=value, cost=spent))
    return history


def best_objective(history: TrialHistory) -> float:
    """The lowest objective among the successful trials of ``history``."""
    return min(
        float(trial.objective)  # type: ignore[arg-type]
        for trial in history.values()
        if trial.state is TrialState.SUCCESS
    )


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def neps_plugins() -> Plugins:
    """Freshly discovered plugins: registries of optimizers, storages, evaluators, adapters."""
    return load_plugins()


@pytest.fixture
def neps_root(tmp_path: Path) -> Path:
    """A root directory for a run, not created yet."""
    return tmp_path / "neps_root"


@pytest.fixture
def neps_space() -> PipelineSpace:
    """A small space with an integer, a log-scaled integer, a categorical, a float, a constant."""
    return toy_spaces()["mixed"]


@pytest.fixture
def neps_run(neps_root: Path) -> Callable[..., Summary]:
    """Call ``neps_core.run`` with an instant toy objective; keyword arguments override.

    Defaults: ``evaluate_pipeline`` = ``toy_evaluate_pipeline``, the ``neps_space``
    space, ``root_directory`` = ``neps_root`` and ``evaluations_to_spend=5``.
    """

    def run(**overrides: Any) -> Summary:
        arguments: dict[str, Any] = {
            "evaluate_pipeline": toy_evaluate_pipeline,
            "pipeline_space": toy_spaces()["mixed"],
            "root_directory": neps_root,
            "evaluations_to_spend": 5,
        }
        arguments.update(overrides)
        return neps_core.run(**arguments)

    return run


@pytest.fixture
def neps_disable_plugins(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Block plugins by entry-point or distribution name, for this test only.

    Adds them to ``NEPS_CORE_DISABLE_PLUGINS`` (which every later plugin discovery honours),
    keeping what it held: a suite run with a broken plugin blocked keeps it blocked.
    """

    def disable(*names: str) -> None:
        monkeypatch.setenv(DISABLE_ENV, ",".join(names), prepend=",")

    return disable
