"""A coroutine evaluate_pipeline runs in a loop of its own thread; a Ctrl-C cancels it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from neps_core.evaluation.own_loop import run_in_a_loop_of_its_own


def test_a_ctrl_c_right_after_the_thread_starts_cancels_the_coroutine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Ctrl-C may land before the caller waits for the result (a loaded machine gives the
    helper thread the first steps): it ran on in the background, writing after the caller
    had been told the evaluation ended."""
    log = tmp_path / "progress.log"
    began = threading.Event()

    async def evaluation() -> None:
        try:
            began.set()
            for step in range(50):
                log.write_text(f"step {step}")
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            log.write_text("cancelled")
            raise

    start = threading.Thread.start

    def start_then_interrupt(thread: threading.Thread) -> None:
        start(thread)
        if thread.name == "neps-core-coroutine":
            began.wait(5)
            raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_in_a_loop_of_its_own(evaluation())
    assert log.read_text() == "cancelled"
    assert "neps-core-coroutine" not in {thread.name for thread in threading.enumerate()}
