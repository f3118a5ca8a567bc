"""What a worker's run consists of, as observer hooks see it, and the arguments the framework
passes to ``evaluate_pipeline`` by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from neps_core.config import RunSettings
from neps_core.evaluation.children import INJECTABLE
from neps_core.interfaces import Evaluator, Optimizer, Storage
from neps_core.plugin_manager import Plugins
from neps_core.space import PipelineSpace


@attrs.define
class RunContext:
    """What observer hooks see of a worker's run.

    ``open_storage`` opens another handle on the same run (for the heartbeat thread).
    ``run_seed`` is the seed the run was started with (``run_info``'s), which
    ``load_config`` builds a trial's configuration under, whatever ``settings.seed`` this
    worker was given.
    """

    settings: RunSettings
    space: PipelineSpace
    storage: Storage
    optimizer: Optimizer
    evaluator: Evaluator
    plugins: Plugins
    open_storage: Callable[[], Storage]
    run_seed: int | None

    @property
    def worker_id(self) -> str:
        """This worker's id."""
        return self.settings.worker_id

    @property
    def root_directory(self) -> Path:
        """The run's root directory."""
        return self.settings.root_directory


def injected_names(function: Callable[..., Any]) -> tuple[str, ...]:
    """The framework arguments ``function`` asks for by name (never through ``**kwargs``).

    A wrapper (``functools.wraps``) asks for what the function it wraps names, if it can
    take it: through ``**kwargs`` or a parameter of its own, else every call would fail.
    """
    try:
        asked = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return ()
    try:
        own = inspect.signature(function, follow_wrapped=False).parameters
    except (TypeError, ValueError):  # a C wrapper such as functools.cache passes all on
        own = asked
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in own.values())
    return tuple(name for name in INJECTABLE if name in asked and (takes_any or name in own))
