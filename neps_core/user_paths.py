"""Paths as users write them: a leading ``~`` is a home directory, as in a shell.

One rule for ``run()``, the functions reading a run back, run configs and the CLI: ``~`` and
``~name`` are expanded, ``$VARIABLES`` are left as written, and a ``~name`` whose home cannot
be found is a ``SettingsError`` naming the setting (pathlib raises a bare ``RuntimeError``),
and so is a NUL character, which no file system allows (the OS call failed with a bare
``ValueError: embedded null byte`` that named neither the setting nor the path).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from neps_core.errors import SettingsError


def user_path(value: Any, setting: str) -> Path:
    """``value`` with a leading ``~`` (``~name``) as that home directory; errors name
    ``setting``."""
    if not isinstance(value, str | os.PathLike):
        raise SettingsError(f"{setting} must be a path, got {value!r}")
    path = Path(value)
    if "\x00" in str(path):
        raise SettingsError(
            f"{setting} {str(value)!r}: a path cannot contain a NUL character ('\\x00')"
        )
    try:
        return path.expanduser()
    except RuntimeError:
        raise SettingsError(
            f"{setting} {str(value)!r}: no home directory is known for {path.parts[0]!r}"
        ) from None


def refuse_empty(value: Any, setting: str, names: str, *, here: bool = True) -> None:
    """Refuse an empty (or blank) text for ``setting``, which must name ``names``: a variable
    left unset, more likely than the current directory meant (``here``: say to write '.')."""
    if isinstance(value, str) and value.strip() == "":
        hint = " (write '.' for the current directory)" if here else ""
        raise SettingsError(f"{setting} must name {names}, got {value!r}{hint}")


def shown_path(path: Path) -> str:
    """``path`` as the user most likely wrote it: relative to the current directory when
    inside it (``results/x``, as given to ``run()`` and to ``neps-core status``), else
    absolute. For what a run shows of its root; errors keep the absolute path."""
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):  # outside it, or the current directory was deleted
        return str(path)
