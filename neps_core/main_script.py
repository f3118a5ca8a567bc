"""What a spawned process lacks of the user's script: it imports the script again (as
``__mp_main__``) without running its ``if __name__ == "__main__":`` blocks, so code defined
there, and globals only they set (``args = parser.parse_args()``), do not exist in it.

Code of the script pickles by name where the spawned process has all it needs, so what it
uses at module level (a lock, a dataset) is never pickled; elsewhere it must travel by value.
"""

from __future__ import annotations

import ast
import functools
import inspect
import io
import pickle
import sys
import types
from collections.abc import Iterable, Iterator
from typing import Any


def only_in_main(function: Any) -> bool:
    """Whether a spawned process cannot import ``function`` (or its class) by name.

    True for code of ``__main__`` that re-running the script as ``__mp_main__`` would not
    define: under its ``if __name__ == "__main__":`` guard, or typed into a notebook.
    """
    if "__main__" not in (getattr(function, "__module__", None), type(function).__module__):
        return False
    script = _script()
    code = inspect.isfunction(function) or inspect.ismethod(function) or inspect.isclass(function)
    try:
        line = inspect.getsourcelines(function if code else type(function))[1]
    except (OSError, TypeError):
        return True
    return script is None or any(first <= line <= last for first, last in _layout(script)[0])


def guard_only_globals(function: Any) -> list[str]:
    """The globals a function (or a class's methods) of the script uses that only its main
    guard sets: a spawned process importing the script by name would not have them."""
    script = _script()
    if getattr(function, "__module__", None) != "__main__" or script is None:
        return []
    missing = _layout(script)[1]
    if not missing:
        return []
    functions = [function] if inspect.isfunction(function) else []
    if inspect.isclass(function):
        functions = [f for f in vars(function).values() if inspect.isfunction(f)]
    used: set[str] = set()
    for routine in functions:
        used |= _names_used(routine.__code__)
    return sorted(used & missing)


class _GuardedCodeFinder(pickle.Pickler):
    """Pickles as usual, noting code of the script that a spawned process would lack."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.guarded = False

    def reducer_override(self, obj: Any) -> Any:
        code = inspect.isfunction(obj) or inspect.isclass(obj)
        if code and getattr(obj, "__module__", None) == "__main__":
            self.guarded |= only_in_main(obj) or bool(guard_only_globals(obj))
        return NotImplemented  # pickled as it would be without this look


def pickled_by_name(value: Any) -> bytes | None:
    """``value`` pickled, code by reference (a module-level function of the script too);
    ``None`` where it refers to code a spawned process would lack, which must travel by value.

    Raises what ``pickle`` raises for a value it cannot pickle.
    """
    buffer = io.BytesIO()
    finder = _GuardedCodeFinder(buffer)
    finder.dump(value)
    return None if finder.guarded else buffer.getvalue()


def _script() -> str | None:
    return getattr(sys.modules.get("__main__"), "__file__", None)


def _names_used(code: types.CodeType) -> set[str]:
    """The global (and attribute) names ``code`` and the code nested in it refer to."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _names_used(constant)
    return names


@functools.cache
def _layout(script: str) -> tuple[tuple[tuple[int, int], ...], frozenset[str]]:
    """The line ranges of the script's top-level ``if __name__ == "__main__":`` blocks, and
    the global names only those blocks bind."""
    try:
        with open(script, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, ValueError):
        return ((0, sys.maxsize),), frozenset()  # unreadable: assume the worst, send by value
    guards = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
    ]
    lines = tuple((node.lineno, node.end_lineno or node.lineno) for node in guards)
    in_guards = _bound(statement for guard in guards for statement in guard.body)
    elsewhere = _bound(node for node in tree.body if not any(node is g for g in guards))
    return lines, frozenset(in_guards - elsewhere)


def _bound(statements: Iterable[ast.stmt]) -> set[str]:
    """The names ``statements`` bind in their (module) scope."""
    names: set[str] = set()
    for statement in statements:
        for node in _in_scope(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


_OWN_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _in_scope(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` and what it holds, but not the bodies of the scopes it opens."""
    yield node
    if isinstance(node, _OWN_SCOPES):
        return
    for child in ast.iter_child_nodes(node):
        yield from _in_scope(child)
