"""The numeric encoding model-based optimizers build on: columns, bounds and round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

import neps_core as neps
from neps_core.space import Equals
from neps_core.space.encoding import ConfigEncoder


def _space() -> neps.PipelineSpace:
    return neps.PipelineSpace(
        {
            "lr": neps.Float(1e-5, 1e-1, log=True),
            "dropout": neps.Float(0.0, 0.5),
            "units": neps.Integer(16, 512, log=True),
            "layers": neps.Integer(1, 4),
            "optimizer": neps.Categorical(("adam", "sgd", "rmsprop")),
            "shape": neps.Categorical(((1, 2), (3,))),
            "momentum": neps.Float(0.0, 0.99),
            "epochs": neps.IntegerFidelity(1, 9),
            "seed": neps.Constant(3),
        },
        conditions={"momentum": Equals("optimizer", "sgd")},
    )


def _configs(n: int) -> list[dict]:
    rng = np.random.default_rng(4)
    space = _space()
    return [space.sample(rng) for _ in range(n)]


def test_columns_bounds_and_categorical_dimensions() -> None:
    encoder = ConfigEncoder.from_space(_space())
    assert encoder.names == ("lr", "dropout", "units", "layers", "optimizer", "shape", "momentum")
    assert encoder.n_dims == 7
    assert encoder.categorical_dims == {4: 3, 5: 2}
    assert encoder.numerical_dims == [0, 1, 2, 3, 6]
    np.testing.assert_array_equal(encoder.bounds, [[0] * 7, [1, 1, 1, 1, 2, 1, 1]])
    with_fidelity = ConfigEncoder.from_space(_space(), include_fidelity=True)
    assert with_fidelity.names[-1] == "epochs" and with_fidelity.n_dims == 8


def test_encoding_is_the_unit_interval_log_aware() -> None:
    encoder = ConfigEncoder.from_space(_space())
    config = {
        "lr": 1e-3,
        "dropout": 0.25,
        "units": 16,
        "layers": 4,
        "optimizer": "sgd",
        "shape": 1,
        "momentum": 0.0,
        "epochs": 9,
        "seed": 3,
    }
    row = encoder.encode(config)[0]
    assert row[0] == pytest.approx(0.5)  # 1e-3 is halfway between 1e-5 and 1e-1 in log space
    assert row[1] == pytest.approx(0.5)
    assert 0.0 < row[2] < 0.1 and row[3] == pytest.approx(7 / 8)  # integers centre their share
    assert row[4] == 1.0 and row[5] == 1.0 and row[6] == 0.0


def test_round_trip_of_configurations() -> None:
    configs = _configs(200)
    encoder = ConfigEncoder.from_space(_space())
    encoded = encoder.encode(configs)
    assert encoded.shape == (200, 7)
    assert np.isnan(encoded[:, 6]).any() and not np.isnan(encoded[:, :6]).any()
    decoded = encoder.decode(encoded)
    for original, back in zip(configs, decoded, strict=True):
        assert set(back) == set(original)
        for name, value in original.items():
            if isinstance(value, float):
                assert math.isclose(back[name], value, rel_tol=1e-9, abs_tol=1e-12)
            else:
                assert back[name] == value
        _space().validate_config(back)
    np.testing.assert_allclose(encoder.encode(decoded), encoded, equal_nan=True)


def test_any_point_in_the_bounds_decodes_to_a_valid_configuration() -> None:
    space = _space()
    encoder = ConfigEncoder.from_space(space)
    rng = np.random.default_rng(0)
    low, high = encoder.bounds
    points = rng.uniform(low - 0.3, high + 0.3, size=(300, encoder.n_dims))
    points[::7, 6] = np.nan  # a model may leave an inactive column empty
    for config in encoder.decode(points, fidelity="min"):
        space.validate_config(config)
        assert config["epochs"] == 1 and config["seed"] == 3


def test_a_single_row_decodes_to_a_list_of_one() -> None:
    encoder = ConfigEncoder.from_space(_space())
    row = encoder.encode(_configs(1)[0])[0]
    assert len(encoder.decode(row)) == 1
    with pytest.raises(ValueError, match="columns"):
        encoder.decode(np.zeros((2, 3)))


def test_structural_spaces_cannot_be_encoded() -> None:
    space = neps.PipelineSpace({"x": neps.Float(0, 1), "block": neps.Operation(dict)})
    with pytest.raises(ValueError, match="'block'"):
        ConfigEncoder.from_space(space)


@pytest.mark.parametrize(
    "parameter",
    [neps.Integer(2**53 + 1, 2**53 + 7, log=True), neps.Float(1e10, 1e10 + 1e-5, log=True)],
    ids=["integer", "float"],
)
def test_a_log_range_whose_logs_are_one_float_is_mapped_linearly(
    parameter: neps.Integer | neps.Float,
) -> None:
    # log(upper) - log(lower) rounds to 0.0: to_unit divided by it (ZeroDivisionError in BO)
    assert parameter.to_unit(parameter.lower) < parameter.to_unit(parameter.upper) <= 1.0
    bounds = (parameter.lower, parameter.upper)
    assert (parameter.from_unit(0.0), parameter.from_unit(1.0)) == bounds
    encoder = ConfigEncoder.from_space(neps.PipelineSpace({"n": parameter}))
    encoded = encoder.encode([{"n": parameter.lower}, {"n": parameter.upper}])
    assert encoder.decode(encoded) == [{"n": parameter.lower}, {"n": parameter.upper}]


@pytest.mark.parametrize("width", [60, 1000])
def test_a_log_integer_whose_logs_are_a_few_floats_apart_reaches_every_value(width: int) -> None:
    # Only logs that were one float fell back to linear: 2**53 + 1 .. 2**53 + 60 reached 3.
    parameter = neps.Integer(2**53 + 1, 2**53 + width, log=True)
    reached = {parameter.from_unit(i / (4 * width)) for i in range(4 * width + 1)}
    assert reached == set(range(parameter.lower, parameter.upper + 1))


def test_a_log_float_whose_logs_are_a_few_floats_apart_reaches_its_floats() -> None:
    parameter = neps.Float(1e308, 1.0000000000001e308, log=True)  # ~500 floats; logs gave 3
    assert len({parameter.from_unit(i / 1000) for i in range(1001)}) > 400


def test_an_ordinary_log_range_keeps_its_log_scale() -> None:
    parameter = neps.Float(1e-4, 1.0, log=True)
    assert math.isclose(parameter.from_unit(0.5), 1e-2)
    assert neps.Integer(1000, 1010, log=True).to_unit(1000) == pytest.approx(
        (math.log(1000) - math.log(999.5)) / (math.log(1010.5) - math.log(999.5))
    )


def test_a_narrow_log_integer_gives_each_value_an_equal_share() -> None:
    parameter = neps.Integer(2**53 + 1, 2**53 + 7, log=True)
    values = range(parameter.lower, parameter.upper + 1)
    assert [parameter.to_unit(v) for v in values] == [(i + 0.5) / 7 for i in range(7)]
    assert [parameter.from_unit(parameter.to_unit(v)) for v in values] == list(values)
