"""The structural nodes of the space language: `Operation`, `Resampled` and `ByName`.

With them a space describes architectures and whole pipelines, not only flat
hyperparameters: an ``Operation`` is a call (``torch.nn.Linear(64, out_features=...)``)
whose arguments may be parameters; ``.resample()`` draws a parameter or operation anew at
every use; ``ByName("x")`` refers to the space's entry ``x`` before (or while) it is defined,
which is what makes recursive, grammar-like spaces possible.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import attrs

from neps_core.space.parameters import Categorical, Constant, Numerical, Parameter


def _to_args(value: Any) -> tuple[Any, ...]:
    """A list or tuple as a tuple; ``None`` (NePS's default) as none."""
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list | tuple) else value


def _to_kwargs(value: Any) -> Any:
    """A mapping as a dict; ``None`` (NePS's default) as none."""
    if value is None:
        return {}
    return dict(value) if isinstance(value, Mapping) else value


@attrs.frozen(eq=False, repr=False)
class Operation(Parameter):
    """A call of ``operator(*args, **kwargs)``, made when the configuration is resolved.

    ``operator`` is a callable (a class such as ``torch.nn.Linear``, a function) or a space
    node that resolves to one (e.g. a ``Categorical`` of classes). ``args`` and ``kwargs`` may
    hold parameters, other operations and containers of them; ``evaluate_pipeline`` receives
    the object the call returns. An operator that is a name (a string, as NePS allows) is not
    called: ``evaluate_pipeline`` receives the operation as text, ``"Conv(3, act='relu')"``,
    for grammar-like spaces whose result the user builds from that text.
    """

    kind: ClassVar[str] = "operation"
    operator: Any
    args: tuple[Any, ...] = attrs.field(default=(), converter=_to_args)
    kwargs: dict[str, Any] = attrs.field(factory=dict, converter=_to_kwargs)

    def __attrs_post_init__(self) -> None:
        self._validate()

    def problems(self) -> list[str]:
        problems = []
        named = isinstance(self.operator, str) and bool(self.operator.strip())
        if not (named or callable(self.operator) or isinstance(self.operator, Parameter)):
            problems.append(
                "operator must be a callable, a space parameter or a non-empty name, "
                f"got {self.operator!r}"
            )
        if not isinstance(self.args, tuple):
            problems.append(f"args must be a tuple or list, got {type(self.args).__name__}")
        if not isinstance(self.kwargs, dict):
            problems.append(f"kwargs must be a mapping, got {type(self.kwargs).__name__}")
        elif not all(isinstance(key, str) and key.isidentifier() for key in self.kwargs):
            problems.append(f"kwargs keys must be identifiers, got {list(self.kwargs)}")
        return problems

    def __repr__(self) -> str:
        name = self.operator if isinstance(self.operator, str) else None
        name = name or getattr(self.operator, "__qualname__", None) or repr(self.operator)
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Operation({name}({', '.join(parts)}))"


@attrs.frozen(eq=True)
class ByName(Parameter):
    """A reference to the space's entry ``name``, usable before that entry is defined.

    ``ByName("x")`` shares ``x``'s value; ``ByName("x").resample()`` draws ``x`` anew, which
    also works inside ``x``'s own definition (recursion).
    """

    kind: ClassVar[str] = "ref"
    name: str

    def __attrs_post_init__(self) -> None:
        self._validate()

    def problems(self) -> list[str]:
        if not isinstance(self.name, str) or not self.name:
            return [f"ByName needs the name of a space entry, got {self.name!r}"]
        return []


@attrs.frozen(eq=True)
class Resampled(Parameter):
    """``source.resample()``: ``source``'s definition drawn independently at this use.

    NePS's ``Resampled("x")`` names the entry: it is ``ByName("x").resample()``.
    """

    kind: ClassVar[str] = "resample"
    source: Parameter

    def __attrs_post_init__(self) -> None:
        if isinstance(self.source, str):
            object.__setattr__(self, "source", ByName(self.source))
        if isinstance(self.source, Resampled):  # resampling a resample is one resample
            object.__setattr__(self, "source", self.source.source)
        self._validate()

    def problems(self) -> list[str]:
        if not isinstance(self.source, Parameter):
            return [f"only space parameters can be resampled, got {self.source!r}"]
        if isinstance(self.source, Numerical) and self.source.is_fidelity:
            return ["a fidelity parameter cannot be resampled"]
        return []

    @property
    def is_resampling_by_name(self) -> bool:
        """Whether the source is an entry's name (``Resampled("x")``), as NePS's attribute."""
        return isinstance(self.source, ByName)

    def resample(self) -> Resampled:
        return self


def first_structural(parameters: Mapping[str, Any]) -> str | None:
    """The first entry that is not a flat-space parameter: the one an error should name."""
    return next((name for name, node in parameters.items() if not is_leaf(node)), None)


def is_leaf(node: Any) -> bool:
    """Whether ``node`` is a single decision of plain values (a flat-space parameter)."""
    if isinstance(node, Numerical | Constant):
        return True
    return isinstance(node, Categorical) and not any(
        contains_node(choice) for choice in node.choices
    )


def contains_node(value: Any) -> bool:
    """Whether ``value`` is, or holds, a space parameter (so it must be resolved)."""
    if isinstance(value, Parameter):
        return True
    if isinstance(value, list | tuple):
        return any(contains_node(item) for item in value)
    if isinstance(value, dict):
        return any(contains_node(item) for item in value.values())
    return False


def children(node: Any) -> Iterator[Any]:
    """The values directly inside ``node`` that may hold further nodes (not the source of a
    ``Resampled``, which the analyses treat as an edge of its own)."""
    if isinstance(node, Operation):
        yield node.operator
        yield from node.args
        yield from node.kwargs.values()
    elif isinstance(node, Categorical):
        yield from node.choices
    elif isinstance(node, list | tuple):
        yield from node
    elif isinstance(node, dict):
        yield from node.values()


def carries_prior(nodes: Iterable[Any]) -> bool:
    """Whether any of ``nodes`` carries a user prior, also one inside an operation."""
    pending = list(nodes)
    seen: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if getattr(node, "prior", None) is not None:
            return True
        pending.extend(children(node))
        if isinstance(node, Resampled):
            pending.append(node.source)
    return False
