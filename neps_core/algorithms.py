"""NePS's ``neps.algorithms``: every installed optimizer as an attribute named like it.

A NePS script that passes ``optimizer=neps.algorithms.priorband``,
``optimizer=(neps.algorithms.priorband, {"eta": 3})`` or ``AskAndTell(
neps.algorithms.priorband(space, eta=3))`` runs unchanged: the attribute is an
:class:`~neps_core.optimizer_choice.Algorithm` holding the registered optimizer class (built-in
or from any installed plugin), looked up on access, so importing this module loads no plugin.
"""

from __future__ import annotations

from neps_core.components import NEPS_OPTIMIZERS_NOT_HERE
from neps_core.errors import UnknownPluginError
from neps_core.optimizer_choice import Algorithm
from neps_core.optimizer_presets import NEPS_PRESETS, expand_preset
from neps_core.plugin_manager import load_plugins


def __getattr__(name: str) -> Algorithm:
    if name.startswith("__"):  # dunder lookups (copy, pickle, doctest) are not optimizers
        raise AttributeError(name)
    optimizer, options = expand_preset(name, {})  # NePS's hyperband_prior: hyperband + options
    try:
        return Algorithm(load_plugins().optimizers[optimizer], options)
    except UnknownPluginError as error:
        advice = NEPS_OPTIMIZERS_NOT_HERE.get(name) or NEPS_OPTIMIZERS_NOT_HERE.get(
            name.removeprefix("neps_"), str(error)
        )
        raise AttributeError(f"neps_core.algorithms has no optimizer {name!r}: {advice}") from None


def __dir__() -> list[str]:
    return sorted({*load_plugins().optimizers, *NEPS_PRESETS})
