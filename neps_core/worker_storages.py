"""The storages this process's workers have open, for ``save_pipeline_results`` called in a
worker's own thread (its ``evaluate_pipeline``, as with the ``async`` evaluator).

Opening a run anew discovers the plugins and reads its whole journal: a call per result
then costs time in proportion to the run (800 results took about 50 s instead of 2 s). The
worker's open storage reads only what changed since its last read (DESIGN.md, section 4).
Only the worker's own thread uses it: a thread the function starts, another process (a real job
finishing elsewhere) or an optimizer's ask (inside a storage transaction, where no
evaluation runs) open the run as before. A forked child (a ``process_pool`` process forked
from the worker's thread keeps its thread id) forgets the parent's storages.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from neps_core.evaluation import trial_context
from neps_core.interfaces import Storage

#: (resolved root, thread id) -> the storage of the worker running there.
_OPEN: dict[tuple[Path, int], Storage] = {}


@contextlib.contextmanager
def serving(root: Path, storage: Storage) -> Iterator[None]:
    """Inside, ``save_pipeline_results`` for ``root`` in this thread records through ``storage``."""
    key = (root.resolve(), threading.get_ident())
    previous = _OPEN.get(key)  # a run() started inside an evaluation of the same root
    _OPEN[key] = storage
    try:
        yield
    finally:
        if previous is None:
            del _OPEN[key]
        else:
            _OPEN[key] = previous


def evaluating_worker_storage(root: Path) -> Storage | None:
    """The storage of the worker of ``root`` whose evaluation calls this in this thread."""
    if trial_context.current() is None:
        return None
    return _OPEN.get((root.resolve(), threading.get_ident()))


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    # The child's copy of the worker's storage is not the worker's: its lock, connection
    # and read offset are the parent's, and the worker goes on with them there.
    os.register_at_fork(after_in_child=_OPEN.clear)
