"""Rungs (the fidelity levels) and bracket shapes, plus the settings fields the plugins share."""

from __future__ import annotations

import logging
import math
from typing import Any

import attrs

from neps_core.errors import SettingsError
from neps_core.space import Integer, PipelineSpace
from neps_core.validators import at_least, one_of, unset_only

logger = logging.getLogger(__name__)

SAMPLERS = ("uniform", "prior")


def eta_field() -> Any:
    """``eta``: the promotion ratio (the best 1/eta of a rung move up); at least 2."""
    return attrs.field(default=3, validator=at_least(2))


def early_stopping_rate_field() -> Any:
    """``early_stopping_rate``: the index of the lowest rung used (0 = the lowest fidelity)."""
    return attrs.field(default=0, validator=at_least(0))


#: Values of ``sample_prior_first``: start with the prior configuration (``True``), and
#: NePS's ``"highest_fidelity"``: evaluate it at the highest fidelity, outside the brackets.
#: The field is typed ``Any``: the settings converter cannot structure ``bool | Literal``.
SAMPLE_PRIOR_FIRST = one_of((True, False, "highest_fidelity"))


def sampler_field() -> Any:
    """``sampler``: new configurations drawn ``"uniform"``-ly or around the ``"prior"``."""
    return attrs.field(default="uniform", validator=one_of(SAMPLERS))


@attrs.frozen
class HyperbandSettings:
    """Options of the Hyperband-style optimizers (``hyperband``, ``async_hb``).

    ``eta``: promotion ratio; ``sampler``: ``"uniform"`` or ``"prior"`` draws of new
    configurations; ``sample_prior_first``: start with the prior configuration (at the lowest
    rung; ``"highest_fidelity"``: at the highest fidelity). ``use_priors``: NePS's option,
    accepted as its default ``False`` so its scripts run; its ``True`` is ``sampler="prior"``.
    """

    eta: int = eta_field()
    sampler: str = sampler_field()
    sample_prior_first: Any = attrs.field(default=False, validator=SAMPLE_PRIOR_FIRST)
    use_priors: Any = attrs.field(  # Any: a 1 gets the advice, not a type error
        default=False,
        validator=unset_only(
            "new configurations are drawn around the prior with sampler='prior'", False
        ),
    )


@attrs.frozen
class HalvingSettings(HyperbandSettings):
    """Options of the one-bracket optimizers (``successive_halving``, ``asha``, ``mo_asha``).

    Those of Hyperband plus ``early_stopping_rate``: the index of the lowest rung used.
    """

    early_stopping_rate: int = early_stopping_rate_field()


# -- rungs and bracket shapes ------------------------------------------------------------------
@attrs.frozen
class Rungs:
    """The fidelity value of each rung, lowest first."""

    fidelities: tuple[float, ...]

    @classmethod
    def from_space(cls, space: PipelineSpace, eta: int) -> Rungs:
        """Geometric levels ending at the fidelity's upper bound (see the module docstring)."""
        fidelity = space.fidelity
        if fidelity is None:
            raise SettingsError("multi-fidelity optimizers need a fidelity parameter in the space")
        lower, upper = fidelity.lower, fidelity.upper
        if lower <= 0:
            raise SettingsError(
                f"fidelity {space.fidelity_name!r}: the lower bound must be positive for rungs "
                f"upper / eta**k, got {lower}"
            )
        top = math.floor(math.log(upper / lower) / math.log(eta) + 1e-9)
        values: list[float] = []
        for rung in range(top + 1):
            value: float = upper / eta ** (top - rung)
            if isinstance(fidelity, Integer):
                value = int(min(max(round(value), lower), upper))
            value = min(max(value, lower), upper)
            if not values or value > values[-1]:
                values.append(value)
        if len(values) == 1:
            logger.warning(
                "eta=%s leaves a single rung for the fidelity %r (%s to %s): every trial runs "
                "at %s, as in random search; a smaller eta gives lower rungs",
                eta,
                space.fidelity_name,
                lower,
                upper,
                values[0],
            )
        return cls(tuple(values))

    @property
    def top(self) -> int:
        """The index of the highest rung (the fidelity's upper bound)."""
        return len(self.fidelities) - 1

    def rung_of(self, fidelity: float | None) -> int | None:
        """The rung whose level is ``fidelity``, ``None`` when it is no rung's level."""
        if fidelity is None:
            return None
        for rung, value in enumerate(self.fidelities):
            if math.isclose(value, fidelity, rel_tol=1e-9, abs_tol=1e-12):
                return rung
        return None


@attrs.frozen
class BracketShape:
    """A bracket's base rung and how many configurations each of its rungs holds."""

    base: int
    sizes: tuple[int, ...]  # rung base, base + 1, ..., top

    def capacity(self, rung: int) -> int:
        """How many trials rung ``rung`` of this bracket takes."""
        return self.sizes[rung - self.base]


def halving_shape(top: int, eta: int, base: int) -> BracketShape:
    """Successive halving from ``base``: ``eta**(top - base)`` configurations, 1/eta move up."""
    start = eta ** (top - base)
    return BracketShape(base, tuple(start // eta**i for i in range(top - base + 1)))


def hyperband_shape(top: int, eta: int, base: int) -> BracketShape:
    """Hyperband's bracket from ``base``: ``ceil((R+1)/(R-base+1) * eta**(R-base))`` configs."""
    start = -(-(top + 1) * eta ** (top - base) // (top - base + 1))
    return BracketShape(base, tuple(max(1, start // eta**i) for i in range(top - base + 1)))
