"""The ``async`` evaluator: ``evaluate_pipeline`` hands the trial to another system.

The function is called in this process (e.g. it writes a job script and submits it) and
returns ``None``; the trial stays EVALUATING until ``neps_core.save_pipeline_results`` is
called for it from anywhere. ``max_in_flight`` bounds how many such trials one worker may
have waiting at once, so a worker cannot flood a scheduler's queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import attrs

from neps_core import hookimpl
from neps_core.interfaces import Evaluator
from neps_core.validators import at_least
from neps_core_plugins.sync_evaluator import SyncEvaluator


@attrs.frozen
class AsyncSettings:
    """``max_in_flight``: trials of one worker that may wait for their result (None: no bound)."""

    max_in_flight: int | None = attrs.field(default=None, validator=at_least(1))


class AsyncEvaluator(SyncEvaluator):
    """Launches in-process, completes through ``save_pipeline_results``."""

    name: ClassVar[str] = "async"
    Settings: ClassVar[type] = AsyncSettings

    @property
    def max_outstanding(self) -> int | None:
        return self.settings.max_in_flight


@hookimpl
def neps_register_evaluators() -> Sequence[type[Evaluator]]:
    """Register the async evaluator."""
    return [AsyncEvaluator]
