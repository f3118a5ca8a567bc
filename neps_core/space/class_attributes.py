"""The entries a ``PipelineSpace`` subclass declares as class attributes, read as NePS does.

Parameters are entries; ``b = a`` is the parameter ``a`` used twice, so ``b`` shares its
value; any other public value (``batch_size = 64``) is passed on as a constant. Methods,
properties and names starting with ``_`` that are not parameters are the class's own business.
"""

from __future__ import annotations

from typing import Any

from neps_core.space.parameters import (
    Constant,
    InvalidParameterError,
    Parameter,
    constant_problems,
)
from neps_core.space.structure import ByName, contains_node

#: A subclass's attributes in declaration order, kept where some had to be removed.
_DECLARED = "_declared_attributes"


def unshadow(cls: type, base: type) -> None:
    """Entries named like a member of ``base`` (``max_depth``, ``sample``, ``fidelity``) would
    hide it from the space's own code: remove them from ``cls``, keeping its attributes aside
    in declaration order for ``class_entries``."""
    declared = dict(vars(cls))
    clashes = [
        name
        for name, value in declared.items()
        if not name.startswith("_") and hasattr(base, name) and _may_be_entry(name, value)
    ]
    if clashes:
        setattr(cls, _DECLARED, declared)
        for name in clashes:
            delattr(cls, name)


def class_entries(cls: type, base: type) -> dict[str, Parameter]:
    """The entries declared by ``cls`` and its ancestors below ``base``, in declaration order."""
    found: dict[str, Parameter] = {}
    for klass in reversed(cls.__mro__):
        if klass is base or not issubclass(klass, base):
            continue
        for name, value in vars(klass).get(_DECLARED, vars(klass)).items():
            if isinstance(value, base):  # was passed on unsampled, as a constant
                raise InvalidParameterError(
                    f"Parameter {name!r}: the space {type(value).__name__}() inside a space is "
                    f"not an entry; subclass it to add its parameters (class "
                    f"{cls.__name__}({type(value).__name__}): ...), or use a dict: "
                    f"PipelineSpace({{**{type(value).__name__}().parameters, ...}})"
                )
            entry = _entry(name, value)
            if entry is not None:
                found[name] = entry
            else:
                found.pop(name, None)  # a subclass may turn an entry into a method
    first_names: dict[int, str] = {}
    for name, parameter in found.items():
        first = first_names.setdefault(id(parameter), name)
        if first != name:
            found[name] = ByName(first)
    return found


def _may_be_entry(name: str, value: Any) -> bool:
    """Not private values, methods, properties, class and static methods."""
    if isinstance(value, Parameter):
        return True
    return not (name.startswith("_") or callable(value) or hasattr(value, "__get__"))


def refuse_mistaken_constant(name: str, value: Any) -> None:
    """Refuse a value that would become a constant only by mistake: a parameter type not
    called (``neps.Float``), a set meant as choices (a set has no order to encode), or one
    no constant may hold (NaN)."""
    problems = constant_problems(value)
    if problems:
        raise InvalidParameterError(f"Parameter {name!r} (Constant): {'; '.join(problems)}")
    if isinstance(value, type) and issubclass(value, Parameter) and _is_ours(value):
        raise InvalidParameterError(
            f"Parameter {name!r}: {value.__name__} is a parameter type, not a parameter; "
            f"call it with its range or choices, e.g. {value.__name__}(...)"
        )
    if isinstance(value, set | frozenset):
        raise InvalidParameterError(
            f"Parameter {name!r}: a set is not a parameter; for choices write "
            f"Categorical({sorted(value, key=repr)!r}), for a fixed value Constant(...)"
        )


def _is_ours(cls: type) -> bool:
    """Whether ``cls`` is one of neps_core's parameter types (a subclass the user wrote,
    a helper beside the parameters of a space class, is not a mistake)."""
    return cls.__module__.startswith("neps_core.")


def _entry(name: str, value: Any) -> Parameter | None:
    if isinstance(value, Parameter):
        return value
    if not name.startswith("_"):
        refuse_mistaken_constant(name, value)
    if not _may_be_entry(name, value):
        return None
    if contains_node(value):
        raise InvalidParameterError(
            f"Parameter {name!r}: a {type(value).__name__} holding parameters is not an entry; "
            "wrap it in an Operation whose args hold them, or in a Categorical"
        )
    return Constant(value)
