"""What plugin code raises and returns: errors noted with the plugin they came from, answers
checked for their shape before the core uses them."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from neps_core.errors import add_note, object_of_type

#: Comma-separated entry-point or distribution names of plugins to leave out.
DISABLE_ENV = "NEPS_CORE_DISABLE_PLUGINS"


def returned_list(value: Any, what: str, element: type) -> list[Any]:
    """``value``, which ``what`` returned, as a list; a ``TypeError`` if it is not one.

    Iterating ``None`` or a lone ``element`` would fail with a message naming no plugin.
    """
    if isinstance(value, Iterable) and not isinstance(value, str | Mapping | element):
        return list(value)
    raise TypeError(
        f"{what} returned {object_of_type(value)}; it must return a list of {element.__name__}"
    )


@contextlib.contextmanager
def plugin_errors(role: str, origin: str) -> Iterator[None]:
    """Let errors from plugin code pass unchanged but for a note naming the plugin."""
    try:
        yield
    except Exception as error:
        add_note(error, f"(raised in {role} {origin})")
        raise


def raised_in(cls: type, error: BaseException) -> bool:
    """Whether ``error`` came from the code of ``cls`` (or its bases' modules outside the
    core) rather than from the core, whose callbacks (a storage's ``change``) run inside
    plugin code: the innermost frame of its traceback in either decides."""
    own = {base.__module__ for base in cls.__mro__ if not _is_core(base.__module__)}
    own -= {"builtins", "abc"}
    decided = False
    for frame, _ in traceback.walk_tb(error.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module in own or _is_core(module):
            decided = module in own
    return decided


def _is_core(module: str) -> bool:
    """Whether ``module`` is the core's (``neps_core_plugins``, the built-ins, is not)."""
    return module == "neps_core" or module.startswith("neps_core.")
