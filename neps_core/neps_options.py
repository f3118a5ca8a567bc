"""NePS's optimizer options that have no counterpart here, at values that need none.

NePS's run_pipeline-era scripts spell out options of its optimizers that name what a plugin
here does anyway (``searcher="bayesian_optimization", surrogate_model="gp",
acquisition="EI"``). Refusing them as unknown broke those scripts for nothing. A plugin's
``Settings`` class lists such options in a class attribute ``neps_options``: name -> (the
values that mean what the plugin does, what it does instead). At one of those values the
option is dropped with a ``DeprecationWarning``; at another it is refused naming the option,
its value and what to use, rather than running another search than the script asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neps_core.errors import SettingsError
from neps_core.neps_call_keywords import ANY_VALUE, same_value
from neps_core.warning_origin import warn_at_caller

#: A ``Settings`` class's ``neps_options``: name -> (accepted values, what is done instead).
NepsOptions = Mapping[str, tuple[tuple[Any, ...], str]]


def neps_option_names(settings_class: type) -> list[str]:
    """The NePS options ``settings_class`` accepts besides its fields."""
    return list(getattr(settings_class, "neps_options", {}))


def without_neps_options(
    settings_class: type, options: Mapping[str, Any], label: str
) -> dict[str, Any]:
    """``options`` without the NePS options of ``settings_class`` (see the module)."""
    known: NepsOptions = getattr(settings_class, "neps_options", {})
    kept: dict[str, Any] = {}
    for name, value in options.items():
        if name not in known:
            kept[name] = value
            continue
        accepted, instead = known[name]
        if not any(ok is ANY_VALUE or value is ok or same_value(value, ok) for ok in accepted):
            shown = ", ".join(repr(ok) for ok in accepted)
            raise SettingsError(
                f"{label}: {name}={value!r} is NePS's option, which has no counterpart here: "
                f"{instead} (it is accepted only as {shown}, without effect)"
            )
        warn_at_caller(
            f"{label}: {name}={value!r} is NePS's option and has no effect here: {instead}",
            DeprecationWarning,
        )
    return kept
