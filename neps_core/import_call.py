"""The arguments of ``import_trials``, in NePS's order or with the space first.

NePS's ``import_trials(evaluated_trials, root_directory, pipeline_space=None,
overwrite_root_directory=False, optimizer="auto")`` takes each positionally or by keyword;
NePS's earlier examples pass the space first (``import_trials(space, pairs,
root_directory=...)``, ``import_trials(space, evaluated_trials=..., ...)``). The call is
bound (``inspect.Signature.bind``) to the order it is in, so either gives Python's errors.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from typing import Any

from neps_core.space import PipelineSpace

_ANY = inspect.Parameter.POSITIONAL_OR_KEYWORD
_REQUIRED = inspect.Parameter.empty
_DEFAULTS = {"pipeline_space": None, "overwrite_root_directory": False, "optimizer": "auto"}


def _order(*names: str, required: int) -> inspect.Signature:
    """A signature of ``names``, the first ``required`` of them without a default."""
    return inspect.Signature(
        [
            inspect.Parameter(name, _ANY, default=_REQUIRED if i < required else _DEFAULTS[name])
            for i, name in enumerate(names)
        ]
    )


_TRAILING = ("overwrite_root_directory", "optimizer")
NEPS_ORDER = _order("evaluated_trials", "root_directory", "pipeline_space", *_TRAILING, required=2)
SPACE_FIRST = _order("pipeline_space", "evaluated_trials", "root_directory", *_TRAILING, required=3)


def bind_import_call(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Every argument of an ``import_trials`` call by name, defaults filled in: ``args`` its
    positional arguments, ``kwargs`` the keywords it was given.

    Raises:
        TypeError: The call fits neither order (Python's message), or
            ``overwrite_root_directory`` is no bool (a storage name passed in its place
            deleted the run).
    """
    first_is_space = bool(args) and not are_pairs(args[0])
    pairs_follow = "evaluated_trials" in kwargs or (len(args) > 1 and are_pairs(args[1]))
    order = SPACE_FIRST if first_is_space and pairs_follow else NEPS_ORDER
    try:
        bound = order.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"import_trials(): {error}") from None
    bound.apply_defaults()
    overwrite = bound.arguments["overwrite_root_directory"]
    if not isinstance(overwrite, bool):
        raise TypeError(
            f"import_trials(): overwrite_root_directory must be True or False, got {overwrite!r}"
        )
    return dict(bound.arguments)


def are_pairs(value: Any) -> bool:
    """Whether ``value`` can be ``evaluated_trials`` rather than a space (a ``PipelineSpace``
    or its class, a dict of parameters, a YAML file, a ConfigSpace)."""
    spaces = (str, bytes, os.PathLike, Mapping, PipelineSpace, type)
    return isinstance(value, Iterable) and not isinstance(value, spaces)
