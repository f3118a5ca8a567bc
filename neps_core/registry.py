"""Name -> class registries for the classes plugins contribute."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

import attrs

from neps_core.errors import DuplicatePluginError, UnknownPluginError, add_note

T = TypeVar("T", bound=type)


class Registry(Mapping[str, T], Generic[T]):
    """Classes of one kind (optimizer, storage, ...) by their ``name``.

    Remembers which plugin registered each name, so that a clash names both; which plugins
    failed to load, so that asking for one of them re-raises its load error; and which were
    disabled, so that asking for one says so. A name two plugins claim is left out of the
    mapping and raises its ``DuplicatePluginError`` when asked for (see ``register``).

    Space adapters are never picked by name (each run asks them all in turn), so with
    ``by_name=False`` a clash takes nothing away: both classes stay in :meth:`in_order`.
    """

    def __init__(
        self,
        kind: str,
        base: type,
        broken: Mapping[str, Exception] | None = None,
        disabled: Collection[str] = (),
        reserved: Mapping[str, str] | None = None,
        *,
        by_name: bool = True,
    ) -> None:
        """``reserved`` maps names no class may take to why (a run could never select it)."""
        self.kind = kind
        self.by_name = by_name
        self.base = base  # the interface every registered class must implement
        self._classes: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._broken = broken if broken is not None else {}  # live: filled while registering
        self._disabled = frozenset(disabled)  # entry points blocked on purpose
        self._clashes: dict[str, DuplicatePluginError] = {}
        self._strict: set[str] = set()  # names claimed by a plugin passed to this run
        self._reserved = reserved or {}
        self._in_order: dict[T, tuple[str, str]] = {}  # every class: its name and plugin

    def register(self, cls: T, origin: str, *, strict: bool = False) -> str:
        """Add ``cls`` under ``cls.name`` and its ``aliases``; ``origin`` names its plugin.

        Aliases let a class answer to another project's spelling (NePS's ``"moasha"`` for
        ``"mo_asha"``) and clash like names do. A clash between installed plugins is only
        kept, so that one package cannot break the runs that never use the name; it raises
        at once when ``strict`` (or an earlier claim was strict): a plugin passed to this run
        (never with ``by_name=False``, whose names pick nothing).
        Returns the class's ``name``.
        """
        keys = self.check(cls, origin)
        self._in_order.setdefault(cls, (keys[0], origin))
        for key in keys:
            if key in self._clashes or self._classes.get(key, cls) is not cls:
                self._clash(key, cls, origin, strict=strict)
                continue
            self._classes[key] = cls
            self._origins[key] = origin
            if strict:
                self._strict.add(key)
        return keys[0]

    def check(self, cls: object, origin: str) -> tuple[str, ...]:
        """The names ``cls`` claims; refuses what would fail only later, in a run."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            base = f"{self.base.__module__}.{self.base.__qualname__}"
            raise TypeError(f"{origin} registered {cls!r} as {self.kind}: not a subclass of {base}")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} class {cls!r} from {origin} has no string `name`")
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise TypeError(f"{self.kind} class {cls!r} from {origin} leaves {missing} abstract")
        settings = getattr(cls, "Settings", None)
        if settings is not None and not attrs.has(settings):
            raise TypeError(
                f"{self.kind} class {cls!r} from {origin}: `Settings` must be an attrs class "
                f"(decorate it with @attrs.frozen), not {settings!r}"
            )
        # A subclass (a site's evaluator built on ``sync``) has its own name, not the base's
        # other spellings: inherited aliases would clash with the base class's.
        aliases = vars(cls).get("aliases", ())
        self._check_names(cls, origin, "aliases", aliases, '("other_name",)')
        # A storage's URL schemes: a bare string would match a URL letter by letter.
        self._check_names(cls, origin, "schemes", getattr(cls, "schemes", ()), '("mydb",)')
        for key in (name, *aliases):
            if key in self._reserved:
                raise ValueError(
                    f"{self.kind} class {cls!r} from {origin} is named {key!r}, which no "
                    f"{self.kind} can be: {self._reserved[key]}; give it a name of its own"
                )
        return (name, *aliases)

    def _check_names(
        self, cls: object, origin: str, attribute: str, names: object, example: str
    ) -> None:
        """Refuse ``names`` unless it is a tuple (or list) of non-empty strings."""
        if not isinstance(names, tuple | list) or not all(
            isinstance(item, str) and item for item in names
        ):
            raise TypeError(
                f"{self.kind} class {cls!r} from {origin}: `{attribute}` must be a tuple of "
                f"names, e.g. {example}, not {names!r}"
            )

    def _clash(self, key: str, cls: T, origin: str, *, strict: bool) -> None:
        described = f"{origin} ({cls.__module__}.{cls.__qualname__})"
        error = self._clashes.get(key)
        if error is None:
            first = self._classes.pop(key)
            error = DuplicatePluginError(
                f"{self.kind} name {key!r} is registered twice: by {self._origins.pop(key)} "
                f"({first.__module__}.{first.__qualname__}) and by {described}"
            )
            self._clashes[key] = error
        else:
            add_note(error, f"(also registered by {described})")
        if self.by_name and (strict or key in self._strict):
            raise error

    @property
    def clashes(self) -> Mapping[str, DuplicatePluginError]:
        """Names claimed by more than one plugin, with the error asking for them raises."""
        return self._clashes

    def in_order(self) -> list[tuple[str, T, str]]:
        """Every class registered (also those whose name clashes), with its name and plugin,
        in the order registered: pluggy's call order, in which space adapters are asked."""
        return [(name, cls, origin) for cls, (name, origin) in self._in_order.items()]

    def unavailable(self, name: str) -> bool:
        """Whether ``name`` is claimed twice, or may be what a plugin that failed to load
        registers (asking for it raises the error that says which)."""
        return name not in self._classes and (name in self._clashes or bool(self._broken))

    def origin(self, name: str) -> str:
        """The plugin that registered ``name``."""
        return self._origins[name]

    def __getitem__(self, name: str) -> T:
        try:
            return self._classes[name]
        except KeyError:
            pass
        if name in self._clashes:
            raise self._clashes[name]
        if name in self._broken:
            raise self._broken[name]
        suggestions = close_names(name, self._classes)
        error = UnknownPluginError(self.kind, name, self._classes, suggestions)
        if name in self._disabled:
            add_note(error, f"(the plugin {name!r} is disabled by NEPS_CORE_DISABLE_PLUGINS)")
        elif self._disabled:  # a plugin's entry-point name need not be the names it registers
            add_note(
                error,
                f"(NEPS_CORE_DISABLE_PLUGINS disables {', '.join(sorted(self._disabled))}, "
                "which may be the plugin that registers it)",
            )
        if self._broken:
            add_note(
                error,
                "These plugins failed to load and may be the one you meant: "
                + "; ".join(str(e) for e in self._broken.values()),
            )
        raise error

    def __contains__(self, name: object) -> bool:  # without asking, so a clash does not raise
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)


def close_names(name: str, known: Iterable[str]) -> list[str]:
    """Up to three of ``known`` that ``name`` may mean, closest first: the same name in
    another case (``"ASHA"`` shares no letter with ``"asha"`` for difflib), then near ones."""
    known = list(known)
    same = [k for k in known if k.casefold() == name.casefold()]
    near = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return list(dict.fromkeys([*same, *near]))[:3]
