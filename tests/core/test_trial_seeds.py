"""``run(seed=...)`` seeds every trial's evaluation, with real pools and child interpreters."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from seeded_draws import (
    draws,
    first_draws,
    initial_weights,
    received_weights,
    torch_draw,
    torch_weights,
    weights,
)

import neps_core as neps
from neps_core.evaluation.seeding import seed_global_generators
from neps_core.randomness import trial_seed

SPACE = {"x": neps.Float(0.0, 1.0)}
EVALUATORS = ["sync", "process_pool", "subprocess"]


def extras(root: Path) -> dict[str, dict[str, Any]]:
    """The values each trial reported in ``extra``, by trial id."""
    return {trial.id: dict(trial.report.extra) for trial in neps.status(root).trials}


def test_a_trial_draws_the_same_whichever_evaluator_runs_it(tmp_path: Path) -> None:
    # Only the worker's process was seeded: under process_pool and subprocess the draws were
    # the pool process's or the fresh interpreter's own, different in every run.
    # Equal to the sync run's draws (a function of the seed: see the repeated runs below),
    # a child's draws are repeatable too; an unseeded child's would differ from them.
    seen = {}
    for evaluator in EVALUATORS:
        root = tmp_path / evaluator
        neps.run(
            draws, SPACE, root_directory=root, evaluations_to_spend=2, seed=3, evaluator=evaluator
        )
        seen[evaluator] = extras(root)
    first, *others = seen.values()
    assert all(other == first for other in others), seen
    assert len({values["numpy"] for values in first.values()}) == 2  # each trial its own


def test_a_continued_run_never_repeats_a_trials_draws(tmp_path: Path) -> None:
    # Each call seeded the global generators with the run's seed again: every call's trial
    # drew the same values (random 0.844422 in all three).
    continued = tmp_path / "continued"
    for call in range(3):
        neps.run(
            draws,
            SPACE,
            root_directory=continued,
            evaluations_to_spend=3,
            max_evaluations_per_run=1,
            seed=0 if call == 0 else None,
        )
    neps.run(draws, SPACE, root_directory=tmp_path / "once", evaluations_to_spend=3, seed=0)
    by_calls = extras(continued)
    assert by_calls == extras(tmp_path / "once")
    assert len({values["random"] for values in by_calls.values()}) == 3


def test_torch_imported_inside_the_function_is_seeded_as_it_loads(tmp_path: Path) -> None:
    # torch was seeded only if loaded before the call: a fresh interpreter importing it in
    # the function drew from an unseeded generator, another value in every run.
    # The sync run's torch is this process's, loaded and seeded before the call; a child's
    # unseeded draw differs from it.
    seen = []
    for index, evaluator in enumerate(["subprocess", "sync"]):
        root = tmp_path / str(index)
        neps.run(
            torch_draw,
            SPACE,
            root_directory=root,
            evaluations_to_spend=1,
            seed=4,
            evaluator=evaluator,
        )
        seen.append(extras(root))
    assert seen[0] == seen[1]


class LayerSpace(neps.PipelineSpace):
    layer = neps.Operation(operator=torch.nn.Linear, kwargs={"in_features": 2, "out_features": 1})
    x = neps.Float(0.0, 1.0)


def test_the_objects_an_operation_builds_are_the_trials_too(tmp_path: Path) -> None:
    # A layer's weights came from the worker's generators: a continued run seeded them again
    # and built every call's layer alike.
    continued = tmp_path / "continued"
    for call in range(2):
        neps.run(
            weights,
            LayerSpace(),
            root_directory=continued,
            evaluations_to_spend=2,
            max_evaluations_per_run=1,
            seed=1 if call == 0 else None,
            evaluator="process_pool",
        )
    neps.run(
        weights, LayerSpace(), root_directory=tmp_path / "once", evaluations_to_spend=2, seed=1
    )
    by_calls = extras(continued)
    assert by_calls == extras(tmp_path / "once")
    assert by_calls["1"] != by_calls["2"]


class InitializedSpace(neps.PipelineSpace):
    initialized = neps.Operation(operator=initial_weights, args=(3,))
    x = neps.Float(0.0, 1.0)


def test_load_config_rebuilds_the_objects_a_trial_received(tmp_path: Path) -> None:
    # load_config built operations without the trial's seed: the weights were whatever the
    # global generators held then, other ones in every call.
    root = tmp_path / "run"
    neps.run(
        received_weights, InitializedSpace(), root_directory=root, evaluations_to_spend=2, seed=5
    )
    received = extras(root)
    assert received["1"] != received["2"]
    for trial in ("1", "2"):
        for space in (None, None, InitializedSpace()):  # the saved space twice, then the given
            loaded = neps.load_config(root, config_id=trial, pipeline_space=space)
            assert loaded["initialized"] == received[trial]["initialized"]


def test_load_config_leaves_the_callers_generators_as_they_were(tmp_path: Path) -> None:
    # Building under the trial's seed left a script's global generators reseeded: its next
    # random.random() and np.random.rand() were the trial's, the same after every load_config.
    root = tmp_path / "run"
    neps.run(
        received_weights, InitializedSpace(), root_directory=root, evaluations_to_spend=1, seed=5
    )
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    neps.load_config(root, config_id="1")
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_load_config_of_an_unseeded_run_draws_on_from_the_callers_generators(
    tmp_path: Path,
) -> None:
    # Unseeded, the caller's generators were still put back after the build: every
    # load_config built the same weights, and the script's next draws replayed them.
    root = tmp_path / "run"
    neps.run(received_weights, InitializedSpace(), root_directory=root, evaluations_to_spend=1)
    np.random.seed(123)
    expected = np.random.rand(9).tolist()
    np.random.seed(123)
    first = neps.load_config(root, config_id="1")["initialized"]
    second = neps.load_config(root, config_id="1")["initialized"]
    assert [*first, *second, *np.random.rand(3).tolist()] == expected


class TorchInitializedSpace(neps.PipelineSpace):
    initialized = neps.Operation(operator=torch_weights, args=(2,))
    x = neps.Float(0.0, 1.0)


DRAW_AFTER_LOAD_CONFIG = """
import sys
import neps_core as neps
assert "torch" not in sys.modules
neps.load_config(sys.argv[1], config_id="1")
import torch
print(torch.rand(1).item())
"""


def test_load_config_leaves_a_library_the_build_imports_unseeded(tmp_path: Path) -> None:
    # torch, first imported by the operation, was seeded with the trial's seed on import and
    # nothing undid it: a fresh script's next torch.rand() was the trial's, in every run.
    root = tmp_path / "run"
    neps.run(
        received_weights,
        TorchInitializedSpace(),
        root_directory=root,
        evaluations_to_spend=1,
        seed=5,
    )
    tests = str(Path(sys.modules[torch_weights.__module__].__file__ or "").parent)
    path = os.pathsep.join([tests, *sys.path])
    drawn = set()
    for _ in range(2):  # two fresh interpreters
        done = subprocess.run(
            [sys.executable, "-c", DRAW_AFTER_LOAD_CONFIG, str(root)],
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        drawn.add(done.stdout.strip())
    assert len(drawn) == 2, drawn


def test_ask_hands_out_the_objects_a_worker_and_load_config_build(tmp_path: Path) -> None:
    # ask() built a seeded run's operations without the trial's seed: its weights were
    # whatever the global generators held, not what load_config (or a worker) built.
    by_run = tmp_path / "by_run"
    neps.run(
        received_weights, InitializedSpace(), root_directory=by_run, evaluations_to_spend=1, seed=5
    )
    root = tmp_path / "asked"
    asked = []
    for seed in (5, None):  # the continued client takes the run's seed, as load_config does
        with neps.AskAndTell(InitializedSpace(), root, seed=seed) as client:
            trial = client.ask()
            assert trial is not None
            client.tell(trial.id, 0.5)
            asked.append(trial)
    assert asked[0].config["initialized"] == extras(by_run)["1"]["initialized"]
    for trial in asked:
        loaded = neps.load_config(root, config_id=trial.id)["initialized"]
        assert loaded == trial.config["initialized"]


def test_a_client_given_another_seed_hands_out_what_load_config_builds(tmp_path: Path) -> None:
    # ask() built under the client's seed, load_config under the seed the run started with:
    # a client given seed 6 on a seed-5 run handed out objects load_config did not rebuild.
    root = tmp_path / "run"
    for seed in (5, 6):
        with neps.AskAndTell(InitializedSpace(), root, seed=seed) as client:
            trial = client.ask()
            assert trial is not None
            client.tell(trial.id, 0.5)
    assert trial.id == "2"
    loaded = neps.load_config(root, config_id=trial.id)["initialized"]
    assert loaded == trial.config["initialized"]


def test_trials_whose_32_bit_seeds_collided_draw_differently() -> None:
    # Trial seeds were 32 bits: by the birthday bound trials of one run shared one (and every
    # draw) within a few 10k trials, against "no two trials of a run draw alike".
    drawn = []
    for trial_id in ("30719", "44299"):  # seed 42's first pair
        seed_global_generators(trial_seed(42, trial_id))
        drawn.append((random.random(), np.random.rand(), torch.rand(1).item()))
    first, second = drawn
    assert all(a != b for a, b in zip(first, second, strict=True))
    seed_global_generators(5)
    low = np.random.rand()
    seed_global_generators(5 + 2**32)  # NumPy took the seed modulo 2**32
    assert np.random.rand() != low


def test_python_numpy_and_torch_draw_apart_in_a_trial(tmp_path: Path) -> None:
    # NumPy's legacy seed took a trial's 64-bit seed as its two 32-bit words, the very key
    # random.seed builds: random.random() == np.random.rand() in every trial of every run.
    seen = []
    for index in range(2):
        root = tmp_path / str(index)
        neps.run(first_draws, SPACE, root_directory=root, evaluations_to_spend=3, seed=0)
        seen.append(extras(root))
    assert seen[0] == seen[1]  # still repeatable
    for drawn in seen[0].values():
        values = [value for generator in drawn.values() for value in generator]
        assert len(set(values)) == 9, drawn
    for seed in (0, 2**40):  # the worker's own generators, seeded as run() starts
        seed_global_generators(seed)
        assert len({random.random(), np.random.rand(), torch.rand(1).item()}) == 3


REPORT_THE_SEED = """
import json, os
seed = os.environ.get("NEPS_CORE_TRIAL_SEED")
print("NEPS_CORE_RESULT", json.dumps({"objective_to_minimize": 0.0, "extra": {"seed": seed}}))
"""


def test_a_command_finds_its_trials_seed_under_every_evaluator(tmp_path: Path) -> None:
    # Only a subprocess child had NEPS_CORE_TRIAL_SEED: a Command the sync or process_pool
    # evaluator called launched its command without it (docs: "a Command too").
    script = tmp_path / "report_the_seed.py"
    script.write_text(REPORT_THE_SEED, encoding="utf-8")
    command = neps.Command([sys.executable, str(script), "{x}"])
    for evaluator in EVALUATORS:
        root = tmp_path / evaluator
        neps.run(
            command, SPACE, root_directory=root, evaluations_to_spend=1, seed=7, evaluator=evaluator
        )
        assert extras(root) == {"1": {"seed": str(trial_seed(7, "1"))}}, evaluator
