"""Checks of ``evaluate_pipeline``'s signature against the space, before any trial: one that
every trial's call would fail (a ``TypeError`` each, using up the budget) is refused at once.
"""

from __future__ import annotations

import inspect

from neps_core.config import RunSettings
from neps_core.errors import SettingsError
from neps_core.evaluation.processes import Command
from neps_core.run_context import INJECTABLE, injected_names
from neps_core.space import PipelineSpace


def refuse_injected_names(settings: RunSettings, space: PipelineSpace) -> None:
    """A parameter named like an argument the framework injects would be silently replaced."""
    if settings.evaluate_pipeline is None:
        return
    clash = [
        name for name in injected_names(settings.evaluate_pipeline) if name in space.parameters
    ]
    if clash:
        raise SettingsError(
            f"pipeline_space parameter(s) {clash} have the name(s) of argument(s) the framework "
            "passes to evaluate_pipeline, which would replace their sampled value; rename them"
        )


def refuse_arguments_no_one_passes(settings: RunSettings, space: PipelineSpace) -> None:
    """Refuse a signature that fails every trial with a ``TypeError``, before the first one:
    a required parameter that is neither a space entry nor injected, or an entry that
    ``evaluate_pipeline`` does not accept (no parameter of that name, no ``**kwargs``).
    A positional-only parameter named like an entry or an injected argument is refused
    too, default or not: it never receives the value passed by name.

    The signature a wrapper shows is its own (``follow_wrapped=False``): a decorator may
    supply arguments of the function it wraps.
    """
    function = settings.evaluate_pipeline
    if function is None:
        return
    if isinstance(function, Command):
        _refuse_placeholders_of_nothing(function, space)
        return
    try:
        parameters = inspect.signature(function, follow_wrapped=False).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin, a C extension)
        return
    entries = _passed_entries(space)
    by_name = {
        name
        for name, parameter in parameters.items()
        if parameter.kind
        in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    required = [
        name
        for name, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    passed = entries | set(INJECTABLE)
    # Such a parameter never receives what a trial passes by name: without a default every
    # call fails; with one (or with **kwargs taking the value) every trial silently runs on it.
    positional = [
        name
        for name, parameter in parameters.items()
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY and name in passed
    ]
    if positional:
        raise SettingsError(
            f"evaluate_pipeline's {', '.join(map(repr, positional))} is positional-only (before "
            "its '/'), but every trial passes arguments by name: make it a normal parameter, "
            "one a keyword can pass"
        )
    missing = [name for name in required if name not in passed or name not in by_name]
    if missing:
        hint = _hint_for(missing)
        raise SettingsError(
            f"evaluate_pipeline requires {', '.join(map(repr, missing))}, which no trial "
            f"passes: it receives the space's entries ({', '.join(sorted(entries))}) by name "
            f"and, if it names them, {', '.join(INJECTABLE)}{hint}; add the parameter to the "
            "space or give it a default"
        )
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unaccepted = [] if takes_any else sorted(entries - by_name)
    if unaccepted:
        raise SettingsError(
            f"evaluate_pipeline does not accept the space's entries "
            f"{', '.join(map(repr, unaccepted))}, which every trial passes by name: add them "
            "as parameters (or **kwargs), or remove them from the space"
        )


def _refuse_placeholders_of_nothing(command: Command, space: PipelineSpace) -> None:
    """A placeholder that names no entry fails every trial with a ``KeyError`` (one naming a
    ``_``-prefixed entry too: those are not passed on)."""
    entries = _passed_entries(space)
    if unknown := sorted(command.placeholders() - entries - set(INJECTABLE)):
        raise SettingsError(
            f"{command!r}: placeholder(s) {', '.join('{' + name + '}' for name in unknown)} "
            f"name no entry of the space ({', '.join(sorted(entries))}) and none of "
            f"{', '.join(INJECTABLE)}; write {{{{ and }}}} for literal braces"
        )


def _passed_entries(space: PipelineSpace) -> set[str]:
    """The space's entries each trial passes on by name: not the ``_``-prefixed ones."""
    return {name for name in space.parameters if not name.startswith("_")}


def _hint_for(missing: list[str]) -> str:
    """Where a required parameter comes from another library's contract, what to write."""
    if any("working_directory" in name for name in missing):
        return " (NePS's working_directory is pipeline_directory here)"
    if missing == ["job"]:
        return (
            " (DeepHyper's run(job) reads job.parameters; here each entry is an argument of "
            "its own, and the return value is minimized where DeepHyper maximizes it)"
        )
    return ""
