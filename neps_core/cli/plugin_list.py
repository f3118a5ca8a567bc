"""``neps-core plugins``: what every installed plugin registers, and what is wrong with them.

It loads plugins exactly as a run does, but reports problems (broken plugins, names claimed
twice, unknown hooks) in its output instead of failing: it is the tool to diagnose them.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

from neps_core.plugin_manager import (
    DISABLE_ENV,
    REGISTRATIONS,
    PluginLoadWarning,
    Plugins,
    load_plugins,
)

_REGISTRATION_HOOKS = {hook for _, hook, _ in REGISTRATIONS}


def plugin_data() -> dict[str, Any]:
    """Loaded, broken, disabled and clashing plugins as plain data (the ``--json`` output)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginLoadWarning)
        plugins = load_plugins()
    for warning in caught:  # only the plugin warnings become part of the listing
        if not issubclass(warning.category, PluginLoadWarning):
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    discovery = plugins.discovery
    broken = [
        {
            "name": error.entry_point,
            "distribution": error.distribution,
            "module": error.module,
            "error": f"{type(error.cause).__name__}: {error.cause}",
        }
        for _, error in sorted(discovery.broken.items())
    ]
    conflicts = [
        {"kind": registry.kind, "name": name, "error": str(error)}
        for registry in plugins.registries
        for name, error in sorted(registry.clashes.items())
    ]
    reported = {str(e) for e in discovery.broken.values()} | {c["error"] for c in conflicts}
    return {
        "plugins": _loaded(plugins),
        "broken": broken,
        "disabled": sorted(discovery.disabled),
        "conflicts": conflicts,
        "warnings": [
            str(w.message)
            for w in caught
            if issubclass(w.category, PluginLoadWarning)
            and not any(str(w.message).startswith(text) for text in reported)
        ],
    }


def _loaded(plugins: Plugins) -> list[dict[str, Any]]:
    discovery = plugins.discovery
    return [
        {
            "name": discovery.entry_point(name),
            "distribution": discovery.distributions.get(name),
            "module": _target(plugin),
            "registers": plugins.registered.get(name, {}),
            "aliases": _aliases(
                plugins, plugins.registered.get(name, {}), discovery.origin(plugin)
            ),
            "hooks": sorted(
                hook.name
                for hook in plugins.manager.get_hookcallers(plugin) or ()
                if hook.name not in _REGISTRATION_HOOKS
            ),
        }
        for name, plugin in plugins.manager.list_name_plugin()
        if plugin is not None  # None: blocked through NEPS_CORE_DISABLE_PLUGINS
    ]


def _target(plugin: object) -> str:
    """What the entry point names, as a broken one shows it: ``package.module`` for a module,
    ``package.module:Class`` for an instance of a class (its bare class name said less)."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return f"{type(plugin).__module__}:{type(plugin).__qualname__}"


def _aliases(
    plugins: Plugins, registers: dict[str, list[str]], origin: str
) -> dict[str, list[str]]:
    """The other names each registered class answers to (NePS's ``moasha`` for ``mo_asha``).

    Only names that reach the class: not those a subclass inherits, not lost clashes. A class
    whose own name another plugin claims too still answers to its aliases.
    """
    registries = {registry.kind: registry for registry in plugins.registries}
    found = {}
    for kind, names in registers.items():
        registry = registries[kind]
        for name in names:
            aliases = [
                key
                for key in registry
                if key != name and registry[key].name == name and registry.origin(key) == origin
            ]
            if aliases:
                found[name] = aliases
    return found


def format_plugins(data: dict[str, Any]) -> str:
    """The text form of ``plugin_data``."""
    lines = []
    for plugin in data["plugins"]:
        origin = plugin["distribution"] or "registered in code"
        lines.append(f"{plugin['name']}  ({origin}; {plugin['module']})")
        for kind, names in plugin["registers"].items():
            shown = [_with_aliases(name, plugin["aliases"].get(name, [])) for name in names]
            lines.append(f"    {kind}: {', '.join(shown)}")
        if plugin["hooks"]:
            lines.append(f"    hooks: {', '.join(plugin['hooks'])}")
    sections = (
        ("broken (failed to load; only runs selecting them fail):", "broken"),
        ("conflicts (names claimed twice; only runs selecting them fail):", "conflicts"),
        ("warnings:", "warnings"),
    )
    for title, key in sections:
        if data[key]:
            lines += ["", title, *(f"  {_describe(item)}" for item in data[key])]
    if data["disabled"]:
        lines.append("")
        lines.append(f"disabled by {DISABLE_ENV}: " + ", ".join(data["disabled"]))
    return "\n".join(lines)


def _with_aliases(name: str, aliases: list[str]) -> str:
    return f"{name} (alias {', '.join(aliases)})" if aliases else name


def _describe(item: Any) -> str:
    if isinstance(item, str):
        return item
    if "distribution" in item:  # a broken plugin
        return f"{item['name']}  ({item['distribution']}; {item['module']}): {item['error']}"
    return f"{item['kind']} {item['name']!r}: {item['error']}"
