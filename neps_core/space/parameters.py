"""The parameters of the native space language (NePS's names and arguments).

Each parameter validates itself on construction. The error names the parameter: explicitly
when the space is built from a description (YAML, a saved run), otherwise by reading the name
the caller assigns it to (``lr = Float(...)`` or ``"lr": Float(...)``), best effort.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from neps_core.errors import InvalidParameterError
from neps_core.randomness import global_generator
from neps_core.space.choices import (
    AmbiguousPriorWarning,
    has_duplicates,
    holds_nan,
    is_plain_data,
    position,
    python_value,
)
from neps_core.space.confidence import confidence_name, confidence_problems
from neps_core.space.conversion import (
    label,
    to_choices,
    to_float,
    to_int,
    to_integer_prior,
    to_optional_float,
)
from neps_core.space.naming import assigned_name
from neps_core.space.scales import scales_agree

#: NePS's old argument names -> today's (see ``neps_core.space.legacy``).
LEGACY_KEYS = {
    "default": "prior",
    "default_confidence": "prior_confidence",
    "min_value": "lower",
    "max_value": "upper",
}

if TYPE_CHECKING:
    from neps_core.space.structure import Resampled


class Parameter:
    """Base of every search dimension; subclasses are frozen attrs classes."""

    kind: ClassVar[str] = "parameter"
    _name_hint: str | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """Refuse NePS's old argument names with the new ones (not a bare ``TypeError``)."""
        old = sorted(kwargs.keys() & LEGACY_KEYS.keys())
        if old:
            current = " and ".join(f"{LEGACY_KEYS[key]}= instead of {key}=" for key in old)
            raise TypeError(f"{cls.__name__}: write {current} (NePS's old names)")
        return super().__new__(cls)

    def problems(self) -> list[str]:
        """What is wrong with this definition (empty when it is valid)."""
        return []

    def _validate(self) -> None:
        problems = self.problems()
        if problems:
            self._raise(problems, assigned_name())
        confidence = getattr(self, "prior_confidence", "low")
        if not self.has_prior and confidence != "low":
            warnings.warn(
                f"{self._label(assigned_name())}: prior_confidence={confidence!r} has no "
                "effect without a prior",
                UserWarning,
                stacklevel=4,  # this method, __attrs_post_init__, __init__, the user's line
            )

    def _label(self, name: str | None) -> str:
        return label(type(self).__name__, name)

    def _raise(self, problems: list[str], name: str | None) -> None:
        raise InvalidParameterError(f"{self._label(name)}: {'; '.join(problems)}")

    @property
    def has_prior(self) -> bool:
        """Whether the user gave a prior (NePS's ``has_prior``)."""
        return getattr(self, "prior", None) is not None

    def checked(self, name: str) -> Parameter:
        """Re-validate under a known name (used when building spaces from descriptions)."""
        if not isinstance(name, str):
            raise InvalidParameterError(f"Parameter names are strings, got {name!r}")
        problems = self.problems()
        if problems:
            self._raise(problems, name)
        return self

    def resample(self) -> Resampled:
        """An independent re-draw from this parameter's definition, wherever it is used.

        Without ``.resample()`` a parameter is drawn once and every use sees that value.
        """
        from neps_core.space.structure import Resampled

        return Resampled(self)


@attrs.frozen(eq=True)
class Numerical(Parameter):
    """Shared bounds, log scale and prior logic of ``Float`` and ``Integer``."""

    lower: float
    upper: float
    log: bool = False
    prior: float | None = None
    prior_confidence: str = attrs.field(default="low", converter=confidence_name)
    is_fidelity: bool = False

    def __attrs_post_init__(self) -> None:
        self._validate()

    def problems(self) -> list[str]:
        problems = []
        largest = sys.float_info.max  # not math.isfinite: an int beyond it overflows that
        if not all(-largest <= bound <= largest for bound in (self.lower, self.upper)):
            problems.append(f"bounds must be finite floats, got [{self.lower}, {self.upper}]")
        elif self.lower >= self.upper:
            problems.append(f"lower ({self.lower}) must be smaller than upper ({self.upper})")
        elif not self.log and math.isinf(float(self.upper) - float(self.lower)):  # nan samples
            problems.append(
                f"the range [{self.lower}, {self.upper}] is wider than a float holds "
                "(upper - lower overflows); narrow it, or use log=True with lower > 0"
            )
        for flag in ("log", "is_fidelity"):  # "false" is a truthy string, not False
            if not isinstance(getattr(self, flag), bool):
                problems.append(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if self.log is True and self.lower <= 0:
            problems.append(f"log=True needs lower > 0, got lower={self.lower}")
        if self.prior is not None and not self.lower <= self.prior <= self.upper:
            problems.append(f"prior {self.prior} lies outside [{self.lower}, {self.upper}]")
        if self.is_fidelity and self.prior is not None:
            problems.append("a fidelity parameter cannot have a prior")
        return problems + confidence_problems(self.prior_confidence)

    @property
    def domain(self) -> Numerical:
        """A fidelity's range as a plain parameter (NePS's ``Fidelity.domain``)."""
        if not self.is_fidelity:
            raise AttributeError(f"{type(self).__name__} has no domain: only a fidelity has one")
        return attrs.evolve(self, is_fidelity=False)

    def sample(self, rng: np.random.Generator | None = None) -> Any:
        """A value drawn uniformly (log-aware), as NePS's ``sample()``; without ``rng`` from
        NumPy's global state (NePS draws from Python's), as ``Categorical.sample`` does."""
        return self.from_unit(float((rng or global_generator()).random()))

    def to_unit(self, value: float) -> float:
        """Map a value to [0, 1], on the log scale when ``log`` is set."""
        low, high = self._unit_bounds()
        return (self._scaled(float(value)) - low) / (high - low)

    def from_unit(self, unit: float) -> Any:
        """Map a number in [0, 1] back to a legal value (the inverse of ``to_unit``)."""
        unit = min(max(unit, 0.0), 1.0)
        if unit in (0.0, 1.0):  # exactly: exp(log(1e-30)) is 1.0000000000000024e-30
            return self._legal(self.upper if unit else self.lower)
        low, high = self._unit_bounds()
        scaled = low + unit * (high - low)
        return self._legal(math.exp(scaled) if self._on_log_scale() else scaled)

    def _edges(self) -> tuple[float, float]:
        """The ends of the range mapped to 0 and 1."""
        return self.lower, self.upper

    def _on_log_scale(self) -> bool:
        """``log``, unless the log and linear scales of the edges nearly agree."""
        return self.log is True and not scales_agree(*self._edges())

    def _unit_bounds(self) -> tuple[float, float]:
        low, high = self._edges()
        return self._scaled(low), self._scaled(high)

    def _scaled(self, value: float) -> float:
        return math.log(value) if self._on_log_scale() else value

    def _legal(self, value: float) -> Any:
        return min(max(value, self.lower), self.upper)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a legal value of this parameter."""
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and self.lower <= value <= self.upper
        )


@attrs.frozen(eq=True)
class Float(Numerical):
    """A continuous parameter in ``[lower, upper]``, optionally on a log scale."""

    kind: ClassVar[str] = "float"
    lower: float = attrs.field(converter=to_float)
    upper: float = attrs.field(converter=to_float)
    log: bool = False
    prior: float | None = attrs.field(default=None, converter=to_optional_float)
    prior_confidence: str = attrs.field(default="low", converter=confidence_name)
    is_fidelity: bool = False


@attrs.frozen(eq=True)
class Integer(Numerical):
    """A whole-number parameter in ``[lower, upper]`` (both included)."""

    kind: ClassVar[str] = "integer"
    lower: int = attrs.field(converter=to_int)
    upper: int = attrs.field(converter=to_int)
    log: bool = False
    prior: int | None = attrs.field(default=None, converter=to_integer_prior)
    prior_confidence: str = attrs.field(default="low", converter=confidence_name)
    is_fidelity: bool = False

    def _edges(self) -> tuple[float, float]:
        # Half a step beyond each bound, so every integer gets an equal share of [0, 1].
        return self.lower - 0.5, self.upper + 0.5

    def _legal(self, value: float) -> int:
        return int(min(max(round(value), self.lower), self.upper))

    def to_unit(self, value: float) -> float:
        if self._on_log_scale():
            return super().to_unit(value)
        return (value - self.lower + 0.5) / (self.upper - self.lower + 1)  # exact offset

    def from_unit(self, unit: float) -> Any:
        if self._on_log_scale():
            return super().from_unit(unit)
        # An offset from ``lower``: near 1e17 neighbouring floats are 16 apart, and absolute
        # values drew only the bounds of Integer(10**17, 10**17 + 10).
        offset = math.floor(min(max(unit, 0.0), 1.0) * (self.upper - self.lower + 1))
        return min(self.lower + offset, self.upper)

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and super().contains(value)


@attrs.frozen(eq=True)
class Categorical(Parameter):
    """A choice among ``choices``; ``prior`` is the index of the preferred choice (as NePS).

    For convenience a prior that is not a valid index but equals one of the choices is taken as
    that choice (the spelling of NePS's YAML spaces).
    """

    kind: ClassVar[str] = "categorical"
    choices: tuple[Any, ...] = attrs.field(converter=to_choices)
    prior: Any = attrs.field(default=None, converter=python_value)  # an argmax is an index
    prior_confidence: str = attrs.field(default="low", converter=confidence_name)

    def __attrs_post_init__(self) -> None:
        self._validate()
        self._warn_if_the_prior_reads_two_ways()

    def _warn_if_the_prior_reads_two_ways(self) -> None:
        """``prior=2`` among the choices ``(2, 4, 8)`` is index 2 (8), as NePS reads it."""
        index = self.prior_index
        as_choice = position(self.choices, self.prior)
        if index is not None and as_choice is not None and as_choice != index:
            warnings.warn(
                f"{self._label(assigned_name())}: prior={self.prior!r} is read as an index, "
                f"the choice {self.choices[index]!r}; for the choice {self.prior!r} pass "
                f"prior={as_choice}",
                AmbiguousPriorWarning,
                stacklevel=4,  # this method, __attrs_post_init__, __init__, the user's line
            )

    @property
    def prior_index(self) -> int | None:
        """The index of the prior choice, ``None`` without a prior."""
        if self.prior is None:
            return None
        is_index = isinstance(self.prior, int) and not isinstance(self.prior, bool)
        if is_index and 0 <= self.prior < len(self.choices):
            return int(self.prior)
        return position(self.choices, self.prior)

    @property
    def lower(self) -> int:
        """The first index, 0, as NePS's ``Categorical.lower``."""
        return 0

    @property
    def upper(self) -> int:
        """The last index, as NePS's ``Categorical.upper``."""
        return max(len(self.choices) - 1, 0)

    def sample(self, rng: np.random.Generator | None = None) -> int:
        """The index of a choice drawn uniformly, as NePS's ``Categorical.sample()`` returns."""
        return int((rng or global_generator()).integers(len(self.choices)))

    def problems(self) -> list[str]:
        problems = []
        if not self.choices:
            problems.append("choices must not be empty")
        elif has_duplicates(self.choices):
            problems.append(f"choices must be distinct, got {list(self.choices)}")
        if any(holds_nan(choice) for choice in self.choices):
            problems.append(f"choices must not contain NaN, got {list(self.choices)}")
        if self.prior is not None and self.choices and self.prior_index is None:
            problems.append(
                f"prior {self.prior!r} is neither an index into nor one of the choices "
                f"{list(self.choices)}"
            )
        return problems + confidence_problems(self.prior_confidence)

    @functools.cached_property
    def indexed(self) -> bool:
        """Whether configurations store the choice's index rather than the choice itself.

        Choices that are plain data (numbers, strings, lists and dicts of them) are stored as
        they are, as NePS does for flat spaces; a categorical with any other choice (tuples,
        callables, operations, other parameters) stores the index, which survives YAML/JSON.
        """
        return not all(is_plain_data(choice) for choice in self.choices)

    def index_of(self, decision: Any) -> int | None:
        """The index a stored decision stands for, ``None`` when it is not a valid decision."""
        if self.indexed:
            valid = isinstance(decision, int) and not isinstance(decision, bool)
            return int(decision) if valid and 0 <= decision < len(self.choices) else None
        try:
            found = self._positions.get((type(decision), decision))
        except TypeError:  # unhashable, as a list choice is
            found = None
        if found is None:  # a decision of another type (1.0 read back for 1), or none
            found = next((i for i, c in enumerate(self.choices) if c == decision), None)
        return found

    @functools.cached_property
    def _positions(self) -> dict[tuple[type, Any], int]:
        """The first index of each hashable choice by type and value: a categorical of 10,000
        choices searched them all for every decision of every trial."""
        positions: dict[tuple[type, Any], int] = {}
        for index, choice in enumerate(self.choices):
            with contextlib.suppress(TypeError):
                positions.setdefault((type(choice), choice), index)
        return positions

    def decision_for(self, index: int) -> Any:
        """What a configuration stores for choice ``index``."""
        return index if self.indexed else self.choices[index]

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a valid decision: a choice, or an index when ``indexed``."""
        return self.index_of(value) is not None


def constant_problems(value: Any) -> list[str]:
    """What is wrong with ``value`` as a constant; also checked where a bare value becomes one
    under a known name (a class attribute, a YAML entry) before the constructor guesses it."""
    if holds_nan(value):  # as a Categorical's choices: a saved run could not match it
        return [f"the value must not be NaN, got {value!r}; for a missing value use None"]
    return []


@attrs.frozen(eq=True)
class Constant(Parameter):
    """A fixed value passed to ``evaluate_pipeline`` but never searched."""

    kind: ClassVar[str] = "constant"
    value: Any = attrs.field(converter=python_value)

    def __attrs_post_init__(self) -> None:
        self._validate()

    def problems(self) -> list[str]:
        return constant_problems(self.value)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` equals the constant."""
        return bool(value == self.value)
