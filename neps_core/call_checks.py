"""Arguments given both by position and by name: Python's bare "got multiple values for
argument 'pipeline_space'" names neither the value nor the keyword meant.

NePS's older ``run(run_pipeline, root_directory, pipeline_space=...)`` is the usual cause:
its second positional argument was the root directory, ours is the space.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from neps_core.components import names_a_folder
from neps_core.errors import SettingsError

P = ParamSpec("P")
R = TypeVar("R")
_ORDINALS = ("first", "second", "third", "fourth")


def refuse_arguments_given_twice(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, raising a ``SettingsError`` that names the argument given twice, its
    positional value and the keyword it was likely meant for, before anything runs."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            twice = _given_twice(signature, args, kwargs)
            if twice is None:
                raise
            raise SettingsError(f"{function.__name__}() got {twice}") from None
        return function(*args, **kwargs)

    return checked


def _given_twice(
    signature: inspect.Signature, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> str | None:
    """How one argument was given both ways, and what to do; ``None`` if none was."""
    positional = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    for index, (name, value) in enumerate(zip(positional, args, strict=False)):
        if name in kwargs:
            place = _ORDINALS[index] if index < len(_ORDINALS) else f"#{index + 1}"
            said = f"{name} twice: as its {place} positional argument ({value!r}) and by name"
            if name == "pipeline_space" and names_a_folder(value):
                return (
                    f"{said}; NePS's older run(run_pipeline, root_directory, pipeline_space) "
                    f"took root_directory second, here it goes by name: pass "
                    f"root_directory={str(value)!r}"
                )
            return f"{said}; pass one only (the positional ones are {', '.join(positional)})"
    return None
