"""Which name the user's code binds a parameter to, for error messages that name it.

``lr = Float(1.0, 0.1)`` fails before any space knows the name ``lr``; reading the caller's
source line just before the constructor call finds it (best effort: ``None`` when unclear).
"""

from __future__ import annotations

import inspect
import keyword
import linecache
import os
import re

_NAME_BEFORE_CALL = re.compile(r"""["']?(\w+)["']?\s*[:=]\s*$""")
_ANNOTATED_NAME = re.compile(r"""^\s*(\w+)\s*:[^=:]*=\s*$""")
_OPEN_CALL = re.compile(r"""[\w.]+\(\s*$""")
#: Modules whose frames are constructors, not the user's assignment (see `assigned_name`).
_CONSTRUCTOR_MODULES = {
    os.path.join(os.path.dirname(os.path.abspath(__file__)), module)
    for module in ("parameters.py", "structure.py", "legacy.py", "naming.py")
}


def assigned_name() -> str | None:
    """The name the user's code binds the parameter under construction to, if it is visible.

    Reads the caller's source just before the constructor call, so ``lr = Float(...)``,
    ``"lr": Float(...)`` and ``dict(lr=Float(...))`` all give ``"lr"``.
    """
    frame = inspect.currentframe()
    built = ""  # the class under construction: the outermost constructor's ``self``
    while frame is not None and (
        frame.f_code.co_filename == "<string>"
        or frame.f_code.co_filename.startswith("<attrs generated")
        or os.path.abspath(frame.f_code.co_filename) in _CONSTRUCTOR_MODULES
    ):
        built = type(frame.f_locals["self"]).__name__ if "self" in frame.f_locals else built
        frame = frame.f_back
    if frame is None:
        return None
    if hasattr(frame.f_code, "co_positions"):
        positions = list(frame.f_code.co_positions())[frame.f_lasti // 2]
        line_number, column = positions[0], positions[2]
        if line_number is None or column is None:
            return None
        prefix = linecache.getline(frame.f_code.co_filename, line_number)[:column]
    else:  # Python 3.10 knows only the line: what precedes the call of the class built
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
        call = re.search(rf"[\w.]*\b{built}\(", line) if built else None
        prefix = line[: call.start()] if call else ""
    while _OPEN_CALL.search(prefix):  # `epochs = Fidelity(Integer(...))` names the Integer
        prefix = _OPEN_CALL.sub("", prefix)
    match = _ANNOTATED_NAME.search(prefix) or _NAME_BEFORE_CALL.search(prefix)
    return match.group(1) if match and not keyword.iskeyword(match.group(1)) else None
