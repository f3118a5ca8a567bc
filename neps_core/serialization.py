"""The one cattrs converter and the YAML/JSON helpers every backend uses (never pickle).

Records are unstructured to plain JSON-compatible data (dicts, lists, strings, numbers), so
that what storage writes can be read by people, by other tools and by later versions.
"""

from __future__ import annotations

import enum
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cattrs
import numpy as np
import yaml

from neps_core.models import Objective

_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def make_converter() -> cattrs.Converter:
    """The converter for neps_core's models; plugins extend it via ``neps_configure_converter``."""
    converter = cattrs.Converter()
    converter.register_structure_hook(Objective | None, _structure_objective)
    converter.register_structure_hook(Any, lambda value, _: value)
    return converter


def _structure_objective(value: Any, _: Any) -> float | tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return tuple(float(v) for v in value)
    return float(value)


def to_plain(value: Any) -> Any:
    """Make ``value`` JSON/YAML friendly: enums, NumPy scalars and arrays, tuples, paths, sets.

    Objects with no plain form become their ``repr`` (an exception its type and message).
    """
    if isinstance(value, enum.Enum | np.generic):
        value = value.value if isinstance(value, enum.Enum) else value.item()
    if value is None or isinstance(value, bool | str | int | float):
        return value
    for types, convert in _PLAIN_FORMS:
        if isinstance(value, types):
            return convert(value)
    return repr(value)


_PLAIN_FORMS: tuple[tuple[Any, Callable[[Any], Any]], ...] = (
    (Mapping, lambda v: {str(k): to_plain(x) for k, x in v.items()}),
    (list | tuple | set | frozenset | np.ndarray, lambda v: [to_plain(x) for x in v]),
    (os.PathLike, os.fspath),
    (BaseException, lambda e: f"{type(e).__name__}: {e}"),
)


def dump_yaml(data: Any) -> str:
    """Readable block-style YAML, keys in insertion order."""
    return yaml.dump(data, Dumper=_YAML_DUMPER, sort_keys=False, default_flow_style=False)


def load_yaml(text: str) -> Any:
    """Parse YAML safely."""
    return yaml.load(text, Loader=_YAML_LOADER)


def read_yaml(path: Path) -> Any:
    """Read a YAML file."""
    return load_yaml(Path(path).read_text(encoding="utf-8"))


def write_atomic(path: Path, text: str, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half.

    Writes a temporary file in the same directory and renames it over the target; with
    ``fsync`` the data reaches the disk before the rename (survives power loss too).
    """
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
