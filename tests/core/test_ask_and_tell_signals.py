"""Stopping an ask-and-tell client: SIGTERM and SIGHUP give its asked trials back as ``run()``
does, and a client closed under a thread names the trial whose result it refuses."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import neps_core as neps

SPACE = {"x": neps.Float(0.0, 1.0)}

LOOP = textwrap.dedent(
    """
    import sys, time
    import neps_core as neps

    with neps.AskAndTell({"x": neps.Float(0.0, 1.0)}, sys.argv[1], evaluations_to_spend=3) as c:
        while (trial := c.ask()) is not None:
            print("asked", trial.id, flush=True)
            time.sleep(600)  # the evaluation, stopped by the signal
            c.tell(trial, trial.config["x"])
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stopping_signal_gives_the_asked_trial_back(tmp_path: Path, signum: int) -> None:
    # The process died of the signal with its trial evaluating; a rerun on the same machine
    # finished the run without it until stale_after.
    root = tmp_path / "root"
    loop = subprocess.Popen(
        [sys.executable, "-c", LOOP, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert loop.stdout is not None
    assert loop.stdout.readline() == "asked 1\n"
    loop.send_signal(signum)
    assert loop.wait(timeout=120) == 128 + signum  # SystemExit, as under run()
    counts = neps.status(root).counts
    assert (counts["evaluating"], counts["pending"]) == (0, 1)


def test_the_signal_handlers_are_the_clients_only_inside_the_with_block(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with neps.AskAndTell(SPACE, tmp_path, evaluations_to_spend=1):
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_client_used_in_another_thread_leaves_the_handlers_alone(tmp_path: Path) -> None:
    # Python runs signal handlers in the main thread only, and refuses to install them elsewhere.
    seen: list[object] = []

    def use() -> None:
        with neps.AskAndTell(SPACE, tmp_path, evaluations_to_spend=1):
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert seen == [before]


def test_tell_on_a_client_closed_meanwhile_names_the_trial(tmp_path: Path) -> None:
    # A thread still evaluating when Ctrl-C closed the client heard only "client is closed".
    with (
        pytest.raises(KeyboardInterrupt),
        neps.AskAndTell(SPACE, tmp_path, evaluations_to_spend=2) as client,
    ):
        trial = client.ask()
        assert trial is not None
        raise KeyboardInterrupt
    with pytest.raises(RuntimeError, match=r"client is closed: the result of trial '1' is not"):
        client.tell(trial, 0.5)
    with pytest.raises(RuntimeError, match=r"^This AskAndTell client is closed$"):
        client.ask()


def _sigterm_handler_is_the_default() -> None:
    sys.exit(0 if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL else 3)


def test_a_process_forked_in_the_block_ends_on_sigterm_as_before_it(root: Path) -> None:
    """A fork pool's worker raised the block's SystemExit on the pool's terminate (SIGTERM),
    which could leave the pool's shared queue lock held: the pool hung."""
    with neps.AskAndTell(SPACE, root, optimizer="random_search"):
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        child = multiprocessing.get_context("fork").Process(target=_sigterm_handler_is_the_default)
        child.start()
        child.join(60)
    assert child.exitcode == 0
