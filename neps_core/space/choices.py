"""Comparing a categorical's choices: by value and type, so ``True`` is not the choice ``1``.

Plain data (what survives a YAML/JSON round trip) is compared by value; other choices
(operations, callables) by ``==``, never by ``repr``. NumPy scalars count as the Python
values they hold; a prior that is both an index and a choice is read as the index, with a
warning where the user wrote it.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np


def python_value(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (``np.int64(3)`` -> ``3``), else ``value``.

    Spaces are often written from arrays (``Categorical(np.array([16, 32]))``, an ``argmax``
    as the prior): ``evaluate_pipeline``, ``config.yaml`` and the saved space see the value.
    """
    return value.item() if isinstance(value, np.generic) else value


def holds_nan(value: Any) -> bool:
    """Whether ``value`` is NaN or a list, tuple or dict holding one.

    NaN equals nothing, not even itself: no stored configuration, saved space or imported
    trial could match a choice or constant holding it.
    """
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list | tuple):
        return any(holds_nan(item) for item in value)
    if isinstance(value, dict):
        return any(holds_nan(item) for item in value.values())
    return False


def is_plain_data(value: Any) -> bool:
    """Whether ``value`` survives a YAML/JSON round trip unchanged (scalars, lists, str dicts)."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if type(value) is list:
        return all(is_plain_data(item) for item in value)
    if type(value) is dict:
        return all(isinstance(k, str) and is_plain_data(v) for k, v in value.items())
    return False


def _bool_agrees(one: Any, other: Any) -> bool:
    """Whether neither or both are bools (``0 == False`` in Python, not in a search space)."""
    return isinstance(one, bool) == isinstance(other, bool)


def _same_choice(one: Any, other: Any) -> bool:
    try:
        return one is other or (bool(one == other) and _bool_agrees(one, other))
    except Exception:  # an object whose == does not give a truth value (an array)
        return False


def position(choices: tuple[Any, ...], value: Any) -> int | None:
    """Where ``value`` is among ``choices`` (``True`` is not ``1``), ``None`` if absent.

    Where two choices equal it (``3`` and ``3.0``, both allowed), the one written like it.
    """
    matches = [i for i, choice in enumerate(choices) if _same_choice(choice, value)]
    if len(matches) > 1:
        written = repr(python_value(value))
        return next((i for i in matches if repr(choices[i]) == written), matches[0])
    return matches[0] if matches else None


def has_duplicates(choices: tuple[Any, ...]) -> bool:
    """Whether two choices are the same: plain data by value and type, objects by ``==``.

    Not by ``repr``: two different operations (lambdas, a class of the same name) may
    print alike.
    """
    plain = [repr(choice) for choice in choices if is_plain_data(choice)]
    if len(set(plain)) != len(plain):
        return True
    others = [choice for choice in choices if not is_plain_data(choice)]
    return any(_same_choice(a, b) for i, a in enumerate(others) for b in others[i + 1 :])


class AmbiguousPriorWarning(UserWarning):
    """A categorical ``prior`` that is both a valid index and another choice (read as index)."""


@contextlib.contextmanager
def prior_indices_meant() -> Iterator[None]:
    """Silence ``AmbiguousPriorWarning`` where priors are indices on purpose.

    Adapters (ConfigSpace's default as an index) and saved spaces being reloaded: the user
    was warned, if at all, where the space was written.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AmbiguousPriorWarning)
        yield
