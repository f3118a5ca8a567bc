"""NePS's declarative space form (YAML/JSON) to and from a ``PipelineSpace``.

The same form is read from users' YAML files and written next to every run, so a saved space
is human-readable and round-trips exactly::

    learning_rate: {lower: 1.0e-5, upper: 1.0e-1, log: true, prior: 1.0e-3}
    epochs: {lower: 1, upper: 20, is_fidelity: true}
    optimizer: {choices: [adam, sgd], prior: adam, prior_confidence: high}
    momentum: {lower: 0.0, upper: 0.99, condition: {eq: [optimizer, sgd]}}
    batch_size: 64        # a constant
    activation: [relu, tanh]          # short for {choices: [relu, tanh]}
    layers: [1, 10]                   # short for {lower: 1, upper: 10}; [0.01, 1.0] floats
    $forbidden: [{and: [{eq: [optimizer, adam]}, {gt: [learning_rate, 0.05]}]}]

Structural entries (operations, references, resamples) use the tagged form of
``neps_core.space.nodes``; ``$forbidden`` and ``$max_depth`` hold space-wide settings.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from neps_core.space.analysis import DEFAULT_MAX_DEPTH
from neps_core.space.choices import prior_indices_meant
from neps_core.space.class_attributes import refuse_described_non_entry
from neps_core.space.conditions import Clause, clause_from_description, map_values
from neps_core.space.foreign import adapted, holds_configuration_space
from neps_core.space.legacy import current_keys, prior_of_default
from neps_core.space.naming import described_as
from neps_core.space.nodes import (
    describe_node,
    is_node_form,
    needs_node_form,
    node_from_description,
)
from neps_core.space.parameters import (
    Categorical,
    Constant,
    Float,
    Integer,
    InvalidParameterError,
    Parameter,
)
from neps_core.space.pipeline_space import PipelineSpace

_TYPE_ALIASES = {
    "float": Float,
    "real": Float,
    "int": Integer,
    "integer": Integer,
    "cat": Categorical,
    "categorical": Categorical,
    "const": Constant,
    "constant": Constant,
}
_NUMERIC_KEYS = {"lower", "upper", "log", "prior", "prior_confidence", "is_fidelity"}
_CATEGORICAL_KEYS = {"choices", "prior", "prior_confidence"}
#: What each type cannot do without: named in the error, not Python's missing argument.
_REQUIRED_KEYS: dict[type[Parameter], tuple[str, ...]] = {
    Float: ("lower", "upper"),
    Integer: ("lower", "upper"),
    Categorical: ("choices",),
    Constant: ("value",),
}
FORBIDDEN_KEY = "$forbidden"
MAX_DEPTH_KEY = "$max_depth"


def describe_space(space: PipelineSpace) -> dict[str, Any]:
    """The declarative form of ``space`` (explicit ``type`` on every entry); plain data only."""
    described: dict[str, Any] = {}
    for name, parameter in space.parameters.items():
        if needs_node_form(parameter):
            entry = describe_node(parameter, space.structure, describe_parameter, root=True)
        else:
            entry = describe_parameter(parameter)
        if name in space.conditions:
            entry = {**entry, "condition": space.conditions[name].describe()}
        described[name] = entry
    if space.forbidden:
        described[FORBIDDEN_KEY] = [clause.describe() for clause in space.forbidden]
    if space.max_depth != DEFAULT_MAX_DEPTH:
        described[MAX_DEPTH_KEY] = space.max_depth
    return described


def describe_parameter(parameter: Parameter) -> dict[str, Any]:
    """One parameter's declarative form."""
    if isinstance(parameter, Float | Integer):
        entry: dict[str, Any] = {"type": parameter.kind, "lower": parameter.lower}
        entry.update(upper=parameter.upper, log=parameter.log)
        if parameter.is_fidelity:
            entry["is_fidelity"] = True
    elif isinstance(parameter, Categorical):
        entry = {"type": parameter.kind, "choices": list(parameter.choices)}
    elif isinstance(parameter, Constant):
        return {"type": parameter.kind, "value": parameter.value}
    else:
        raise TypeError(f"{type(parameter).__name__} has no declarative form")
    if getattr(parameter, "prior", None) is not None:
        entry.update(prior=parameter.prior, prior_confidence=parameter.prior_confidence)
    return entry


def space_from_description(description: Mapping[str, Any]) -> PipelineSpace:
    """Build a space from the declarative form; errors name the offending parameter."""
    if not isinstance(description, Mapping):
        raise InvalidParameterError(
            f"A space description must be a mapping of names to parameters, "
            f"got {type(description).__name__}"
        )
    entries = {k: v for k, v in description.items() if k not in _SPACE_KEYS}
    described_conditions: dict[str, Any] = {}
    parameters: dict[str, Parameter] = {}
    for name, given in entries.items():
        entry = given
        if isinstance(given, Mapping) and "condition" in given:
            entry = {k: v for k, v in given.items() if k != "condition"}
            described_conditions[name] = given["condition"]
        parameters[name] = parameter_from_description(name, entry)
    conditions = {
        name: _clause(given, f"Condition of {name!r}", parameters)
        for name, given in described_conditions.items()
    }
    described_forbidden, max_depth = _space_settings(description)
    forbidden = [_clause(c, "Forbidden clause", parameters) for c in described_forbidden]
    return PipelineSpace(
        parameters, conditions=conditions, forbidden=forbidden, max_depth=max_depth
    )


def _space_settings(description: Mapping[str, Any]) -> tuple[Sequence[Any], int | None]:
    """The ``$forbidden`` clauses and ``$max_depth``, checked. Another ``$`` key is refused,
    naming it: a typo (``$forbiden``) was a parameter, and its clauses were never applied."""
    unknown = [
        key
        for key, value in description.items()
        if str(key).startswith("$") and key not in _SPACE_KEYS
        if not isinstance(value, Parameter) and _USER_WRITTEN.get()
    ]
    if unknown:
        raise InvalidParameterError(
            f"Unknown space key(s) {unknown}: a key starting with '$' is a space-wide "
            f"setting, one of {sorted(_SPACE_KEYS)}"
        )
    forbidden = description.get(FORBIDDEN_KEY) or []
    if not isinstance(forbidden, list | tuple):
        raise InvalidParameterError(
            f"{FORBIDDEN_KEY} must be a list of clauses, got {type(forbidden).__name__} "
            f"{forbidden!r}"
        )
    max_depth = description.get(MAX_DEPTH_KEY)
    if max_depth is not None and (not isinstance(max_depth, int) or isinstance(max_depth, bool)):
        raise InvalidParameterError(f"{MAX_DEPTH_KEY} must be a whole number, got {max_depth!r}")
    return forbidden, max_depth


_SPACE_KEYS = {FORBIDDEN_KEY, MAX_DEPTH_KEY}


def described_arguments(
    description: Mapping[Any, Any],
    conditions: Mapping[str, Clause] | None,
    forbidden: Sequence[Clause],
    max_depth: int | None,
) -> tuple[Mapping[str, Parameter], dict[str, Clause], tuple[Clause, ...], int | None]:
    """``PipelineSpace(description, ...)``'s arguments, with ``description`` read as ``run()``
    reads a dict (NePS's declarative forms, or ConfigSpace's spaces, see
    ``neps_core.space.foreign``); the keyword arguments add to what it says."""
    if holds_configuration_space(description):
        space = adapted(description)
    else:
        space = space_from_description(description)
    given = dict(conditions or {})
    for name in sorted(set(space.conditions) & set(given)):  # one would silently replace the other
        raise InvalidParameterError(
            f"Parameter {name!r}: the description gives it the condition "
            f"{space.conditions[name].describe()} and conditions= gives "
            f"{given[name].describe()}; give one (neps_core.space.And(...) if both must hold)"
        )
    return (
        space.parameters,
        {**space.conditions, **given},
        (*space.forbidden, *forbidden),
        space.max_depth if max_depth is None else max_depth,
    )


def _clause(entry: Any, label: str, parameters: Mapping[str, Parameter]) -> Clause:
    try:
        clause = clause_from_description(entry)
        return map_values(clause, lambda name, value: _value_as_read(name, value, parameters))
    except (ValueError, TypeError) as error:
        raise InvalidParameterError(f"{label}: {error}") from error


def _value_as_read(name: str, value: Any, parameters: Mapping[str, Parameter]) -> Any:
    """``value`` of ``name`` in a clause, or the number its text in scientific notation spells
    where the parameter holds that number and not the text: ``yaml.safe_load`` leaves ``1e-3``
    as text in a clause as in the choices, which are read as numbers (``_scientific_text``)."""
    number, contains = _scientific_text(value), getattr(parameters.get(name), "contains", None)
    if number is value or contains is None or contains(value) or not contains(number):
        return value
    return number


def parameter_from_description(name: str, entry: Any) -> Parameter:
    """One parameter from its declarative form: a mapping, a list (NePS's short forms, see
    ``_from_list``), or a bare value for a constant."""
    if isinstance(entry, Parameter):
        return entry.checked(name)
    if isinstance(entry, list | tuple):
        return _from_list(name, entry)
    if not isinstance(entry, Mapping):
        refuse_described_non_entry(name, entry, PipelineSpace)
        return Constant(_scientific_text(entry))
    if is_node_form(entry):
        return _structural_entry(name, entry)
    return _from_mapping(name, entry)


def _from_mapping(name: str, entry: Mapping[str, Any]) -> Parameter:
    """A parameter from its keys (``lower``/``upper``, ``choices``, ``value``, ``type``...)."""
    fields = current_keys(entry, f"Parameter {name!r}")
    try:
        kind = _kind_of(name, fields)
        missing = [key for key in _REQUIRED_KEYS[kind] if key not in fields]
        if missing:
            needs = " and ".join(map(repr, missing))
            raise InvalidParameterError(f"type {kind.kind!r} needs {needs}, missing from the entry")
        if kind is Constant:
            return Constant(_scientific_text(fields["value"]))
        allowed = _CATEGORICAL_KEYS if kind is Categorical else _NUMERIC_KEYS
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise InvalidParameterError(f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        if kind is not Categorical:
            fields = {k: _number(k, v) for k, v in fields.items()}
        elif isinstance(fields.get("choices"), list | tuple):
            fields["choices"] = [_scientific_text(choice) for choice in fields["choices"]]
        if kind is Categorical and "default" in entry:
            # NePS's old key named a choice; today's prior is an index
            default = _scientific_text(fields["prior"])
            fields["prior"] = prior_of_default(fields.get("choices", ()), default)
            with prior_indices_meant():
                return _built_as(name, kind, fields)
        return _built_as(name, kind, fields)
    except (InvalidParameterError, TypeError, KeyError) as error:
        message = str(error)
        if not message.startswith("Parameter "):
            message = f"Parameter {name!r}: {message}"
        raise InvalidParameterError(message) from error


def _built_as(name: str, kind: type[Parameter], fields: Mapping[str, Any]) -> Parameter:
    """``kind(**fields)`` as the parameter ``name``, whose warnings name it too."""
    with described_as(name):
        return kind(**fields).checked(name)


def _from_list(name: str, entry: list[Any] | tuple[Any, ...]) -> Parameter:
    """NePS's short forms: two numbers are a range (``[1, 10]`` integers, ``[0.01, 1.0]``
    floats), any other list the choices of a categorical (``[adam, sgd]``).

    Of strings, only those in scientific notation count as numbers, here as in choices and
    constants of every form (as in NePS): PyYAML leaves ``1e-4`` as text, but ``"16"`` is
    text only when quoted, so ``["16", "32"]`` are two choices.
    """
    try:
        if len(entry) == 2:
            bounds = [_scientific_text(value) for value in entry]
            if all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds):
                kind = Integer if all(isinstance(b, int) for b in bounds) else Float
                return kind(*bounds).checked(name)
        return Categorical([_scientific_text(choice) for choice in entry]).checked(name)
    except (InvalidParameterError, TypeError, ValueError) as error:
        message = str(error)
        if not message.startswith("Parameter "):
            message = f"Parameter {name!r}: {message}"
        raise InvalidParameterError(message) from error


def _structural_entry(name: str, entry: Mapping[str, Any]) -> Parameter:
    """An operation, reference, resample, ... entry (see ``neps_core.space.nodes``)."""
    try:
        node = node_from_description(entry, name, parameter_from_description)
    except (InvalidParameterError, TypeError, KeyError) as error:
        message = str(error)
        if not message.startswith("Parameter "):
            message = f"Parameter {name!r}: {message}"
        raise InvalidParameterError(message) from error
    if not isinstance(node, Parameter):
        raise InvalidParameterError(
            f"Parameter {name!r}: a space entry must be a parameter, got {node!r}"
        )
    return node.checked(name)


def _kind_of(name: str, fields: dict[str, Any]) -> type[Parameter]:
    declared = fields.pop("type", None)
    if declared is not None:
        try:
            return _TYPE_ALIASES[str(declared).lower()]
        except KeyError:
            raise InvalidParameterError(
                f"Parameter {name!r}: unknown type {declared!r}; use one of {sorted(_TYPE_ALIASES)}"
            ) from None
    if "choices" in fields:
        return Categorical
    if "value" in fields and len(fields) == 1:
        return Constant
    if "lower" in fields and "upper" in fields:
        bounds = (_number("lower", fields["lower"]), _number("upper", fields["upper"]))
        return Integer if all(isinstance(b, int) for b in bounds) else Float
    raise InvalidParameterError(
        f"Parameter {name!r}: cannot tell its type from keys {sorted(fields)}; give "
        "'lower' and 'upper', 'choices', or 'value'"
    )


def numeric_text(value: Any) -> Any:
    """``value``, or the float a numeric string spells (YAML 1.1 reads ``1e-5`` as text)."""
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


#: False while a run's own saved description is read: its text choices stay text.
_USER_WRITTEN = contextvars.ContextVar("neps_core_user_written_description", default=True)


@contextlib.contextmanager
def saved_description() -> Iterator[None]:
    """Read a description the core wrote (``describe_space``) exactly as written: a choice
    ``"1e-4"`` saved as text was text in the run (``neps.Categorical(["1e-4"])``)."""
    token = _USER_WRITTEN.set(False)
    try:
        yield
    finally:
        _USER_WRITTEN.reset(token)


def _scientific_text(value: Any) -> Any:
    """``value``, or the float a string such as ``1e-4`` spells (but not ``"16"``), in what
    a user wrote (PyYAML's ``1e-4``)."""
    if not isinstance(value, str) or "e" not in value.lower() or not _USER_WRITTEN.get():
        return value
    return numeric_text(value)


def _number(key: str, value: Any) -> Any:
    """Numeric strings for numeric keys as numbers (see ``numeric_text``); other text refused."""
    if key not in {"lower", "upper", "prior"}:
        return value
    number = numeric_text(value)
    if isinstance(number, str):
        raise InvalidParameterError(f"{key} must be a number, got {value!r}")
    return number


_PARAMETER_ERROR = re.compile(r"^Parameter '([^']+)': (.*)$", re.DOTALL)


def locate_description_error(space: Mapping[str, Any], error: Exception) -> tuple[str, str]:
    """The key path (``.name`` or ``.name.key``) in ``space``, a description, that ``error``
    (raised building it) is about, and the message without the parameter's name."""
    message = str(error)
    match = _PARAMETER_ERROR.match(message)
    if match is not None:
        name, message = match.group(1), match.group(2)
    else:  # find the entry by checking each on its own
        name = next((n for n, entry in space.items() if not _valid_entry(str(n), entry)), "")
    entry = space.get(name)
    unknown = re.match(r"^unknown key\(s\) \['([^']+)'", message)
    if unknown is not None:
        return f".{name}.{unknown.group(1)}", message
    first = message.split(" ", 1)[0]
    if isinstance(entry, Mapping) and first in entry and message.startswith(f"{first} must"):
        return f".{name}.{first}", message.removeprefix(f"{first} ")
    return (f".{name}" if name else ""), message


def describes_a_parameter(entry: Any) -> bool:
    """Whether ``entry`` is one parameter's declarative form (else, e.g., a space's)."""
    return _valid_entry("", entry)


def _valid_entry(name: str, entry: Any) -> bool:
    if isinstance(entry, Mapping):
        entry = {k: v for k, v in entry.items() if k != "condition"}
    try:
        parameter_from_description(name, entry)
    except (ValueError, TypeError, KeyError):
        return False
    return True
