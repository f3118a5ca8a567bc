"""The ``dask`` evaluator plugin: see ``.evaluator`` for what it does, ``.settings`` for its
options, ``.watch`` for how it learns what the workers run without waiting on a busy one."""

from collections.abc import Sequence

from neps_core import hookimpl
from neps_core.interfaces import Evaluator
from neps_core_plugins.dask_evaluator.evaluator import DaskEvaluator, evaluate_remotely
from neps_core_plugins.dask_evaluator.settings import DaskSettings

__all__ = ["DaskEvaluator", "DaskSettings", "evaluate_remotely"]


@hookimpl
def neps_register_evaluators() -> Sequence[type[Evaluator]]:
    """Register the dask evaluator (dask itself is imported only when it is used)."""
    return [DaskEvaluator]
