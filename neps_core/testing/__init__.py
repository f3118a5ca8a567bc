"""Test suites and fixtures for authors of neps_core plugins (needs pytest).

* ``OptimizerContract`` - subclass it with ``optimizer_class = MyOptimizer``;
* ``StorageContract`` - subclass it with ``storage_class = MyStorage``;
* ``EvaluatorContract`` / ``BackgroundEvaluatorContract`` - subclass it with
  ``evaluator_class = MyEvaluator``;
* ``pytest_plugins = ["neps_core.testing.fixtures"]`` - fixtures such as ``neps_run``,
  ``neps_plugins`` and ``neps_disable_plugins``; the helpers in
  ``neps_core.testing.fixtures`` (``make_trial``, ``history_of``, ``optimize``, ...) are
  plain functions usable in any test, and ``CountingHistory`` counts the trials an ask reads.

The built-in plugins are tested with exactly these suites. ``import neps_core`` never imports
this package, so pytest stays a test-only dependency (the ``test`` extra).
"""

try:
    import pytest
except ModuleNotFoundError as missing:  # a bare "No module named 'pytest'" named no way out
    raise ModuleNotFoundError(
        "neps_core.testing needs pytest: pip install 'neps-core[test]' (or pytest)", name="pytest"
    ) from missing

# Plain ``assert`` statements in the contracts report their values, as in the author's tests.
pytest.register_assert_rewrite(
    "neps_core.testing.evaluator_contract",
    "neps_core.testing.fixtures",
    "neps_core.testing.optimizer_contract",
    "neps_core.testing.storage_contract",
)

from neps_core.space.enumeration import config_key  # noqa: E402
from neps_core.testing.evaluator_contract import (  # noqa: E402 - after the rewrite
    BackgroundEvaluatorContract,
    EvaluatorContract,
)
from neps_core.testing.fixtures import (  # noqa: E402 - after the rewrite registration
    CountingHistory,
    add_proposals,
    ask_unchanged,
    best_objective,
    history_of,
    make_trial,
    optimize,
    simulate,
    spaces_for,
    toy_evaluate_pipeline,
    toy_objective,
    toy_spaces,
)
from neps_core.testing.optimizer_contract import OptimizerContract  # noqa: E402
from neps_core.testing.storage_contract import ContractError, StorageContract  # noqa: E402

__all__ = [
    "BackgroundEvaluatorContract",
    "ContractError",
    "CountingHistory",
    "EvaluatorContract",
    "OptimizerContract",
    "StorageContract",
    "add_proposals",
    "ask_unchanged",
    "best_objective",
    "config_key",
    "history_of",
    "make_trial",
    "optimize",
    "simulate",
    "spaces_for",
    "toy_evaluate_pipeline",
    "toy_objective",
    "toy_spaces",
]
