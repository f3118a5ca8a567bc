"""``neps-core plugins``: what every installed plugin registers, and which ones are broken."""

from __future__ import annotations

from typing import Any

from neps_core.plugin_manager import DISABLE_ENV, make_plugin_manager

REGISTRATIONS = (
    ("optimizer", "neps_register_optimizers"),
    ("storage", "neps_register_storages"),
    ("evaluator", "neps_register_evaluators"),
    ("space adapter", "neps_register_space_adapters"),
)
_REGISTRATION_HOOKS = {hook for _, hook in REGISTRATIONS}


def plugin_data() -> dict[str, Any]:
    """Loaded, broken and disabled plugins as plain data (the ``--json`` output)."""
    discovery = make_plugin_manager()
    manager = discovery.manager
    loaded, disabled = [], []
    for name, plugin in manager.list_name_plugin():
        if plugin is None:  # blocked through NEPS_CORE_DISABLE_PLUGINS
            disabled.append(name)
            continue
        loaded.append(
            {
                "name": name,
                "distribution": discovery.distributions.get(name),
                "module": getattr(plugin, "__name__", type(plugin).__qualname__),
                "registers": _registrations(manager, plugin),
                "hooks": sorted(
                    hook.name
                    for hook in manager.get_hookcallers(plugin) or ()
                    if hook.name not in _REGISTRATION_HOOKS
                ),
            }
        )
    broken = [
        {
            "name": name,
            "distribution": error.distribution,
            "module": error.module,
            "error": f"{type(error.cause).__name__}: {error.cause}",
        }
        for name, error in sorted(discovery.broken.items())
    ]
    return {"plugins": loaded, "broken": broken, "disabled": sorted(disabled)}


def _registrations(manager: Any, plugin: object) -> dict[str, list[str]]:
    registers: dict[str, list[str]] = {}
    for kind, hook_name in REGISTRATIONS:
        for implementation in getattr(manager.hook, hook_name).get_hookimpls():
            if implementation.plugin is not plugin:
                continue
            try:
                classes = implementation.function() or ()
            except Exception as error:
                registers.setdefault(kind, []).append(f"<error: {type(error).__name__}: {error}>")
                continue
            registers.setdefault(kind, []).extend(
                str(getattr(cls, "name", cls.__qualname__)) for cls in classes
            )
    return registers


def format_plugins(data: dict[str, Any]) -> str:
    """The text form of ``plugin_data``."""
    lines = []
    for plugin in data["plugins"]:
        origin = plugin["distribution"] or "registered in code"
        lines.append(f"{plugin['name']}  ({origin}; {plugin['module']})")
        for kind, names in plugin["registers"].items():
            lines.append(f"    {kind}: {', '.join(names)}")
        if plugin["hooks"]:
            lines.append(f"    hooks: {', '.join(plugin['hooks'])}")
    if data["broken"]:
        lines.append("")
        lines.append("broken (failed to load; only runs selecting them fail):")
        lines += [
            f"  {b['name']}  ({b['distribution']}; {b['module']}): {b['error']}"
            for b in data["broken"]
        ]
    if data["disabled"]:
        lines.append("")
        lines.append(f"disabled by {DISABLE_ENV}: " + ", ".join(data["disabled"]))
    return "\n".join(lines)
