"""Child processes of one trial: start, poll, time out, kill, and read what they reported.

The mechanics under :mod:`neps_core.evaluation.processes` (which builds the launches): each
child runs in its own session, so a timeout or ``close()`` signals its whole process group (SIGTERM,
then SIGKILL after a grace period). A child reports through ``NEPS_CORE_RESULT_FILE`` or a
``NEPS_CORE_RESULT {json}`` stdout line; a non-zero exit becomes a
:class:`CommandFailedError` carrying the tail of its stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from neps_core.errors import EvaluationTimeoutError, ProcessEndedError
from neps_core.evaluation import child_runner, orphan_guardian
from neps_core.evaluation.captured import overdue
from neps_core.evaluation.child_runner import (
    BEGAN_FILE,
    CONFIG_FILE_ENV,
    PARENT_ARGV_ENV,
    PARENT_SYS_PATH_ENV,
    RECORD_KEY,
    RESULT_FILE_ENV,
)

RESULT_MARKER = "NEPS_CORE_RESULT"
DEEPHYPER_MARKER = "DH-OUTPUT:"
CONFIG_FILE = "neps_config.json"
RESULT_FILE = "neps_result.json"
STDOUT_FILE = "neps_stdout.txt"
STDERR_FILE = "neps_stderr.txt"
INJECTABLE = ("pipeline_directory", "previous_pipeline_directory", "pipeline_id", "root_directory")
TAIL_CHARACTERS = 2000
#: Seconds a trial's timeout is extended by until its evaluation starts (process start, imports).
STARTUP_ALLOWANCE = 60.0


class CommandFailedError(ProcessEndedError, subprocess.CalledProcessError):
    """A child exited with a non-zero code; the message carries the tail of its stderr.

    ``described_as`` names the child instead of its command line where that means nothing
    to the user (the interpreter neps_core starts to call a Python function).
    """

    def __init__(
        self, returncode: int, cmd: Any, *, stderr: str | None = None, described_as: str = ""
    ) -> None:
        super().__init__(returncode, cmd, stderr=stderr)
        self.described_as = described_as

    def __str__(self) -> str:
        how = how_it_exited(self.returncode)
        tail = (self.stderr or "").rstrip()
        who = self.described_as or _short(self.cmd)
        return f"{who} {how}" + (f"; stderr tail:\n{tail}" if tail else "")


def how_it_exited(code: int | None) -> str:
    """A process's end in words: a negative code is the signal that killed it, not a code."""
    if code is None:
        return "ended without an exit code"
    if code < 0:
        return f"was killed by signal {-code} ({_signal_name(-code)})"
    return f"exited with code {code}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def _short(command: Any) -> str:
    text = command if isinstance(command, str) else shlex.join(map(str, command))
    return repr(text if len(text) <= 120 else text[:117] + "...")


def read_marked_result(text: str) -> tuple[bool, Any]:
    """``(found, value)`` for the last ``NEPS_CORE_RESULT {json}`` line of ``text``."""
    for line in reversed(text.splitlines()):
        if line.startswith(RESULT_MARKER + " "):
            return True, _plain_json(_json(line[len(RESULT_MARKER) + 1 :], f"the line {line!r}"))
    return False, None


def _json(text: str, source: str) -> Any:
    """``text`` parsed; not JSON, a ``ValueError`` naming ``source`` (the trial fails on it)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        shown = source if len(source) <= 200 else source[:197] + "..."
        raise ValueError(f"the child's result is not JSON: {shown}: {error}") from None


def _plain_json(value: Any) -> Any:
    """A user's JSON result: JSON has no tuples, so a top-level array is multi-objective."""
    return tuple(value) if isinstance(value, list) else value


def signal_group(pid: int, signum: int, *, leader: bool = True) -> None:
    """Send ``signum`` to the process group led by ``pid``, and with ``leader`` to ``pid``
    itself (it may not have made its own group yet); processes that are gone are ignored.

    Pass ``leader=False`` once ``pid`` was reaped: its number may belong to another process.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
    if leader:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` still runs."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_children(children: Sequence[ChildProcess], grace: float) -> None:
    """SIGTERM every child's process group at once, SIGKILL what is left after ``grace``."""
    for child in children:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not all(child.reap(False) for child in children):
        time.sleep(0.02)
    for child in children:
        child.signal(signal.SIGKILL)
        child.reap(True)


@attrs.frozen
class ChildLaunch:
    """Everything needed to start one child for one trial."""

    argv: Sequence[str] | str
    directory: Path
    config: Mapping[str, Any]
    context: Mapping[str, str]
    shell: bool = False
    env: Mapping[str, str] = attrs.field(factory=dict)
    cwd: Path | None = None
    plain_result: bool = True  # a command's result file is the user's plain JSON
    described_as: str = ""  # in errors, instead of the command line


class ChildProcess:
    """One running child: started, polled without blocking, and killed when it overstays."""

    def __init__(self, launch: ChildLaunch, *, timeout: float | None, kill_grace: float) -> None:
        self.launch = launch
        self.timeout = timeout
        self.kill_grace = kill_grace
        self.started = 0.0
        self.timed_out = False
        self._process: subprocess.Popen[bytes] | None = None
        self._kill_at: float | None = None
        self._group_signalled = False  # its group got SIGTERM (or SIGKILL) once it exited
        self._began: float | None = None  # when the child called evaluate_pipeline
        self._reported: float | None = None  # when a function child's record was first seen
        #: The evaluation's own seconds, as a function child's runner wrote them (by collect()).
        self.duration: float | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id (also its process group id)."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Write the config file and start the child in its own session."""
        directory = self.launch.directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / RESULT_FILE).unlink(missing_ok=True)
        (directory / BEGAN_FILE).unlink(missing_ok=True)
        (directory / CONFIG_FILE).write_text(
            json.dumps(child_runner.encode(dict(self.launch.config))), encoding="utf-8"
        )
        env = {**os.environ, **self.launch.context, **self.launch.env}
        env[CONFIG_FILE_ENV] = str(directory / CONFIG_FILE)
        env[RESULT_FILE_ENV] = str(directory / RESULT_FILE)
        env[PARENT_SYS_PATH_ENV] = json.dumps([entry for entry in sys.path if entry])
        env[PARENT_ARGV_ENV] = json.dumps(sys.argv)
        if self.launch.cwd is not None and not self.launch.cwd.is_dir():
            raise FileNotFoundError(f"Command cwd {str(self.launch.cwd)!r} is no existing folder")
        orphan_guardian.prepare()
        with open(directory / STDOUT_FILE, "wb") as out, open(directory / STDERR_FILE, "wb") as err:
            self._process = subprocess.Popen(
                self.launch.argv,
                shell=self.launch.shell,
                cwd=self.launch.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        orphan_guardian.guard(self._process.pid)  # its own session would outlive a SIGKILLed us
        self.started = time.monotonic()

    def poll(self) -> bool:
        """Whether the child has exited; enforces the timeout (SIGTERM, then SIGKILL).

        After a timeout the whole group gets the grace, not only the child: a process it
        started that ignores SIGTERM outlived a child that obeyed it. A function child that
        wrote its record in time is no timeout: the record counts, and only its process is
        ended (at its deadline, yet ``kill_grace`` after the record at the earliest).
        """
        assert self._process is not None, "start() first"
        exited = self._process.poll() is not None
        now = time.monotonic()
        if exited and self._kill_at is None and not self._group_signalled:
            self._group_signalled = True
            if _group_alive(self._process.pid):
                # What the child started outlives it (``sleep 300 &``): SIGTERM, the grace,
                # then SIGKILL, as after a timeout.
                signal_group(self._process.pid, signal.SIGTERM, leader=False)
                self._kill_at = now + self.kill_grace
        if self._kill_at is not None:
            group_gone = exited and not _group_alive(self._process.pid)
            if now < self._kill_at and not group_gone:
                return False
            signal_group(self._process.pid, signal.SIGKILL, leader=not exited)
            self._kill_at = None
            self._group_signalled = True
        if exited:
            orphan_guardian.release(self._process.pid)
            return True
        if self.timeout is not None and not self._group_signalled and now > self._deadline(now):
            self.timed_out = self._reported is None
            self._kill_at = now + self.kill_grace
            signal_group(self._process.pid, signal.SIGTERM)
        return False

    def _deadline(self, now: float) -> float:
        """When the timeout runs out: a command's counts from its start; a Python function's
        from the call of ``evaluate_pipeline``, its imports getting ``STARTUP_ALLOWANCE`` more,
        and its exit (at-exit handlers, say) at least ``kill_grace`` once it wrote its record."""
        assert self.timeout is not None
        if self.launch.plain_result:  # a command: all of it is the evaluation
            return self.started + self.timeout
        directory = self.launch.directory
        if self._began is None and (directory / BEGAN_FILE).exists():
            self._began = now
        if self._reported is None and (directory / RESULT_FILE).exists():  # written atomically
            self._reported = now
        if self._began is None:
            deadline = self.started + self.timeout + STARTUP_ALLOWANCE
        else:
            deadline = self._began + self.timeout
        if self._reported is not None:
            deadline = max(deadline, self._reported + self.kill_grace)
        return deadline

    def stop(self) -> None:
        """Kill the child and everything it started, and reap it."""
        stop_children([self], self.kill_grace)

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the child's process group (if it was started)."""
        if self._process is not None:
            signal_group(self._process.pid, signum, leader=self._process.returncode is None)

    def reap(self, block: bool) -> bool:
        """Whether the child has exited (waiting for it when ``block``)."""
        if self._process is None:
            return True
        if block:
            self._process.wait()
        if self._process.poll() is None:
            return False
        orphan_guardian.release(self._process.pid)
        return True

    def collect(self) -> tuple[Any, BaseException | None, str | None]:
        """``(result, error, traceback)`` of the exited child."""
        assert self._process is not None and self._process.returncode is not None
        directory = self.launch.directory
        (directory / BEGAN_FILE).unlink(missing_ok=True)  # the timeout's mark, done with
        stderr_tail = _tail(directory / STDERR_FILE)
        if self.timed_out:
            assert self.timeout is not None
            killed = EvaluationTimeoutError(self.timeout, "its process group was killed")
            return None, killed, stderr_tail or None
        try:
            found, result, raised, took = self._record()
        except ValueError as unreadable:  # not JSON: this trial's failure, not the run's
            return None, unreadable, stderr_tail or None
        self.duration = took
        error = None if raised is None else child_runner.rebuild_exception(raised)
        trace = None if raised is None else raised.get("traceback")
        # Ended after its deadline but before a poll saw it (this process was busy).
        late = None if took is None else overdue(self.timeout, took, error)
        if late is not None or error is not None:
            return None, late if late is not None else error, trace
        # A function's record is written once evaluate_pipeline returned: how its process
        # ended afterwards (its group ended while a thread ran on, a crash as the interpreter
        # shut down) is no part of the evaluation. A command's exit code is.
        if found and (not self.launch.plain_result or self._process.returncode == 0):
            return result, None, None
        failure = self._failure(stderr_tail)
        told = isinstance(failure, CommandFailedError)  # its message carries the stderr tail
        return None, failure, None if told else stderr_tail or None

    def _failure(self, stderr_tail: str) -> BaseException:
        """Why the child has no result: its exit code or signal, or (a command that exited
        with 0) how to report one."""
        assert self._process is not None
        code = self._process.returncode
        who = self.launch.described_as and f"{self.launch.described_as} (pid {self._process.pid})"
        if code != 0:
            return CommandFailedError(code, self.launch.argv, stderr=stderr_tail, described_as=who)
        if who:  # its runner writes a record whatever the function does, unless it ends it
            return RuntimeError(f"{who} {how_it_exited(code)} before evaluate_pipeline returned")
        return RuntimeError(
            f"{_short(self.launch.argv)} exited without a result: write JSON to "
            f"${RESULT_FILE_ENV} or print a line '{RESULT_MARKER} <json>'{self._deephyper_hint()}"
        )

    def _deephyper_hint(self) -> str:
        """A DeepHyper script prints ``DH-OUTPUT:<json>``, a value to maximize."""
        stdout = (self.launch.directory / STDOUT_FILE).read_text(encoding="utf-8", errors="replace")
        if not any(line.startswith(DEEPHYPER_MARKER) for line in stdout.splitlines()):
            return ""
        return (
            f" (it printed DeepHyper's '{DEEPHYPER_MARKER}' line, whose objective DeepHyper "
            f"maximizes: print '{RESULT_MARKER} <json>' with the value to minimize instead)"
        )

    def _record(self) -> tuple[bool, Any, dict[str, Any] | None, float | None]:
        """``(found, result, error description, seconds)`` from the result file or the stdout
        line; ``seconds``: how long the evaluation took by its own clock, if the runner says."""
        result_file = self.launch.directory / RESULT_FILE
        if result_file.exists():
            data = _json(result_file.read_text(encoding="utf-8"), str(result_file))
            if not self.launch.plain_result and isinstance(data, dict) and RECORD_KEY in data:
                took = data.get("duration")
                if "error" in data:
                    return False, None, data["error"], took
                return True, child_runner.decode(data["result"]), None, took
            return True, _plain_json(data), None, None
        stdout = self.launch.directory / STDOUT_FILE
        found, result = read_marked_result(stdout.read_text(encoding="utf-8", errors="replace"))
        return found, result, None, None


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as stream:
            stream.seek(max(0, path.stat().st_size - TAIL_CHARACTERS))
            return stream.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
