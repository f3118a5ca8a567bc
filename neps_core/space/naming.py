"""Which name the user's code binds a parameter to, for error messages that name it.

``lr = Float(1.0, 0.1)`` fails before any space knows the name ``lr``; reading the caller's
source line just before the constructor call finds it (best effort: ``None`` when unclear).
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import keyword
import linecache
import os
import re
from collections.abc import Iterator
from types import FrameType

_QUOTED_KEY = re.compile(r"""["'](\w+)["']\s*:\s*$""")  # {"lr": Float(...)}
_VARIABLE_KEY = re.compile(r"""(?<![\w"'])(\w+)\s*:\s*$""")  # {name: Float(...)} in a loop
_ASSIGNED = re.compile(r"""(\w+)\s*=\s*$""")  # lr = Float(...), dict(lr=Float(...))
_ANNOTATED_NAME = re.compile(r"""^\s*(\w+)\s*:[^=:]*=\s*$""")
_OPEN_CALL = re.compile(r"""[\w.]+\(\s*$""")
_RETURN = re.compile(r"""\breturn\s+$""")
#: The name a description gives the parameter being built from it: no code names it there.
_DESCRIBED_AS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "described_as", default=None
)
#: How many helper functions (``return Float(...)``) to look through for the assignment.
_HELPER_DEPTH = 3
#: Modules whose frames are constructors, not the user's assignment (see `assigned_name`).
_CONSTRUCTOR_MODULES = {
    os.path.join(os.path.dirname(os.path.abspath(__file__)), module)
    for module in ("parameters.py", "conversion.py", "structure.py", "legacy.py", "naming.py")
}


@contextlib.contextmanager
def described_as(name: str) -> Iterator[None]:
    """Within the block, the parameter under construction is named ``name``."""
    token = _DESCRIBED_AS.set(name)
    try:
        yield
    finally:
        _DESCRIBED_AS.reset(token)


def assigned_name() -> str | None:
    """The name the user's code binds the parameter under construction to, if it is visible.

    Reads the caller's source just before the constructor call, so ``lr = Float(...)``,
    ``"lr": Float(...)`` and ``dict(lr=Float(...))`` all give ``"lr"``; ``{name: Float(...)}``
    gives the value of ``name``, and a helper's ``return Float(...)`` its caller's name.
    """
    described = _DESCRIBED_AS.get()
    if described is not None:
        return described
    frame = inspect.currentframe()
    built = ""  # the class under construction: the outermost constructor's ``self``
    while frame is not None and (
        frame.f_code.co_filename == "<string>"
        or frame.f_code.co_filename.startswith("<attrs generated")
        or os.path.abspath(frame.f_code.co_filename) in _CONSTRUCTOR_MODULES
    ):
        built = type(frame.f_locals["self"]).__name__ if "self" in frame.f_locals else built
        frame = frame.f_back
    for _ in range(_HELPER_DEPTH + 1):
        if frame is None:
            return None
        prefix = _text_before_call(frame, built)
        if not _RETURN.search(prefix):
            return _name_in(prefix, frame)
        frame, built = frame.f_back, ""  # the helper's caller: its call is the one to read
    return None


def _text_before_call(frame: FrameType, built: str) -> str:
    """The source of ``frame``'s current line up to the call it is making."""
    if hasattr(frame.f_code, "co_positions"):
        positions = list(frame.f_code.co_positions())[frame.f_lasti // 2]
        line_number, column = positions[0], positions[2]
        if line_number is None or column is None:
            return ""
        prefix = linecache.getline(frame.f_code.co_filename, line_number)[:column]
    else:  # Python 3.10 knows only the line: what precedes the call of the class built
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
        call = re.search(rf"[\w.]*\b{built}\(", line) if built else None
        prefix = line[: call.start()] if call else ""
    while _OPEN_CALL.search(prefix):  # `epochs = Fidelity(Integer(...))` names the Integer
        prefix = _OPEN_CALL.sub("", prefix)
    return prefix


def _name_in(prefix: str, frame: FrameType) -> str | None:
    """The name ``prefix`` (the text before the call) binds the result to."""
    match = _ANNOTATED_NAME.search(prefix) or _QUOTED_KEY.search(prefix)
    if match is None and (variable := _VARIABLE_KEY.search(prefix)) is not None:
        key = frame.f_locals.get(variable.group(1))  # a key computed in a loop
        return key if isinstance(key, str) else None
    match = match or _ASSIGNED.search(prefix)
    return match.group(1) if match and not keyword.iskeyword(match.group(1)) else None
