"""The summary files of a run, written when a worker's ``run()`` or an ask-and-tell client's
``close()`` ends, while a worker runs (see :mod:`neps_core.live_summary`) and by each
``save_pipeline_results`` (unless ``post_run_summary=False``, or called by a worker's own
evaluation: that worker rewrites them). Files in the root directory::

    summary.yaml       counts by state, budget used, best trial
    best_config.yaml   the best configuration and its objective
    trajectory.csv     every finished trial in finishing order, with the best objective so far
    summary/           NePS's files: full.csv, short.csv, best_config_trajectory.txt and
                       best_config.txt (see :mod:`neps_core.summary_folder`)
    .neps_core/summary.lock   held while one process rebuilds and writes them all (see
                              :mod:`neps_core.summary_lock` for a holder that was stopped)
"""

from __future__ import annotations

import csv
import functools
import io
import logging
from collections.abc import Callable
from pathlib import Path

from neps_core.interfaces import Storage
from neps_core.models import Summary
from neps_core.serialization import dump_yaml, write_atomic
from neps_core.space import PipelineSpace
from neps_core.summary import finishing_order, improvement_rows, summary_as_dict, summary_of
from neps_core.summary_folder import write_summary_folder
from neps_core.summary_lock import summary_lock

logger = logging.getLogger(__name__)
BEST_CONFIG_FILE = "best_config.yaml"
SUMMARY_LOCK_TIMEOUT = 60.0  # seconds; on expiry the files are not written, with a warning
TRAJECTORY_COLUMNS = (
    "trial_id",
    "state",
    "objective_to_minimize",
    "cost",
    "best_objective_so_far",
    "cumulative_cost",
    "worker_id",
    "finished_at",
)


def refresh_summary_files(root: Path, build: Callable[[], Summary], *, wait: bool = True) -> bool:
    """Write the summary ``build`` makes, under a lock shared by all processes; ``False`` if,
    without ``wait``, another process was writing them, so that nothing was written.

    Workers finish together: one that read the storage earlier but wrote later would put an
    older trajectory over a newer one. Building inside the lock makes each writer read the
    storage after the previous one wrote, so the files only ever move forward. The files are
    a convenience: failing to write them is a warning, never the run's outcome. Without
    ``wait``, the caller tries again later if it must: the other may have read the storage
    before the caller's last result was stored.
    """
    import filelock  # here: readers of a run (``neps-core status``) never write these

    try:
        timeout = SUMMARY_LOCK_TIMEOUT if wait else 0
        with summary_lock(root, timeout):  # not held by a stopped process (see its module)
            write_summary_files(root, build())
    except filelock.Timeout as busy:
        if not wait:
            return False
        logger.warning("Could not write the summary files in %s: %s", root, busy)
    except OSError as error:  # a read-only or full file system
        logger.warning("Could not write the summary files in %s: %s", root, error)
    return True


def refresh_shared_summary_files(
    storage: Storage, space: PipelineSpace | None = None, *, wait: bool = True
) -> bool:
    """Write the summary files with the run's recorded budgets, as ``status`` shows it
    (``False``: see ``refresh_summary_files``).

    Workers given different budgets each stop at their own; the files, shared by all, must
    not say one thing while ``status`` says another.
    """
    build = functools.partial(summary_of, storage, None, space)
    return refresh_summary_files(storage.root_directory, build, wait=wait)


def write_summary_files(root: Path, summary: Summary) -> None:
    """Write the summary files (see the module's docstring) into ``root``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TRAJECTORY_COLUMNS)
    writer.writeheader()
    finished = finishing_order(summary.trials)  # once, for every file
    writer.writerows(improvement_rows(finished))
    write_atomic(root / "trajectory.csv", buffer.getvalue())
    plain = summary_as_dict(summary)
    write_atomic(root / "summary.yaml", dump_yaml(plain))
    if plain["best"] is not None:
        write_atomic(root / BEST_CONFIG_FILE, dump_yaml(plain["best"]))
    write_summary_folder(root, summary, finished)
