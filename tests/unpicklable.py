"""An object no pickler can send, shared by the evaluator tests that fail such a trial."""

from __future__ import annotations

import threading


class Locked:
    """What an Operation builds, or a callable evaluate_pipeline, holding a lock."""

    def __init__(self, width: int = 1) -> None:
        self.width = width
        self.lock = threading.Lock()

    def __call__(self, x: float) -> float:
        return x
