"""The ``progress`` observer: one self-updating status line while a run works on a terminal.

It shows trials finished out of the budget, the cost spent and the best objective so far (at
the highest fidelity reached; with several objectives, the size of the Pareto front there),
counted over all workers of the run. It writes only when
stdout is a terminal (never into logs or pipes) and is off when ``NEPS_CORE_PROGRESS=0``.
Hand-written (a ``\\r`` line), so it needs no extra dependency and cannot slow a run: it
redraws at most ten times a second. A log record or warning bound for the terminal first
clears the line, so that it starts a line of its own rather than being glued onto the status.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any, TextIO

from neps_core import hookimpl
from neps_core.config import RunSettings
from neps_core.history import TrialHistory
from neps_core.models import Summary, Trial, TrialState
from neps_core.summary import RunningBest, at_top_fidelity, pareto_front

if TYPE_CHECKING:
    from neps_core.run_context import RunContext

ENVIRONMENT_VARIABLE = "NEPS_CORE_PROGRESS"
REDRAW_INTERVAL = 0.1
BAR_WIDTH = 20
FINAL_STATES = (TrialState.SUCCESS, TrialState.FAILED, TrialState.CRASHED, TrialState.CORRUPTED)


def enabled(stream: TextIO) -> bool:
    """Whether to draw on ``stream``: a terminal, and not switched off by the environment."""
    switch = os.environ.get(ENVIRONMENT_VARIABLE, "1").strip().lower()
    if switch in ("0", "false", "no", "off"):
        return False
    return _is_terminal(stream)


class ProgressLine:
    """The status line of one worker's run."""

    def __init__(self, stream: TextIO, settings: RunSettings) -> None:
        self.stream = stream
        self.settings = settings
        self._best = RunningBest()
        self._several_objectives: list[Trial] = []
        self._front_size: int | None = None  # of the trials above; None: to count again
        self._seen_successes = 0
        self._drawn_at = 0.0
        self._width = 0

    def update(self, history: TrialHistory, *, force: bool = False) -> None:
        """Redraw from ``history`` (at most every ``REDRAW_INTERVAL`` s unless ``force``)."""
        with _lines_lock:
            self._draw(history, force=force)

    def _draw(self, history: TrialHistory, *, force: bool) -> None:
        self._track_best(history)
        now = time.monotonic()
        if not force and now - self._drawn_at < REDRAW_INTERVAL:
            return
        self._drawn_at = now
        columns = shutil.get_terminal_size((80, 24)).columns
        width = max((columns if columns > 0 else 80) - 1, 10)  # an unsized pty: 0 on 3.10
        text = self.render(history)
        if len(text) > width:  # the bar goes first, so that the best objective stays
            text = self.render(history, bar=False)
        text = text[:width]
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Blank the line and put the cursor at its start; the next update redraws it."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0
        self._drawn_at = 0.0

    def finish(self, history: TrialHistory) -> None:
        """Draw the final state and end the line."""
        self.update(history, force=True)
        self.stream.write("\n")
        self.stream.flush()

    def render(self, history: TrialHistory, *, bar: bool = True) -> str:
        """The line's text, e.g. ``[#####.....] 12/50 trials | cost 3.2/10 | best 0.0123``."""
        done = history.count(*FINAL_STATES)
        total = self.settings.evaluations_to_spend
        parts = [f"{done} trials" if total is None else f"{done}/{total} trials"]
        if total is not None and bar:
            filled = min(BAR_WIDTH, round(BAR_WIDTH * done / total))
            parts = [f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {parts[0]}"]
        running = history.count(TrialState.EVALUATING)
        if running:
            parts.append(f"{running} running")
        cost_budget = self.settings.cost_to_spend
        if cost_budget is not None or history.cost_spent:
            limit = "" if cost_budget is None else f"/{cost_budget:g}"
            parts.append(f"cost {history.cost_spent:.4g}{limit}")
        best = self._best.best
        if best is None and self._several_objectives:
            parts.append(f"Pareto front {self._pareto_front_size()}")
        else:
            parts.append("best -" if best is None else f"best {best:.6g}")
        return "neps-core " + " | ".join(parts)

    def _track_best(self, history: TrialHistory) -> None:
        """The best objective as in the summary (at the highest fidelity reached), from the
        trials that succeeded since the last update (successes never change state again)."""
        if history.count(TrialState.SUCCESS) == self._seen_successes:
            return  # no copy of the ids at every redraw
        successes = history.ids_in(TrialState.SUCCESS)
        for trial_id in successes[self._seen_successes :]:
            trial = history[trial_id]
            self._best.add(trial)
            if isinstance(trial.objective, tuple):
                self._several_objectives.append(trial)
                self._front_size = None
        self._seen_successes = len(successes)

    def _pareto_front_size(self) -> int:
        """Counted at a redraw only (at most ten a second), not per finished trial."""
        if self._front_size is None:
            self._front_size = len(pareto_front(at_top_fidelity(self._several_objectives)))
        return self._front_size


_lines: dict[int, ProgressLine] = {}
_lines_lock = threading.RLock()  # log records come from any thread (heartbeats, evaluators)


def _clear_lines() -> None:
    with _lines_lock:
        for line in _lines.values():
            line.clear()


class _ClearLinesFirst(logging.Filter):
    """Attached to the terminal's log handlers while a line is drawn: clears it before a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        _clear_lines()
        return True


class TerminalGuard:
    """Clears the lines before log records and warnings reach the terminal, while any is drawn.

    Covers the handlers of the root and ``neps_core`` loggers that write to a terminal (as
    ``logging.basicConfig`` sets up) and Python's last-resort handler, and wraps
    ``warnings.showwarning`` (a pipeline's own warnings, e.g. torch's).
    """

    def __init__(self) -> None:
        self._filter = _ClearLinesFirst()
        self._handlers: list[logging.Handler] = []
        self._wrapper: Any = None

    def install(self) -> None:
        candidates = [
            *logging.getLogger().handlers,
            *logging.getLogger("neps_core").handlers,
            logging.lastResort,
        ]
        self._handlers = [handler for handler in candidates if handler and _on_terminal(handler)]
        for handler in self._handlers:
            handler.addFilter(self._filter)
        shown = warnings.showwarning
        if getattr(shown, "clears_progress_lines", False):  # one of ours, put back by someone
            return  # (warnings.catch_warnings restores what it saw): it does the job already

        def show_warning(*args: Any, **kwargs: Any) -> None:
            _clear_lines()
            shown(*args, **kwargs)

        show_warning.clears_progress_lines = True  # type: ignore[attr-defined]
        self._wrapper, warnings.showwarning = (shown, show_warning), show_warning

    def uninstall(self) -> None:
        for handler in self._handlers:
            handler.removeFilter(self._filter)
        self._handlers = []
        if self._wrapper is not None:
            original, wrapper = self._wrapper
            if warnings.showwarning is wrapper:  # not if somebody replaced it since
                warnings.showwarning = original
            self._wrapper = None


def _on_terminal(handler: logging.Handler) -> bool:
    return _is_terminal(getattr(handler, "stream", None))


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


_guard = TerminalGuard()


@hookimpl
def neps_run_started(run: RunContext) -> None:
    """Start a status line for this run when stdout is a terminal."""
    if enabled(sys.stdout):
        line = ProgressLine(sys.stdout, run.settings)
        with _lines_lock:
            if not _lines:
                _guard.install()
            _lines[id(run)] = line
        line.update(run.storage.sync(), force=True)


@hookimpl
def neps_trial_sampled(run: RunContext) -> None:
    """Show the trial as running (always: throttled, "1 running" never showed for one worker)."""
    line = _lines.get(id(run))
    if line is not None:
        line.update(run.storage.sync(), force=True)


@hookimpl
def neps_trial_finished(run: RunContext) -> None:
    """Count the finished trial."""
    line = _lines.get(id(run))
    if line is not None:
        line.update(run.storage.sync())


@hookimpl
def neps_run_finished(run: RunContext, summary: Summary) -> None:
    """Draw the final state and end the line."""
    with _lines_lock:
        line = _lines.pop(id(run), None)
        if line is not None and not _lines:
            _guard.uninstall()
    if line is not None:
        line.finish(run.storage.sync())
