"""AskAndTell clients dropped without close(), as NePS-style code drops them: collected, they
release their heartbeat thread, open files and presence, and leave their trials as close() does."""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import neps_core as neps

SPACE = {"x": neps.Float(0.0, 1.0)}
BEATING = {"heartbeat_interval": 0.05}  # the thread opens its own storage at the first beat


def _open_under(folder: Path) -> int:
    """How many of this process's descriptors are open on files under ``folder``."""
    paths = (os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd"))
    return sum(path.startswith(f"{folder}{os.sep}") for path in paths)


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
    summary = neps.run(
        lambda x: x,
        SPACE,
        root_directory=tmp_path / "r0",
        evaluations_to_spend=1,
        overwrite_root_directory=True,
    )
    assert summary.counts["success"] == 1


def test_a_client_dropped_with_untold_trials_warns_and_leaves_them_as_close_does(
    root: Path,
) -> None:
    """Its asked, untold trials stay evaluating, to be told by id (or re-queued once stale),
    as after close(); unlike a closed client, it says so, as an unclosed file does."""

    def submit(*, close: bool) -> str:
        client = neps.AskAndTell(SPACE, root, evaluations_to_spend=3, **BEATING)
        trial = client.ask()
        assert trial is not None
        if close:
            client.close()
        return trial.id

    before = _heartbeats()
    with pytest.warns(ResourceWarning) as warned:
        closed = submit(close=True)
        dropped = submit(close=False)
        gc.collect()
    ours = [str(w.message) for w in warned if "AskAndTell client" in str(w.message)]
    assert len(ours) == 1 and f"trials {dropped} it asked were not told" in ours[0]
    _wait_for_end(_heartbeats() - before)
    assert _open_under(root) == 0
    assert neps.status(root).counts["evaluating"] == 2
    collector = neps.AskAndTell(root_directory=root, evaluations_to_spend=3)
    third = collector.ask()
    assert third is not None and third.id not in {closed, dropped}  # both still taken
    for trial_id in (closed, dropped, third.id):
        collector.tell(trial_id, 0.5)
    assert collector.close().counts["success"] == 3
