"""A read-only dict for the mappings of frozen records (a trial's config, metadata, extra).

A frozen attrs record keeps its fields from being rebound, not its dict from being edited:
an observer that did ``trial.config.pop("seed")`` or an optimizer that did ``config =
best.config; config["x"] = ...`` changed the history every later ``ask`` and the run's
summary read. ``ReadOnlyDict`` refuses such edits with a ``TypeError`` that says how to make
a changed copy. It is a ``dict`` subclass, so ``json.dumps``, ``**config``, ``isinstance(...,
dict)`` and cattrs keep working unchanged, and wrapping a dict is one shallow copy; PyYAML
dumps it as a mapping (a user's ``yaml.safe_dump(trial.config)``). It pickles as itself,
while ``copy.copy`` and ``copy.deepcopy`` give a plain dict, the caller's own. Only the top
level is read-only: a config's values are scalars, and what a user reports inside ``extra``
(a list, say) is theirs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NoReturn

import yaml


class ReadOnlyDict(dict[str, Any]):
    """A ``dict`` whose entries cannot be changed; ``dict(it)`` or ``it.copy()`` is a plain,
    changeable copy. ``what`` names the mapping in the error (``"trial.config"``)."""

    __slots__ = ("what",)

    def __init__(self, entries: Mapping[str, Any] = (), what: str = "this mapping") -> None:  # type: ignore[assignment]
        super().__init__(entries)
        self.what = what

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError(
            f"{self.what} is read-only: a run's records are not changed in place (an observer"
            " or optimizer would change what every other reader of the run sees). Make a"
            f" changed copy instead, e.g. `changed = dict({self.what}); changed['x'] = 1` or"
            f" `{{**{self.what}, 'x': 1}}`."
        )

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def copy(self) -> dict[str, Any]:
        """A plain, changeable ``dict`` with the same entries."""
        return dict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the constructor: the default would fill the copy item by item."""
        return (type(self), (dict(self), self.what))

    def __copy__(self) -> dict[str, Any]:
        """``copy.copy(config)`` is a plain dict, as ``copy()``: copying is how one changes
        a configuration (a copy is shared with nobody)."""
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        """``copy.deepcopy(config)`` is a plain dict too: ``child = deepcopy(parent.config)``
        then ``child[name] = value`` keeps working in an optimizer."""
        return copy.deepcopy(dict(self), memo)


def read_only(entries: Mapping[str, Any], what: str) -> ReadOnlyDict:
    """``entries`` as a :class:`ReadOnlyDict` named ``what``: an attrs converter, which
    keeps one as it is (``attrs.evolve`` of a trial copies nothing)."""
    if type(entries) is ReadOnlyDict and entries.what == what:
        return entries
    return ReadOnlyDict(entries, what)


for _dumper in (yaml.SafeDumper, yaml.Dumper):  # a mapping, not a Python object, in YAML
    _dumper.add_representer(ReadOnlyDict, yaml.SafeDumper.represent_dict)
