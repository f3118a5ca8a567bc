"""The options of the ``slurm`` evaluator, and the SLURM time limit a ``timeout`` needs."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import attrs

from neps_core.validators import at_least, one_of, positive

#: The local executor's own default limit is 2 minutes; trials get a week unless told.
LOCAL_DEFAULT_TIMEOUT_MIN = 7 * 24 * 60
#: Seconds SLURM's time limit lies beyond ``timeout``. submitit has SLURM send SIGUSR2 90 s
#: before the limit (SLURM may send it up to 60 s earlier) and then gives the job up as
#: timed out; with a one-minute margin that ended trials long before their ``timeout``.
BACKSTOP_MARGIN_SECONDS = 90 + 60 + 60


def minimum_timeout_min(timeout: float) -> int:
    """The smallest SLURM time limit (minutes) that lets a job run for ``timeout`` seconds."""
    return math.ceil((timeout + BACKSTOP_MARGIN_SECONDS) / 60)


def _known_cluster(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """``None`` (submitit detects one) or an executor submitit knows, those its plugins
    register included; another name failed the first trial. Without submitit, the evaluator
    stops the run saying how to install it."""
    try:
        from submitit.core.plugins import get_executors
    except ImportError:
        return
    one_of((None, *get_executors()))(instance, attribute, value)


@attrs.frozen
class SlurmSettings:
    """Options of ``evaluator={"name": "slurm", ...}``; ``None`` leaves SLURM's default."""

    n_workers: int = attrs.field(default=1, validator=at_least(1))
    timeout: float | None = attrs.field(default=None, validator=positive)
    # None: detect SLURM; "local" / "debug", or an executor of a submitit plugin
    cluster: str | None = attrs.field(default=None, validator=_known_cluster)
    folder: str | None = None  # job files; default: <pipeline_directory>/slurm
    # seconds a finished SLURM job may take to show its result file (a local job: none)
    lost_after: float = attrs.field(default=15.0, validator=at_least(0))
    # seconds between squeue calls (spare the controller)
    queue_poll_interval: float = attrs.field(default=5.0, validator=positive)
    # seconds a job may take to exit after its result (at-exit handlers) before it is ended
    # (a SLURM job by scancel), and a local job after SIGTERM
    kill_grace: float = attrs.field(default=5.0, validator=at_least(0))
    timeout_min: int | None = attrs.field(default=None, validator=at_least(1))
    mem_gb: float | None = None
    nodes: int | None = None
    cpus_per_task: int | None = None
    gpus_per_node: int | None = None
    tasks_per_node: int | None = None
    slurm_partition: str | None = None
    slurm_account: str | None = None
    slurm_qos: str | None = None
    slurm_constraint: str | None = None
    slurm_setup: list[str] | None = None
    slurm_additional_parameters: dict[str, Any] | None = None
    parameters: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        """Refuse what would fail every trial: unknown ``parameters``, too short a limit."""
        self._check_submitit_parameters()
        self._check_time_limit()

    def _check_submitit_parameters(self) -> None:
        """Let submitit check the parameters' names and types now, not at the first submission.

        Its debug executor validates them for every cluster without one (nothing is created);
        without submitit, the evaluator stops the run saying how to install it.
        """
        try:
            from submitit import AutoExecutor
        except ImportError:
            return
        executor = AutoExecutor(folder=Path(tempfile.gettempdir()) / "unused", cluster="debug")
        try:
            executor.update_parameters(**self.submitit_parameters())
        except (NameError, AssertionError) as error:  # submitit's own kinds for these
            raise ValueError(f"parameters refused by submitit: {error}") from None

    def _check_time_limit(self) -> None:
        """Refuse a time limit of one's own that would end jobs before ``timeout``."""
        chosen = self.parameters.get("timeout_min", self.timeout_min)
        if self.timeout is None or chosen is None:
            return
        needed = minimum_timeout_min(self.timeout)
        if chosen < needed:
            raise ValueError(
                f"timeout_min={chosen} ends jobs before timeout={self.timeout:g} s: SLURM's "
                f"limit must leave {BACKSTOP_MARGIN_SECONDS} s beyond it (submitit gives a job "
                f"up 90 s before the limit, SLURM signals up to 60 s earlier), so timeout_min "
                f"must be at least {needed}; leave it out to have it set so"
            )

    def submitit_parameters(self) -> dict[str, Any]:
        """What goes to ``update_parameters``: the options that were set, plus ``parameters``."""
        own = {
            "n_workers",
            "timeout",
            "cluster",
            "folder",
            "lost_after",
            "queue_poll_interval",
            "kill_grace",
            "parameters",
        }
        chosen = {
            name: value
            for name, value in attrs.asdict(self, recurse=False).items()
            if name not in own and value is not None
        }
        if self.timeout is not None and "timeout_min" not in chosen:
            chosen["timeout_min"] = minimum_timeout_min(self.timeout)
        if self.cluster == "local":
            chosen.setdefault("timeout_min", LOCAL_DEFAULT_TIMEOUT_MIN)
        return {**chosen, **self.parameters}
