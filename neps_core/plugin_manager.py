"""Building the plugin manager and the registries it fills.

Nothing here runs at import time: every ``run()`` (and every tool that needs plugins) calls
``load_plugins``, which discovers the ``neps_core`` entry points afresh. A problem in an
installed plugin (it fails to import, its registration hook fails, it claims a taken name)
does not stop the others: it is reported with a ``PluginLoadWarning``, and only a run that
asks for that plugin gets the error. Plugins passed to ``run(plugins=...)`` are part of the
run, so their problems are raised at once.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import traceback
from collections.abc import Iterable
from typing import Any

import attrs
import cattrs
import pluggy

from neps_core import hookspecs
from neps_core.errors import PluginLoadError, add_note
from neps_core.hook_checks import hook_mistakes
from neps_core.interfaces import Evaluator, Optimizer, SpaceAdapter, Storage
from neps_core.plugin_checks import DISABLE_ENV, plugin_errors, raised_in
from neps_core.plugin_registration import (
    REGISTRATIONS,
    RESERVED_NAMES,
    configured_converter,
    fill_registries,
)
from neps_core.registry import Registry
from neps_core.trial_copies import own_copies
from neps_core.warning_origin import warn_at_caller

AD_HOC_ORIGIN = "run(plugins=...)"


class PluginLoadWarning(UserWarning):
    """An installed plugin has a problem; runs that do not select it are unaffected."""


def warn_plugin_problem(message: str) -> None:
    """Warn with a ``PluginLoadWarning`` attributed to the first caller outside neps_core.

    Plugins are loaded deep inside ``run()``, the CLI and other tools; a fixed stacklevel
    would point at some line of neps_core, which is where the problem is not.
    """
    warn_at_caller(message, PluginLoadWarning)


@attrs.frozen
class Discovery:
    """A plugin manager plus what discovery learned on the way.

    Plugins are keyed by their pluggy name: the entry-point name, or ``name@distribution``
    for a second distribution using an entry-point name that is already taken.
    """

    manager: pluggy.PluginManager
    broken: dict[str, PluginLoadError]
    distributions: dict[str, str]
    entry_points: dict[str, str] = attrs.field(factory=dict)  # only where name differs
    blocked: dict[str, str] = attrs.field(factory=dict)  # name -> distribution
    classes: dict[str, type] = attrs.field(factory=dict)  # name -> the class it names

    @property
    def disabled(self) -> list[str]:
        """The entry points blocked through ``NEPS_CORE_DISABLE_PLUGINS`` (or ``disabled``).

        One whose name another distribution's entry point has too is named with its
        distribution: ``local_search`` alone would be the one still enabled as well.
        """
        names = [self.entry_point(n) for n in [*self.distributions, *self.broken, *self.blocked]]
        return [
            f"{entry_point} (distribution {distribution!r})"
            if names.count(entry_point := self.entry_point(name)) > 1
            else entry_point
            for name, distribution in self.blocked.items()
        ]

    def entry_point(self, name: str) -> str:
        """The entry-point name of the plugin registered as ``name``."""
        return self.entry_points.get(name, name)

    def origin(self, plugin: object) -> str:
        """A human description of where ``plugin`` came from, for error messages."""
        name = self.manager.get_name(plugin)
        if name in self.distributions:
            entry_point = self.entry_point(name)
            return f"distribution {self.distributions[name]!r} (entry point {entry_point!r})"
        # pluggy names run()'s plugins by id() (or not at all, if it refused one): the
        # module's or class's name says more
        return f"{AD_HOC_ORIGIN} {getattr(plugin, '__name__', type(plugin).__qualname__)!r}"

    def is_installed(self, plugin: object) -> bool:
        """Whether ``plugin`` came from an entry point (not from ``run(plugins=...)``)."""
        return self.manager.get_name(plugin) in self.distributions

    def mark_broken(self, name: str, error: PluginLoadError) -> None:
        """Keep ``error`` for the runs that select the plugin ``name``, and warn now."""
        self.broken[name] = error
        warn_plugin_problem(str(error))

    def registration_failed(self, plugin: object, cause: Exception) -> None:
        """An installed plugin's registration hook failed: it is broken like an import error,
        and unregistered, so that none of its other hooks runs either."""
        name = self.manager.get_name(plugin) or repr(plugin)
        module = getattr(plugin, "__name__", type(plugin).__qualname__)
        error = PluginLoadError(self.entry_point(name), module, self.distributions[name], cause)
        self.manager.unregister(plugin)
        self.mark_broken(name, error)


def make_plugin_manager(
    extra_plugins: Iterable[object] = (),
    *,
    disabled: Iterable[str] | None = None,
) -> Discovery:
    """A plugin manager with every ``neps_core`` entry point and ``extra_plugins`` registered.

    ``disabled`` (default: the comma-separated ``NEPS_CORE_DISABLE_PLUGINS``) blocks entry
    points by entry-point name or distribution name. Entry points that fail to import are
    kept in ``broken`` by name, with a ``PluginLoadWarning``. An unknown hook name in an
    installed plugin is a warning, in one of ``extra_plugins`` a ``PluginValidationError``.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    blocked = set(_disabled_names() if disabled is None else disabled)
    discovery = Discovery(manager, broken={}, distributions={})
    seen = _discover(discovery, blocked)
    unknown = sorted(name for name in blocked if name not in seen and _canonical(name) not in seen)
    if unknown:  # a typo would leave the plugin meant enabled without a word
        warn_plugin_problem(
            f"{DISABLE_ENV} names no installed plugin: {unknown}; installed entry points and "
            f"distributions: {sorted(seen)}"
        )
    for plugin in extra_plugins:
        if not manager.is_registered(plugin):
            _unregister_installed_instances(discovery, type(plugin))
            _register_ad_hoc(discovery, plugin)
            _check_hooks(discovery, plugin, strict=True)
    return discovery


def _register_ad_hoc(discovery: Discovery, plugin: object) -> None:
    """Register a plugin passed to ``run()``; pluggy's refusal of a hook (an argument its
    hookspec lacks) names the plugin by its ``id()``, this one by its origin."""
    manager = discovery.manager
    try:
        manager.register(plugin)
    except pluggy.PluginValidationError as error:
        pluggy_name = f"Plugin {manager.get_canonical_name(plugin)!r}"
        origin = discovery.origin(plugin)
        message = str(error)
        named = message.replace(pluggy_name, origin) if pluggy_name in message else None
        raise pluggy.PluginValidationError(plugin, named or f"{origin}: {message}") from error


def _unregister_installed_instances(discovery: Discovery, cls: type) -> None:
    """An entry point naming ``cls``, or a class ``cls`` subclasses, made an instance; one
    passed to ``run()`` replaces it (both got every event before): a subclass customizes the
    installed observer. An object an entry point names is kept: its class may be a base that
    other plugins share. Several instances passed to ``run()`` are all kept."""
    for name, named in discovery.classes.items():
        installed = discovery.manager.get_plugin(name)
        if issubclass(cls, named) and type(installed) is named:
            discovery.manager.unregister(installed)


def _discover(discovery: Discovery, blocked: set[str]) -> set[str]:
    """Load (or block) every entry point of the group; returns the names seen."""
    seen: set[str] = set()
    claims: dict[str, str] = {}  # entry-point name -> the first distribution using it
    loaded: dict[str, str] = {}  # the same, for entry points that were not blocked
    blocked_distributions = {_canonical(name) for name in blocked}
    for entry_point in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME):
        distribution = entry_point.dist.name if entry_point.dist else "unknown"
        seen |= {entry_point.name, distribution, _canonical(distribution)}
        if claims.get(entry_point.name) == distribution:
            continue  # the same distribution seen twice (on sys.path twice)
        claims.setdefault(entry_point.name, distribution)
        name = entry_point.name
        if _taken(discovery, name):  # by another distribution: pluggy names must be unique
            name = f"{entry_point.name}@{distribution}"
            discovery.entry_points[name] = entry_point.name
        if entry_point.name in blocked or _canonical(distribution) in blocked_distributions:
            discovery.manager.set_blocked(name)
            discovery.blocked[name] = distribution
            continue
        if entry_point.name in loaded:
            warn_plugin_problem(
                f"Plugin entry point {entry_point.name!r} exists in two distributions, "
                f"{loaded[entry_point.name]!r} and {distribution!r}; both are loaded, and a "
                "name both register fails with DuplicatePluginError when a run selects it. "
                f"Uninstall one, or block one with {DISABLE_ENV}=<distribution>"
            )
        loaded.setdefault(entry_point.name, distribution)
        _load_entry_point(discovery, entry_point, distribution, name)
    return seen


def _canonical(distribution: str) -> str:
    """A distribution name as pip compares them: ``My_Package`` is ``my-package``."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _taken(discovery: Discovery, name: str) -> bool:
    manager = discovery.manager
    return manager.has_plugin(name) or manager.is_blocked(name) or name in discovery.broken


def _load_entry_point(
    discovery: Discovery, entry_point: importlib.metadata.EntryPoint, distribution: str, name: str
) -> None:
    manager = discovery.manager
    try:
        plugin = entry_point.load()
        if manager.is_registered(plugin) or any(  # one module behind two distributions
            type(registered) is plugin for registered in manager.get_plugins()
        ):
            return
        if isinstance(plugin, type):  # as in run(plugins=...): pluggy would call its hooks
            discovery.classes[name] = plugin
            plugin = plugin()  # unbound, without `self`, every argument shifted by one
        manager.register(plugin, name=name)  # refuses a hook with the wrong arguments
    except Exception as cause:
        if manager.has_plugin(name):  # pluggy before 1.6 registered before validating
            manager.unregister(name=name)
        error = PluginLoadError(entry_point.name, entry_point.value, distribution, cause)
        discovery.mark_broken(name, error)
        return
    discovery.distributions[name] = distribution
    _check_hooks(discovery, plugin, strict=False)


def _check_hooks(discovery: Discovery, plugin: object, *, strict: bool) -> None:
    """Refuse (``strict``) or warn about hooks neps_core would never call (see
    ``hook_mistakes``); warn about a plugin passed to ``run()`` with no hook at all (the wrong
    module?). An installed one may have none: ``brackets`` only shares code."""
    origin = discovery.origin(plugin)
    mistakes = hook_mistakes(discovery.manager, plugin)
    if mistakes and strict:
        raise pluggy.PluginValidationError(plugin, f"{origin} {'; it '.join(mistakes)}")
    if mistakes:
        warn_plugin_problem(f"{origin} {'; it '.join(mistakes)}")
    elif strict and not discovery.manager.get_hookcallers(plugin):
        warn_plugin_problem(
            f"{origin} implements no neps_core hook, so it does nothing; hooks are functions "
            "(or methods) named like one of the hook reference and decorated @neps_core.hookimpl"
        )


def _disabled_names() -> list[str]:
    return [name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()]


@attrs.define
class Plugins:
    """The loaded plugins: the hook caller, one registry per kind of class, the converter."""

    discovery: Discovery
    optimizers: Registry[type[Optimizer]]
    storages: Registry[type[Storage]]
    evaluators: Registry[type[Evaluator]]
    space_adapters: Registry[type[SpaceAdapter]]
    converter: cattrs.Converter
    registered: dict[str, dict[str, list[str]]] = attrs.field(factory=dict)
    """Plugin name -> kind -> the names its classes registered (for ``neps-core plugins``)."""

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy plugin manager."""
        return self.discovery.manager

    @property
    def hook(self) -> Any:
        """The hook relay."""
        return self.manager.hook

    @property
    def registries(self) -> tuple[Registry[Any], ...]:
        """Every registry, in the order of ``REGISTRATIONS``."""
        return (self.optimizers, self.storages, self.evaluators, self.space_adapters)

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Fire an observer hook: every implementation is called, in pluggy's order, even
        after one raised, so that no observer misses an event (nor its cleanup at the end of
        a run) for another's failure. Then the first error is raised; it keeps its type and
        gains a note naming its plugin, and one naming each later error.
        """
        first: Exception | None = None
        for implementation in reversed(getattr(self.manager.hook, hook_name).get_hookimpls()):
            origin = self.discovery.origin(implementation.plugin)
            try:
                _call_observer(hook_name, origin, implementation, kwargs)
            except Exception as error:
                if first is None:
                    first = error
                else:
                    add_note(first, f"(then {hook_name} of {origin} raised {error!r})")
        if first is not None:
            raise first

    def culprit(self, hook_name: str, error: BaseException) -> str:
        """The plugin whose implementation of ``hook_name`` raised ``error`` (its traceback
        passes through that function)."""
        codes = {frame.f_code for frame, _ in traceback.walk_tb(error.__traceback__)}
        implementations = getattr(self.manager.hook, hook_name).get_hookimpls()
        plugin = next((i.plugin for i in implementations if i.function.__code__ in codes), None)
        return "an unknown plugin" if plugin is None else self.discovery.origin(plugin)

    def errors_of(self, kind: str, cls: type) -> contextlib.AbstractContextManager[None]:
        """Errors raised in ``cls``'s code (a ``kind`` of plugin) get a note naming its plugin."""
        label = getattr(cls, "name", cls.__qualname__)
        return plugin_errors(f"{kind} {label!r} of", self.origin(cls))

    def note_if_raised_in(self, kind: str, cls: type, error: BaseException) -> None:
        """Note ``cls``'s plugin on ``error`` if its code raised it: for a plugin the core
        calls in many places (the storage), where ``errors_of`` cannot surround each call."""
        if isinstance(error, Exception) and raised_in(cls, error):
            label = getattr(cls, "name", cls.__qualname__)
            add_note(error, f"(raised in {kind} {label!r} of {self.origin(cls)})")

    def origin(self, cls: type) -> str:
        """Which plugin distribution registered ``cls``."""
        for registry in self.registries:
            for name, registered in registry.items():
                if registered is cls:
                    return registry.origin(name)
        return f"module {cls.__module__!r}"


def _call_observer(
    hook_name: str, origin: str, implementation: pluggy.HookImpl, kwargs: dict[str, Any]
) -> None:
    """Call one implementation of an observer hook; its errors are noted with ``origin``."""
    if implementation.wrapper or implementation.hookwrapper:
        raise TypeError(
            f"{hook_name} of {origin} is a hook wrapper: observer hooks are called one by one "
            "(each is told even when another raises), so there is nothing to wrap"
        )
    with plugin_errors(f"{hook_name} of", origin):
        arguments = own_copies({name: kwargs[name] for name in implementation.argnames})
        implementation.function(**arguments)


def load_plugins(
    extra_plugins: Iterable[object] = (), *, disabled: Iterable[str] | None = None
) -> Plugins:
    """Discover plugins and fill the registries (see ``make_plugin_manager``).

    A name claimed by two installed plugins warns here and raises its
    ``DuplicatePluginError`` only in a run that selects it.
    """
    discovery = make_plugin_manager(extra_plugins, disabled=disabled)
    registries = [
        Registry[Any](
            kind,
            base,
            discovery.broken,
            discovery.disabled,
            RESERVED_NAMES.get(kind),
            by_name=base is not SpaceAdapter,
        )
        for kind, _, base in REGISTRATIONS
    ]
    converter = configured_converter(discovery)
    working = len(discovery.broken)
    registered = fill_registries(discovery, registries)
    if len(discovery.broken) > working:  # left out whole: its converter hook too
        converter = configured_converter(discovery)
    for registry in registries:
        # Space adapters are not picked by name: a run asks each of them in turn.
        outcome = (
            f"runs selecting it fail; block one with {DISABLE_ENV}"
            if registry.by_name
            else "both are kept: a run asks every space adapter in turn"
        )
        for error in registry.clashes.values():
            warn_plugin_problem(f"{error} ({outcome})")
    optimizers, storages, evaluators, adapters = registries  # in REGISTRATIONS' order
    return Plugins(discovery, optimizers, storages, evaluators, adapters, converter, registered)
