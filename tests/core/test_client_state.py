"""AskAndTell clients dropped without close(), as NePS-style code drops them: collected, they
release their open files, and their heartbeat thread and presence once their trials are told."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage
from neps_core.storage_pointer import STORAGE_POINTER_FILE

SPACE = {"x": neps.Float(0.0, 1.0)}
BEATING = {"heartbeat_interval": 0.05}  # the thread opens its own storage at the first beat


def _open_under(folder: Path) -> int:
    """How many of this process's descriptors are open on files under ``folder``."""
    paths = (os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd"))
    return sum(path.startswith(f"{folder}{os.sep}") for path in paths)


def _overwrite(root: Path) -> None:
    """Start the run in ``root`` afresh: refused while a client of this process is present."""
    neps.AskAndTell(SPACE, root, optimizer="random_search", overwrite_root_directory=True).close()


def _heartbeats() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "neps-core-heartbeat"}


def _wait_for_end(threads: set[threading.Thread]) -> None:
    """Join ``threads``: a collected client tells its heartbeat thread to end, not waits."""
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)


@contextlib.contextmanager
def _no_collector() -> Iterator[None]:
    """Without the cycle collector: what is dropped must go at once, as a file does."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("asks", [0, 3], ids=["never asked", "asked and told"])
def test_a_client_dropped_unclosed_releases_what_it_held(tmp_path: Path, asks: int) -> None:
    """NePS's AskAndTell has no close(): 60 such clients kept 60 heartbeat threads and 300
    descriptors until the process exited, and an overwrite of their roots was refused."""

    def experiment(root: Path) -> None:  # NePS-style: make a client, ask, tell, return
        client = neps.AskAndTell(SPACE, root, optimizer="random_search", **BEATING)
        for _ in range(asks):
            trial = client.ask()
            assert trial is not None
            client.tell(trial, trial.config["x"])
        assert _open_under(root) > 0

    before = _heartbeats()
    with _no_collector(), warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # nothing was left untold
        for i in range(3):
            experiment(tmp_path / f"r{i}")
        started = _heartbeats() - before
        _wait_for_end(started)
        assert _open_under(tmp_path) == 0
    _overwrite(tmp_path / "r0")


def test_a_client_dropped_with_untold_trials_beats_them_until_they_are_told(root: Path) -> None:
    """Unlike a closed client's, its asked, untold trials stay taken past ``stale_after``, to be
    told by id from any client; once they are, its thread and presence go. Nothing is lost,
    so nothing is warned of (a ResourceWarning was, pointing at weakref.py)."""
    timing = {**BEATING, "stale_after": 1.0}

    def submit(*, close: bool) -> str:
        client = neps.AskAndTell(SPACE, root, optimizer="random_search", **timing)
        trial = client.ask()
        assert trial is not None
        if close:
            client.close()
        return trial.id

    before = _heartbeats()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        closed = submit(close=True)
        dropped = submit(close=False)
        gc.collect()
    beating = _heartbeats() - before  # the closed client's thread was joined by close()
    time.sleep(2 * timing["stale_after"])  # the closed client's trial is stale by then
    collector = neps.AskAndTell(root_directory=root, **timing)
    again = collector.ask()
    assert again is not None and again.id == closed  # re-queued; the dropped one is not
    assert len(beating) == 1 and all(thread.is_alive() for thread in beating)  # beaten on
    collector.tell(dropped, 0.5)
    _wait_for_end(beating)
    collector.tell(again, 0.5)
    assert collector.close().counts["success"] == 2
    assert _open_under(root) == 0
    _overwrite(root)


def _drop_a_client_with_an_untold_trial(root: Path, **timing: float) -> threading.Thread:
    """Its heartbeat thread, beating the trial the dropped client asked."""
    before = _heartbeats()

    def submit() -> None:
        client = neps.AskAndTell(SPACE, root, optimizer="random_search", **timing)
        assert client.ask() is not None

    submit()
    gc.collect()
    (thread,) = _heartbeats() - before
    return thread


def test_a_tell_in_this_process_lets_a_dropped_client_leave_at_once(root: Path) -> None:
    """Its thread heard of the tell only at its next beat, a heartbeat_interval later: an
    overwrite right after the tell was refused, naming this process (a review)."""
    timing = {"heartbeat_interval": 600.0, "stale_after": 1200.0}
    thread = _drop_a_client_with_an_untold_trial(root, **timing)
    with neps.AskAndTell(root_directory=root, **timing) as collector:
        collector.tell("1", 0.5)
    _overwrite(root)
    _wait_for_end({thread})


def test_a_dropped_client_whose_root_was_deleted_stops_beating_and_leaves(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its thread failed and logged at every beat for the process's life, its presence and
    files kept: nothing it could beat was left."""
    thread = _drop_a_client_with_an_untold_trial(root, **BEATING)
    with open_storage(root, None, load_plugins()) as storage:  # the thread has its handle open
        asked = storage.sync()["1"].last_heartbeat
        deadline = time.monotonic() + 60
        while storage.sync()["1"].last_heartbeat == asked:
            assert time.monotonic() < deadline, "the dropped client's trial was not beaten"
            time.sleep(0.05)
    with caplog.at_level("WARNING", logger="neps_core"):
        # The pointer first: a beat between rmtree's unlinks, the run not yet known gone,
        # would rightly log its failure.
        (root / STORAGE_POINTER_FILE).unlink()
        shutil.rmtree(root)
        _wait_for_end({thread})
    (record,) = caplog.records  # once: the failed beat logged a traceback first
    assert "is gone" in record.getMessage()
    assert _open_under(root) == 0


@pytest.mark.parametrize("spelling", ["symlink", "dotdot"])
def test_a_tell_through_another_spelling_of_the_root_lets_a_dropped_client_leave(
    root: Path, spelling: str
) -> None:
    """Roots compared as written: a tell through a symlink or ``x/..`` did not wake the
    dropped client, and an overwrite right after the tell was refused."""
    timing = {"heartbeat_interval": 600.0, "stale_after": 1200.0}
    thread = _drop_a_client_with_an_untold_trial(root, **timing)
    if spelling == "symlink":
        alias = root.parent / "alias"
        alias.symlink_to(root, target_is_directory=True)
    else:
        (root.parent / "sibling").mkdir()
        alias = root.parent / "sibling" / ".." / root.name
    with neps.AskAndTell(root_directory=alias, **timing) as collector:
        collector.tell("1", 0.5)
    _overwrite(root)
    _wait_for_end({thread})


@pytest.mark.parametrize("in_worker", [False, True], ids=["outside a run", "in a worker"])
def test_save_pipeline_results_lets_a_dropped_client_leave_at_once(
    root: Path, in_worker: bool
) -> None:
    """Only ``AskAndTell.tell`` woke a dropped client: after ``save_pipeline_results`` of its
    last trial, an overwrite right after was refused until its next beat."""
    timing = {"heartbeat_interval": 600.0, "stale_after": 1200.0}
    thread = _drop_a_client_with_an_untold_trial(root, **timing)
    if in_worker:  # through the worker's open storage, from its evaluate_pipeline

        def evaluate(x: float) -> float:
            neps.save_pipeline_results(user_result=0.5, pipeline_id="1", root_directory=root)
            return x

        summary = neps.run(evaluate, SPACE, root_directory=root, evaluations_to_spend=2, **timing)
        assert summary.counts["success"] == 2  # the dropped client's trial counts as one
    else:
        neps.save_pipeline_results(user_result=0.5, pipeline_id="1", root_directory=root)
    _overwrite(root)
    _wait_for_end({thread})
