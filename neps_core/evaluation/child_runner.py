"""Runs one ``evaluate_pipeline`` call in a fresh interpreter, and the wire format it speaks.

The ``subprocess`` evaluator starts ``python <this file> <target> <injected names>``. This
file is executed by path, so it must only import the standard library: importing the
``neps_core`` package would add its import time to every trial. The parent imports the same
module as ``neps_core.evaluation.child_runner`` to decode what the child wrote.

Results travel as JSON, never pickle. Values JSON cannot express are tagged so that they
come back as what the user returned: a tuple stays a tuple (a multi-objective result), a set
stays a set (so the core can reject it by name), an exception keeps its type and message.
"""

from __future__ import annotations

import atexit
import contextlib
import decimal
import fractions
import gc
import importlib
import importlib.util
import io
import json
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neps_core.evaluation.trial_context import TrialContext

CONFIG_FILE_ENV = "NEPS_CORE_CONFIG_FILE"
RESULT_FILE_ENV = "NEPS_CORE_RESULT_FILE"
PIPELINE_DIRECTORY_ENV = "NEPS_CORE_PIPELINE_DIRECTORY"
PREVIOUS_PIPELINE_DIRECTORY_ENV = "NEPS_CORE_PREVIOUS_PIPELINE_DIRECTORY"
PIPELINE_ID_ENV = "NEPS_CORE_PIPELINE_ID"
ROOT_DIRECTORY_ENV = "NEPS_CORE_ROOT_DIRECTORY"
PARENT_SYS_PATH_ENV = "NEPS_CORE_PARENT_SYS_PATH"
PARENT_ARGV_ENV = "NEPS_CORE_PARENT_ARGV"
#: The trial's seed (from the run's ``seed`` and the trial id), if the run has a seed.
TRIAL_SEED_ENV = "NEPS_CORE_TRIAL_SEED"
#: Written beside the result file when ``evaluate_pipeline`` is about to be called.
BEGAN_FILE = "neps_began"
#: Keys of the record this runner writes; a result file without it is a user's plain JSON.
RECORD_KEY = "neps_core_child"
#: The module name under which this runner imports a script named by its path.
SCRIPT_MODULE = "__neps_core_main__"

_INJECTED_ENV = {
    "pipeline_directory": PIPELINE_DIRECTORY_ENV,
    "previous_pipeline_directory": PREVIOUS_PIPELINE_DIRECTORY_ENV,
    "pipeline_id": PIPELINE_ID_ENV,
    "root_directory": ROOT_DIRECTORY_ENV,
}
_PATHS = {"pipeline_directory", "previous_pipeline_directory", "root_directory"}


class RemoteEvaluationError(Exception):
    """An exception from a child process whose own type could not be rebuilt here."""


def call_evaluate_pipeline(
    function: Callable[..., Any],
    arguments: Mapping[str, Any],
    context: TrialContext | None = None,
    *,
    seed: int | None = None,
) -> Any:
    """``function(**arguments)``; the coroutine an ``async def`` function returns is run to
    its end, so such a function works with every evaluator.

    The trial's seed (``context.seed``, else ``seed``) seeds the global generators right before
    the call, in the process that makes it (``neps_core.evaluation.seeding.seeded``).

    Where an event loop already runs in this thread (a Jupyter cell), ``asyncio.run`` is
    refused: the coroutine then gets a loop of its own in a helper thread (``own_loop``), and a
    Ctrl-C cancels it. ``asyncio`` is imported only for a coroutine (this module runs in a
    fresh interpreter per trial). ``context`` (the job's): the trial the call evaluates, for
    helpers the function calls (``trial_context``; a child of this file reads its environment).

    A copy of this process that the function forked and that leaves the call (returning,
    raising, or ``sys.exit()``) ends there (:func:`_forked_copies_end`): it must not report,
    store or go on as a second worker.
    """
    caller = os.getpid()
    try:
        value = _call(function, arguments, context, seed)
    except BaseException as error:
        _forked_copies_end(caller, error)
        raise
    _forked_copies_end(caller, None)
    return value


def _call(
    function: Callable[..., Any],
    arguments: Mapping[str, Any],
    context: TrialContext | None,
    seed: int | None,
) -> Any:
    if context is not None:  # not in a child of this file: it imports no more than it must
        from neps_core.evaluation.trial_context import evaluating

        with evaluating(context):
            own = seed if context.seed is None else context.seed
            return _call(function, arguments, None, own)
    if seed is None:
        return _to_its_end(function(**arguments))
    from neps_core.evaluation.seeding import seeded  # a child imports neps_core for a seed only

    with seeded(seed):
        return _to_its_end(function(**arguments))


def _to_its_end(value: Any) -> Any:
    """``value``, or what the coroutine ``value`` returns when run to its end."""
    if not isinstance(value, Coroutine):
        return value
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(value)
    # Only in the worker's own process (a fresh interpreter runs no loop): not at the top.
    from neps_core.evaluation.own_loop import run_in_a_loop_of_its_own

    return run_in_a_loop_of_its_own(value)


def _forked_copies_end(caller: int, error: BaseException | None) -> None:
    """In a process other than ``caller`` (a ``fork`` made by the function), end at once with
    ``os._exit``, with the status Python gives that way of leaving: 0 for a return, a
    ``sys.exit``'s code, 1 with its traceback for an exception.

    Its ``sys.exit(0)`` was stored as the trial's failure, the parent's real result dropped,
    and the copy ran on as a second worker (the rest of the user's script too); a returned
    value became the trial's result. ``os._exit`` skips the parent's ``atexit`` handlers
    (which would close the parent's pool and storage); the standard streams are flushed, as
    that exit would have.
    """
    if os.getpid() == caller:
        return
    code: Any = 0
    if isinstance(error, SystemExit):
        code = error.code
    elif error is not None:
        traceback.print_exception(error)
        code = 1
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # sys.exit("message") prints it and exits with 1
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # closed, or a broken pipe
            stream.flush()
    os._exit(code or 0)


# -- encoding ----------------------------------------------------------------------------------
def encode(value: Any) -> Any:
    """``value`` as plain JSON data, with tags for tuples, sets, exceptions, ``Decimal`` and
    ``Fraction`` numbers and odd objects."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    for kind, encoder in _ENCODERS:
        if isinstance(value, kind):
            return encoder(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, without importing numpy
        return encode(value.tolist())
    return {"__object__": {"type": type(value).__name__, "repr": repr(value)[:200]}}


#: Real numbers Python keeps exactly; results read them as floats, like NumPy's numbers.
EXACT_REALS = (decimal.Decimal, fractions.Fraction)


def exact_real_as_float(value: decimal.Decimal | fractions.Fraction) -> float | None:
    """``value`` as a float (a signaling NaN, which ``float()`` refuses, as NaN), ``None``
    when it is finite but beyond a float's range (a Decimal would silently become infinite)."""
    if isinstance(value, decimal.Decimal):
        if value.is_snan():
            return math.nan
        number = float(value)
        return None if math.isinf(number) and value.is_finite() else number
    try:
        return float(value)
    except OverflowError:
        return None


def _exact_real(value: decimal.Decimal | fractions.Fraction) -> Any:
    """The float the parent would read ``value`` as (plain JSON, for a ``Command``'s config
    file too); beyond a float's range, a ``Decimal`` of its size, which the parent names as
    too large, as it does for the worker's own."""
    number = exact_real_as_float(value)
    if number is not None:
        return number
    if isinstance(value, fractions.Fraction):  # its parts may be too long to write as text
        value = decimal.Decimal(value.numerator) / decimal.Decimal(value.denominator)
    return {"__decimal__": str(value)}


_ENCODERS: tuple[tuple[Any, Callable[[Any], Any]], ...] = (
    (list, lambda value: [encode(item) for item in value]),
    (dict, lambda value: {str(key): encode(item) for key, item in value.items()}),
    (tuple, lambda value: {"__tuple__": [encode(item) for item in value]}),
    (set | frozenset, lambda value: {"__set__": [encode(item) for item in value]}),
    (BaseException, lambda value: {"__exception__": describe_exception(value)}),
    (os.PathLike, os.fspath),
    (EXACT_REALS, _exact_real),
)


def describe_exception(error: BaseException, formatted: str | None = None) -> dict[str, Any]:
    """What is needed to rebuild ``error`` in another process."""
    cls = type(error)
    try:
        arguments = json.loads(json.dumps(error.args))
    except (TypeError, ValueError):
        arguments = None
    try:
        message, unshown = str(error), None
    except Exception as problem:  # the parent's rebuilt one fails alike, or is named by this
        message, unshown = None, type(problem).__name__
    return {  # the parent runs the script that the child imported as SCRIPT_MODULE as __main__
        "module": "__main__" if cls.__module__ == SCRIPT_MODULE else cls.__module__,
        "qualname": cls.__qualname__,
        "args": arguments,
        "message": message,
        "unshown_because": unshown,
        "traceback": formatted,
    }


def exception_text(error: BaseException) -> str:
    """``"Type: message"``, also of an exception whose ``__str__`` raises (half built)."""
    try:
        return f"{type(error).__name__}: {error}"
    except Exception as problem:
        return _unshown(type(error).__name__, type(problem).__name__)


def _unshown(name: str, problem: str) -> str:
    return f"{name} (its message cannot be shown: {problem})"


def decode(data: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1 and next(iter(data)) in _DECODERS:
        ((tag, inner),) = data.items()
        return _DECODERS[tag](inner)
    return {key: decode(item) for key, item in data.items()}


def _stand_in(description: dict[str, str]) -> Any:
    """An object whose class has the original's name, so errors about it name that type."""
    cls = type(description["type"], (), {"__repr__": lambda self: description["repr"]})
    return cls()


def rebuild_exception(description: dict[str, Any]) -> BaseException:
    """The exception described by :func:`describe_exception`, with its original type if possible."""
    module, qualname = description["module"], description["qualname"]
    message = description["message"]
    try:
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(qualname)
        arguments = description.get("args")
        arguments = tuple(arguments) if isinstance(arguments, list) else (message,)
        try:
            error = cls(*arguments)
        except Exception:  # its __init__ takes other arguments than it gave Exception
            from neps_core.errors import built_without_init  # the parent's side only

            error = built_without_init(cls, arguments)
        if message is not None and str(error) != message:
            error = cls(message)
    except Exception:
        name = qualname if module == "builtins" else f"{module}.{qualname}"
        unshown = description.get("unshown_because")
        text = f"{name}: {message}" if message is not None else _unshown(name, str(unshown))
        error = RemoteEvaluationError(text)
    return error


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "__tuple__": lambda inner: tuple(decode(item) for item in inner),
    "__set__": lambda inner: {decode(item) for item in inner},
    "__exception__": rebuild_exception,
    "__object__": _stand_in,
    "__decimal__": decimal.Decimal,
}


# -- the child side ----------------------------------------------------------------------------
def load_target(target: str) -> Callable[..., Any]:
    """The function named ``module:qualname`` or ``/path/to/file.py:qualname``."""
    location, _, qualname = target.rpartition(":")
    if location.endswith(".py"):
        path = Path(location)
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(SCRIPT_MODULE, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"Cannot load {path}")
        owner: Any = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = owner
        spec.loader.exec_module(owner)
    else:
        owner = importlib.import_module(location)
    for part in qualname.split("."):
        owner = getattr(owner, part)
    if not callable(owner):
        raise TypeError(f"{target} is not callable")
    function: Callable[..., Any] = owner
    return function


def call_arguments(injected: list[str]) -> dict[str, Any]:
    """The configuration from the config file plus the injected values from the environment."""
    with open(os.environ[CONFIG_FILE_ENV], encoding="utf-8") as stream:
        arguments: dict[str, Any] = decode(json.load(stream))
    for name in injected:
        value = os.environ.get(_INJECTED_ENV[name]) or None
        arguments[name] = Path(value) if value is not None and name in _PATHS else value
    return arguments


def write_record(record: dict[str, Any]) -> None:
    """Write the result record atomically, so the parent never reads half a file."""
    path = Path(os.environ[RESULT_FILE_ENV])
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({RECORD_KEY: 1, **record}), encoding="utf-8")
    os.replace(temporary, path)


def main(argv: list[str]) -> int:
    """Call the target with the trial's arguments and record what it returned or raised."""
    for entry in json.loads(os.environ.get(PARENT_SYS_PATH_ENV, "[]")):
        if entry not in sys.path:
            sys.path.append(entry)
    injected = [name for name in argv[2].split(",") if name] if len(argv) > 2 else []
    target, seed = argv[1], os.environ.get(TRIAL_SEED_ENV)
    # The script is imported and called with the parent's arguments, as multiprocessing's spawn
    # does: an argparse at its module level parses those, not this runner's.
    sys.argv = json.loads(os.environ.get(PARENT_ARGV_ENV, "null")) or sys.argv
    began: float | None = None  # the evaluation's own clock, by which the parent judges it
    try:
        function = load_target(target)
        arguments = call_arguments(injected)
        # The imports are done: the parent's timeout counts from here.
        Path(os.environ[RESULT_FILE_ENV]).with_name(BEGAN_FILE).touch()
        began = time.perf_counter()
        value = call_evaluate_pipeline(function, arguments, seed=int(seed) if seed else None)
    except BaseException as error:  # the parent decides what an error means
        formatted = traceback.format_exc()
        sys.stderr.write(formatted)
        took = None if began is None else time.perf_counter() - began
        write_record({"error": describe_exception(error, formatted), "duration": took})
        return 1
    write_record({"result": encode(value), "duration": time.perf_counter() - began})
    return 0


def end(code: int) -> None:
    """Exit with ``code`` without Python's wait for threads the evaluation left running (a
    logger, a prefetcher), which held the child, its record written, for as long as they ran."""
    if all(thread.daemon or thread is threading.main_thread() for thread in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()  # the rest of a normal exit; the threads end with the process
    _flush_open_files()
    os._exit(code)


def _flush_open_files() -> None:
    """What a normal exit flushes as it finalizes open files (a log the function wrote to and
    left open), which ``os._exit`` would throw away."""
    for candidate in gc.get_objects():
        if isinstance(candidate, io.IOBase):
            with contextlib.suppress(Exception):  # closed, read-only, or a broken pipe
                candidate.flush()


if __name__ == "__main__":
    # Executed by path: drop this file's directory (neps_core/) from the import path, so that
    # its module names cannot shadow the user's modules.
    sys.path[0] = os.getcwd()
    end(main(sys.argv))
