"""Hooks that neps_core would never call, or whose body never runs: a misspelt name, a hook
without ``@hookimpl``, one written ``async def`` (or as a generator), or an observer hook
written as a wrapper (refused here, when its plugin is loaded: at its first call a trial may
already have been created in the user's root).

pluggy ignores the first two without a word (its ``check_pending`` finds only misspelt ones,
across all plugins, and only the first), and calls the third without running what the call
returns: the plugin then silently does nothing.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

import pluggy

from neps_core.hookspecs import OBSERVER_HOOKS


def hook_mistakes(manager: pluggy.PluginManager, plugin: object) -> list[str]:
    """What is wrong with ``plugin``'s hooks, each a phrase that follows the plugin's name."""
    specified = [
        n for n in dir(manager.hook) if n[0] != "_" and getattr(manager.hook, n).has_spec()
    ]
    mistakes = [
        _unknown_hooks(manager, plugin, specified),
        _unmarked_hooks(manager, plugin, specified),
        _unrun_hooks(manager, plugin),
        _wrapped_observers(manager, plugin),
    ]
    return [mistake for mistake in mistakes if mistake]


def _unknown_hooks(manager: pluggy.PluginManager, plugin: object, specified: list[str]) -> str:
    """Marked hooks whose name matches no hookspec, but those marked ``optionalhook`` (hooks
    of another neps_core version)."""
    unknown = sorted(
        caller.name
        for caller in manager.get_hookcallers(plugin) or ()
        if not caller.has_spec()
        and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
    )
    if not unknown:
        return ""
    hints = [difflib.get_close_matches(name, specified, n=1) for name in unknown]
    listing = ", ".join(
        f"{name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        for name, hint in zip(unknown, hints, strict=True)
    )
    return (
        f"implements unknown hook(s) {listing}, which neps_core never calls; see the hook "
        "reference (mark hooks of other neps_core versions @hookimpl(optionalhook=True))"
    )


def _unmarked_hooks(manager: pluggy.PluginManager, plugin: object, specified: list[str]) -> str:
    """Functions named like a hook but not marked ``@hookimpl``, which pluggy skips."""
    marked = {caller.name for caller in manager.get_hookcallers(plugin) or ()}
    unmarked = [
        name for name in specified if name not in marked and callable(getattr(plugin, name, None))
    ]
    if not unmarked:
        return ""
    it = "it" if len(unmarked) == 1 else "them"
    return (
        f"defines {', '.join(map(repr, unmarked))} without @neps_core.hookimpl, so neps_core "
        f"never calls {it}; decorate {it} with @neps_core.hookimpl"
    )


def _unrun_hooks(manager: pluggy.PluginManager, plugin: object) -> str:
    """Marked hooks (not wrappers) whose call only makes a coroutine or a generator: neps_core
    calls hooks and runs nothing they return, so an ``async def`` observer never ran (Python
    at most warned, from inside neps_core, that a coroutine was never awaited)."""
    unrun = sorted(
        f"{caller.name!r} ({_kind(implementation.function)})"
        for caller in manager.get_hookcallers(plugin) or ()
        for implementation in caller.get_hookimpls()
        if implementation.plugin is plugin
        and not (implementation.wrapper or implementation.hookwrapper)
        and _kind(implementation.function)
    )
    if not unrun:
        return ""
    return (
        f"implements {', '.join(unrun)}, which neps_core calls without running the coroutine "
        "or generator the call returns: the hook's body never runs; write hooks as plain "
        "functions (`def`, no `yield`), calling asyncio.run(...) inside one for asynchronous work"
    )


def _wrapped_observers(manager: pluggy.PluginManager, plugin: object) -> str:
    """Observer hooks marked ``wrapper=True`` (or ``hookwrapper=True``): neps_core calls each
    observer on its own, so that every one hears each event even when another raises, and a
    wrapper has nothing to wrap."""
    wrapped = sorted(
        caller.name
        for caller in manager.get_hookcallers(plugin) or ()
        if caller.name in OBSERVER_HOOKS
        for implementation in caller.get_hookimpls()
        if implementation.plugin is plugin
        and (implementation.wrapper or implementation.hookwrapper)
    )
    if not wrapped:
        return ""
    return (
        f"implements the observer hook(s) {', '.join(map(repr, wrapped))} as a hook wrapper: "
        "observer hooks are called one by one (each is told even when another raises), so "
        "there is nothing to wrap; write them as plain @neps_core.hookimpl functions"
    )


def _kind(function: Callable[..., Any]) -> str:
    """``async def`` or a generator, as a phrase; ``""`` for a plain function."""
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        return "async def"
    return "a generator" if inspect.isgeneratorfunction(function) else ""
