"""``neps-core status``: a run's counts by state, budget, best configuration and failures."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from neps_core.budget_file import recorded_budgets
from neps_core.inspection import RunSnapshot, read_run, recent_failures
from neps_core.liveness import awaits_result, process_gone
from neps_core.models import TrialState
from neps_core.presence import processes_present
from neps_core.serialization import shortened, to_plain
from neps_core.summary import summarize, summary_as_dict
from neps_core.summary_folder import entries_text, trajectory_entries

ERROR_WIDTH = 300
PLAIN_LIMIT = 1e15  # budget amounts from here on are shown with an exponent


def status_data(
    root_directory: str | Path, failures: int, *, best_configs: bool = False
) -> dict[str, Any]:
    """What ``status`` shows, as plain data (the ``--json`` output); ``best_configs`` adds
    the trajectory of the best trial (``summary/best_config_trajectory.txt``'s entries)."""
    run = read_run(root_directory)
    budget = run.history.budget(**recorded_budgets(run.root_directory))
    summary = summarize(run.root_directory, run.history, budget, run.space)
    data = summary_as_dict(summary)
    data["storage"] = run.storage_name
    data["optimizer"] = _current_optimizer(run)
    data["started_with"] = run.info.optimizer
    data["recent_failures"] = [
        {
            "trial_id": trial.id,
            "state": trial.state.value,
            "error": None if trial.report is None else trial.report.error,
            "worker_id": trial.worker_id,
            "finished_at": trial.finished_at,
        }
        for trial in recent_failures(run.history, failures)
    ]
    data["workers"] = _workers(run)
    if best_configs:
        data["best_configs"] = trajectory_entries(summary)
    plain = to_plain(data)
    assert isinstance(plain, dict)
    return plain


def _current_optimizer(run: RunSnapshot) -> str:
    """The optimizer of the newest trial that names one; the run's first one before that.

    They differ when a run was continued with another optimizer or ``"auto"`` switched.
    """
    named = [trial for trial in run.history.values() if trial.optimizer is not None]
    if not named:
        return run.info.optimizer
    newest = max(named, key=lambda trial: trial.created_at)
    assert newest.optimizer is not None
    return newest.optimizer


def _workers(run: RunSnapshot) -> list[dict[str, Any]]:
    """Workers of EVALUATING trials, with the age of their last heartbeat, and whether the
    worker is known to be gone (a process of this machine that died, say by ``kill -9``)."""
    now = time.time()
    evaluating = [run.history[i] for i in run.history.ids_in(TrialState.EVALUATING)]
    present = processes_present(run.root_directory) if evaluating else None
    return [
        {
            "worker_id": trial.worker_id,
            "trial_id": trial.id,
            "seconds_since_heartbeat": round(
                now - (trial.last_heartbeat or trial.started_at or trial.created_at), 1
            ),
            "process_gone": process_gone(trial, present),
            "awaits_result": awaits_result(trial),
        }
        for trial in evaluating
    ]


def format_status(data: dict[str, Any]) -> str:
    """The text form of ``status_data``."""
    counts = data["counts"]
    total = sum(counts.values())
    lines = [
        f"Run in {data['root_directory']} (storage {data['storage']}, "
        f"optimizer {data['optimizer']}{_started_with(data)})",
        f"trials: {total} ("
        + ", ".join(f"{n} {state}" for state, n in counts.items() if n or state == "success")
        + ")",
        f"budget: {_budget(data['budget'])}",
    ]
    best = data["best"]
    if best is not None:
        lines.append(
            f"best: trial {best['trial_id']}, objective_to_minimize {best['objective_to_minimize']}"
        )
        shown = best.get("pipeline") or best["config"]
        lines += [f"  {name}: {_value_text(value)}" for name, value in shown.items()]
    elif data["pareto_front"]:
        lines.append(f"Pareto front: {len(data['pareto_front'])} trial(s)")
        lines += [
            f"  trial {p['trial_id']}: {p['objective_to_minimize']}" for p in data["pareto_front"]
        ]
    else:
        lines.append("best: no successful trial yet")
    for gone, awaiting, heading in (
        (False, False, "evaluating now:"),
        (False, True, "waiting for save_pipeline_results:"),
        (True, False, "left by workers whose process is gone (the next run() re-queues them):"),
    ):
        workers = [
            w
            for w in data["workers"]
            if (w["process_gone"], w["awaits_result"]) == (gone, awaiting)
        ]
        if workers:
            lines.append(heading)
            lines += [
                f"  trial {w['trial_id']} by {w['worker_id']} "
                f"(heartbeat {w['seconds_since_heartbeat']:.1f} s ago)"
                for w in workers
            ]
    if "best_configs" in data:
        lines.append(_best_configs(data))
    if data["recent_failures"]:
        lines.append("recent failures:")
        lines += [
            f"  trial {f['trial_id']} ({f['state']}): {shortened(f['error'], ERROR_WIDTH)}"
            for f in data["recent_failures"]
        ]
    return "\n".join(lines)


def _best_configs(data: dict[str, Any]) -> str:
    """The trajectory of the best trial (``--best-configs``), as NePS's text shows it."""
    if data["best_configs"]:
        return entries_text(data["best_configs"]).rstrip("\n")
    if data["pareto_front"]:  # no single best to follow: the front is listed above
        return "best configs: several objectives have no single best (see the Pareto front)"
    return "best configs: none yet"


def _value_text(value: Any) -> str:
    """A configuration's value on its line: text with a newline or tab quoted (it would
    break the listing), and any value cut to ``ERROR_WIDTH`` (the ``--json`` form has it all)."""
    text = repr(value) if isinstance(value, str) and not value.isprintable() else str(value)
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 3] + "..."


def _budget(budget: dict[str, Any]) -> str:
    """E.g. ``12 of 50 evaluations, cost 31.5 of 100``: each use, and its limit when set."""
    parts = [f"{budget['evaluations_used']} evaluations"]
    if budget.get("evaluations_to_spend") is not None:
        parts[0] = f"{budget['evaluations_used']} of {budget['evaluations_to_spend']} evaluations"
    for kind in ("cost", "fidelities"):
        used, limit = budget[f"{kind}_used"], budget.get(f"{kind}_to_spend")
        if limit is not None:
            parts.append(f"{kind} {_amount(used)} of {_amount(limit)}")
        elif used:
            parts.append(f"{kind} {_amount(used)}")
    return ", ".join(parts)


def _amount(value: float) -> str:
    """A budget's amount in plain digits, six significant ones but every digit of its whole
    part: ``1481481 of 10000000``, not ``1.48148e+06 of 1e+07``. Beyond ``PLAIN_LIMIT`` (and
    below 1) the exponent form is the shorter one to read."""
    if not math.isfinite(value) or not 1 <= abs(value) < PLAIN_LIMIT:
        return f"{value:.6g}"
    decimals = max(0, 6 - len(str(int(abs(value)))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _started_with(data: dict[str, Any]) -> str:
    started = data["started_with"]
    return "" if started == data["optimizer"] else f", started with {started}"
