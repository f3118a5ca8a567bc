"""The ``progress`` observer: a status line on a terminal, silence everywhere else."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess
import sys
import warnings
from pathlib import Path

import attrs
import pytest

from neps_core.config import RunSettings
from neps_core.history import TrialHistory
from neps_core.models import Report, Trial, TrialState
from neps_core_plugins.progress import (
    ENVIRONMENT_VARIABLE,
    ProgressLine,
    TerminalGuard,
    enabled,
)

SCRIPT = """
import sys
import time
import neps_core as neps

def evaluate(x):
    time.sleep(0.2)  # long enough to be seen running, sampled right after the last finished
    return {"objective_to_minimize": x, "cost": 0.5}

neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
         evaluations_to_spend=6, cost_to_spend=100, optimizer="random_search")
print("RUN DONE")
"""


SCRIPT_THAT_LOGS = """
import logging
import sys
import warnings
import neps_core as neps

logging.basicConfig(level=logging.INFO)

def evaluate(x):
    if x > 0.5:
        warnings.warn("the pipeline warns")
        logging.getLogger("pipeline").warning("the pipeline logs")
        raise ValueError("the pipeline fails")
    return x

neps.run(evaluate, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
         evaluations_to_spend=12, optimizer="random_search", ignore_errors=True)
print("RUN DONE")
"""


def _run_script(
    tmp_path: Path,
    *,
    terminal: bool,
    env: dict[str, str] | None = None,
    script: str = SCRIPT,
) -> str:
    """Run a small optimization with stdout on a pseudo-terminal or a pipe; return stdout.

    On a terminal, stderr goes to the terminal too only for ``SCRIPT_THAT_LOGS``.
    """
    (tmp_path / "script.py").write_text(script, encoding="utf-8")
    command = [sys.executable, "script.py", str(tmp_path / "root")]
    environment = {**os.environ, **(env or {})}
    if not terminal:
        completed = subprocess.run(
            command,
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return completed.stdout
    controller, terminal_end = pty.openpty()
    stderr = terminal_end if script == SCRIPT_THAT_LOGS else subprocess.DEVNULL
    process = subprocess.Popen(
        command, cwd=tmp_path, env=environment, stdout=terminal_end, stderr=stderr
    )
    os.close(terminal_end)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=120) == 0
    return output.decode()


def test_a_terminal_shows_trials_cost_and_best(tmp_path: Path) -> None:
    output = _run_script(tmp_path, terminal=True)
    assert "\r" in output
    final = output.split("RUN DONE")[0].rstrip().split("\r")[-1]
    assert final.startswith("neps-core [####################] 6/6 trials | cost 3/100 | best ")
    assert float(final.rsplit("best ", 1)[1]) < 1.0
    assert "[....................] 0/6 trials" in output  # drawn from the start
    assert "| 1 running |" in output  # a sampled trial is shown at once, never throttled away


def test_log_records_and_warnings_start_a_line_of_their_own(tmp_path: Path) -> None:
    """They were glued onto the end of the status line ("... | best 0.29WARNING:...")."""
    output = _run_script(tmp_path, terminal=True, script=SCRIPT_THAT_LOGS)
    assert "UserWarning: the pipeline warns" in output
    messages = [f"{tmp_path / 'script.py'}:", "WARNING:pipeline:the pipeline logs"]
    messages += ["WARNING:neps_core.reporting:Trial", "INFO:neps_core.runtime:Worker"]
    for message in messages:
        assert message in output
        for before in output.split(message)[:-1]:
            start_of_line = before.rsplit("\n", 1)[-1]
            if "neps-core [" in start_of_line:  # the status was drawn: blanked, back to column 0
                *_, blanked, rest = start_of_line.rsplit("\r", 2)
                assert rest == ""
                assert blanked.strip() == ""
                assert len(blanked) >= len("neps-core [....................] 0/12 trials")
    assert "neps-core [####################] 12/12 trials" in output


SCRIPT_WITH_A_FAILING_OBSERVER = """
import sys
import warnings
import neps_core as neps

class FailsToFinish:
    @neps.hookimpl
    def neps_run_finished(self, run, summary):
        raise RuntimeError("the observer fails")

try:
    neps.run(lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=sys.argv[1],
             evaluations_to_spend=2, plugins=[FailsToFinish()])
except RuntimeError:
    pass
print("WRAPPED" if getattr(warnings.showwarning, "clears_progress_lines", False) else "RESTORED")
print("RUN DONE")
"""


def test_another_observer_failing_at_the_end_still_ends_the_line(tmp_path: Path) -> None:
    """The progress plugin's end was skipped: the line stayed open and its warnings wrapper
    stayed installed for the rest of the process."""
    output = _run_script(tmp_path, terminal=True, script=SCRIPT_WITH_A_FAILING_OBSERVER)
    assert "neps-core [####################] 2/2 trials" in output
    assert output.endswith("\r\nRESTORED\r\nRUN DONE\r\n")


def test_a_pipe_gets_no_progress(tmp_path: Path) -> None:
    assert _run_script(tmp_path, terminal=False) == "RUN DONE\n"


def test_the_environment_switches_it_off(tmp_path: Path) -> None:
    output = _run_script(tmp_path, terminal=True, env={ENVIRONMENT_VARIABLE: "0"})
    assert "neps-core" not in output
    assert output.strip() == "RUN DONE"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _history(*trials: Trial) -> TrialHistory:
    history = TrialHistory()
    for trial in trials:
        history.put(trial)
    return history


def _trial(trial_id: str, state: TrialState, objective: float | None, cost: float | None) -> Trial:
    report = Report(objective_to_minimize=objective, cost=cost) if state.is_final else None
    return Trial(id=trial_id, config={}, state=state, created_at=0.0, report=report)


def test_the_line_without_budget_and_with_running_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    stream = _Terminal()
    assert enabled(stream)
    assert not enabled(io.StringIO())
    line = ProgressLine(stream, RunSettings.from_kwargs())
    history = _history(
        _trial("1", TrialState.SUCCESS, 0.7, None),
        _trial("2", TrialState.SUCCESS, 0.2, None),
        _trial("3", TrialState.FAILED, None, None),
        _trial("4", TrialState.EVALUATING, None, None),
    )
    line.update(history, force=True)
    assert stream.getvalue() == "\rneps-core 3 trials | 1 running | best 0.2"
    history.put(_trial("5", TrialState.SUCCESS, 0.1, 4.0))
    line.finish(history)
    assert stream.getvalue().endswith("\rneps-core 4 trials | 1 running | cost 4 | best 0.1\n")


def test_the_best_counts_only_the_highest_fidelity_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in the summary: an optimistic cheap evaluation never shows as the best."""
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    stream = _Terminal()
    line = ProgressLine(stream, RunSettings.from_kwargs())

    def at(trial_id: str, objective: float, fidelity: float) -> Trial:
        trial = _trial(trial_id, TrialState.SUCCESS, objective, None)
        return attrs.evolve(trial, fidelity=fidelity)

    history = _history(at("1", 0.1, 1), at("2", 0.3, 1))
    line.update(history, force=True)
    assert stream.getvalue().endswith("best 0.1")
    history.put(at("3", 0.9, 3))
    line.update(history, force=True)
    assert stream.getvalue().endswith("best 0.9")
    history.put(at("4", 0.05, 1))
    history.put(at("5", 0.7, 3))
    line.update(history, force=True)
    assert stream.getvalue().endswith("best 0.7")


def test_a_narrow_terminal_drops_the_bar_before_the_best(monkeypatch: pytest.MonkeyPatch) -> None:
    # Cut at 79 columns, the line lost the best objective first ("... | bes").
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setenv("COLUMNS", "64")
    stream = _Terminal()
    line = ProgressLine(stream, RunSettings.from_kwargs(evaluations_to_spend=20))
    history = _history(
        _trial("1", TrialState.SUCCESS, 0.331323, 500.0),
        _trial("2", TrialState.EVALUATING, None, None),
    )
    line.update(history, force=True)
    assert stream.getvalue() == "\rneps-core 1/20 trials | 1 running | cost 500 | best 0.331323"
    monkeypatch.setenv("COLUMNS", "200")
    line.update(history, force=True)
    assert "[#...................] 1/20 trials" in stream.getvalue().rsplit("\r", 1)[1]


def test_the_terminal_guard_leaves_logging_and_warnings_as_it_found_them() -> None:
    handler = logging.StreamHandler(_Terminal())
    file_like = logging.StreamHandler(io.StringIO())
    root = logging.getLogger()
    root.addHandler(handler)
    root.addHandler(file_like)
    showwarning = warnings.showwarning
    guard = TerminalGuard()
    try:
        guard.install()
        assert handler.filters and not file_like.filters  # only what writes to a terminal
        assert warnings.showwarning != showwarning
        guard.uninstall()
        assert not handler.filters
        assert warnings.showwarning == showwarning
    finally:
        root.removeHandler(handler)
        root.removeHandler(file_like)


def test_a_wrapper_put_back_by_catch_warnings_is_not_wrapped_into_a_recursion() -> None:
    """The guard saved its own wrapper as the original and every warning then recursed."""
    original = warnings.showwarning
    shown: list[str] = []
    warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
    first, second = TerminalGuard(), TerminalGuard()
    try:
        first.install()
        with warnings.catch_warnings():  # restores, on exit, the wrapper it found
            first.uninstall()
        second.install()
        warnings.showwarning("still shown", UserWarning, "file.py", 1)
        assert shown == ["still shown"]
        second.uninstall()
    finally:
        warnings.showwarning = original


def test_several_objectives_show_the_size_of_the_pareto_front(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A multi-objective run showed "best -" to its end: no single objective is the best."""
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    stream = _Terminal()
    line = ProgressLine(stream, RunSettings.from_kwargs())

    def scored(trial_id: str, *objectives: float) -> Trial:
        report = Report(objective_to_minimize=objectives)
        return Trial(
            id=trial_id, config={}, state=TrialState.SUCCESS, created_at=0.0, report=report
        )

    history = _history(scored("1", 1.0, 2.0), scored("2", 2.0, 1.0))
    line.update(history, force=True)
    assert stream.getvalue().endswith("| Pareto front 2")
    history.put(scored("3", 0.5, 0.5))  # dominates both
    line.update(history, force=True)
    assert stream.getvalue().endswith("| Pareto front 1")
    history.put(scored("4", 0.1, 3.0))
    line.finish(history)
    assert stream.getvalue().endswith("| Pareto front 2\n")
