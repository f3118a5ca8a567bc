"""The ``async`` evaluator: trials wait for save_pipeline_results, bounded per worker."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import neps_core as neps
from neps_core.errors import SettingsError
from neps_core.testing import EvaluatorContract
from neps_core_plugins.async_evaluator import AsyncEvaluator, AsyncSettings
from neps_core_plugins.disk_storage.journal import Journal

SPACE = {"x": neps.Float(0.0, 1.0)}


class TestAsyncEvaluatorContract(EvaluatorContract):
    """The launch happens in-process, so the whole evaluator contract applies to it."""

    evaluator_class = AsyncEvaluator
    evaluator_options = {"max_in_flight": 3}


def test_max_in_flight_is_the_bound_on_outstanding_trials() -> None:
    assert AsyncEvaluator().max_outstanding is None
    assert AsyncEvaluator(AsyncSettings(max_in_flight=2)).max_outstanding == 2


def _complete_launched(root: Path, launched: list[str], stop: threading.Event) -> None:
    """Play the external system: report every launched trial a little later."""
    done: set[str] = set()
    while not stop.is_set():
        for trial_id in list(launched):
            if trial_id not in done:
                time.sleep(0.05)
                neps.save_pipeline_results(
                    {"objective_to_minimize": 1.0}, trial_id, root, post_run_summary=False
                )
                done.add(trial_id)
        time.sleep(0.01)


def test_max_in_flight_bounds_unanswered_trials(tmp_path: Path) -> None:
    root = tmp_path / "run"
    launched: list[str] = []
    outstanding_at_launch: list[int] = []

    def evaluate_pipeline(x: float, pipeline_id: str) -> None:
        answered = neps.status(root).counts["success"] if launched else 0
        outstanding_at_launch.append(len(launched) - answered)
        launched.append(pipeline_id)

    stop = threading.Event()
    reporter = threading.Thread(target=_complete_launched, args=(root, launched, stop))
    reporter.start()
    try:
        neps.run(
            evaluate_pipeline,
            SPACE,
            root_directory=root,
            evaluations_to_spend=6,
            evaluator={"name": "async", "max_in_flight": 2},
            continue_until_max_evaluation_completed=True,
        )
    finally:
        stop.set()
        reporter.join()
    assert len(launched) == 6
    assert max(outstanding_at_launch) <= 1  # at most one other trial waiting at each launch
    assert neps.status(root).counts["success"] == 6


def test_async_trials_stay_evaluating_and_count_toward_the_budget(tmp_path: Path) -> None:
    root = tmp_path / "run"
    summary = neps.run(
        lambda x: None,
        SPACE,
        root_directory=root,
        evaluations_to_spend=3,
        evaluator="async",
    )
    assert summary.counts["evaluating"] == 3
    again = neps.run(lambda x: None, SPACE, root_directory=root, evaluations_to_spend=3)
    assert again.counts["evaluating"] == 3  # nothing new: the budget belongs to the root
    neps.save_pipeline_results({"objective_to_minimize": 0.5}, "config_2", root)
    assert neps.status(root).counts == {**neps.status(root).counts, "success": 1}


def test_max_evaluations_per_run_bounds_what_one_worker_launches(tmp_path: Path) -> None:
    root = tmp_path / "run"
    summary = neps.run(
        lambda x: None,
        SPACE,
        root_directory=root,
        evaluations_to_spend=10,
        max_evaluations_per_run=4,
        evaluator="async",
    )
    assert summary.counts["evaluating"] == 4


LAUNCHER = """
import sys
import neps_core as neps

summary = neps.run(
    lambda x: None,
    {"x": neps.Float(0.0, 1.0)},
    root_directory=sys.argv[1],
    evaluations_to_spend=int(sys.argv[2]),
    max_evaluations_per_run=int(sys.argv[3]) or None,
    sample_batch_size=int(sys.argv[4]),
    evaluator={"name": "async", "max_in_flight": 2},
)
print(summary.counts["evaluating"])
"""


@pytest.mark.parametrize(
    ("budget", "per_run", "batch"),
    [(2, 0, 1), (10, 2, 1), (10, 2, 4)],
    ids=["budget", "per_run", "per_run_sampled_ahead"],
)
def test_a_worker_whose_slots_fill_as_its_budget_ends_returns(
    tmp_path: Path, budget: int, per_run: int, batch: int
) -> None:
    # It waited for a free slot, that is for an outside result, with nothing left to launch:
    # a script reporting the results after run() returned waited for ever.
    launched = subprocess.run(
        [
            sys.executable,
            "-c",
            LAUNCHER,
            str(tmp_path / "run"),
            *map(str, (budget, per_run, batch)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert launched.stdout.strip() == "2"


def test_invalid_max_in_flight_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="max_in_flight"):
        neps.run(
            lambda x: None,
            SPACE,
            root_directory=tmp_path / "run",
            evaluator={"name": "async", "max_in_flight": 0},
        )


@pytest.mark.parametrize("post_run_summary", [True, False])
def test_results_saved_in_the_workers_own_evaluation_do_not_reread_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, post_run_summary: bool
) -> None:
    """Each save_pipeline_results called in evaluate_pipeline opened the run anew, so it
    decoded the whole journal again: the 100 results after 700 took twice as long as the
    first 100. Through the worker's open storage, a record is decoded at most by the
    worker's heartbeat and summary threads (the worker does not decode its own appends),
    whatever the number of results."""
    decoded = 0
    parse = Journal._parse

    def counting_parse(journal: Journal, raw: bytes, line_number: int) -> dict[str, Any]:
        nonlocal decoded
        decoded += 1
        return parse(journal, raw, line_number)

    monkeypatch.setattr(Journal, "_parse", counting_parse)
    root = tmp_path / "run"

    def evaluate_pipeline(x: float, pipeline_id: str, root_directory: Path) -> None:
        result = {"objective_to_minimize": x}
        neps.save_pipeline_results(
            result, pipeline_id, root_directory, post_run_summary=post_run_summary
        )

    trials = 40
    summary = neps.run(
        evaluate_pipeline,
        SPACE,
        root_directory=root,
        evaluations_to_spend=trials,
        evaluator="async",
        optimizer="random_search",
    )
    assert summary.counts["success"] == trials
    journal = root / ".neps_core" / "journal.jsonl"
    records = len(journal.read_bytes().splitlines())
    assert decoded <= 3 * records  # each save reading the run: about trials / 2 * records
    summary_file = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))
    assert summary_file["counts"]["success"] == trials  # the worker rewrote them at its end
