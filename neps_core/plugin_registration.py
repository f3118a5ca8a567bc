"""Filling the registries and the converter from the plugins' hooks, one plugin at a time.

Each hook implementation is called on its own, so that a failure is pinned on its plugin: an
installed plugin is then broken (left out whole, with a warning), a plugin passed to
``run()`` raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cattrs
import pluggy

from neps_core.errors import object_of_type
from neps_core.interfaces import Evaluator, Optimizer, SpaceAdapter, Storage
from neps_core.optimizer_presets import NEPS_PRESETS
from neps_core.plugin_checks import DISABLE_ENV, plugin_errors
from neps_core.registry import Registry
from neps_core.serialization import make_converter

if TYPE_CHECKING:
    from neps_core.plugin_manager import Discovery

REGISTRATIONS: tuple[tuple[str, str, type], ...] = (  # kind, hook, interface
    ("optimizer", "neps_register_optimizers", Optimizer),
    ("storage", "neps_register_storages", Storage),
    ("evaluator", "neps_register_evaluators", Evaluator),
    ("space adapter", "neps_register_space_adapters", SpaceAdapter),
)

#: Names, by kind, that no class may take, and why: a run could never select it (NePS's
#: preset names are expanded before any lookup, so ``priorband_asha`` always runs PriorBand).
RESERVED_NAMES: dict[str, dict[str, str]] = {
    "optimizer": {
        "auto": "optimizer='auto' is the automatic choice (see the neps_select_optimizer hook)",
        **{
            preset: f"it is NePS's name for {target!r} with {dict(options)}"
            for preset, (target, options) in NEPS_PRESETS.items()
        },
    },
}


def configured_converter(discovery: Discovery) -> cattrs.Converter:
    """The converter every plugin's ``neps_configure_converter`` extended.

    An installed plugin whose hook raises is broken like one whose registration fails (left
    out whole: every run failed with an error naming no plugin); the converter is then built
    again without its half-made changes. An error of a plugin passed to ``run()`` is raised.
    """
    hook = discovery.manager.hook.neps_configure_converter
    while True:
        converter = make_converter()
        for implementation in reversed(hook.get_hookimpls()):  # pluggy's call order
            plugin = implementation.plugin
            origin = discovery.origin(plugin)
            try:
                if implementation.wrapper or implementation.hookwrapper:
                    raise TypeError(
                        f"neps_configure_converter of {origin} is a hook wrapper: it has "
                        "nothing to wrap (each plugin's hook is called on its own)"
                    )
                with plugin_errors("neps_configure_converter of", origin):
                    implementation.function(**{name: converter for name in implementation.argnames})
            except Exception as error:
                if not discovery.is_installed(plugin):
                    raise
                discovery.registration_failed(plugin, error)
                break
        else:
            return converter


def fill_registries(
    discovery: Discovery, registries: list[Registry[Any]]
) -> dict[str, dict[str, list[str]]]:
    """Register every class the registration hooks return; returns who registered what.

    Every hook is called and its classes checked before any is registered: a failure in an
    installed plugin marks it broken (see ``Discovery.registration_failed``) and leaves it
    wholly out, its other classes and hooks too; one in a plugin passed to ``run()`` is raised.
    """
    returned = []  # (registry, kind, plugin name, origin, installed, classes)
    failed: dict[str, tuple[object, Exception]] = {}
    for registry, (kind, hook_name, _) in zip(registries, REGISTRATIONS, strict=True):
        # In pluggy's call order (tryfirst first, later-registered first): the order in
        # which space adapters are asked.
        for implementation in reversed(getattr(discovery.manager.hook, hook_name).get_hookimpls()):
            plugin, name = implementation.plugin, implementation.plugin_name
            origin = discovery.origin(plugin)
            installed = discovery.is_installed(plugin)
            try:
                classes = registered_classes(implementation, hook_name, origin)
                for cls in classes:
                    registry.check(cls, origin)
            except Exception as error:
                if not installed:
                    raise
                failed.setdefault(name, (plugin, error))
                continue
            returned.append((registry, kind, name, origin, installed, classes))
    for plugin, cause in failed.values():
        discovery.registration_failed(plugin, cause)
    registered: dict[str, dict[str, list[str]]] = {}
    for registry, kind, name, origin, installed, classes in returned:
        if name not in failed:
            names = [registry.register(cls, origin, strict=not installed) for cls in classes]
            registered.setdefault(name, {}).setdefault(kind, []).extend(names)
    return registered


def registered_classes(implementation: pluggy.HookImpl, hook_name: str, origin: str) -> list[type]:
    """Call one registration hook; anything but a list of classes is a ``TypeError``.

    Iterating a bare class would fail later with a message that names no plugin. A wrapper
    would get no result to wrap (each hook is called on its own, to know whose classes are
    whose), so it is refused.
    """
    if implementation.wrapper or implementation.hookwrapper:
        raise TypeError(
            f"{hook_name} of {origin} is a hook wrapper: registration hooks are called one by "
            f"one and each returns a list of classes (to leave a plugin out: {DISABLE_ENV})"
        )
    with plugin_errors(f"{hook_name} of", origin):
        classes = implementation.function()
    if classes is None:  # registering nothing is `return []`
        raise TypeError(f"{hook_name} of {origin} returned None: is its `return` missing?")
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        what = "a class" if isinstance(classes, type) else object_of_type(classes)
        raise TypeError(
            f"{hook_name} of {origin} returned {classes!r} ({what}); it must return a list "
            f"of classes, e.g. `return [{getattr(classes, '__name__', 'C')}]`"
        )
    return list(classes)
