"""The data model shared by the core and every plugin.

All records are frozen attrs classes: a trial is never mutated in place, a new version is made
with ``attrs.evolve`` and handed to storage. That keeps the view an optimizer receives
trustworthy while other workers keep writing.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:
    from neps_core.shown_configs import ConfigReader, ShownConfigs
    from neps_core.space import PipelineSpace


class TrialState(str, enum.Enum):
    """The life cycle of a trial.

    ``PENDING`` trials wait for a worker, ``EVALUATING`` ones are claimed by a worker (or wait
    for an asynchronous result), the other four are final.
    """

    PENDING = "pending"
    EVALUATING = "evaluating"
    SUCCESS = "success"
    FAILED = "failed"
    CRASHED = "crashed"
    CORRUPTED = "corrupted"

    @property
    def is_final(self) -> bool:
        """Whether a trial in this state will never change again."""
        return self not in (TrialState.PENDING, TrialState.EVALUATING)


Objective = float | tuple[float, ...]
#: A fidelity value: an ``int`` for an integer fidelity stays one when read back.
FidelityValue = int | float


@attrs.frozen
class Report:
    """What an evaluation produced: the user's result, normalized.

    ``objective_to_minimize`` is a float, a tuple of floats for multi-objective runs, or
    ``None`` for a failed evaluation without a substitute value. ``extra`` keeps every key the
    user returned beyond the reserved ones, so nothing the user reports is dropped.
    """

    objective_to_minimize: Objective | None
    cost: float | None = None
    learning_curve: tuple[float, ...] | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    error: str | None = None
    traceback: str | None = None
    evaluation_duration: float | None = None

    @property
    def reported_learning_curve(self) -> tuple[float, ...] | None:
        """``learning_curve`` unless it is the default of a result that gave none, the
        objective as one point (NePS's): plots and loggers draw only curves with more in them.
        """
        curve = self.learning_curve
        default = default_learning_curve(self.objective_to_minimize)
        if curve is None or default is None:
            return curve
        return None if np.array_equal(curve, default, equal_nan=True) else curve

    @property
    def err(self) -> str | None:
        """NePS's name of ``error`` (there an exception, here its text)."""
        return self.error

    @property
    def tb(self) -> str | None:
        """NePS's name of ``traceback``."""
        return self.traceback


def default_learning_curve(objective: Objective | None) -> tuple[float, ...] | None:
    """The learning curve of a result that reports none: its objective as one point, as NePS
    stores it (none for several objectives, which a curve of floats cannot hold)."""
    return (objective,) if isinstance(objective, float) else None


def trial_id(pipeline_id: str | int) -> str:
    """A trial's id from its id or its folder's name (``config_<id>``, NePS's pipeline id)."""
    return str(pipeline_id).removeprefix("config_")


def id_order(trial_id: str) -> tuple[int, str]:
    """Sort key of trial ids in the order they were made: "2" before "10"."""
    return len(trial_id), trial_id


@attrs.frozen
class Trial:
    """One configuration and everything that happened to it.

    ``fidelity`` is the value of the space's fidelity parameter in ``config`` (``None`` when the
    space has none); it is stored so that fidelity budgets never need the space to be counted.
    ``previous_trial_id`` links a promotion to the lower-fidelity trial it continues.
    ``attempts`` counts how often the trial was handed to a worker (re-queues after a crash);
    ``last_heartbeat`` is when its worker last proved to be alive. ``optimizer`` names the
    optimizer that proposed the trial (``None`` for imported trials and older runs): a run
    continued with another optimizer, or ``"auto"`` switching, shows in it.
    """

    id: str
    config: Mapping[str, Any]
    state: TrialState
    created_at: float
    worker_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    previous_trial_id: str | None = None
    fidelity: FidelityValue | None = None
    attempts: int = 0
    last_heartbeat: float | None = None
    report: Report | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    optimizer: str | None = None

    @property
    def objective(self) -> Objective | None:
        """The reported objective, or ``None`` when there is none (yet)."""
        return None if self.report is None else self.report.objective_to_minimize

    @property
    def cost(self) -> float | None:
        """The reported cost, or ``None``."""
        return None if self.report is None else self.report.cost


#: A proposal's metadata key saying its fidelity was drawn like any other parameter (NePS's
#: ``ignore_fidelity=False``), not set by a schedule: its trial then competes for the best
#: whatever its fidelity, rather than only at the highest fidelity reached.
FIDELITY_SEARCHED = "fidelity_searched"


@attrs.frozen
class Proposal:
    """An optimizer's suggestion: a configuration, and the trial it continues (if any).

    ``metadata`` goes into the trial's metadata (e.g. ``{FIDELITY_SEARCHED: True}``).
    """

    config: Mapping[str, Any]
    previous_trial_id: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class BudgetInfo:
    """The global budget of a run and how much of it all workers together have used."""

    evaluations_to_spend: int | None = None
    cost_to_spend: float | None = None
    fidelities_to_spend: float | None = None
    used_evaluations: int = 0
    used_cost: float = 0.0
    used_fidelities: float = 0.0

    @property
    def remaining_evaluations(self) -> int | None:
        """Evaluations that may still be started, ``None`` when unbounded."""
        if self.evaluations_to_spend is None:
            return None
        return max(0, self.evaluations_to_spend - self.used_evaluations)

    @property
    def remaining_cost(self) -> float | None:
        """Cost that may still be spent, ``None`` when unbounded."""
        if self.cost_to_spend is None:
            return None
        return max(0.0, self.cost_to_spend - self.used_cost)

    @property
    def remaining_fidelities(self) -> float | None:
        """Fidelity units that may still be spent, ``None`` when unbounded."""
        if self.fidelities_to_spend is None:
            return None
        return max(0.0, self.fidelities_to_spend - self.used_fidelities)

    @property
    def exhausted_by(self) -> str | None:
        """The name of the first budget that is used up, or ``None``."""
        checks = (
            ("evaluations_to_spend", self.remaining_evaluations),
            ("cost_to_spend", self.remaining_cost),
            ("fidelities_to_spend", self.remaining_fidelities),
        )
        return next((name for name, left in checks if left is not None and left <= 0), None)


@attrs.frozen
class RunInfo:
    """What a root directory was started with; a continued run is checked against it."""

    space: Mapping[str, Any]
    optimizer: str
    optimizer_settings: Mapping[str, Any] = attrs.field(factory=dict)
    seed: int | None = None
    created_at: float = 0.0
    #: The absolute root directory the run was started in: a database given by URL tells
    #: its own root from a copy of it (whose ``storage.yaml`` names the same database).
    root_directory: str | None = None


@attrs.frozen
class Summary:
    """The outcome of a run: counts by state, the best trial and the budget used."""

    root_directory: str
    counts: Mapping[str, int]
    best_trial: Trial | None
    budget: BudgetInfo
    pareto_front: Sequence[Trial] = ()
    #: The best configuration as ``evaluate_pipeline`` received it (operations as text), where
    #: that differs from ``best_config``: a categorical of tuples or operations stores an index.
    best_pipeline: Mapping[str, Any] | None = None
    #: Every trial of the run, for the tables of ``to_dataframe`` and NePS's unpacking.
    trials: Sequence[Trial] = attrs.field(default=(), repr=False, eq=False)
    #: ``best_pipeline`` for each trial of ``pareto_front``, in its order (or empty).
    pareto_pipelines: Sequence[Mapping[str, Any] | None] = ()
    #: The run's space, where it is known: the tables and NePS's summary files show each
    #: configuration as ``evaluate_pipeline`` received it (``neps_core.summary.shown_config``).
    #: ``None`` once pickled (operations may be lambdas): ``shown_configs`` stands in for it.
    space: PipelineSpace | None = attrs.field(default=None, repr=False, eq=False)
    #: What the space showed of the trials' configurations, in an unpickled summary (an
    #: argument, so that ``attrs.evolve`` of an unpickled summary keeps showing them).
    shown_configs: ShownConfigs | None = attrs.field(
        default=None, kw_only=True, repr=False, eq=False
    )

    @property
    def config_reader(self) -> ConfigReader | None:
        """What shows the configurations: the space, or what it showed before pickling."""
        return self.shown_configs if self.space is None else self.space

    def __getstate__(self) -> dict[str, Any]:
        """Without the space, which may not pickle, but with what it shows of the trials."""
        from neps_core.shown_configs import ShownConfigs

        state = {field.name: getattr(self, field.name) for field in attrs.fields(Summary)}
        if self.space is not None:
            configs = (trial.config for trial in self.trials)
            state.update(space=None, shown_configs=ShownConfigs.of(self.space, configs))
        return state

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def __copy__(self) -> Summary:
        """A copy that keeps the space: only pickling leaves it out (``copy`` would use
        ``__getstate__`` too)."""
        return attrs.evolve(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Summary:
        """A deep copy that keeps the space, as ``__copy__``."""
        fields = attrs.fields(Summary)
        return Summary(**{f.name: copy.deepcopy(getattr(self, f.name), memo) for f in fields})

    def to_dataframe(self) -> Any:
        """The trials as a pandas ``DataFrame`` (see :mod:`neps_core.frames`; needs pandas)."""
        from neps_core.frames import trials_frame

        return trials_frame(self.trials, self.config_reader)

    def __iter__(self) -> Iterator[Any]:
        """``full, short = neps.status(root)``, as in NePS: the trials as a pandas
        ``DataFrame`` and a short ``Series`` of counts and the best trial (needs pandas)."""
        from neps_core.frames import status_frames

        return iter(status_frames(self))

    @property
    def best_config(self) -> Mapping[str, Any] | None:
        """The configuration of the best trial, ``None`` before any success."""
        return None if self.best_trial is None else self.best_trial.config

    @property
    def best_objective(self) -> Objective | None:
        """The objective of the best trial, ``None`` before any success."""
        return None if self.best_trial is None else self.best_trial.objective
