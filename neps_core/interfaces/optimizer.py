"""The interface every optimizer plugin implements.

Call sequence: the worker loop builds the optimizer once per ``run()`` with the space, the
validated ``Settings`` and the seed; then, inside storage's sampling transaction, it calls
``Optimizer.check_objectives`` and ``Optimizer.ask`` with the complete, current trial history
of the run (all workers) and the global budget. The returned proposals become trials in that
same transaction, so an optimizer never has to coordinate workers itself. ``ask`` must be
correct for any history: it may cache, but a fresh instance given the same history must make
a valid decision.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core.errors import SettingsError
from neps_core.history import TrialHistory
from neps_core.models import BudgetInfo, Proposal, Trial, TrialState
from neps_core.randomness import global_generator
from neps_core.space import PipelineSpace


@attrs.frozen
class NoSettings:
    """Settings of an optimizer that takes none."""


class Optimizer(abc.ABC):
    """Base class of optimizers.

    Class variables describe what the optimizer can do, so ``optimizer="auto"`` and the run's
    validation can decide without instantiating it.
    """

    name: ClassVar[str]
    #: Other names the optimizer answers to (e.g. another library's spelling of ``name``).
    aliases: ClassVar[tuple[str, ...]] = ()
    Settings: ClassVar[type] = NoSettings
    supports_fidelity: ClassVar[bool] = False
    requires_fidelity: ClassVar[bool] = False
    requires_prior: ClassVar[bool] = False
    supports_multi_objective: ClassVar[bool] = True

    def __init__(
        self, space: PipelineSpace, settings: Any = None, *, seed: int | None = None
    ) -> None:
        self.space = space
        self.settings = self.Settings() if settings is None else settings
        self.seed = seed

    @abc.abstractmethod
    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        """Propose up to ``n`` configurations; fewer (or none) means the optimizer is done."""

    def check_objectives(self, trials: Mapping[str, Trial]) -> None:
        """Refuse results this optimizer cannot use, with an error that names the way out.

        By default: several objectives when ``supports_multi_objective`` is false (such an
        optimizer would otherwise silently learn nothing from them).
        """
        if self.supports_multi_objective:
            return
        trial = first_multi_objective(trials)
        if trial is not None:
            raise SettingsError(
                f"optimizer {self.name!r} minimizes a single objective, but trial {trial.id} "
                f"reported {trial.objective!r}; for several objectives use 'mo_asha' or "
                "'mo_hyperband' (multi-fidelity), 'random_search' or 'grid_search'"
            )

    def random_generator(self, trials: Mapping[str, Trial], index: int = 0) -> np.random.Generator:
        """The generator of the ``index``-th proposal of an ask, fixed by the seed and the
        size of the history.

        With a seed, the same history always gives the same proposals (whichever worker asks);
        without one, the draw comes from NumPy's global state, so ``np.random.seed`` applies.
        The history's size is mixed in then too: forked workers start from copies of that
        state, and drew the same configurations for different trials (12 trials, 5 distinct
        configurations, for three workers forked after ``np.random.seed(0)``).
        Proposal ``index`` of a batch draws from the generator of a history ``index`` trials
        longer, as the next asks would: a batch of n (n free ``process_pool`` slots,
        ``sample_batch_size``) proposes what n workers asking one by one propose; with one
        generator for the batch, trial 2 of a seeded run differed between the two.
        """
        if self.seed is None:
            return global_generator(len(trials) + index)
        return np.random.default_rng([self.seed, len(trials) + index])


def first_multi_objective(trials: Mapping[str, Trial]) -> Trial | None:
    """The first successful trial that reported several objectives, if any."""
    if isinstance(trials, TrialHistory):
        return trials.first_multi_objective()
    for trial in trials.values():
        if trial.state is TrialState.SUCCESS and isinstance(trial.objective, tuple | list):
            return trial
    return None
