"""NePS's keywords of ``neps.plot`` and ``neps.status`` that neps_core has no counterpart of.

Each is accepted at NePS's default value, where it changes nothing (so a script that spells
it out runs); another value is refused with a ``TypeError`` saying what to use instead, as
the bare "unexpected keyword argument" Python would raise does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A keyword accepted at any value (NePS's only use of it is done here anyway).
ANY_VALUE = object()

_OWN_ROOT = "plot each run's root directory on its own (neps.plot(root) per run)"
_AXES = (
    "change the figure of neps_core.plotting.plot_trajectory(root) (figure.axes[0].set_xlim, "
    ".set_yscale('log'), ...) and save it yourself"
)
_FILES = (
    "neps.plot writes <output_dir>/trajectory.png; for another name, format or resolution "
    "save neps_core.plotting.plot_trajectory(root).savefig(path, dpi=...)"
)
#: NePS's ``neps.plot`` keywords: name -> (NePS's default, what to use instead).
NEPS_PLOT_KEYWORDS: Mapping[str, tuple[Any, str]] = {
    "scientific_mode": (False, _OWN_ROOT),
    "benchmarks": (None, _OWN_ROOT),
    "algorithms": (None, _OWN_ROOT),
    "n_workers": (ANY_VALUE, "every worker's trials are read from the root directory"),
    "key_to_extract": (None, "x_axis='cost' plots by the cost the trials reported"),
    "consider_continuations": (False, "x_axis='cost' adds up the cost each trial reported"),
    "x_range": (None, _AXES),
    "log_x": (False, _AXES),
    "log_y": (True, _AXES),
    "filename": ("incumbent_trajectory", _FILES),
    "extension": ("png", _FILES),
    "dpi": (100, _FILES),
}
_BEST = (
    "status(root).best_trial is the best; its improvements are in "
    "ROOT/summary/best_config_trajectory.txt after a run (neps-core status ROOT --best-configs "
    "prints them)"
)
#: Run_pipeline-era NePS's ``neps.status`` keywords (what ``neps-core status`` maps too).
NEPS_STATUS_KEYWORDS: Mapping[str, tuple[Any, str]] = {
    "best_losses": (False, _BEST),
    "best_configs": (False, _BEST),
    "all_configs": (
        False,
        "status(root).to_dataframe() has every trial with its configuration and result "
        "(also ROOT/summary/full.csv after a run)",
    ),
}


def same_value(value: Any, default: Any) -> bool:
    """``value`` equals a plain ``default`` and is of its type (``1`` is not ``True``)."""
    return (
        type(value) is type(default)
        and isinstance(value, str | bool | int | float | tuple)
        and value == default
    )


def check_neps_keywords(
    function: str, keywords: Mapping[str, Any], known: Mapping[str, tuple[Any, str]]
) -> None:
    """Refuse a keyword ``function`` does not know, or one of NePS's at another value."""
    for name, value in keywords.items():
        if name not in known:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")
        default, instead = known[name]
        if default is not ANY_VALUE and not (value is default or same_value(value, default)):
            raise TypeError(
                f"{function}({name}={value!r}) is NePS's, which neps_core does not support: "
                f"{instead} (NePS's {function} keywords are accepted only at their defaults, "
                "without effect)"
            )
