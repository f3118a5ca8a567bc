"""Many workers at once, on every backend: exact budget, no duplicates, no lost reports.

The workers are real, separately started Python processes that call ``neps_core.run`` on one
root directory, as users start them on a machine or a cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import neps_core as neps
from neps_core.models import TrialState
from neps_core.plugin_manager import load_plugins
from neps_core.run_storage import open_storage

WORKERS = 8
TRIALS = 400

WORKER = textwrap.dedent(
    """
    import json, os, sys
    import neps_core as neps

    root, storage, log = sys.argv[1], sys.argv[2], sys.argv[3]
    evaluated = []

    def evaluate_pipeline(x, n, pipeline_id):
        evaluated.append(pipeline_id)
        return {"objective_to_minimize": x * n, "extra": {"pid": os.getpid()}}

    neps.run(
        evaluate_pipeline,
        {"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 1000)},
        root_directory=root,
        storage=storage,
        evaluations_to_spend=int(sys.argv[4]),
        optimizer="random_search",
        post_run_summary=False,
    )
    with open(log, "w") as handle:
        json.dump(evaluated, handle)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_eight_workers_share_one_exact_budget(tmp_path: Path, storage: str) -> None:
    root = tmp_path / "results"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    logs = [tmp_path / f"worker_{i}.json" for i in range(WORKERS)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(root), storage, str(log), str(TRIALS)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for log in logs
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=280)
        assert process.returncode == 0, stderr

    history = open_storage(root, None, load_plugins()).sync()
    assert len(history) == TRIALS
    assert sorted(map(int, history)) == list(range(1, TRIALS + 1))
    assert history.count(TrialState.SUCCESS) == TRIALS
    configs = {(t.config["x"], t.config["n"]) for t in history.values()}
    assert len(configs) == TRIALS
    for trial in history.values():
        assert trial.report is not None
        assert trial.report.objective_to_minimize == trial.config["x"] * trial.config["n"]
        assert trial.report.extra["pid"] in {p.pid for p in processes}
    evaluated = [trial_id for log in logs for trial_id in json.loads(log.read_text())]
    assert sorted(evaluated, key=int) == sorted(history, key=int)  # each trial evaluated once
    assert sum(1 for log in logs if json.loads(log.read_text())) >= 2  # work was shared
    if storage == "disk":
        reports = list((root / "configs").glob("config_*/report.yaml"))
        assert len(reports) == TRIALS


def test_the_same_seed_gives_the_same_trials_on_every_backend(tmp_path: Path) -> None:
    configs = {}
    for storage in ("disk", "sqlite"):
        root = tmp_path / storage
        neps.run(
            lambda x, n: x * n,
            {"x": neps.Float(0.0, 1.0), "n": neps.Integer(1, 1000)},
            root_directory=root,
            storage=storage,
            evaluations_to_spend=15,
            optimizer="random_search",
            seed=11,
        )
        history = open_storage(root, None, load_plugins()).sync()
        configs[storage] = {trial_id: dict(history[trial_id].config) for trial_id in history}
        assert len(configs[storage]) == 15
    assert configs["disk"] == configs["sqlite"]
    assert os.path.exists(tmp_path / "sqlite" / "run.db")
