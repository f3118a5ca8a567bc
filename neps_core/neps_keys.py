"""NePS's resolution records as the space's own configurations.

NePS stores a configuration of a ``PipelineSpace`` run by a ``neps_*`` optimizer (or of a
structural space) as a record of its resolution, not by parameter name: every value drawn is
keyed ``SAMPLING__<path>::<kind>__<range>``, where ``<path>`` is ``Resolvable.<name>`` for a
parameter of the space and ``<kind>`` its type (``float``, ``integer``, ``categorical``),
and a categorical's value is the index of its choice; a fidelity is ``ENVIRONMENT__<name>``.
Such configurations reach neps_core from NePS's results directories (``read_neps_results``)
and from scripts written for NePS's ``import_trials``. A value drawn deeper in the
resolution (an operation's argument, a resampled or nested parameter) has no parameter here.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from neps_core.space import Categorical, PipelineSpace

SAMPLING = "SAMPLING__"
ENVIRONMENT = "ENVIRONMENT__"
ROOT = "Resolvable."


def from_neps_keys(config: Mapping[str, Any], space: PipelineSpace, trial: str) -> dict[str, Any]:
    """``config`` with NePS's record keys as the names of ``space`` and a categorical's index
    as its choice; other keys are kept as given.

    Raises:
        ValueError: A key that names no parameter of ``space``, records a value inside one
            (NePS's structural choices), or disagrees with it in kind, number of choices or
            index; the message names ``trial`` and the key.
    """
    plain: dict[str, Any] = {}
    for key, given in config.items():
        name, value = _entry(str(key), given, space, trial)
        if name in plain:
            raise ValueError(f"{trial}: NePS key {key!r} gives {name!r} a second value")
        plain[name] = value
    return plain


def _entry(key: str, value: Any, space: PipelineSpace, trial: str) -> tuple[str, Any]:
    if key.startswith(ENVIRONMENT):
        name = key.removeprefix(ENVIRONMENT)
        if name != space.fidelity_name:
            raise ValueError(
                f"{trial}: NePS key {key!r} sets {name!r}, which is not the space's fidelity "
                f"({space.fidelity_name!r})"
            )
        return name, value
    if not key.startswith(SAMPLING):
        return key, value
    path, _, drawn = key.removeprefix(SAMPLING).rpartition("::")
    kind, _, extent = drawn.partition("__")
    name = path.removeprefix(ROOT)
    parameter = space.parameters.get(name) if path.startswith(ROOT) else None
    if parameter is None:
        raise ValueError(f"{trial}: NePS key {key!r} {_unmapped(name, space)}")
    if parameter.kind != kind:
        raise ValueError(
            f"{trial}: NePS key {key!r} holds a value of kind {kind!r}, but {name!r} is of "
            f"kind {parameter.kind!r} in the space"
        )
    if isinstance(parameter, Categorical):
        return name, _choice(key, value, extent, parameter, trial)
    return name, value


def _unmapped(name: str, space: PipelineSpace) -> str:
    """Why a sampling path is no parameter of ``space``: inside one, or none at all."""
    outer = next((n for n in space.parameters if name.startswith(f"{n}.")), None)
    if outer is not None:
        return (
            f"records a value drawn inside {outer!r} (an operation's argument, or a resampled "
            "or nested parameter), which has no parameter of its own in neps_core's space; "
            "NePS's structural configurations cannot be imported"
        )
    return f"names no parameter of the space (it has {list(space.parameters)})"


def _choice(key: str, index: Any, extent: str, parameter: Categorical, trial: str) -> Any:
    """The choice that NePS's ``index`` picks, after checking both spaces have as many.

    Any integer but a bool is an index: pairs built from a pandas frame hold ``np.int64``."""
    count = len(parameter.choices)
    if extent != str(count):
        raise ValueError(
            f"{trial}: NePS key {key!r} picks among {extent} choices, but the space's "
            f"categorical has {count}"
        )
    integral = isinstance(index, numbers.Integral) and not isinstance(index, bool)
    if not integral or not 0 <= index < count:
        raise ValueError(
            f"{trial}: NePS key {key!r} holds {index!r}, not the index of one of {count} choices"
        )
    return parameter.choices[int(index)]
