"""``import_trials``: external (config, result) pairs become finished trials of a run."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

import neps_core as neps
from neps_core.errors import SettingsError, SpaceMismatchError
from neps_core.history import TrialHistory
from neps_core.loading import open_existing
from neps_core.models import Trial, TrialState
from neps_core.testing._storage_workers import child_environment
from neps_core_plugins.disk_storage.storage import DiskStorage
from neps_core_plugins.sqlite_storage import SQLiteStorage

SPACE = {
    "lr": neps.Float(1e-4, 1e-1, log=True),
    "depth": neps.Integer(1, 8),
    "act": neps.Categorical(["relu", "tanh"]),
}
EVALUATED = [
    ({"lr": 0.01, "depth": 3, "act": "relu"}, 0.4),
    ({"lr": 0.001, "depth": 5, "act": "tanh"}, {"objective_to_minimize": 0.3, "cost": 2.0}),
    ({"lr": 0.05, "depth": 1, "act": "relu"}, {"exception": "diverged", "cost": 1.0}),
]


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_imported_trials_are_final_and_stored(root: Path, storage: str) -> None:
    trials = neps.import_trials(EVALUATED, root, SPACE, storage=storage)
    assert [t.id for t in trials] == ["1", "2", "3"]
    assert [t.state for t in trials] == [TrialState.SUCCESS, TrialState.SUCCESS, TrialState.FAILED]
    backend = {"disk": DiskStorage, "sqlite": SQLiteStorage}[storage](root)
    history = backend.sync()
    assert history["2"].config == EVALUATED[1][0]
    assert history["2"].report is not None and history["2"].report.cost == 2.0
    assert history["3"].report is not None and history["3"].report.error == "diverged"
    assert history["1"].metadata == {"imported": True}
    assert history.cost_spent == 3.0
    assert (root / "configs" / "config_1" / "config.yaml").is_file()
    assert neps.load_config(root, "config_2") == EVALUATED[1][0]


def test_imported_trials_count_toward_the_budget(root: Path) -> None:
    neps.import_trials(EVALUATED, root, SPACE)
    seen: list[dict[str, object]] = []

    def evaluate(**config: object) -> float:
        seen.append(config)
        return 1.0

    summary = neps.run(
        evaluate, SPACE, root_directory=root, evaluations_to_spend=5, optimizer="random_search"
    )
    assert len(seen) == 2
    assert summary.counts["success"] == 4
    assert summary.best_objective == 0.3


def test_import_into_an_existing_run_uses_its_saved_space(root: Path) -> None:
    neps.run(lambda **c: 1.0, SPACE, root_directory=root, evaluations_to_spend=2, storage="sqlite")
    trials = neps.import_trials(EVALUATED[:1], root)
    assert trials[0].id == "3"
    assert neps.status(root).counts["success"] == 3
    with pytest.raises(ValueError, match=r"evaluated_trials\[0\].*'depth'"):
        neps.import_trials([({"lr": 0.01, "depth": 99, "act": "relu"}, 1.0)], root)


def test_a_bad_config_is_rejected_with_its_index_and_nothing_is_written(root: Path) -> None:
    bad = [
        *EVALUATED[:2],
        ({"lr": 0.01, "depth": 3, "act": "gelu"}, 0.1),
    ]
    with pytest.raises(ValueError, match=r"evaluated_trials\[2\]: invalid configuration.*'act'"):
        neps.import_trials(bad, root, SPACE)
    assert not root.exists()  # checked before anything was written
    with pytest.raises(ValueError, match=r"evaluated_trials\[0\].*Unknown parameter.*'width'"):
        neps.import_trials([({**EVALUATED[0][0], "width": 3}, 1.0)], root, SPACE)
    with pytest.raises(ValueError, match=r"evaluated_trials\[1\].*'depth' is missing"):
        neps.import_trials([EVALUATED[0], ({"lr": 0.01, "act": "relu"}, 1.0)], root, SPACE)


def test_results_with_another_number_of_objectives_are_refused_whole(root: Path) -> None:
    """As tell() and run() refuse them: a Pareto front cannot compare 1 and 2 objectives."""
    config = EVALUATED[0][0]
    with pytest.raises(neps.ObjectiveCountError, match=r"evaluated_trials\[2\].*1 value.*\[0\]"):
        neps.import_trials([(config, (0.1, 0.2)), EVALUATED[2], (config, 0.5)], root, SPACE)
    assert not root.exists()  # checked before anything was written
    neps.import_trials(EVALUATED[:2], root, SPACE)
    with pytest.raises(neps.ObjectiveCountError, match=r"\[0\].*2 value.*trial 1 of the run"):
        neps.import_trials([(config, (0.1, 0.2))], root)
    assert neps.status(root).counts["success"] == 2


def test_a_bad_result_breaks_the_contract_with_its_index(root: Path) -> None:
    with pytest.raises(TypeError, match=r"evaluated_trials\[1\]: invalid result.*set") as bad:
        neps.import_trials([EVALUATED[0], (EVALUATED[1][0], {0.1, 0.2})], root, SPACE)
    assert "evaluate_pipeline" not in str(bad.value) and "None" not in str(bad.value)
    with pytest.raises(TypeError, match=r"evaluated_trials\[0\].*needs a result"):
        neps.import_trials([(EVALUATED[0][0], None)], root, SPACE)


def test_malformed_pairs_are_type_errors(root: Path) -> None:
    with pytest.raises(TypeError, match="sequence of"):
        neps.import_trials({"lr": 0.1}, root, SPACE)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"evaluated_trials\[0\] must be a \(config, result\)"):
        neps.import_trials([(EVALUATED[0][0],)], root, SPACE)  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"evaluated_trials\[0\]: the config must be a mapping"):
        neps.import_trials([([0.1, 3], 1.0)], root, SPACE)  # type: ignore[list-item]


def test_a_failed_import_into_a_new_root_leaves_nothing_to_refuse_a_retry(root: Path) -> None:
    """Neither storage.yaml nor run_info.yaml: the corrected retry may choose any storage."""
    with pytest.raises(SettingsError, match="pipeline_space is required"):
        neps.import_trials(EVALUATED, root)
    with pytest.raises(neps.UnknownPluginError, match="'bo'"):
        neps.import_trials(EVALUATED, root, SPACE, optimizer="bo")
    mixed = [EVALUATED[0], (EVALUATED[1][0], (0.1, 0.2))]
    with pytest.raises(neps.ObjectiveCountError, match=r"evaluated_trials\[1\]"):
        neps.import_trials(mixed, root, SPACE, storage="sqlite")
    assert not root.exists()
    neps.import_trials(EVALUATED, root, SPACE, storage="sqlite")
    assert neps.status(root).counts["success"] == 2


def test_a_different_space_than_the_saved_one_is_refused(root: Path) -> None:
    neps.import_trials(EVALUATED, root, SPACE)
    other = {**SPACE, "depth": neps.Integer(1, 16)}
    with pytest.raises(SpaceMismatchError, match="'depth'"):
        neps.import_trials(EVALUATED, root, other)


def test_constants_and_the_fidelity_may_be_left_out_and_fidelities_are_recorded(root: Path) -> None:
    space = {
        "x": neps.Float(0.0, 1.0),
        "epochs": neps.IntegerFidelity(1, 9),
        "dataset": neps.Constant("cifar"),
    }
    trials = neps.import_trials([({"x": 0.5, "epochs": 3}, 0.2), ({"x": 0.7}, 0.1)], root, space)
    assert trials[0].config == {"x": 0.5, "epochs": 3, "dataset": "cifar"}
    assert trials[0].fidelity == 3
    # As in NePS, a configuration without the fidelity was evaluated at its maximum.
    assert trials[1].config == {"x": 0.7, "epochs": 9, "dataset": "cifar"}
    assert trials[1].fidelity == 9
    assert neps.status(root).best_trial.id == trials[1].id  # the best at the highest fidelity


def test_whole_floats_of_integer_parameters_are_taken_as_ints(root: Path) -> None:
    """Integer columns read from CSV or pandas (with gaps) are floats: 3.0 was refused."""
    trials = neps.import_trials([({"lr": 0.01, "depth": 3.0, "act": "relu"}, 0.4)], root, SPACE)
    depth = trials[0].config["depth"]
    assert depth == 3 and isinstance(depth, int)
    received = []
    neps.run(
        lambda **config: received.append(config) or 0.5,
        SPACE,
        root_directory=root,
        evaluations_to_spend=2,
        optimizer="bayesian_optimization",
    )
    assert all(isinstance(config["depth"], int) for config in received)
    with pytest.raises(ValueError, match=r"evaluated_trials\[0\].*'depth': value 3.5"):
        neps.import_trials([({"lr": 0.01, "depth": 3.5, "act": "relu"}, 0.4)], root)


def test_overwrite_root_directory_starts_afresh(root: Path) -> None:
    neps.import_trials(EVALUATED, root, SPACE)
    trials = neps.import_trials(EVALUATED[:1], root, SPACE, overwrite_root_directory=True)
    assert [t.id for t in trials] == ["1"]


def test_multi_objective_results_are_imported(root: Path) -> None:
    trials = neps.import_trials(
        [(EVALUATED[0][0], (0.1, 0.9)), (EVALUATED[1][0], {"objective_to_minimize": [0.2, 0.3]})],
        root,
        SPACE,
    )
    assert [t.objective for t in trials] == [(0.1, 0.9), (0.2, 0.3)]
    again = neps.import_trials([(EVALUATED[0][0], (0.1, 0.9))], root)  # read back as a list
    assert [t.id for t in again] == [trials[0].id]


def test_a_repeated_configuration_is_imported_with_a_warning(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="neps_core"):
        trials = neps.import_trials([EVALUATED[0], EVALUATED[1], EVALUATED[0]], root, SPACE)
    assert len(trials) == 3
    assert "evaluated_trials[2] repeats the configuration of evaluated_trials[0]" in caplog.text


def test_a_choice_stored_as_its_index_is_imported_as_evaluate_pipeline_received_it(
    root: Path,
) -> None:
    # A categorical of tuples stores indices; importing the tuple itself was "not in Categorical".
    space = {"shape": neps.Categorical(((1, 2), (3, 4))), "x": neps.Float(0.0, 1.0)}
    neps.import_trials(
        [({"shape": (3, 4), "x": 0.5}, 0.1), ({"shape": [1, 2], "x": 0.2}, 0.3)],  # JSON: a list
        root_directory=root,
        pipeline_space=space,
    )
    assert [neps.load_config(root, config_id=i)["shape"] for i in (1, 2)] == [(3, 4), (1, 2)]
    with pytest.raises(ValueError, match=r"evaluated_trials\[0\].*'shape': value \(5, 6\)"):
        neps.import_trials(
            [({"shape": (5, 6), "x": 0.5}, 0.1)], root_directory=root, pipeline_space=space
        )


@pytest.mark.parametrize("storage", ["disk", "sqlite"])
def test_importing_again_what_was_imported_adds_nothing(root: Path, storage: str) -> None:
    """A script that imports and then runs, run again to continue, imported everything twice."""
    repeated = [*EVALUATED, EVALUATED[0], ({"lr": 0.02, "depth": 2, "act": "relu"}, (0.4))]
    first = neps.import_trials(repeated[:4], root, SPACE, storage=storage)
    again = neps.import_trials(repeated, root, SPACE, storage=storage)
    assert [t.id for t in first] == ["1", "2", "3", "4"]
    assert [t.id for t in again] == ["1", "2", "3", "4", "5"]  # only the new pair is new
    journal = root / ".neps_core" / "journal.jsonl"
    written = journal.read_bytes() if storage == "disk" else b""
    neps.import_trials(repeated, root, SPACE, storage=storage)  # all five imported before
    if storage == "disk":  # the earlier trials were written again on every rerun
        assert journal.read_bytes() == written
    changed_result = neps.import_trials([(EVALUATED[0][0], 0.41)], root, SPACE)
    assert [t.id for t in changed_result] == ["6"]  # another result: another evaluation
    assert len(neps.status(root).trials) == 6
    neps.run(lambda **c: 0.4, SPACE, root_directory=root, evaluations_to_spend=7)
    evaluated_by_the_run = neps.status(root).trials[-1]
    imported = neps.import_trials([(evaluated_by_the_run.config, 0.4)], root)
    assert [t.id for t in imported] == ["8"]  # only earlier imports stand for a pair


def test_trials_imported_before_the_default_curve_are_still_found_again(root: Path) -> None:
    """Imported before a result without a curve got its objective as one (stored None), they
    differed from the same pairs parsed now and were imported a second time."""
    neps.import_trials(EVALUATED, root, SPACE)
    with open_existing(root) as storage:  # the run as an earlier version stored it

        def without_curves(history: TrialHistory) -> list[Trial]:
            return [
                attrs.evolve(t, report=attrs.evolve(t.report, learning_curve=None))
                for t in history.values()
                if t.report is not None
            ]

        assert [t.report.learning_curve for t in storage.transact(without_curves)] == [None] * 3
    assert [t.id for t in neps.import_trials(EVALUATED, root, SPACE)] == ["1", "2", "3"]


def test_a_choice_is_stored_as_the_space_spells_it(root: Path) -> None:
    """``16.0`` (a CSV column) and ``1`` were stored as given: the best config read
    ``bs: 16.0`` and importing ``16`` later made a second trial of the same configuration."""
    space = {
        "flag": neps.Categorical((True, False)),
        "bs": neps.Categorical((16, 32)),
        "x": neps.Float(0.0, 1.0),
    }
    (first,) = neps.import_trials([({"flag": 1, "bs": 16.0, "x": 0.5}, 0.3)], root, space)
    assert first.config == {"flag": True, "bs": 16, "x": 0.5}
    assert [type(first.config[n]) for n in ("flag", "bs")] == [bool, int]
    again = neps.import_trials([({"flag": True, "bs": 16, "x": 0.5}, 0.3)], root)
    assert [t.id for t in again] == [first.id]
    assert neps.load_config(root, config_id=first.id) == {"flag": True, "bs": 16, "x": 0.5}


class ExampleSpace(neps.PipelineSpace):
    lr = neps.Float(1e-4, 1e-1, log=True)
    depth = neps.Integer(1, 8)


def test_nepss_example_order_space_first_is_taken(root: Path) -> None:
    """NePS's convenience/config_creation.py calls import_trials(space, pairs, root_directory=
    ...): it failed with 'got multiple values for argument root_directory'."""
    pairs = [({"lr": 0.01, "depth": 3}, neps.UserResultDict(objective_to_minimize=0.5))]
    trials = neps.import_trials(
        ExampleSpace(), pairs, root_directory=root, overwrite_root_directory=True
    )
    assert [t.report.objective_to_minimize for t in trials if t.report] == [0.5]
    assert neps.import_trials(ExampleSpace, pairs, root) == trials  # a class, root positional
    for given in (dict(pipeline_space=ExampleSpace()), dict(root_directory=root)):
        with pytest.raises(TypeError, match=r"multiple values for argument '(pipeline_space|root)"):
            neps.import_trials(ExampleSpace(), pairs, root, **given)
    with pytest.raises(TypeError, match=r"missing a required argument: 'root_directory'"):
        neps.import_trials(pairs)


def test_nepss_positional_arguments_are_taken_in_its_order(root: Path) -> None:
    """NePS's overwrite_root_directory and optimizer may be passed positionally; import_trials(
    pairs, root, space, True) failed with 'takes at most 3 positional arguments'."""
    pairs = [({"lr": 0.01, "depth": 3}, neps.UserResultDict(objective_to_minimize=0.5))]
    neps.import_trials(pairs, root, ExampleSpace(), False, "random_search")
    assert neps.load_optimizer_info(root)["name"] == "random_search"
    (again,) = neps.import_trials([(pairs[0][0], 0.4)], root, ExampleSpace(), True)
    assert again.id == "1" and len(neps.status(root).trials) == 1  # started afresh
    with pytest.raises(TypeError, match=r"overwrite_root_directory must be True or False, got 'd"):
        neps.import_trials(pairs, root, ExampleSpace(), "disk")  # a storage in its place
    assert len(neps.status(root).trials) == 1  # not deleted
    with pytest.raises(TypeError, match=r"^import_trials\(\): too many positional arguments"):
        neps.import_trials(pairs, root, ExampleSpace(), False, "auto", "disk")


def test_the_space_first_with_evaluated_trials_by_keyword_is_taken(root: Path) -> None:
    """An earlier NePS convenience/import_trials.py passes import_trials(ExampleSpace(),
    evaluated_trials=..., root_directory=...): 'got multiple values for argument'."""
    pairs = [({"lr": 0.01, "depth": 3}, neps.UserResultDict(objective_to_minimize=0.5))]
    (trial,) = neps.import_trials(
        ExampleSpace(),
        evaluated_trials=pairs,
        root_directory=root,
        overwrite_root_directory=True,
        optimizer="random_search",
    )
    assert trial.config == pairs[0][0]
    assert neps.load_optimizer_info(root)["name"] == "random_search"


PRIOR_SPACE = {
    "x": neps.Float(0.0, 1.0, prior=0.3, prior_confidence="high"),
    "epochs": neps.IntegerFidelity(1, 9),
}


@pytest.mark.parametrize(
    ("optimizer", "epochs"),
    [
        ("priorband", 9),
        (("hyperband", {"sample_prior_first": True}), 1),
        (("asha", {"sample_prior_first": "highest_fidelity"}), 9),
        ("pibo", 9),
    ],
)
def test_an_optimizer_starting_from_the_prior_still_does_after_imported_trials(
    root: Path, optimizer: object, epochs: int
) -> None:
    """They started from the prior when the run had no trial yet, so after an import (or
    another optimizer's trials) the prior configuration was never evaluated."""
    imported = {"x": 0.9, "epochs": 1}
    neps.import_trials([(imported, 0.6)], root, PRIOR_SPACE, optimizer=optimizer)
    summary = neps.run(
        lambda x, epochs: abs(x - 0.3) + 1 / epochs,
        PRIOR_SPACE,
        root_directory=root,
        optimizer=optimizer,
        evaluations_to_spend=3,
        seed=0,
    )
    trials = sorted(summary.trials, key=lambda t: int(t.id))
    assert [t.config for t in trials[:2]] == [imported, {"x": 0.3, "epochs": epochs}]


STORAGE_COUNTER = """
import neps_core

registered = []


@neps_core.hookimpl
def neps_register_storages():
    registered.append(True)
    return []
"""


@pytest.mark.parametrize("by_name", [False, True])
def test_one_plugin_alone_needs_no_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_name: bool
) -> None:
    # plugins=module raised TypeError("'module' object is not iterable"), and
    # plugins="module" registered the string itself (a plugin implementing no hook).
    (tmp_path / "storage_counter.py").write_text(STORAGE_COUNTER, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("storage_counter")
    try:
        plugins = "storage_counter" if by_name else module
        trials = neps.import_trials(EVALUATED, tmp_path / "run", SPACE, plugins=plugins)
    finally:
        sys.modules.pop("storage_counter")
    assert len(trials) == 3
    assert module.registered


_KILLED_AT_THE_RUN_INFO = """
import os, sys
def stop(event, args):  # SIGKILL-like: at the write of run_info.yaml, after storage.yaml
    if event == "open" and ".run_info.yaml" in os.path.basename(str(args[0])):
        os._exit(9)
sys.addaudithook(stop)
import neps_core as neps
neps.import_trials([({"x": 0.5}, 0.5)], sys.argv[1], pipeline_space={"x": neps.Float(0.0, 1.0)})
"""


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=120,
        check=False,
    )


def test_a_root_a_killed_import_left_without_its_run_is_named_so_by_every_later_call(
    tmp_path: Path,
) -> None:
    root = tmp_path / "run"
    assert _python("-c", _KILLED_AT_THE_RUN_INFO, str(root)).returncode == 9
    assert (root / "storage.yaml").is_file() and not (root / "run_info.yaml").exists()
    status = _python("-m", "neps_core.cli", "status", str(root))
    assert status.returncode != 0
    assert "names the storage 'disk', which holds none" in status.stderr
    with pytest.raises(SettingsError, match=r"holds a storage\.yaml but no run"):
        neps.import_trials([({"x": 0.25}, 0.25)], root)  # was a bare AssertionError
    with pytest.raises(SettingsError, match=r"pipeline_space is required .* storage\.yaml but"):
        neps.run(lambda x: x, root_directory=root, evaluations_to_spend=1)  # was one too
    assert not (root / "run_info.yaml").exists()
    space = {"x": neps.Float(0.0, 1.0)}
    imported = neps.import_trials([({"x": 0.25}, 0.25)], root, pipeline_space=space)
    assert [trial.id for trial in imported] == ["1"]
