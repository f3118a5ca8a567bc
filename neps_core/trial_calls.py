"""What one trial's evaluation is called with: the function's arguments and its context.

The context (``TrialContext``: the trial, its folders and, in a seeded run, its seed) travels
with the job to wherever the evaluator calls the function; the arguments are the trial's
configuration resolved (an ``Operation`` built) plus what the function names of ``INJECTABLE``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from neps_core.config import RunSettings
from neps_core.evaluation.seeding import generators_kept, seeded
from neps_core.evaluation.trial_context import TrialContext
from neps_core.interfaces import Storage
from neps_core.models import Trial
from neps_core.randomness import trial_seed
from neps_core.space import PipelineSpace


def trial_context(
    trial: Trial, directory: Path, storage: Storage, settings: RunSettings
) -> TrialContext:
    """The context of ``trial``'s evaluation in ``directory``."""
    previous = trial.previous_trial_id
    return TrialContext(
        trial_id=trial.id,
        pipeline_directory=directory,
        previous_pipeline_directory=None if previous is None else storage.trial_directory(previous),
        root_directory=settings.root_directory,
        seed=None if settings.seed is None else trial_seed(settings.seed, trial.id),
    )


def call_arguments(
    trial: Trial,
    context: TrialContext,
    space: PipelineSpace,
    injected: Iterable[str],
    seed: int | None,
) -> dict[str, Any]:
    """``trial``'s configuration as the function receives it, and the injected values it names."""
    available = {
        "pipeline_directory": context.pipeline_directory,
        "previous_pipeline_directory": context.previous_pipeline_directory,
        "pipeline_id": trial.id,
        "root_directory": context.root_directory,
    }
    arguments = built_config(space, trial.config, trial.id, seed)
    arguments.update((name, available[name]) for name in injected)
    return arguments


def built_config(
    space: PipelineSpace, config: Mapping[str, Any], trial_id: str, run_seed: int | None
) -> dict[str, Any]:
    """``config`` of the trial ``trial_id`` resolved by ``space``, an operation built under the
    trial's own seed (from the run's ``run_seed``): its draws (a layer's initial weights) are
    the trial's, whichever process or call builds it, ``load_config`` too. (Seeding leaves
    the global generators seeded, as an evaluation does.)"""
    with seeded(None if run_seed is None else trial_seed(run_seed, trial_id, "build")):
        return space.resolve(config)


def built_for_the_user(
    space: PipelineSpace, config: Mapping[str, Any], trial_id: str, run_seed: int | None
) -> dict[str, Any]:
    """``built_config`` in the user's process (``load_config``, ``AskAndTell.ask``), whose
    global generators are the user's: in a seeded run they are put back as they were. In an
    unseeded one nothing is seeded, so they are left alone: putting them back would replay
    the draws of the build in the user's next ones."""
    if run_seed is None:
        return space.resolve(config)
    with generators_kept():
        return built_config(space, config, trial_id, run_seed)
