"""The class-based space API as NePS's newest ``neps.space.neps_spaces`` spells it: the
spellings of priors, class attributes that are ``None``, and the methods and attributes of
``PipelineSpace`` and the parameters that NePS users call."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neps_core as neps
from neps_core.space import Equals


@pytest.mark.parametrize("spelling", ["High", "HIGH", "high", neps.ConfidenceLevel.HIGH])
def test_prior_confidence_is_read_in_any_case_as_nepss_is(spelling: object) -> None:
    numeric = neps.Float(0.0, 1.0, prior=0.5, prior_confidence=spelling)
    choice = neps.Categorical(("a", "b"), prior=0, prior_confidence=spelling)
    assert numeric.prior_confidence == choice.prior_confidence == "high"
    assert numeric == neps.Float(0.0, 1.0, prior=0.5, prior_confidence="high")


def test_an_unknown_prior_confidence_is_still_refused_as_written() -> None:
    with pytest.raises(ValueError, match=r"'lr'.*prior_confidence.*'Sure'"):
        lr = neps.Float(0.0, 1.0, prior=0.5, prior_confidence="Sure")  # noqa: F841


def test_a_fractional_integer_prior_is_truncated_as_nepss_is_with_a_warning() -> None:
    with pytest.warns(UserWarning, match=r"'layers' \(Integer\): prior 4.7 .* truncated to 4"):
        layers = neps.Integer(1, 10, prior=4.7)
    assert layers.prior == 4 and isinstance(layers.prior, int)
    with pytest.warns(UserWarning, match="truncated to -4"):
        assert neps.Integer(-10, 10, prior=-4.7).prior == -4


def test_a_whole_float_integer_prior_is_taken_silently_and_odd_ones_are_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert neps.Integer(1, 10, prior=4.0).prior == 4
    for odd in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            neps.Integer(1, 10, prior=odd)
    with pytest.raises(ValueError, match="whole"):
        neps.Integer(1.5, 10)


def test_a_class_attribute_set_to_none_is_no_entry_as_in_nepss_get_attrs(tmp_path: Path) -> None:
    class Space(neps.PipelineSpace):
        lr = neps.Float(1e-4, 1e-1, log=True)
        checkpoint = None  # filled in later by the user's code
        seed = neps.Constant(None)  # the constant None, written out

    class Narrower(Space):
        lr = None  # a subclass may drop an inherited entry so

    assert list(Space()) == ["lr", "seed"] and Space().checkpoint is None
    assert list(Narrower()) == ["seed"]
    seen: list[dict] = []
    summary = neps.run(
        lambda **config: seen.append(config) or config["lr"],
        Space(),
        root_directory=tmp_path / "run",
        evaluations_to_spend=2,
    )
    assert summary.counts["success"] == 2
    assert all(sorted(config) == ["lr", "seed"] and config["seed"] is None for config in seen)


class Space(neps.PipelineSpace):
    a = neps.Float(0.0, 1.0)
    b = neps.Integer(1, 10, prior=5, prior_confidence="medium")
    batch_size = 64
    epochs = neps.IntegerFidelity(1, 9)


class NoPriors(neps.PipelineSpace):
    a = neps.Float(0.0, 1.0)
    kind = neps.Categorical(("x", "y", "z"))


def test_has_priors_is_nepss_method_and_still_reads_as_a_bool() -> None:
    assert Space().has_priors() is True and NoPriors().has_priors() is False
    assert Space().has_priors and not NoPriors().has_priors  # as plugins read it
    assert NoPriors().has_priors == False  # noqa: E712 - the comparison a script may write


def test_get_attrs_and_fidelity_attrs_list_the_entries_as_neps_does() -> None:
    attrs = Space().get_attrs()
    assert list(attrs) == ["a", "b", "batch_size", "epochs"] and attrs["batch_size"] == 64
    assert attrs["a"] == neps.Float(0.0, 1.0)
    assert Space().fidelity_attrs == {"epochs": neps.IntegerFidelity(1, 9)}
    assert NoPriors().fidelity_attrs == {}


def test_add_prior_returns_a_new_space_with_the_prior() -> None:
    space = NoPriors()
    with_prior = space.add_prior("a", 0.3, "High").add_prior("kind", 2, neps.ConfidenceLevel.LOW)
    assert with_prior.parameters["a"] == neps.Float(0.0, 1.0, prior=0.3, prior_confidence="high")
    assert with_prior.parameters["kind"].prior_index == 2
    assert with_prior.has_priors() and not space.has_priors()


@pytest.mark.parametrize(
    ("name", "prior", "problem"),
    [
        ("b", 3, "'b' has a prior already"),
        ("batch_size", 3, "'batch_size' is a Constant, which takes no prior"),
        ("epochs", 3, "'epochs' is a fidelity"),
        ("a", 2.0, r"'a' \(Float\): prior 2.0 lies outside"),
    ],
)
def test_add_prior_refuses_what_takes_no_such_prior(name: str, prior: float, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Space().add_prior(name, prior, "low")


def test_an_unknown_name_is_a_value_error_as_in_neps_and_a_key_error() -> None:
    for call in (lambda: Space().remove("zz"), lambda: Space().add_prior("zz", 1, "low")):
        with pytest.raises(ValueError, match="zz") as caught:
            call()
        assert isinstance(caught.value, KeyError) and str(caught.value).startswith("No parameter")


def test_add_names_a_parameter_param_n_plus_one_as_neps_does(tmp_path: Path) -> None:
    space = NoPriors().add(neps.Integer(1, 3))
    assert list(space) == ["a", "kind", "param_3"]
    summary = neps.run(
        lambda a, kind, param_3: a + param_3,
        space,
        root_directory=tmp_path / "run",
        evaluations_to_spend=1,
    )
    assert summary.counts["success"] == 1


def test_adding_a_space_merges_its_entries_under_their_names_as_neps_does() -> None:
    """``A().add(B())`` was refused: 'the space B() inside a space is not an entry'."""

    class A(neps.PipelineSpace):
        lr = neps.Float(1e-3, 1e-1, log=True)
        shared = neps.Integer(1, 4)

    class B(neps.PipelineSpace):
        wd = neps.Float(0.0, 0.1)
        shared = neps.Integer(1, 4)  # equal: kept once

    merged = A().add(B())
    assert dict(merged.parameters) == {**A().parameters, "wd": B().parameters["wd"]}
    conditional = neps.PipelineSpace(
        {"opt": neps.Categorical(["sgd", "adam"]), "momentum": neps.Float(0.0, 1.0)},
        conditions={"momentum": Equals("opt", "sgd")},
        forbidden=[Equals("opt", "adam")],
    )
    with_clauses = A().add(conditional)
    assert list(with_clauses.parameters) == ["lr", "shared", "opt", "momentum"]
    assert with_clauses.sample(np.random.default_rng(0))["opt"] == "sgd"  # forbidden came along
    assert "momentum" not in with_clauses.walk({"lr": 0.01, "shared": 1, "opt": "adam"}).values
    with pytest.raises(ValueError, match="different parameter named 'shared'"):
        A().add(neps.PipelineSpace({"shared": neps.Integer(1, 5)}))
    with pytest.raises(ValueError, match="keeps its entries' names"):
        A().add(B(), name="b")


def test_adding_an_equal_parameter_under_its_name_changes_nothing() -> None:
    space = Space()
    assert space.add(neps.Float(0.0, 1.0), "a") == space
    assert space.add(neps.Constant(64), "batch_size") == space
    with pytest.raises(ValueError, match=r"different parameter named 'a'"):
        space.add(neps.Float(0.0, 2.0), "a")


def test_sample_without_a_generator_is_nepss_config_and_values() -> None:
    class WithOperation(Space):
        layer = neps.Operation(dict, kwargs={"width": neps.Integer(1, 4)})

    np.random.seed(0)
    config, values = WithOperation().sample()
    np.random.seed(0)
    assert WithOperation().sample() == (config, values)  # NumPy's global state decides
    assert values["layer"] == {"width": values["layer"]["width"]} and values["batch_size"] == 64
    assert 0.0 <= values["a"] <= 1.0 and 1 <= config["epochs"] <= 9
    for given in (Space().sample({"epochs": 3}), Space().sample(fidelity_values={"epochs": 3})):
        assert given[0]["epochs"] == given[1]["epochs"] == 3
    fidelities = {Space().sample()[0]["epochs"] for _ in range(50)}
    assert len(fidelities) > 1  # drawn, as NePS draws it, not always the maximum
    with pytest.raises(ValueError, match="steps"):
        Space().sample({"steps": 3})
    drawn = Space().sample(np.random.default_rng(0), fidelity="min")  # neps_core's own form
    assert isinstance(drawn, dict) and drawn["epochs"] == 1
    assert Space().sample(np.random.default_rng(0))["epochs"] == 9  # "max" by default


@pytest.mark.parametrize(
    "keywords", [{"use_priors": True}, {"fidelity": "min"}, {"use_priors": False, "fidelity": 1}]
)
def test_sample_with_neps_cores_keywords_but_no_generator_asks_for_one(
    keywords: dict[str, Any],
) -> None:
    """NePS's form ignored them: sample(use_priors=True, fidelity="min") drew uniformly."""
    with pytest.raises(TypeError, match=r"sample\(.*\) draws with a generator"):
        Space().sample(**keywords)
    with pytest.raises(TypeError, match="generator"):
        Space().sample({"epochs": 3}, **keywords)


def test_sample_with_a_generator_refuses_nepss_fidelity_values() -> None:
    """sample(rng, fidelity_values={"epochs": 3}) drew at the highest fidelity, silently."""
    with pytest.raises(TypeError, match=r"fidelity_values=\{'epochs': 3\}.*fidelity="):
        Space().sample(np.random.default_rng(0), fidelity_values={"epochs": 3})
    assert Space().sample(np.random.default_rng(0), fidelity=3)["epochs"] == 3


def test_sample_without_priors_and_without_a_generator_is_nepss_uniform_draw() -> None:
    """sample(use_priors=False), a uniform draw as NePS's form makes, was a TypeError."""
    np.random.seed(0)
    config, values = Space().sample(use_priors=False)
    np.random.seed(0)
    assert (config, values) == Space().sample()
    assert Space().sample({"epochs": 3}, use_priors=False)[0]["epochs"] == 3


def test_parameters_have_nepss_attributes() -> None:
    rng = np.random.default_rng(0)
    assert neps.Float(0.0, 1.0, prior=0.5).has_prior and not neps.Float(0.0, 1.0).has_prior
    assert 0.0 <= neps.Float(0.0, 1.0).sample() <= 1.0
    assert {neps.Integer(1, 3).sample(rng) for _ in range(50)} == {1, 2, 3}
    kind = neps.Categorical(("x", "y", "z"))
    assert (kind.lower, kind.upper) == (0, 2)
    assert {kind.sample(rng) for _ in range(50)} == {0, 1, 2}  # an index, as NePS's
    assert neps.IntegerFidelity(1, 9).domain == neps.Integer(1, 9)
    assert neps.FloatFidelity(0.1, 1.0).domain == neps.Float(0.1, 1.0)
    assert not hasattr(neps.Integer(1, 9), "domain")  # only a fidelity has one
    assert neps.Resample("x").is_resampling_by_name
    assert not neps.Float(0.0, 1.0).resample().is_resampling_by_name


def _start_and_continue(root: Path, first: neps.PipelineSpace, then: neps.PipelineSpace) -> str:
    """The mismatch error of continuing a run started with ``first`` with ``then``."""
    neps.run(lambda **c: 0.0, first, root_directory=root, evaluations_to_spend=1)
    with pytest.raises(neps.SpaceMismatchError) as caught:
        neps.run(lambda **c: 0.0, then, root_directory=root, evaluations_to_spend=2)
    return str(caught.value)


def test_continuing_a_root_that_saved_a_none_attribute_names_constant_none(
    tmp_path: Path,
) -> None:
    """Runs started before ``checkpoint = None`` stopped being an entry saved the constant
    None; continuing one said only "'checkpoint': saved {...}, given None"."""

    class Before(neps.PipelineSpace):  # what the attribute was saved as
        lr = neps.Float(1e-4, 1e-1, log=True)
        checkpoint = neps.Constant(None)

    class Now(neps.PipelineSpace):
        lr = neps.Float(1e-4, 1e-1, log=True)
        checkpoint = None

    message = _start_and_continue(tmp_path / "run", Before(), Now())
    assert "declare checkpoint = neps.Constant(None) to continue this run" in message
    assert "add()" not in message
    # In a mapping every key is an entry (documented): None stays the constant, as saved.
    as_dict = neps.PipelineSpace({"lr": neps.Float(1e-4, 1e-1, log=True), "checkpoint": None})
    assert as_dict == Before()


def test_continuing_a_root_of_an_unnamed_add_names_the_saved_name(tmp_path: Path) -> None:
    """add() without a name gave param_<n> before, param_<n + 1> now: a bare mismatch."""

    class Base(neps.PipelineSpace):
        lr = neps.Float(1e-4, 1e-1, log=True)

    before = Base().add(neps.Integer(1, 4), name="param_1").add(neps.Float(0.0, 1.0), "param_2")
    now = Base().add(neps.Integer(1, 4)).add(neps.Float(0.0, 1.0))
    message = _start_and_continue(tmp_path / "run", before, now)
    assert """name it as the run saved it, add(..., name="param_1") for 'param_2', """ in message
    assert """add(..., name="param_2") for 'param_3'""" in message
    other = Base().add(neps.Integer(1, 5))  # a different parameter: no such hint
    assert "add()" not in _start_and_continue(tmp_path / "other", before, other)
