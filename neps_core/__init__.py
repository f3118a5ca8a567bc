"""neps_core: hyperparameter optimization and neural pipeline search, NePS-compatible.

The public API; everything else is reachable through its submodules.
"""

import importlib
import importlib.util
import sys
import types
import typing
import warnings

if typing.TYPE_CHECKING:  # the names below, which run-time code imports on first use (__getattr__)
    from neps_core import algorithms, tblogger
    from neps_core.api import plot, run, save_pipeline_results, status
    from neps_core.ask_and_tell import AskAndTell, AskedTrial
    from neps_core.errors import (
        ArgumentsError,
        ConfigIdMissingError,
        DuplicatePluginError,
        EvaluationLostError,
        EvaluationTimeoutError,
        InvalidParameterError,
        LiveWorkersError,
        MigrationError,
        MissingCostError,
        NepsCoreError,
        NoAllowedConfigurationError,
        NoAllowedMutationError,
        ObjectiveCountError,
        PluginLoadError,
        SettingsError,
        SpaceMismatchError,
        StorageError,
        StorageInUseError,
        TrialAlreadyReportedError,
        TrialNotFoundError,
        UnknownParameterError,
        UnknownPluginError,
    )
    from neps_core.evaluation.processes import Command
    from neps_core.hookspecs import hookimpl
    from neps_core.importing import import_trials
    from neps_core.loading import load_config, load_optimizer_info, load_pipeline_space
    from neps_core.models import BudgetInfo, Proposal, Report, Summary, Trial, TrialState
    from neps_core.neps_results import read_neps_results
    from neps_core.profiling import profile
    from neps_core.result_contract import UserResultDict
    from neps_core.space import (
        ByName,
        Categorical,
        CategoricalParameter,
        ConfidenceLevel,
        Constant,
        ConstantParameter,
        Fidelity,
        Float,
        FloatFidelity,
        FloatParameter,
        Integer,
        IntegerFidelity,
        IntegerParameter,
        Operation,
        PipelineSpace,
        Resampled,
    )

    #: NePS's other name of ``Resampled`` (``neps.Resample("name")``).
    Resample = Resampled

__version__ = "0.1.0"

# Python shows a DeprecationWarning only when it points into __main__; ours about NePS's old
# names are raised inside neps_core (a run config's keys, a result's 'loss'), so a script or
# the CLI would never see them. Show each once, for this package's warnings only.
warnings.filterwarnings("default", category=DeprecationWarning, module=r"neps_core(\.|$)")

#: NePS's public names that neps_core has no counterpart of, and what to use instead.
_STATE_HINT = (
    "status(root) to read a run's trials, AskAndTell to sample and report trials safely "
    "beside other workers, import_trials to add some (NePS's NePSState is internal; see "
    "docs/neps.md)"
)
_NEPS_ONLY = {
    "create_config": "a configuration written as a dict, checked by "
    "PipelineSpace.validate_config and recorded with import_trials",
    "load_yamls": "run(run_config='run.yaml'), or neps_core.run_config.load_run_config",
    "utils": "status(root).trials or status(root).to_dataframe() for a run's trials",
    "save_evaluation_results": "save_pipeline_results (same arguments)",
    "Pipeline": "PipelineSpace (NePS's later name of its space class)",
    "state": _STATE_HINT,
    "NePSState": _STATE_HINT,
    "create_or_load_filebased_neps_state": _STATE_HINT,
    "SearchSpace": "a dict of parameters, {'lr': Float(...), ...}, or a PipelineSpace: NePS's "
    "classic SearchSpace({...}) is that dict here",
    "HPOFloat": "Float (the same arguments: lower, upper, log, prior, prior_confidence, "
    "is_fidelity)",
    "HPOInteger": "Integer (the same arguments: lower, upper, log, prior, prior_confidence, "
    "is_fidelity)",
    "HPOCategorical": "Categorical (its prior is the index of the preferred choice, or that "
    "choice itself where it is not also an index)",
    "HPOConstant": "Constant (the same argument, value)",
    "SampledConfig": "an Optimizer subclass whose ask() returns Proposals (neps_core.Proposal) "
    "where NePS's custom optimizers return SampledConfigs, see docs/plugins/index.md",
    "convert_operation_to_callable": "the value evaluate_pipeline receives: an Operation "
    "arrives already called (a ready torch.nn.Module, say), see docs/spaces/language.md",
    "warmstart_neps": "import_trials(evaluated_trials, root_directory, pipeline_space) with "
    "the configurations (plain or NePS's resolution records) and their results, before run()",
    "load_and_merge_yamls": "run(run_config='run.yaml') with run()'s arguments on top, or "
    "neps_core.run_config.load_run_config(path, overrides) for the merged arguments",
    **dict.fromkeys(
        (
            "GraphGrammar",
            "GraphGrammarCell",
            "GraphGrammarRepetitive",
            "ArchitectureParameter",
            "FunctionParameter",
        ),
        "an Operation, or a Categorical of Operations, in a PipelineSpace: NePS's later "
        "architecture spaces (see docs/spaces/language.md)",
    ),
    "get_summary_dict": "status(root): its Summary has the counts by state, best_trial (its "
    "config and objective) and the budget used; status(root).to_dataframe() has every trial",
}


#: Where each public name lives. It is imported on first use: ``import neps_core`` (every
#: ``neps-core`` call, every worker and test subprocess) then costs no numpy, plugin manager
#: or run machinery until a script asks for ``neps.run``, ``neps.Float``, ...
_HOMES = {
    "neps_core.api": ("plot", "run", "save_pipeline_results", "status"),
    "neps_core.ask_and_tell": ("AskAndTell", "AskedTrial"),
    "neps_core.errors": (
        "ArgumentsError",
        "ConfigIdMissingError",
        "DuplicatePluginError",
        "EvaluationLostError",
        "EvaluationTimeoutError",
        "InvalidParameterError",
        "LiveWorkersError",
        "MigrationError",
        "MissingCostError",
        "NepsCoreError",
        "NoAllowedConfigurationError",
        "NoAllowedMutationError",
        "ObjectiveCountError",
        "PluginLoadError",
        "SettingsError",
        "SpaceMismatchError",
        "StorageError",
        "StorageInUseError",
        "TrialAlreadyReportedError",
        "TrialNotFoundError",
        "UnknownParameterError",
        "UnknownPluginError",
    ),
    "neps_core.evaluation.processes": ("Command",),
    "neps_core.hookspecs": ("hookimpl",),
    "neps_core.importing": ("import_trials",),
    "neps_core.loading": ("load_config", "load_optimizer_info", "load_pipeline_space"),
    "neps_core.models": ("BudgetInfo", "Proposal", "Report", "Summary", "Trial", "TrialState"),
    "neps_core.neps_results": ("read_neps_results",),
    "neps_core.profiling": ("profile",),
    "neps_core.result_contract": ("UserResultDict",),
    "neps_core.space": (
        "ByName",
        "Categorical",
        "CategoricalParameter",
        "ConfidenceLevel",
        "Constant",
        "ConstantParameter",
        "Fidelity",
        "Float",
        "FloatFidelity",
        "FloatParameter",
        "Integer",
        "IntegerFidelity",
        "IntegerParameter",
        "Operation",
        "PipelineSpace",
        "Resampled",
        "Resample",
    ),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
_ALIASES = {"Resample": "Resampled"}


def __getattr__(name: str) -> object:
    """A public name, imported on first use and kept; a submodule (``neps_core.space``), as
    when this package imported them all; NePS's names without a counterpart here say what to
    use instead."""
    if name in _HOME_OF:
        value = getattr(importlib.import_module(_HOME_OF[name]), _ALIASES.get(name, name))
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f"{__name__}.{name}")
    elif name in _NEPS_ONLY:
        message = f"neps_core has no {name!r} (NePS's); use {_NEPS_ONLY[name]}"
        if _imports_from(sys._getframe(1)):
            raise ImportError(message, name=__name__, path=__file__)
        raise AttributeError(message)
    else:
        raise AttributeError(f"module 'neps_core' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _imports_from(frame: types.FrameType) -> bool:
    """Whether ``frame`` asks for the name in ``from neps_core import name``.

    Python replaces the AttributeError of that lookup with a bare "cannot import name",
    dropping what to use instead; an ImportError passes through. Elsewhere (``hasattr``,
    also importlib's for this very statement) the name stays a missing attribute. Past a
    code object's 255th name the instruction has EXTENDED_ARG prefixes, and Python 3.10's
    ``f_lasti`` points at the first of them (later versions' at the instruction itself).
    """
    from opcode import opmap  # only once a NePS name is asked for: keeps the import light

    code, offset = frame.f_code.co_code, frame.f_lasti
    while code[offset] == opmap["EXTENDED_ARG"]:
        offset += 2  # one code unit: an opcode and its argument byte
    return code[offset] == opmap["IMPORT_FROM"]


__all__ = [
    "ArgumentsError",
    "AskAndTell",
    "AskedTrial",
    "BudgetInfo",
    "ByName",
    "Categorical",
    "CategoricalParameter",
    "Command",
    "ConfidenceLevel",
    "ConfigIdMissingError",
    "Constant",
    "ConstantParameter",
    "DuplicatePluginError",
    "EvaluationLostError",
    "EvaluationTimeoutError",
    "Fidelity",
    "Float",
    "FloatFidelity",
    "FloatParameter",
    "Integer",
    "IntegerFidelity",
    "IntegerParameter",
    "InvalidParameterError",
    "LiveWorkersError",
    "MigrationError",
    "MissingCostError",
    "NepsCoreError",
    "NoAllowedConfigurationError",
    "NoAllowedMutationError",
    "ObjectiveCountError",
    "Operation",
    "PipelineSpace",
    "PluginLoadError",
    "Proposal",
    "Report",
    "Resample",
    "Resampled",
    "SettingsError",
    "SpaceMismatchError",
    "StorageError",
    "StorageInUseError",
    "Summary",
    "Trial",
    "TrialAlreadyReportedError",
    "TrialNotFoundError",
    "TrialState",
    "UnknownParameterError",
    "UnknownPluginError",
    "UserResultDict",
    "__version__",
    "algorithms",
    "hookimpl",
    "import_trials",
    "load_config",
    "load_optimizer_info",
    "load_pipeline_space",
    "plot",
    "profile",
    "read_neps_results",
    "run",
    "save_pipeline_results",
    "status",
    "tblogger",
]
