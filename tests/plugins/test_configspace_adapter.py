"""The ``configspace_adapter`` plugin, checked against the real ConfigSpace package.

Every sampler must respect conditions (inactive parameters absent) and forbidden clauses;
ConfigSpace's own ``check_valid_configuration`` is the judge, over thousands of samples.
Native conditions (Python and YAML) are covered here too, since they are what the adapter
produces.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ConfigSpace as CS
import numpy as np
import pytest

import neps_core as neps
from neps_core.history import TrialHistory
from neps_core.models import BudgetInfo
from neps_core.plugin_manager import Plugins
from neps_core.space import And, Equals, GreaterThan, In, PipelineSpace, describe_space
from neps_core.space.choices import AmbiguousPriorWarning
from neps_core.testing import simulate
from neps_core_plugins.complex_random_search import ComplexRandomSearch
from neps_core_plugins.configspace_adapter import ConfigSpaceAdapter, from_configspace
from neps_core_plugins.grid_search import GridSearch, GridSearchSettings
from neps_core_plugins.native_space import NativeSpaceAdapter
from neps_core_plugins.random_search import RandomSearch, RandomSearchSettings
from neps_core_plugins.regularized_evolution import RegularizedEvolution

pytest_plugins = ["neps_core.testing.fixtures"]


def make_configspace() -> CS.ConfigurationSpace:
    """Every kind of hyperparameter, condition and forbidden clause the adapter supports."""
    cs = CS.ConfigurationSpace(seed=0)
    cs.add(
        [
            CS.Float("lr", (1e-5, 1e-1), log=True, default=1e-3),
            CS.Float("dropout", (0.0, 0.5), distribution=CS.Normal(0.1, 0.05), default=0.1),
            CS.Integer("layers", (1, 8), default=2),
            CS.Integer("units", (8, 512), log=True, distribution=CS.Normal(64, 100)),
            CS.Categorical("optimizer", ["adam", "sgd", "rmsprop"], default="adam"),
            CS.OrdinalHyperparameter("size", ["small", "medium", "large"], default_value="medium"),
            CS.Constant("seed", 7),
            CS.Float("momentum", (0.0, 0.99)),
            CS.Categorical("nesterov", [True, False]),
            CS.Float("beta2", (0.9, 0.9999)),
            CS.Integer("warmup", (0, 10)),
            CS.Categorical("scheduler", ["cosine", "step"]),
        ]
    )
    cs.add(
        [
            CS.EqualsCondition(cs["momentum"], cs["optimizer"], "sgd"),
            CS.InCondition(cs["nesterov"], cs["optimizer"], ["sgd", "rmsprop"]),
            CS.AndConjunction(
                CS.EqualsCondition(cs["beta2"], cs["optimizer"], "adam"),
                CS.GreaterThanCondition(cs["beta2"], cs["size"], "small"),
            ),
            CS.OrConjunction(
                CS.LessThanCondition(cs["warmup"], cs["layers"], 3),
                CS.NotEqualsCondition(cs["warmup"], cs["scheduler"], "step"),
            ),
        ]
    )
    cs.add(
        [
            CS.ForbiddenAndConjunction(
                CS.ForbiddenEqualsClause(cs["optimizer"], "sgd"),
                CS.ForbiddenEqualsClause(cs["size"], "large"),
            ),
            CS.ForbiddenInClause(cs["layers"], [7, 8]),
            CS.ForbiddenAndConjunction(
                CS.ForbiddenEqualsClause(cs["nesterov"], True),
                CS.ForbiddenEqualsClause(cs["scheduler"], "step"),
            ),
            CS.ForbiddenLessThanRelation(cs["warmup"], cs["layers"]),
        ]
    )
    return cs


def check_all(cs: CS.ConfigurationSpace, configs: Iterable[Mapping[str, Any]]) -> int:
    """Assert ConfigSpace accepts every configuration; return how many were checked."""
    count = 0
    for config in configs:
        CS.Configuration(cs, values=dict(config)).check_valid_configuration()
        count += 1
    return count


def test_configspace_itself_catches_what_the_check_is_for() -> None:
    """The judge works: a forbidden value and a set inactive parameter are both refused."""
    cs = make_configspace()
    good = dict(cs.get_default_configuration())
    check_all(cs, [good])
    with pytest.raises(Exception, match="forbidden"):
        check_all(cs, [{**good, "layers": 7}])
    with pytest.raises(Exception, match="momentum"):
        check_all(cs, [{**good, "momentum": 0.5}])


def test_the_adapter_is_registered_and_the_native_adapter_leaves_configspace_alone(
    neps_plugins: Plugins,
) -> None:
    assert neps_plugins.space_adapters["configspace"] is ConfigSpaceAdapter
    cs = make_configspace()
    assert ConfigSpaceAdapter.can_adapt(cs) and not NativeSpaceAdapter.can_adapt(cs)
    assert not ConfigSpaceAdapter.can_adapt({"x": neps.Float(0, 1)})


def test_the_conversion() -> None:
    space = from_configspace(make_configspace())
    assert space.parameters["lr"] == neps.Float(
        1e-5, 1e-1, log=True, prior=1e-3, prior_confidence="medium"
    )
    assert space.parameters["dropout"].prior_confidence == "medium"  # sigma: 10% of the range
    assert space.parameters["units"] == neps.Integer(
        8, 512, log=True, prior=64, prior_confidence="low"
    )
    assert space.parameters["size"] == neps.Categorical(
        ("small", "medium", "large"), prior=1, prior_confidence="medium"
    )
    assert space.parameters["seed"] == neps.Constant(7)
    assert space.conditions["momentum"] == Equals("optimizer", "sgd")
    assert space.conditions["nesterov"] == In("optimizer", ("sgd", "rmsprop"))
    assert space.conditions["beta2"] == And(
        Equals("optimizer", "adam"), GreaterThan("size", "small")
    )
    assert len(space.forbidden) == 4
    assert space.has_priors


def _unit_spread(draws: Iterable[float], lower: float, upper: float) -> float:
    logs = np.log(np.asarray(list(draws), dtype=float))
    return float(np.std((logs - np.log(lower)) / np.log(upper / lower)))


@pytest.mark.parametrize(("mu", "sigma"), [(1e-3, 1e-3), (1e-2, 1e-4), (3e-2, 5e-2)])
def test_a_log_normal_prior_is_as_sure_as_configspace_samples_it(mu: float, sigma: float) -> None:
    """Compared with the linear width, sigma 1e-3 read as 'high': draws within a factor of 3,
    where ConfigSpace's own spread over three orders of magnitude."""
    configspace = CS.ConfigurationSpace(seed=0)
    lr = CS.NormalFloatHyperparameter("lr", mu=mu, sigma=sigma, lower=1e-5, upper=1e-1, log=True)
    configspace.add(lr)
    space = from_configspace(configspace)
    theirs = _unit_spread(lr.sample_value(size=2000, seed=np.random.RandomState(1)), 1e-5, 1e-1)
    rng = np.random.default_rng(0)
    ours = _unit_spread((space.sample(rng, use_priors=True)["lr"] for _ in range(2000)), 1e-5, 1e-1)
    assert ours == pytest.approx(theirs, rel=0.5)


def test_a_configspace_among_a_dicts_parameters_is_merged_as_in_neps(root: Path) -> None:
    """Older NePS merged a ConfigurationSpace given as a dict value into the space."""
    space = {"width": neps.Integer(8, 64), "optimizer_space": make_configspace()}
    merged = NativeSpaceAdapter.adapt(space)
    converted = from_configspace(make_configspace())
    assert dict(merged.parameters) == {"width": neps.Integer(8, 64), **converted.parameters}
    assert merged.conditions == converted.conditions
    assert merged.forbidden == converted.forbidden
    summary = neps.run(
        lambda width, lr, **_: lr * width,
        space,
        root_directory=root,
        evaluations_to_spend=3,
        optimizer="random_search",
    )
    assert summary.counts["success"] == 3


def test_a_name_in_a_merged_configspace_and_the_dict_is_refused_naming_both() -> None:
    with pytest.raises(neps.space.InvalidParameterError, match=r"'lr' of the .* under 'cs'"):
        NativeSpaceAdapter.adapt({"lr": neps.Float(0, 1), "cs": make_configspace()})


def test_pipeline_space_converts_a_configspace_as_run_does(root: Path) -> None:
    """A ConfigurationSpace is a Mapping: PipelineSpace took it for a dict of parameters and
    made each hyperparameter an unsearched constant (a run tried one configuration, {})."""
    converted = from_configspace(make_configspace())
    given = PipelineSpace(make_configspace())
    assert describe_space(given) == describe_space(converted)
    merged = PipelineSpace({"width": neps.Integer(8, 64), "cs": make_configspace()})
    assert describe_space(merged) == describe_space(
        NativeSpaceAdapter.adapt({"width": neps.Integer(8, 64), "cs": make_configspace()})
    )
    summary = neps.run(
        lambda lr, **_: lr,
        given,
        root_directory=root,
        evaluations_to_spend=3,
        optimizer="random_search",
    )
    assert summary.counts["success"] == 3
    assert len({trial.config["lr"] for trial in neps.status(root).trials}) == 3


def _as_an_entry(how: str, value: Any) -> Any:
    """A ConfigSpace object given where a parameter goes, ``how``."""
    if how == "class":

        class Space(PipelineSpace):
            width = neps.Integer(1, 4)
            hp = value

        return Space()
    if how == "dict":
        return PipelineSpace({"width": neps.Integer(1, 4), "hp": value})
    return NativeSpaceAdapter.adapt({"width": neps.Integer(1, 4), "hp": value})  # as run() does


@pytest.mark.parametrize("how", ["class", "dict", "run"])
def test_a_configspace_hyperparameter_as_an_entry_is_refused_naming_it(how: str) -> None:
    """It became a constant holding the hyperparameter object; given to run(), an
    AttributeError ('...' object has no attribute 'items') named no parameter."""
    with pytest.raises(
        neps.space.InvalidParameterError,
        match=r"'hp': UniformFloatHyperparameter is a ConfigSpace .*; write it with Float",
    ):
        _as_an_entry(how, CS.Float("lr", (1e-4, 1.0)))


@pytest.mark.parametrize("how", ["class", "dict", "run"])
def test_a_configspace_clause_as_an_entry_is_told_to_come_with_its_space(how: str) -> None:
    """A condition or forbidden clause got a parameter's advice, "write it with Float(...)",
    which it cannot be written as."""
    cs = make_configspace()
    for clause in [*cs.conditions, *cs.forbidden_clauses]:
        with pytest.raises(neps.space.InvalidParameterError) as error:
            _as_an_entry(how, clause)
        assert str(error.value) == (
            f"Parameter 'hp': {type(clause).__name__} is a ConfigSpace object, not a parameter "
            "of this space; pass the ConfigurationSpace that holds it to PipelineSpace(...) "
            "or run()"
        )


def test_a_configurationspace_as_a_class_attribute_is_refused_saying_what_takes_it() -> None:
    """It was told to pass "the ConfigurationSpace that holds it", which it is; a dict takes
    it (its conditions and forbidden clauses too), a class cannot."""

    class Space(PipelineSpace):
        width = neps.Integer(8, 64)
        optimizer = make_configspace()

    with pytest.raises(
        neps.space.InvalidParameterError,
        match=r"'optimizer': a ConfigurationSpace is no entry of a space class; pass it to Pip",
    ) as error:
        Space()
    assert "holds it" not in str(error.value)
    merged = PipelineSpace({"width": neps.Integer(8, 64), "optimizer": make_configspace()})
    assert merged.parameters.keys() == {"width", *make_configspace().keys()}


@pytest.mark.parametrize("use_priors", [False, True], ids=["uniform", "priors"])
def test_random_search_never_violates_conditions_or_forbiddens(use_priors: bool) -> None:
    cs = make_configspace()
    optimizer = RandomSearch(
        from_configspace(cs), RandomSearchSettings(use_priors=use_priors), seed=3
    )
    configs = [p.config for p in optimizer.ask(TrialHistory(), BudgetInfo(), 3000)]
    assert check_all(cs, configs) == 3000
    assert {c["optimizer"] for c in configs} == {"adam", "sgd", "rmsprop"}
    assert any("momentum" in c for c in configs) and any("momentum" not in c for c in configs)
    assert any("warmup" in c for c in configs) and any("warmup" not in c for c in configs)


def test_complex_random_search_and_evolution_never_violate_them() -> None:
    cs = make_configspace()
    space = from_configspace(cs)
    for optimizer in (
        ComplexRandomSearch(space, seed=5),
        RegularizedEvolution(space, RegularizedEvolution.Settings(population_size=10), seed=5),
    ):
        history = simulate(optimizer, rounds=15, n=100)
        assert check_all(cs, (t.config for t in history.values())) == 1500


def test_grid_search_yields_only_valid_distinct_points() -> None:
    cs = make_configspace()
    grid = GridSearch(from_configspace(cs), GridSearchSettings(size=2), seed=0)
    configs = [p.config for p in grid.ask(TrialHistory(), BudgetInfo(), 100_000)]
    assert len(configs) == len({repr(sorted(c.items())) for c in configs}) > 100
    assert check_all(cs, configs) == len(configs)


def test_a_run_on_a_configspace_passes_only_active_parameters(root: Path) -> None:
    cs = make_configspace()
    seen: list[dict[str, Any]] = []

    def evaluate_pipeline(**config: Any) -> float:
        seen.append(config)
        return float(config["lr"])

    # 20: the initial design of the optimizer "auto" picks (BO); each continuation adds two
    # of the model's proposals (a second each), decoded from its encoding, where an inactive
    # parameter could slip through.
    neps.run(evaluate_pipeline, cs, root_directory=root, evaluations_to_spend=20, seed=1)
    assert check_all(cs, seen) == 20
    saved = neps.load_pipeline_space(root)
    assert describe_space(saved) == describe_space(from_configspace(cs))
    neps.run(evaluate_pipeline, cs, root_directory=root, evaluations_to_spend=22)
    neps.run(evaluate_pipeline, root_directory=root, evaluations_to_spend=24)  # from disk
    assert check_all(cs, seen) == 24


def test_native_conditions_in_yaml(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "optimizer: {choices: [adam, sgd]}\n"
        "momentum: {lower: 0.0, upper: 0.9, condition: {eq: [optimizer, sgd]}}\n"
        "lr: {lower: 1.0e-4, upper: 1.0, log: true}\n"
        "$forbidden:\n"
        "  - {and: [{eq: [optimizer, adam]}, {gt: [lr, 0.5]}]}\n",
        encoding="utf-8",
    )
    seen: list[dict[str, Any]] = []

    def evaluate(**config: Any) -> float:
        seen.append(config)
        return 0.0

    neps.run(evaluate, path, root_directory=root, evaluations_to_spend=40, seed=0)
    for config in seen:
        assert ("momentum" in config) == (config["optimizer"] == "sgd")
        assert not (config["optimizer"] == "adam" and config["lr"] > 0.5)
    assert {c["optimizer"] for c in seen} == {"adam", "sgd"}


def test_validation_of_conditional_configurations() -> None:
    space = from_configspace(make_configspace())
    config = space.sample(np.random.default_rng(0))
    space.validate_config(config)
    if "momentum" not in config:
        with pytest.raises(ValueError, match=r"'momentum' is inactive"):
            space.validate_config({**config, "momentum": 0.5})
    with pytest.raises(ValueError, match="forbidden"):
        space.validate_config({**config, "layers": 8})


@pytest.mark.parametrize(
    ("conditions", "forbidden", "expected"),
    [
        ({"y": Equals("nowhere", 1)}, [], r"Condition of 'y'.*nowhere"),
        ({"y": Equals("x", "z")}, [], r"Condition of 'y'.*'z' is not a value of 'x'"),
        # "(1, 2) is not a value of 'shape'" said first, though it is one of its choices.
        ({"y": In("shape", [(1, 2)])}, [], r"Condition of 'y'[^;]*: compares with \(1, 2\), which"),
        ({"missing": Equals("x", "a")}, [], r"'missing'.*no such parameter"),
        ({"x": Equals("y", 0.5), "y": Equals("x", "a")}, [], "cycle"),
        ({}, [Equals("x", "q")], r"Forbidden clause.*'q'"),
        ({"y": "x == a"}, [], r"Condition of 'y'.*clause"),
        # Accepted, then a promotion to another fidelity changed the clause's answer and the
        # run stopped with "proposed an invalid configuration".
        ({"y": GreaterThan("epochs", 3)}, [], r"Condition of 'y'.*reads the fidelity 'epochs'"),
        ({}, [Equals("epochs", 3)], r"Forbidden clause.*reads the fidelity 'epochs'"),
    ],
)
def test_invalid_conditions_name_the_parameter(
    conditions: dict[str, Any], forbidden: list[Any], expected: str
) -> None:
    parameters = {
        "x": neps.Categorical(("a", "b")),
        "y": neps.Float(0.0, 1.0),
        "epochs": neps.IntegerFidelity(1, 9),
        "shape": neps.Categorical(((1, 2), (3, 4))),
    }
    with pytest.raises(ValueError, match=expected):
        PipelineSpace(parameters, conditions=conditions, forbidden=forbidden)


def test_importing_the_plugin_does_not_import_configspace() -> None:
    code = (
        "import sys, neps_core, neps_core_plugins.configspace_adapter\n"
        "from neps_core.plugin_manager import load_plugins\n"
        "load_plugins()\n"
        "assert 'ConfigSpace' not in sys.modules, 'imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_configspace_hyperparameter_named_like_an_intermediate_is_refused() -> None:
    """``_lr`` would be searched but, as an intermediate, never passed on."""
    configspace = CS.ConfigurationSpace({"_lr": (1e-4, 1e-1), "x": (0.0, 1.0)})
    with pytest.raises(ValueError, match=r"'_lr'.*intermediate.*searched for nothing"):
        from_configspace(configspace)


def test_an_integer_categorical_default_converts_without_a_prior_warning(root: Path) -> None:
    """The adapter passes the default's index on purpose; saved spaces reload quietly too."""
    configspace = CS.ConfigurationSpace({"x": (0.0, 1.0)})
    configspace.add(CS.Categorical("n_layers", [1, 0, 2], default=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", AmbiguousPriorWarning)
        space = from_configspace(configspace)
        neps.run(lambda x, n_layers: x, configspace, root_directory=root, evaluations_to_spend=1)
        neps.run(lambda x, n_layers: x, root_directory=root, evaluations_to_spend=2)
    categorical = space.parameters["n_layers"]
    assert categorical.choices[categorical.prior_index] == 0
    with pytest.warns(AmbiguousPriorWarning, match="read as an index"):
        neps.Categorical((1, 0, 2), prior=0)  # written by a person, it is worth a word


def test_meta_is_fidelity_marks_the_fidelity_for_multi_fidelity_optimizers(root: Path) -> None:
    """ConfigSpace has no fidelity; without a mark hyperband refused every ConfigSpace."""
    configspace = CS.ConfigurationSpace(seed=0)
    configspace.add(
        [
            CS.Float("lr", (1e-4, 1e-1), log=True, default=1e-2),
            CS.Integer("epochs", (1, 9), default=9, meta={"is_fidelity": True}),
        ]
    )
    epochs = from_configspace(configspace).parameters["epochs"]
    assert epochs == neps.IntegerFidelity(1, 9)  # the default is no prior
    received: list[int] = []
    neps.run(
        lambda lr, epochs: received.append(epochs) or lr,
        configspace,
        root_directory=root,
        optimizer="hyperband",
        evaluations_to_spend=13,
    )
    assert sorted(set(received)) == [1, 3, 9]
    marked = CS.ConfigurationSpace()
    marked.add(CS.Categorical("size", ["s", "m"], meta={"is_fidelity": True}))
    with pytest.raises(TypeError, match=r"'size': only an integer or float can be the fidelity"):
        from_configspace(marked)
    unsure = CS.ConfigurationSpace()
    unsure.add(CS.Integer("epochs", (1, 9), meta={"is_fidelity": "no"}))
    with pytest.raises(TypeError, match=r"'epochs': meta 'is_fidelity' must be True or False"):
        from_configspace(unsure)
    not_marked = CS.ConfigurationSpace()
    not_marked.add(CS.Integer("epochs", (1, 9), meta={"is_fidelity": False}))
    assert from_configspace(not_marked).fidelity_name is None
    for mark in (1, np.True_):  # True by other names
        counted = CS.ConfigurationSpace()
        counted.add(CS.Integer("epochs", (1, 9), meta={"is_fidelity": mark}))
        assert from_configspace(counted).fidelity_name == "epochs"


def test_tight_but_legal_forbidden_relations_are_sampled(root: Path) -> None:
    """ "No layer wider than the one before" allows one draw in 720: 1,000 draws often failed."""
    configspace = CS.ConfigurationSpace(seed=0)
    configspace.add([CS.Integer(f"u{k}", (1, 1000)) for k in range(6)])
    configspace.add(
        [
            CS.ForbiddenLessThanRelation(configspace[f"u{k}"], configspace[f"u{k + 1}"])
            for k in range(5)
        ]
    )
    space = from_configspace(configspace)
    rng = np.random.default_rng(0)
    for config in (space.sample(rng) for _ in range(40)):
        assert [config[f"u{k}"] for k in range(6)] == sorted(config.values(), reverse=True)


def test_a_space_whose_forbidden_clauses_exclude_everything_names_the_clause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import neps_core.space.pipeline_space as module

    monkeypatch.setattr(module, "MAX_FORBIDDEN_REJECTIONS", 50)
    space = PipelineSpace(
        {"a": neps.Categorical(("x", "y"))},
        forbidden=[neps.space.In("a", ["x", "y"])],
    )
    with pytest.raises(ValueError, match=r"in 50 draws \(the last, \{'a': '[xy]'\}, by \{'in'"):
        space.sample(np.random.default_rng(0))
