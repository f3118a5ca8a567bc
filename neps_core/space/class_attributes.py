"""The entries a ``PipelineSpace`` subclass declares, read as NePS does: class attributes,
then parameters its ``__init__`` assigns on ``self`` (NePS's HNASSpace declares all there).

Parameters are entries; ``b = a`` is the parameter ``a`` used twice, so ``b`` shares its
value; any other public class attribute (``batch_size = 64``) but ``None`` is passed on as a
constant. Methods, properties, ``None`` and names starting with ``_`` that are not parameters
are the class's own business, as is every value set on ``self`` that is not a parameter
(helper state). A parameter set on the instance replaces a class attribute of the same name in
its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neps_core.errors import object_of_type
from neps_core.space.foreign import (
    is_configspace_hyperparameter,
    is_configspace_object,
    is_configuration_space,
)
from neps_core.space.parameters import (
    Constant,
    InvalidParameterError,
    Numerical,
    Parameter,
    constant_problems,
)
from neps_core.space.sharing import refuse_unnamed_sharing
from neps_core.space.structure import ByName, contains_node

#: A subclass's attributes in declaration order, kept where some had to be removed.
_DECLARED = "_declared_attributes"


def unshadow(cls: type, base: type) -> None:
    """Entries named like a member of ``base`` (``max_depth``, ``sample``, ``fidelity``) would
    hide it from the space's own code: remove them from ``cls``, keeping its attributes aside
    in declaration order for ``declared_entries``."""
    declared = dict(vars(cls))
    clashes = [name for name, value in declared.items() if member_clash(name, value, base)]
    if clashes:
        setattr(cls, _DECLARED, declared)
        for name in clashes:
            delattr(cls, name)


#: The attributes a built space keeps its state under (set in ``PipelineSpace.__init__``),
#: which no entry may take.
STATE = frozenset(
    ("_parameters", "_fidelity_name", "_conditions", "_forbidden", "_max_depth", "_structure")
)


def checked_entries(
    space: Any, base: type, parameters: Mapping[str, Parameter] | None
) -> tuple[dict[str, Parameter], str | None]:
    """The declared entries of ``space`` and ``parameters``, checked, and the fidelity's name."""
    declared = declared_entries(space, base)
    merged = {**declared, **(parameters or {})}
    for name, parameter in merged.items():
        parameter.checked(name)
    refuse_unnamed_sharing(merged)
    fidelities = [name for name, p in merged.items() if _is_fidelity(p)]
    if len(fidelities) > 1:
        raise InvalidParameterError(
            f"A space may have one fidelity parameter, found {len(fidelities)}: {fidelities}"
        )
    return merged, fidelities[0] if fidelities else None


def declared_entries(space: Any, base: type) -> dict[str, Parameter]:
    """The entries of ``space``: its class's, then the parameters its ``__init__`` set on it
    (other values set on ``self``, a number or a logger, are ordinary attributes); none may
    take a name of ``STATE``."""
    found = _class_entries(type(space), base)
    for name, value in vars(space).items():
        if not isinstance(value, Parameter):
            continue
        if name in STATE:
            raise InvalidParameterError(
                f"Attribute {name!r} of {type(space).__name__}: {base.__name__} keeps its own "
                "state under this name; rename the attribute"
            )
        found[name] = value  # in the place of a class attribute of that name
    return _shared_by_name(found)


def member_clash(name: str, value: Any, base: type) -> bool:
    """Whether ``name = value`` is an entry that would hide a member of ``base``."""
    return not name.startswith("_") and hasattr(base, name) and _may_be_entry(name, value)


def _class_entries(cls: type, base: type) -> dict[str, Parameter]:
    """The entries declared by ``cls`` and its ancestors below ``base``, in declaration order."""
    found: dict[str, Parameter] = {}
    for klass in reversed(cls.__mro__):
        if klass is base or not issubclass(klass, base):
            continue
        for name, value in vars(klass).get(_DECLARED, vars(klass)).items():
            _add(found, name, value, base, cls)
    return found


def _add(found: dict[str, Parameter], name: str, value: Any, base: type, cls: type) -> None:
    """Record ``name = value`` in ``found`` (or drop ``name``: a subclass may turn an entry
    into a method)."""
    _refuse_nested_space(name, value, base, cls.__name__)
    entry = _entry(name, value)
    if entry is not None:
        found[name] = entry
    else:
        found.pop(name, None)


def _shared_by_name(found: dict[str, Parameter]) -> dict[str, Parameter]:
    """Entries that are one object under several names: each later name refers to the first."""
    first_names: dict[int, str] = {}
    for name, parameter in found.items():
        first = first_names.setdefault(id(parameter), name)
        if first != name:
            found[name] = ByName(first)
    return found


def _may_be_entry(name: str, value: Any) -> bool:
    """Not private values, methods, properties, class and static methods, nor ``None``: NePS
    skips ``checkpoint = None``, an attribute the user's code fills in later (``Constant(None)``
    is the constant ``None``)."""
    if isinstance(value, Parameter):
        return True
    hidden = name.startswith("_") or callable(value) or hasattr(value, "__get__")
    return not (hidden or value is None)


def refuse_mistaken_constant(name: str, value: Any) -> None:
    """Refuse a value that would become a constant only by mistake: a parameter type not
    called (``neps.Float``), a set meant as choices (a set has no order to encode), a
    ConfigSpace object (a hyperparameter is no parameter here; a condition or forbidden
    clause is no parameter at all, so only its space helps), or one no constant may hold
    (NaN). A ``ConfigurationSpace`` reaches here only as a class attribute: a dict merges it
    (``foreign``), a class cannot carry its conditions and forbidden clauses."""
    problems = constant_problems(value)
    if problems:
        raise InvalidParameterError(f"Parameter {name!r} (Constant): {'; '.join(problems)}")
    if is_configuration_space(value):
        raise InvalidParameterError(
            f"Parameter {name!r}: a ConfigurationSpace is no entry of a space class; pass it "
            "to PipelineSpace(...) or run() itself, or as a value of a dict of parameters "
            f"(PipelineSpace({{{name!r}: cs, 'width': Integer(8, 64)}})), whose space it joins"
        )
    if is_configspace_object(value):
        rewrite = "write it with Float(...), Integer(...), Categorical(...) or Constant(...), or "
        raise InvalidParameterError(
            f"Parameter {name!r}: {type(value).__name__} is a ConfigSpace object, not a "
            f"parameter of this space; {rewrite if is_configspace_hyperparameter(value) else ''}"
            "pass the ConfigurationSpace that holds it to PipelineSpace(...) or run()"
        )
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


def refuse_described_non_entry(name: str, value: Any, base: type) -> None:
    """Refuse, as a value of ``PipelineSpace(dict)``, what a space class would not take as a
    constant entry: a mistaken constant, another space (its parameters would go unsampled), or
    anything callable (a class, a function, a loss object: in a space class, a method); a dict
    cannot drop it as a class does."""
    _refuse_nested_space(name, value, base, "MySpace")
    refuse_mistaken_constant(name, value)
    if callable(value):
        raise InvalidParameterError(
            f"Parameter {name!r}: {value!r} is not a parameter; write Constant(...) to pass "
            "it on as it is, or Operation(...) to call it"
        )


def _refuse_nested_space(name: str, value: Any, base: type, owner: str) -> None:
    """A space inside a space would be passed on unsampled, as a constant."""
    if isinstance(value, base):
        space = type(value).__name__
        raise InvalidParameterError(
            f"Parameter {name!r}: the space {space}() inside a space is not an entry; "
            f"subclass it to add its parameters (class {owner}({space}): ...), or use a "
            f"dict: PipelineSpace({{**{space}().parameters, ...}})"
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
            f"Parameter {name!r}: {object_of_type(value)} holding parameters is not an entry; "
            "wrap it in an Operation whose args hold them, or in a Categorical"
        )
    return Constant(value)


def _is_fidelity(parameter: Parameter) -> bool:
    return isinstance(parameter, Numerical) and parameter.is_fidelity
