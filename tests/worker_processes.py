"""A real worker process mid-evaluation, alive, SIGKILLed or suspended, shared by the crash
tests of the CLI, of read-only runs, of liveness and of ask-and-tell; a script that forgot
its ``__main__`` guard, shared by the tests of the evaluators that re-import it; a script
raising an exception class of its own through an evaluator; and whether a process an
evaluation left behind still runs."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

from neps_core.lock_table import stat_fields


def start_worker(
    script: str, arguments: Sequence[str], root: Path, marker: str
) -> subprocess.Popen[bytes]:
    """Run ``script`` (with ``arguments``) in ``root``'s parent until a file matching the glob
    ``marker`` appears under ``root`` (the evaluation has begun); the caller stops it."""
    cwd = root.parent
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "worker.py").write_text(script, encoding="utf-8")
    worker = subprocess.Popen([sys.executable, "worker.py", *arguments], cwd=cwd)
    try:
        deadline = time.monotonic() + 120
        while not list(root.glob(marker)):
            assert worker.poll() is None, "the worker exited early"
            assert time.monotonic() < deadline, "the worker never started evaluating"
            time.sleep(0.05)
    except BaseException:
        kill(worker)
        raise
    return worker


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent that does not reap is no longer)."""
    fields = stat_fields(str(pid))
    return fields is not None and fields[0] != "Z"


def ended_within(pid: int, patience: float) -> bool:
    """Whether ``pid`` stops running within ``patience`` seconds (nothing to await but it)."""
    deadline = time.monotonic() + patience
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


def kill_mid_evaluation(script: str, arguments: Sequence[str], root: Path, marker: str) -> None:
    """``start_worker``, then SIGKILL it."""
    kill(start_worker(script, arguments, root, marker))


def kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=60)


def suspend(process: subprocess.Popen[bytes], root: Path) -> None:
    """SIGSTOP ``process``, but never while it holds the run's storage lock (a heartbeat
    writing): suspended there, it would block every other worker for good."""
    with open(root / ".neps_core" / "journal.jsonl.lock", "rb") as lock:
        while True:
            os.kill(process.pid, signal.SIGSTOP)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.kill(process.pid, signal.SIGCONT)
                time.sleep(0.01)
                continue
            fcntl.flock(lock, fcntl.LOCK_UN)
            return


def unguarded_script(evaluator: str) -> str:
    """A script whose ``run()`` (under ``cost_to_spend``, with ``evaluator``: Python source,
    ``sys.argv`` may be used) has no ``if __name__ == "__main__":`` guard; prints DONE."""
    return textwrap.dedent(
        """
        import sys
        import neps_core as neps

        def evaluate_pipeline(x):
            return {"objective_to_minimize": x, "cost": 1.0}

        neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=sys.argv[1],
            cost_to_spend=4,
            evaluator=EVALUATOR,
        )
        print("DONE")
        """
    ).replace("EVALUATOR", evaluator)


def raise_a_class_of_the_script(
    evaluator: str, directory: Path, root: Path, function: str = "evaluate_pipeline"
) -> str:
    """Run a script whose ``evaluate_pipeline`` raises ``MyError``, a class the script defines,
    under ``evaluator`` (Python source); its stdout: ``RAISED <repr>`` where ``run()`` raised
    that very class, then ``STORED <the trial's stored error>``. ``function``: what the script
    passes to ``run()`` (Python source: ``Trainer()``, a callable instance raising it too, or a
    ``functools.partial(evaluate_pipeline)``)."""
    script = directory / "raises_its_own_class.py"
    script.write_text(
        textwrap.dedent(
            """
            import functools
            import sys
            import neps_core as neps

            class MyError(Exception):
                pass

            def evaluate_pipeline(x):
                raise MyError("boom")

            class Trainer:
                def __call__(self, x):
                    raise MyError("boom")

            if __name__ == "__main__":
                try:
                    neps.run(
                        FUNCTION,
                        {"x": neps.Float(0.0, 1.0)},
                        root_directory=sys.argv[1],
                        evaluations_to_spend=1,
                        evaluator=EVALUATOR,
                    )
                except MyError as error:
                    print("RAISED", repr(error))
                print("STORED", neps.status(sys.argv[1]).trials[0].report.error)
            """
        )
        .replace("EVALUATOR", evaluator)
        .replace("FUNCTION", function)
    )
    done = subprocess.run(
        [sys.executable, str(script), str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
