"""``run()`` settings: validation errors, component choices (optimizer, storage, evaluator,
plugins), worker ids, seeds and NePS 0.17's alias spellings.

A bad setting must fail before anything touches the disk, with a message naming the setting;
each way of naming a component must select exactly that component.
"""

from __future__ import annotations

import enum
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest
import yaml

import neps_core as neps
from neps_core.cli.clean import clean_run
from neps_core.config import RunSettings, run_directory
from neps_core.inspection import read_run
from neps_core.interfaces import Optimizer
from neps_core.migration import migrate_run
from neps_core.plugin_manager import load_plugins
from neps_core.run_config import load_run_config
from neps_core_plugins.random_search import RandomSearch

TrialFileReader = Callable[..., Any]
SPACE = {"x": neps.Float(0.0, 1.0), "kind": neps.Categorical(("a", "b"))}


def _objective(x: float, kind: str) -> float:
    return x


def _costly(x: float, kind: str) -> dict[str, float]:
    return {"objective_to_minimize": x, "cost": 1.0}


def _run_info(root: Path) -> dict[str, Any]:
    return yaml.safe_load((root / "run_info.yaml").read_text(encoding="utf-8"))


def _trials(root: Path) -> int:
    return sum(neps.status(root).counts.values())


# -- invalid values ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("evaluations_to_spend", 0),
        ("evaluations_to_spend", -3),
        ("evaluations_to_spend", 2.5),
        ("evaluations_to_spend", True),
        ("evaluations_to_spend", "10"),
        ("max_evaluations_per_run", 0),
        ("cost_to_spend", 0),
        ("cost_to_spend", -1.0),
        ("cost_to_spend", math.nan),
        ("cost_to_spend", math.inf),
        ("cost_to_spend", "10"),
        ("fidelities_to_spend", -4),
        ("sample_batch_size", 0),
        ("sample_batch_size", 1.5),
        ("objective_value_on_error", "high"),
        ("objective_value_on_error", math.nan),
        ("cost_value_on_error", [1]),
        ("cost_value_on_error", math.nan),
        ("cost_value_on_error", -1.0),
        ("optimizer", 42),
        ("optimizer", {"use_priors": True}),
        ("evaluator", 3.5),
        ("storage", 7),
        ("total_evaluations_to_spend", 0),
        ("total_cost_to_spend", -2),
        ("worker_evaluations_to_spend", 0),
        ("worker_cost_to_spend", -1),
        ("worker_fidelities_to_spend", 0),
        ("overwrite_root_directory", "false"),
        ("ignore_errors", "false"),
        ("post_run_summary", "maybe"),
        ("continue_until_max_evaluation_completed", 1),
        ("seed", "abc"),
        ("seed", 1.5),
        ("seed", -3),
        ("seed", True),
        ("cost_to_spend", Fraction(10**400, 1)),  # past float's range: was an OverflowError
        ("cost_to_spend", 10**400),  # also (from math.isfinite)
        ("objective_value_on_error", 10**400),
        ("cost_to_spend", Decimal("sNaN")),  # float() refuses it: the error named nothing
        ("cost_to_spend", Decimal("1e400")),  # was taken as infinite
        ("evaluations_to_spend", Decimal("3.0")),  # refused as 3.0 is, not taken as 3
        ("worker_id", ["a"]),
        ("worker_id", ""),
        ("worker_id", True),
    ],
)
def test_invalid_values_name_the_setting_and_touch_no_files(
    root: Path, setting: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=setting):
        neps.run(_objective, SPACE, root_directory=root, **{setting: value})
    assert not root.exists()


def test_numpy_numbers_and_decimals_are_settings_like_pythons_own(root: Path) -> None:
    # cost_to_spend=np.float64(4.0) crashed saving run_info.yaml ("cannot represent an
    # object"); evaluations_to_spend=np.int64(3) was refused as no positive integer.
    summary = neps.run(
        _costly,
        SPACE,
        root_directory=root,
        evaluations_to_spend=np.int64(3),
        cost_to_spend=np.float64(40.0),
        seed=np.uint32(7),
        heartbeat_interval=np.float32(5.0),
        objective_value_on_error=Decimal("1.5"),  # refused as "must be a number"
        max_evaluations_per_run=Fraction(3),  # refused as "got 3.0": a whole number is an int
    )
    assert summary.counts["success"] == 3
    saved = yaml.safe_load((root / "summary.yaml").read_text(encoding="utf-8"))["budget"]
    assert saved["evaluations_to_spend"] == 3 and saved["cost_to_spend"] == 40.0
    with pytest.raises(ValueError, match="evaluations_to_spend"):
        neps.run(_objective, SPACE, root_directory=root, evaluations_to_spend=np.bool_(True))


def test_every_budget_is_a_parameter_of_run_that_editors_can_see() -> None:
    budgets = [
        name for name in attrs.fields_dict(RunSettings) if "_to_spend" in name or "per_run" in name
    ]
    assert len(budgets) == 6
    assert set(budgets) <= set(inspect.signature(neps.run).parameters)


def test_overwrite_with_a_string_never_erases_a_run(root: Path) -> None:
    # "false" is truthy: taken as a bool, it erased the run it was meant to keep.
    neps.run(_objective, SPACE, root_directory=root, evaluations_to_spend=2)
    with pytest.raises(ValueError, match="overwrite_root_directory must be true or false"):
        neps.run(_objective, SPACE, root_directory=root, overwrite_root_directory="false")
    assert neps.status(root).budget.used_evaluations == 2


def test_unknown_setting_is_named(root: Path) -> None:
    with pytest.raises(ValueError, match="evaluations_to_spnd"):
        neps.run(_objective, SPACE, root_directory=root, evaluations_to_spnd=3)
    assert not root.exists()


def test_an_optimizer_option_given_beside_optimizer_names_where_it_goes(root: Path) -> None:
    """NePS's older run(searcher="hyperband", eta=2) written with optimizer=: the error shows
    the (name, options) form; a misspelled run setting beside it gets no such hint."""
    with pytest.raises(ValueError, match=re.escape("optimizer=('hyperband', {'eta': ...})")):
        neps.run(_objective, SPACE, root_directory=root, optimizer="hyperband", eta=2)
    with pytest.raises(ValueError, match="evaluations_to_spnd") as caught:
        neps.run(
            _objective, SPACE, root_directory=root, optimizer="hyperband", evaluations_to_spnd=2
        )
    assert "options of the optimizer" not in str(caught.value)
    assert not root.exists()


def test_evaluate_pipeline_must_be_callable(root: Path) -> None:
    with pytest.raises(ValueError, match="evaluate_pipeline"):
        neps.run(
            "not a function",  # type: ignore[arg-type]
            SPACE,
            root_directory=root,
            evaluations_to_spend=1,
        )


def test_new_run_without_a_space_is_refused(root: Path) -> None:
    with pytest.raises(ValueError, match="pipeline_space"):
        neps.run(_objective, root_directory=root, evaluations_to_spend=1)


def test_alias_and_its_new_name_together_must_agree(root: Path) -> None:
    with pytest.raises(ValueError, match=r"total_evaluations_to_spend.*evaluations_to_spend"):
        neps.run(
            _objective,
            SPACE,
            root_directory=root,
            evaluations_to_spend=3,
            total_evaluations_to_spend=4,
        )


# -- optimizer -----------------------------------------------------------------------------------
def test_unknown_optimizer_lists_the_available_ones_and_suggests(root: Path) -> None:
    with pytest.raises(neps.UnknownPluginError) as caught:
        neps.run(_objective, SPACE, root_directory=root, optimizer="random_serch")
    message = str(caught.value)
    assert "optimizer" in message and "'random_serch'" in message
    assert "Did you mean 'random_search'" in message
    assert "'grid_search'" in message.split("Available", 1)[1]


@pytest.mark.parametrize(
    "spec",
    [
        ("random_search", {"use_prior": True}),
        {"name": "random_search", "use_prior": True},
    ],
)
def test_unknown_optimizer_option_is_named(root: Path, spec: Any) -> None:
    with pytest.raises(ValueError, match=r"random_search.*use_prior.*use_priors"):
        neps.run(_objective, SPACE, root_directory=root, optimizer=spec)


def test_a_pair_whose_options_are_no_mapping_says_so(root: Path) -> None:
    # Was "expected ... a (name, options) pair ... got tuple" for what is a pair.
    with pytest.raises(neps.SettingsError, match=r"options are a mapping .*got int 3"):
        neps.run(_objective, SPACE, root_directory=root, optimizer=("hyperband", 3))


def test_invalid_optimizer_option_value_is_named(root: Path) -> None:
    with pytest.raises(ValueError, match="size"):
        neps.run(
            _objective, SPACE, root_directory=root, optimizer={"name": "grid_search", "size": 0}
        )


@attrs.frozen
class PopulationSettings:
    population: int


class NeedsPopulation(Optimizer):
    name = "needs_population"
    Settings = PopulationSettings

    def ask(self, trials: Any, budget: Any, n: int) -> list[neps.Proposal]:
        return [neps.Proposal(self.space.sample(self.random_generator(trials)))]


def test_a_required_optimizer_option_left_out_is_named_as_missing(root: Path) -> None:
    """cattrs' KeyError read "invalid options: 'population'"."""
    with pytest.raises(neps.SettingsError) as caught:
        neps.run(_objective, SPACE, root_directory=root, optimizer=NeedsPopulation)
    assert str(caught.value).startswith(
        "optimizer 'needs_population': invalid options: missing required option 'population'"
    )
    summary = neps.run(
        _objective,
        SPACE,
        root_directory=root,
        evaluations_to_spend=1,
        optimizer=(NeedsPopulation, {"population": 4}),
    )
    assert summary.counts["success"] == 1


class Kind(enum.Enum):
    A = "a"


class ByKindName:
    """An optimizer plugin whose converter reads ``kind`` by name (``Kind["B"]``: KeyError)."""

    @attrs.frozen
    class Settings:
        kind: Kind = Kind.A

    optimizer = type("KindSearch", (RandomSearch,), {"name": "kind_search", "Settings": Settings})

    @neps.hookimpl
    def neps_configure_converter(self, converter: Any) -> None:
        converter.register_structure_hook(Kind, lambda value, _: Kind[value])

    @neps.hookimpl
    def neps_register_optimizers(self) -> list[type]:
        return [self.optimizer]


def test_a_key_error_of_an_option_given_is_not_called_missing(root: Path) -> None:
    # *Review*: every KeyError read "missing required option 'B'", though kind was given.
    with pytest.raises(neps.SettingsError) as caught:
        neps.run(
            _objective,
            SPACE,
            root_directory=root,
            optimizer={"name": "kind_search", "kind": "B"},
            plugins=[ByKindName()],
        )
    assert "missing" not in str(caught.value) and "'B' @ $.kind" in str(caught.value)


PRIOR_FIDELITY_SPACE = {
    "x": neps.Float(0.0, 1.0, prior=0.5),
    "epochs": neps.IntegerFidelity(1, 9),
}


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("pibo", {"sample_prior_first": "false"}, "expected true or false, got the string 'false'"),
        ("random_search", {"use_priors": 1}, "expected true or false, got 1"),
        ("hyperband", {"eta": 3.9}, "expected a whole number, got 3.9"),
        ("bayesian_optimization", {"raw_samples": 100.9}, "expected a whole number, got 100.9"),
        ("bayesian_optimization", {"restarts": "ten"}, "expected a whole number, got 'ten'"),
        ("pibo", {"prior_weight": math.inf}, "expected a finite number, got inf"),
        ("pibo", {"prior_weight": math.nan}, "expected a finite number, got nan"),
        ("hyperband", {"sampler": "bogus"}, "sampler must be one of ['uniform', 'prior']"),
        # str() made these 'None' and "['prior']", and the choice check then quoted that.
        ("hyperband", {"sampler": None}, "expected a string, got None"),
        ("hyperband", {"sampler": ["prior"]}, "expected a string, got ['prior']"),
        ("pibo", {"initial_design": True}, "expected a string, got True"),
        ("priorband", {"base": "nope"}, "base must be one of ['successive_halving'"),
        (
            "priorband",
            {"base": "hyperband", "early_stopping_rate": 1},
            "early_stopping_rate applies to the bases ['successive_halving', 'asha'] only",
        ),
    ],
)
def test_optimizer_options_are_never_converted_silently(
    root: Path, name: str, options: dict[str, Any], message: str
) -> None:
    # cattrs' defaults made "false" True and eta 3.9 into 3.
    with pytest.raises(neps.SettingsError) as caught:
        neps.run(
            lambda x, epochs: x,
            PRIOR_FIDELITY_SPACE,
            root_directory=root,
            optimizer=(name, options),
        )
    assert message in str(caught.value)
    assert f"optimizer {name!r}" in str(caught.value)
    assert "Attribute(" not in str(caught.value)  # one readable line, not attrs' repr
    assert not root.exists()


def test_numeric_strings_and_whole_floats_are_numbers(root: Path) -> None:
    # YAML reads 1e-3 as a string; 3.0 is a whole number.
    neps.run(
        lambda x, epochs: x,
        PRIOR_FIDELITY_SPACE,
        root_directory=root,
        optimizer=("priorband", {"eta": 3.0, "mutation_rate": "1e-1", "early_stopping_rate": "0"}),
        evaluations_to_spend=1,
    )
    settings = _run_info(root)["optimizer_settings"]
    assert type(settings["eta"]) is int and type(settings["early_stopping_rate"]) is int
    assert settings == {
        "eta": 3,
        "base": "hyperband",
        "early_stopping_rate": 0,
        "sample_prior_first": "highest_fidelity",
        "sample_prior_at_target": False,
        "mutation_rate": 0.1,
        "mutation_std": 0.1,
        "inc_ratio": None,
        "bayesian_optimization_kick_in_point": None,
    }


@pytest.mark.parametrize(
    ("spec", "name", "settings"),
    [
        ("random_search", "random_search", {"use_priors": False, "ignore_fidelity": True}),
        (
            ("random_search", {"use_priors": True}),
            "random_search",
            {"use_priors": True, "ignore_fidelity": True},
        ),
        ({"name": "grid_search", "size": 3}, "grid_search", {"size": 3, "ignore_fidelity": True}),
    ],
    ids=["name", "pair", "mapping"],
)
def test_optimizer_by_name_pair_and_mapping(
    root: Path, spec: Any, name: str, settings: dict
) -> None:
    neps.run(_objective, SPACE, root_directory=root, evaluations_to_spend=2, optimizer=spec)
    info = _run_info(root)
    assert info["optimizer"] == name
    assert info["optimizer_settings"] == settings
    assert _trials(root) == 2


class _Corner(Optimizer):
    """A user's own optimizer, passed as a class and never registered anywhere."""

    name: ClassVar[str] = "corner"

    def ask(self, trials: Mapping[str, neps.Trial], budget: neps.BudgetInfo, n: int) -> Sequence:
        x = 1.0 if len(trials) % 2 else 0.0
        return [neps.Proposal({"x": x, "kind": "b"})]


def test_optimizer_class(root: Path) -> None:
    seen: list[float] = []

    def evaluate(x: float, kind: str) -> float:
        seen.append(x)
        return x

    neps.run(evaluate, SPACE, root_directory=root, evaluations_to_spend=4, optimizer=_Corner)
    assert seen == [0.0, 1.0, 0.0, 1.0]
    assert _run_info(root)["optimizer"] == "corner"


class _PickGrid:
    """An ad-hoc plugin that takes over ``optimizer="auto"``."""

    @neps.hookimpl
    def neps_select_optimizer(self, space: Any, settings: Any) -> str:
        return "grid_search"


def test_auto_asks_the_selection_hook(root: Path, tmp_path: Path) -> None:
    neps.run(_objective, SPACE, root_directory=root, evaluations_to_spend=1)
    chosen = _run_info(root)["optimizer"]
    assert isinstance(chosen, str) and chosen not in ("", "auto")  # resolved to a real name
    other = tmp_path / "other"
    neps.run(
        _objective,
        SPACE,
        root_directory=other,
        evaluations_to_spend=2,
        optimizer="auto",
        plugins=[_PickGrid()],
    )
    assert _run_info(other)["optimizer"] == "grid_search"


class _PickNonsense:
    """A selection hook whose answer is no optimizer."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    @neps.hookimpl
    def neps_select_optimizer(self, space: Any, settings: Any) -> Any:
        return self.answer


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (42, neps.SettingsError, r"hook of run\(plugins=...\) '_PickNonsense' answered 42, not an"),
        ("nonexistent_opt", neps.UnknownPluginError, "nonexistent_opt"),
    ],
)
def test_a_selection_hooks_bad_answer_names_the_hook_and_its_plugins(
    root: Path, answer: Any, error: type, message: str
) -> None:
    # 42 crashed inside difflib; an unknown name was reported as if the user had typed it.
    with pytest.raises(error, match=message) as caught:
        neps.run(_objective, SPACE, root_directory=root, optimizer="auto",
                 plugins=[_PickNonsense(answer)])  # fmt: skip
    text = str(caught.value) + " ".join(getattr(caught.value, "__notes__", []))
    assert "run(plugins=...)" in text and "neps_select_optimizer" in text
    assert "neps-core" not in text  # the built-in choice, which did not answer, is not blamed


# -- storage and evaluator -----------------------------------------------------------------------
@pytest.mark.parametrize("storage", ["disk", {"name": "disk", "fsync": True}])
def test_storage_by_name_and_mapping(root: Path, storage: Any) -> None:
    neps.run(_objective, SPACE, root_directory=root, evaluations_to_spend=2, storage=storage)
    pointer = yaml.safe_load((root / "storage.yaml").read_text(encoding="utf-8"))
    assert pointer["name"] == "disk"
    if isinstance(storage, dict):
        assert pointer["options"] == {"fsync": True}
    neps.run(_objective, root_directory=root, evaluations_to_spend=3)  # found again by itself
    assert _trials(root) == 3


def test_unknown_storage_lists_the_available_ones(root: Path) -> None:
    with pytest.raises(neps.UnknownPluginError, match=r"(?s)'dsk'.*'disk'"):
        neps.run(_objective, SPACE, root_directory=root, storage="dsk")


def test_continued_run_with_another_storage_is_refused(root: Path) -> None:
    neps.run(_objective, SPACE, root_directory=root, evaluations_to_spend=1)
    with pytest.raises(ValueError, match="storage"):
        neps.run(_objective, SPACE, root_directory=root, storage={"name": "disk", "fsync": True})


@pytest.mark.parametrize("evaluator", ["sync", {"name": "sync"}, ("sync", {})])
def test_evaluator_by_name_and_mapping(root: Path, evaluator: Any) -> None:
    neps.run(_objective, SPACE, root_directory=root, evaluations_to_spend=2, evaluator=evaluator)
    assert neps.status(root).counts["success"] == 2


def test_unknown_evaluator_and_evaluator_option(root: Path) -> None:
    with pytest.raises(neps.UnknownPluginError, match=r"(?s)Did you mean 'sync'.*'sync'"):
        neps.run(_objective, SPACE, root_directory=root, evaluator="synk")
    with pytest.raises(ValueError, match=r"sync.*n_wrkers"):
        neps.run(_objective, SPACE, root_directory=root, evaluator={"name": "sync", "n_wrkers": 2})


def test_a_timeout_option_of_another_evaluator_names_every_evaluator_with_one(root: Path) -> None:
    """The advice named only 'process_pool' and 'subprocess', though dask and slurm have it."""
    with pytest.raises(neps.SettingsError, match="needs an evaluator that can stop") as caught:
        neps.run(_objective, SPACE, root_directory=root, evaluator={"name": "sync", "timeout": 5})
    advice = str(caught.value).rsplit("stop an evaluation: ", 1)[1]
    evaluators = load_plugins().evaluators
    with_timeout = {
        name for name, cls in evaluators.items() if "timeout" in attrs.fields_dict(cls.Settings)
    }
    assert set(re.findall(r"'(\w+)'", advice)) == with_timeout - {"process"}  # DeepHyper's name


# -- plugins, worker id, seed --------------------------------------------------------------------
class _Observer:
    """Records every observer hook, as a user's logging plugin would."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @neps.hookimpl
    def neps_run_started(self, run: Any) -> None:
        self.events.append(("started", run.worker_id))

    @neps.hookimpl
    def neps_trial_sampled(self, run: Any, trial: neps.Trial) -> None:
        self.events.append(("sampled", trial.id))

    @neps.hookimpl
    def neps_trial_finished(self, run: Any, trial: neps.Trial, report: neps.Report) -> None:
        self.events.append(("finished", (trial.id, trial.state, report.objective_to_minimize)))

    @neps.hookimpl
    def neps_run_finished(self, run: Any, summary: neps.Summary) -> None:
        self.events.append(("run_finished", summary.counts["success"]))


def test_ad_hoc_plugins_observe_the_run(root: Path) -> None:
    observer = _Observer()
    neps.run(
        lambda x, kind: 0.5,
        SPACE,
        root_directory=root,
        evaluations_to_spend=2,
        worker_id="w-1",
        plugins=[observer],
    )
    assert observer.events == [
        ("started", "w-1"),
        ("sampled", "1"),
        ("finished", ("1", neps.TrialState.SUCCESS, 0.5)),
        ("sampled", "2"),
        ("finished", ("2", neps.TrialState.SUCCESS, 0.5)),
        ("run_finished", 2),
    ]


def test_worker_id_is_recorded(root: Path, trial_file: TrialFileReader) -> None:
    neps.run(_objective, SPACE, root_directory=root, evaluations_to_spend=2, worker_id="node-7")
    assert trial_file(root, 1, "metadata")["worker_id"] == "node-7"
    lines = (root / "trajectory.csv").read_text(encoding="utf-8").splitlines()
    assert all("node-7" in line for line in lines[1:])


def test_seed_makes_runs_repeatable(tmp_path: Path) -> None:
    seen: list[list[dict]] = []
    for name in ("a", "b", "c"):
        configs: list[dict] = []
        seen.append(configs)

        def evaluate(x: float, kind: str, configs: list[dict] = configs) -> float:
            configs.append({"x": x, "kind": kind})
            return x

        seed = 8 if name == "c" else 7
        neps.run(evaluate, SPACE, root_directory=tmp_path / name, evaluations_to_spend=3, seed=seed)
    assert seen[0] == seen[1]
    assert seen[0] != seen[2]


def test_without_a_seed_the_global_numpy_state_decides(tmp_path: Path) -> None:
    seen: list[list[float]] = [[], []]
    for index, configs in enumerate(seen):
        np.random.seed(123)

        def evaluate(x: float, kind: str, configs: list[float] = configs) -> float:
            configs.append(x)
            return x

        neps.run(
            evaluate,
            SPACE,
            root_directory=tmp_path / str(index),
            evaluations_to_spend=3,
        )
    assert seen[0] == seen[1] and len(set(seen[0])) == 3


# -- NePS 0.17 aliases ---------------------------------------------------------------------------
def test_total_budget_aliases(tmp_path: Path) -> None:
    evaluations = neps.run(
        _objective, SPACE, root_directory=tmp_path / "e", total_evaluations_to_spend=2
    )
    assert evaluations.counts["success"] == 2
    cost = neps.run(_costly, SPACE, root_directory=tmp_path / "c", total_cost_to_spend=3)
    assert cost.counts["success"] == 3 and cost.budget.used_cost == 3


def test_worker_budget_aliases_bound_each_call(tmp_path: Path) -> None:
    for _ in range(2):
        neps.run(_objective, SPACE, root_directory=tmp_path / "e", worker_evaluations_to_spend=2)
        neps.run(_costly, SPACE, root_directory=tmp_path / "c", worker_cost_to_spend=3)
    assert neps.status(tmp_path / "e").counts["success"] == 4
    assert neps.status(tmp_path / "c").counts["success"] == 6


def test_worker_fidelities_to_spend_bounds_the_fidelity_each_call_evaluates(
    tmp_path: Path,
) -> None:
    """NePS's per-worker fidelity budget: random search at epochs=3 spends 3 per trial."""
    space = {**SPACE, "epochs": neps.IntegerFidelity(1, 3)}
    for _ in range(2):
        neps.run(
            lambda x, kind, epochs: x,
            space,
            root_directory=tmp_path / "f",
            optimizer="random_search",
            worker_fidelities_to_spend=7,  # stops once 7 are spent: 3 trials, 9 epochs
        )
    assert neps.status(tmp_path / "f").counts["success"] == 6
    with pytest.raises(neps.SettingsError, match="max_fidelities_per_run needs a fidelity"):
        neps.run(_objective, SPACE, root_directory=tmp_path / "n", max_fidelities_per_run=3)


def test_none_means_the_default_as_an_empty_key_of_a_yaml_file_does(tmp_path: Path) -> None:
    """NePS's YAML template leaves keys empty (``ignore_errors:``); run(**yaml) gets None."""
    summary = neps.run(
        _objective,
        SPACE,
        root_directory=tmp_path,
        evaluations_to_spend=2,
        ignore_errors=None,
        overwrite_root_directory=None,
        heartbeat_interval=None,
        optimizer=None,
        post_run_summary=None,
    )
    assert summary.counts["success"] == 2
    assert (tmp_path / "summary.yaml").is_file()  # post_run_summary kept its default, True


ROOT_DIRECTORY_USERS: dict[str, Callable[[Any], Any]] = {
    "run": lambda root: neps.run(
        lambda x: x, {"x": neps.Float(0.0, 1.0)}, root_directory=root, evaluations_to_spend=1
    ),
    "AskAndTell": lambda root: neps.AskAndTell({"x": neps.Float(0.0, 1.0)}, root),
    "status": neps.status,
    "load_pipeline_space": neps.load_pipeline_space,
    "save_pipeline_results": lambda root: neps.save_pipeline_results(0.5, "1", root),
    "import_trials": lambda root: neps.import_trials([({"x": 0.5}, 0.5)], root),
    "plot": neps.plot,
    "load_optimizer_info": neps.load_optimizer_info,
    "read_run": read_run,
    "clean_run": lambda root: clean_run(root, stale_after=60.0, dry_run=True),
}

#: Every public function reading a folder or file a user names, the root's users too.
PATH_READERS: dict[str, Callable[[Any], Any]] = {
    **ROOT_DIRECTORY_USERS,
    "load_config": lambda root: neps.load_config(root, 1),
    "load_config of a trial folder": lambda root: neps.load_config(f"{root}/configs/config_1"),
    "read_neps_results": neps.read_neps_results,
    "migrate_run": lambda root: migrate_run(root, f"{root}_copy"),
    "load_run_config": lambda root: load_run_config(f"{root}/run.yaml"),
}


@pytest.mark.parametrize("user", sorted(ROOT_DIRECTORY_USERS))
def test_a_root_directory_that_is_a_file_or_no_path_is_named(tmp_path: Path, user: str) -> None:
    # A file gave a raw NotADirectoryError ('results/.neps_core'), a number a TypeError
    # naming no argument.
    a_file = tmp_path / "results"
    a_file.write_text("not a run\n", encoding="utf-8")
    with pytest.raises(neps.SettingsError, match=f"root_directory: {a_file} is a file"):
        ROOT_DIRECTORY_USERS[user](a_file)
    assert a_file.read_text(encoding="utf-8") == "not a run\n"
    through = a_file / "sub"  # a raw NotADirectoryError on results/sub/.neps_core
    with pytest.raises(neps.SettingsError, match=f"{through} leads through the file {a_file}"):
        ROOT_DIRECTORY_USERS[user](through)
    with pytest.raises(neps.SettingsError, match="root_directory must be a path, got 5"):
        ROOT_DIRECTORY_USERS[user](5)


@pytest.mark.parametrize("user", ["run", "AskAndTell", "import_trials", "save_pipeline_results"])
def test_an_empty_root_directory_is_refused_not_taken_as_the_current_one(
    tmp_path: Path, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A variable left unset: the run went into the current directory, silently (and an
    # overwrite there emptied the project).
    monkeypatch.chdir(tmp_path)
    with pytest.raises(neps.SettingsError, match="root_directory must name a directory, got ''"):
        ROOT_DIRECTORY_USERS[user]("")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("config_id", [None, 1])
def test_an_empty_path_to_load_a_config_from_is_refused_naming_the_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_id: int | None
) -> None:
    # Was "No configuration at config.yaml" (or configs/config_1/config.yaml): '' was '.'.
    monkeypatch.chdir(tmp_path)
    expected = (
        "path_or_root must name a config.yaml, a trial folder or a run's root, got '' "
        "(write '.' for the current directory)"
    )
    with pytest.raises(neps.SettingsError, match=f"^{re.escape(expected)}$"):
        neps.load_config("", config_id=config_id)


def test_a_tilde_in_root_directory_is_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # run(root_directory="~/runs/x") made a folder literally named "~" in the cwd.
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    for user in ("run", "status", "load_pipeline_space", "import_trials"):
        ROOT_DIRECTORY_USERS[user]("~/runs/x")
    assert neps.status(home / "runs" / "x").counts["success"] == 2
    # load_config, read_neps_results, read_run, clean_run, migrate_run... took "~" as a folder.
    for user in ("load_optimizer_info", "read_run", "clean_run", "migrate_run"):
        PATH_READERS[user]("~/runs/x")
    assert neps.status(home / "runs" / "x_copy").counts["success"] == 2
    assert PATH_READERS["load_config"]("~/runs/x") == neps.load_config(home / "runs" / "x", 1)
    assert "x" in PATH_READERS["load_config of a trial folder"]("~/runs/x")
    assert len(PATH_READERS["read_neps_results"]("~/runs/x")) == 2
    (home / "runs" / "x" / "run.yaml").write_text("root_directory: ~/runs/y\n", encoding="utf-8")
    assert PATH_READERS["load_run_config"]("~/runs/x")["root_directory"] == home / "runs" / "y"
    assert neps.plot(home / "runs" / "x", output_dir="~/plots") == [
        home / "plots" / "trajectory.png"
    ]
    assert list(elsewhere.iterdir()) == []
    assert run_directory("~/$HOME") == home / "$HOME"  # a variable is left as written


@pytest.mark.parametrize("reader", sorted(PATH_READERS))
def test_an_unknown_users_home_is_an_error_naming_the_setting(tmp_path: Path, reader: str) -> None:
    # pathlib's RuntimeError 'Could not determine home directory.' named no setting.
    with pytest.raises(
        neps.SettingsError,
        match=r"^(root_directory|path_or_root|source_root|path|run_config) "
        r"'~neps_core_no_such_user/x[^']*': no home directory is known for "
        r"'~neps_core_no_such_user'$",
    ):
        PATH_READERS[reader]("~neps_core_no_such_user/x")


@pytest.mark.parametrize("reader", sorted(PATH_READERS))
def test_a_nul_character_in_a_path_is_an_error_naming_the_setting(
    tmp_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # run() failed with a bare 'ValueError: embedded null byte' from deep in the storage
    # (the CLI printed only that), the readers with a FileNotFoundError of a mangled path.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        neps.SettingsError,
        match=r"^(root_directory|path_or_root|source_root|path|run_config) 'runs\\x00x[^']*': "
        r"a path cannot contain a NUL character",
    ):
        PATH_READERS[reader]("runs\x00x")
    assert list(tmp_path.iterdir()) == []


def test_a_nul_character_in_a_run_configs_root_directory_names_file_and_key(
    tmp_path: Path,
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text('root_directory: "runs\\0x"\n', encoding="utf-8")
    named = re.escape(f"{config}: root_directory 'runs\\x00x': a path cannot contain a NUL")
    with pytest.raises(neps.SettingsError, match=f"^{named}"):
        load_run_config(config)


def test_an_unknown_users_home_in_a_run_config_or_plots_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(neps.SettingsError, match=r"^output_dir '~neps_core_no_such_user/p"):
        neps.plot(tmp_path, output_dir="~neps_core_no_such_user/plots")
    config = tmp_path / "run.yaml"
    config.write_text("root_directory: ~neps_core_no_such_user/x\n", encoding="utf-8")
    named = re.escape(f"{config}: root_directory '~neps_core_no_such_user/x': no home")
    with pytest.raises(neps.SettingsError, match=f"^{named}"):
        load_run_config(config)


@pytest.mark.parametrize("space", ["space.json", Path("space.pcs"), 42])
def test_a_space_no_adapter_accepts_is_refused_with_what_a_path_can_be(
    root: Path, space: Any
) -> None:
    with pytest.raises(neps.SettingsError, match="no space adapter accepts") as caught:
        neps.run(_objective, space, root_directory=root, evaluations_to_spend=1)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert ("ConfigurationSpace.from_json" in notes) == (not isinstance(space, int))
    assert f"accepts an object of type {type(space).__name__};" in str(caught.value)  # "a int"
