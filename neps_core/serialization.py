"""The one cattrs converter and the YAML/JSON helpers every backend uses (never pickle).

Records are unstructured to plain JSON-compatible data (dicts, lists, strings, numbers), so
that what storage writes can be read by people, by other tools and by later versions.
"""

from __future__ import annotations

import enum
import logging
import math
import numbers
import os
import sys
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import cattrs
import numpy as np
import yaml

from neps_core.errors import StorageError
from neps_core.evaluation.child_runner import EXACT_REALS, exact_real_as_float, exception_text
from neps_core.models import FidelityValue, Objective

logger = logging.getLogger(__name__)

_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def make_converter() -> cattrs.Converter:
    """The converter for neps_core's models; plugins extend it via ``neps_configure_converter``."""
    converter = cattrs.Converter()
    converter.register_structure_hook(Objective | None, _structure_objective)
    converter.register_structure_hook(FidelityValue | None, _structure_fidelity)
    # A predicate, not a type: Python 3.10's singledispatch refuses typing.Any as a class.
    converter.register_structure_hook_func(lambda kind: kind is Any, lambda value, _: value)
    return converter


def make_settings_converter(base: cattrs.Converter | None = None) -> cattrs.Converter:
    """A copy of ``base`` that structures the options of a plugin's ``Settings`` strictly.

    cattrs' defaults call ``bool(value)`` and ``int(value)``, so ``"false"`` became ``True``
    and ``eta: 3.9`` became ``3``; for options a silent conversion hides a typo, so only true
    booleans, whole numbers and finite numbers pass (numeric strings too: YAML reads ``1e-3``
    as a string). A string option takes any scalar but ``None``, a boolean or a collection,
    which ``str()`` would turn into ``'None'``, ``'True'`` or ``"['a']"``.
    """
    converter = (base or make_converter()).copy()
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    return converter


def _strict_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | np.bool_ | Collection):
        raise ValueError(f"expected a string, got {value!r}")
    return str(value)


def _strict_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    kind = "the string " if isinstance(value, str) else ""  # "'false'" reads like false
    raise ValueError(f"expected true or false, got {kind}{value!r}")


def _strict_int(value: Any, _: Any) -> int:
    return whole_number(value)


def whole_number(value: Any) -> int:
    """``value`` as an ``int``: ``3``, ``3.0`` and ``"3"`` are, ``3.9`` and ``True`` are not
    (a ``ValueError``), as options from YAML files and command lines are read."""
    number = _number(value, "a whole number")
    if isinstance(number, int):
        return number
    if math.isfinite(number) and number.is_integer():
        return int(number)
    raise ValueError(f"expected a whole number, got {value!r}")


def _strict_float(value: Any, _: Any) -> float:
    number = float(_number(value, "a finite number"))
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _number(value: Any, expected: str) -> int | float:
    """``value`` as a number: a real number or a numeric string, never a boolean."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"expected {expected}, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        for parse in (int, float):
            try:
                return parse(value.strip())
            except ValueError:
                continue
    raise ValueError(f"expected {expected}, got {value!r}")


def _structure_fidelity(value: Any, _: Any) -> int | float | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return float(value)


def _structure_objective(value: Any, _: Any) -> float | tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return tuple(float(v) for v in value)
    return float(value)


def to_plain(value: Any) -> Any:
    """Make ``value`` JSON/YAML friendly: enums, NumPy scalars and arrays, tensors, tuples,
    paths, sets.

    Tensors are recognized by ``dtype`` and ``tolist`` (torch, JAX), never imported; a
    ``Decimal`` or ``Fraction`` becomes a float (its repr beyond a float's range). Objects
    with no plain form become their ``repr`` (an exception its type and message), and an int
    too long for Python to write in decimal (over 4300 digits by default, which JSON and YAML
    writers refuse) becomes text giving its size and its value in hexadecimal.
    """
    if isinstance(value, enum.Enum | np.generic):
        value = value.value if isinstance(value, enum.Enum) else value.item()
    if isinstance(value, int) and not isinstance(value, bool) and not _writable_int(value):
        return f"<{int_size(value)}: {value:#x}>"  # hex has no length limit: nothing lost
    if value is None or isinstance(value, bool | str | int | float):
        return value
    if hasattr(value, "dtype") and hasattr(value, "tolist"):
        try:
            listed = value.tolist()
        except Exception:  # a sparse or meta tensor has no list form
            return safe_repr(value)
        return to_plain(listed)
    for types, convert in _PLAIN_FORMS:
        if isinstance(value, types):
            return convert(value)
    return safe_repr(value)


def int_size(number: int) -> str:
    """``"an int of about N digits"``: how to name an int whose ``repr()`` may be refused."""
    return f"an int of about {int(number.bit_length() * math.log10(2)) + 1} digits"


def _writable_int(number: int) -> bool:
    """Whether ``str(number)`` works: Python refuses ints past ``sys.get_int_max_str_digits()``
    digits (a ``ValueError``), which would stop the write of a whole trial."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()  # from Python 3.10.7 on
    if limit == 0 or number.bit_length() < 3 * limit:  # fewer than 3 bits a digit: too short
        return True
    try:
        str(number)
    except ValueError:
        return False
    return True


def key_text(key: Any) -> str:
    """A mapping key as JSON/YAML text, also one holding an int too long to write in decimal."""
    try:
        return str(to_plain(key) if isinstance(key, int) else key)
    except ValueError:  # such an int inside a tuple, say
        return str(to_plain(key))


def _plain_mapping(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """``mapping`` with text keys, none merged: where two keys have the same text (``1`` and
    ``"1"``), the string keeps it and the other gets its type's name (``"1 (int)"``), with a
    warning, so that neither value is lost."""
    plain: dict[str, Any] = {}
    string_keys = {key for key in mapping if type(key) is str}  # not np.str_, a str Enum
    for key, value in mapping.items():
        text = key if type(key) is str else key_text(key)
        if type(key) is not str and (text in string_keys or text in plain):
            taken, text = text, f"{text} ({type(key).__name__})"
            copies = 1
            while text in string_keys or text in plain:
                copies += 1
                text = f"{taken} ({type(key).__name__} {copies})"
            logger.warning(
                "Two keys of one mapping both become %r when stored; the %s key %s is stored"
                " as %r instead, so that neither value is lost",
                taken,
                type(key).__name__,
                safe_repr(key),
                text,
            )
        plain[text] = to_plain(value)
    return plain


def structure_error_text(error: BaseException, path: str) -> str:
    """What is wrong in a record cattrs could not structure: the offending fields (``trial.
    state``: not a valid TrialState), not just "1 sub-exception"."""
    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(error, path=path))
    return exception_text(error)


def shortened(text: str | None, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters: a message to show, not to keep."""
    if not text:
        return "(no error message)"
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def safe_repr(value: Any) -> str:
    """``repr(value)``, or its type's name where ``__repr__`` raises: text for the user's
    objects that cannot fail in turn."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} object whose repr() fails>"


_PLAIN_FORMS: tuple[tuple[Any, Callable[[Any], Any]], ...] = (
    (Mapping, _plain_mapping),
    (list | tuple | set | frozenset | np.ndarray, lambda v: [to_plain(x) for x in v]),
    (os.PathLike, os.fspath),
    (BaseException, exception_text),
    (EXACT_REALS, lambda v: _or_repr(exact_real_as_float(v), v)),
)


def _or_repr(number: float | None, value: Any) -> Any:
    return safe_repr(value) if number is None else number


def dump_yaml(data: Any) -> str:
    """Readable block-style YAML, keys in insertion order, non-ASCII text as written.

    Every file is written and read as UTF-8, so ``"größe"`` need not become ``"gr\\xF6\\xDFe"``.
    A path with a byte that is not UTF-8 (legal on Linux; Python reads it as a lone surrogate)
    stops libyaml's emitter, so such data goes to PyYAML's own, which escapes it.
    """
    options: dict[str, Any] = {"sort_keys": False, "default_flow_style": False}
    try:
        return yaml.dump(data, Dumper=_YAML_DUMPER, allow_unicode=True, **options)
    except UnicodeEncodeError:
        return yaml.dump(data, Dumper=yaml.SafeDumper, allow_unicode=True, **options)


def load_yaml(text: str) -> Any:
    """Parse YAML safely (with PyYAML's own parser where libyaml refuses an escaped surrogate)."""
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        if "\\u" not in text:
            raise
        return yaml.load(text, Loader=yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Read a YAML file."""
    return load_yaml(Path(path).read_text(encoding="utf-8"))


def describe_yaml_error(error: yaml.YAMLError) -> str:
    """PyYAML's message, which spans lines with a caret under the culprit, as one line."""
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return " ".join(str(error).split())
    said = (getattr(error, "context", None), getattr(error, "problem", None))
    return f"line {mark.line + 1}, column {mark.column + 1}: " + ": ".join(filter(None, said))


def _file_mode() -> int:
    """The mode ``open()`` gives new files: 0666 less the process's umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def make_folder(path: Path) -> None:
    """Create ``path`` and its parents; failing (read-only, full disk) is a ``StorageError``
    naming it, as every write of a run is."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"Could not create the folder {path}: {error}") from error


def write_atomic(path: Path, text: str, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half.

    Writes a temporary file in the same directory and renames it over the target; with
    ``fsync`` the data reaches the disk before the rename (survives power loss too).
    """
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # mkstemp gives 0600, hiding the run from a shared group
            os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:  # a failed write names none
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
