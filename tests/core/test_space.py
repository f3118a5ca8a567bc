"""Native search spaces: definitions, validation errors, sampling and the declarative form.

Users meet spaces before anything else, so an invalid definition must be refused with an
error that names the parameter, and samples must honour bounds, log scales and priors.
"""

from __future__ import annotations

import abc
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import neps_core as neps
from neps_core.errors import NoAllowedMutationError
from neps_core.space import (
    Equals,
    GreaterThan,
    NotEquals,
    Relation,
    describe_space,
    space_from_description,
)
from neps_core.space.mutation import MUTATION_ATTEMPTS, MUTATION_REJECTIONS
from neps_core.space.resolution import Resolver
from neps_core.space.sampling import categorical_prior_mass


class MixedSpace(neps.PipelineSpace):
    """One parameter of every kind, with every option set somewhere."""

    lr = neps.Float(1e-5, 1e-1, log=True, prior=1e-3, prior_confidence="high")
    dropout = neps.Float(lower=0.0, upper=0.5)
    layers = neps.Integer(1, 8, prior=3, prior_confidence="medium")
    optimizer = neps.Categorical(choices=("adam", "sgd", "rmsprop"), prior=0)
    epochs = neps.Fidelity(neps.Integer(1, 16))
    seed = neps.Constant(42)


def _samples(space: neps.PipelineSpace, n: int, *, use_priors: bool = False) -> list[dict]:
    rng = np.random.default_rng(12345)
    return [space.sample(rng, use_priors=use_priors) for _ in range(n)]


# -- definitions --------------------------------------------------------------------------------
def test_class_and_dict_definitions_describe_the_same_space() -> None:
    as_dict = neps.PipelineSpace(
        {
            "lr": neps.Float(1e-5, 1e-1, log=True, prior=1e-3, prior_confidence="high"),
            "dropout": neps.Float(0.0, 0.5),
            "layers": neps.Integer(1, 8, prior=3, prior_confidence="medium"),
            "optimizer": neps.Categorical(("adam", "sgd", "rmsprop"), prior=0),
            "epochs": neps.IntegerFidelity(1, 16),
            "seed": neps.Constant(42),
        }
    )
    assert as_dict == MixedSpace()
    assert list(MixedSpace().parameters) == [
        "lr",
        "dropout",
        "layers",
        "optimizer",
        "epochs",
        "seed",
    ]
    assert MixedSpace().fidelity_name == "epochs"
    assert MixedSpace().has_priors


class _UserClass:
    """A user's class passed bare where a parameter belongs (meant as an Operation)."""


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        (neps.PipelineSpace({"b": neps.Float(0, 1)}), "space PipelineSpace.. inside a space"),
        (_UserClass, "_UserClass.* is not a parameter; write Constant"),
        (lambda: 1, "lambda.* is not a parameter; write Constant"),
    ],
    ids=["space", "class", "lambda"],
)
def test_a_dict_refuses_what_a_space_class_takes_for_no_constant(value: Any, refusal: str) -> None:
    # Since PipelineSpace(dict) read declarative forms these became silent constants
    with pytest.raises(neps.InvalidParameterError, match=rf"'v': .*{refusal}"):
        neps.PipelineSpace({"a": neps.Float(0, 1), "v": value})
    assert neps.PipelineSpace({"v": neps.Constant(value)}).parameters["v"].value is value


def test_the_constructor_reads_a_dict_of_declarative_forms_as_run_does() -> None:
    # PipelineSpace({"c": 0.5}) was refused ("expected a space parameter") while run() took it
    described = {
        "c": 0.5,
        "layers": [1, 8],
        "optimizer": {"choices": ["adam", "sgd"], "prior": "adam"},
        "momentum": {"lower": 0.0, "upper": 0.9, "condition": {"eq": ["optimizer", "sgd"]}},
        "lr": neps.Float(1e-5, 1e-1, log=True),
        "$forbidden": [{"gt": ["layers", 6]}],
    }
    space = neps.PipelineSpace(described)
    assert space == space_from_description(described)
    assert space.parameters["c"] == neps.Constant(0.5)
    assert list(space.conditions) == ["momentum"]
    assert len(space.forbidden) == 1
    with pytest.raises(ValueError, match=r"'width'.*parameter type"):
        neps.PipelineSpace({"width": neps.Integer})
    with pytest.raises(ValueError, match="names are strings, got True"):
        neps.PipelineSpace({True: [1, 5]})  # yaml.safe_load's `on:`; was the name 'True'


def test_fidelity_short_forms_equal_the_generic_wrapper() -> None:
    assert neps.IntegerFidelity(1, 16) == neps.Fidelity(neps.Integer(1, 16))
    assert neps.FloatFidelity(0.1, 1.0) == neps.Fidelity(neps.Float(0.1, 1.0))
    assert neps.PipelineSpace({"subset": neps.FloatFidelity(0.1, 1.0)}).fidelity_name == "subset"
    with pytest.raises(ValueError, match="Categorical"):
        neps.Fidelity(neps.Categorical(("a", "b")))  # type: ignore[arg-type]
    assert neps.Fidelity(domain=neps.Integer(1, 16)) == neps.IntegerFidelity(1, 16)  # NePS's
    with pytest.raises(TypeError, match="Fidelity takes one Integer or Float"):
        neps.Fidelity()


def test_a_space_inside_a_space_is_refused_not_passed_on_unsampled() -> None:
    class Inner(neps.PipelineSpace):
        a = neps.Float(0.0, 1.0)

    class Outer(neps.PipelineSpace):
        inner = Inner()
        b = neps.Integer(1, 2)

    with pytest.raises(ValueError, match=r"'inner': the space Inner\(\) inside a space"):
        Outer()


def test_an_operation_takes_nepss_none_for_no_arguments() -> None:
    operation = neps.Operation(dict, args=None, kwargs=None)
    assert (operation.args, operation.kwargs) == ((), {})


def test_add_and_remove_return_new_spaces_and_leave_the_original_alone() -> None:
    original = MixedSpace()
    before = dict(original.parameters)
    grown = original.add(neps.Float(0.0, 1.0), name="momentum")
    shrunk = original.remove("dropout")
    assert "momentum" in grown.parameters and "momentum" not in original.parameters
    assert "dropout" not in shrunk.parameters and "dropout" in original.parameters
    assert dict(original.parameters) == before
    assert dict(MixedSpace().parameters) == before  # the class itself is untouched too
    assert len(grown) == len(original) + 1 and len(shrunk) == len(original) - 1
    unnamed = original.add(neps.Integer(0, 3))
    assert len(unnamed) == len(original) + 1


def test_add_refuses_a_taken_name_a_second_fidelity_and_remove_an_unknown_one() -> None:
    space = MixedSpace()
    with pytest.raises(ValueError, match="lr"):
        space.add(neps.Float(0.0, 1.0), name="lr")
    with pytest.raises(ValueError, match="epochs"):
        space.add(neps.FloatFidelity(0.1, 1.0), name="subset")
    with pytest.raises(KeyError, match="nonexistent"):
        space.remove("nonexistent")


# -- invalid definitions name the parameter --------------------------------------------------------
def test_invalid_class_attributes_name_the_parameter() -> None:
    with pytest.raises(ValueError, match=r"'lr'.*lower"):

        class LowerAboveUpper(neps.PipelineSpace):
            lr = neps.Float(lower=1.0, upper=0.1)

    with pytest.raises(ValueError, match=r"'units'.*prior"):

        class PriorOutside(neps.PipelineSpace):
            units = neps.Integer(1, 10, prior=11)

    with pytest.raises(ValueError, match=r"'decay'.*log"):

        class LogFromZero(neps.PipelineSpace):
            decay = neps.Float(0.0, 1.0, log=True)

    with pytest.raises(ValueError, match=r"'act'.*choices"):

        class NoChoices(neps.PipelineSpace):
            act = neps.Categorical(choices=())

    with pytest.raises(ValueError, match=r"'wd'.*prior_confidence"):

        class BadConfidence(neps.PipelineSpace):
            wd = neps.Float(0.0, 1.0, prior=0.5, prior_confidence="extreme")


def test_parameters_named_like_space_members_work_and_keep_the_members(tmp_path: Path) -> None:
    """XGBoost's max_depth hid PipelineSpace.max_depth: saved as the space's depth, the run
    could not be continued or reloaded; a parameter named sample broke every optimizer."""

    class Boosting(neps.PipelineSpace):
        max_depth = neps.Integer(2, 12)
        sample = neps.Categorical(("rows", "columns"))
        fidelity = neps.Float(0.0, 1.0)
        learning_rate = neps.Float(1e-3, 1.0, log=True)

    space = Boosting()
    assert list(space.parameters) == ["max_depth", "sample", "fidelity", "learning_rate"]
    assert isinstance(space.max_depth, int) and space.fidelity is None

    def evaluate(max_depth: int, sample: str, fidelity: float, learning_rate: float) -> float:
        return learning_rate * max_depth

    root = tmp_path / "run"
    neps.run(evaluate, Boosting(), root_directory=root, evaluations_to_spend=2)
    summary = neps.run(evaluate, Boosting(), root_directory=root, evaluations_to_spend=3)
    assert summary.counts["success"] == 3
    assert neps.load_pipeline_space(root) == space
    assert set(neps.load_config(root, config_id=1)) == set(space.parameters)

    class Deeper(Boosting):  # inherited entries keep their order
        subsample = neps.Float(0.5, 1.0)

    assert list(Deeper().parameters) == [*space.parameters, "subsample"]


def test_a_categorical_finds_decisions_by_type_first_then_by_equality() -> None:
    """Looked up in a table now (a categorical of 10,000 choices scanned them per decision)."""
    flags = neps.Categorical((True, 2, "2", [1, 2]))
    assert [flags.index_of(d) for d in (True, 2, "2", [1, 2])] == [0, 1, 2, 3]
    assert flags.index_of(1) == 0  # equal to True, as before: no choice is the int 1
    assert flags.index_of(2.0) == 1 and flags.index_of("3") is None and flags.index_of([3]) is None
    many = neps.Categorical(tuple(f"choice_{i}" for i in range(10_000)))
    assert many.index_of("choice_9999") == 9999 and not many.indexed


def test_a_parameter_name_that_is_no_string_is_named() -> None:
    with pytest.raises(ValueError, match="Parameter names are strings, got 1"):
        neps.PipelineSpace({1: neps.Float(0.0, 1.0)})  # type: ignore[dict-item]


def test_invalid_wrapped_fidelity_names_the_parameter() -> None:
    with pytest.raises(ValueError, match=r"'epochs'.*lower"):

        class Space(neps.PipelineSpace):
            epochs = neps.Fidelity(neps.Integer(10, 1))


def test_annotated_class_attribute_is_named_by_its_attribute_not_its_annotation() -> None:
    with pytest.raises(ValueError) as caught:

        class Space(neps.PipelineSpace):
            lr: neps.Float = neps.Float(0.0, 1.0, prior=5.0)

    assert "'lr'" in str(caught.value)
    assert "Parameter 'Float'" not in str(caught.value)


def _log_float(lower: float, upper: float) -> neps.Float:
    return neps.Float(lower, upper, log=True)


def test_a_generated_or_helper_built_parameter_is_named_by_its_key() -> None:
    # "Parameter 'name'" (the loop variable) and an unnamed "Float: ..." before.
    bounds = {"lr": (1e-5, 1e-1), "dropout": (0.5, 0.1)}
    with pytest.raises(ValueError, match=r"^Parameter 'dropout' \(Float\): lower"):
        {name: neps.Float(lower, upper) for name, (lower, upper) in bounds.items()}
    with pytest.raises(ValueError, match=r"^Parameter 'wd' \(Float\): log=True needs lower > 0"):

        class Space(neps.PipelineSpace):
            lr = _log_float(1e-5, 1e-1)
            wd = _log_float(0.0, 1e-2)


def test_integers_with_huge_bounds_are_drawn_exactly(root: Path) -> None:
    """Drawn through floats, Integer(10**17, 10**17 + 10) gave only its two bounds, and a
    grid over seven integers near 2**53 four of them."""
    huge = neps.Integer(10**17, 10**17 + 10)
    rng = np.random.default_rng(0)
    drawn = {huge.from_unit(rng.random()) - 10**17 for _ in range(500)}
    assert drawn == set(range(11))
    values = range(10**17, 10**17 + 11)  # and back, as models and local search read trials
    assert [huge.from_unit(huge.to_unit(v)) for v in values] == list(values)
    seen: list[int] = []
    neps.run(
        lambda x: seen.append(x - 2**53) or 0.0,
        {"x": neps.Integer(2**53, 2**53 + 6)},
        root_directory=root,
        evaluations_to_spend=10,
        optimizer=("grid_search", {"size": 7}),
    )
    assert sorted(seen) == list(range(7))


def test_non_integral_integer_bound_names_the_parameter() -> None:
    with pytest.raises(ValueError, match="'units'"):

        class Space(neps.PipelineSpace):
            units = neps.Integer(1.5, 10)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: {"lr": neps.Float(0.5, 0.5)}, "lower"),
        (lambda: {"lr": neps.Float("small", 1.0)}, "must be numbers, got 'small'"),
        (lambda: {"lr": neps.Integer(1, None)}, "must be numbers, got None"),
        (lambda: {"lr": neps.Float(0.0, 1.0, prior=[0.5])}, r"must be numbers, got \[0.5\]"),
        (lambda: {"lr": neps.Float(0.0, 1.0, prior=-1.0)}, "prior"),
        (lambda: {"lr": neps.Float(-1.0, 1.0, log=True)}, "log"),
        (lambda: {"lr": neps.Float(0.1, 1.0, log="maybe")}, "log must be true or false"),
        (  # the string "false" is truthy: the parameter silently became the fidelity
            lambda: {"lr": neps.Integer(1, 9, is_fidelity="false")},
            "is_fidelity must be true or false, got 'false'",
        ),
        (  # its samples were nan: upper - lower is inf
            lambda: {"lr": neps.Float(-1e308, 1e308)},
            "wider than a float holds",
        ),
        (lambda: {"lr": neps.Integer(0, 2**1100)}, "bounds must be finite floats"),  # not an
        (lambda: {"lr": neps.Float(0, 2**1100)}, "bounds must be finite floats"),  # OverflowError
        (lambda: {"lr": neps.Integer(-(10**308), 10**308)}, "wider than a float holds"),
        (lambda: {"lr": neps.Categorical(choices=[])}, "choices"),
        (lambda: {"lr": neps.Categorical(choices="adam")}, "choices must be a list or tuple.*str"),
        (lambda: {"lr": neps.Categorical(choices={"a": 1})}, "choices must be a list or tuple"),
        (lambda: {"lr": neps.Categorical(("a", "b"), prior=0, prior_confidence="max")}, "prior_"),
    ],
)
def test_invalid_dict_entries_name_the_parameter(make: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=rf"'lr'.*{problem}"):
        make()


def test_two_fidelities_name_both_parameters() -> None:
    with pytest.raises(ValueError, match=r"epochs.*subset"):
        neps.PipelineSpace(
            {"epochs": neps.IntegerFidelity(1, 9), "subset": neps.FloatFidelity(0.1, 1)}
        )

    class TwoFidelities(neps.PipelineSpace):
        epochs = neps.IntegerFidelity(1, 9)
        subset = neps.FloatFidelity(0.1, 1.0)

    with pytest.raises(ValueError, match=r"epochs.*subset"):
        TwoFidelities()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"lower": 1.0, "upper": 0.1}, "lower"),
        ({"lower": 0.0, "upper": 1.0, "prior": 3.0}, "prior"),
        ({"lower": 0, "upper": 10, "log": True}, "log"),
        ({"choices": []}, "choices"),
        ({"choices": "adam"}, "choices must be a list or tuple"),
        ({"choices": ["a", "b"], "prior": "a", "prior_confidence": "sure"}, "prior_confidence"),
        ({"lower": 0.0, "upper": 1.0, "colour": "red"}, "colour"),
        ({"lower": "abc", "upper": 1.0}, "lower must be a number"),  # said no name
        # said "Categorical.__init__() missing 1 required positional argument: 'choices'"
        ({"type": "categorical"}, "type 'categorical' needs 'choices', missing"),
        ({"type": "int", "lower": 1}, "type 'integer' needs 'upper', missing"),
        ({"type": "float"}, "type 'float' needs 'lower' and 'upper', missing"),
        ({"type": "constant"}, "type 'constant' needs 'value', missing"),
    ],
)
def test_invalid_declarative_entries_name_the_parameter(entry: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=rf"'alpha'.*{problem}"):
        space_from_description({"alpha": entry})


def test_space_errors_are_of_the_framework_family() -> None:
    # InvalidParameterError was a bare ValueError: `except neps.NepsCoreError` missed it.
    with pytest.raises(neps.NepsCoreError, match="lower"):
        neps.Float(1.0, 0.0)
    assert issubclass(neps.InvalidParameterError, ValueError)


def test_two_declarative_fidelities_are_refused() -> None:
    description = {
        "epochs": {"lower": 1, "upper": 9, "is_fidelity": True},
        "subset": {"lower": 0.1, "upper": 1.0, "is_fidelity": True},
    }
    with pytest.raises(ValueError, match=r"epochs.*subset"):
        space_from_description(description)


def test_invalid_yaml_space_file_names_the_file_and_the_parameter(
    root: Path, tmp_path: Path
) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("alpha:\n  lower: 1.0\n  upper: 0.1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"space\.yaml.*'alpha'"):
        neps.run(lambda alpha: alpha, path, root_directory=root, evaluations_to_spend=1)


# -- sampling -----------------------------------------------------------------------------------
def test_uniform_samples_stay_in_bounds_and_cover_the_range() -> None:
    samples = _samples(MixedSpace(), 2000)
    dropouts = np.array([s["dropout"] for s in samples])
    assert dropouts.min() >= 0.0 and dropouts.max() <= 0.5
    assert dropouts.min() < 0.02 and dropouts.max() > 0.48
    assert abs(dropouts.mean() - 0.25) < 0.02
    layers = [s["layers"] for s in samples]
    assert all(isinstance(v, int) for v in layers)
    counts = np.bincount(layers, minlength=9)[1:]
    assert counts.min() > 2000 / 8 * 0.7  # every integer, the end points included
    assert {s["optimizer"] for s in samples} == {"adam", "sgd", "rmsprop"}
    assert {s["seed"] for s in samples} == {42}
    assert {s["epochs"] for s in samples} == {16}  # the fidelity defaults to its maximum


def test_uniform_log_samples_are_uniform_in_log_space() -> None:
    samples = np.array([s["lr"] for s in _samples(MixedSpace(), 2000)])
    assert samples.min() >= 1e-5 and samples.max() <= 1e-1
    exponents = np.log10(samples)
    assert abs(np.median(exponents) - (-3.0)) < 0.2
    assert np.mean(samples < 1e-4) == pytest.approx(0.25, abs=0.05)


def test_prior_samples_concentrate_around_the_prior() -> None:
    samples = _samples(MixedSpace(), 2000, use_priors=True)
    lr_exponents = np.log10([s["lr"] for s in samples])
    assert np.mean(np.abs(lr_exponents - (-3.0)) < 0.5) > 0.8  # uniform would give 0.25
    layers = np.array([s["layers"] for s in samples])
    assert np.mean(np.abs(layers - 3) <= 1) > 0.6  # uniform would give 3/8
    optimizers = [s["optimizer"] for s in samples]
    assert optimizers.count("adam") / len(optimizers) > 0.42  # uniform would give 1/3
    dropouts = np.array([s["dropout"] for s in samples])  # no prior: still uniform
    assert abs(dropouts.mean() - 0.25) < 0.02


def test_higher_prior_confidence_means_tighter_samples() -> None:
    spreads = {}
    for confidence in ("low", "medium", "high"):
        space = neps.PipelineSpace(
            {"x": neps.Float(0.0, 1.0, prior=0.3, prior_confidence=confidence)}
        )
        values = np.array([s["x"] for s in _samples(space, 1000, use_priors=True)])
        assert values.min() >= 0.0 and values.max() <= 1.0
        spreads[confidence] = float(np.mean(np.abs(values - 0.3)))
    assert spreads["high"] < spreads["medium"] < spreads["low"] < 0.3


def test_a_two_choice_categorical_prior_is_preferred_more_with_more_confidence() -> None:
    """At "low" the prior choice of two had 0.5, as the other one: the prior did nothing."""
    shares = {}
    for confidence in ("low", "medium", "high"):
        kind = neps.Categorical(("relu", "tanh"), prior=0, prior_confidence=confidence)
        picks = [
            s["act"] for s in _samples(neps.PipelineSpace({"act": kind}), 4000, use_priors=True)
        ]
        shares[confidence] = picks.count("relu") / len(picks)
    assert shares == pytest.approx({"low": 2 / 3, "medium": 0.8, "high": 0.9}, abs=0.025)
    assert [categorical_prior_mass("low", k) for k in (1, 2, 3, 5)] == [1.0, 2 / 3, 0.5, 0.5]
    assert [categorical_prior_mass(c, 3) for c in ("medium", "high")] == [0.7, 0.9]


def test_categorical_prior_by_value_equals_prior_by_index() -> None:
    by_index = neps.Categorical(("a", "b", "c"), prior=2, prior_confidence="high")
    by_value = neps.Categorical(("a", "b", "c"), prior="c", prior_confidence="high")
    for parameter in (by_index, by_value):
        picks = [
            s["p"] for s in _samples(neps.PipelineSpace({"p": parameter}), 1000, use_priors=True)
        ]
        assert picks.count("c") / len(picks) > 0.75


def test_an_integer_prior_that_is_also_another_choice_warns_how_it_is_read() -> None:
    with pytest.warns(UserWarning, match=r"'batch'.*index, the choice 8.*pass prior=0") as caught:
        batch = neps.Categorical((2, 4, 8), prior=2)
    assert caught[0].filename == __file__  # points at the user's line
    assert batch.prior_index == 2  # NePS's reading: an index
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert neps.Categorical((2, 4, 8), prior=8).prior_index == 2  # only a choice
        assert neps.Categorical((0, 1, 2), prior=1).prior_index == 1  # both readings agree
        assert neps.Categorical(("a", "b"), prior=1).prior_index == 1
        assert neps.Categorical((True, False), prior=0).prior_index == 0  # 0 == False, but...


def test_bool_priors_never_mean_the_number_one_or_zero() -> None:
    # choices.index(True) found the choice 1 (1 == True), and the warning said so.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert neps.Categorical((1, True), prior=True).prior_index == 1
        assert neps.Categorical((0.0, False, None), prior=False).prior_index == 1


def test_a_prior_equal_to_two_choices_is_the_one_written_like_it() -> None:
    # 3 and 3.0 are distinct choices, but prior=3 picked 3.0 (the first equal one).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert neps.Categorical((0.5, 3.0, 3), prior=3).prior_index == 2
        assert neps.Categorical((0.5, 3, 3.0), prior=3.0).prior_index == 2
        assert neps.Categorical((0.5, 3, 3.0), prior=np.float64(3.0)).prior_index == 2
        assert neps.Categorical((0.5, 3.0), prior=3).prior_index == 1  # only one equals it


def test_a_numpy_integer_prior_is_an_index_as_an_int_is() -> None:
    # np.argmax's np.int64(1) was refused for ("adam", ...) as "neither an index nor one of
    # the choices", and among (10, 2, 1) read as the choice 1 where prior=1 is index 1.
    best = np.array([0.2, 0.9, 0.5]).argmax()
    assert neps.Categorical(("adam", "sgd", "rmsprop"), prior=best).prior_index == 1
    with pytest.warns(UserWarning, match="read as an index, the choice 2"):
        numbers = neps.Categorical((10, 2, 1), prior=best)
    assert numbers.prior_index == 1
    assert numbers.prior == 1 and type(numbers.prior) is int  # described and saved as an int
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert neps.Categorical((1, True), prior=np.bool_(True)).prior_index == 1  # not index 1


def test_operations_that_print_alike_are_distinct_choices() -> None:
    # The distinctness check compared repr(): two lambdas, or closures made in a loop, were
    # refused as "choices must be distinct".
    def make(kind: str) -> Any:
        return lambda step: f"{kind}:{step}"

    schedules = neps.Categorical(tuple(neps.Operation(make(k)) for k in ("cos", "step")))
    assert len(schedules.choices) == 2
    with pytest.raises(ValueError, match="choices must be distinct"):
        neps.Categorical((1, 2, 1))
    assert len(neps.Categorical((1, True, 1.0)).choices) == 3  # three types, three choices


def test_a_nan_choice_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    # NaN != NaN: the run wrote its run info, then refused its own saved space as different
    # ("Differences: .") on every later start.
    with pytest.raises(ValueError, match=r"'c' \(Categorical\): choices must not contain NaN"):
        neps.PipelineSpace({"c": neps.Categorical((math.nan, 1.0))})
    with pytest.raises(ValueError, match="NaN"):
        neps.run(
            lambda c: 0.0,
            {"c": neps.Categorical((np.float64("nan"), 1.0))},
            root_directory=tmp_path / "run",
        )
    assert not (tmp_path / "run").exists()


def test_a_nan_constant_is_refused_as_a_nan_choice_is(tmp_path: Path) -> None:
    # A new run with Constant(nan) refused its own saved space: "Differences: ." (nan != nan).
    with pytest.raises(ValueError, match=r"'missing' \(Constant\): the value must not be NaN"):
        neps.run(
            lambda x, missing: x,
            {"x": neps.Float(0, 1), "missing": neps.Constant(float("nan"))},
            root_directory=tmp_path / "run",
        )
    assert not (tmp_path / "run").exists()

    class Space(neps.PipelineSpace):
        x = neps.Float(0, 1)
        missing = [1.0, np.float64("nan")]  # a plain attribute is a Constant

    with pytest.raises(ValueError, match=r"'missing' \(Constant\): .*must not be NaN"):
        Space()

    with pytest.raises(ValueError, match=r"'missing' \(Constant\): .*must not be NaN"):
        space_from_description(yaml.safe_load("x: {lower: 0.0, upper: 1.0}\nmissing: .nan"))
    with pytest.raises(ValueError, match="choices must not contain NaN"):
        neps.Categorical(([math.nan], [1.0]))
    assert neps.Constant(None).value is None  # what a missing value can be instead


def test_numpy_choices_and_constants_are_python_values_everywhere(tmp_path: Path) -> None:
    # np.int64 reached evaluate_pipeline (json.dumps failed), config.yaml stored the index,
    # and the saved space could not be reloaded ("saved only as text").
    space = {
        "batch_size": neps.Categorical(choices=np.array([16, 32, 64])),
        "layers": neps.Categorical(np.arange(3)),
        "seed": neps.Constant(np.int64(3)),
        "lr": neps.Float(1e-4, 1e-1, log=True),
    }
    received: list[dict[str, Any]] = []

    def evaluate_pipeline(batch_size: int, layers: int, seed: int, lr: float) -> float:
        received.append({"batch_size": batch_size, "layers": layers, "seed": seed})
        json.dumps(received[-1])  # logging the configuration
        return lr

    root = tmp_path / "run"
    neps.run(evaluate_pipeline, space, root_directory=root, evaluations_to_spend=2)
    assert all(type(v) is int for config in received for v in config.values())
    stored = yaml.safe_load((root / "configs" / "config_1" / "config.yaml").read_text())
    assert stored["batch_size"] in (16, 32, 64) and stored["seed"] == 3
    assert neps.load_pipeline_space(root) == neps.PipelineSpace(space)
    neps.run(evaluate_pipeline, space, root_directory=root, evaluations_to_spend=3)
    assert len(received) == 3


def test_prior_confidence_without_a_prior_warns() -> None:
    with pytest.warns(UserWarning, match=r"'lr' \(Float\): prior_confidence='high' has no effect"):
        lr = neps.Float(1e-4, 1e-1, log=True, prior_confidence="high")
    assert lr.prior is None
    with pytest.warns(UserWarning, match=r"'kind' \(Categorical\): prior_confidence='medium'"):
        neps.PipelineSpace({"kind": neps.Categorical(("a", "b"), prior_confidence="medium")})
    # From a YAML space they read "Integer: ...", naming no parameter.
    described = yaml.safe_load("x: {lower: 0, upper: 1, prior_confidence: high}")
    with pytest.warns(UserWarning, match=r"^Parameter 'x' \(Integer\): prior_confidence='high'"):
        space_from_description(described)
    with warnings.catch_warnings(record=True) as caught:  # *review*: and once, as Python shows
        warnings.simplefilter("default")
        for _ in range(3):
            space_from_description(described)
    assert len(caught) == 1


# -- the declarative form ------------------------------------------------------------------------
def test_declarative_form_round_trips_through_yaml_text() -> None:
    space = MixedSpace()
    text = yaml.safe_dump(describe_space(space))
    restored = space_from_description(yaml.safe_load(text))
    assert restored == space
    assert restored.fidelity_name == "epochs"
    assert describe_space(restored) == describe_space(space)


def test_neps_declarative_yaml_infers_types() -> None:
    text = """
learning_rate: {lower: 1e-5, upper: 1e-1, log: true, prior: 1e-3}
units: {lower: 16, upper: 256}
epochs: {lower: 1, upper: 20, is_fidelity: true}
optimizer: {choices: [adam, sgd], prior: adam, prior_confidence: high}
batch_size: 64
"""
    space = space_from_description(yaml.safe_load(text))
    expected = neps.PipelineSpace(
        {
            "learning_rate": neps.Float(1e-5, 1e-1, log=True, prior=1e-3),
            "units": neps.Integer(16, 256),
            "epochs": neps.IntegerFidelity(1, 20),
            "optimizer": neps.Categorical(("adam", "sgd"), prior="adam", prior_confidence="high"),
            "batch_size": neps.Constant(64),
        }
    )
    assert space == expected


def test_neps_short_forms_are_ranges_and_choices_not_constants(root: Path) -> None:
    """NePS's declarative page writes these; each was a constant list, so nothing was searched."""
    text = """
optimizer: [adam, sgd, adamw]
alpha: [0.01, 1.0]
n_layers: [1, 10]
learning_rate: [1e-5, 1e-1]
batch_size: [16, 32, 64]
"""
    space = space_from_description(yaml.safe_load(text))
    assert space == neps.PipelineSpace(
        {
            "optimizer": neps.Categorical(("adam", "sgd", "adamw")),
            "alpha": neps.Float(0.01, 1.0),
            "n_layers": neps.Integer(1, 10),
            "learning_rate": neps.Float(1e-5, 1e-1),
            "batch_size": neps.Categorical((16, 32, 64)),
        }
    )
    seen: list[dict[str, Any]] = []
    neps.run(  # a Python dict mixing the short forms with parameters means the same
        lambda **config: seen.append(config) or 0.5,
        {"optimizer": ["adam", "sgd"], "units": (16, 256), "x": neps.Float(0.0, 1.0)},
        root_directory=root,
        evaluations_to_spend=3,
    )
    assert all(c["optimizer"] in ("adam", "sgd") and 16 <= c["units"] <= 256 for c in seen)
    for entry, problem in (([], "must not be empty"), ([3, 1], "must be smaller")):
        with pytest.raises(ValueError, match=f"Parameter 'alpha'.*{problem}"):
            space_from_description({"alpha": entry})


def test_two_quoted_numbers_are_two_choices_not_a_range() -> None:
    """``precision: ["16", "32"]`` searched the floats between 16 and 32."""
    text = """
precision: ["16", "32"]
python: ["3.8", "3.11"]
weight_decay: [1e-5, 1e-1]
"""
    assert space_from_description(yaml.safe_load(text)) == neps.PipelineSpace(
        {
            "precision": neps.Categorical(("16", "32")),
            "python": neps.Categorical(("3.8", "3.11")),
            "weight_decay": neps.Float(1e-5, 1e-1),  # PyYAML's text "1e-5" is still a number
        }
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # NePS's old names, on purpose
def test_scientific_notation_is_a_number_in_choices_and_constants_too() -> None:
    # yaml.safe_load leaves 1e-4 as text: evaluate_pipeline received weight_decay='1e-4'.
    text = """
weight_decay: 1e-4
lr: [1e-4, 1e-3, 1e-2]
dropout: {choices: [0.0, 5e-1], default: 5e-1}
scale: {value: 2e3}
optimizer: [adam, 1e-3]
"""
    assert space_from_description(yaml.safe_load(text)) == neps.PipelineSpace(
        {
            "weight_decay": neps.Constant(1e-4),
            "lr": neps.Categorical((1e-4, 1e-3, 1e-2)),
            "dropout": neps.Categorical((0.0, 0.5), prior=1),
            "scale": neps.Constant(2e3),
            "optimizer": neps.Categorical(("adam", 1e-3)),
        }
    )


def test_text_choices_in_scientific_notation_stay_text_in_a_continued_run(tmp_path: Path) -> None:
    # The saved space was read back as numbers: continuing the run was refused (another
    # space), and without a space its trials' text values no longer fit.
    space = {
        "lr": neps.Categorical(["1e-4", "1e-3"]),
        "tag": neps.Constant("1e-4"),
        "x": neps.Float(0.0, 1.0),
    }
    received: list[tuple[Any, Any]] = []

    def evaluate(lr: str, tag: str, x: float) -> float:
        received.append((lr, tag))
        return x

    root = tmp_path / "run"
    neps.run(evaluate, space, root_directory=root, evaluations_to_spend=1)
    neps.run(evaluate, root_directory=root, evaluations_to_spend=2)
    neps.run(evaluate, space, root_directory=root, evaluations_to_spend=3)
    assert len(received) == 3 and all(isinstance(v, str) for pair in received for v in pair)
    assert neps.load_pipeline_space(root) == neps.PipelineSpace(space)


@pytest.mark.parametrize("nested", [False, True])
def test_yaml_file_path_as_pipeline_space(root: Path, tmp_path: Path, nested: bool) -> None:
    body = (
        "lr: {lower: 1.0e-4, upper: 1.0, log: true}\n"
        "depth: {lower: 2, upper: 4}\n"
        "epochs: {lower: 1, upper: 3, is_fidelity: true}\n"
        "act: {choices: [relu, tanh]}\n"
    )
    if nested:
        body = "pipeline_space:\n" + "".join(f"  {line}\n" for line in body.splitlines())
    path = tmp_path / "space.yaml"
    path.write_text(body, encoding="utf-8")
    seen: list[dict] = []

    def evaluate(**config: Any) -> float:
        seen.append(config)
        return float(config["lr"])

    neps.run(
        evaluate,
        str(path) if nested else path,
        root_directory=root,
        evaluations_to_spend=4,
        optimizer="random_search",  # evaluates at the maximum fidelity
    )
    assert len(seen) == 4
    for config in seen:
        assert set(config) == {"lr", "depth", "epochs", "act"}
        assert 1e-4 <= config["lr"] <= 1.0 and config["depth"] in (2, 3, 4)
        assert config["epochs"] == 3 and config["act"] in ("relu", "tanh")
    assert neps.load_pipeline_space(root) == space_from_description(
        yaml.safe_load(body)["pipeline_space"] if nested else yaml.safe_load(body)
    )


def test_dict_of_declarative_entries_as_pipeline_space(root: Path) -> None:
    seen: list[dict] = []

    def evaluate(x: float, kind: str) -> float:
        seen.append({"x": x, "kind": kind})
        return x

    space = {"x": {"lower": -2.0, "upper": 2.0}, "kind": {"choices": ["p", "q"]}}
    neps.run(evaluate, space, root_directory=root, evaluations_to_spend=3)
    assert len(seen) == 3
    assert all(-2.0 <= c["x"] <= 2.0 and c["kind"] in ("p", "q") for c in seen)


UNUSED_INTERMEDIATE = r"'_lr'.*intermediate.*searched for nothing.*without the leading '_'"


def test_an_intermediate_nothing_uses_is_refused_in_every_space_form(tmp_path: Path) -> None:
    """``_lr`` would be searched but never reach ``evaluate_pipeline``: refused, not ignored."""
    with pytest.raises(ValueError, match=UNUSED_INTERMEDIATE):
        neps.PipelineSpace({"_lr": neps.Float(1e-4, 1e-1), "x": neps.Float(0.0, 1.0)})

    class Space(neps.PipelineSpace):
        _lr = neps.Float(1e-4, 1e-1)

    with pytest.raises(ValueError, match=UNUSED_INTERMEDIATE):
        Space()
    path = tmp_path / "space.yaml"
    path.write_text("_lr: {lower: 1.0e-4, upper: 0.1}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=UNUSED_INTERMEDIATE):
        neps.run(lambda **c: 0.0, path, root_directory=tmp_path / "run", evaluations_to_spend=1)
    assert not (tmp_path / "run").exists()


def test_intermediates_used_by_an_entry_or_a_clause_are_fine() -> None:
    class Space(neps.PipelineSpace):
        _width = neps.Integer(16, 64)
        model = neps.Operation(dict, kwargs={"width": _width})

    space = Space()
    config = space.sample(np.random.default_rng(0))
    assert list(space.resolve(config)) == ["model"]
    gated = neps.PipelineSpace(
        {
            "_use_momentum": neps.Categorical((True, False)),
            "momentum": neps.Float(0.0, 0.9),
            "_seed": neps.Constant(3),  # not searched, so harmless
        },
        conditions={"momentum": Equals("_use_momentum", True)},
    )
    assert set(gated.searchable) == {"_use_momentum", "momentum"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (neps.Float, "Float is a parameter type, not a parameter; call it"),
        ({16, 32}, r"a set is not a parameter; for choices write Categorical\(\[16, 32\]\)"),
    ],
    ids=["uncalled type", "set"],
)
def test_a_value_that_is_a_constant_only_by_mistake_is_refused(value: Any, message: str) -> None:
    # Both ran, evaluate_pipeline receiving the class Float or the set {16, 32} as a constant.
    with pytest.raises(neps.InvalidParameterError, match=rf"Parameter 'width': {message}"):
        space_from_description({"x": neps.Float(0.0, 1.0), "width": value})

    class Space(neps.PipelineSpace):
        x = neps.Float(0.0, 1.0)
        width = value

    with pytest.raises(neps.InvalidParameterError, match=rf"Parameter 'width': {message}"):
        Space()

    class Helpers(neps.PipelineSpace, abc.ABC):  # a frozenset __abstractmethods__
        x = neps.Float(0.0, 1.0)
        _width = value

        class Narrow(neps.Float):
            """A helper type of the user's, beside the parameters."""

    assert list(Helpers().parameters) == ["x"]


def test_plain_class_attributes_are_passed_on_as_constants() -> None:
    """As in NePS, ``batch_size = 64`` in a space class reaches ``evaluate_pipeline``."""

    class Space(neps.PipelineSpace):
        lr = neps.Float(1e-4, 1e-1, log=True)
        batch_size = 64
        _internal = "not passed"

        def helper(self) -> int:
            return 1

        @property
        def described(self) -> str:
            return "not an entry"

    space = Space()
    assert dict(space.parameters) == {
        "lr": neps.Float(1e-4, 1e-1, log=True),
        "batch_size": neps.Constant(64),
    }
    assert space.resolve(space.sample(np.random.default_rng(0)))["batch_size"] == 64

    class Layers(neps.PipelineSpace):
        layers = [neps.Integer(1, 3), neps.Integer(1, 3)]

    with pytest.raises(ValueError, match="'layers': an object of type list holding parameters"):
        Layers()


def _forbids(optimizer: str, above: float) -> Any:
    from neps_core.space import And, GreaterThan

    return And(Equals("optimizer", optimizer), GreaterThan("learning_rate", above))


FORBIDDEN_STARTS = {
    "priors": ({"prior": 1, "lr_prior": 0.5}, _forbids("sgd", 0.1)),  # forbidden together
    "centre": ({"prior": None, "lr_prior": None}, _forbids("adam", 0.005)),  # (adam, 0.01)
}
STARTING_FROM_THE_PRIOR = {
    "priorband": {},
    "pibo": {},
    "hyperband": {"sample_prior_first": True},
    "successive_halving": {"sample_prior_first": "highest_fidelity"},
}
#: Those refused without priors: not run on the centre.
NEEDING_PRIORS = ("pibo", "hyperband", "successive_halving")


@pytest.mark.parametrize(
    ("start", "optimizer"),
    [
        (start, optimizer)
        for start in FORBIDDEN_STARTS
        for optimizer in STARTING_FROM_THE_PRIOR
        if not (start == "centre" and optimizer in NEEDING_PRIORS)
    ],
)
def test_a_forbidden_prior_configuration_is_replaced_by_an_allowed_one_near_it(
    root: Path, start: str, optimizer: str
) -> None:
    # Optimizers starting from the prior configuration failed before evaluating anything.
    priors, clause = FORBIDDEN_STARTS[start]
    space = neps.PipelineSpace(
        {
            "optimizer": neps.Categorical(("adam", "sgd"), prior=priors["prior"]),
            "learning_rate": neps.Float(1e-4, 1.0, log=True, prior=priors["lr_prior"]),
            "layers": neps.Integer(1, 9, prior=None if priors["prior"] is None else 3),
            "epochs": neps.IntegerFidelity(1, 9),
        },
        forbidden=[clause],
    )
    first = space.prior_config()
    assert space.violated_clause(first) is None
    assert first == space.prior_config()  # still one configuration
    assert first["layers"] == (3 if priors["prior"] is not None else 5)  # allowed part kept
    seen: list[dict[str, Any]] = []

    def evaluate(**config: Any) -> float:
        seen.append(config)
        return float(config["learning_rate"])

    neps.run(evaluate, space, root_directory=root, evaluations_to_spend=4,
             optimizer=(optimizer, STARTING_FROM_THE_PRIOR[optimizer]))  # fmt: skip
    assert len(seen) == 4 and all(space.violated_clause(c) is None for c in seen)


def _pinned(*forbidden: Any) -> neps.PipelineSpace:
    """Only ``a == "x"`` allowed (and whatever else ``forbidden`` leaves)."""
    return neps.PipelineSpace(
        {"a": neps.Categorical(("x", "y", "z")), "b": neps.Categorical((1, 2, 3))},
        forbidden=[NotEquals("a", "x"), *forbidden],
    )


def _resolver_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of the space's walks, each a draw or a reading of a configuration."""
    runs = [0]
    run = Resolver.run

    def counted(self: Resolver) -> Any:
        runs[0] += 1
        return run(self)

    monkeypatch.setattr(Resolver, "run", counted)
    return runs


def test_a_mutation_the_forbidden_clauses_refuse_moves_other_decisions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mutation moving the pinned ``a`` kept that move for 20,000 draws and raised: 14 of
    20 mutations failed, 4 s in all, though ``b`` had two allowed moves."""
    runs = _resolver_runs(monkeypatch)
    rng = np.random.default_rng(0)
    children = [_pinned().mutate({"a": "x", "b": 2}, rng) for _ in range(200)]
    assert {(child["a"], child["b"]) for child in children} == {("x", 1), ("x", 3)}
    assert runs[0] < 200 * 50


def test_a_configuration_without_an_allowed_neighbour_fails_to_mutate_within_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no allowed neighbour a mutation paid 20,000 draws and raised a plain ValueError,
    which optimizers took for a configuration of an older space."""
    space = _pinned(NotEquals("b", 2))  # {"a": "x", "b": 2} is all there is
    runs = _resolver_runs(monkeypatch)
    with pytest.raises(NoAllowedMutationError, match="No mutation of"):
        space.mutate({"a": "x", "b": 2}, np.random.default_rng(0))
    assert runs[0] <= 1 + MUTATION_ATTEMPTS * MUTATION_REJECTIONS


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"count": 0}, "count must be a whole number >= 1, got 0"),
        ({"count": -1}, "count must be a whole number >= 1, got -1"),
        ({"count": 2.5}, "count must be a whole number"),
        ({"count": True}, "count must be a whole number"),
        ({"count": 1, "rate": 1.0}, "rate=1.0 and count=1 .* give one"),
        ({"rate": 1.5}, r"rate must be a probability > 0 and <= 1, got 1.5"),
        ({"rate": -1}, r"rate must be a probability .*, got -1"),
        ({"rate": 0.0}, r"rate must be a probability .*, got 0.0"),
        ({"rate": float("nan")}, r"rate must be a probability .*, got nan"),
        ({"rate": True}, r"rate must be a probability .*, got True"),
    ],
)
def test_a_mutation_count_below_one_or_beside_a_rate_or_a_rate_beyond_0_to_1_is_refused(
    options: dict[str, Any], problem: str
) -> None:
    """``count=0`` returned the parent, ``-1`` failed in NumPy, a rate beside it was dropped;
    ``rate=1.5`` moved every decision and ``rate=-1`` or ``0`` one, without a word."""
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "y": neps.Float(0.0, 1.0)})
    rng = np.random.default_rng(0)
    parent = space.sample(rng)
    with pytest.raises(ValueError, match=problem):
        space.mutate(parent, rng, **options)
    child = space.mutate(parent, rng, count=np.int64(2))
    assert all(child[k] != parent[k] for k in parent)
    child = space.mutate(parent, rng, rate=np.float64(1.0))
    assert all(child[k] != parent[k] for k in parent)


@pytest.mark.parametrize(
    "optimizer", ["pibo", "priorband", ("random_search", {"use_priors": True})], ids=str
)
def test_a_confident_prior_inside_a_forbidden_region_falls_back_to_uniform_draws(
    root: Path, optimizer: Any
) -> None:
    """Draws around x's prior (0.9, std 0.05) never landed below 0.5: 0 trials, an error."""
    space = neps.PipelineSpace(
        {
            "x": neps.Float(0.0, 1.0, prior=0.9, prior_confidence="high"),
            "y": neps.Float(0.0, 1.0),
            "epochs": neps.IntegerFidelity(1, 9),
        },
        forbidden=[GreaterThan("x", 0.5)],
    )
    draws = [space.sample(np.random.default_rng(seed), use_priors=True) for seed in range(5)]
    assert all(draw["x"] <= 0.5 for draw in draws) and space.prior_config()["x"] <= 0.5
    summary = neps.run(
        lambda x, y, epochs: x, space, root_directory=root, evaluations_to_spend=5,
        optimizer=optimizer,
    )  # fmt: skip
    assert summary.counts["success"] == 5


def test_clauses_that_cannot_be_evaluated_are_refused_when_the_space_is_made() -> None:
    """A string categorical ordered against a float crashed the run with a bare TypeError
    (comparing 'adam' < 0.1); a condition on an operation with an AttributeError."""
    plain = {"optimizer": neps.Categorical(("adam", "sgd")), "lr": neps.Float(0.0, 1.0)}
    with pytest.raises(ValueError, match=r"'optimizer' < 'lr' orders numbers against text"):
        neps.PipelineSpace(plain, forbidden=[Relation("optimizer", "<", "lr")])
    numbers = {
        "batch": neps.Categorical((16, 32)),
        "width": neps.Integer(8, 64),
        "cap": neps.Constant(40),
        "a": neps.Categorical((False, True)),
        "b": neps.Categorical((False, True)),
    }
    mixed = {"a": neps.Categorical(("x", 1)), "b": neps.Categorical(("y", 2))}
    with pytest.raises(ValueError, match=r"'a' < 'b' orders numbers against text"):
        neps.PipelineSpace(mixed, forbidden=[Relation("a", "<", "b")])
    orderable = [Relation("batch", ">", "width"), Relation("width", ">", "cap")]
    neps.PipelineSpace(numbers, forbidden=[*orderable, Relation("a", "<", "b")])  # all fine
    neps.PipelineSpace(plain, forbidden=[Relation("optimizer", "==", "lr")])  # any types
    operation = {"act": neps.Operation("relu", args=(neps.Float(0.0, 1.0),)), "b": neps.Float(0, 1)}
    with pytest.raises(ValueError, match=r"'act' is not a plain parameter"):
        neps.PipelineSpace(operation, conditions={"b": Equals("act", 0)})
