"""The settings of an ask-and-tell client: ``run()``'s, less those of a loop neps_core runs.

``AskAndTell`` takes ``run()``'s settings by keyword. The caller evaluates the trials itself,
so a setting about evaluating them would be accepted and do nothing: it is refused, named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neps_core.config import RunSettings, canonical_name
from neps_core.errors import SettingsError
from neps_core.evaluation.main_script import refuse_while_a_child_imports_the_script
from neps_core.interfaces import Optimizer
from neps_core.optimizer_choice import Algorithm, ConfiguredOptimizer, neps_client_root

#: ``run()`` settings that mean nothing to a client, and why.
RUN_ONLY_SETTINGS = {
    "evaluate_pipeline": "your loop evaluates the trials ask() returns and tells their results",
    "evaluator": "your loop decides where the trials run",
    "continue_until_max_evaluation_completed": "ask() never waits: it returns None, and "
    "stop_reason names the trials whose results it waits for",
    "ignore_errors": "tell() stores an exception result as a failed trial and never raises it",
}


def client_settings(
    pipeline_space: Any, root_directory: str | Path | None, optimizer: Any, **given: Any
) -> RunSettings:
    """The settings of a client; NePS's ``AskAndTell(algorithm(space))`` included.

    Raises:
        SettingsError: A setting only ``run()`` uses was given (under any of its names).
    """
    refuse_while_a_child_imports_the_script("AskAndTell()")
    refused = [key for key, value in given.items() if value is not None and _run_only(key)]
    if refused:
        raise SettingsError(
            "AskAndTell does not take "
            + "; ".join(f"{key}= ({RUN_ONLY_SETTINGS[canonical_name(key)]})" for key in refused)
        )
    if isinstance(pipeline_space, ConfiguredOptimizer):  # NePS's AskAndTell(algorithm(space))
        root_directory = neps_client_root(pipeline_space, optimizer, root_directory)
        pipeline_space, optimizer = pipeline_space.pipeline_space, pipeline_space
    elif isinstance(pipeline_space, Algorithm | Optimizer) or (
        isinstance(pipeline_space, type) and issubclass(pipeline_space, Optimizer)
    ):
        raise SettingsError(
            "AskAndTell needs the space with the optimizer: as in NePS, "
            "AskAndTell(neps.algorithms.hyperband(space, eta=3)), or "
            "AskAndTell(space, root_directory, optimizer=('hyperband', {'eta': 3}))"
        )
    return RunSettings.from_kwargs(
        pipeline_space=pipeline_space,
        root_directory="neps_results" if root_directory is None else root_directory,
        optimizer=optimizer,
        **given,
    )


def _run_only(key: str) -> bool:
    return canonical_name(key) in RUN_ONLY_SETTINGS
