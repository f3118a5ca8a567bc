"""Building the plugin manager and the registries it fills.

Nothing here runs at import time: every ``run()`` (and every tool that needs plugins) calls
``load_plugins``, which discovers the ``neps_core`` entry points afresh. A plugin that
fails to import does not stop the others; it is reported with a warning, and a run that asks
for it gets the ``PluginLoadError``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import traceback
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import cattrs
import pluggy

from neps_core import hookspecs
from neps_core.errors import PluginLoadError, add_note
from neps_core.interfaces import Evaluator, Optimizer, SpaceAdapter, Storage
from neps_core.registry import Registry
from neps_core.serialization import make_converter

DISABLE_ENV = "NEPS_CORE_DISABLE_PLUGINS"
AD_HOC_ORIGIN = "run(plugins=...)"


class PluginLoadWarning(UserWarning):
    """A plugin entry point failed to import; runs that do not select it are unaffected."""


@attrs.frozen
class Discovery:
    """A plugin manager plus what discovery learned on the way."""

    manager: pluggy.PluginManager
    broken: dict[str, PluginLoadError]
    distributions: dict[str, str]

    @property
    def disabled(self) -> list[str]:
        """The entry points blocked through ``NEPS_CORE_DISABLE_PLUGINS`` (or ``disabled``)."""
        return [name for name, plugin in self.manager.list_name_plugin() if plugin is None]

    def origin(self, plugin: object) -> str:
        """A human description of where ``plugin`` came from, for error messages."""
        name = self.manager.get_name(plugin) or repr(plugin)
        if name in self.distributions:
            return f"distribution {self.distributions[name]!r} (entry point {name!r})"
        if name.isdigit():  # pluggy names objects by id(); their type says more
            name = getattr(plugin, "__name__", type(plugin).__qualname__)
        return f"{AD_HOC_ORIGIN} {name!r}"


def make_plugin_manager(
    extra_plugins: Iterable[object] = (),
    *,
    disabled: Iterable[str] | None = None,
) -> Discovery:
    """A plugin manager with every ``neps_core`` entry point and ``extra_plugins`` registered.

    ``disabled`` (default: the comma-separated ``NEPS_CORE_DISABLE_PLUGINS``) blocks entry
    points by entry-point name or distribution name. Entry points that fail to import are
    kept in ``broken`` by name, with a ``PluginLoadWarning``.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    blocked = set(_disabled_names() if disabled is None else disabled)
    discovery = Discovery(manager, broken={}, distributions={})
    seen: set[str] = set()
    for entry_point in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME):
        distribution = entry_point.dist.name if entry_point.dist else "unknown"
        seen |= {entry_point.name, distribution}
        if entry_point.name in blocked or distribution in blocked:
            manager.set_blocked(entry_point.name)
        elif not manager.has_plugin(entry_point.name):  # a distribution seen twice
            _load_entry_point(discovery, entry_point, distribution)
    unknown = sorted(blocked - seen)
    if unknown:  # a typo would leave the plugin meant enabled without a word
        warnings.warn(
            f"{DISABLE_ENV} names no installed plugin: {unknown}; installed entry points and "
            f"distributions: {sorted(seen)}",
            PluginLoadWarning,
            stacklevel=2,
        )
    for plugin in extra_plugins:
        if not manager.is_registered(plugin):
            manager.register(plugin)
    return discovery


def _load_entry_point(
    discovery: Discovery, entry_point: importlib.metadata.EntryPoint, distribution: str
) -> None:
    try:
        plugin = entry_point.load()
    except Exception as cause:
        error = PluginLoadError(entry_point.name, entry_point.value, distribution, cause)
        warnings.warn(str(error), PluginLoadWarning, stacklevel=3)
        discovery.broken[entry_point.name] = error
        return
    discovery.manager.register(plugin, name=entry_point.name)
    discovery.distributions[entry_point.name] = distribution


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

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy plugin manager."""
        return self.discovery.manager

    @property
    def hook(self) -> Any:
        """The hook relay."""
        return self.manager.hook

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Fire an observer hook; an error keeps its type and gains a note naming the plugin."""
        hook = getattr(self.manager.hook, hook_name)
        try:
            hook(**kwargs)
        except Exception as error:
            codes = {frame.f_code for frame, _ in traceback.walk_tb(error.__traceback__)}
            culprit = next(
                (i.plugin for i in hook.get_hookimpls() if i.function.__code__ in codes), None
            )
            origin = "an unknown plugin" if culprit is None else self.discovery.origin(culprit)
            add_note(error, f"(raised in {hook_name} of {origin})")
            raise

    def origin(self, cls: type) -> str:
        """Which plugin distribution registered ``cls``."""
        for registry in (self.optimizers, self.storages, self.evaluators, self.space_adapters):
            for name, registered in registry.items():
                if registered is cls:
                    return registry.origin(name)
        return f"module {cls.__module__!r}"


def load_plugins(
    extra_plugins: Iterable[object] = (), *, disabled: Iterable[str] | None = None
) -> Plugins:
    """Discover plugins and fill the registries (see ``make_plugin_manager``)."""
    discovery = make_plugin_manager(extra_plugins, disabled=disabled)
    manager = discovery.manager
    registries: dict[str, Registry[Any]] = {}
    for kind, hook_name in (
        ("optimizer", "neps_register_optimizers"),
        ("storage", "neps_register_storages"),
        ("evaluator", "neps_register_evaluators"),
        ("space adapter", "neps_register_space_adapters"),
    ):
        registry: Registry[Any] = Registry(kind, discovery.broken, discovery.disabled)
        for implementation in getattr(manager.hook, hook_name).get_hookimpls():
            origin = discovery.origin(implementation.plugin)
            with plugin_errors(f"{hook_name} of", origin):
                classes = implementation.function()
            for cls in classes or ():
                registry.register(cls, origin)
        registries[kind] = registry
    converter = make_converter()
    manager.hook.neps_configure_converter.call_historic(kwargs={"converter": converter})
    return Plugins(
        discovery=discovery,
        optimizers=registries["optimizer"],
        storages=registries["storage"],
        evaluators=registries["evaluator"],
        space_adapters=registries["space adapter"],
        converter=converter,
    )


@contextlib.contextmanager
def plugin_errors(role: str, origin: str) -> Iterator[None]:
    """Let errors from plugin code pass unchanged but for a note naming the plugin."""
    try:
        yield
    except Exception as error:
        add_note(error, f"(raised in {role} {origin})")
        raise
