"""What plugin code raises and returns: errors noted with the plugin they came from, answers
checked for their shape before the core uses them."""

from __future__ import annotations

import contextlib
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
