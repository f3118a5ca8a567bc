"""The ``tensorboard`` observer: each trial's hyperparameters, objective and learning curve.

Needs the ``tensorboard`` extra (``pip install 'neps-core[tensorboard]'``, i.e. tensorboardX;
no TensorFlow or torch). Installing it changes nothing by itself: logging starts only when
asked for, in one of two ways::

    from neps_core_plugins.tensorboard import TensorBoardLogger
    neps.run(..., plugins=[TensorBoardLogger()])          # or TensorBoardLogger("tb_logs")

or ``NEPS_CORE_TENSORBOARD=1`` (or ``=path/to/logs``) in the environment, which also works for
the CLI and for YAML run configs. Each trial gets its own event directory
``<log_dir>/trial_<id>`` (default ``log_dir``: ``<root_directory>/tensorboard``) holding its
HParams session (configuration as ``evaluate_pipeline`` received it, final objective and
cost; a trial that did not succeed is a failed session) and the scalars
``objective_to_minimize`` (``objective_to_minimize/<i>`` for each of several objectives,
failed trials of such a run included) and ``learning_curve`` (one point per reported step;
none for the one-point curve a result without one gets, which is its objective), so
``tensorboard --logdir <log_dir>`` compares trials in the HParams and Scalars views. Workers of
one run never write to the same file.

A log directory that cannot be created stops the run before its first trial (a
``SettingsError`` naming it); a write that fails later (a full disk) is a warning, and the
logger writes nothing more into that directory for the rest of the run, which goes on. A
configuration tensorboardX cannot turn into an HParams session is a warning too (once a run,
naming the trial): that trial's scalars are still logged, and the run goes on.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neps_core import hookimpl
from neps_core.errors import SettingsError
from neps_core.models import Report, Summary, Trial, TrialState
from neps_core.serialization import to_plain
from neps_core.summary import as_passed
from neps_core.user_paths import user_path

if TYPE_CHECKING:
    from neps_core.run_context import RunContext
    from neps_core.space import PipelineSpace

ENVIRONMENT_VARIABLE = "NEPS_CORE_TENSORBOARD"
DEFAULT_DIRECTORY = "tensorboard"
EXTRA_HINT = "TensorBoard logging needs tensorboardX: pip install 'neps-core[tensorboard]'"

logger = logging.getLogger(__name__)


def _summary_writer() -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError as error:
        raise ImportError(EXTRA_HINT) from error
    return SummaryWriter


class TensorBoardLogger:
    """Pass an instance in ``run(..., plugins=[TensorBoardLogger()])`` to log every trial.

    Args:
        log_dir: Where the event directories go; default ``<root_directory>/tensorboard``.
            It is created now, so that a path that cannot be one fails here.
    """

    def __init__(self, log_dir: str | Path | None = None) -> None:
        _summary_writer()  # fail now, not after the first trial, when the extra is missing
        self.log_dir = (
            None if log_dir is None else prepared_directory(user_path(log_dir, "log_dir"))
        )
        self._unwritable: set[Path] = set()  # directories a write failed in, for this run
        self._hparams_warned = False  # a refused configuration was warned about in this run
        self._objectives: int | None = None  # the run's number of objectives, once known
        self._undeclared: set[str] = set()  # ids of trials that failed before that was known

    def directory(self, run: RunContext) -> Path:
        """The log directory for ``run``."""
        return self.log_dir or run.root_directory / DEFAULT_DIRECTORY

    @hookimpl
    def neps_run_started(self, run: RunContext) -> None:
        """Create the log directory (the default one needs the run's root) before any trial."""
        directory = prepared_directory(self.directory(run))
        self._unwritable.discard(directory)
        self._hparams_warned = False
        self._objectives = None
        self._undeclared.clear()

    @hookimpl
    def neps_trial_finished(self, run: RunContext, trial: Trial, report: Report) -> None:
        """Write the trial's HParams session and scalars; a failed write stops the logging,
        not the run."""
        directory = self.directory(run)
        if directory in self._unwritable:
            return
        known = self._objectives
        objectives = self._objective_count(run, trial, report)
        logged = [(trial, report)]
        if objectives is None:
            self._undeclared.add(trial.id)
        elif known is None:  # learned now: declare the failures before, if there are several
            logged += self._undeclared_trials(run) if objectives > 1 else []
            self._undeclared.clear()
        several = objectives if objectives is not None and objectives > 1 else None
        try:
            for each, its_report in logged:
                refused = log_trial(
                    directory / f"trial_{each.id}", each, its_report, run.space, several
                )
                if refused is not None:
                    self._warn_hparams_refused(each, refused)
        except OSError as error:
            self._unwritable.add(directory)
            logger.warning(
                "TensorBoard logging into %s stopped at trial %s, the run goes on: %s",
                directory,
                trial.id,
                error,
            )
            return

    def _objective_count(self, run: RunContext, trial: Trial, report: Report) -> int | None:
        """The run's number of objectives (1 for one), ``None`` while none is known.

        A failed trial has no objectives of its own: declared single-objective, it hid the
        per-objective columns, as TensorBoard takes one trial's declaration for all. Once
        known, the storage is not read again for it.
        """
        objective = report.objective_to_minimize
        if isinstance(objective, tuple):
            self._objectives = len(objective)
        elif self._objectives is None and trial.state is TrialState.SUCCESS:
            self._objectives = 1
        elif self._objectives is None:
            history = run.storage.sync()  # another worker's success tells, say
            first = history.first_multi_objective()
            if first is not None and isinstance(first.objective, tuple):
                self._objectives = len(first.objective)
            elif history.count(TrialState.SUCCESS):  # successes, none with several
                self._objectives = 1
        return self._objectives

    def _undeclared_trials(self, run: RunContext) -> list[tuple[Trial, Report]]:
        """The failed trials logged before the run's objectives were known, from storage."""
        history = run.storage.sync()
        trials = (history[trial_id] for trial_id in self._undeclared)
        return [(trial, trial.report) for trial in trials if trial.report is not None]

    def _warn_hparams_refused(self, trial: Trial, error: Exception) -> None:
        """Warn once a run: a configuration tensorboardX refuses would refuse again each trial."""
        level = logging.DEBUG if self._hparams_warned else logging.WARNING
        self._hparams_warned = True
        logger.log(
            level,
            "TensorBoard cannot log the configuration of trial %s in the HParams view, only its"
            " scalars (later such trials are not warned about again; the run goes on): %s: %s",
            trial.id,
            type(error).__name__,
            error,
        )


def prepared_directory(directory: Path) -> Path:
    """``directory``, created if need be; a ``SettingsError`` naming it if it cannot be."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SettingsError(
            f"TensorBoard log directory {directory} cannot be created: {error}"
        ) from error
    if not os.access(directory, os.W_OK | os.X_OK):
        raise SettingsError(f"TensorBoard log directory {directory} is not writable")
    return directory


def log_trial(
    directory: Path,
    trial: Trial,
    report: Report,
    space: PipelineSpace | None = None,
    objectives: int | None = None,
) -> Exception | None:
    """Write one trial's event file into ``directory``, replacing any written before.

    With ``space``, the configuration is logged as ``evaluate_pipeline`` received it (an
    operation as ``Linear(in_features=64)``, not the index of its choice). ``objectives`` is
    the run's number of objectives when it has several. Returns the error tensorboardX refused
    the configuration with (its scalars are still written), else ``None``.
    """
    from tensorboardX.summary import hparams

    for earlier in directory.glob("events.out.tfevents.*"):
        earlier.unlink()
    metrics = _metrics(report, objectives)
    passed = None if space is None else as_passed(space, trial.config)
    writer = _summary_writer()(logdir=str(directory), flush_secs=5)
    refused: Exception | None = None
    try:
        hyperparameters = {
            name: _hparam_value(value) for name, value in (passed or trial.config).items()
        }
        hyperparameters["trial_state"] = trial.state.value
        # The session lists every metric name (NaN where there is none: failed trials still
        # show their configuration in the HParams table).
        declared = {name: value if value is not None else math.nan for name, value in metrics}
        try:
            experiment, start, end = hparams(hyperparameters, declared)
        except Exception as error:  # whatever tensorboardX refuses must not stop the run
            refused = error
        else:
            for summary in (experiment, start, _with_status(end, trial.state)):
                writer.file_writer.add_summary(summary)
        step = int(trial.fidelity) if trial.fidelity is not None else 0
        for name, value in metrics:
            if value is not None:
                writer.add_scalar(name, value, step)
        for index, value in enumerate(report.reported_learning_curve or (), start=1):
            writer.add_scalar("learning_curve", value, index)
    finally:
        writer.close()
    return refused


def _with_status(session_end: Any, state: TrialState) -> Any:
    """The session's end marked failed for a trial that did not succeed (tensorboardX marks
    every session a success)."""
    from tensorboardX.proto.api_pb2 import Status
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    if state is TrialState.SUCCESS:
        return session_end
    plugin_data = session_end.value[0].metadata.plugin_data
    content = HParamsPluginData.FromString(plugin_data.content)
    content.session_end_info.status = Status.Value("STATUS_FAILURE")
    plugin_data.content = content.SerializeToString()
    return session_end


def _metrics(report: Report, objectives: int | None = None) -> list[tuple[str, float | None]]:
    """``objective_to_minimize/<i>`` for each of a run's several ``objectives`` (a failed
    trial's ``objective_value_on_error``, or nothing, under each), else
    ``objective_to_minimize``; and ``cost``."""
    objective = report.objective_to_minimize
    cost: tuple[str, float | None] = ("cost", report.cost)
    if isinstance(objective, tuple):
        values: tuple[float | None, ...] = objective
    elif objectives is not None:
        values = (objective,) * objectives
    else:
        return [("objective_to_minimize", objective), cost]
    return [*((f"objective_to_minimize/{i}", value) for i, value in enumerate(values)), cost]


def _hparam_value(value: Any) -> bool | str | float | int:
    """A value tensorboardX takes: it stores numbers as doubles and refuses an int NumPy has
    no integer type for, so such an int becomes a float, or its text beyond a float's range."""
    plain = to_plain(value)
    if isinstance(plain, int) and not isinstance(plain, bool) and not _numpy_int(plain):
        try:
            return float(plain)
        except OverflowError:
            return str(plain)
    if isinstance(plain, bool | str | float | int):
        return plain
    return str(plain)


def _numpy_int(number: int) -> bool:
    return -(2**63) <= number < 2**64


# -- enabled through the environment ------------------------------------------------------------
_from_environment: dict[int, TensorBoardLogger] = {}


def _environment_log_dir() -> str | None:
    """``None`` when logging is off; ``""`` for the default directory; else a path."""
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return None
    return "" if value.lower() in ("1", "true", "yes", "on") else value


@hookimpl
def neps_run_started(run: RunContext) -> None:
    """Start logging when ``NEPS_CORE_TENSORBOARD`` asks for it."""
    log_dir = _environment_log_dir()
    if log_dir is not None:
        try:
            environment_logger = TensorBoardLogger(log_dir or None)
            environment_logger.neps_run_started(run)
        except SettingsError as error:
            setting = f"{ENVIRONMENT_VARIABLE}={os.environ[ENVIRONMENT_VARIABLE]}"
            raise SettingsError(f"{setting}: {error}") from error
        _from_environment[id(run)] = environment_logger


@hookimpl
def neps_trial_finished(run: RunContext, trial: Trial, report: Report) -> None:
    """Log the trial when logging was started through the environment."""
    logger = _from_environment.get(id(run))
    if logger is not None:
        logger.neps_trial_finished(run, trial, report)


@hookimpl
def neps_run_finished(run: RunContext, summary: Summary) -> None:
    """Forget the run."""
    _from_environment.pop(id(run), None)
