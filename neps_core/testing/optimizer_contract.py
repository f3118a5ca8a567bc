"""The contract every optimizer plugin fulfils, as a pytest class to subclass.

Usage, in a plugin's test suite::

    from neps_core.testing import OptimizerContract
    from my_plugin import MyOptimizer

    class TestMyOptimizer(OptimizerContract):
        optimizer_class = MyOptimizer
        optimizer_options = {"some_option": 3}  # optional

Every test runs once per search space in ``spaces`` (default: the toy spaces of
``toy_spaces`` that fit the optimizer's declared capabilities:
``supports_fidelity``, ``requires_fidelity``, ``requires_prior``). To test one particular space
instead, set ``spaces = {"mine": MySpace()}`` or override the ``space`` fixture.

The contract is what the worker loop relies on: proposals inside the space, at most ``n`` of
them, reproducible under a seed, sensible with other workers' pending and running trials and
with failures in the history, and a real ``neps_core.run`` from start to finish.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

import neps_core
from neps_core.components import build_optimizer, structure_settings
from neps_core.errors import object_of_type
from neps_core.history import TrialHistory
from neps_core.interfaces import Optimizer
from neps_core.models import Proposal, TrialState
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage
from neps_core.space import PipelineSpace
from neps_core.space.enumeration import config_key
from neps_core.testing.fixtures import (
    add_proposals,
    ask_unchanged,
    simulate,
    spaces_for,
    toy_objective,
)


class OptimizerContract:
    """Contract tests for an optimizer class; subclass it and set ``optimizer_class``."""

    #: The optimizer under test (required).
    optimizer_class: ClassVar[type[Optimizer] | None] = None
    #: Options as a user would pass them: ``optimizer=(name, optimizer_options)``.
    optimizer_options: ClassVar[Mapping[str, Any]] = {}
    #: Spaces to test on by name; ``None`` picks the toy spaces that fit the optimizer.
    spaces: ClassVar[Mapping[str, PipelineSpace] | None] = None
    #: The seed handed to the optimizer.
    contract_seed: ClassVar[int] = 1234
    #: Evaluations of the end-to-end runs.
    evaluations: ClassVar[int] = 6
    #: Set for optimizers that deliberately propose a configuration that is being evaluated.
    allows_repeated_configs: ClassVar[bool] = False

    # -- parametrization and fixtures ----------------------------------------------------------
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run every test once per contract space (unless the ``space`` fixture is overridden)."""
        if "contract_space_name" in metafunc.fixturenames:
            names = list(self.contract_spaces())
            metafunc.parametrize("contract_space_name", names, ids=names)

    def contract_spaces(self) -> dict[str, PipelineSpace]:
        """The spaces the contract is checked on, by name."""
        if self.spaces is not None:
            return dict(self.spaces)
        spaces = spaces_for(self.the_class())
        if not spaces:
            raise TypeError(
                f"{type(self).__name__}: no built-in contract space fits "
                f"{self.the_class().__name__}; set `spaces = {{name: PipelineSpace(...)}}`"
            )
        return spaces

    @pytest.fixture
    def space(self, contract_space_name: str) -> PipelineSpace:
        """The space under test (override this fixture to test a single space of your own)."""
        return self.contract_spaces()[contract_space_name]

    def the_class(self) -> type[Optimizer]:
        """``optimizer_class``, or a clear error when the subclass forgot to set it."""
        if self.optimizer_class is None:
            raise TypeError(f"{type(self).__name__} must set `optimizer_class`")
        return self.optimizer_class

    def build(self, space: PipelineSpace, seed: int | None = None) -> Optimizer:
        """An optimizer instance, built the way ``neps_core.run`` builds it."""
        seed = self.contract_seed if seed is None else seed
        return build_optimizer(self.the_class(), self.optimizer_options, space, seed)

    def check_proposals(
        self, space: PipelineSpace, history: TrialHistory, proposals: Sequence[Proposal], n: int
    ) -> None:
        """Assert what the worker loop relies on for any answer of ``ask``."""
        assert len(proposals) <= n, f"asked for {n} proposals, got {len(proposals)}"
        for proposal in proposals:
            assert isinstance(proposal, Proposal), f"ask returned {object_of_type(proposal)}"
            space.validate_config(proposal.config)
            previous = proposal.previous_trial_id
            assert previous is None or previous in history, f"unknown previous trial {previous}"
        if self.allows_repeated_configs:
            return
        keys = [config_key(p.config) for p in proposals]
        assert len(set(keys)) == len(keys), f"one answer repeats a configuration: {proposals}"
        in_flight = {
            config_key(history[i].config)
            for i in history.ids_in(TrialState.PENDING) + history.ids_in(TrialState.EVALUATING)
        }
        repeated = [p.config for p, key in zip(proposals, keys, strict=True) if key in in_flight]
        assert not repeated, f"proposed configurations already being evaluated: {repeated}"

    # -- the contract --------------------------------------------------------------------------
    def test_declares_a_name_and_settings(self) -> None:
        """A registry needs ``name``; options are validated through the frozen ``Settings``."""
        cls = self.the_class()
        assert issubclass(cls, Optimizer)
        assert isinstance(cls.name, str)
        assert cls.name
        assert attrs.has(cls.Settings), "Settings must be an attrs class"
        structure_settings(cls.Settings, self.optimizer_options, f"optimizer {cls.name!r}")

    def test_first_proposals_are_valid(self, space: PipelineSpace) -> None:
        """An empty history gets at least one proposal, each a configuration of the space."""
        history = TrialHistory()
        proposals = ask_unchanged(self.build(space), history, history.budget(), 3)
        assert proposals, "a new run must get a first proposal"
        self.check_proposals(space, history, proposals, 3)

    @pytest.mark.parametrize("n", [1, 2, 5])
    def test_never_more_than_n_proposals(self, space: PipelineSpace, n: int) -> None:
        """``ask(..., n)`` returns at most ``n`` valid proposals, whatever the history."""
        optimizer = self.build(space)
        history = simulate(optimizer, rounds=3, n=2)
        proposals = ask_unchanged(optimizer, history, history.budget(evaluations_to_spend=100), n)
        self.check_proposals(space, history, proposals, n)

    def test_same_seed_and_history_give_same_proposals(self, space: PipelineSpace) -> None:
        """Reproducibility: under one seed, equal call sequences give equal proposals."""
        first, second = self.build(space), self.build(space)
        history_a = simulate(first, rounds=4, n=2)
        history_b = simulate(second, rounds=4, n=2)
        configs = [[t.config for t in history.values()] for history in (history_a, history_b)]
        assert configs[0] == configs[1], self._unseeded(configs)
        budget = history_a.budget(evaluations_to_spend=100)
        fresh = [ask_unchanged(self.build(space), history_a, budget, 3) for _ in range(2)]
        assert fresh[0] == fresh[1], self._unseeded([p.config for p in f] for f in fresh)
        self.check_proposals(space, history_a, fresh[0], 3)

    def _unseeded(self, answers: Iterable[Sequence[object]]) -> str:
        """Why two equally seeded instances disagreed, and where to draw from instead."""
        first, second = answers
        return (
            f"two instances of {self.the_class().name!r} with seed {self.contract_seed} "
            "proposed different configurations for the same calls: draw from "
            "self.random_generator(trials), fixed by the seed and the history, not "
            f"np.random.default_rng() or the random module (proposed: {first} and {second})"
        )

    def test_respects_trials_of_other_workers(self, space: PipelineSpace) -> None:
        """Pending and running trials of other workers are history too: never proposed again."""
        optimizer = self.build(space)
        history = simulate(optimizer, rounds=2, n=2)
        in_flight = ask_unchanged(optimizer, history, history.budget(), 4)
        half = len(in_flight) // 2
        add_proposals(history, space, in_flight[:half], TrialState.PENDING)
        add_proposals(history, space, in_flight[half:], TrialState.EVALUATING)
        for asking in (optimizer, self.build(space)):
            proposals = ask_unchanged(asking, history, history.budget(evaluations_to_spend=100), 3)
            self.check_proposals(space, history, proposals, 3)

    def test_copes_with_failed_and_crashed_trials(self, space: PipelineSpace) -> None:
        """Failures (with and without a substitute objective) and crashes do not break ``ask``."""
        optimizer = self.build(space)
        only_failures = simulate(optimizer, rounds=3, n=2, states=["failed", "crashed"])
        proposals = ask_unchanged(optimizer, only_failures, only_failures.budget(), 2)
        self.check_proposals(space, only_failures, proposals, 2)
        mixed = simulate(self.build(space), rounds=6, states=["success", "failed", "crashed"])
        for trial_id in mixed.ids_in(TrialState.FAILED)[:1]:  # as with objective_value_on_error
            trial = mixed[trial_id]
            assert trial.report is not None
            mixed.put(
                attrs.evolve(trial, report=attrs.evolve(trial.report, objective_to_minimize=1e6))
            )
        proposals = ask_unchanged(self.build(space), mixed, mixed.budget(), 2)
        self.check_proposals(space, mixed, proposals, 2)

    def test_end_to_end_run(self, space: PipelineSpace, tmp_path: Path) -> None:
        """A real ``neps_core.run`` that fails now and then, continued by a second call."""
        root = tmp_path / "run"

        def evaluate_pipeline(pipeline_id: str, **config: Any) -> float:
            if int(pipeline_id) % 4 == 0:
                raise RuntimeError("a failing evaluation, as in real runs")
            return toy_objective(config)

        arguments: dict[str, Any] = {
            "evaluate_pipeline": evaluate_pipeline,
            "pipeline_space": space,
            "root_directory": root,
            "evaluations_to_spend": self.evaluations,
            "optimizer": (self._optimizer_choice(), dict(self.optimizer_options)),
            "ignore_errors": True,
            "seed": self.contract_seed,
        }
        neps_core.run(**arguments, max_evaluations_per_run=self.evaluations // 2)
        summary = neps_core.run(**arguments)
        counts = summary.counts
        total = sum(counts.values())
        assert 1 <= total <= self.evaluations
        assert counts["pending"] == counts["evaluating"] == 0
        assert counts["success"] + counts["failed"] == total
        with open_storage(root, None, load_plugins()) as storage:
            trials = list(storage.sync().values())
        assert len(trials) == total
        for trial in trials:
            assert trial.state.is_final
            space.validate_config(trial.config)
        if not self.allows_repeated_configs:
            keys = {config_key(trial.config) for trial in trials}
            assert len(keys) == total, "the run evaluated a configuration twice"
        assert summary.best_trial is not None
        assert summary.best_trial.state is TrialState.SUCCESS

    def _optimizer_choice(self) -> str | type[Optimizer]:
        """The registered name when the class is installed as a plugin, else the class."""
        cls = self.the_class()
        registered = load_plugins().optimizers.get(cls.name)
        return cls.name if registered is cls else cls
