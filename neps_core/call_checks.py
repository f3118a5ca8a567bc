"""Calls written for NePS's older ``run(run_pipeline, root_directory, pipeline_space)``: its
second positional argument was the root directory, ours is the space.

Such a call gives a folder where the space goes, a third positional argument, or
``pipeline_space`` both by position and by name (Python's bare "got multiple values for
argument 'pipeline_space'" names neither the value nor the keyword meant). Each is refused
with one explanation, ``older_argument_order``, before anything runs.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from neps_core.errors import ArgumentsError

P = ParamSpec("P")
R = TypeVar("R")
_ORDINALS = ("first", "second", "third", "fourth")


def older_argument_order(root: Any = None) -> str:
    """Why a root directory given where ``run()`` takes the space (or after it) is refused,
    and what to write instead; ``root``, the path given, if known."""
    value = "..." if root is None else repr(os.fspath(root))
    return (
        "NePS's older run(run_pipeline, root_directory, pipeline_space) took root_directory "
        "second; here it is run(evaluate_pipeline, pipeline_space, root_directory=...): pass "
        f"root_directory={value} by name"
    )


def names_a_folder(value: Any) -> bool:
    """Whether ``value`` is a path of a folder, or one without a file suffix: a root
    directory where the space goes (NePS's older argument order), not a space file."""
    return isinstance(value, str | os.PathLike) and (Path(value).is_dir() or not Path(value).suffix)


def refuse_arguments_given_twice(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, raising an ``ArgumentsError`` that names the argument given twice, its
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
            raise ArgumentsError(f"{function.__name__}() got {twice}") from None
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
                return f"{said}; {older_argument_order(value)}"
            return f"{said}; pass one only (the positional ones are {', '.join(positional)})"
    return None
