"""The ``slurm`` evaluator plugin: see ``.evaluator`` for what it does, ``.settings`` for its
options, ``.jobs`` for what runs inside a job and how jobs are looked up, ``.local_groups``
for the process groups of ``cluster="local"`` jobs."""

from collections.abc import Sequence

from neps_core import hookimpl
from neps_core.interfaces import Evaluator
from neps_core_plugins.slurm_evaluator.evaluator import SlurmEvaluator, SlurmJobLostError
from neps_core_plugins.slurm_evaluator.jobs import evaluate_in_job
from neps_core_plugins.slurm_evaluator.settings import LOCAL_DEFAULT_TIMEOUT_MIN, SlurmSettings

__all__ = [
    "LOCAL_DEFAULT_TIMEOUT_MIN",
    "SlurmEvaluator",
    "SlurmJobLostError",
    "SlurmSettings",
    "evaluate_in_job",
]


@hookimpl
def neps_register_evaluators() -> Sequence[type[Evaluator]]:
    """Register the slurm evaluator (submitit is imported only when it is used)."""
    return [SlurmEvaluator]
