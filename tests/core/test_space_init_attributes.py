"""Parameters a space class assigns on ``self`` in its ``__init__`` (NePS's HNASSpace).

NePS reads the class's attributes and the instance's alike; its architecture example declares
every parameter in ``__init__``, without calling ``super().__init__()``. Such a space failed
here with an AttributeError, or, after ``super().__init__()``, ran without those parameters.
"""

from __future__ import annotations

import copy
import itertools
import logging
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neps_core as neps
from neps_core.space.conditions import GreaterThan

# -- one space, declared four ways --------------------------------------------------------------


class NoSuper(neps.PipelineSpace):
    """As NePS's HNASSpace: no ``super().__init__()``."""

    x = neps.Float(0.0, 1.0)

    def __init__(self, lr: bool = True) -> None:
        if lr:
            self.learning_rate = neps.Float(1e-3, 1e-1, log=True)


class SuperFirst(neps.PipelineSpace):
    x = neps.Float(0.0, 1.0)

    def __init__(self) -> None:
        super().__init__()
        self.learning_rate = neps.Float(1e-3, 1e-1, log=True)


class SuperLast(neps.PipelineSpace):
    x = neps.Float(0.0, 1.0)

    def __init__(self) -> None:
        self.learning_rate = neps.Float(1e-3, 1e-1, log=True)
        super().__init__()


class Inherited(NoSuper):
    """A subclass whose ``__init__`` passes arguments to its parent's."""

    def __init__(self) -> None:
        super().__init__(lr=True)
        self.x = neps.Float(0.0, 1.0)  # replaces the class attribute, in its place


SPACES: list[Callable[[], neps.PipelineSpace]] = [NoSuper, SuperFirst, SuperLast, Inherited]
EXPECTED = neps.PipelineSpace(
    {"x": neps.Float(0.0, 1.0), "learning_rate": neps.Float(1e-3, 1e-1, log=True)}
)


def _evaluate(x: float, learning_rate: float) -> float:
    assert 1e-3 <= learning_rate <= 1e-1
    return x * learning_rate


@pytest.mark.parametrize("make", SPACES, ids=[make.__name__ for make in SPACES])
def test_parameters_set_in_init_are_searched_and_the_run_continues(
    tmp_path: Path, make: Callable[[], neps.PipelineSpace]
) -> None:
    space = make()
    assert space == EXPECTED and list(space.parameters) == ["x", "learning_rate"]
    root = tmp_path / "run"
    neps.run(_evaluate, make(), root_directory=root, evaluations_to_spend=2)
    summary = neps.run(_evaluate, make(), root_directory=root, evaluations_to_spend=4)
    assert summary.counts["success"] == 4  # the second run's space matched the saved one
    assert neps.load_pipeline_space(root) == EXPECTED
    assert set(neps.load_config(root, config_id=1, pipeline_space=make())) == set(EXPECTED)
    assert neps.status(root).best_config is not None


def test_a_space_whose_init_leaves_a_parameter_out_is_another_space(tmp_path: Path) -> None:
    root = tmp_path / "run"
    neps.run(_evaluate, NoSuper(), root_directory=root, evaluations_to_spend=1)
    assert list(NoSuper(lr=False).parameters) == ["x"]
    with pytest.raises(neps.SpaceMismatchError, match="learning_rate"):
        neps.run(lambda x: x, NoSuper(lr=False), root_directory=root, evaluations_to_spend=2)


def test_names_of_space_members_set_in_init_are_entries_and_keep_the_members(
    tmp_path: Path,
) -> None:
    """As class attributes: ``fidelity`` (a property without setter), ``max_depth`` and
    ``sample`` are parameters, and the space's own members still work."""

    class Boosting(neps.PipelineSpace):
        def __init__(self, fidelities: tuple[int, int]) -> None:
            self.fidelity = neps.IntegerFidelity(*fidelities)
            self.max_depth = neps.Integer(2, 12)
            self.sample = neps.Categorical(("rows", "columns"))

    space = Boosting((1, 9))
    assert list(space.parameters) == ["fidelity", "max_depth", "sample"]
    assert space.fidelity_name == "fidelity" and space.fidelity == neps.IntegerFidelity(1, 9)
    assert isinstance(space.max_depth, int)
    assert set(space.sample(np.random.default_rng(0))) == {"fidelity", "max_depth", "sample"}

    seen: list[int] = []

    def evaluate(fidelity: int, max_depth: int, sample: str) -> float:
        seen.append(fidelity)
        return max_depth / fidelity

    summary = neps.run(
        evaluate,
        Boosting((1, 9)),
        root_directory=tmp_path / "run",
        fidelities_to_spend=20,
        optimizer="successive_halving",
    )
    assert summary.counts["success"] >= 2 and set(seen) <= set(range(1, 10))


def _sequential(*layers: Any) -> tuple[Any, ...]:
    return layers


class Cells(neps.PipelineSpace):
    """The patterns of NePS's HNASSpace: private intermediates resampled into operations,
    helper values that are no parameters, an entry used inside another, a shared one."""

    def __init__(self, channels: int = 16) -> None:
        self._channels = channels  # helpers of the class, not entries
        self._all_ops = itertools.product(("zero", "id"), repeat=2)
        self._valid = [ops for ops in self._all_ops if ops != ("zero", "zero")]
        self._act = neps.Categorical(choices=("relu", "mish"))
        self._block = neps.Operation(
            operator=_sequential, args=(self._act.resample(), neps.Categorical(self._valid))
        )
        self._stage = neps.Categorical(
            choices=(
                neps.Operation(operator=_sequential, args=(self._block.resample(),)),
                neps.Operation(
                    operator=_sequential, args=(self._block.resample(), self._block.resample())
                ),
            )
        )
        self.width = neps.Integer(8, 64)
        self.head_width = self.width  # one value under two names
        self.architecture = neps.Operation(
            operator=_sequential, args=(self._channels, self._stage, self.width)
        )


def test_an_architecture_space_declared_in_init_resolves_and_shares_values() -> None:
    space = Cells()
    assert list(space.parameters) == [
        "_act",
        "_block",
        "_stage",
        "width",
        "head_width",
        "architecture",
    ]
    rng = np.random.default_rng(1)
    for _ in range(20):
        values = space.resolve(space.sample(rng))
        assert set(values) == {"width", "head_width", "architecture"}
        assert values["head_width"] == values["width"] == values["architecture"][2]
        assert values["architecture"][0] == 16 and len(values["architecture"][1]) in (1, 2)


class Grammar(neps.PipelineSpace):
    """References by name to entries set in ``__init__``, recursion included."""

    def __init__(self, depth: int) -> None:
        super().__init__(max_depth=depth)
        self.tree = neps.Categorical(
            choices=(
                (neps.ByName("tree").resample(), neps.Resampled("leaf")),
                (neps.ByName("leaf"),),
            )
        )
        self.leaf = neps.Integer(0, 9)


def test_references_by_name_reach_entries_set_in_init(tmp_path: Path) -> None:
    space = Grammar(depth=3)
    assert space.max_depth == 3 and list(space.parameters) == ["tree", "leaf"]
    trees: list[Any] = []

    def evaluate(tree: tuple[Any, ...], leaf: int) -> float:
        trees.append(tree)
        return float(leaf)

    root = tmp_path / "run"
    neps.run(evaluate, Grammar(depth=3), root_directory=root, evaluations_to_spend=6, seed=2)
    assert neps.run(evaluate, Grammar(depth=3), root_directory=root, evaluations_to_spend=8)
    assert len(trees) == 8 and neps.load_pipeline_space(root) == space
    with pytest.raises(neps.SpaceMismatchError, match="max_depth': saved 3, given 2"):
        neps.run(evaluate, Grammar(depth=2), root_directory=root, evaluations_to_spend=9)


@pytest.mark.parametrize(
    "duplicate", [copy.copy, copy.deepcopy, lambda space: pickle.loads(pickle.dumps(space))]
)
def test_copies_and_pickles_are_the_same_space(duplicate: Callable[[Any], Any]) -> None:
    # Pickling failed for every space (a mappingproxy); NePS pickles a space as its entries.
    space = Cells()
    twin = duplicate(space)
    assert twin == space and list(twin.parameters) == list(space.parameters)
    config = space.sample(np.random.default_rng(3))
    assert twin.resolve(config)["width"] == space.resolve(config)["width"]


def test_an_attribute_that_would_overwrite_the_spaces_state_is_refused() -> None:
    class Clash(neps.PipelineSpace):
        def __init__(self) -> None:
            self._structure = neps.Categorical(("a", "b"))

    with pytest.raises(neps.InvalidParameterError, match=r"'_structure' of Clash.*rename"):
        Clash()


class Token:
    """A helper object without value equality: another one in each instance."""


class Helpers(neps.PipelineSpace):
    """Helper state on ``self`` beside a parameter: only the parameter is an entry."""

    batch_size = 64  # a class attribute: still passed on as a constant

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.lr = neps.Float(1e-4, 1e-1, log=True)
        self.n_classes = n_classes
        self.cache: dict[str, int] = {}
        self.seen = {16, 32}
        self.log = logging.getLogger("helpers")
        self.weights = np.zeros(3)
        self.token = Token()
        self.choices = [neps.Integer(1, 3)]  # a list holding a parameter is no parameter


def test_only_parameters_set_on_self_are_entries_and_runs_continue(tmp_path: Path) -> None:
    space = Helpers()
    assert list(space.parameters) == ["batch_size", "lr"]
    assert space.n_classes == 10 and space.cache == {} and space.seen == {16, 32}
    assert isinstance(space.token, Token) and space.weights.shape == (3,)

    def evaluate(batch_size: int, lr: float) -> float:
        return lr * batch_size

    root = tmp_path / "run"
    neps.run(evaluate, Helpers(), root_directory=root, evaluations_to_spend=2)
    summary = neps.run(evaluate, Helpers(3), root_directory=root, evaluations_to_spend=3)
    assert summary.counts["success"] == 3  # another Token, n_classes: the same space
    assert neps.run(evaluate, None, root_directory=root, evaluations_to_spend=4)


def test_the_space_is_usable_in_init_after_super_and_later_parameters_are_added() -> None:
    seen: list[Any] = []

    class UsesSelf(neps.PipelineSpace):
        x = neps.Float(0.0, 1.0)

        def __init__(self) -> None:
            self.epochs = neps.IntegerFidelity(1, 9)
            super().__init__(max_depth=3)
            seen.extend([len(self), list(self.parameters), self.max_depth, repr(self)])
            self.fidelity_name_seen = self.fidelity_name
            self.y = neps.Integer(1, 4)
            self.sample = neps.Categorical(("rows", "columns"))

    space = UsesSelf()
    assert seen[:3] == [2, ["x", "epochs"], 3] and seen[3].startswith("UsesSelf(x=")
    assert space.fidelity_name_seen == "epochs"
    assert list(space.parameters) == ["x", "epochs", "y", "sample"]
    assert space.max_depth == 3 and space.fidelity_name == "epochs"
    assert set(space.sample(np.random.default_rng(0))) == {"x", "epochs", "y", "sample"}


def test_options_given_to_super_may_name_parameters_assigned_later() -> None:
    class Later(neps.PipelineSpace):
        x = neps.Float(0.0, 1.0)

        def __init__(self) -> None:
            super().__init__(conditions={"y": GreaterThan("x", 0.5)})  # built when y is set
            self.y = neps.Integer(1, 4)

    space = Later()
    assert list(space.parameters) == ["x", "y"] and list(space.conditions) == ["y"]
    assert space.active_part({"x": 0.2, "y": 3}) == {"x": 0.2}


class Mixin:
    """A mixin whose ``__init__`` sets a parameter after ``super().__init__()``."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.w = neps.Integer(1, width)


class WithMixin(Mixin, neps.PipelineSpace):
    x = neps.Float(0.0, 1.0)


class BelowMixin(WithMixin):
    """Inherits the wrapped ``__init__`` of ``WithMixin``."""


class OuterMixin:
    def __init__(self) -> None:
        super().__init__(width=8)  # type: ignore[call-arg]
        self.z = neps.Integer(0, len(self))  # type: ignore[arg-type]


class Chain(OuterMixin, WithMixin):
    pass


def test_parameters_set_by_a_mixins_init_are_entries_and_no_init_is_wrapped_twice() -> None:
    assert list(WithMixin().parameters) == ["x", "w"]
    assert WithMixin(width=6).parameters["w"] == neps.Integer(1, 6)
    assert list(BelowMixin().parameters) == ["x", "w"]
    assert BelowMixin.__init__ is WithMixin.__init__
    assert WithMixin.__init__.__wrapped__ is Mixin.__init__  # type: ignore[misc]
    assert Chain.__init__.__wrapped__ is OuterMixin.__init__  # type: ignore[misc]
    chain = Chain()  # len(self) in OuterMixin: built by super().__init__(), before w
    assert list(chain.parameters) == ["x", "w", "z"]
    assert chain.parameters["w"] == neps.Integer(1, 8) and chain.parameters["z"] == neps.Integer(
        0, 1
    )


def test_an_invalid_parameter_set_in_init_is_named() -> None:
    class Bad(neps.PipelineSpace):
        def __init__(self) -> None:
            self.lr = neps.Float(1e-3, 1e-1, log=True)
            self.sizes = neps.Categorical(())

    with pytest.raises(neps.InvalidParameterError, match="'sizes'"):
        Bad()


SCRIPT = textwrap.dedent(
    """
    import sys
    import neps_core as neps


    class Space(neps.PipelineSpace):
        def __init__(self, upper):
            self.x = neps.Float(0.0, upper)
            self._layers = neps.Integer(1, 4)
            self.layers = neps.Operation(operator=list, args=((self._layers, "relu"),))


    def evaluate_pipeline(x, layers):
        return x * layers[0]


    if __name__ == "__main__":
        neps.run(evaluate_pipeline, Space(upper=2.0), root_directory="results",
                 evaluations_to_spend=int(sys.argv[1]), optimizer="random_search",
                 evaluator={"name": "process_pool", "n_workers": 2})
    """
)


def test_a_script_space_declared_in_init_runs_in_a_process_pool_and_continues(
    tmp_path: Path,
) -> None:
    (tmp_path / "train.py").write_text(SCRIPT, encoding="utf-8")
    for budget in (2, 4):
        done = subprocess.run(
            [sys.executable, "train.py", str(budget)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert neps.status(tmp_path / "results").counts["success"] == 4
