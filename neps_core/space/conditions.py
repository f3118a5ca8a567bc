"""Conditions and forbidden clauses over a space's top-level parameters (as in ConfigSpace).

A *condition* makes a parameter active only when it holds, e.g. ``momentum`` only when
``optimizer == "sgd"``; an inactive parameter is absent from the configuration. A *forbidden
clause* excludes every configuration for which it holds. Both are small expressions::

    Equals("optimizer", "sgd")          In("depth", (2, 3))
    NotEquals("optimizer", "adam")      GreaterThan("layers", 4)    LessThan("lr", 0.1)
    And(clause, clause, ...)            Or(clause, clause, ...)
    Relation("min_units", "<", "max_units")   # two parameters compared

A clause over a parameter that is absent (inactive) is false, so a child of an inactive
parent is inactive too, and a forbidden clause only bites when all its parameters are active.
Ordered comparisons of a ``Categorical`` compare positions in its choices (ConfigSpace's
ordinals).
"""

from __future__ import annotations

import abc
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from neps_core.space.parameters import (
    Categorical,
    Constant,
    Numerical,
    Parameter,
    is_plain_data,
)

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}


class Clause(abc.ABC):
    """A boolean expression over the values of top-level parameters."""

    @abc.abstractmethod
    def names(self) -> set[str]:
        """The parameters the clause reads."""

    @abc.abstractmethod
    def holds(self, values: Mapping[str, Any], parameters: Mapping[str, Parameter]) -> bool:
        """Whether the clause is true for ``values`` (absent parameters make atoms false)."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """The plain (YAML/JSON) form, read back by ``clause_from_description``."""

    def problems(self, parameters: Mapping[str, Parameter]) -> list[str]:
        """What is wrong with the clause in a space with ``parameters``."""
        return [f"unknown parameter {name!r}" for name in sorted(self.names() - set(parameters))]


def _value_kinds(parameter: Any) -> set[str]:
    """Whether ``parameter``'s values are numbers (bools too) or text: ``"<"`` between the
    two fails. Empty where unknown (operations, choices stored as indices)."""
    if isinstance(parameter, Numerical):
        return {"number"}
    values: tuple[Any, ...] = ()
    if isinstance(parameter, Categorical) and not parameter.indexed:
        values = parameter.choices
    elif isinstance(parameter, Constant):
        values = (parameter.value,)
    return {"number" if isinstance(v, int | float) else "text" for v in values if _plain(v)}


def _plain(value: Any) -> bool:
    return isinstance(value, int | float | str)


def _comparable(value: Any, parameter: Parameter) -> Any:
    """Categoricals compare by position in their choices; numbers as they are."""
    if isinstance(parameter, Categorical):
        return parameter.index_of(value)
    return value


@attrs.frozen
class _Atom(Clause):
    """``<name> <op> <value>``."""

    symbol: ClassVar[str] = "=="
    key: ClassVar[str] = "eq"
    name: str
    value: Any

    def names(self) -> set[str]:
        return {self.name}

    def holds(self, values: Mapping[str, Any], parameters: Mapping[str, Parameter]) -> bool:
        if self.name not in values:
            return False
        parameter = parameters[self.name]
        left, right = _comparable(values[self.name], parameter), _comparable(self.value, parameter)
        if left is None or right is None:
            return False
        return bool(_ORDER[self.symbol](left, right))

    def describe(self) -> dict[str, Any]:
        return {self.key: [self.name, self.value]}

    def problems(self, parameters: Mapping[str, Parameter]) -> list[str]:
        problems = super().problems(parameters)
        parameter = parameters.get(self.name)
        if not is_plain_data(self.value):  # such choices are stored by index: none compares
            problems.append(
                f"compares with {self.value!r}, which is not plain data (clauses compare "
                "numbers, strings, booleans and None; a categorical of tuples or objects "
                "cannot be compared)"
            )
            return problems
        contains = getattr(parameter, "contains", None)  # an Operation has none: not plain,
        if contains is not None and not contains(self.value):  # which the space reports
            problems.append(f"{self.value!r} is not a value of {self.name!r}")
        return problems


class Equals(_Atom):
    """``name == value``."""


class NotEquals(_Atom):
    """``name != value``."""

    symbol: ClassVar[str] = "!="
    key: ClassVar[str] = "ne"


class GreaterThan(_Atom):
    """``name > value`` (position in the choices for a ``Categorical``)."""

    symbol: ClassVar[str] = ">"
    key: ClassVar[str] = "gt"


class LessThan(_Atom):
    """``name < value`` (position in the choices for a ``Categorical``)."""

    symbol: ClassVar[str] = "<"
    key: ClassVar[str] = "lt"


def _to_tuple(values: Any) -> tuple[Any, ...]:
    return tuple(values)


@attrs.frozen
class In(Clause):
    """``name in values``."""

    name: str
    values: tuple[Any, ...] = attrs.field(converter=_to_tuple)

    def names(self) -> set[str]:
        return {self.name}

    def holds(self, values: Mapping[str, Any], parameters: Mapping[str, Parameter]) -> bool:
        return self.name in values and any(
            Equals(self.name, value).holds(values, parameters) for value in self.values
        )

    def describe(self) -> dict[str, Any]:
        return {"in": [self.name, list(self.values)]}

    def problems(self, parameters: Mapping[str, Parameter]) -> list[str]:
        problems = super().problems(parameters)
        if self.name in parameters:
            for value in self.values:
                problems += Equals(self.name, value).problems(parameters)
        return problems


@attrs.frozen
class Relation(Clause):
    """``left <op> right`` between two parameters (``op`` one of ``==``, ``!=``, ``<``, ``>``)."""

    left: str
    op: str
    right: str

    def names(self) -> set[str]:
        return {self.left, self.right}

    def holds(self, values: Mapping[str, Any], parameters: Mapping[str, Parameter]) -> bool:
        if self.left not in values or self.right not in values:
            return False
        return bool(_ORDER[self.op](values[self.left], values[self.right]))

    def describe(self) -> dict[str, Any]:
        return {"rel": [self.left, self.op, self.right]}

    def problems(self, parameters: Mapping[str, Parameter]) -> list[str]:
        problems = super().problems(parameters)
        if self.op not in _ORDER:
            problems.append(f"unknown relation {self.op!r}; use one of {sorted(_ORDER)}")
        left, right = (_value_kinds(parameters.get(name)) for name in (self.left, self.right))
        mixed = {"number", "text"} <= left or {"number", "text"} <= right
        if (
            self.op in ("<", ">")
            and {"number", "text"} <= (left | right)
            and (mixed or left != right)
        ):
            problems.append(  # found only when a configuration was checked, mid-run
                f"{self.left!r} {self.op} {self.right!r} orders numbers against text"
            )
        return problems


@attrs.frozen(init=False)
class _Junction(Clause):
    key: ClassVar[str] = "and"
    clauses: tuple[Clause, ...]

    def __init__(self, *clauses: Clause) -> None:
        self.__attrs_init__(tuple(clauses))

    def names(self) -> set[str]:
        return set().union(*(clause.names() for clause in self.clauses))

    def describe(self) -> dict[str, Any]:
        return {self.key: [clause.describe() for clause in self.clauses]}

    def problems(self, parameters: Mapping[str, Parameter]) -> list[str]:
        if not self.clauses or not all(isinstance(c, Clause) for c in self.clauses):
            return [f"{type(self).__name__} needs one or more clauses, got {self.clauses!r}"]
        return [problem for clause in self.clauses for problem in clause.problems(parameters)]


class And(_Junction):
    """True when every clause is."""

    def holds(self, values: Mapping[str, Any], parameters: Mapping[str, Parameter]) -> bool:
        return all(clause.holds(values, parameters) for clause in self.clauses)


class Or(_Junction):
    """True when any clause is."""

    key: ClassVar[str] = "or"

    def holds(self, values: Mapping[str, Any], parameters: Mapping[str, Parameter]) -> bool:
        return any(clause.holds(values, parameters) for clause in self.clauses)


_ATOMS: dict[str, type[_Atom]] = {
    cls.key: cls for cls in (Equals, NotEquals, GreaterThan, LessThan)
}


def map_values(clause: Clause, convert: Callable[[str, Any], Any]) -> Clause:
    """``clause`` with each value it compares a parameter with replaced by
    ``convert(name, value)`` (relations compare two parameters: kept)."""
    if isinstance(clause, _Junction):
        return type(clause)(*(map_values(part, convert) for part in clause.clauses))
    if isinstance(clause, In):
        return In(clause.name, [convert(clause.name, value) for value in clause.values])
    if isinstance(clause, _Atom):
        return attrs.evolve(clause, value=convert(clause.name, clause.value))
    return clause


def in_clause_order(clauses: Iterable[Any]) -> list[Any]:
    """Forbidden clauses (or their plain forms) in one order for comparing: each excludes what
    it excludes, so the order they were written in changes no space."""
    return sorted(clauses, key=repr)


def clause_from_description(entry: Any) -> Clause:
    """Read a clause from its plain form, e.g. ``{"eq": ["optimizer", "sgd"]}``."""
    if not isinstance(entry, Mapping) or len(entry) != 1:
        raise ValueError(f"a clause is a mapping with one key, got {entry!r}")
    ((key, arguments),) = entry.items()
    arguments = list(arguments) if isinstance(arguments, Sequence) else [arguments]
    if key in _ATOMS and len(arguments) == 2:
        return _ATOMS[key](str(arguments[0]), arguments[1])
    if key == "in" and len(arguments) == 2 and isinstance(arguments[1], Sequence):
        return In(str(arguments[0]), arguments[1])
    if key == "rel" and len(arguments) == 3:
        return Relation(str(arguments[0]), str(arguments[1]), str(arguments[2]))
    if key in ("and", "or"):
        parts = [clause_from_description(part) for part in arguments]
        return And(*parts) if key == "and" else Or(*parts)
    raise ValueError(
        f"unknown clause {entry!r}; use one of {sorted([*_ATOMS, 'in', 'rel', 'and', 'or'])}"
    )
