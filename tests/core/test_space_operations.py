"""Operations, resampling, intermediate entries and decision-path configurations.

What a structural space promises: ``evaluate_pipeline`` receives called operations (shared
ones once, resampled ones anew), configurations are plain mappings of decision paths that
survive YAML, and a run can be reloaded from disk into exactly what was evaluated.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import neps_core as neps
from neps_core.errors import NepsCoreError
from neps_core.space import describe_space, space_from_description


class Layer:
    """A stand-in for a network layer: remembers how it was built."""

    def __init__(self, width: int = 1, activation: str = "relu") -> None:
        self.width = width
        self.activation = activation

    def __repr__(self) -> str:
        return f"Layer({self.width}, {self.activation})"


def pack(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """An operator that returns what it was called with."""
    return args, kwargs


def _samples(space: neps.PipelineSpace, n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


# -- the seed's examples ----------------------------------------------------------------------
class NNSpace(neps.PipelineSpace):
    _relu = neps.Operation(operator=torch.nn.ReLU)
    _sigmoid = neps.Operation(operator=torch.nn.Sigmoid)
    activation_function = neps.Categorical(choices=(_relu, _sigmoid))
    batch_size = neps.Categorical(choices=(16, 32, 64))
    _layer_size = neps.Integer(lower=80, upper=100)
    hidden_layer = neps.Operation(
        operator=torch.nn.Linear,
        kwargs={"in_features": 64, "out_features": _layer_size},
    )


class CNNSpace(neps.PipelineSpace):
    _kernel_size = neps.Integer(lower=5, upper=8)
    _cell_block = neps.Operation(
        operator=torch.nn.Conv2d,
        kwargs={"in_channels": 3, "out_channels": 3, "kernel_size": _kernel_size.resample()},
    )
    cnn = neps.Operation(
        operator=torch.nn.Sequential,
        args=(_cell_block.resample(), _cell_block.resample(), _cell_block.resample()),
    )


def test_seed_nn_space_passes_called_operations(root: Path) -> None:
    seen: list[dict[str, Any]] = []

    def evaluate_pipeline(
        activation_function: torch.nn.Module, batch_size: int, hidden_layer: torch.nn.Linear
    ) -> float:
        seen.append({"act": activation_function, "batch": batch_size, "layer": hidden_layer})
        model = torch.nn.Sequential(
            hidden_layer, activation_function, torch.nn.Linear(hidden_layer.out_features, 1)
        )
        return float(model(torch.ones(2, 64)).sum().detach())

    neps.run(evaluate_pipeline, NNSpace(), root_directory=root, evaluations_to_spend=6, seed=1)
    assert len(seen) == 6
    for call in seen:
        assert isinstance(call["act"], torch.nn.ReLU | torch.nn.Sigmoid)
        assert isinstance(call["layer"], torch.nn.Linear)
        assert 80 <= call["layer"].out_features <= 100 and call["layer"].in_features == 64
        assert call["batch"] in (16, 32, 64)
    config = yaml.safe_load((root / "configs" / "config_1" / "config.yaml").read_text())
    assert set(config) == {"activation_function", "batch_size", "_layer_size"}
    assert config["activation_function"] in (0, 1)  # operations are stored by index


def test_seed_cnn_cells_are_drawn_independently() -> None:
    space = CNNSpace()
    kernel_paths = [f"cnn.args.{i}.kwargs.kernel_size" for i in range(3)]
    samples = _samples(space, 40)
    for config in samples:
        assert set(kernel_paths) <= set(config)
        space.validate_config(config)
    cnn = space.resolve(samples[0])["cnn"]
    assert isinstance(cnn, torch.nn.Sequential) and len(cnn) == 3
    assert len({id(cell) for cell in cnn}) == 3
    assert [cell.kernel_size[0] for cell in cnn] == [samples[0][p] for p in kernel_paths]
    assert any(len({c[p] for p in kernel_paths}) > 1 for c in samples)  # not one shared draw
    assert cnn(torch.ones(1, 3, 32, 32)).shape[1] == 3


# -- sharing and resampling -------------------------------------------------------------------
class SharingSpace(neps.PipelineSpace):
    x = neps.Float(0.0, 1.0)
    same = neps.Operation(pack, args=(x, x))
    fresh = neps.Operation(pack, args=(x.resample(), x.resample()))
    _block = neps.Operation(Layer, kwargs={"width": neps.Integer(1, 1000)})
    shared_blocks = neps.Operation(pack, args=(_block, _block))
    fresh_blocks = neps.Operation(pack, args=(_block.resample(), _block.resample()))


def test_a_parameter_is_drawn_once_unless_resampled() -> None:
    space = SharingSpace()
    for config in _samples(space, 20):
        values = space.resolve(config)
        assert values["same"] == ((values["x"], values["x"]), {})
        first, second = values["fresh"][0]
        assert first != values["x"] and first != second
        assert config["fresh.args.0"] == first and config["fresh.args.1"] == second
        assert "_block.kwargs.width" in config  # the shared block's own decision


def test_neps_resampled_with_an_entry_name_draws_that_entry_anew() -> None:
    space = neps.PipelineSpace(
        {"x": neps.Float(0.0, 1.0), "pair": neps.Operation(pack, args=(neps.Resampled("x"),) * 2)}
    )
    assert neps.Resampled("x") == neps.ByName("x").resample()
    for config in _samples(space, 5):
        values = space.resolve(config)
        first, second = values["pair"][0]
        assert len({values["x"], first, second}) == 3


def test_a_class_attribute_that_is_another_entry_shares_its_value() -> None:
    """``b = a`` in a class is the parameter ``a`` used twice: drawn once, as in NePS."""

    class Aliased(neps.PipelineSpace):
        a = neps.Float(0.0, 1.0)
        b = a
        c = neps.Integer(1, 9)

    space = Aliased()
    for config in _samples(space, 10):
        assert set(config) == {"a", "c"}  # one decision
        values = space.resolve(config)
        assert values["b"] == values["a"]
    assert space_from_description(describe_space(space)) == space
    # In a dict each key is its own parameter, whatever object defines it.
    shared_range = neps.Float(0.0, 1.0)
    flat = neps.PipelineSpace({"lr_encoder": shared_range, "lr_decoder": shared_range})
    config = flat.sample(np.random.default_rng(0))
    assert config["lr_encoder"] != config["lr_decoder"]


def test_a_shared_operation_is_one_object_and_a_resampled_one_is_new() -> None:
    space = SharingSpace()
    config = _samples(space, 1)[0]
    values = space.resolve(config)
    left, right = values["shared_blocks"][0]
    assert left is right
    new_left, new_right = values["fresh_blocks"][0]
    assert new_left is not new_right and new_left is not left
    assert new_left.width == config["fresh_blocks.args.0.kwargs.width"]


def test_an_object_in_a_space_is_one_object_in_every_trial_and_an_operation_is_new(
    root: Path,
) -> None:
    """As in NePS (its resolver hands objects over uncopied): a module instance given as a
    choice is trained on by every in-process trial; an operation of its class is not."""
    torch.manual_seed(0)

    class Space(neps.PipelineSpace):
        layer = neps.Categorical(choices=(torch.nn.Linear(2, 2, bias=False),))
        fresh = neps.Operation(operator=torch.nn.Linear, args=(2, 2), kwargs={"bias": False})
        x = neps.Float(0.0, 1.0)

    starts: list[tuple[float, float]] = []

    def evaluate_pipeline(layer: torch.nn.Linear, fresh: torch.nn.Linear, x: float) -> float:
        with torch.no_grad():  # "training"
            starts.append((float(layer.weight.sum()), float(fresh.weight.sum())))
            layer.weight.add_(1.0)
            fresh.weight.add_(1.0)
        return x

    neps.run(evaluate_pipeline, Space(), root_directory=root, evaluations_to_spend=3)
    shared = [start for start, _ in starts]
    assert [round(b - a) for a, b in itertools.pairwise(shared)] == [4, 4]  # 4 weights + 1
    assert all(abs(fresh) < 4 for _, fresh in starts)  # Linear(2, 2) starts in (-2.83, 2.83)


def test_underscore_entries_are_not_passed_on() -> None:
    space = SharingSpace()
    config = _samples(space, 1)[0]
    assert "_block" not in space.resolve(config)
    assert set(space.resolve(config)) == {"x", "same", "fresh", "shared_blocks", "fresh_blocks"}


class OnlyResampledSpace(neps.PipelineSpace):
    _width = neps.Integer(1, 1000)
    first = neps.Operation(Layer, kwargs={"width": _width.resample()})
    second = neps.Operation(Layer, kwargs={"width": _width.resample()})


def test_an_entry_used_only_resampled_makes_no_decision_of_its_own() -> None:
    """Its own draw would change nothing evaluated, yet tell configurations apart."""
    space = OnlyResampledSpace()
    config = _samples(space, 1)[0]
    assert set(config) == {"first.kwargs.width", "second.kwargs.width"}
    space.validate_config(config)
    stored_by_an_older_version = {**config, "_width": 7}
    space.validate_config(stored_by_an_older_version)
    assert space.active_part(stored_by_an_older_version) == config
    with pytest.raises(ValueError, match="_widht"):
        space.validate_config({**config, "_widht": 7})


def test_resampling_twice_is_resampling_once() -> None:
    x = neps.Float(0.0, 1.0)
    assert x.resample().resample() == x.resample()


def test_inline_parameters_are_decided_where_they_are_used() -> None:
    space = neps.PipelineSpace(
        {"layer": neps.Operation(Layer, args=(neps.Integer(1, 9),), kwargs={"activation": "tanh"})}
    )
    config = _samples(space, 1)[0]
    assert set(config) == {"layer.args.0"}
    layer = space.resolve(config)["layer"]
    assert layer.width == config["layer.args.0"] and layer.activation == "tanh"


HIDDEN = neps.Integer(16, 128)  # one object, used by two layers below: NePS draws it once


def test_a_number_object_used_twice_without_being_an_entry_is_refused() -> None:
    """Each use was its own decision: an autoencoder's decoder did not fit its encoder."""

    class AutoEncoder(neps.PipelineSpace):
        encoder = neps.Operation(Layer, kwargs={"width": HIDDEN})
        decoder = neps.Operation(pack, kwargs={"in_width": HIDDEN})

    expected = (
        r"Parameter 'encoder.kwargs.width': the same Integer object is also used at "
        r"'decoder.kwargs.in_width' without being an entry.*make it an entry"
    )
    with pytest.raises(neps.space.InvalidParameterError, match=expected):
        AutoEncoder()

    class Shared(neps.PipelineSpace):  # the way to share it
        _width = HIDDEN
        encoder = neps.Operation(Layer, kwargs={"width": _width})
        decoder = neps.Operation(pack, kwargs={"in_width": _width})

    for config in _samples(Shared(), 5):
        values = Shared().resolve(config)
        assert values["encoder"].width == values["decoder"][1]["in_width"]
    with pytest.raises(neps.space.InvalidParameterError, match="also used at 'decoder"):
        Shared().remove("_width")  # its uses would have drawn a value each, silently


def test_every_place_a_decision_is_drawn_counts_as_sampling_finds_them() -> None:
    """An operation used twice draws what is inside it twice, within a resampled copy too;
    a categorical of operations is a decision too (all were drawn apart). Each resampled
    copy draws its inside anew, on its own."""
    width = neps.Integer(1, 9)
    block = neps.Operation(Layer, kwargs={"width": width})
    refused = {
        "pair.args.1.kwargs.width": {"pair": neps.Operation(pack, args=(block, block))},
        "net.args.0.args.1.kwargs.in_width": {  # twice inside one resampled block
            "net": neps.Operation(
                pack,
                args=(
                    neps.Operation(
                        pack,
                        args=(
                            neps.Operation(pack, kwargs={"out_width": width}),
                            neps.Operation(pack, kwargs={"in_width": width}),
                        ),
                    ).resample(),
                ),
            )
        },
        "b.args.0": {
            "a": neps.Operation(pack, args=(act := neps.Categorical((neps.Operation(pack),)),)),
            "b": neps.Operation(pack, args=(act,)),
        },
    }
    lr = neps.Float(1e-4, 1e-1, log=True)
    refused["outside.args.0"] = {  # in a choice and outside the categorical: both drawn
        "optimizer": neps.Categorical((neps.Operation(pack, kwargs={"lr": lr}), "none")),
        "outside": neps.Operation(pack, args=(lr,)),
    }
    for second, entries in refused.items():
        with pytest.raises(neps.space.InvalidParameterError, match=re.escape(f"{second!r}")):
            neps.PipelineSpace(entries)
    fine = neps.PipelineSpace(
        {
            "fresh": neps.Operation(pack, args=(block.resample(), block.resample())),
            "values": neps.Operation(pack, args=(width.resample(), width.resample())),
            "copies": neps.Operation(pack, args=(block.resample(),) * 3),  # each draws anew
            "again": block,  # a dict's keys are parameters of their own, one object or not
            "again_too": block,
            "plain": neps.Operation(pack, args=(neps.Operation(Layer),) * 2),  # no decision
            "optimizer": neps.Categorical(  # one choice at a time: never drawn twice (review)
                (neps.Operation(pack, kwargs={"lr": lr}), neps.Operation(Layer, args=(lr,)))
            ),
            "pair_choice": neps.Categorical(((size := neps.Integer(1, 3), "a"), (size, "b"))),
        }
    )
    assert len(fine.parameters) == 8

    cell = neps.Operation(pack, args=(neps.ByName("expr").resample(),))

    op = neps.Categorical(("+", "*"))  # an operator shared by two rules of the grammar

    class Grammar(neps.PipelineSpace):  # a production used twice, as grammars do
        expr = neps.Categorical(
            (
                neps.Operation(pack, args=(cell, cell)),
                neps.Operation(pack, args=(neps.ByName("expr").resample(), op)),
                neps.Operation(pack, args=(op,)),
            )
        )

    assert _samples(Grammar(), 3)


# -- categoricals over structure --------------------------------------------------------------
def test_categorical_over_tuples_stores_the_index() -> None:
    space = neps.PipelineSpace(
        {"shape": neps.Categorical(choices=((1, 2), (3,))), "plain": neps.Categorical(("a", "b"))}
    )
    for config in _samples(space, 10):
        assert config["shape"] in (0, 1) and config["plain"] in ("a", "b")
        assert space.resolve(config)["shape"] == ((1, 2), (3,))[config["shape"]]


def test_categorical_over_tuples_of_parameters_and_operations() -> None:
    width = neps.Integer(1, 9)
    space = neps.PipelineSpace(
        {
            "body": neps.Categorical(
                choices=(
                    (width.resample(), neps.Operation(Layer, kwargs={"width": width})),
                    (neps.Float(0.0, 1.0),),
                )
            ),
            "width": width,
        }
    )
    configs = _samples(space, 30)
    assert {c["body"] for c in configs} == {0, 1}
    for config in configs:
        space.validate_config(config)
        body = space.resolve(config)["body"]
        if config["body"] == 0:
            assert set(config) == {"body", "body[0].0", "width"}
            assert body[0] == config["body[0].0"] and body[1].width == config["width"]
        else:
            assert set(config) == {"body", "body[1].0", "width"}
            assert body == (config["body[1].0"],)


def test_the_operator_itself_can_be_searched() -> None:
    space = neps.PipelineSpace(
        {"op": neps.Operation(neps.Categorical(choices=(Layer, pack)), kwargs={"width": 3})}
    )
    kinds = set()
    for config in _samples(space, 20):
        value = space.resolve(config)["op"]
        kinds.add(type(value).__name__)
        assert value.width == 3 if isinstance(value, Layer) else value == ((), {"width": 3})
    assert kinds == {"Layer", "tuple"}


class GrammarSpace(neps.PipelineSpace):
    """NePS's named operators: the pipeline arrives as text, for a grammar-like search."""

    _act = neps.Categorical(choices=(neps.Operation("ReLU"), neps.Operation("GELU")))
    width = neps.Integer(8, 64)
    model = neps.Operation(
        "Sequential",
        args=(neps.Operation("Linear", args=(neps.ByName("width"),)), neps.ByName("_act")),
        kwargs={"name": "mlp"},
    )
    cell = neps.Operation(neps.Categorical(choices=("conv3x3", "conv5x5")), kwargs={"bias": True})


def test_named_operators_give_the_operation_as_text(root: Path) -> None:
    received: list[tuple[str, str]] = []

    def evaluate_pipeline(model: str, cell: str, width: int) -> float:
        received.append((model, cell))
        return float(width)

    neps.run(evaluate_pipeline, GrammarSpace(), root_directory=root, evaluations_to_spend=6)
    for model, cell in received:
        assert re.fullmatch(r"Sequential\(Linear\(\d+\), (ReLU|GELU)\(\), name='mlp'\)", model)
        assert cell in ("conv3x3(bias=True)", "conv5x5(bias=True)")
    described = describe_space(GrammarSpace())
    restored = space_from_description(yaml.safe_load(yaml.safe_dump(described)))
    assert restored == GrammarSpace()  # saved with the run: a continuation reloads it
    summary = neps.run(evaluate_pipeline, root_directory=root, evaluations_to_spend=8)
    assert summary.best_pipeline is not None
    assert summary.best_pipeline["model"] == received[int(summary.best_trial.id) - 1][0]


# -- invalid constructions name the parameter -------------------------------------------------
def test_invalid_operations_name_the_parameter() -> None:
    with pytest.raises(ValueError, match=r"'block'.*operator must be a callable"):

        class NotCallable(neps.PipelineSpace):
            block = neps.Operation(operator=5)

    with pytest.raises(ValueError, match=r"'block'.*non-empty name, got ' '"):
        neps.PipelineSpace({"block": neps.Operation(operator=" ")})

    with pytest.raises(ValueError, match=r"'block'.*kwargs"):

        class BadKwargs(neps.PipelineSpace):
            block = neps.Operation(operator=Layer, kwargs={"not an identifier": 1})

    with pytest.raises(ValueError, match=r"'block'.*args"):
        neps.PipelineSpace({"block": neps.Operation(operator=Layer, args=5)})


@pytest.mark.parametrize(
    ("make", "names"),
    [
        (lambda: {"a": neps.ByName("nowhere")}, ["'a'", "nowhere"]),
        (lambda: {"a": neps.Operation(pack, args=(neps.ByName("b").resample(),))}, ["'b'"]),
        (
            lambda: {
                "epochs": neps.IntegerFidelity(1, 9),
                "a": neps.Operation(pack, args=(neps.ByName("epochs").resample(),)),
            },
            ["'a'", "fidelity"],
        ),
        (
            lambda: {"a": neps.Operation(pack, args=(neps.IntegerFidelity(1, 3),))},
            ["'a'", "fidelity"],
        ),
        (lambda: {"a.b": neps.Operation(pack)}, ["'a.b'"]),
        (
            lambda: {"a": neps.Operation(pack, args=(neps.ByName("a"),))},
            ["'a'", "itself", "resample"],
        ),
    ],
    ids=[
        "missing-ref",
        "missing-resample",
        "resampled-fidelity",
        "nested-fidelity",
        "dotted-name",
        "shared-self",
    ],
)
def test_invalid_structures_name_the_parameter(make: Any, names: list[str]) -> None:
    with pytest.raises(ValueError) as caught:
        neps.PipelineSpace(make())
    for name in names:
        assert name in str(caught.value)


def test_resampling_something_that_is_not_a_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="resampled"):
        neps.space.Resampled(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fidelity"):
        neps.IntegerFidelity(1, 5).resample()


# -- configurations: validation, determinism, mutation ----------------------------------------
def test_validate_config_names_the_wrong_decision() -> None:
    space = SharingSpace()
    config = _samples(space, 1)[0]
    space.validate_config(config)
    missing = {k: v for k, v in config.items() if k != "fresh.args.1"}
    with pytest.raises(ValueError, match=r"'fresh\.args\.1'.*missing"):
        space.validate_config(missing)
    with pytest.raises(ValueError, match=r"'x'.*not in"):
        space.validate_config({**config, "x": 3.0})
    with pytest.raises(ValueError, match=r"Unknown.*stray"):
        space.validate_config({**config, "stray": 1})


def test_sampling_is_deterministic_under_a_seed() -> None:
    for space in (SharingSpace(), CNNSpace()):
        assert _samples(space, 5, seed=3) == _samples(space, 5, seed=3)
        assert _samples(space, 5, seed=3) != _samples(space, 5, seed=4)


def test_flat_sampling_draws_the_same_values_as_before_structures_existed() -> None:
    """The flat space's random stream is unchanged: uniform draws use one number each."""
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0), "c": neps.Categorical(("a", "b", "c"))})
    rng, check = np.random.default_rng(5), np.random.default_rng(5)
    config = space.sample(rng)
    assert config["x"] == pytest.approx(check.random())
    assert config["c"] == ("a", "b", "c")[int(check.integers(3))]


def test_mutation_moves_decisions_and_keeps_the_configuration_valid() -> None:
    space = CNNSpace()
    rng = np.random.default_rng(0)
    parent = space.sample(rng)
    children = [space.mutate(parent, rng) for _ in range(30)]
    for child in children:
        space.validate_config(child)
        assert child != parent
        changed = [k for k in child if child[k] != parent[k]]
        assert 1 <= len(changed) <= 3
    assert "_cell_block.kwargs.kernel_size" not in space.mutable_decisions(parent)


def test_a_private_entry_read_by_a_condition_is_mutated() -> None:
    """Only the condition read it: evolution never flipped it, 0 times in 500."""
    from neps_core.space import Equals

    space = neps.PipelineSpace(
        {
            "_use_bn": neps.Categorical((True, False)),
            "width": neps.Integer(4, 64),
            "bn": neps.Operation(Layer, args=(neps.ByName("width"),)),
        },
        conditions={"bn": Equals("_use_bn", True)},
    )
    assert "_use_bn" in space.mutable_decisions({"_use_bn": False, "width": 10})
    rng = np.random.default_rng(0)
    flipped = [space.mutate({"_use_bn": False, "width": 10}, rng)["_use_bn"] for _ in range(50)]
    assert True in flipped


def test_mutation_of_a_choice_redraws_what_lies_below_it() -> None:
    space = neps.PipelineSpace(
        {"body": neps.Categorical(choices=((neps.Float(0.0, 1.0),), (neps.Integer(1, 9),)))}
    )
    rng = np.random.default_rng(1)
    parent = {"body": 0, "body[0].0": 0.5}
    children = [space.mutate(parent, rng, rate=1.0) for _ in range(10)]
    assert all(set(c) == {"body", "body[1].0"} for c in children)


def test_complete_keeps_the_given_decisions() -> None:
    space = SharingSpace()
    rng = np.random.default_rng(2)
    completed = space.complete({"x": 0.25, "fresh.args.0": 0.75, "nonsense": 1}, rng)
    space.validate_config(completed)
    assert completed["x"] == 0.25 and completed["fresh.args.0"] == 0.75
    assert "nonsense" not in completed


def test_readable_view_and_instantiation_errors() -> None:
    space = neps.PipelineSpace(
        {"layer": neps.Operation(Layer, kwargs={"width": neps.Integer(1, 9)})}
    )
    config = {"layer.kwargs.width": 4}
    assert space.readable(config) == {"layer": "Layer(width=4)"}
    broken = neps.PipelineSpace({"layer": neps.Operation(Layer, kwargs={"depth": 3})})
    with pytest.raises(TypeError) as caught:
        broken.resolve({})
    assert "Layer(depth=3)" in "".join(getattr(caught.value, "__notes__", []))


# -- the saved form and reloading -------------------------------------------------------------
def test_structural_descriptions_round_trip_through_yaml() -> None:
    for space in (NNSpace(), CNNSpace(), SharingSpace()):
        described = describe_space(space)
        text = yaml.safe_dump(described, sort_keys=False)  # as runs save it
        restored = space_from_description(yaml.safe_load(text))
        assert describe_space(restored) == described
        assert restored == space
        for config in _samples(space, 5):
            restored.validate_config(config)
            assert restored.readable(config) == space.readable(config)


def test_a_run_reloads_into_exactly_what_was_evaluated(root: Path) -> None:
    received: dict[str, str] = {}

    def evaluate_pipeline(pipeline_id: str, cnn: torch.nn.Sequential) -> float:
        received[pipeline_id] = repr(cnn)
        return float(sum(cell.kernel_size[0] for cell in cnn))

    neps.run(evaluate_pipeline, CNNSpace(), root_directory=root, evaluations_to_spend=4, seed=3)
    assert neps.load_pipeline_space(root) == CNNSpace()
    for trial_id, text in received.items():
        by_id = neps.load_config(root, config_id=f"config_{trial_id}")
        by_path = neps.load_config(root / "configs" / f"config_{trial_id}" / "config.yaml")
        with_space = neps.load_config(root, config_id=trial_id, pipeline_space=CNNSpace())
        assert repr(by_id["cnn"]) == repr(by_path["cnn"]) == repr(with_space["cnn"]) == text
        resolved = yaml.safe_load(
            (root / "configs" / f"config_{trial_id}" / "resolved.yaml").read_text()
        )
        assert resolved["cnn"].startswith("Sequential(Conv2d(")
    # Continuing without the space loads it from disk.
    summary = neps.run(evaluate_pipeline, root_directory=root, evaluations_to_spend=6)
    assert summary.budget.used_evaluations == 6 and len(received) == 6


def test_flat_runs_write_no_resolved_view(root: Path) -> None:
    space = neps.PipelineSpace({"x": neps.Float(0.0, 1.0)})
    neps.run(lambda x: x, space, root_directory=root, evaluations_to_spend=1)
    assert not (root / "configs" / "config_1" / "resolved.yaml").exists()
    assert neps.load_config(root, config_id=1) == yaml.safe_load(
        (root / "configs" / "config_1" / "config.yaml").read_text()
    )


def _lambda_space() -> neps.PipelineSpace:
    return neps.PipelineSpace(
        {"scaled": neps.Operation(lambda v: 2 * v, args=(neps.Float(0.0, 1.0),))}
    )


def test_torch_functions_are_saved_under_a_path_that_imports_back(root: Path) -> None:
    """``torch.sqrt`` was saved as ``torch:_VariableFunctionsClass.sqrt``, which torch lacks:
    NePS's optimizer-search example could not be continued without its space."""
    space = neps.PipelineSpace(
        {"function": neps.Categorical((torch.sqrt, torch.log)), "x": neps.Float(1.0, 2.0)}
    )
    paths = [choice["path"] for choice in describe_space(space)["function"]["choices"]]
    assert paths == ["torch:sqrt", "torch:log"]
    assert space_from_description(describe_space(space)) == space
    neps.run(lambda function, x: float(function(torch.tensor(x))), space,
             root_directory=root, evaluations_to_spend=2)  # fmt: skip
    neps.run(lambda function, x: float(function(torch.tensor(x))),
             root_directory=root, evaluations_to_spend=3)  # fmt: skip
    assert neps.load_pipeline_space(root) == space


def test_a_builtin_bound_method_is_saved_under_its_module_name() -> None:
    """``random.random`` has no module of its own: it was saved as its text, with an address
    that changes per process, so its run could not be continued without its space."""
    space = neps.PipelineSpace({"draw": neps.Categorical((random.random, random.gauss))})
    paths = [choice["path"] for choice in describe_space(space)["draw"]["choices"]]
    assert paths == ["random:random", "random:gauss"]
    assert space_from_description(describe_space(space)) == space
    table = {"a": 1}  # a method of an object no module publishes stays text, as before
    described = describe_space(neps.PipelineSpace({"get": neps.Categorical((table.get,))}))
    assert described["get"]["choices"][0]["type"] == "object"


def test_a_callable_saved_under_its_qualified_name_is_the_same_callable() -> None:
    """Runs saved ``random:Random.uniform`` before paths had to import back (review)."""
    from neps_core.space.nodes import same_description

    def saved(path: str) -> dict[str, str]:
        return {"type": "callable", "path": path}

    assert same_description(saved("random:Random.uniform"), saved("random:uniform"))
    assert not same_description(saved("random:Random.uniform"), saved("random:gauss"))
    assert not same_description(saved("no_such_module:f"), saved("random:uniform"))


def test_a_lambda_operator_cannot_be_reloaded_without_the_space(root: Path) -> None:
    def evaluate(scaled: float) -> float:
        return scaled

    neps.run(evaluate, _lambda_space(), root_directory=root, evaluations_to_spend=2)
    with pytest.raises(NepsCoreError, match=r"'scaled'.*cannot be imported.*pipeline_space"):
        neps.load_pipeline_space(root)
    with pytest.raises(NepsCoreError, match="cannot be imported"):
        neps.load_config(root, config_id=1)
    config = neps.load_config(root, config_id=1, pipeline_space=_lambda_space())
    stored = yaml.safe_load((root / "configs" / "config_1" / "config.yaml").read_text())
    assert math.isclose(config["scaled"], 2 * stored["scaled.args.0"])
    # A continued run works when the space is given, and explains itself when it is not.
    summary = neps.run(evaluate, _lambda_space(), root_directory=root, evaluations_to_spend=3)
    assert summary.budget.used_evaluations == 3
    with pytest.raises(ValueError, match="cannot be imported"):
        neps.run(evaluate, root_directory=root, evaluations_to_spend=4)


def test_a_continued_run_with_a_different_structure_is_refused(root: Path) -> None:
    neps.run(lambda cnn: 0.0, CNNSpace(), root_directory=root, evaluations_to_spend=1)
    other = neps.PipelineSpace({"cnn": neps.Operation(torch.nn.Sequential)})
    with pytest.raises(neps.SpaceMismatchError, match="cnn"):
        neps.run(lambda cnn: 0.0, other, root_directory=root, evaluations_to_spend=2)


def test_grid_search_refuses_structural_spaces(root: Path) -> None:
    with pytest.raises(
        neps.SettingsError, match=r"Parameter '_cell_block': grid_search needs a flat space"
    ):
        neps.run(
            lambda cnn: 0.0,
            CNNSpace(),
            root_directory=root,
            evaluations_to_spend=1,
            optimizer="grid_search",
        )


def attention_block(width: int, heads: int) -> tuple[int, int]:
    if width % heads:
        raise ValueError(f"width {width} is not divisible by heads {heads}")
    return width, heads


class AttentionSpace(neps.PipelineSpace):
    block = neps.Operation(
        attention_block, kwargs={"width": neps.Integer(8, 12), "heads": neps.Categorical((2, 4))}
    )


def test_a_pipeline_that_cannot_be_built_fails_its_trial_only(root: Path) -> None:
    """The operation refused the configuration: a failed trial, not a trial handed back."""
    summary = neps.run(
        lambda block: float(sum(block)),
        AttentionSpace(),
        root_directory=root,
        evaluations_to_spend=8,
        seed=0,
        ignore_errors=True,
    )
    assert summary.counts["failed"] > 0 and summary.counts["pending"] == 0
    assert summary.counts["failed"] + summary.counts["success"] == 8
    reports = [yaml.safe_load(p.read_text()) for p in root.glob("configs/*/report.yaml")]
    errors = [r["error"] for r in reports if r.get("error")]
    assert errors and all("is not divisible by heads" in error for error in errors)
    # The report names the space entry and the operation; it said only the constructor's words.
    assert all("while building the space entry 'block'" in error for error in errors)
    assert all("while calling the operation" in error for error in errors)


def test_without_ignore_errors_an_unbuildable_pipeline_raises_once(root: Path) -> None:
    def run() -> neps.Summary:
        return neps.run(
            lambda block: float(sum(block)),
            AttentionSpace(),
            root_directory=root,
            evaluations_to_spend=30,
            seed=0,
        )

    with pytest.raises(ValueError, match="not divisible") as caught:
        run()
    assert "while building the pipeline of trial" in " ".join(caught.value.__notes__)
    status = neps.status(root)
    assert status.counts["failed"] == 1 and status.counts["pending"] == 0
    # A continuation is not stuck on that trial: it goes on to the next configurations.
    with pytest.raises(ValueError, match="not divisible"):
        run()
    assert neps.status(root).counts["failed"] == 2


def width_of(out_features: int) -> int:
    return out_features


class NestedPriorSpace(neps.PipelineSpace):
    layer = neps.Operation(
        width_of, kwargs={"out_features": neps.Integer(10, 1000, prior=20, prior_confidence="high")}
    )
    epochs = neps.IntegerFidelity(1, 9)


def test_a_prior_inside_an_operation_is_a_prior_of_the_space(root: Path) -> None:
    assert NestedPriorSpace().has_priors
    summary = neps.run(
        lambda layer, epochs: abs(layer - 20) / epochs,
        NestedPriorSpace(),
        root_directory=root,
        fidelities_to_spend=30,
    )
    assert summary.best_trial is not None and summary.best_trial.optimizer == "priorband"
    with pytest.raises(neps.SettingsError, match=r"^optimizer 'pibo' needs a flat space"):
        neps.run(
            lambda layer, epochs: 0.0,
            NestedPriorSpace(),
            root_directory=root / "pibo",
            evaluations_to_spend=1,
            optimizer="pibo",
        )
