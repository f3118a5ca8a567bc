"""The ``process_pool`` evaluator plugin: see ``.evaluator`` for what it does and its options,
``.pool_process`` for what runs in a pool process."""

from collections.abc import Sequence

from neps_core import hookimpl
from neps_core.interfaces import Evaluator
from neps_core_plugins.process_pool_evaluator.evaluator import (
    PoolClosedError,
    PoolWorkerDiedError,
    ProcessPoolEvaluator,
    ProcessPoolSettings,
)

__all__ = ["PoolClosedError", "PoolWorkerDiedError", "ProcessPoolEvaluator", "ProcessPoolSettings"]


@hookimpl
def neps_register_evaluators() -> Sequence[type[Evaluator]]:
    """Register the process pool evaluator."""
    return [ProcessPoolEvaluator]
