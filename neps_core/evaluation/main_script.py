"""What a spawned process lacks of the user's script: it imports the script again (as
``__mp_main__``) without running its ``if __name__ == "__main__":`` blocks, so code defined
there, and globals only they set (``args = parser.parse_args()``), do not exist in it.

Code of the script pickles by name where the spawned process has all it needs, so what it
uses at module level (a lock, a dataset) is never pickled; elsewhere it must travel by value.
What cannot travel at all is named by :func:`unsendable_job_error`, for every evaluator that
pickles a trial's call to another process.
"""

from __future__ import annotations

import ast
import contextlib
import dis
import functools
import inspect
import io
import multiprocessing.process
import os
import pickle
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from neps_core.errors import built_without_init, object_of_type
from neps_core.evaluation.child_runner import SCRIPT_MODULE
from neps_core.interfaces import EvaluationJob, EvaluationOutcome
from neps_core.serialization import to_plain

#: The names under which a child process imports the user's script again: multiprocessing's
#: spawn and forkserver (the process pool, dask's workers) and the subprocess evaluator's runner.
_REIMPORTED_SCRIPT = ("__mp_main__", SCRIPT_MODULE)


def refuse_while_a_child_imports_the_script(call: str) -> None:
    """Raise if this process is a child still importing the user's script to evaluate in it.

    A script that calls ``run()`` without the main guard would otherwise start a whole run
    in every child, one the parent waits for (with ``cost_to_spend``: for ever).
    """
    script = _script_being_reimported()
    if script is None and getattr(multiprocessing.process.current_process(), "_inheriting", False):
        script = _script() or "the script"
    if script is not None:
        raise RuntimeError(
            f"{call} was called while this process, a child process started to evaluate "
            f"trials, was still importing {script}: the script calls {call} at module level, "
            "so every child would start a run of its own. Put the call under "
            '`if __name__ == "__main__":`'
        )


def _script_being_reimported() -> str | None:
    """The file of the user's script whose module body a child is running, if one is."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") in (
            _REIMPORTED_SCRIPT
        ):
            return str(frame.f_globals.get("__file__") or "the script")
        frame = frame.f_back
    return None


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
    """The globals a function (or a class's methods) of the script reads, itself or through
    the script's functions it calls, that only its main guard sets: a spawned process
    importing the script by name would lack them (or see their module-level placeholder)."""
    script = _script()
    if getattr(function, "__module__", None) != "__main__" or script is None:
        return []
    missing = _layout(script)[1]
    if not missing:
        return []
    main = vars(sys.modules["__main__"])
    used: set[str] = set()
    todo, seen = _routines(function), set()
    while todo:
        routine = todo.pop()
        if routine in seen:
            continue
        seen.add(routine)
        names = _globals_read(routine.__code__)
        used |= names
        for name in names:  # a helper of the script: what it reads counts too
            if getattr(main.get(name), "__module__", None) == "__main__":
                todo += _routines(main[name])
    return sorted(used & missing)


def _routines(code: Any) -> list[types.FunctionType]:
    """The functions whose code runs for ``code``: a decorated function's own, a class's methods."""
    code = inspect.unwrap(code) if callable(code) else code
    if inspect.isfunction(code):
        return [code]
    if inspect.isclass(code):
        return [value for value in vars(code).values() if inspect.isfunction(value)]
    return []


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


def script_class(qualname: str) -> Any:
    """The class ``qualname`` of the script this process runs as ``__main__``."""
    found: Any = sys.modules["__main__"]
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


class _ScriptErrorsByName(pickle.Pickler):
    """Pickles an exception class of the script by its name there, not by identity.

    A dask task gets the script's function by value, with a copy of the class it raises,
    which pickle refuses ("not the same object as __main__.MyErr"); by name, the worker finds
    it in the script it imported again, and the user's process in the script itself.
    """

    def reducer_override(self, obj: Any) -> Any:
        if (
            isinstance(obj, type)
            and issubclass(obj, BaseException)
            and obj.__module__ == "__main__"
        ):
            return script_class, (obj.__qualname__,)
        return NotImplemented


class _ErrorsWithoutInit(_ScriptErrorsByName):
    """Pickles an exception as its class, ``args`` and attributes, rebuilt without calling
    its ``__init__`` (``built_without_init``)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, BaseException):
            return built_without_init, (type(obj), obj.args, vars(obj))
        return super().reducer_override(obj)


def pickled_error(error: BaseException, rules: Mapping[Any, Any] | None = None) -> bytes:
    """``error`` pickled, its class by name if the script defines it; ``rules``: the
    ``dispatch_table`` to pickle by (``copyreg``'s by default)."""
    buffer = io.BytesIO()
    pickler = _ScriptErrorsByName(buffer)
    if rules is not None:
        pickler.dispatch_table = rules
    pickler.dump(error)
    return buffer.getvalue()


def pickled_without_init(value: Any) -> bytes:
    """``value`` pickled with its exceptions rebuilt without their ``__init__``, checked to
    unpickle (raises if not): ``MyError(code, detail)`` giving ``Exception`` one message
    pickles by Python's rules but cannot be rebuilt where it is received."""
    buffer = io.BytesIO()
    _ErrorsWithoutInit(buffer).dump(value)
    pickle.loads(buffer.getvalue())
    return buffer.getvalue()


def sendable_error(error: BaseException, rules: Mapping[Any, Any] | None = None) -> bytes:
    """``error`` pickled by ``rules`` (:func:`pickled_error`) where they rebuild it, else
    without its ``__init__``; raises if neither loads. How evaluators send an exception back."""
    pickled = pickled_error(error, rules)
    try:
        pickle.loads(pickled)
    except Exception:
        return pickled_without_init(error)
    return pickled


def unsendable_job_error(
    function: Any,
    arguments: Mapping[str, Any],
    trial_id: str,
    destination: str,
    dumps: Callable[[Any], object],
) -> TypeError | None:
    """The error that fails a trial whose call could not be pickled, naming the part
    ``dumps`` refuses: ``evaluate_pipeline`` or an argument (say, an operation's object
    holding a lock); ``None`` where each part pickles alone, so the failure was another one.

    A bare "cannot pickle '_thread.lock' object" (or dask's "Could not serialize object of
    type LLGExpr") said nothing of where the lock was.
    """
    parts = {"evaluate_pipeline": function} | {
        f"the argument {name!r}": value for name, value in arguments.items()
    }
    for part, value in parts.items():
        try:
            dumps(value)
        except Exception as problem:
            return TypeError(
                f"{part} of trial {trial_id} cannot be sent to {destination}: {problem}"
            )
    return None


def unsendable_outcome(
    job: EvaluationJob, error: Exception, destination: str, dumps: Callable[[Any], object]
) -> EvaluationOutcome:
    """The outcome failing ``job``'s trial when submitting it raised ``error`` because a part
    of it cannot be pickled (:func:`unsendable_job_error`); ``error`` itself otherwise."""
    named = unsendable_job_error(job.function, job.arguments, job.trial.id, destination, dumps)
    if named is None:
        raise error
    return EvaluationOutcome(trial_id=job.trial.id, error=named)


def with_plain_values(result: Any) -> dict[str, Any]:
    """A dict result that could not be pickled, its unpicklable values made plain.

    ``sync`` stores such a value (a lock, a client handle in ``extra``) as its text; sent back
    from another process it would otherwise cost the trial its objective. Anything else
    raises: there is no objective to keep.
    """
    if not isinstance(result, Mapping):
        raise TypeError(f"{object_of_type(result)} as a result has no values to make plain")

    plain = {key: item if _pickles(item) else to_plain(item) for key, item in result.items()}
    pickle.dumps(plain)
    return plain


def _pickles(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def unimportable_script() -> str | None:
    """The ``__file__`` of a script that a spawned process cannot run again, else ``None``.

    Spawn and forkserver re-run the script from its file; one read from stdin
    (``python - < train.py``) has ``__file__ == "<stdin>"``, which is no file, and every new
    process died of a FileNotFoundError.
    """
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):
        return None  # ``python -m``: imported by module name
    path = getattr(main, "__file__", None)
    started_in = getattr(multiprocessing.process, "ORIGINAL_DIR", None) or ""  # as spawn
    if path is None or os.path.isfile(os.path.join(started_in, path)):
        return None
    return str(path)


class _HiddenScript:
    """The script's ``__file__`` taken away while any thread starts processes, put back when
    the last one is done (two runs in threads of one stdin script raced on it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starting = 0
        self._path: str | None = None

    @contextlib.contextmanager
    def hidden(self) -> Iterator[None]:
        with self._lock:
            if self._starting == 0:
                self._path = unimportable_script()
                if self._path is not None:
                    del sys.modules["__main__"].__file__
            self._starting += 1
        try:
            yield
        finally:
            with self._lock:
                self._starting -= 1
                if self._starting == 0 and self._path is not None:
                    sys.modules["__main__"].__file__ = self._path
                    self._path = None


#: While processes start, a script they could not run again is left out, as for an
#: interactive session: they import nothing of it, and its code travels by value.
unimportable_script_hidden = _HiddenScript().hidden


def _script() -> str | None:
    return getattr(sys.modules.get("__main__"), "__file__", None)


def _globals_read(code: types.CodeType) -> set[str]:
    """The global names ``code`` and the code nested in it read (not attribute names)."""
    names = {
        instruction.argval
        for instruction in dis.get_instructions(code)
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME")
    }
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _globals_read(constant)
    return names


@functools.cache
def _layout(script: str) -> tuple[tuple[tuple[int, int], ...], frozenset[str]]:
    """The line ranges of the script's top-level ``if __name__ == "__main__":`` blocks, and
    the global names set only when the script runs as ``__main__``."""
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
    # Set (or reset, over a module-level placeholder) when the script runs, not on import:
    # bound in a guard, or declared global in a function (``main()`` calling parse_args).
    at_run_time = _bound(statement for guard in guards for statement in guard.body)
    at_run_time |= {
        name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names
    }
    return lines, frozenset(at_run_time)


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
