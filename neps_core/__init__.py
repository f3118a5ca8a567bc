"""neps_core: hyperparameter optimization and neural pipeline search, NePS-compatible.

The public API; everything else is reachable through its submodules.
"""

from neps_core.api import (
    load_config,
    load_pipeline_space,
    run,
    save_pipeline_results,
    status,
)
from neps_core.errors import (
    DuplicatePluginError,
    NepsCoreError,
    PluginLoadError,
    SettingsError,
    SpaceMismatchError,
    TrialAlreadyReportedError,
    TrialNotFoundError,
    UnknownPluginError,
)
from neps_core.hookspecs import hookimpl
from neps_core.models import BudgetInfo, Proposal, Report, Summary, Trial, TrialState
from neps_core.space import (
    Categorical,
    Constant,
    Fidelity,
    Float,
    FloatFidelity,
    Integer,
    IntegerFidelity,
    PipelineSpace,
)

__version__ = "0.1.0"

__all__ = [
    "BudgetInfo",
    "Categorical",
    "Constant",
    "DuplicatePluginError",
    "Fidelity",
    "Float",
    "FloatFidelity",
    "Integer",
    "IntegerFidelity",
    "NepsCoreError",
    "PipelineSpace",
    "PluginLoadError",
    "Proposal",
    "Report",
    "SettingsError",
    "SpaceMismatchError",
    "Summary",
    "Trial",
    "TrialAlreadyReportedError",
    "TrialNotFoundError",
    "TrialState",
    "UnknownPluginError",
    "__version__",
    "hookimpl",
    "load_config",
    "load_pipeline_space",
    "run",
    "save_pipeline_results",
    "status",
]
