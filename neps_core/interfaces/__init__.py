"""The abstract classes plugins implement (and the call an evaluator makes)."""

from neps_core.evaluation.child_runner import call_evaluate_pipeline
from neps_core.interfaces.evaluator import EvaluationJob, EvaluationOutcome, Evaluator
from neps_core.interfaces.optimizer import NoSettings, Optimizer
from neps_core.interfaces.space_adapter import SpaceAdapter
from neps_core.interfaces.storage import LOCKING_OPTIONS, Change, Storage, damaged_trial
from neps_core.interfaces.trial_files import TrialFiles

__all__ = [
    "LOCKING_OPTIONS",
    "Change",
    "EvaluationJob",
    "EvaluationOutcome",
    "Evaluator",
    "NoSettings",
    "Optimizer",
    "SpaceAdapter",
    "Storage",
    "TrialFiles",
    "call_evaluate_pipeline",
    "damaged_trial",
]
