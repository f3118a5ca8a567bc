"""The ``tensorboard`` observer: each trial's hyperparameters, objective and learning curve.

Needs the ``tensorboard`` extra (``pip install 'neps-core[tensorboard]'``, i.e. tensorboardX;
no TensorFlow or torch). Installing it changes nothing by itself: logging starts only when
asked for, in one of two ways::

    from neps_core_plugins.tensorboard import TensorBoardLogger
    neps.run(..., plugins=[TensorBoardLogger()])          # or TensorBoardLogger("tb_logs")

or ``NEPS_CORE_TENSORBOARD=1`` (or ``=path/to/logs``) in the environment, which also works for
the CLI and for YAML run configs. Each trial gets its own event directory
``<log_dir>/trial_<id>`` (default ``log_dir``: ``<root_directory>/tensorboard``) holding its
HParams session (configuration, final objective and cost) and the scalars
``objective_to_minimize`` and ``learning_curve`` (one point per reported step), so
``tensorboard --logdir <log_dir>`` compares trials in the HParams and Scalars views. Workers of
one run never write to the same file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neps_core import hookimpl
from neps_core.models import Report, Summary, Trial
from neps_core.serialization import to_plain

if TYPE_CHECKING:
    from neps_core.run_context import RunContext

ENVIRONMENT_VARIABLE = "NEPS_CORE_TENSORBOARD"
DEFAULT_DIRECTORY = "tensorboard"
EXTRA_HINT = "TensorBoard logging needs tensorboardX: pip install 'neps-core[tensorboard]'"


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
    """

    def __init__(self, log_dir: str | Path | None = None) -> None:
        _summary_writer()  # fail now, not after the first trial, when the extra is missing
        self.log_dir = None if log_dir is None else Path(log_dir)

    def directory(self, run: RunContext) -> Path:
        """The log directory for ``run``."""
        return self.log_dir or run.root_directory / DEFAULT_DIRECTORY

    @hookimpl
    def neps_trial_finished(self, run: RunContext, trial: Trial, report: Report) -> None:
        """Write the trial's HParams session and scalars."""
        log_trial(self.directory(run) / f"trial_{trial.id}", trial, report)


def log_trial(directory: Path, trial: Trial, report: Report) -> None:
    """Write one trial's event file into ``directory``."""
    from tensorboardX.summary import hparams

    metrics = _metrics(report)
    writer = _summary_writer()(logdir=str(directory), flush_secs=5)
    try:
        hyperparameters = {name: _hparam_value(value) for name, value in trial.config.items()}
        hyperparameters["trial_state"] = trial.state.value
        # The session lists every metric name (NaN where there is none: failed trials still
        # show their configuration in the HParams table).
        declared = {name: value if value is not None else math.nan for name, value in metrics}
        for summary in hparams(hyperparameters, declared):
            writer.file_writer.add_summary(summary)
        step = int(trial.fidelity) if trial.fidelity is not None else 0
        for name, value in metrics:
            if value is not None:
                writer.add_scalar(name, value, step)
        for index, value in enumerate(report.learning_curve or (), start=1):
            writer.add_scalar("learning_curve", value, index)
    finally:
        writer.close()


def _metrics(report: Report) -> list[tuple[str, float | None]]:
    objective = report.objective_to_minimize
    metrics: list[tuple[str, float | None]] = [("objective_to_minimize", None)]
    if isinstance(objective, tuple):
        metrics = [(f"objective_to_minimize/{i}", value) for i, value in enumerate(objective)]
    elif objective is not None:
        metrics = [("objective_to_minimize", objective)]
    return [*metrics, ("cost", report.cost)]


def _hparam_value(value: Any) -> bool | str | float | int:
    plain = to_plain(value)
    if isinstance(plain, bool | str | float | int):
        return plain
    return str(plain)


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
        _from_environment[id(run)] = TensorBoardLogger(log_dir or None)


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
