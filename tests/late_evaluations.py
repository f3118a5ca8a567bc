"""Evaluations that end after their timeout, shared by the evaluator tests of the late-result
rule (module-level, so that pool processes and dask workers can unpickle them)."""

from __future__ import annotations

import time


def sleep_then_return(x: float, seconds: float) -> float:
    time.sleep(seconds)
    return x


def sleep_then_raise(x: float, seconds: float) -> float:
    time.sleep(seconds)
    raise ValueError("too late to matter")
