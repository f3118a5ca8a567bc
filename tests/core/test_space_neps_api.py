"""The class-based space API as NePS's newest ``neps.space.neps_spaces`` spells it: the
spellings of priors, class attributes that are ``None``, and the methods and attributes of
``PipelineSpace`` and the parameters that NePS users call."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import neps_core as neps


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
