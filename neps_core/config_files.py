"""Reading YAML configuration files strictly, ``key.path=value`` overrides, and hints.

PyYAML silently keeps the last of two equal keys; a config file where that happens is almost
always wrong, so here it is an error naming the line. PyYAML also follows YAML 1.1, where
``1e-4`` (no dot) is a string, ``010`` eight, ``2024-01-01`` a date and ``12:30`` 750: numbers,
dates and times are read here as YAML 1.2 reads them (a float, ten, text and text), and keys
as the text written (``on:`` is ``"on"``, not ``True``). YAML 1.1 reads ``no`` as false too:
where a run config names a file, a folder or code (``TEXT_SETTINGS``), the text as written is
kept. Errors are ``SettingsError`` starting with the file's path.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from neps_core.code_locations import FUNCTION_FORMS
from neps_core.config import canonical_name
from neps_core.errors import SettingsError, add_note
from neps_core.serialization import describe_yaml_error

#: Where a run config names a file, a folder or code: key paths whose plain scalars stay the
#: text written; ``*`` is any key, ``-`` a list's items. Settings match under any of their names.
#: ``pipeline_space``'s ``path`` and ``name`` are NePS's ``{path: space.py, name: space}``; an
#: inline space's parameters are mappings, unaffected, but a constant written as a plain scalar
#: and called ``path`` or ``name`` is read as text too. An ``env`` mapping's values are
#: environment variables, text in ``evaluate_pipeline`` and in the ``evaluator``'s options
#: (not anywhere: an inline space may have a parameter called ``env``).
TEXT_SETTINGS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("root_directory",),
        ("pipeline_space",),
        ("pipeline_space", "path"),
        ("pipeline_space", "name"),
        ("evaluate_pipeline",),
        ("evaluate_pipeline", "path"),
        ("evaluate_pipeline", "name"),
        ("evaluate_pipeline", "cwd"),
        ("evaluate_pipeline", "command"),
        ("evaluate_pipeline", "command", "-"),
        ("evaluate_pipeline", "env", "*"),
        ("evaluator", "env", "*"),
        ("plugins",),
        ("plugins", "-"),
    }
)
_TEXT_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_config_file(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; a duplicated key is an error (YAML would keep the last)."""
    if not path.is_file():
        folder = " (it is a folder, not a YAML run config)" if path.is_dir() else ""
        raise FileNotFoundError(f"No run config at {path}{folder}")
    data = read_strict_yaml(path, text_at=TEXT_SETTINGS)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: a run config must be a mapping, got {type(data).__name__}")
    return data


def read_strict_yaml(
    path: Path,
    error_type: type[Exception] = SettingsError,
    text_at: Collection[tuple[str, ...]] = (),
) -> Any:
    """The YAML document in ``path``; errors (``error_type``) name the file and line.

    Plain scalars at the key paths ``text_at`` are read as the text written (``no`` too).
    """
    try:
        return _load(path.read_text(encoding="utf-8"), text_at)
    except _DuplicateKeyError as error:
        raise error_type(f"{path}: line {error.line}: duplicate key {error.key!r}") from None
    except yaml.YAMLError as error:
        said = f"{describe_yaml_error(error)}{_colon_hint(path, error)}"
        raise error_type(f"{path}: not valid YAML: {said}") from None
    except UnicodeDecodeError as error:
        raise error_type(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def _colon_hint(path: Path, error: yaml.YAMLError) -> str:
    """For PyYAML's bare "mapping values are not allowed here": the line, and what to write
    (``evaluate_pipeline: train.py:`` names a file, not yet its function)."""
    mark = getattr(error, "problem_mark", None)
    if mark is None or getattr(error, "problem", None) != "mapping values are not allowed here":
        return ""
    line = path.read_text(encoding="utf-8").splitlines()[mark.line].strip()
    key = line.partition(":")[0].strip()
    forms = f"; {key} takes {FUNCTION_FORMS}" if canonical_name(key) == "evaluate_pipeline" else ""
    return f" (in {line!r}: quote a value ending in ':' or holding ': '{forms})"


class _DuplicateKeyError(Exception):
    """Raised by the loader; turned into a SettingsError naming the file."""

    def __init__(self, key: Any, line: int) -> None:
        super().__init__(key, line)
        self.key = key
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """A safe loader refusing duplicated keys, which are almost always a mistake (keys merged
    with ``<<`` excepted), and reading ``1e-4`` as a float."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *defaults`: merged below, where keys written here win
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKeyError(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value a resolver or tag promised but cannot be built (``0o_``, ``!!float x``)
        is a YAML error at its line, not a bare ``ValueError``."""
        try:
            return super().construct_object(node, deep=deep)
        except ValueError as error:
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid {kind} ({error})", node.start_mark
            ) from None


_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_YAML_1_1_ONLY = (_INT_TAG, _FLOAT_TAG, "tag:yaml.org,2002:timestamp")
# Numbers as YAML 1.2 reads them (replacing YAML 1.1's readings, added back below without
# sexagesimals and leading-zero octals): 1e-4 a float, 010 ten, 0o10 eight; dates and times
# (2024-01-01, a date to YAML 1.1; 12:30, the number 750) stay the text written.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML_1_1_ONLY]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(  # before the integers: it needs a dot or an exponent
    _FLOAT_TAG,
    re.compile(
        r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+.0123456789"),
)
_StrictLoader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$"),
    list("-+0123456789"),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """An integer as YAML 1.2 reads it: ``010`` is ten (PyYAML's YAML 1.1, eight)."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("-+")
    bases = {"0b": 2, "0o": 8, "0x": 16}
    base = bases.get(digits[:2].lower(), 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


_StrictLoader.add_constructor(_INT_TAG, _construct_int)


def _load(text: str, text_at: Collection[tuple[str, ...]]) -> Any:
    """The YAML document in ``text``, plain scalars at the key paths ``text_at`` as text."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _keys_as_written(node)
        return loader.construct_document(_keep_text(node, text_at))
    finally:
        loader.dispose()


def _keys_as_written(root: yaml.Node) -> None:
    """Re-tag the plain scalar keys under ``root`` as the text written: ``on:``, ``null:`` and
    ``1e3:`` name parameters and settings, not ``True``, ``None`` and ``1000.0``.

    A key is replaced by a text copy, not re-tagged in place: an alias used as a key
    (``*n :``) is the very node of its anchor, whose value (``x: &n 5``) must stay a number.
    """
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias repeats a node (recursively, even)
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for index, (key, value) in enumerate(node.value):
                if isinstance(key, yaml.ScalarNode) and key.style is None and key.tag != _MERGE_TAG:
                    text = yaml.ScalarNode(_TEXT_TAG, key.value, key.start_mark, key.end_mark)
                    node.value[index] = (text, value)
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _keep_text(node: yaml.Node, text_at: Collection[tuple[str, ...]]) -> yaml.Node:
    """``node`` with its plain scalars at ``text_at`` (key paths from ``node``) re-tagged as
    text, the way it was written; an empty scalar stays null (a setting's default)."""
    if not text_at:
        return node
    if isinstance(node, yaml.MappingNode):
        node.value = [(key, _keep_text_in(key, value, text_at)) for key, value in node.value]
        return node
    if isinstance(node, yaml.SequenceNode):
        items = [_keep_text(item, _below(text_at, "-")) for item in node.value]
        return yaml.SequenceNode(node.tag, items, node.start_mark, node.end_mark, node.flow_style)
    if (
        () in text_at
        and isinstance(node, yaml.ScalarNode)
        and node.style is None
        and node.tag != _NULL_TAG
    ):
        return yaml.ScalarNode(_TEXT_TAG, node.value, node.start_mark, node.end_mark)
    return node


def _keep_text_in(
    key: yaml.Node, value: yaml.Node, text_at: Collection[tuple[str, ...]]
) -> yaml.Node:
    """``value`` of ``key`` with its text kept; a ``<<`` merge is transparent, since the keys of
    the mapping (or mappings) it merges become the enclosing mapping's own."""
    if key.tag != _MERGE_TAG:
        return _keep_text(value, _below(text_at, key.value) if _is_text(key) else set())
    if isinstance(value, yaml.SequenceNode):  # <<: [*a, *b]
        items = [_keep_text(item, text_at) for item in value.value]
        return yaml.SequenceNode(value.tag, items, value.start_mark, value.end_mark)
    return _keep_text(value, text_at)


def _is_text(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and isinstance(node.value, str)


def _below(text_at: Collection[tuple[str, ...]], key: str) -> set[tuple[str, ...]]:
    """The key paths in ``text_at`` inside ``key``'s value, relative to it (a setting is
    matched by any of its names)."""
    name = canonical_name(key)
    return {tuple(rest) for first, *rest in (p for p in text_at if p) if first in (name, "*")}


#: Settings naming a plugin, which take options under their key.
COMPONENT_KEYS = ("optimizer", "evaluator", "storage")


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], source: str) -> None:
    """Apply ``key.path=value`` overrides to a run config's ``data``, in order."""
    for override in overrides:
        _drop_other_spellings(data, override)
        _check_component_override(data, override, source)
        apply_override(data, override, source)


def blame_overrides(error: SettingsError, source: str, overrides: Sequence[str]) -> SettingsError:
    """``error`` (``<source>: <key path>: ...``) naming the overrides that set its setting, if
    any: an unknown or invalid setting from the command line was blamed on the file alone."""
    message = str(error)
    where = message.removeprefix(f"{source}: ")
    setting = re.match(r"[^\s.:\[]*", where)
    assert setting is not None  # matches the empty text at least
    given = [o for o in overrides if o.partition("=")[0].strip().split(".")[0] == setting[0]]
    if where == message or not setting[0] or not given:
        return error
    reworded = type(error)(f"{source}: override {', '.join(map(repr, given))}: {where}")
    for note in getattr(error, "__notes__", ()):
        add_note(reworded, note)
    return reworded


def _check_component_override(data: Mapping[str, Any], override: str, source: str) -> None:
    """``optimizer.eta=2`` needs an optimizer named in the file or by ``optimizer.name=...``."""
    parts = override.partition("=")[0].split(".")
    if len(parts) < 2 or parts[0] not in COMPONENT_KEYS or parts[0] in data:
        return
    if parts[1] != "name":
        raise SettingsError(
            f"{source}: override {override!r}: the config names no {parts[0]} to give options "
            f"to; name it first ({parts[0]}.name=... or {parts[0]}=...)"
        )


def _drop_other_spellings(data: dict[str, Any], override: str) -> None:
    """An override replaces its setting under any name (``max_evaluations_total=4`` too);
    one inside it (``optimizer.eta=2`` with a ``searcher:``) goes to the setting as spelled."""
    key, *inside = override.partition("=")[0].split(".")
    name = canonical_name(key)
    for other in [k for k in data if str(k) != key and canonical_name(str(k)) == name]:
        value = data.pop(other)
        if inside and key not in data:
            data[key] = value


#: What an override may set inside NePS's ``{path: ..., name: ...}``: which code it names.
OWN_KEYS = ((1, "path"), (1, "name"))


def apply_override(data: dict[str, Any], override: str, source: str) -> None:
    """Set ``key.path=value`` in ``data``; a component name string becomes ``{name: ...}``."""
    key_path, separator, text = override.partition("=")
    key_path = key_path.strip()  # 'seed = 3', quoted as one argument
    if not separator or "" in key_path.split("."):  # ".seed=1" named the empty key
        raise SettingsError(f"{source}: override {override!r} must look like key.path=value")
    *parents, last = key_path.split(".")
    text_at: Collection[tuple[str, ...]] = TEXT_SETTINGS
    for part in key_path.split("."):
        text_at = _below(text_at, part)
    try:
        value = _load(text, text_at)
    except yaml.YAMLError as error:
        raise SettingsError(
            f"{source}: override {override!r}: not valid YAML: {describe_yaml_error(error)}"
        ) from None
    node = data
    for index, part in enumerate(parents):
        child = node.get(part)
        component = index == 0 and canonical_name(part) in COMPONENT_KEYS
        if isinstance(child, str) and component and len(parents) == 1:
            child = {"name": child}  # optimizer=random_search, then optimizer.use_priors=true
        if child is None:
            child = {}
        # pipeline_space: space.yaml (or NePS's {path: space.py, name: space}), say: the
        # override must not replace the file's space; only the path or the name may change.
        code = index == 0 and names_code_of(part, child) and (len(parents), last) not in OWN_KEYS
        if not isinstance(child, dict) or code:
            where = ".".join(parents[: index + 1])
            kind = "which names code" if code else "not a mapping"
            raise SettingsError(
                f"{source}: override {override!r}: {where} is {child!r}, {kind}, so "
                f"{key_path!r} cannot be set in it"
            )
        # A copy: a YAML alias (`y: *x`) is the very mapping of its anchor, which must not
        # change with it (pipeline_space.x.upper=5 set y's upper too).
        child = dict(child)
        node[part] = child
        node = child
    node[last] = value


def names_code(value: Any) -> bool:
    """Whether ``value`` is NePS's ``{path: file.py, name: attribute}``, not an inline space:
    exactly those two keys, both text (a parameter is a mapping, a list or a number, and a
    space of just two text constants called path and name goes in a space file instead)."""
    return (
        isinstance(value, Mapping)
        and set(value) == {"path", "name"}
        and all(isinstance(part, str) for part in value.values())
    )


def names_code_of(setting: str, value: Any) -> bool:
    """Whether ``value`` of ``setting`` is NePS's code form. A component's ``{name, path}``
    is its name and a ``path`` option (a plugin's), except an optimizer's ``.py`` file, the
    form the run config refuses naming it."""
    if not names_code(value):
        return False
    component = canonical_name(setting)
    return component not in COMPONENT_KEYS or (
        component == "optimizer" and str(value["path"]).endswith(".py")
    )


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for a close match, else the list of known names."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f" Did you mean {close[0]!r}?"
    if not known:
        return " It takes no options."
    return f" Known: {', '.join(sorted(known))}."
