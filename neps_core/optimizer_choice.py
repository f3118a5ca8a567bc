"""NePS's optimizer objects: ``neps.algorithms.<name>``, passed as it is or called.

``optimizer=neps.algorithms.hyperband`` names an optimizer, like ``"hyperband"``. NePS scripts
also call it with the space and options, ``neps.algorithms.hyperband(space, eta=3)``, and
hand the result to ``AskAndTell``. Both are plain descriptions (the optimizer's class, its
options, the space): a run builds and checks the optimizer from them exactly as it does for
``optimizer=("hyperband", {"eta": 3})``, so a wrong option is refused the same way, naming it.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from neps_core.errors import SettingsError, object_of_type

if TYPE_CHECKING:
    from neps_core.interfaces import Optimizer

logger = logging.getLogger(__name__)
#: What ``optimizer=`` (and ``storage=``, ``evaluator=``) takes, for errors.
COMPONENT_FORMS = "a name, a (name, options) pair, a mapping with 'name' or a class"


@attrs.frozen
class ConfiguredOptimizer:
    """An optimizer with its options and the space it searches (``algorithm(space, **options)``)."""

    optimizer: type[Optimizer]
    options: Mapping[str, Any]
    pipeline_space: Any


@attrs.frozen
class Algorithm:
    """One registered optimizer as ``neps.algorithms`` shows it (with the options of NePS's
    preset name, such as ``hyperband_prior``'s ``sampler="prior"``)."""

    optimizer: type[Optimizer]
    options: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        """The optimizer's registered name."""
        return self.optimizer.name

    def __call__(self, pipeline_space: Any, **options: Any) -> ConfiguredOptimizer:
        """This optimizer for ``pipeline_space`` with ``options``, as NePS's call gives it."""
        return ConfiguredOptimizer(self.optimizer, {**self.options, **options}, pipeline_space)


def called_with_the_space(optimizer: Any, space: Any, check: Callable[[Any], object]) -> Any:
    """NePS's ``optimizer=`` as a callable of the space (``functools.partial(
    neps.algorithms.asha, eta=2)``, ``lambda space: neps.algorithms.asha(space, eta=2)``): what
    it returns for ``space``, as NePS calls it; any other ``optimizer`` as it is.

    ``check`` reads the result as ``optimizer=`` would; a result it refuses (NePS's own
    optimizer objects, say, which run only in NePS) is a ``SettingsError`` naming the callable.
    """
    if not callable(optimizer) or isinstance(optimizer, type | Algorithm | ConfiguredOptimizer):
        return optimizer
    given = f"{type(optimizer).__name__} {getattr(optimizer, '__qualname__', optimizer)!r}"
    holds_space = _binds_its_space(optimizer)
    if space is None and not holds_space:
        raise SettingsError(
            f"optimizer: {given} is called with the space, as in NePS; pass pipeline_space= too"
        )
    try:
        made = optimizer() if holds_space else optimizer(space)
    except TypeError as error:
        raise SettingsError(
            f"optimizer: {given} could not be called with the space alone: {error}"
        ) from error
    try:
        check(made)
    except SettingsError as error:
        raise SettingsError(
            f"optimizer: {given} returned {object_of_type(made)} for the space; "
            "neps_core cannot use it: it must return neps.algorithms.<name>(space, "
            f"**options) or what optimizer= takes ({COMPONENT_FORMS})"
        ) from error
    return made


def _binds_its_space(optimizer: Callable[..., Any]) -> bool:
    """Whether ``optimizer`` is an algorithm already given its space, as in ``functools.partial(
    neps.algorithms.asha, pipeline_space=space, eta=3)``: it is called without one (the run
    then checks that space against ``pipeline_space``)."""
    return (
        isinstance(optimizer, functools.partial)
        and isinstance(optimizer.func, Algorithm)
        and bool(optimizer.args or "pipeline_space" in optimizer.keywords)
    )


def space_of_the_run(configured: ConfiguredOptimizer, given: Any) -> Any:
    """The space of a run given ``optimizer=algorithm(space)``: that space, or ``given``
    (``pipeline_space``) when it is the same one; two different spaces are refused, since only
    one can be searched."""
    if given is None:
        return configured.pipeline_space
    if not _same_space(given, configured.pipeline_space):
        raise SettingsError(
            f"pipeline_space differs from the space given to neps.algorithms."
            f"{configured.optimizer.name}(...); pass the space once"
        )
    return given


def _same_space(one: Any, other: Any) -> bool:
    if one is other or one == other:
        return True
    try:
        return bool(_comparable(one) == _comparable(other))
    except (TypeError, ValueError):  # a form that only its plugin reads (a file, ConfigSpace)
        return False


def _comparable(space: Any) -> Any:
    """A space class or a mapping of parameters as the ``PipelineSpace`` it describes."""
    from neps_core.space import PipelineSpace, space_from_description

    if isinstance(space, type) and issubclass(space, PipelineSpace):
        return space()
    if isinstance(space, Mapping):
        return space_from_description(space)
    return space


def neps_client_root(
    configured: ConfiguredOptimizer, optimizer: Any, root_directory: str | Path | None
) -> str | Path:
    """The root of NePS's ``AskAndTell(algorithm(space))``, which names no root of its own.

    NePS keeps such a client's trials in memory, so each script run starts afresh; without a
    ``root_directory`` they go to a new temporary root here (logged, and kept: the trials'
    folders are the user's data).
    """
    if optimizer != "auto":
        raise SettingsError(
            f"AskAndTell got two optimizers: {configured.optimizer.name!r} with its space, "
            f"and optimizer={optimizer!r}; give one"
        )
    if root_directory is None:
        root_directory = tempfile.mkdtemp(prefix="neps_core_ask_and_tell_")
        logger.info("AskAndTell keeps this run in %s (root_directory= chooses)", root_directory)
    return root_directory
