"""Name -> class registries for the classes plugins contribute."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Mapping
from typing import Generic, TypeVar

from neps_core.errors import (
    DuplicatePluginError,
    PluginLoadError,
    UnknownPluginError,
    add_note,
)

T = TypeVar("T", bound=type)


class Registry(Mapping[str, T], Generic[T]):
    """Classes of one kind (optimizer, storage, ...) by their ``name``.

    Remembers which distribution registered each name, so that a clash names both, which
    plugins failed to load, so that asking for one of them re-raises its load error, and
    which were disabled, so that asking for one says so.
    """

    def __init__(
        self,
        kind: str,
        broken: Mapping[str, PluginLoadError] | None = None,
        disabled: Collection[str] = (),
    ) -> None:
        self.kind = kind
        self._classes: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._broken = dict(broken or {})
        self._disabled = frozenset(disabled)  # entry points blocked on purpose

    def register(self, cls: T, origin: str) -> None:
        """Add ``cls`` under ``cls.name`` and its ``aliases``; ``origin`` names its distribution.

        Aliases let a class answer to another project's spelling (NePS's ``"moasha"`` for
        ``"mo_asha"``) and clash like names do.
        """
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} class {cls!r} from {origin} has no string `name`")
        for key in (name, *getattr(cls, "aliases", ())):
            if key in self._classes and self._classes[key] is not cls:
                raise DuplicatePluginError(
                    f"{self.kind} name {key!r} is registered twice: by {self._origins[key]} "
                    f"({self._classes[key].__module__}.{self._classes[key].__qualname__}) and by "
                    f"{origin} ({cls.__module__}.{cls.__qualname__})"
                )
            self._classes[key] = cls
            self._origins[key] = origin

    def origin(self, name: str) -> str:
        """The distribution that registered ``name``."""
        return self._origins[name]

    def __getitem__(self, name: str) -> T:
        try:
            return self._classes[name]
        except KeyError:
            pass
        if name in self._broken:
            raise self._broken[name]
        suggestions = difflib.get_close_matches(name, list(self._classes), n=3, cutoff=0.6)
        error = UnknownPluginError(self.kind, name, self._classes, suggestions)
        if name in self._disabled:
            add_note(error, f"(the plugin {name!r} is disabled by NEPS_CORE_DISABLE_PLUGINS)")
        if self._broken:
            add_note(
                error,
                "These plugins failed to load and may be the one you meant: "
                + "; ".join(str(e) for e in self._broken.values()),
            )
        raise error

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)
