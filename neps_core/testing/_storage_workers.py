"""Worker processes for the storage contract's concurrency and crash tests.

Each worker is a fresh Python interpreter that imports the storage class by its module path,
opens it on the shared root and performs one scripted job through the public ``Storage`` API.
It prints one line per committed step (a trial id) only after ``transact`` returned, so the
parent knows exactly what a killed or finished worker had committed.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import attrs

from neps_core.history import TrialHistory
from neps_core.interfaces import Storage
from neps_core.models import Report, Trial, TrialState

WORKER_CODE = "from neps_core.testing._storage_workers import main; main()"
#: Generous safety nets against hung workers; no test asserts on how long anything takes.
START_TIMEOUT = 120.0
JOB_TIMEOUT = 300.0


def objective_of(index: int, number: int) -> float:
    """The objective worker ``index`` reports for its ``number``-th trial."""
    return float(index * 1000 + number)


def worker_name(index: int) -> str:
    """The ``worker_id`` worker ``index`` writes into the trials it claims."""
    return f"worker-{index}"


# -- the parent's side --------------------------------------------------------------------------
class Child:
    """One running worker process."""

    def __init__(self, process: subprocess.Popen[str], label: str, errors: Path) -> None:
        self.process = process
        self.label = label
        self.errors = errors

    def read_line(self) -> str:
        """The next line the worker printed (blocks until there is one)."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise AssertionError(f"worker {self.label} ended without output:\n{self._stderr()}")
        return line.strip()

    def finish(self) -> list[str]:
        """Wait for the worker to end; the lines it printed; an error if it failed."""
        try:
            output, _ = self.process.communicate(timeout=JOB_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"worker {self.label} hung:\n{self._stderr()}") from None
        if self.process.returncode != 0:
            raise AssertionError(
                f"worker {self.label} failed with exit code {self.process.returncode}:\n"
                f"{self._stderr()}"
            )
        return output.split()

    def kill(self) -> None:
        """SIGKILL the worker (no clean-up runs in it) and reap it."""
        self.process.kill()
        self.process.wait()

    def _stderr(self) -> str:
        return self.errors.read_text(encoding="utf-8", errors="replace")


class Spawner:
    """Starts workers that open ``storage_class(root, **options)`` in their own process."""

    def __init__(
        self, storage_class: type[Storage], root: Path, options: dict[str, Any], workdir: Path
    ) -> None:
        self.target = f"{storage_class.__module__}:{storage_class.__qualname__}"
        self.root = root
        try:
            self.options = json.loads(json.dumps(options))
        except TypeError as error:
            raise TypeError(f"storage options must be JSON-serializable: {error}") from error
        self.workdir = workdir / "workers"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self._files: list[IO[str]] = []

    def start(self, action: str, *, index: int, barrier: bool = False, **params: Any) -> Child:
        """Start one worker doing ``action``; with ``barrier`` it waits for ``release``."""
        job = {
            "storage": self.target,
            "root": str(self.root),
            "options": self.options,
            "action": action,
            "index": index,
            "barrier": str(self.workdir) if barrier else None,
            **params,
        }
        errors = self.workdir / f"{action}-{index}.stderr"
        self._files.append(errors.open("w", encoding="utf-8"))
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE, json.dumps(job)],
            stdout=subprocess.PIPE,
            stderr=self._files[-1],
            text=True,
            env=child_environment(),
        )
        self.children.append(Child(process, f"{action}-{index}", errors))
        return self.children[-1]

    def run_together(self, action: str, processes: int, **params: Any) -> list[list[str]]:
        """Start ``processes`` workers, release them at once, and return what each printed."""
        children = [self.start(action, index=i, barrier=True, **params) for i in range(processes)]
        deadline = time.monotonic() + START_TIMEOUT
        while not all((self.workdir / f"ready-{i}").exists() for i in range(processes)):
            for child in children:
                if child.process.poll() is not None:
                    child.finish()  # raises with the worker's stderr
            if time.monotonic() > deadline:
                raise AssertionError(f"{processes} workers did not start")
            time.sleep(0.01)
        (self.workdir / "go").touch()
        return [child.finish() for child in children]

    def kill_all(self) -> None:
        """Kill workers that are still running and close their stderr files."""
        for child in self.children:
            if child.process.poll() is None:
                child.kill()
            if child.process.stdout is not None:
                child.process.stdout.close()
        for handle in self._files:
            handle.close()


def child_environment() -> dict[str, str]:
    """This process's environment, with its ``sys.path`` so workers import the same modules."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if isinstance(p, str) and p)
    return environment


# -- the worker's side --------------------------------------------------------------------------
def main() -> None:
    """Entry point of a worker process; the job comes as JSON in ``sys.argv[1]``."""
    job = json.loads(sys.argv[1])
    module, _, qualname = job["storage"].partition(":")
    storage_class: Any = importlib.import_module(module)
    for part in qualname.split("."):
        storage_class = getattr(storage_class, part)
    with storage_class(Path(job["root"]), **job["options"]) as storage:
        if job["barrier"] is not None:
            _wait_for_release(Path(job["barrier"]), job["index"])
        JOBS[job["action"]](storage, job)


def _wait_for_release(barrier: Path, index: int) -> None:
    (barrier / f"ready-{index}").touch()
    deadline = time.monotonic() + START_TIMEOUT
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.001)


def _create(storage: Storage, job: dict[str, Any]) -> None:
    """Create and report ``count`` trials, one transaction each."""
    index = job["index"]
    for number in range(job["count"]):
        trial = storage.transact(functools.partial(_one_new_trial, index=index, number=number))[0]
        _report(storage, trial.id, index, number)
        print(trial.id, flush=True)


def _claim(storage: Storage, job: dict[str, Any]) -> None:
    """Claim pending trials one by one and report each, until none is left."""
    index, number = job["index"], 0

    def claim(history: TrialHistory) -> list[Trial]:
        for trial_id in history.ids_in(TrialState.PENDING)[:1]:
            claimed = attrs.evolve(
                history[trial_id],
                state=TrialState.EVALUATING,
                worker_id=worker_name(index),
                started_at=time.time(),
                attempts=history[trial_id].attempts + 1,
            )
            return [claimed]
        return []

    while claimed := storage.transact(claim):
        _report(storage, claimed[0].id, index, number)
        print(claimed[0].id, flush=True)
        number += 1


def _hold(storage: Storage, job: dict[str, Any]) -> None:
    """Stay inside one transaction for ``seconds``, then create a trial."""

    def change(history: TrialHistory) -> list[Trial]:
        print("locked", flush=True)
        time.sleep(job["seconds"])
        return [_new_trial(history, job["index"], 0)]

    storage.transact(change)


def _report_and_wait(storage: Storage, job: dict[str, Any]) -> None:
    """Create and report one trial, say so, and wait to be killed."""
    trial = storage.transact(lambda history: [_new_trial(history, job["index"], 0)])[0]
    _report(storage, trial.id, job["index"], 0)
    print(trial.id, flush=True)
    time.sleep(JOB_TIMEOUT)


JOBS: dict[str, Callable[[Storage, dict[str, Any]], None]] = {
    "create": _create,
    "claim": _claim,
    "hold": _hold,
    "report_and_wait": _report_and_wait,
}


def _one_new_trial(history: TrialHistory, *, index: int, number: int) -> list[Trial]:
    return [_new_trial(history, index, number)]


def _new_trial(history: TrialHistory, index: int, number: int) -> Trial:
    now = time.time()
    return Trial(
        id=history.next_id(),
        config={"worker": index, "number": number},
        state=TrialState.EVALUATING,
        created_at=now,
        worker_id=worker_name(index),
        started_at=now,
        attempts=1,
    )


def _report(storage: Storage, trial_id: str, index: int, number: int) -> None:
    def change(history: TrialHistory) -> list[Trial]:
        trial = history[trial_id]
        if trial.state is not TrialState.EVALUATING or trial.worker_id != worker_name(index):
            raise RuntimeError(f"trial {trial_id} was changed by another worker: {trial}")
        report = Report(objective_to_minimize=objective_of(index, number), cost=1.0)
        return [
            attrs.evolve(trial, state=TrialState.SUCCESS, report=report, finished_at=time.time())
        ]

    storage.transact(change)
