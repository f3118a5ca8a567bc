"""The ``async`` evaluator: ``evaluate_pipeline`` hands the trial to another system.

The function is called in this process (e.g. it writes a job script and submits it) and
returns ``None``; the trial stays EVALUATING until ``neps_core.save_pipeline_results`` is
called for it from anywhere. ``max_in_flight`` bounds how many such trials one worker may
have waiting at once, so a worker cannot flood a scheduler's queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from neps_core import hookimpl
from neps_core.interfaces import Evaluator
from neps_core_plugins.sync_evaluator import SyncEvaluator


def _at_least_one(_: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"async evaluator: {attribute.name} must be at least 1, got {value}")


@attrs.frozen
class AsyncSettings:
    """``max_in_flight``: trials of one worker that may wait for their result (None: no bound)."""

    max_in_flight: int | None = attrs.field(default=None, validator=_at_least_one)


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
