"""``@neps_core.profile``: run time and peak memory of every evaluation, in its trial's metadata.

DeepHyper's convenience, with neps_core's result contract: the decorated ``evaluate_pipeline``
returns a dict whose ``metadata`` holds ``timestamp_start``, ``timestamp_end``, ``duration``,
``peak_memory_mb`` and ``max_rss_mb`` next to whatever the function returned, so every
evaluator (in-process, subprocess, cluster) stores them in the trial's metadata
(``metadata.yaml`` in the trial's folder, ``Trial.metadata`` in Python).

``peak_memory_mb`` is the peak of Python allocations traced during the call (``tracemalloc``;
NumPy and PyTorch CPU tensors report to it too). The process has one tracer, so for calls that
overlap (threads, nesting) it is the process's peak while the call ran, others' memory included.
``max_rss_mb`` is the evaluating process's own peak resident size since it started (on Linux;
elsewhere it may be its parent's), which sees native allocations but never goes down, so in a
long-lived worker it is an upper bound.
``memory=False`` skips ``tracemalloc`` and its slow-down; so does a forked child for the call
that forked it, whose start the child did not trace (``peak_memory_mb`` is ``None``).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, overload

from neps_core.result_contract import is_real_number

try:
    import resource
except ImportError:  # pragma: no cover - Windows: no peak RSS, the rest of the profile stays
    resource = None  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])
_MB = 1024 * 1024


@overload
def profile(function: F) -> F: ...


@overload
def profile(*, memory: bool = True) -> Callable[[F], F]: ...


def profile(function: Any = None, *, memory: bool = True) -> Any:
    """Decorate ``evaluate_pipeline`` to record its run time and peak memory.

    Usable bare (``@profile``) or with options (``@profile(memory=False)``). The wrapper keeps
    the function's signature, so injected arguments such as ``pipeline_directory`` still
    arrive. Results that carry no report (``None`` for asynchronous evaluation, an ``"F..."``
    failure string) are returned unchanged; exceptions propagate unchanged.
    """

    def decorate(wrapped: F) -> F:
        if inspect.iscoroutinefunction(wrapped):  # measured while awaited, not when called

            @functools.wraps(wrapped)
            async def profiled_coroutine(*args: Any, **kwargs: Any) -> Any:
                with _measured(memory) as record:
                    result = await wrapped(*args, **kwargs)
                return with_profile(result, record)

            return profiled_coroutine  # type: ignore[return-value]

        @functools.wraps(wrapped)
        def profiled(*args: Any, **kwargs: Any) -> Any:
            with _measured(memory) as record:
                result = wrapped(*args, **kwargs)
            return with_profile(result, record)

        return profiled  # type: ignore[return-value]

    return decorate if function is None else decorate(function)


class _Tracer:
    """The process's one ``tracemalloc``, shared by the profiled calls that run at a time.

    It has a single peak: a call that reset it when starting wiped the peaks of calls still
    running, and one that stopped it when ending left them reading 0. So tracing runs from the
    first call's start to the last one's end, and at every start and end the peak so far is
    folded into each running call before it is reset: a call's peak is the highest over the
    stretches it spans, which for overlapping calls includes the others' allocations. Tracing
    a user started is left on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._peaks: dict[object, int] = {}  # each running call's peak so far, in bytes
        self._started = False  # whether the first running call started tracing

    def begin(self) -> object:
        """Start measuring a call; returns its key for ``end``."""
        key = object()
        with self._lock:
            if not self._peaks:
                self._started = not tracemalloc.is_tracing()
                if self._started:
                    tracemalloc.start()
            self._fold()
            self._peaks[key] = 0
        return key

    def end(self, key: object) -> int | None:
        """The peak in bytes traced while the call ``key`` ran; ``None`` for a call the fork
        forgot (``reset_after_fork``): in a forked child, the forking call goes on from a
        start traced in the parent, so its peak is unknown there."""
        with self._lock:
            if key not in self._peaks:
                return None
            self._fold()
            peak = self._peaks.pop(key)
            if not self._peaks and self._started:
                tracemalloc.stop()
        return peak

    def _fold(self) -> None:
        """Credit the peak since the last start or end to every running call; start anew."""
        peak = tracemalloc.get_traced_memory()[1]
        for key, so_far in self._peaks.items():
            self._peaks[key] = max(so_far, peak)
        tracemalloc.reset_peak()

    def reset_after_fork(self) -> None:
        """The child of a fork has none of the parent's running calls: their threads are not
        copied. A thread forking while another held the lock must not leave the child's held,
        and the calls' keys must go, else the child's last call never stops tracing."""
        self._lock = threading.Lock()
        if self._peaks and self._started:
            tracemalloc.stop()
        self._peaks.clear()
        self._started = False


_TRACER = _Tracer()
if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_TRACER.reset_after_fork)


@contextlib.contextmanager
def _measured(memory: bool) -> Iterator[dict[str, Any]]:
    """The profile record of the block, filled in when it ends (left empty if it raises)."""
    key = _TRACER.begin() if memory else None
    start = time.time()
    started = time.perf_counter()
    record: dict[str, Any] = {}
    try:
        yield record
    finally:
        peak = None if key is None else _TRACER.end(key)
    elapsed = time.perf_counter() - started
    record.update(
        timestamp_start=start,
        timestamp_end=start + elapsed,
        duration=elapsed,
        peak_memory_mb=None if peak is None else peak / _MB,
        max_rss_mb=_max_rss_mb(),
    )


def _max_rss_mb() -> float | None:
    """Peak resident set size of this process since it started (on Linux never its parent's).

    On Linux ``VmHWM``: ``getrusage`` keeps the peak across ``exec``, so a fresh evaluating
    process (``spawn``, ``subprocess``) reported its parent's (a child allocating nothing
    showed the worker's 442 MB). Elsewhere ``getrusage`` (kilobytes, bytes on macOS).
    """
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    if resource is None:
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / _MB if sys.platform == "darwin" else rss / 1024


def with_profile(result: Any, record: Mapping[str, Any]) -> Any:
    """``result`` as a result dict whose ``metadata`` also holds ``record``."""
    if isinstance(result, Mapping):
        merged = dict(result)
    elif isinstance(result, BaseException):  # returned: the trial's failure
        merged = {"exception": result}
    elif _is_objective(result):
        merged = {"objective_to_minimize": result}
    else:  # None (async), an "F..." failure, or a value the result contract rejects by type
        return result
    metadata = merged.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, Mapping):
        raise TypeError(
            f"@profile: the 'metadata' of a result must be a dict, got {type(metadata).__name__}"
        )
    merged["metadata"] = {**metadata, **record}
    return merged


def _is_objective(result: Any) -> bool:
    """A number, a list or tuple of them, or an array or tensor (``dtype`` and ``tolist``):
    what the result contract reads the same under ``objective_to_minimize``."""
    return (
        is_real_number(result)
        or isinstance(result, list | tuple)
        or (hasattr(result, "dtype") and hasattr(result, "tolist"))
    )
