"""Optuna's GP sampler as a peer row of the optimizer benchmark (only when optuna is installed).

The peer runs inside the same harness as our optimizers (a real ``neps_core.run``, the same
objective, budget, seeds and regret; ``ask`` timed the same way), through Optuna's
ask-and-tell interface: every finished trial of the history that the study has not yet seen
is added to it, then ``study.ask()`` draws the next configuration. Only flat spaces of
floats, integers and categoricals without a fidelity are supported, which is what the
Branin and Hartmann6 rows need.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial, TrialState
from neps_core.space.parameters import Categorical, Float, Integer


def available() -> bool:
    """Whether optuna and the torch its GP sampler needs are installed (without importing
    them: the table of rows is built at import time, also for runs without the peer)."""
    return all(importlib.util.find_spec(name) is not None for name in ("optuna", "torch"))


class OptunaGP(Optimizer):
    """``optuna.samplers.GPSampler`` (its defaults) seeded with the run's seed."""

    name: ClassVar[str] = "optuna_gp"
    supports_multi_objective: ClassVar[bool] = False

    def __init__(self, space: Any, settings: Any = None, *, seed: int | None = None) -> None:
        super().__init__(space, settings, seed=seed)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
        self._distributions = {
            name: self._distribution(name, parameter)
            for name, parameter in space.parameters.items()
        }
        self._told: set[str] = set()

    def _distribution(self, name: str, parameter: Any) -> Any:
        distributions = self._optuna.distributions
        if isinstance(parameter, Float):
            return distributions.FloatDistribution(
                parameter.lower, parameter.upper, log=parameter.log
            )
        if isinstance(parameter, Integer):
            return distributions.IntDistribution(
                parameter.lower, parameter.upper, log=parameter.log
            )
        if isinstance(parameter, Categorical):
            return distributions.CategoricalDistribution(parameter.choices)
        raise TypeError(f"the optuna peer cannot handle parameter {name!r} ({parameter!r})")

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        for trial in trials.values():
            if trial.id in self._told or trial.state is not TrialState.SUCCESS:
                continue
            self._study.add_trial(
                self._optuna.trial.create_trial(
                    params=dict(trial.config),
                    distributions=self._distributions,
                    value=float(trial.objective),  # type: ignore[arg-type]
                )
            )
            self._told.add(trial.id)
        proposals = []
        for _ in range(n):
            asked = self._study.ask(self._distributions)
            proposals.append(Proposal(dict(asked.params)))
            # The study only learns a trial's value through the history, so this one is
            # closed here and re-added (with its value) once it has finished.
            self._study.tell(asked, state=self._optuna.trial.TrialState.FAIL)
        return proposals
