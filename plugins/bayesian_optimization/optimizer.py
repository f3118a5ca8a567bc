"""The ``bayesian_optimization`` optimizer class and its settings (light: no scipy at import).

The model, the acquisition and its maximizer live in sibling modules that import scipy; they
are imported inside `BayesianOptimization.ask`, so registering the plugin stays cheap.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from neps_core.errors import SettingsError
from neps_core.interfaces import Optimizer
from neps_core.models import BudgetInfo, Proposal, Trial
from neps_core.neps_call_keywords import ANY_VALUE
from neps_core.neps_options import NepsOptions
from neps_core.serialization import whole_number
from neps_core.space.encoding import ConfigEncoder
from neps_core.space.pipeline_space import PipelineSpace
from neps_core.validators import IGNORE_FIDELITY, at_least, one_of, unset_only

INITIAL_DESIGNS = ("sobol", "random", "prior")
#: What the ``bo`` extra installs; the model imports them on the first ``ask``.
BO_EXTRA = ("scipy", "threadpoolctl")


def bo_extra_available() -> bool:
    """Whether the ``bo`` extra is importable, checked without importing it."""
    return all(importlib.util.find_spec(name) is not None for name in BO_EXTRA)


def _design_size_value(value: Any) -> Any:
    """A whole number as an ``int`` (``3.0``, ``"3"``); anything else for the validator."""
    if value is None or value == "ndim":
        return value
    try:
        return whole_number(value)
    except ValueError:
        return value


def _design_size(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """``None``, ``"ndim"`` or a positive integer."""
    if value is None or value == "ndim":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer or 'ndim', got {value!r}")


def _device_name(device: Any) -> str | None:
    """A torch device (or its name) as its name, which run_info.yaml can hold."""
    return None if device is None else str(device)


@attrs.frozen
class BayesianOptimizationSettings:
    """Options of ``bayesian_optimization``.

    Attributes:
        initial_design_size: Configurations drawn before the model takes over; ``None`` picks
            ``max(5, min(20, 3 * dims))``, ``"ndim"`` (NePS's default) one per dimension.
        initial_design: ``"sobol"`` (scrambled Sobol points), ``"random"`` (uniform draws) or
            ``"prior"`` (draws around the space's priors).
        sample_prior_first: Make the first configuration the space's prior configuration
            (also after imported trials; not when a trial of the run has it).
        cost_aware: With a ``cost_to_spend`` budget and reported costs, divide expected
            improvement by the predicted cost, less so as the budget runs out. Off by default,
            as in NePS, whose ``bayesian_optimization_cost_aware`` turns it on: a NePS script
            with a cost budget gets the search it was written for. The cost model is on log
            cost either way, so NePS's ``"log"`` means the same as ``True``.
        raw_samples: Random candidates scored before gradient-based refinement.
        restarts: Candidates refined by L-BFGS-B (and categorical local search).
        ignore_fidelity: NePS's option, accepted so its scripts run; the fidelity, if the
            space has one, is at its maximum whatever the value.
        device: NePS's torch device for its model, accepted and unused: this GP is NumPy on
            the CPU (a few milliseconds per fit, see the package docstring).
        reference_point: NePS's option for multi-objective BO, which this optimizer is not:
            only ``None``.
    """

    #: Options of NePS's run_pipeline-era BO that name what this one does (see
    #: ``neps_core.neps_options``): its scripts pass ``surrogate_model="gp", acquisition="EI"``.
    neps_options: ClassVar[NepsOptions] = {
        "surrogate_model": (("gp",), "the model is a Gaussian process"),
        "surrogate_model_args": ((None,), "the GP fits its own kernel hyperparameters"),
        "acquisition": (("EI", "LogEI"), "the acquisition is log expected improvement"),
        "acquisition_sampler": (
            (ANY_VALUE,),
            "the acquisition is maximized over raw_samples random candidates, restarts of "
            "which are refined by L-BFGS-B",
        ),
        "log_prior_weighted": ((False,), "for an acquisition weighted by the priors use 'pibo'"),
        "random_interleave_prob": ((0, 0.0), "every proposal after the initial design is BO's"),
        "patience": ((ANY_VALUE,), "NePS's retries of a draw have no counterpart"),
    }

    # ``Any``: the settings converter cannot structure ``int | Literal["ndim"]``; the
    # validators check the values instead.
    initial_design_size: Any = attrs.field(
        default=None, converter=_design_size_value, validator=_design_size
    )
    initial_design: str = attrs.field(default="sobol", validator=one_of(INITIAL_DESIGNS))
    sample_prior_first: bool = False
    cost_aware: Any = attrs.field(default=False, validator=one_of((True, False, "log")))
    raw_samples: int = attrs.field(default=1024, validator=at_least(2))
    restarts: int = attrs.field(default=10, validator=at_least(1))
    ignore_fidelity: Any = attrs.field(default=False, validator=IGNORE_FIDELITY)
    device: str | None = attrs.field(default=None, converter=_device_name)
    reference_point: Any = attrs.field(
        default=None,
        validator=unset_only("for several objectives use 'mo_asha' or 'random_search'"),
    )


class BayesianOptimization(Optimizer):
    """GP-based Bayesian optimization with log expected improvement on flat spaces.

    The fidelity, if the space has one, is always at its maximum. Pending and running trials
    of other workers are fantasized at the model's mean (kriging believer), so parallel
    workers spread out; proposals of one call are chosen the same way, one after the other.
    """

    name: ClassVar[str] = "bayesian_optimization"
    Settings: ClassVar[type] = BayesianOptimizationSettings
    supports_fidelity: ClassVar[bool] = True
    supports_multi_objective: ClassVar[bool] = False
    #: The exponent ``beta`` of πBO's prior factor ``pi(x)^(beta / n)``; 0 disables it.
    prior_weight: float = 0.0

    def __init__(
        self, space: PipelineSpace, settings: Any = None, *, seed: int | None = None
    ) -> None:
        super().__init__(space, settings, seed=seed)
        if not bo_extra_available():  # before the run starts, not at its first ask
            raise ImportError(
                f"optimizer {self.name!r} needs the bo extra ({', '.join(BO_EXTRA)}): "
                "pip install 'neps-core[bo]'"
            )
        try:
            self.encoder = ConfigEncoder.from_space(space)
        except ValueError as error:
            raise SettingsError(f"optimizer {self.name!r} needs a flat space: {error}") from None
        # The initial design is one scrambled sequence per run; without a seed, NumPy's global
        # state picks it (so np.random.seed applies), once per optimizer instance.
        self.design_seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.warned_of_design_seed = False  # a seed other than the run's design's (design.py)

    @property
    def n_initial(self) -> int:
        """The size of the initial design."""
        size = self.settings.initial_design_size
        if size == "ndim":
            return max(1, self.encoder.n_dims)
        if size is not None:
            return int(size)
        return max(5, min(20, 3 * self.encoder.n_dims))

    def ask(self, trials: Mapping[str, Trial], budget: BudgetInfo, n: int) -> Sequence[Proposal]:
        from neps_core_plugins.bayesian_optimization.engine import propose

        return propose(self, trials, budget, n)
