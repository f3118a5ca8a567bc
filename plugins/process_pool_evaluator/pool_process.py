"""The side of a pool process: what it runs (``serve``) and the job it is sent (``dumps_job``)."""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import os
import pickle
import time
import traceback
from typing import Any

from neps_core.evaluation.child_runner import RemoteEvaluationError, call_evaluate_pipeline
from neps_core.evaluation.main_script import (
    only_in_main,
    pickled_by_name,
    pickled_without_init,
    unsendable_job_error,
    with_plain_values,
)
from neps_core.interfaces import EvaluationJob
from neps_core.termination import reset_inherited_handlers

POOL = "a pool process"


def serve(connection: multiprocessing.connection.Connection, start_method: str | None) -> None:
    """The loop of one pool process: receive a trial, evaluate it, send back what happened.

    ``start_method``: the worker's default (``None``: the platform's), which the evaluation
    sees, as under ``sync``; a started process has its context's (``spawn``), so a DataLoader's
    workers re-imported torch and the script (epochs 10-80 times slower).
    """
    os.setsid()  # its own process group: a timeout kills whatever the evaluation started
    reset_inherited_handlers()  # forked, it had the worker's: SIGTERM did not end it
    multiprocessing.set_start_method(start_method, force=True)
    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, OSError):
            return
        if not message:  # the evaluator closes
            return
        trial_id, context, job = pickle.loads(message)
        started = time.perf_counter()
        try:
            function, arguments = pickle.loads(job)  # fails here if it cannot be imported
            # The timeout counts from here: not the process start nor the imports.
            connection.send_bytes(pickle.dumps(("started", trial_id)))
            started = time.perf_counter()
            reply: tuple[Any, ...] = (
                "result",
                trial_id,
                call_evaluate_pipeline(function, arguments, context),
            )
        except BaseException as error:
            reply = ("error", trial_id, error, traceback.format_exc())
        _send_reply(connection, reply, time.perf_counter() - started)


def _send_reply(
    connection: multiprocessing.connection.Connection, reply: tuple[Any, ...], duration: float
) -> None:
    """Send ``reply``; a value or exception that cannot be pickled becomes an error saying so,
    except a dict result, sent with those of its values made plain (``with_plain_values``).

    An exception is also unpickled here first: one whose ``__init__`` takes other arguments
    than it passes to ``Exception`` pickles fine but cannot be rebuilt in the parent, so it
    is sent to be rebuilt without its ``__init__`` (``pickled_without_init``).
    """
    try:
        payload = pickle.dumps((*reply, duration))
        if reply[0] == "error":
            pickle.loads(payload)
    except Exception as problem:
        kind, trial_id, value = reply[:3]
        if kind == "error":
            with contextlib.suppress(Exception):
                connection.send_bytes(pickled_without_init((*reply, duration)))
                return
        if kind == "result":
            with contextlib.suppress(Exception):
                plain = with_plain_values(value)
                connection.send_bytes(pickle.dumps(("result", trial_id, plain, duration)))
                return
        what = "exception" if kind == "error" else "result"
        substitute = RemoteEvaluationError(
            f"the {what} {type(value).__name__}: {value!r} cannot be sent back from the pool "
            f"process ({problem})"
        )
        trace = reply[-1] if kind == "error" else None
        payload = pickle.dumps(("error", trial_id, substitute, trace, duration))
    connection.send_bytes(payload)


def dumps_job(job: EvaluationJob) -> bytes:
    """The job for a pool process: code by name where the pool can import it, else by value.

    An object of the script (``__main__``) pickles by name, but a spawned pool process knows
    only what the script defines outside ``if __name__ == "__main__":`` (and nothing of a
    notebook's); such a function, or an argument built from such a class (an operation of
    the space), travels by value with cloudpickle, like a closure. A module-level function
    goes by name: what it uses (a lock, a dataset) is never pickled.
    """
    call = (job.function, dict(job.arguments))
    cannot_pickle: Exception | None = None
    if not only_in_main(job.function):
        try:
            plain = pickled_by_name(call)
        except (pickle.PicklingError, AttributeError, TypeError) as error:
            cannot_pickle = error
        else:
            if plain is not None:  # nothing of the script's main guard
                return pickle.dumps((job.trial.id, job.context, plain))
    try:
        import cloudpickle
    except ImportError:
        if cannot_pickle is None:  # by name the pool would lack it, or see a placeholder
            raise TypeError(
                f"evaluate_pipeline {job.function!r} or its arguments use code or globals that "
                'only the script\'s `if __name__ == "__main__":` block defines, which '
                f"{POOL} would not have: move them to module level, or install cloudpickle"
            ) from None
        named = unsendable_job_error(job.function, job.arguments, job.trial.id, POOL, pickle.dumps)
        raise named or TypeError(
            f"evaluate_pipeline {job.function!r} or its arguments cannot be sent to {POOL}: "
            "use module-level code, or install cloudpickle"
        ) from cannot_pickle
    try:
        return pickle.dumps((job.trial.id, job.context, bytes(cloudpickle.dumps(call))))
    except Exception as error:
        named = unsendable_job_error(
            job.function, job.arguments, job.trial.id, POOL, cloudpickle.dumps
        )
        if named is None:
            raise
        raise named from error
